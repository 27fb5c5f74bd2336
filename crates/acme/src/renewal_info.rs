//! ACME Renewal Information (RFC 9773): `GET renewal-info/{certID}` with the suggested window,
//! and the certificate identifiers that `replaces` in a new order names.
use crate::problem::AcmeProblem;
use crate::Acme;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use vcc_pki_core::Serial;
use vcc_pki_store::{format_time, CertificateRecord, CertificateStatus};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

/// How long a client should wait before asking again (RFC 9773 §4.2), seconds.
pub const RETRY_AFTER_SECS: u64 = 6 * 3600;

/// A parsed certID: base64url(AKI keyIdentifier) "." base64url(serial DER content octets).
pub(crate) struct CertId {
    key_identifier: Vec<u8>,
    serial: Serial,
}

pub(crate) fn parse_cert_id(text: &str) -> Result<CertId, AcmeProblem> {
    let malformed = || {
        AcmeProblem::malformed(format!(
            "'{text}' is not a certID (base64url(AKI keyIdentifier).base64url(serial))"
        ))
    };
    let (aki, serial) = text.split_once('.').ok_or_else(malformed)?;
    let key_identifier = B64.decode(aki).map_err(|_| malformed())?;
    let serial_bytes = B64.decode(serial).map_err(|_| malformed())?;
    if key_identifier.is_empty() || serial_bytes.is_empty() || serial_bytes.len() > 21 {
        return Err(malformed());
    }
    Ok(CertId {
        key_identifier,
        serial: Serial::from_bytes(&serial_bytes),
    })
}

fn authority_key_identifier(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

/// The certificate a certID names, if this CA issued it (serial and issuer key both match).
pub(crate) async fn certificate_of(
    acme: &Acme,
    id: &CertId,
) -> Result<CertificateRecord, AcmeProblem> {
    acme.store
        .certificate_by_serial(&id.serial)
        .await?
        .filter(|c| {
            authority_key_identifier(&c.certificate_der).as_deref() == Some(&id.key_identifier[..])
        })
        .ok_or_else(|| AcmeProblem::not_found("certificate for this certID"))
}

/// The window of RFC 9773 §4.2 for a certificate: centred at two thirds of its lifetime (at
/// half below 10 days), 2 % of the lifetime wide.
pub fn suggested_window(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> (OffsetDateTime, OffsetDateTime) {
    let lifetime = not_after - not_before;
    let centre = if lifetime < Duration::days(10) {
        not_before + lifetime / 2
    } else {
        not_before + lifetime * 2 / 3
    };
    let half = lifetime / 100;
    (centre - half, centre + half)
}

pub(crate) async fn renewal_info(
    State(acme): State<Arc<Acme>>,
    Path(cert_id): Path<String>,
) -> Result<Response, AcmeProblem> {
    let id = parse_cert_id(&cert_id)?;
    let record = certificate_of(&acme, &id).await?;
    let now = acme.authority.now();
    let mut explanation = None;
    let (start, end) = if record.status == CertificateStatus::Revoked {
        // Revoked: renew now (a window already past).
        (now - Duration::hours(2), now - Duration::hours(1))
    } else if let Some(moved) = acme.store.renewal_override(&record.serial_number).await? {
        explanation = moved.explanation_url;
        (moved.window_start, moved.window_end)
    } else {
        suggested_window(record.not_before, record.not_after)
    };
    let mut body = json!({
        "suggestedWindow": { "start": format_time(start), "end": format_time(end) },
    });
    if let Some(url) = explanation {
        body["explanationURL"] = json!(url);
    }
    let mut response = crate::json_response(StatusCode::OK, None, &body);
    if let Ok(v) = HeaderValue::from_str(&RETRY_AFTER_SECS.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Ok(response)
}

/// `replaces` of a new order: a certificate of this account, sharing a name with the order.
pub(crate) async fn check_replaces(
    acme: &Acme,
    account_id: &str,
    cert_id: &str,
    identifiers: &[vcc_pki_store::AcmeIdentifier],
) -> Result<String, AcmeProblem> {
    let id = parse_cert_id(cert_id)?;
    let record = certificate_of(acme, &id).await?;
    if record.service_id != vcc_pki_authority::acme_service_id(account_id) {
        return Err(AcmeProblem::unauthorized(
            "replaces names a certificate this account did not order",
        ));
    }
    let shares = identifiers.iter().any(|i| match i.kind.as_str() {
        "ip" => record.san_ip.contains(&i.value),
        _ => record.san_dns.contains(&i.value),
    });
    if !shares {
        return Err(AcmeProblem::malformed(
            "the order shares no identifier with the certificate it replaces",
        ));
    }
    // The certID as the certificate itself spells it (a client may pad the serial with leading
    // zeros): one spelling per certificate, so "replaced once" cannot be dodged.
    let (_, cert) =
        X509Certificate::from_der(&record.certificate_der).map_err(|_| AcmeProblem::internal())?;
    Ok(format!(
        "{}.{}",
        B64.encode(&id.key_identifier),
        B64.encode(cert.raw_serial())
    ))
}
