//! Orders, authorizations, challenges, finalize and certificate download (RFC 8555 §7.4–§7.5).
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::request::{AcmeRequest, KeyRef};
use crate::resources::{authorization_json, challenge_json, order_json, order_status, order_url};
use crate::{json_response, new_id, Acme};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use vcc_pki_authority::policy::Names;
use vcc_pki_authority::{acme_service_id, OrderIssueRequest};
use vcc_pki_core::names::{normalize_san_dns_name, parse_ip, wildcard_base};
use vcc_pki_core::profile::Validity;
use vcc_pki_core::Serial;
use vcc_pki_store::{
    AcmeIdentifier, AcmeOrderRecord, AuthorizationLink, ChallengeOutcome, NewAcmeAuthorization,
    NewAcmeOrder,
};

/// How long finalize waits for the issuance before answering `processing` with `Retry-After`.
const FINALIZE_WAIT: Duration = Duration::from_secs(5);
/// How long a challenge POST waits for its validation before answering `processing`.
const VALIDATION_WAIT: Duration = Duration::from_secs(2);
/// `Retry-After` while an order or challenge is being worked on, seconds.
const RETRY_AFTER_SECS: u64 = 1;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrder {
    identifiers: Vec<AcmeIdentifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    /// RFC 9773 §5: the certID of the certificate this order replaces.
    #[serde(default)]
    replaces: Option<String>,
}

