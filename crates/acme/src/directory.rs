//! `GET /acme/directory` and `newNonce` (RFC 8555 §7.1.1, §7.2). The directory lists only
//! endpoints that are built.
use crate::problem::AcmeProblem;
use crate::request::base_url;
use crate::Acme;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct Directory;

impl Directory {
    pub fn render(base: &str, acme: &Acme) -> Value {
        let url = |path: &str| format!("{base}/acme/{path}");
        let profiles: serde_json::Map<String, Value> = acme
            .profiles
            .iter()
            .map(|p| (p.name.clone(), Value::String(p.description.clone())))
            .collect();
        let mut meta = json!({
            "externalAccountRequired": acme.config.eab_required,
            "caaIdentities": acme.config.caa_identities,
            "profiles": profiles,
        });
        if let Some(website) = &acme.config.website {
            meta["website"] = json!(website);
        }
        if let Some(terms) = &acme.config.terms_of_service {
            meta["termsOfService"] = json!(terms);
        }
        json!({
            "newNonce": url("new-nonce"),
            "newAccount": url("new-account"),
            "newOrder": url("new-order"),
            "revokeCert": url("revoke-cert"),
            "renewalInfo": url("renewal-info"),
            "keyChange": url("key-change"),
            "meta": meta,
        })
    }
}

pub(crate) async fn directory(
    State(acme): State<Arc<Acme>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, AcmeProblem> {
    let base = base_url(&headers, &uri)?;
    Ok(crate::json_response(
        StatusCode::OK,
        None,
        &Directory::render(&base, &acme),
    ))
}

pub(crate) async fn new_nonce_head() -> Response {
    StatusCode::OK.into_response()
}

pub(crate) async fn new_nonce_get() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
