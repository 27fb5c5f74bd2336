//! One log line and one histogram sample per request (SPEC §10): request id (`X-Request-Id`,
//! taken from the client when it is a plain token, else made here, and echoed), method, route
//! template (never the path: it may hold a serial or an OCSP request), status, latency and the
//! kind of principal — never a token, a key or a password.
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What is learnt about a request on its way in: filled by inner layers and extractors, read
/// when its answer goes out.
#[derive(Default)]
pub struct RequestNotes {
    route: OnceLock<MatchedPath>,
    principal: OnceLock<&'static str>,
}

/// The notes of the current request, in its extensions.
#[derive(Clone, Default)]
pub struct Notes(pub Arc<RequestNotes>);

impl Notes {
    /// The principal the request authenticated as (first one wins).
    pub fn principal(&self, kind: &'static str) {
        let _ = self.0.principal.set(kind);
    }

    /// What the request authenticated as, once an extractor has said so.
    pub fn principal_kind(&self) -> Option<&'static str> {
        self.0.principal.get().copied()
    }
}

/// The `route_layer` half: the router has matched, so the route template is known.
pub async fn note_route(request: Request) -> Request {
    if let (Some(path), Some(notes)) = (
        request.extensions().get::<MatchedPath>(),
        request.extensions().get::<Notes>(),
    ) {
        let _ = notes.0.route.set(path.clone());
    }
    request
}

/// Before the request runs: its notes and its id.
pub fn begin(request: &mut Request) -> (Notes, HeaderValue, Instant) {
    let notes = Notes::default();
    request.extensions_mut().insert(notes.clone());
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| acceptable_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_id);
    (notes, id, Instant::now())
}

/// After: the histogram sample, the log line, and the id on the answer.
pub fn finish(
    listener: &'static str,
    method: &axum::http::Method,
    notes: &Notes,
    id: HeaderValue,
    started: Instant,
    mut response: Response,
) -> Response {
    let took = started.elapsed();
    let route = notes
        .0
        .route
        .get()
        .map(|p| p.as_str())
        .unwrap_or("unmatched");
    let status = response.status().as_u16();
    metrics::histogram!(
        crate::metrics::HTTP_DURATION,
        "listener" => listener,
        "route" => route.to_string(),
        "status" => status.to_string()
    )
    .record(took.as_secs_f64());
    tracing::info!(
        target: "vcc_pki::request",
        request_id = id.to_str().unwrap_or("-"),
        listener,
        method = method.as_str(),
        route,
        status,
        latency_ms = (took.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        principal = notes.0.principal.get().copied().unwrap_or("none"),
        "request"
    );
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// A client's request id is kept when it is 1–64 characters of `[A-Za-z0-9._:-]`.
fn acceptable_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b))
}

fn new_id() -> HeaderValue {
    let bytes: [u8; 12] = rand::random();
    HeaderValue::from_str(&hex::encode(bytes)).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_echoed() {
        assert!(acceptable_id(b"abc-123_x.y:z"));
        assert!(!acceptable_id(b""));
        assert!(!acceptable_id(&[b'a'; 65]));
        assert!(!acceptable_id(b"bad id"));
        assert!(!acceptable_id(b"x\"y"));
        assert_eq!(new_id().len(), 24);
    }
}
