//! RFC 8555 §6.7 problem documents (`urn:ietf:params:acme:error:*`), the one place ACME errors
//! are shaped, and the mapping of the authority's errors onto them.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vcc_pki_authority::{AuthorityError, Malformed};
use vcc_pki_store::{AcmeIdentifier, StoreError};

/// The error types this server uses (each is asserted in crates/testkit/tests/acme*.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeErrorType {
    AccountDoesNotExist,
    AlreadyReplaced,
    AlreadyRevoked,
    BadRevocationReason,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadSignatureAlgorithm,
    Connection,
    Dns,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    InvalidProfile,
    Malformed,
    OrderNotReady,
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
}

impl AcmeErrorType {
    pub fn urn(self) -> &'static str {
        match self {
            Self::AccountDoesNotExist => "urn:ietf:params:acme:error:accountDoesNotExist",
            Self::AlreadyReplaced => "urn:ietf:params:acme:error:alreadyReplaced",
            Self::AlreadyRevoked => "urn:ietf:params:acme:error:alreadyRevoked",
            Self::BadRevocationReason => "urn:ietf:params:acme:error:badRevocationReason",
            Self::BadCsr => "urn:ietf:params:acme:error:badCSR",
            Self::BadNonce => "urn:ietf:params:acme:error:badNonce",
            Self::BadPublicKey => "urn:ietf:params:acme:error:badPublicKey",
            Self::BadSignatureAlgorithm => "urn:ietf:params:acme:error:badSignatureAlgorithm",
            Self::Connection => "urn:ietf:params:acme:error:connection",
            Self::Dns => "urn:ietf:params:acme:error:dns",
            Self::ExternalAccountRequired => "urn:ietf:params:acme:error:externalAccountRequired",
            Self::IncorrectResponse => "urn:ietf:params:acme:error:incorrectResponse",
            Self::InvalidContact => "urn:ietf:params:acme:error:invalidContact",
            Self::InvalidProfile => "urn:ietf:params:acme:error:invalidProfile",
            Self::Malformed => "urn:ietf:params:acme:error:malformed",
            Self::OrderNotReady => "urn:ietf:params:acme:error:orderNotReady",
            Self::RateLimited => "urn:ietf:params:acme:error:rateLimited",
            Self::RejectedIdentifier => "urn:ietf:params:acme:error:rejectedIdentifier",
            Self::ServerInternal => "urn:ietf:params:acme:error:serverInternal",
            Self::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            Self::UnsupportedContact => "urn:ietf:params:acme:error:unsupportedContact",
            Self::UnsupportedIdentifier => "urn:ietf:params:acme:error:unsupportedIdentifier",
        }
    }

    fn default_status(self) -> StatusCode {
        match self {
            Self::AccountDoesNotExist | Self::Malformed => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::FORBIDDEN,
            Self::ServerInternal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::OrderNotReady => StatusCode::FORBIDDEN,
            Self::AlreadyReplaced => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AcmeProblem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub detail: String,
    pub status: u16,
    /// RFC 8555 §6.7.1: one problem per identifier that caused it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    #[serde(skip)]
    error_type: Option<AcmeErrorType>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

/// A problem with one identifier of a request (RFC 8555 §6.7.1).
#[derive(Debug, Clone, Serialize)]
pub struct Subproblem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub detail: String,
    pub identifier: AcmeIdentifier,
}

impl AcmeProblem {
    pub fn new(kind: AcmeErrorType, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.urn(),
            detail: detail.into(),
            status: kind.default_status().as_u16(),
            error_type: Some(kind),
            retry_after: None,
            subproblems: Vec::new(),
        }
    }

    /// A problem of several identifiers: each gets its own subproblem of the same type; the
    /// detail names them all.
    pub fn for_identifiers(
        kind: AcmeErrorType,
        summary: &str,
        problems: Vec<(AcmeIdentifier, String)>,
    ) -> Self {
        let names: Vec<&str> = problems.iter().map(|(i, _)| i.value.as_str()).collect();
        let mut problem = Self::new(kind, format!("{summary}: {}", names.join(", ")));
        problem.subproblems = problems
            .into_iter()
            .map(|(identifier, detail)| Subproblem {
                kind: kind.urn(),
                detail,
                identifier,
            })
            .collect();
        problem
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status.as_u16();
        self
    }

    /// With `Retry-After` (seconds) on the answer.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(AcmeErrorType::Malformed, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(AcmeErrorType::Unauthorized, detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::malformed(format!("no such {what}")).with_status(StatusCode::NOT_FOUND)
    }

    pub fn internal() -> Self {
        Self::new(
            AcmeErrorType::ServerInternal,
            "the server could not complete the request; retry later",
        )
    }

    pub fn error_type(&self) -> Option<AcmeErrorType> {
        self.error_type
    }

    /// As stored in an order's or challenge's `error` field.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

impl IntoResponse for AcmeProblem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(v) = self
            .retry_after
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<AuthorityError> for AcmeProblem {
    fn from(e: AuthorityError) -> Self {
        match e {
            AuthorityError::Malformed {
                part: Malformed::Csr,
                detail,
            } => Self::new(AcmeErrorType::BadCsr, detail),
            AuthorityError::Malformed {
                part: Malformed::PublicKey,
                detail,
            } => Self::new(AcmeErrorType::BadCsr, detail),
            AuthorityError::Malformed {
                part: Malformed::Identifier,
                detail,
            } => Self::new(AcmeErrorType::RejectedIdentifier, detail),
            AuthorityError::Malformed { detail, .. } => Self::malformed(detail),
            AuthorityError::Unauthenticated(d) | AuthorityError::Forbidden(d) => {
                Self::unauthorized(d)
            }
            AuthorityError::NotFound(d) => Self::malformed(d).with_status(StatusCode::NOT_FOUND),
            AuthorityError::Conflict(d) => Self::malformed(d).with_status(StatusCode::CONFLICT),
            e @ AuthorityError::Sealed => Self::new(AcmeErrorType::ServerInternal, e.to_string())
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            AuthorityError::Unavailable(d) => Self::new(AcmeErrorType::ServerInternal, d)
                .with_status(StatusCode::SERVICE_UNAVAILABLE),
            AuthorityError::Internal(_) => Self::internal(),
        }
    }
}

impl From<StoreError> for AcmeProblem {
    fn from(e: StoreError) -> Self {
        AuthorityError::from(e).into()
    }
}
