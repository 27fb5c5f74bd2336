//! One ACME POST: the request URL as the client named it, the JWS, and who signed it.
use crate::jws::{public_jwk, thumbprint, Jws};
use crate::nonce::NonceError;
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::Acme;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use vcc_pki_authority::{Principal, Requester};
use vcc_pki_store::{AcmeAccountRecord, AuditEntry};

/// `https://host[:port]` as the client reached us (HTTP/2 `:authority` or HTTP/1.1 `Host`).
pub(crate) fn base_url(headers: &HeaderMap, uri: &Uri) -> Result<String, AcmeProblem> {
    let host = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .ok_or_else(|| AcmeProblem::malformed("the request names no host"))?;
    let ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    if !ok {
        return Err(AcmeProblem::malformed("the Host header is not a host name"));
    }
    Ok(format!("https://{}", host.to_ascii_lowercase()))
}

/// An ACME request before authentication.
pub(crate) struct AcmeRequest {
    pub base: String,
    /// The full URL the JWS `url` must equal.
    pub url: String,
    pub source_ip: Option<String>,
    body: Bytes,
    content_type_ok: bool,
}

impl FromRequest<Arc<Acme>> for AcmeRequest {
    type Rejection = AcmeProblem;

    async fn from_request(req: Request, state: &Arc<Acme>) -> Result<Self, Self::Rejection> {
        let base = base_url(req.headers(), req.uri())?;
        let url = format!(
            "{base}{}",
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or_else(|| req.uri().path())
        );
        let source_ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let content_type_ok = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/jose+json"));
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            AcmeProblem::malformed(format!("the request body: {e}"))
                .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        })?;
        Ok(Self {
            base,
            url,
            source_ip,
            body,
            content_type_ok,
        })
    }
}

/// Who signed a request.
pub(crate) enum Signer {
    /// A key not (necessarily) bound to an account: newAccount, revokeCert by certificate key.
    Key { jwk: Value, thumbprint: String },
    /// An existing, valid account (by `kid`).
    Account(Box<AcmeAccountRecord>),
}

/// A verified request.
pub(crate) struct Signed {
    pub base: String,
    pub source_ip: Option<String>,
    pub payload: Vec<u8>,
    pub signer: Signer,
}

/// What kind of key reference the endpoint takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRef {
    Jwk,
    Kid,
    /// Either (revokeCert: by an account or by the certificate's key).
    Either,
}

impl AcmeRequest {
    /// Parse and verify the JWS, then use up its nonce.
    pub async fn verify(self, acme: &Acme, expect: KeyRef) -> Result<Signed, AcmeProblem> {
        if !self.content_type_ok {
            return Err(
                AcmeProblem::malformed("ACME requests are sent as application/jose+json")
                    .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
            );
        }
        let jws = Jws::parse(&self.body)?;
        match (&jws.protected.url, expect) {
            (None, _) => return Err(AcmeProblem::unauthorized("the protected header lacks url")),
            (Some(url), _) if *url != self.url => {
                return Err(AcmeProblem::unauthorized(format!(
                    "the JWS url '{url}' is not the request URL '{}'",
                    self.url
                )))
            }
            _ => {}
        }
        let (signer, payload) = match (expect, &jws.protected.jwk, &jws.protected.kid) {
            (KeyRef::Jwk | KeyRef::Either, Some(jwk), _) => {
                let jwk = public_jwk(jwk);
                let payload = jws.verify(&jwk)?;
                let thumbprint = thumbprint(&jwk)?;
                (Signer::Key { jwk, thumbprint }, payload)
            }
            (KeyRef::Kid | KeyRef::Either, _, Some(kid)) => {
                let prefix = format!("{}/acme/account/", self.base);
                let id = kid.strip_prefix(&prefix).ok_or_else(|| {
                    AcmeProblem::new(
                        AcmeErrorType::AccountDoesNotExist,
                        format!("kid '{kid}' is not an account URL of this server"),
                    )
                })?;
                let account = acme.store.acme_account(id).await?.ok_or_else(|| {
                    AcmeProblem::new(AcmeErrorType::AccountDoesNotExist, "no such account")
                })?;
                let jwk: Value =
                    serde_json::from_str(&account.jwk).map_err(|_| AcmeProblem::internal())?;
                let payload = jws.verify(&jwk)?;
                if account.status != "valid" {
                    return Err(AcmeProblem::unauthorized(format!(
                        "the account is {}",
                        account.status
                    )));
                }
                (Signer::Account(Box::new(account)), payload)
            }
            (KeyRef::Jwk, ..) => {
                return Err(AcmeProblem::malformed(
                    "this request is signed with a jwk, not a kid",
                ))
            }
            (KeyRef::Kid | KeyRef::Either, ..) => {
                return Err(AcmeProblem::malformed(
                    "this request is signed with the account's kid, not a jwk",
                ))
            }
        };
        let nonce =
            jws.protected.nonce.as_deref().ok_or_else(|| {
                AcmeProblem::new(AcmeErrorType::BadNonce, "no nonce in the header")
            })?;
        match acme.nonces.redeem(nonce, acme.authority.now()).await {
            Ok(()) => {}
            Err(NonceError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(AcmeProblem::new(AcmeErrorType::BadNonce, e.to_string())),
        }
        Ok(Signed {
            base: self.base,
            source_ip: self.source_ip,
            payload,
            signer,
        })
    }
}

impl Signed {
    /// The account that signed (for `kid` requests).
    pub fn account(&self) -> Result<&AcmeAccountRecord, AcmeProblem> {
        match &self.signer {
            Signer::Account(a) => Ok(a),
            Signer::Key { .. } => Err(AcmeProblem::internal()),
        }
    }

    /// POST-as-GET has an empty payload.
    pub fn is_post_as_get(&self) -> bool {
        self.payload.is_empty()
    }

    /// The payload as JSON (`{}` for an empty one is not allowed: RFC 8555 §6.3).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, AcmeProblem> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| AcmeProblem::malformed(format!("the payload: {e}")))
    }

    pub fn requester(&self, account_id: &str) -> Requester {
        let mut requester = Requester::new(Principal::AcmeAccount {
            account_id: account_id.to_string(),
        });
        requester.source_ip = self.source_ip.clone();
        requester
    }

    pub fn audit(&self, account_id: &str, action: &str, target_type: &str) -> AuditEntry {
        self.requester(account_id).audit(action, target_type)
    }
}
