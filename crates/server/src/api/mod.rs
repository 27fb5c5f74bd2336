//! The REST API with the seed's paths (SPEC §5).
mod acme;
mod ca;
mod certificates;
mod docs;
mod services;
mod system;
mod tokens;
mod wire;

pub use certificates::certificate_filter;

use crate::ocsp::{self, MAX_OCSP_REQUEST_BYTES};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;

pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    let refusals = state.refusals.clone();
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    Router::new()
        .route("/api/ca/root", post(ca::create_root))
        .route("/api/ca/intermediate", post(ca::create_intermediate))
        .route("/api/ca/intermediate/csr", post(ca::request_intermediate))
        .route("/api/ca/intermediate/import", post(ca::import_intermediate))
        .route("/api/ca/unlock", post(ca::unlock))
        .route("/api/ca/info", get(ca::info))
        .route("/api/ca/bundle", get(ca::bundle))
        .route("/api/certificates/issue", post(certificates::issue))
        .route("/api/certificates/renew", post(certificates::renew))
        .route("/api/certificates/revoke", post(certificates::revoke))
        .route("/api/certificates", get(certificates::list))
        .route("/api/certificates/{service_id}", get(certificates::current))
        .route("/api/services/register", post(services::register))
        .route("/api/services", get(services::list))
        .route("/api/services/{service_id}", get(services::info))
        .route("/api/crl/generate", post(certificates::generate_crl))
        .route("/api/crl/info", get(certificates::crl_info))
        .route("/api/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/api/audit/verify", get(system::audit_verify))
        .route("/api/ca/export", get(ca::export))
        .route("/api/tokens", get(tokens::list).post(tokens::create))
        .route("/api/tokens/{id}/revoke", post(tokens::revoke))
        .route(
            "/api/acme/renewal-windows/move",
            post(acme::move_renewal_windows),
        )
        .route(
            "/api/acme/eab",
            get(acme::list_eab_keys).post(acme::create_eab_key),
        )
        .route("/api/acme/eab/{kid}/revoke", post(acme::revoke_eab_key))
        .route("/api/acme/accounts", get(acme::list_accounts))
        .route("/api/acme/orders", get(acme::list_orders))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .merge(public_routes())
        // The dashboard (SPEC §11): HTML pages with their own errors and headers.
        .merge(crate::ui::routes())
        // ACME (SPEC §9): its own router, errors and headers (crate vcc-pki-acme).
        .merge(vcc_pki_acme::router(state.acme.clone()))
        .route_layer(axum::middleware::map_request(crate::observe::note_route))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // One middleware for all three jobs (body limit, problem documents, request log and timing):
        // each `from_fn` layer costs every request (OCSP included).
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                guard(max_body, refusals.clone(), req, next)
            },
        ))
        .with_state(state)
}

/// Public, read-only distribution points (SPEC §2, §5): CA certificates, the CRL and OCSP.
/// Served on the HTTPS port, and on the plain-HTTP port (`--http-port`) that AIA and CRL
/// distribution point URLs name, since RFC 5280 clients fetch those over `http://`.
fn public_routes() -> Router<AppState> {
    let ocsp_post = || post(ocsp::post).layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST_BYTES));
    Router::new()
        .route("/ca/root.crt", get(ca::root_crt))
        .route("/ca/intermediate.crt", get(ca::intermediate_crt))
        .route("/crl", get(certificates::crl_der))
        .route("/crl/{shard}", get(certificates::shard_crl_der))
        .route("/ocsp", ocsp_post().get(ocsp::get_empty))
        .route("/ocsp/{*request}", get(ocsp::get))
        .merge(probe_routes())
}

/// Load-balancer probes (SPEC §10), on every listener.
fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
}

/// The `--metrics-listen` router: /metrics without authentication (a private scrape network),
/// and the probes.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(system::metrics_unauthenticated))
        .merge(probe_routes())
        .route_layer(axum::middleware::map_request(crate::observe::note_route))
        .fallback(|| async {
            ApiError::not_found("this listener serves /metrics, /healthz and /readyz")
        })
        .layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| {
                observed("metrics", req, next)
            },
        ))
        .with_state(state)
}