fn with_retry_after(mut response: Response) -> Response {
    if let Ok(v) = HeaderValue::from_str(&RETRY_AFTER_SECS.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The order's identifiers, validated and normalised (DNS names lower-case, IPs canonical);
/// a wildcard `*.name` only where the server issues them (`--acme-allow-wildcards`).
fn normalise(
    identifiers: &[AcmeIdentifier],
    allow_wildcards: bool,
) -> Result<Vec<AcmeIdentifier>, AcmeProblem> {
    if identifiers.is_empty() {
        return Err(AcmeProblem::malformed(
            "an order needs at least one identifier",
        ));
    }
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    // Every bad identifier is named, each in its own subproblem (RFC 8555 §6.7.1).
    let mut rejected = Vec::new();
    for id in identifiers {
        match id.kind.as_str() {
            "dns" => {
                if wildcard_base(&id.value).is_some() && !allow_wildcards {
                    rejected.push((
                        id.clone(),
                        format!(
                            "{}: this CA does not issue wildcard certificates (--acme-allow-wildcards)",
                            id.value
                        ),
                    ));
                } else if let Err(e) = normalize_san_dns_name(&id.value) {
                    rejected.push((id.clone(), e.to_string()));
                }
                dns.push(id.value.clone())
            }
            "ip" => {
                if let Err(e) = parse_ip(&id.value) {
                    rejected.push((id.clone(), e.to_string()));
                }
                ips.push(id.value.clone())
            }
            other => {
                return Err(AcmeProblem::new(
                    AcmeErrorType::UnsupportedIdentifier,
                    format!("identifier type '{other}' is not supported (dns, ip)"),
                ))
            }
        }
    }
    if !rejected.is_empty() {
        return Err(AcmeProblem::for_identifiers(
            AcmeErrorType::RejectedIdentifier,
            "this CA cannot issue for these identifiers",
            rejected,
        ));
    }
    let names = Names::from_identifiers(&dns, &ips)?;
    Ok(names
        .dns
        .iter()
        .map(|d| AcmeIdentifier {
            kind: "dns".into(),
            value: d.clone(),
        })
        .chain(names.ips.iter().map(|ip| AcmeIdentifier {
            kind: "ip".into(),
            value: ip.to_string(),
        }))
        .collect())
}

/// The identifier an authorization proves control of for an order's identifier: a wildcard's
/// base name (RFC 8555 §7.1.3: the authorization says `wildcard: true`), else the identifier.
pub(crate) fn authorization_identifier(identifier: &AcmeIdentifier) -> (AcmeIdentifier, bool) {
    match wildcard_base(&identifier.value).filter(|_| identifier.kind == "dns") {
        Some(base) => (
            AcmeIdentifier {
                kind: "dns".into(),
                value: base.to_string(),
            },
            true,
        ),
        None => (identifier.clone(), false),
    }
}

/// The certificate window an order's notBefore/notAfter ask for, issued at `now` under
/// `profile`; None when the order names neither (the profile's validity from now).
fn chosen_window(
    now: OffsetDateTime,
    not_before: Option<OffsetDateTime>,
    not_after: Option<OffsetDateTime>,
    profile: &crate::AcmeProfile,
    order_expires: OffsetDateTime,
) -> Result<Option<Validity>, AcmeProblem> {
    if not_before.is_none() && not_after.is_none() {
        return Ok(None);
    }
    Validity::requested_leaf(
        now,
        not_before,
        not_after,
        profile.validity_days,
        order_expires,
    )
    .map(Some)
    .map_err(|why| AcmeProblem::malformed(format!("profile '{}': {why}", profile.name)))
}

pub(crate) async fn new_order(
    State(acme): State<Arc<Acme>>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?.clone();
    let body: NewOrder = signed.json()?;
    let profile = body
        .profile
        .unwrap_or_else(|| crate::DEFAULT_PROFILE.into());
    let Some(offered) = acme.profile(&profile) else {
        return Err(AcmeProblem::new(
            AcmeErrorType::InvalidProfile,
            format!("profile '{profile}' is not offered (see the directory's meta.profiles)"),
        ));
    };
    let identifiers = normalise(&body.identifiers, acme.config.allow_wildcards)?;
    if let Some(why) = offered.refuses(&identifiers) {
        return Err(AcmeProblem::new(AcmeErrorType::RejectedIdentifier, why));
    }
    let now = acme.authority.now();
    let expires_at = now + acme.config.order_lifetime;
    // RFC 8555 §7.4: the client may choose the window, within the profile's validity; checked
    // now and again at finalize (it is stored as asked).
    let parse = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| {
                OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
                    AcmeProblem::malformed(format!("{field} '{t}' is not an RFC 3339 time"))
                })
            })
            .transpose()
    };
    let not_before = parse("notBefore", &body.not_before)?;
    let not_after = parse("notAfter", &body.not_after)?;
    chosen_window(now, not_before, not_after, offered, expires_at)?;
    crate::limits::check_identifiers(&acme, &identifiers)?;
    if body.replaces.is_none() {
        crate::limits::check_new_order(&acme, &account.id).await?;
    }
    if let Some(kid) = &account.eab_kid {
        let key = acme
            .store
            .eab_key(kid)
            .await?
            .ok_or_else(AcmeProblem::internal)?;
        crate::eab::check_order(&key, &identifiers, &profile)?;
    }
    let replaces = match &body.replaces {
        Some(cert_id) => Some(
            crate::renewal_info::check_replaces(&acme, &account.id, cert_id, &identifiers).await?,
        ),
        None => None,
    };
    let mut links = Vec::with_capacity(identifiers.len());
    for identifier in &identifiers {
        let (identifier, wildcard) = authorization_identifier(identifier);
        // Reuse a valid authorization that outlives the new order (RFC 8555 §7.1.3).
        match acme
            .store
            .acme_reusable_authorization(&account.id, &identifier, wildcard, expires_at)
            .await?
        {
            Some(id) => links.push(AuthorizationLink::Reuse(id)),
            None => links.push(AuthorizationLink::New(NewAcmeAuthorization {
                id: new_id(),
                challenges: crate::validate::challenge_types(&identifier, wildcard)
                    .iter()
                    .map(|kind| (new_id(), kind.to_string(), new_id()))
                    .collect(),
                identifier,
                wildcard,
                expires_at,
            })),
        }
    }
    let order = NewAcmeOrder {
        id: new_id(),
        account_id: account.id.clone(),
        identifiers: identifiers.clone(),
        profile,
        not_before,
        not_after,
        expires_at,
        replaces,
    };
    let audit = signed
        .audit(&account.id, "acme.order.create", "acme_order")
        .target(order.id.clone())
        .details(json!({ "identifiers": identifiers, "profile": order.profile, "replaces": order.replaces }));
    match acme.store.insert_acme_order(&order, &links, &audit).await {
        Ok(()) => crate::telemetry::order("pending"),
        Err(vcc_pki_store::StoreError::Conflict(detail)) => {
            return Err(AcmeProblem::new(AcmeErrorType::AlreadyReplaced, detail))
        }
        Err(e) => return Err(e.into()),
    }
    let (stored, authorizations) = load_order(&acme, &order.id, &account.id).await?;
    let url = order_url(&signed.base, &order.id);
    // No Retry-After here: the client has challenges to answer first (clients that honour it
    // would wait for nothing). Polls of a pending order carry one.
    let body = order_json(&signed.base, &stored, &authorizations, now);
    Ok(json_response(StatusCode::CREATED, Some(&url), &body))
}

