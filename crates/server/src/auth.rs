//! Who is calling: an admin (bearer token), a service enrolling (one-time bearer token), a service
//! presenting its current certificate over mTLS, or nobody. Tokens are compared as SHA-256 hashes in
//! constant time; the clear token is never stored or logged.
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use vcc_pki_store::{AuditEntry, AuditOutcome, CertificateRecord, Store};

pub const ADMIN_TOKEN_PREFIX: &str = "vccadm_";
pub const ENROLLMENT_TOKEN_PREFIX: &str = "vccenr_";

/// A fresh 256-bit token with a type prefix (so a leaked token is recognisable in scanners).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The authenticated identity of a request.
#[derive(Debug, Clone)]
pub enum Caller {
    Admin,
    /// A bearer enrollment token; validated against the service at use.
    Enrollment {
        token_hash: String,
    },
    /// A service authenticated by its current, unrevoked certificate (mTLS).
    Service {
        certificate: Box<CertificateRecord>,
    },
    Anonymous,
}

impl Caller {
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".into(),
            Caller::Enrollment { .. } => "enrollment-token".into(),
            Caller::Service { certificate } => format!("service:{}", certificate.service_id),
            Caller::Anonymous => "anonymous".into(),
        }
    }
}

/// The caller plus where the request came from, extracted for every API handler.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub caller: Caller,
    pub source_ip: Option<String>,
    /// Set when a bearer token was presented but did not match anything.
    pub bad_token: bool,
}

impl RequestContext {
    pub fn audit(&self, action: &str, target_type: &str) -> AuditEntry {
        AuditEntry::new(self.caller.actor(), action, target_type).source(self.source_ip.clone())
    }

    /// Refuse with 401/403, writing the audit row first.
    pub async fn deny(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
        error: ApiError,
    ) -> ApiError {
        let mut entry = self
            .audit(action, "authorization")
            .outcome(AuditOutcome::Denied)
            .details(
                serde_json::json!({ "status": error.status.as_u16(), "reason": error.detail }),
            );
        // Bounded: a refused request must not be able to write arbitrary amounts into the audit log.
        entry.target_id = target.map(|t| t.chars().take(128).collect());
        if let Err(e) = store.audit(entry).await {
            tracing::error!(error = %e, "could not write audit row for a refusal");
        }
        error
    }

    /// Require an admin; otherwise 401 (no or bad credentials) or 403 (authenticated, not admin).
    pub async fn require_admin(
        &self,
        store: &Store,
        action: &str,
        target: Option<&str>,
    ) -> Result<(), ApiError> {
        match &self.caller {
            Caller::Admin => Ok(()),
            Caller::Anonymous => {
                let detail = if self.bad_token {
                    "the bearer token is not valid"
                } else {
                    "this operation needs an admin token (Authorization: Bearer …)"
                };
                Err(self
                    .deny(store, action, target, ApiError::unauthorized(detail))
                    .await)
            }
            _ => Err(self
                .deny(
                    store,
                    action,
                    target,
                    ApiError::forbidden("this operation is for admins only"),
                )
                .await),
        }
    }
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
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
                return Ok(Self {
                    caller: Caller::Enrollment {
                        token_hash: token_hash(&token),
                    },
                    source_ip,
                    bad_token,
                });
            } else {
                let presented = token_hash(&token);
                let mut matched =
                    is_known(&state.store.active_admin_token_hashes().await?, &presented);
                if !matched {
                    matched = is_known(&state.store.reload_admin_token_hashes().await?, &presented);
                }
                if matched {
                    return Ok(Self {
                        caller: Caller::Admin,
                        source_ip,
                        bad_token,
                    });
                }
                bad_token = true;
            }
        }
        if let Some(info) = parts.extensions.get::<Arc<axum_server::tls::TlsInfo>>() {
            if let Some(leaf) = info.peer_certificates.first() {
                if let Some(certificate) = state.authority.service_certificate_for(leaf).await? {
                    return Ok(Self {
                        caller: Caller::Service {
                            certificate: Box::new(certificate),
                        },
                        source_ip,
                        bad_token,
                    });
                }
            }
        }
        Ok(Self {
            caller: Caller::Anonymous,
            source_ip,
            bad_token,
        })
    }
}

/// Compare against every active hash in constant time, without early exit.
fn is_known(hashes: &[String], presented: &str) -> bool {
    let mut matched = subtle::Choice::from(0);
    for h in hashes {
        matched |= h.as_bytes().ct_eq(presented.as_bytes());
    }
    bool::from(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_token(ADMIN_TOKEN_PREFIX);
        let b = new_token(ADMIN_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(ADMIN_TOKEN_PREFIX) && a.len() == ADMIN_TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