/// Log and time every request of a listener (see [`crate::observe`]).
async fn observed(
    listener: &'static str,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let (notes, id, started) = crate::observe::begin(&mut req);
    let response = match oversized_head(&req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    crate::observe::finish(listener, &method, &notes, id, started, response)
}

/// The plain-HTTP listener's router: the public routes only, nothing else.
pub fn public_router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    public_routes()
        .fallback(|| async {
            ApiError::not_found(
                "plain HTTP serves only /ocsp, /crl and /ca/*.crt; the API is on HTTPS",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_OCSP_REQUEST_BYTES))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .route_layer(axum::middleware::map_request(crate::observe::note_route))
        .layer(tower::util::MapResponseLayer::new(problem_without_body))
        .layer(axum::middleware::from_fn(
            |req: axum::extract::Request, next: axum::middleware::Next| observed("http", req, next),
        ))
        .with_state(state)
}

/// Refuse a body whose declared length is over the limit before reading any of it (no
/// `100 Continue`, nothing buffered; bodies without a length are cut off by `DefaultBodyLimit`),
/// and make every error a problem document (see [`problem_for_every_error`]).
async fn guard(
    max: usize,
    refusals: std::sync::Arc<crate::refusals::RefusalLimiter>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let (notes, id, started) = crate::observe::begin(&mut req);
    let source = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    // A source that has failed too often is answered before any work (see `refusals`).
    let admission = match source.map(|ip| refusals.admit(ip)) {
        Some(Ok(admission)) => Some(admission),
        None => None,
        Some(Err(retry_after)) => {
            return rate_limited(retry_after, &method, &notes, id, started);
        }
    };
    let response = limited(max, req, next).await;
    if let Some(admission) = admission {
        let failed = crate::refusals::is_failure(response.status(), notes.principal_kind());
        refusals.answered(admission, failed);
    }
    crate::observe::finish("https", &method, &notes, id, started, response)
}

/// 429 with Retry-After, before any work (see `refusals`).
fn rate_limited(
    retry_after: Duration,
    method: &axum::http::Method,
    notes: &crate::observe::Notes,
    id: axum::http::HeaderValue,
    started: std::time::Instant,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    {
        crate::metrics::rate_limited();
        let mut response = ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many failed authentications from this address; retry later",
        )
        .into_response();
        if let Ok(v) = retry_after.as_secs().max(1).to_string().parse() {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        crate::observe::finish("https", method, notes, id, started, response)
    }
}

/// Request heads larger than this (target plus every header's name and value, 32 bytes more per
/// header as HTTP/2 counts them) get a 431 problem. The connection layer lets up to
/// [`crate::PROTOCOL_HEAD_BYTES`] through to here on both protocols, so that a client over the
/// limit reads the problem document; beyond that hyper (HTTP/1.1) or h2 answers a bare 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The 431 problem for a request head over [`MAX_HEADER_BYTES`], if it is.
fn oversized_head(req: &axum::extract::Request) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let bytes = req.headers().iter().fold(target, |n, (name, value)| {
        n + name.as_str().len() + value.len() + 32
    });
    (bytes > MAX_HEADER_BYTES).then(|| {
        ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            format!("request headers of {bytes} bytes (at most {MAX_HEADER_BYTES})"),
        )
        .into_response()
    })
}

/// How far past the body limit an HTTP/2 body is read (and discarded) to answer 413 cleanly.
const DRAIN_FACTOR: usize = 32;
/// The longest an over-limit HTTP/2 body is waited for before the 413.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Read and drop a body of `declared` bytes, within [`DRAIN_TIME`]; keeps no more than one frame.
async fn drain(body: axum::body::Body, declared: u64) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut seen = 0u64;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len() as u64;
            if seen > declared {
                break;
            }
        }
    })
    .await;
}

async fn limited(
    max: usize,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(refused) = oversized_head(&req) {
        return refused;
    }
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > max as u64) {
        // HTTP/2: a 413 sent while the client still uploads ends in a stream reset, which clients
        // (curl) report as a framing error instead of the answer. So read and discard a body of
        // up to DRAIN_FACTOR times the limit first; beyond that the reset bounds the work.
        if req.version() == axum::http::Version::HTTP_2 && n <= (max * DRAIN_FACTOR) as u64 {
            drain(req.into_body(), n).await;
        }
        return ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("request body larger than {max} bytes"),
        )
        .into_response();
    }
    problem_for_every_error(next.run(req).await).await
}

/// Every error is a problem document: an error answered by the framework rather than a handler (a
/// path or query parameter that does not parse, a method the route does not take, a timeout)
/// comes as `text/plain` or empty, and is rewritten here, keeping its status and headers such as
/// `Allow`.
async fn problem_for_every_error(response: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    if !from_the_framework(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let detail = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    let mut problem = ApiError::new(status, problem_kind(status), detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    problem
}

fn problem_kind(status: axum::http::StatusCode) -> &'static str {
    use axum::http::StatusCode;
    match status {
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::REQUEST_TIMEOUT => "request-timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        _ if status.is_server_error() => "internal",
        _ => "bad-request",
    }
}

/// The plain-HTTP listener's version, without reading the body (its routes answer their own
/// errors as problems; what is left is the framework's 405 and 408): no per-request allocation.
fn problem_without_body(response: axum::response::Response) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || !from_the_framework(&response) {
        return response;
    }
    let detail = status.canonical_reason().unwrap_or("error");
    let mut problem = ApiError::new(status, problem_kind(status), detail).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    problem
}

/// An error body the framework wrote (plain text or none). A handler's own answers, problem
/// documents and the health report's 503 JSON among them, pass unchanged.
fn from_the_framework(response: &axum::response::Response) -> bool {
    response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"))
}