/// An order of `account_id` with its authorizations; another account's is "not found".
async fn load_order(
    acme: &Acme,
    id: &str,
    account_id: &str,
) -> Result<(AcmeOrderRecord, Vec<vcc_pki_store::AcmeAuthorizationRecord>), AcmeProblem> {
    let order = acme
        .store
        .acme_order(id)
        .await?
        .filter(|o| o.account_id == account_id)
        .ok_or_else(|| AcmeProblem::not_found("order"))?;
    let authorizations = acme.store.acme_order_authorizations(&order).await?;
    Ok((order, authorizations))
}

fn order_response(
    signed_base: &str,
    order: &AcmeOrderRecord,
    authz: &[vcc_pki_store::AcmeAuthorizationRecord],
    now: time::OffsetDateTime,
) -> Response {
    let body = order_json(signed_base, order, authz, now);
    let busy = matches!(body["status"].as_str(), Some("processing" | "pending"));
    let response = json_response(
        StatusCode::OK,
        Some(&order_url(signed_base, &order.id)),
        &body,
    );
    if busy {
        with_retry_after(response)
    } else {
        response
    }
}

pub(crate) async fn order(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let (order, authz) = load_order(&acme, &id, &signed.account()?.id).await?;
    Ok(order_response(
        &signed.base,
        &order,
        &authz,
        acme.authority.now(),
    ))
}

