//! The JSON objects of RFC 8555 §7.1 as this server renders them, and the states derived at
//! read time (an order is ready when all its authorizations are valid; past `expires`, an
//! authorization is expired and an unfinished order invalid), as Boulder does.
use serde_json::{json, Value};
use time::OffsetDateTime;
use vcc_pki_store::{
    format_time, AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeOrderRecord,
};

pub(crate) fn account_url(base: &str, id: &str) -> String {
    format!("{base}/acme/account/{id}")
}
pub(crate) fn order_url(base: &str, id: &str) -> String {
    format!("{base}/acme/order/{id}")
}
pub(crate) fn authorization_url(base: &str, id: &str) -> String {
    format!("{base}/acme/authz/{id}")
}
pub(crate) fn challenge_url(base: &str, id: &str) -> String {
    format!("{base}/acme/chall/{id}")
}
pub(crate) fn certificate_url(base: &str, serial: &str) -> String {
    format!("{base}/acme/cert/{serial}")
}

pub(crate) fn account_json(base: &str, account: &AcmeAccountRecord) -> Value {
    json!({
        "status": account.status,
        "contact": account.contact,
        "orders": format!("{}/orders", account_url(base, &account.id)),
        "createdAt": format_time(account.created_at),
    })
}

/// An authorization's state as a client sees it now.
pub(crate) fn authorization_status(a: &AcmeAuthorizationRecord, now: OffsetDateTime) -> &str {
    match a.status.as_str() {
        "pending" | "valid" if a.expires_at <= now => "expired",
        other => other,
    }
}

pub(crate) fn challenge_json(base: &str, c: &AcmeChallengeRecord) -> Value {
    let mut out = json!({
        "type": c.challenge_type,
        "url": challenge_url(base, &c.id),
        "status": c.status,
        "token": c.token,
    });
    if let Some(at) = c.validated_at {
        out["validated"] = json!(format_time(at));
    }
    if let Some(error) = c
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        out["error"] = error;
    }
    out
}

pub(crate) fn authorization_json(
    base: &str,
    a: &AcmeAuthorizationRecord,
    now: OffsetDateTime,
) -> Value {
    let status = authorization_status(a, now);
    // A valid authorization lists the challenge that validated it only (RFC 8555 §7.1.4).
    let challenges: Vec<Value> = a
        .challenges
        .iter()
        .filter(|c| status != "valid" || c.status == "valid")
        .map(|c| challenge_json(base, c))
        .collect();
    let mut out = json!({
        "identifier": { "type": a.identifier.kind, "value": a.identifier.value },
        "status": status,
        "expires": format_time(a.expires_at),
        "challenges": challenges,
    });
    if a.wildcard {
        out["wildcard"] = json!(true);
    }
    out
}

/// An order's state as a client sees it now.
pub(crate) fn order_status(
    order: &AcmeOrderRecord,
    authorizations: &[AcmeAuthorizationRecord],
    now: OffsetDateTime,
) -> &'static str {
    match order.status.as_str() {
        "valid" => "valid",
        "invalid" => "invalid",
        "processing" => "processing",
        _ if order.expires_at <= now => "invalid",
        _ => {
            let states: Vec<&str> = authorizations
                .iter()
                .map(|a| authorization_status(a, now))
                .collect();
            if states.len() != order.authorization_ids.len()
                || states.iter().any(|s| !matches!(*s, "pending" | "valid"))
            {
                "invalid"
            } else if states.iter().all(|s| *s == "valid") {
                "ready"
            } else {
                "pending"
            }
        }
    }
}

pub(crate) fn order_json(
    base: &str,
    order: &AcmeOrderRecord,
    authorizations: &[AcmeAuthorizationRecord],
    now: OffsetDateTime,
) -> Value {
    let mut out = json!({
        "status": order_status(order, authorizations, now),
        "expires": format_time(order.expires_at),
        "identifiers": order.identifiers,
        "authorizations": order
            .authorization_ids
            .iter()
            .map(|id| authorization_url(base, id))
            .collect::<Vec<_>>(),
        "finalize": format!("{}/finalize", order_url(base, &order.id)),
        "profile": order.profile,
    });
    if let Some(t) = order.not_before {
        out["notBefore"] = json!(format_time(t));
    }
    if let Some(t) = order.not_after {
        out["notAfter"] = json!(format_time(t));
    }
    if let Some(serial) = &order.certificate_serial {
        out["certificate"] = json!(certificate_url(base, serial));
    }
    if let Some(error) = order
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
    {
        out["error"] = error;
    }
    if let Some(replaces) = &order.replaces {
        out["replaces"] = json!(replaces);
    }
    out
}
