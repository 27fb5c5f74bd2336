//! The authority's errors: what went wrong, in PKI terms, with no transport status. Each front end
//! maps them once (REST to problem+json in `vcc-pki-server::problem`, ACME to
//! `urn:ietf:params:acme:error:*`).
use vcc_pki_core::CoreError;
use vcc_pki_store::{Refusal, StoreError};

/// Which part of a request is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The request as a whole (a missing or contradictory field, a value out of range).
    Request,
    /// The CSR: does not parse, bad signature, asks for a CA, or names what the request does not.
    Csr,
    /// The subject's public key: unsupported type or size.
    PublicKey,
    /// A DNS name or IP address.
    Identifier,
    /// A key type name this CA does not know.
    KeyType,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorityError {
    /// The request cannot be carried out as sent; nothing was changed.
    #[error("{detail}")]
    Malformed { part: Malformed, detail: String },
    /// No credentials, or credentials that prove nothing (bad token, used enrollment token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The principal is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    /// The state does not allow it (already exists, already revoked, no CA yet).
    #[error("{0}")]
    Conflict(String),
    /// A CA exists but its keys are locked.
    #[error(
        "the CA is sealed: its keys are locked until an admin unlocks it (POST /api/ca/unlock) \
         or the server is started with VCC_CA_PASSWORD / --ca-password-file"
    )]
    Sealed,
    /// A dependency (the database) is down; retrying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

pub type AuthorityResult<T> = Result<T, AuthorityError>;

impl AuthorityError {
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::Malformed {
            part: Malformed::Request,
            detail: detail.into(),
        }
    }
    pub fn bad_csr(detail: impl Into<String>) -> Self {
        Self::Malformed {
            part: Malformed::Csr,
            detail: detail.into(),
        }
    }
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::Unauthenticated(detail.into())
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden(detail.into())
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal(detail.into())
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable(detail.into())
    }

    /// A refusal of the principal (rather than of the request): these are audited.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::Unauthenticated(_) | Self::Forbidden(_))
    }
}

impl From<CoreError> for AuthorityError {
    fn from(e: CoreError) -> Self {
        let part = match &e {
            CoreError::Crypto(detail) => {
                tracing::error!(detail = %detail, "cryptographic failure");
                return Self::internal("cryptographic operation failed");
            }
            CoreError::KeyDecryption => return Self::forbidden(e.to_string()),
            CoreError::KeyUnavailable => return Self::unavailable(e.to_string()),
            CoreError::ProfileViolation(detail) => {
                tracing::error!(detail = %detail, "a certificate template broke its profile");
                return Self::internal(e.to_string());
            }
            CoreError::UnknownKeyType(_) => Malformed::KeyType,
            CoreError::CsrSignature | CoreError::InvalidCsr(_) | CoreError::CsrRequestsCa => {
                Malformed::Csr
            }
            CoreError::UnsupportedKey(_) => Malformed::PublicKey,
            CoreError::InvalidDnsName(_) | CoreError::InvalidIpAddress(_) => Malformed::Identifier,
            _ => Malformed::Request,
        };
        Self::Malformed {
            part,
            detail: e.to_string(),
        }
    }
}

impl From<StoreError> for AuthorityError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(d) => Self::conflict(d),
            StoreError::NotFound(d) => Self::not_found(format!("{d} not found")),
            StoreError::Refused(r @ Refusal::EnrollmentUsed) => {
                Self::unauthenticated(r.to_string())
            }
            StoreError::Refused(r) => Self::forbidden(r.to_string()),
            other => {
                tracing::error!(error = %other, "store failure");
                Self::unavailable("the database is unavailable; retry shortly")
            }
        }
    }
}
