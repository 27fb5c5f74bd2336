//! Who is calling: an admin (bearer token), a service enrolling (one-time bearer token), a service
//! presenting its current certificate over mTLS, or nobody. Tokens are compared as SHA-256 hashes in
//! constant time; the clear token is never stored or logged.
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub use vcc_pki_authority::credentials::{
    new_token, token_hash, ADMIN_TOKEN_PREFIX, ENROLLMENT_TOKEN_PREFIX,
};
pub use vcc_pki_authority::{Principal, Requester};

/// The requester of an API call, extracted for every handler from its bearer token or client
/// certificate; the authority decides what it may do.
#[derive(Debug, Clone)]
pub struct RequestContext(pub Requester);

impl std::ops::Deref for RequestContext {
    type Target = Requester;
    fn deref(&self) -> &Requester {
        &self.0
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = requester(parts, state).await?;
        if let Some(notes) = parts.extensions.get::<crate::observe::Notes>() {
            notes.principal(if ctx.bad_token {
                "bad_token"
            } else {
                ctx.principal.kind()
            });
        }
        Ok(ctx)
    }
}

async fn requester(parts: &mut Parts, state: &AppState) -> Result<RequestContext, ApiError> {
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let mut bad_token = false;
    if let Some(token) = bearer {
        if token.len() > 256 {
            bad_token = true;
        } else if token.starts_with(ENROLLMENT_TOKEN_PREFIX) {
            return Ok(RequestContext(Requester {
                principal: Principal::Enrollment {
                    token_hash: token_hash(&token),
                },
                source_ip,
                bad_token,
            }));
        } else {
            let presented = token_hash(&token);
            let mut role = role_of(&state.store.active_tokens().await?, &presented);
            if role.is_none() {
                role = role_of(&state.store.reload_active_tokens().await?, &presented);
            }
            let principal = match role.as_deref() {
                Some("admin") => Some(Principal::Admin),
                Some("auditor") => Some(Principal::Auditor),
                _ => None,
            };
            if let Some(principal) = principal {
                return Ok(RequestContext(Requester {
                    principal,
                    source_ip,
                    bad_token,
                }));
            }
            bad_token = true;
        }
    }
    if let Some(info) = parts.extensions.get::<Arc<axum_server::tls::TlsInfo>>() {
        if let Some(leaf) = info.peer_certificates.first() {
            if let Some(certificate) = state.authority.service_certificate_for(leaf).await? {
                return Ok(RequestContext(Requester {
                    principal: Principal::Service {
                        certificate: Box::new(certificate),
                    },
                    source_ip,
                    bad_token,
                }));
            }
        }
    }
    Ok(RequestContext(Requester {
        principal: Principal::Anonymous,
        source_ip,
        bad_token,
    }))
}

/// The role of the active token whose hash is `presented`: every hash is compared in constant
/// time, without early exit.
fn role_of(tokens: &[vcc_pki_store::ActiveToken], presented: &str) -> Option<String> {
    let mut role = None;
    for t in tokens {
        if bool::from(t.token_hash.as_bytes().ct_eq(presented.as_bytes())) {
            role = Some(t.role.clone());
        }
    }
    role
}
