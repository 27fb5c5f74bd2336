//! The service registry.
use super::certificates::page_limit;
use super::wire;
use crate::auth::{Principal, RequestContext};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use vcc_pki_authority::ServiceRegistration;
use vcc_pki_proto::{Problem, RegisterRequest, Registered, Service, ServiceList, ServiceListQuery};

#[utoipa::path(post, path = "/api/services/register", tag = "registry",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered (admin): the one-time enrollment token is in the answer", body = Registered),
        (status = 200, description = "The service updated its own entry (mTLS, current certificate)", body = Registered),
        (status = "4XX", description = "Refused or malformed; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
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
        .register_service(&ctx, wire::registration(req))
        .await?;
    let status = if registered.enrollment_token.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(Registered {
            service: wire::service(registered.service),
            enrollment_token: registered.enrollment_token,
        }),
    ))
}

#[utoipa::path(get, path = "/api/services", tag = "registry",
    params(ServiceListQuery),
    responses(
        (status = 200, description = "A page of services", body = ServiceList),
        (status = "4XX", description = "Refused or a bad cursor", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<ServiceListQuery>, QueryRejection>,
) -> ApiResult<Json<ServiceList>> {
    ctx.require_reader(&state.store, "service.list", None)
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
        .list_services(page_limit(q.limit)?, cursor)
        .await?;
    Ok(Json(ServiceList {
        items: items.into_iter().map(wire::service).collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

#[utoipa::path(get, path = "/api/services/{service_id}", tag = "registry",
    params(("service_id" = String, Path, description = "The service")),
    responses(
        (status = 200, description = "The service's record", body = Service),
        (status = "4XX", description = "Refused or unknown", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn info(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(service_id): Path<String>,
) -> ApiResult<Json<Service>> {
    state
        .authority
        .authorize_read(&ctx, "service.read", &service_id)
        .await?;
    let service = state
        .store
        .service(&service_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("unknown service '{service_id}'")))?;
    Ok(Json(wire::service(service)))
}