/// Plain GET of an order (as Boulder answers it): order ids are unguessable.
pub(crate) async fn order_get(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, AcmeProblem> {
    let base = crate::request::base_url(&headers, &uri)?;
    let order = acme
        .store
        .acme_order(&id)
        .await?
        .ok_or_else(|| AcmeProblem::not_found("order"))?;
    let authz = acme.store.acme_order_authorizations(&order).await?;
    Ok(order_response(&base, &order, &authz, acme.authority.now()))
}

#[derive(Deserialize)]
struct Finalize {
    csr: String,
}

pub(crate) async fn finalize(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?.clone();
    let body: Finalize = signed.json()?;
    let csr_der = B64
        .decode(body.csr.trim_end_matches('=').as_bytes())
        .map_err(|_| AcmeProblem::new(AcmeErrorType::BadCsr, "csr is not base64url DER"))?;
    let (order, authz) = load_order(&acme, &id, &account.id).await?;
    let profile = acme.profile(&order.profile).cloned().ok_or_else(|| {
        AcmeProblem::new(
            AcmeErrorType::InvalidProfile,
            format!("profile '{}' is no longer offered", order.profile),
        )
    })?;
    let now = acme.authority.now();
    let status = order_status(&order, &authz, now);
    if status != "ready" {
        return Err(AcmeProblem::new(
            AcmeErrorType::OrderNotReady,
            format!("the order is {status}, not ready"),
        ));
    }
    let request = OrderIssueRequest {
        account_id: account.id.clone(),
        order_id: order.id.clone(),
        dns_names: order
            .identifiers
            .iter()
            .filter(|i| i.kind == "dns")
            .map(|i| i.value.clone())
            .collect(),
        ip_addresses: order
            .identifiers
            .iter()
            .filter(|i| i.kind == "ip")
            .filter_map(|i| i.value.parse::<IpAddr>().ok())
            .collect(),
        csr_der,
        profile: profile.certificate,
        common_name: profile.common_name,
        validity_days: profile.validity_days,
        window: chosen_window(
            now,
            order.not_before,
            order.not_after,
            &profile,
            order.expires_at,
        )?,
    };
    // A CSR that does not suit the order is refused here and leaves the order ready.
    vcc_pki_authority::Authority::check_order_csr(&request)?;
    let audit = signed
        .audit(&account.id, "acme.order.finalize", "acme_order")
        .target(order.id.clone());
    if !acme.store.begin_acme_finalize(&order.id, &audit).await? {
        return Err(AcmeProblem::new(
            AcmeErrorType::OrderNotReady,
            "the order is being finalized or no longer ready",
        ));
    }
    crate::telemetry::order("processing");
    let requester = signed.requester(&account.id);
    let worker = acme.clone();
    let order_id = order.id.clone();
    // Issuance runs on its own task: a client that disconnects does not cancel it, and a slow
    // one is answered `processing` and polls.
    let task = tokio::spawn(async move {
        let result = worker.authority.issue_for_order(&requester, request).await;
        crate::telemetry::order(if result.is_ok() { "valid" } else { "invalid" });
        if let Err(e) = &result {
            let problem = AcmeProblem::from(e.clone());
            let audit = requester
                .audit("acme.order.fail", "acme_order")
                .target(order_id.clone())
                .outcome(vcc_pki_store::AuditOutcome::Failure)
                .details(json!({ "error": problem.detail }));
            if let Err(e) = worker
                .store
                .fail_acme_order(&order_id, &problem.to_json(), &audit)
                .await
            {
                tracing::error!(error = %e, order = %order_id, "could not mark an ACME order invalid");
            }
        }
        result.map(|_| ())
    });
    let outcome = tokio::time::timeout(FINALIZE_WAIT, task).await;
    if let Ok(Ok(Err(e))) = outcome {
        // RFC 8555 §7.4: a CSR that cannot be issued is an error of the finalize request.
        return Err(e.into());
    }
    let (order, authz) = load_order(&acme, &id, &account.id).await?;
    Ok(order_response(
        &signed.base,
        &order,
        &authz,
        acme.authority.now(),
    ))
}

#[derive(Deserialize)]
struct StatusUpdate {
    status: Option<String>,
}

/// An authorization: POST-as-GET, or deactivation (RFC 8555 §7.5.2).
pub(crate) async fn authorization(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?.clone();
    let found = acme
        .store
        .acme_authorization(&id)
        .await?
        .filter(|a| a.account_id == account.id)
        .ok_or_else(|| AcmeProblem::not_found("authorization"))?;
    if !signed.is_post_as_get() {
        let update: StatusUpdate = signed.json()?;
        if update.status.as_deref() != Some("deactivated") {
            return Err(AcmeProblem::malformed(
                "an authorization can only be deactivated ({\"status\": \"deactivated\"})",
            ));
        }
        let audit = signed
            .audit(
                &account.id,
                "acme.authorization.deactivate",
                "acme_authorization",
            )
            .target(id.clone());
        if !acme
            .store
            .deactivate_acme_authorization(&id, &audit)
            .await?
        {
            return Err(AcmeProblem::malformed(format!(
                "the authorization is {}; only a pending or valid one can be deactivated",
                found.status
            )));
        }
    }
    let current = acme
        .store
        .acme_authorization(&id)
        .await?
        .ok_or_else(AcmeProblem::internal)?;
    let body = authorization_json(&signed.base, &current, acme.authority.now());
    let response = json_response(StatusCode::OK, None, &body);
    Ok(if body["status"] == "pending" {
        with_retry_after(response)
    } else {
        response
    })
}

/// A challenge: POST `{}` asks for validation; POST-as-GET reads it.
pub(crate) async fn challenge(
    State(acme): State<Arc<Acme>>,
    Path(id): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?.clone();
    let challenge = acme
        .store
        .acme_challenge(&id)
        .await?
        .ok_or_else(|| AcmeProblem::not_found("challenge"))?;
    let authz = acme
        .store
        .acme_authorization(&challenge.authorization_id)
        .await?
        .filter(|a| a.account_id == account.id)
        .ok_or_else(|| AcmeProblem::not_found("challenge"))?;
    let up = |uri: &str| format!("<{uri}>;rel=\"up\"");
    if !signed.is_post_as_get() {
        if authz.expires_at <= acme.authority.now() {
            return Err(AcmeProblem::malformed(
                "the authorization has expired; make a new order",
            ));
        }
        crate::limits::check_validation(&acme, &account.id).await?;
        let audit = signed
            .audit(&account.id, "acme.challenge.start", "acme_challenge")
            .target(id.clone())
            .details(json!({ "type": challenge.challenge_type, "identifier": authz.identifier }));
        if acme.store.start_acme_challenge(&id, &audit).await? {
            let validation = spawn_validation(
                acme.clone(),
                signed.requester(&account.id),
                account.jwk.clone(),
                authz.clone(),
                challenge.clone(),
            );
            // Most validations take milliseconds: answer with their outcome rather than make the
            // client wait out a Retry-After; a slow one goes on and is answered `processing`.
            let _ = tokio::time::timeout(VALIDATION_WAIT, validation).await;
        }
    }
    let current = acme
        .store
        .acme_challenge(&id)
        .await?
        .ok_or_else(AcmeProblem::internal)?;
    let mut response = json_response(
        StatusCode::OK,
        None,
        &challenge_json(&signed.base, &current),
    );
    if let Ok(link) = HeaderValue::from_str(&up(&crate::resources::authorization_url(
        &signed.base,
        &authz.id,
    ))) {
        response.headers_mut().append(header::LINK, link);
    }
    Ok(if current.status == "processing" {
        with_retry_after(response)
    } else {
        response
    })
}

/// Validate a challenge that is `processing` on its own task and store the outcome (the
/// challenge and its authorization together), audited as `requester`.
pub(crate) fn spawn_validation(
    acme: Arc<Acme>,
    requester: vcc_pki_authority::Requester,
    account_jwk: String,
    authz: vcc_pki_store::AcmeAuthorizationRecord,
    challenge: vcc_pki_store::AcmeChallengeRecord,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let key_authorization = match serde_json::from_str(&account_jwk)
            .map_err(|_| AcmeProblem::internal())
            .and_then(|jwk| crate::jws::thumbprint(&jwk))
        {
            Ok(thumbprint) => format!("{}.{thumbprint}", challenge.token),
            Err(_) => return,
        };
        let started = std::time::Instant::now();
        let result = acme
            .validator
            .validate(
                &challenge.challenge_type,
                &authz.identifier,
                &challenge.token,
                &key_authorization,
            )
            .await;
        crate::telemetry::validation(&challenge.challenge_type, result.is_ok(), started.elapsed());
        let outcome = match &result {
            Ok(()) => ChallengeOutcome::Valid {
                until: acme.authority.now() + acme.config.authorization_reuse,
            },
            Err(problem) => ChallengeOutcome::Invalid(problem.to_json()),
        };
        let mut audit = requester
            .audit("acme.challenge.validate", "acme_challenge")
            .target(challenge.id.clone())
            .details(json!({
                "type": challenge.challenge_type,
                "identifier": authz.identifier,
                "error": result.as_ref().err().map(|p| p.detail.clone()),
            }));
        if result.is_err() {
            audit = audit.outcome(vcc_pki_store::AuditOutcome::Failure);
        }
        if let Err(e) = acme
            .store
            .finish_acme_challenge(&challenge, &outcome, &audit)
            .await
        {
            tracing::error!(error = %e, challenge = %challenge.id, "could not store a validation result");
        }
    })
}

