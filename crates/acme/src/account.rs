//! Accounts (RFC 8555 §7.3): newAccount, update and deactivation, the orders list.
use crate::jws::thumbprint;
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::request::{AcmeRequest, KeyRef, Signer};
use crate::resources::{account_json, account_url, order_url};
use crate::{json_response, new_id, Acme};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use vcc_pki_store::{AcmeAccountRecord, StoreError};

/// Most contacts an account may list.
const MAX_CONTACTS: usize = 10;
/// Orders per page of an account's orders list.
const ORDERS_PAGE: i64 = 100;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewAccount {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    only_return_existing: bool,
    #[serde(default)]
    external_account_binding: Option<serde_json::Value>,
}

/// `mailto:` contacts only, one address each (RFC 8555 §7.3; Boulder's rules).
fn check_contacts(contacts: &[String]) -> Result<(), AcmeProblem> {
    if contacts.len() > MAX_CONTACTS {
        return Err(AcmeProblem::new(
            AcmeErrorType::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts"),
        ));
    }
    for contact in contacts {
        let Some(address) = contact.strip_prefix("mailto:") else {
            return Err(AcmeProblem::new(
                AcmeErrorType::UnsupportedContact,
                format!("contact '{contact}': only mailto: URLs are supported"),
            ));
        };
        let valid = address.len() <= 254
            && !address.contains(',')
            && !address.contains('?')
            && address.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            })
            && address.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(AcmeProblem::new(
                AcmeErrorType::InvalidContact,
                format!("contact '{contact}' is not one e-mail address"),
            ));
        }
    }
    Ok(())
}

