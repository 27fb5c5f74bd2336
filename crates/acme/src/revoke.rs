//! revokeCert (RFC 8555 §7.6): by the account that ordered the certificate, by an account holding
//! valid authorizations for every one of its names, or signed by the certificate's own key.
//! Reasons are RFC 5280's that a subscriber may give; keyCompromise blocks the key (§4).
use crate::jws::thumbprint;
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::request::{AcmeRequest, KeyRef, Signer};
use crate::Acme;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use vcc_pki_authority::{acme_service_id, Principal, Requester};
use vcc_pki_core::{RevocationReason, Serial};
use vcc_pki_store::{AcmeIdentifier, CertificateStatus};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

#[derive(Deserialize)]
struct Revocation {
    certificate: String,
    #[serde(default)]
    reason: Option<u8>,
}

/// Reason codes a subscriber may give (RFC 5280 §5.3.1; as Boulder: not caCompromise,
/// certificateHold, removeFromCRL or aACompromise).
const ACCEPTED_REASONS: [u8; 6] = [0, 1, 3, 4, 5, 9];

/// The JWK (public members) of a certificate's subject key, for comparing thumbprints.
fn certificate_jwk(cert: &X509Certificate<'_>) -> Option<serde_json::Value> {
    let spki = cert.public_key();
    match spki.parsed().ok()? {
        PublicKey::EC(point) => {
            let data = point.data();
            let (crv, len) = match data.len() {
                65 => ("P-256", 32),
                97 => ("P-384", 48),
                _ => return None,
            };
            if data.first() != Some(&4) {
                return None;
            }
            Some(json!({
                "kty": "EC", "crv": crv,
                "x": B64.encode(&data[1..1 + len]), "y": B64.encode(&data[1 + len..]),
            }))
        }
        PublicKey::RSA(rsa) => {
            let strip = |b: &[u8]| {
                b.iter()
                    .skip_while(|x| **x == 0)
                    .copied()
                    .collect::<Vec<u8>>()
            };
            Some(json!({
                "kty": "RSA", "n": B64.encode(strip(rsa.modulus)), "e": B64.encode(strip(rsa.exponent)),
            }))
        }
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => Some(json!({
            "kty": "OKP", "crv": "Ed25519", "x": B64.encode(spki.subject_public_key.data.as_ref()),
        })),
        _ => None,
    }
}

pub(crate) async fn revoke_cert(
    State(acme): State<Arc<Acme>>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Either).await?;
    let body: Revocation = signed.json()?;
    let der = B64
        .decode(body.certificate.trim_end_matches('=').as_bytes())
        .map_err(|_| AcmeProblem::malformed("certificate is not base64url DER"))?;
    let (_, cert) = X509Certificate::from_der(&der)
        .map_err(|_| AcmeProblem::malformed("certificate does not parse as X.509 DER"))?;
    let code = body.reason.unwrap_or(0);
    if !ACCEPTED_REASONS.contains(&code) {
        return Err(AcmeProblem::new(
            AcmeErrorType::BadRevocationReason,
            format!("reason code {code} is not accepted; use one of {ACCEPTED_REASONS:?}"),
        ));
    }
    let reason = RevocationReason::from_code(i64::from(code))
        .ok_or_else(|| AcmeProblem::new(AcmeErrorType::BadRevocationReason, "unknown reason"))?;
    let serial = Serial::from_bytes(cert.raw_serial());
    // Only a certificate this CA issued, byte for byte.
    let record = acme
        .store
        .certificate_by_serial(&serial)
        .await?
        .filter(|r| r.certificate_der == der)
        .ok_or_else(|| AcmeProblem::not_found("certificate issued by this CA"))?;
    if record.status == CertificateStatus::Revoked {
        return Err(AcmeProblem::new(
            AcmeErrorType::AlreadyRevoked,
            format!("certificate {serial} is already revoked"),
        ));
    }
    let (requester, basis) = match &signed.signer {
        Signer::Key {
            thumbprint: signer, ..
        } => {
            let own = certificate_jwk(&cert)
                .and_then(|jwk| thumbprint(&jwk).ok())
                .is_some_and(|t| t == *signer);
            if !own {
                return Err(AcmeProblem::unauthorized(
                    "the request is signed neither by an account nor by the certificate's key",
                ));
            }
            let mut requester = Requester::new(Principal::AcmeKey {
                thumbprint: signer.clone(),
            });
            requester.source_ip = signed.source_ip.clone();
            (requester, "certificate-key")
        }
        Signer::Account(account) => {
            let basis = if record.service_id == acme_service_id(&account.id) {
                "ordering-account"
            } else if vcc_pki_authority::is_acme_service_id(&record.service_id)
                && reason != RevocationReason::KeyCompromise
                && authorised_for_all(&acme, &account.id, &record).await?
            {
                // Another ACME account that controls every name, as RFC 8555 §7.6 allows — but not
                // for keyCompromise (it blocks the key wherever it is used: only the ordering
                // account or the key itself may say so), and never for certificates issued
                // outside ACME.
                "authorized-account"
            } else {
                return Err(AcmeProblem::unauthorized(
                    "this account did not order the certificate and holds no valid authorization \
                     for every one of its names",
                ));
            };
            (signed.requester(&account.id), basis)
        }
    };
    match acme
        .authority
        .revoke_for_acme(&requester, &serial, reason, basis)
        .await
    {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(vcc_pki_authority::AuthorityError::Conflict(d)) => {
            Err(AcmeProblem::new(AcmeErrorType::AlreadyRevoked, d))
        }
        Err(e) => Err(e.into()),
    }
}

/// Does `account_id` hold a valid, unexpired authorization for every name of the certificate?
async fn authorised_for_all(
    acme: &Acme,
    account_id: &str,
    record: &vcc_pki_store::CertificateRecord,
) -> Result<bool, AcmeProblem> {
    let now = acme.authority.now();
    if record.san_dns.is_empty() && record.san_ip.is_empty() {
        // No names (e.g. the OCSP responder's certificate): nobody is authorised by names.
        return Ok(false);
    }
    let names = record
        .san_dns
        .iter()
        .map(|d| ("dns", d.clone()))
        .chain(record.san_ip.iter().map(|i| ("ip", i.clone())));
    for (kind, value) in names {
        let (identifier, wildcard) = crate::order::authorization_identifier(&AcmeIdentifier {
            kind: kind.into(),
            value,
        });
        if acme
            .store
            .acme_reusable_authorization(account_id, &identifier, wildcard, now)
            .await?
            .is_none()
        {
            return Ok(false);
        }
    }
    Ok(true)
}