/// The certificate chain of an account's order (POST-as-GET).
pub(crate) async fn certificate(
    State(acme): State<Arc<Acme>>,
    Path(serial): Path<String>,
    request: AcmeRequest,
) -> Result<Response, AcmeProblem> {
    let signed = request.verify(&acme, KeyRef::Kid).await?;
    let account = signed.account()?;
    chain_response(&acme, &serial, Some(&acme_service_id(&account.id))).await
}

/// Plain GET of a certificate (certificates are public; Boulder answers it too).
pub(crate) async fn certificate_get(
    State(acme): State<Arc<Acme>>,
    Path(serial): Path<String>,
) -> Result<Response, AcmeProblem> {
    chain_response(&acme, &serial, None).await
}

async fn chain_response(
    acme: &Acme,
    serial: &str,
    owner: Option<&str>,
) -> Result<Response, AcmeProblem> {
    let serial = Serial::from_hex(serial).ok_or_else(|| AcmeProblem::not_found("certificate"))?;
    let record = acme
        .store
        .certificate_by_serial(&serial)
        .await?
        .filter(|c| vcc_pki_authority::is_acme_service_id(&c.service_id))
        .filter(|c| owner.is_none_or(|o| c.service_id == o))
        .ok_or_else(|| AcmeProblem::not_found("certificate"))?;
    let pem = format!(
        "{}{}",
        vcc_pki_core::certificate_pem(&record.certificate_der),
        acme.authority.intermediate_pem().unwrap_or_default()
    );
    let mut response = (StatusCode::OK, pem).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    Ok(response)
}
