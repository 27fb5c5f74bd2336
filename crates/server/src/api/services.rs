use crate::auth::{Principal, RequestContext};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use vcc_pki_authority::ServiceRegistration;
use vcc_pki_store::ServiceRecord;

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
    if matches!(
        ctx.principal,
        Principal::Anonymous | Principal::Enrollment { .. }
    ) {
        // Refused (and audited) before the body is read.
        state
            .authority
            .register_service(&ctx, ServiceRegistration::default())
            .await?;
    }
    let Json(req) = body?;
    let registered = state
        .authority
        .register_service(
            &ctx,
            ServiceRegistration {
                service_id: req.service_id,
                service_name: req.service_name,
                endpoints: req.endpoints,
                allowed_dns: req.allowed_dns,
                allowed_ip: req.allowed_ip,
                description: req.description,
                enrollment_ttl_hours: req.enrollment_ttl_hours,
            },
        )
        .await?;
    let status = if registered.enrollment_token.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Registered {
            service: registered.service,
            enrollment_token: registered.enrollment_token.map(|t| t.to_string()),
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
    state
        .authority
        .authorize_read(&ctx, "service.read", &service_id)
        .await?;
    let service = state
        .store
        .service(&service_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown service '{service_id}'")))?;
    Ok(Json(service))
}