pub(crate) async fn new_account(
    State(acme): State<Arc<Acme>>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let url = request.url.clone();
    let signed = request.verify(&acme, KeyRef::Jwk).await?;
    let Signer::Key { jwk, thumbprint } = &signed.signer else {
        return Err(AcmeProblem::internal());
    };
    let body: NewAccount = signed.json()?;
    if let Some(existing) = acme.store.acme_account_by_thumbprint(thumbprint).await? {
        if existing.status != "valid" {
            return Err(AcmeProblem::unauthorized(format!(
                "the account of this key is {}",
                existing.status
            )));
        }
        // RFC 8555 §7.3.1: the existing account, 200, with its URL.
        let url = account_url(&signed.base, &existing.id);
        return Ok(json_response(
            StatusCode::OK,
            Some(&url),
            &account_json(&signed.base, &existing),
        ));
    }
    if body.only_return_existing {
        return Err(AcmeProblem::new(
            AcmeErrorType::AccountDoesNotExist,
            "no account exists for this key",
        ));
    }
    crate::limits::check_new_account(&acme, signed.source_ip.as_deref()).await?;
    let eab_kid = match &body.external_account_binding {
        Some(binding) => Some(
            crate::eab::verify_binding(&acme, binding, jwk, &url)
                .await?
                .kid,
        ),
        None if acme.config.eab_required => {
            return Err(AcmeProblem::new(
                AcmeErrorType::ExternalAccountRequired,
                "this server needs an externalAccountBinding: ask its admin for a key \
                 (vcc-pki acme eab create)",
            ))
        }
        None => None,
    };
    // As Boulder and Pebble: with terms configured, a new account must agree to them.
    if acme.config.terms_of_service.is_some() && body.terms_of_service_agreed != Some(true) {
        return Err(AcmeProblem::malformed(
            "this server has terms of service (the directory's meta.termsOfService): \
             newAccount must say termsOfServiceAgreed: true",
        ));
    }
    let contact = body.contact.unwrap_or_default();
    check_contacts(&contact)?;
    let account = AcmeAccountRecord {
        id: new_id(),
        key_thumbprint: thumbprint.clone(),
        jwk: jwk.to_string(),
        contact,
        status: "valid".into(),
        eab_kid,
        created_from: signed.source_ip.clone(),
        created_at: acme.authority.now(),
    };
    let audit = signed
        .audit(&account.id, "acme.account.create", "acme_account")
        .target(account.id.clone())
        .details(json!({ "contact": account.contact, "key_thumbprint": account.key_thumbprint }));
    match acme.store.insert_acme_account(&account, &audit).await {
        Ok(()) => {}
        // Two newAccount requests with one key at once: the other one won; answer with it.
        Err(StoreError::Conflict(_)) => {
            if let Some(existing) = acme.store.acme_account_by_thumbprint(thumbprint).await? {
                let url = account_url(&signed.base, &existing.id);
                return Ok(json_response(
                    StatusCode::OK,
                    Some(&url),
                    &account_json(&signed.base, &existing),
                ));
            }
            // The external account key was used by a concurrent newAccount meanwhile.
            return Err(AcmeProblem::unauthorized(
                "the external account key is used, revoked or expired",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let url = account_url(&signed.base, &account.id);
    Ok(json_response(
        StatusCode::CREATED,
        Some(&url),
        &account_json(&signed.base, &account),
    ))
}

#[derive(Deserialize, Default)]
struct AccountUpdate {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

/// POST-as-GET, update of contacts, or deactivation of the account.
pub(crate) async fn account(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?;
    if account.id != id {
        return Err(AcmeProblem::unauthorized(
            "an account can only read and change itself",
        ));
    }
    if signed.is_post_as_get() {
        return Ok(json_response(
            StatusCode::OK,
            None,
            &account_json(&signed.base, account),
        ));
    }
    let update: AccountUpdate = signed.json()?;
    let status = match update.status.as_deref() {
        None => None,
        Some("deactivated") => Some("deactivated"),
        Some(other) => {
            return Err(AcmeProblem::malformed(format!(
                "an account's status can only be set to deactivated, not '{other}'"
            )))
        }
    };
    if let Some(contact) = &update.contact {
        check_contacts(contact)?;
    }
    if status.is_none() && update.contact.is_none() {
        return Ok(json_response(
            StatusCode::OK,
            None,
            &account_json(&signed.base, account),
        ));
    }
    let action = if status.is_some() {
        "acme.account.deactivate"
    } else {
        "acme.account.update"
    };
    let audit = signed
        .audit(&account.id, action, "acme_account")
        .target(account.id.clone())
        .details(json!({ "contact": update.contact, "status": status }));
    if !acme
        .store
        .update_acme_account(&account.id, update.contact.as_deref(), status, &audit)
        .await?
    {
        return Err(AcmeProblem::unauthorized("the account is no longer valid"));
    }
    let updated = acme
        .store
        .acme_account(&account.id)
        .await?
        .ok_or_else(AcmeProblem::internal)?;
    Ok(json_response(
        StatusCode::OK,
        None,
        &account_json(&signed.base, &updated),
    ))
}

/// The account's orders (RFC 8555 §7.1.2.1), a page at a time with `Link rel="next"`.
pub(crate) async fn orders(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?;
    if account.id != id {
        return Err(AcmeProblem::unauthorized(
            "an account lists only its own orders",
        ));
    }
    let after = query.get("after").map(String::as_str);
    let mut ids = acme
        .store
        .acme_order_ids(&account.id, after, ORDERS_PAGE + 1)
        .await?;
    let more = ids.len() as i64 > ORDERS_PAGE;
    ids.truncate(ORDERS_PAGE as usize);
    let urls: Vec<String> = ids.iter().map(|o| order_url(&signed.base, o)).collect();
    let mut response = json_response(StatusCode::OK, None, &json!({ "orders": urls }));
    if let (true, Some(last)) = (more, ids.last()) {
        let next = format!(
            "<{}/orders?after={last}>;rel=\"next\"",
            account_url(&signed.base, &account.id)
        );
        if let Ok(link) = HeaderValue::from_str(&next) {
            response.headers_mut().append(header::LINK, link);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyChange {
    account: String,
    old_key: serde_json::Value,
}

/// keyChange (RFC 8555 §7.3.5): the outer JWS is signed by the account's key (kid), its payload
/// an inner JWS signed by the new key (jwk) naming the account and the old key.
pub(crate) async fn key_change(
    State(acme): State<Arc<Acme>>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let url = request.url.clone();
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?.clone();
    let inner = crate::jws::Jws::parse(&signed.payload)?;
    let new_jwk = inner
        .protected
        .jwk
        .as_ref()
        .map(crate::jws::public_jwk)
        .ok_or_else(|| AcmeProblem::malformed("the inner JWS must carry the new key as jwk"))?;
    if inner.protected.url.as_deref() != Some(url.as_str()) {
        return Err(AcmeProblem::malformed(
            "the inner JWS must have the same url as the outer one",
        ));
    }
    let payload = inner.verify(&new_jwk)?;
    let change: KeyChange = serde_json::from_slice(&payload)
        .map_err(|e| AcmeProblem::malformed(format!("the inner payload: {e}")))?;
    if change.account != account_url(&signed.base, &account.id) {
        return Err(AcmeProblem::unauthorized(
            "the inner payload names another account",
        ));
    }
    let old = thumbprint(&change.old_key)?;
    if old != account.key_thumbprint {
        return Err(AcmeProblem::unauthorized(
            "oldKey is not the account's current key",
        ));
    }
    let new_thumbprint = thumbprint(&new_jwk)?;
    if new_thumbprint == account.key_thumbprint {
        return Err(AcmeProblem::malformed(
            "the new key is the account's current key",
        ));
    }
    let audit = signed
        .audit(&account.id, "acme.account.key_change", "acme_account")
        .target(account.id.clone())
        .details(json!({ "old_key_thumbprint": old, "new_key_thumbprint": new_thumbprint }));
    match acme
        .store
        .change_acme_account_key(&account.id, &new_thumbprint, &new_jwk.to_string(), &audit)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            // RFC 8555 §7.3.5: 409 with the Location of the account that holds the key.
            let holder = acme
                .store
                .acme_account_by_thumbprint(&new_thumbprint)
                .await?;
            let mut response = AcmeProblem::malformed("another account already uses the new key")
                .with_status(StatusCode::CONFLICT)
                .into_response();
            if let Some(location) =
                holder.and_then(|h| HeaderValue::from_str(&account_url(&signed.base, &h.id)).ok())
            {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    }
    let updated = acme
        .store
        .acme_account(&account.id)
        .await?
        .ok_or_else(AcmeProblem::internal)?;
    Ok(json_response(
        StatusCode::OK,
        None,
        &account_json(&signed.base, &updated),
    ))
}
