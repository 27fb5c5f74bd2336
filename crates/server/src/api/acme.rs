//! Admin endpoints for the ACME front end (SPEC §9). The protocol itself is crate vcc-pki-acme,
//! merged under /acme/.
use crate::auth::RequestContext;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::State;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::Json;
use vcc_pki_proto::{
    AcmeAccountInfo, AcmeAccountList, AcmeListQuery, AcmeOrderInfo, AcmeOrderList,
    EabKeyCreateRequest, EabKeyCreated, EabKeyInfo, EabKeyList, Problem, RenewalWindowMoveRequest,
    RenewalWindowMoveResponse,
};
use vcc_pki_store::RenewalSelection;

#[utoipa::path(post, path = "/api/acme/renewal-windows/move", tag = "acme",
    request_body = RenewalWindowMoveRequest,
    responses(
        (status = 200, description = "The windows moved; ARI clients renew at their next check", body = RenewalWindowMoveResponse),
        (status = "4XX", description = "Refused or malformed; nothing moved", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn move_renewal_windows(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<RenewalWindowMoveRequest>, JsonRejection>,
) -> ApiResult<Json<RenewalWindowMoveResponse>> {
    ctx.require_admin(&state.store, "acme.renewal.move", None)
        .await?;
    let Json(req) = body?;
    let chosen = usize::from(!req.serial_numbers.is_empty())
        + usize::from(req.service_id.is_some())
        + usize::from(req.issued_before.is_some())
        + usize::from(req.all);
    if chosen != 1 {
        return Err(ApiError::bad_request(
            "name exactly one of serial_numbers, service_id, issued_before, all",
        ));
    }
    let selection = if let Some(service) = req.service_id {
        RenewalSelection::Service(service)
    } else if let Some(before) = req.issued_before {
        let at =
            time::OffsetDateTime::parse(&before, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::bad_request("issued_before must be an RFC 3339 time"))?;
        RenewalSelection::IssuedBefore(at)
    } else if req.all {
        RenewalSelection::All
    } else {
        let serials = req
            .serial_numbers
            .iter()
            .map(|s| {
                vcc_pki_core::Serial::from_hex(s)
                    .ok_or_else(|| ApiError::bad_request(format!("serial '{s}' is not hex")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        RenewalSelection::Serials(serials)
    };
    let moved = state
        .authority
        .move_renewal_windows(&ctx, selection, req.explanation_url)
        .await?;
    Ok(Json(RenewalWindowMoveResponse { moved }))
}

fn eab_info(record: &vcc_pki_store::EabKeyRecord) -> EabKeyInfo {
    let time = |t: Option<time::OffsetDateTime>| t.map(vcc_pki_store::format_time);
    EabKeyInfo {
        kid: record.kid.clone(),
        allowed_dns: record.allowed_dns.clone(),
        allowed_ip: record.allowed_ip.clone(),
        profiles: record.profiles.clone(),
        reusable: record.reusable,
        expires_at: time(record.expires_at),
        created_at: vcc_pki_store::format_time(record.created_at),
        revoked_at: time(record.revoked_at),
        used_at: time(record.used_at),
    }
}

#[utoipa::path(post, path = "/api/acme/eab", tag = "acme",
    request_body = EabKeyCreateRequest,
    responses(
        (status = 201, description = "Created; the HMAC key is shown only now", body = EabKeyCreated),
        (status = "4XX", description = "Refused or malformed; nothing created", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create_eab_key(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<EabKeyCreateRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<EabKeyCreated>)> {
    ctx.require_admin(&state.store, "acme.eab.create", None)
        .await?;
    let Json(req) = body?;
    if let Some(unknown) = req
        .profiles
        .iter()
        .find(|p| state.acme.profile(p).is_none())
    {
        return Err(ApiError::bad_request(format!(
            "profile '{unknown}' is not an ACME profile of this server"
        )));
    }
    let expires_in = match req.expires_in_seconds {
        Some(s) if s <= 0 => {
            return Err(ApiError::bad_request("expires_in_seconds must be positive"))
        }
        Some(s) => Some(time::Duration::seconds(s)),
        None => None,
    };
    let created = state
        .authority
        .create_eab_key(
            &ctx,
            vcc_pki_authority::EabKeyRequest {
                allowed_dns: req.allowed_dns,
                allowed_ip: req.allowed_ip,
                profiles: req.profiles,
                reusable: req.reusable,
                expires_in,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EabKeyCreated {
            kid: created.kid,
            hmac_key: created.hmac_key,
            key: eab_info(&created.record),
        }),
    ))
}

#[utoipa::path(get, path = "/api/acme/eab", tag = "acme",
    responses(
        (status = 200, description = "Every key, without its HMAC key", body = EabKeyList),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_eab_keys(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<EabKeyList>> {
    let keys = state.authority.eab_keys(&ctx).await?;
    Ok(Json(EabKeyList {
        keys: keys.iter().map(eab_info).collect(),
    }))
}

#[utoipa::path(post, path = "/api/acme/eab/{kid}/revoke", tag = "acme",
    params(("kid" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "Revoked: no new account can use it", body = EabKeyList),
        (status = "4XX", description = "Refused or unknown", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke_eab_key(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(kid): Path<String>,
) -> ApiResult<Json<EabKeyList>> {
    state.authority.revoke_eab_key(&ctx, &kid).await?;
    let keys = state
        .store
        .eab_key(&kid)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(EabKeyList {
        keys: keys.iter().map(eab_info).collect(),
    }))
}

fn limit_of(query: &AcmeListQuery) -> ApiResult<i64> {
    match query.limit {
        None => Ok(100),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("limit must be between 1 and 1000")),
    }
}

#[utoipa::path(get, path = "/api/acme/accounts", tag = "acme",
    params(AcmeListQuery),
    responses(
        (status = 200, description = "ACME accounts, newest first", body = AcmeAccountList),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_accounts(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<AcmeListQuery>, QueryRejection>,
) -> ApiResult<Json<AcmeAccountList>> {
    ctx.require_reader(&state.store, "acme.account.list", None)
        .await?;
    let Query(query) = query?;
    let accounts = state
        .authority
        .acme_accounts(&ctx, limit_of(&query)?)
        .await?;
    Ok(Json(AcmeAccountList {
        accounts: accounts
            .into_iter()
            .map(|a| AcmeAccountInfo {
                id: a.id,
                status: a.status,
                contact: a.contact,
                key_thumbprint: a.key_thumbprint,
                eab_kid: a.eab_kid,
                created_from: a.created_from,
                created_at: vcc_pki_store::format_time(a.created_at),
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/acme/orders", tag = "acme",
    params(AcmeListQuery),
    responses(
        (status = 200, description = "ACME orders, newest first", body = AcmeOrderList),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list_orders(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<AcmeListQuery>, QueryRejection>,
) -> ApiResult<Json<AcmeOrderList>> {
    ctx.require_reader(&state.store, "acme.order.list", None)
        .await?;
    let Query(query) = query?;
    let limit = limit_of(&query)?;
    let orders = state
        .authority
        .acme_orders(&ctx, query.account_id.as_deref(), limit)
        .await?;
    Ok(Json(AcmeOrderList {
        orders: orders
            .into_iter()
            .map(|o| AcmeOrderInfo {
                id: o.id,
                account_id: o.account_id,
                status: o.status,
                identifiers: o
                    .identifiers
                    .iter()
                    .map(|i| format!("{}:{}", i.kind, i.value))
                    .collect(),
                profile: o.profile,
                certificate_serial: o.certificate_serial,
                replaces: o.replaces,
                created_at: vcc_pki_store::format_time(o.created_at),
                expires_at: vcc_pki_store::format_time(o.expires_at),
            })
            .collect(),
    }))
}
