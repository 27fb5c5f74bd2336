use crate::auth::{new_token, token_hash, Principal, RequestContext, ENROLLMENT_TOKEN_PREFIX};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use vcc_pki_authority::validate_service_id;
use vcc_pki_authority::AuthorityError;
use vcc_pki_core::names::{normalize_dns_name, parse_ip};
use vcc_pki_store::{NewService, ServiceRecord};

/// Body of `POST /api/services/register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    service_id: String,
    service_name: String,
    #[serde(default)]
    endpoints: Vec<String>,
    #[serde(default)]
    allowed_dns: Vec<String>,
    #[serde(default)]
    allowed_ip: Vec<String>,
    description: Option<String>,
    /// Lifetime of the enrollment token, hours (default 24, at most 720).
    enrollment_ttl_hours: Option<u32>,
}

#[derive(Serialize)]
pub struct Registered {
    #[serde(flatten)]
    service: ServiceRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_token: Option<String>,
}

pub async fn register(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<RegisterRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    const ACTION: &str = "service.register";
    if matches!(
        ctx.principal,
        Principal::Anonymous | Principal::Enrollment { .. }
    ) {
        return Err(ctx
            .deny(
                &state.store,
                ACTION,
                None,
                AuthorityError::unauthenticated(
                    "needs an admin token or the service's certificate",
                ),
            )
            .await
            .into());
    }
    let Json(req) = body?;
    validate_service_id(&req.service_id)?;
    let name = req.service_name.trim();
    if name.is_empty() || name.len() > 128 {
        return Err(ApiError::bad_request(
            "service_name must be 1 to 128 characters",
        ));
    }
    if req.endpoints.len() > 50
        || req
            .endpoints
            .iter()
            .any(|e| e.len() > 512 || e.trim().is_empty())
    {
        return Err(ApiError::bad_request(
            "endpoints: at most 50 non-empty URLs of up to 512 characters",
        ));
    }
    if let Principal::Service { certificate } = &ctx.principal {
        // A service may update its own entry, never its allowed names.
        if certificate.service_id != req.service_id {
            return Err(ctx
                .deny(
                    &state.store,
                    ACTION,
                    Some(&req.service_id),
                    AuthorityError::forbidden("a service updates only its own entry"),
                )
                .await
                .into());
        }
        if !req.allowed_dns.is_empty() || !req.allowed_ip.is_empty() {
            return Err(ctx
                .deny(
                    &state.store,
                    ACTION,
                    Some(&req.service_id),
                    AuthorityError::forbidden("only an admin changes a service's allowed names"),
                )
                .await
                .into());
        }
        let audit = ctx
            .audit("service.update", "service")
            .target(req.service_id.clone());
        let service = state
            .store
            .update_service_entry(
                &req.service_id,
                name,
                &req.endpoints,
                req.description.as_deref(),
                &audit,
            )
            .await?;
        return Ok((
            StatusCode::OK,
            Json(Registered {
                service,
                enrollment_token: None,
            }),
        ));
    }
    let mut allowed_dns = req
        .allowed_dns
        .iter()
        .map(|d| normalize_dns_name(d))
        .collect::<Result<Vec<_>, _>>()?;
    let allowed_ip = req
        .allowed_ip
        .iter()
        .map(|i| parse_ip(i).map(|ip| ip.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if allowed_dns.is_empty() && allowed_ip.is_empty() {
        // Default: the service may name itself.
        allowed_dns.push(normalize_dns_name(&req.service_id)?);
    }
    let ttl = req.enrollment_ttl_hours.unwrap_or(24);
    if ttl == 0 || ttl > 720 {
        return Err(ApiError::bad_request(
            "enrollment_ttl_hours must be between 1 and 720",
        ));
    }
    let token = new_token(ENROLLMENT_TOKEN_PREFIX);
    let expires = OffsetDateTime::now_utc() + Duration::hours(i64::from(ttl));
    let record = NewService {
        service_id: req.service_id.clone(),
        service_name: name.to_string(),
        description: req.description.clone(),
        endpoints: req.endpoints.clone(),
        allowed_dns,
        allowed_ip,
    };
    let audit = ctx
        .audit(ACTION, "service")
        .target(req.service_id.clone())
        .details(serde_json::json!({"allowed_dns": record.allowed_dns, "allowed_ip": record.allowed_ip, "enrollment_expires_at": vcc_pki_store::format_time(expires)}));
    let service = state
        .store
        .register_service(&record, &token_hash(&token), expires, &audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            service,
            enrollment_token: Some(token),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    ctx.require_admin(&state.store, "service.list", None)
        .await?;
    let Query(q) = query?;
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this server returned"))
        })
        .transpose()?;
    let (items, next) = state
        .store
        .list_services(q.limit.unwrap_or(100), cursor)
        .await?;
    Ok(Json(
        serde_json::json!({ "items": items, "next_cursor": next.map(|n| n.to_string()) }),
    ))
}

pub async fn info(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(service_id): Path<String>,
) -> ApiResult<Json<ServiceRecord>> {
    match &ctx.principal {
        Principal::Admin => {}
        Principal::Service { certificate } if certificate.service_id == service_id => {}
        _ => {
            ctx.require_admin(&state.store, "service.read", Some(&service_id))
                .await?;
        }
    }
    let service = state
        .store
        .service(&service_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown service '{service_id}'")))?;
    Ok(Json(service))
}
