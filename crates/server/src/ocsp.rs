//! OCSP over HTTP (RFC 6960 Appendix A, RFC 5019 §5–6): `POST /ocsp` with a DER
//! `application/ocsp-request` body, `GET /ocsp/{url-encoded base64 of the request}`.
//! Every answer is HTTP 200 `application/ocsp-response`; a bad request gets the OCSP status
//! `malformedRequest`, a request about another CA's certificates `unauthorized`.
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use time::OffsetDateTime;
use vcc_pki_authority::OcspAnswer;
use vcc_pki_core::ocsp::{status_only_response, OcspResponseStatus};

/// Largest OCSP request accepted (a request about 16 certificates with a 128-octet nonce and a
/// signature fits easily); larger bodies are answered `malformedRequest`.
pub const MAX_OCSP_REQUEST_BYTES: usize = 8 * 1024;
const MAX_GET_PATH: usize = MAX_OCSP_REQUEST_BYTES * 4 / 3 + 16;

const OCSP_RESPONSE: &str = "application/ocsp-response";

#[utoipa::path(post, path = "/ocsp", tag = "public",
    request_body(content = Vec<u8>, content_type = "application/ocsp-request", description = "A DER OCSPRequest"),
    responses((status = 200, description = "A DER OCSPResponse; errors are OCSP statuses (malformedRequest, unauthorized, tryLater)", body = Vec<u8>, content_type = "application/ocsp-response")))]
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) if body.len() <= MAX_OCSP_REQUEST_BYTES => {
            answer(state.authority.ocsp().respond(&body).await, &headers)
        }
        Ok(_) | Err(_) => refused(OcspResponseStatus::MalformedRequest),
    }
}

#[utoipa::path(get, path = "/ocsp/{request}", tag = "public",
    params(("request" = String, Path, description = "The DER OCSPRequest, base64 and URL-encoded (RFC 6960 A.1)")),
    responses(
        (status = 200, description = "A DER OCSPResponse, with RFC 5019 caching headers when the request has no nonce", body = Vec<u8>, content_type = "application/ocsp-response"),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    encoded: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(encoded)) = encoded else {
        return refused(OcspResponseStatus::MalformedRequest);
    };
    match decode_get_path(&encoded) {
        Some(der) => answer(state.authority.ocsp().respond(&der).await, &headers),
        None => refused(OcspResponseStatus::MalformedRequest),
    }
}

/// `GET /ocsp` without a request.
#[utoipa::path(get, path = "/ocsp", tag = "public",
    responses((status = 200, description = "malformedRequest: a GET names its request in the path", body = Vec<u8>, content_type = "application/ocsp-response")))]
pub async fn get_empty() -> Response {
    refused(OcspResponseStatus::MalformedRequest)
}

/// The request DER from the (already percent-decoded) path: standard base64 as RFC 6960 A.1
/// says, padded or not; URL-safe base64 is accepted too.
fn decode_get_path(encoded: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let encoded = encoded.trim();
    if encoded.is_empty() || encoded.len() > MAX_GET_PATH {
        return None;
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(encoded).ok())
        .filter(|der| der.len() <= MAX_OCSP_REQUEST_BYTES)
}

fn refused(status: OcspResponseStatus) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, OCSP_RESPONSE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        status_only_response(status),
    )
        .into_response()
}

/// A signed response. Without a nonce it is the same for everyone until it is re-signed, so it
/// carries RFC 5019 §6.2 caching headers; with a nonce it is for this request only.
fn answer(answer: OcspAnswer, request_headers: &HeaderMap) -> Response {
    let (response, cacheable) = match answer {
        OcspAnswer::Signed {
            response,
            cacheable,
        } => (response, cacheable),
        OcspAnswer::Refused(status) => return refused(status),
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return (StatusCode::OK, headers, response.der.clone()).into_response();
    }
    let max_age = (response.next_update - OffsetDateTime::now_utc())
        .whole_seconds()
        .max(0);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "max-age={max_age}, public, no-transform, must-revalidate"
    )) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    for (name, value) in &response.cache_headers {
        if let Ok(value) = HeaderValue::from_maybe_shared(value.clone()) {
            headers.insert(axum::http::HeaderName::from_static(name), value);
        }
    }
    let not_modified = request_headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == response.etag || t.trim() == "*")
        });
    if not_modified {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (StatusCode::OK, headers, response.der.clone()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_path_accepts_standard_and_url_safe_base64() {
        let der = vec![0x30, 0xfb, 0xff, 0x01];
        let std = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(std.contains('+') || std.contains('/'));
        assert_eq!(decode_get_path(&std), Some(der.clone()));
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        assert_eq!(decode_get_path(&url), Some(der));
        assert_eq!(decode_get_path("!!!"), None);
        assert_eq!(decode_get_path(""), None);
        assert_eq!(decode_get_path(&"A".repeat(MAX_GET_PATH + 4)), None);
    }
}
