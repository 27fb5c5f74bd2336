//! The web dashboard (SPEC §11) at `/ui`: server-rendered HTML from the binary, no script, no
//! CDN. Every page reads through the store or the authority with the session's requester; every
//! state change is the authority's, after the session's CSRF token is checked.
mod certificates;
mod pages;
pub mod session;

use crate::state::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use session::UiSession;
use vcc_pki_authority::AuthorityError;

/// Pages under `/ui`, each answered with the dashboard's security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(pages::overview))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/app.css", get(stylesheet))
        .route("/ui/certificates", get(certificates::list))
        .route("/ui/certificates.csv", get(certificates::csv))
        .route("/ui/certificates/{serial}", get(certificates::detail))
        .route("/ui/certificates/{serial}/pem", get(certificates::pem))
        .route(
            "/ui/certificates/{serial}/revoke",
            post(certificates::revoke),
        )
        .route(
            "/ui/services",
            get(pages::services).post(pages::register_service),
        )
        .route("/ui/tokens", get(pages::tokens).post(pages::create_token))
        .route("/ui/tokens/{id}/revoke", post(pages::revoke_token))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/acme", get(pages::acme))
        .route("/ui/{*rest}", get(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

/// CSP without inline script (none at all), no framing, no sniffing, no caching of pages that
/// may show a token once.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    response
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("app.css"),
    )
        .into_response()
}

async fn not_found(session: UiSession) -> UiError {
    let _ = session;
    UiError::new(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no dashboard page at this address.",
    )
}

/// An error shown as a readable page, never a stack trace.
#[derive(Debug)]
pub struct UiError {
    status: StatusCode,
    title: String,
    detail: String,
}

impl UiError {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            status,
            title: title.into(),
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Not accepted", detail)
    }
}

impl From<AuthorityError> for UiError {
    fn from(e: AuthorityError) -> Self {
        let (status, title) = match &e {
            AuthorityError::Malformed { .. } => (StatusCode::BAD_REQUEST, "Not accepted"),
            AuthorityError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Not signed in"),
            AuthorityError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            AuthorityError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            AuthorityError::Conflict(_) => (StatusCode::CONFLICT, "Not possible now"),
            AuthorityError::Sealed => (StatusCode::SERVICE_UNAVAILABLE, "The CA is sealed"),
            AuthorityError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable")
            }
            AuthorityError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        };
        let detail = if matches!(e, AuthorityError::Internal(_)) {
            tracing::error!(error = %e, "dashboard request failed");
            "The server could not complete this request; the details are in its log.".to_string()
        } else {
            e.to_string()
        };
        Self::new(status, title, detail)
    }
}

impl From<vcc_pki_store::StoreError> for UiError {
    fn from(e: vcc_pki_store::StoreError) -> Self {
        AuthorityError::from(e).into()
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let body = page(
            &self.title,
            None,
            html! {
                h1 { (self.title) }
                p.notice role="alert" { (self.detail) }
                p { a href="/ui" { "Back to the overview" } }
            },
        );
        (self.status, body).into_response()
    }
}

pub type UiResult<T> = Result<T, UiError>;

/// One page: the navigation (when signed in), the content.
pub fn page(title: &str, session: Option<&UiSession>, content: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if let Some(s) = session { meta name="csrf-token" content=(s.csrf); }
                    title { (title) " · VCC PKI" }
                    link rel="stylesheet" href="/ui/app.css";
                }
                body {
                    @if let Some(s) = session {
                        header {
                            nav aria-label="Main" {
                                a.brand href="/ui" { "VCC PKI" }
                                a href="/ui" { "Overview" }
                                a href="/ui/certificates" { "Certificates" }
                                a href="/ui/services" { "Services" }
                                a href="/ui/tokens" { "Tokens" }
                                a href="/ui/audit" { "Audit" }
                                a href="/ui/acme" { "ACME" }
                                a href="/ca/root.crt" download="root.crt" { "Root certificate" }
                            }
                            form.signout method="post" action="/ui/logout" {
                                span.role { "Signed in: " (s.role()) }
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main { (content) }
                }
            }
        }
        .into_string(),
    )
}

/// A time as the dashboard shows it.
pub fn when(t: time::OffsetDateTime) -> String {
    vcc_pki_store::format_time(t)
}
