//! Dashboard sessions (SPEC §11): sign-in with an admin or auditor token, a random session id in
//! a `__Host-` cookie (`HttpOnly; Secure; SameSite=Strict; Path=/`), an idle timeout, a CSRF token
//! per session that every state change must carry, and sign-out. The session keeps the token's
//! hash, never the token: a token revoked since sign-in ends its sessions at their next request.
use super::{page, UiError};
use crate::auth::{token_hash, Principal, Requester};
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use vcc_pki_store::{AuditEntry, AuditOutcome};

pub const COOKIE: &str = "__Host-vcc_session";
/// A session ends this long after sign-in, however active.
const MAX_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest is dropped first).
const MAX_SESSIONS: usize = 10_000;

struct Entry {
    token_hash: String,
    csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Live sessions, by the SHA-256 of their id (a memory dump does not give usable cookies).
/// Per replica: behind a load balancer, dashboard sessions need sticky routing.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<String, Entry>>,
}

/// Why a request carries no usable session.
enum Ended {
    None,
    Expired,
}

impl Sessions {
    fn create(&self, token_hash: String) -> (String, String) {
        let id = crate::auth::new_token("s_");
        let csrf = crate::auth::new_token("c_");
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_SESSIONS {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            token_hash_of_id(&id),
            Entry {
                token_hash,
                csrf: csrf.clone(),
                created: now,
                last_seen: now,
            },
        );
        (id, csrf)
    }

    fn remove(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&token_hash_of_id(id));
    }

    /// The session's token hash and CSRF token, touching it; or why there is none.
    fn touch(&self, id: &str, idle: Duration) -> Result<(String, String), Ended> {
        let key = token_hash_of_id(id);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let Some(entry) = entries.get_mut(&key) else {
            return Err(Ended::None);
        };
        if now.duration_since(entry.last_seen) > idle
            || now.duration_since(entry.created) > MAX_LIFETIME
        {
            entries.remove(&key);
            return Err(Ended::Expired);
        }
        entry.last_seen = now;
        Ok((entry.token_hash.clone(), entry.csrf.clone()))
    }
}

fn token_hash_of_id(id: &str) -> String {
    token_hash(id)
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| v.len() <= 128)
}

/// The signed-in user of a dashboard request: the requester the authority sees, and the CSRF
/// token its forms carry.
pub struct UiSession {
    pub requester: Requester,
    pub csrf: String,
}

impl UiSession {
    pub fn is_admin(&self) -> bool {
        matches!(self.requester.principal, Principal::Admin)
    }

    pub fn role(&self) -> &'static str {
        if self.is_admin() {
            "admin"
        } else {
            "auditor"
        }
    }

    /// Refuse a state change whose form does not carry this session's CSRF token (nothing is
    /// changed; the refusal is audited).
    pub async fn check_csrf(
        &self,
        state: &AppState,
        action: &str,
        presented: &str,
    ) -> Result<(), UiError> {
        if bool::from(presented.as_bytes().ct_eq(self.csrf.as_bytes())) {
            return Ok(());
        }
        let entry = self
            .requester
            .audit(action, "authorization")
            .outcome(AuditOutcome::Denied)
            .details(serde_json::json!({ "status": 403, "reason": "missing or wrong CSRF token" }));
        if let Err(e) = state.store.audit_refusal(entry).await {
            tracing::error!(error = %e, "could not write audit row for a CSRF refusal");
        }
        Err(UiError::new(
            StatusCode::FORBIDDEN,
            "Refused: the form is stale",
            "This request did not carry the form's security token (CSRF), so nothing was changed. \
             Go back, reload the page and try again.",
        ))
    }
}

fn source_ip(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

impl FromRequestParts<AppState> for UiSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(id) = cookie_value(&parts.headers) else {
            return Err(Redirect::to("/ui/login").into_response());
        };
        let (token_hash, csrf) = match state.sessions.touch(&id, state.config.ui_idle_timeout) {
            Ok(found) => found,
            Err(Ended::Expired) => return Err(sign_in_page(StatusCode::UNAUTHORIZED, Some(
                "Your session expired after a period without activity. Sign in again.",
            ), true)),
            Err(_) => return Err(sign_in_page(StatusCode::UNAUTHORIZED, Some(
                "You are not signed in (the session ended or the server restarted). Sign in again.",
            ), true)),
        };
        let role = match role_of(state, &token_hash).await {
            Ok(role) => role,
            Err(e) => return Err(e.into_response()),
        };
        let principal = match role.as_deref() {
            Some("admin") => Principal::Admin,
            Some("auditor") => Principal::Auditor,
            _ => {
                state.sessions.remove(&id);
                return Err(sign_in_page(StatusCode::UNAUTHORIZED, Some(
                    "The token this session was signed in with has been revoked. Sign in with a valid token.",
                ), true));
            }
        };
        Ok(Self {
            requester: Requester {
                principal,
                source_ip: source_ip(parts),
                bad_token: false,
            },
            csrf,
        })
    }
}

async fn role_of(state: &AppState, hash: &str) -> Result<Option<String>, UiError> {
    let tokens = state.store.active_tokens().await?;
    let mut role = None;
    for t in tokens.iter() {
        if bool::from(t.token_hash.as_bytes().ct_eq(hash.as_bytes())) {
            role = Some(t.role.clone());
        }
    }
    Ok(role)
}

/// The sign-in page, with a message; `clear` also drops a stale cookie.
fn sign_in_page(status: StatusCode, message: Option<&str>, clear: bool) -> Response {
    let body = page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in to VCC PKI" }
            @if let Some(m) = message { p.notice role="alert" { (m) } }
            form method="post" action="/ui/login" {
                label for="token" { "Admin or auditor token" }
                input #token type="password" name="token" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
            p.hint { "Create one with " code { "vcc-pki token create --name NAME --role admin|auditor" } "." }
        },
    );
    let mut response = (status, body).into_response();
    if clear {
        if let Ok(v) =
            format!("{COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict").parse()
        {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

pub async fn login_form() -> Response {
    sign_in_page(StatusCode::OK, None, false)
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    // A sign-in posted from another site (login CSRF) is refused.
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site")
    {
        return sign_in_page(
            StatusCode::FORBIDDEN,
            Some("Sign-in from another site is refused."),
            false,
        );
    }
    let token = form.map(|Form(f)| f.token).unwrap_or_default();
    let token = token.trim();
    let hash = token_hash(token);
    let role = if token.is_empty() || token.len() > 256 {
        None
    } else {
        match role_of(&state, &hash).await {
            Ok(None) => match state.store.reload_active_tokens().await {
                Ok(_) => role_of(&state, &hash).await.ok().flatten(),
                Err(_) => None,
            },
            Ok(role) => role,
            Err(e) => return e.into_response(),
        }
    };
    let source = Some(peer.ip().to_string());
    let Some(role) = role.filter(|r| r == "admin" || r == "auditor") else {
        let entry = AuditEntry::new("anonymous", "ui.sign_in", "session")
            .outcome(AuditOutcome::Denied)
            .source(source)
            .details(serde_json::json!({ "status": 401, "reason": "unknown or revoked token" }));
        if let Err(e) = state.store.audit_refusal(entry).await {
            tracing::error!(error = %e, "could not write audit row for a refused sign-in");
        }
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            Some("That token is not valid: it is unknown, mistyped or revoked. Nothing was signed in."),
            false,
        );
    };
    let (id, _csrf) = state.sessions.create(hash);
    let entry = AuditEntry::new(role.clone(), "ui.sign_in", "session").source(source);
    if let Err(e) = state.store.audit(entry).await {
        tracing::error!(error = %e, "could not write audit row for a sign-in");
    }
    let mut response = Redirect::to("/ui").into_response();
    if let Ok(v) = format!("{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict").parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    session: UiSession,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    let csrf = form.map(|Form(f)| f.csrf).unwrap_or_default();
    session.check_csrf(&state, "ui.sign_out", &csrf).await?;
    if let Some(id) = cookie_value(&headers) {
        state.sessions.remove(&id);
    }
    let entry = session.requester.audit("ui.sign_out", "session");
    if let Err(e) = state.store.audit(entry).await {
        tracing::error!(error = %e, "could not write audit row for a sign-out");
    }
    Ok(sign_in_page(
        StatusCode::OK,
        Some("You are signed out."),
        true,
    ))
}
