//! Admin token management: create (shown once), list, revoke.
use super::wire;
use crate::auth::RequestContext;
use crate::problem::ApiResult;
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use vcc_pki_proto::{CreateTokenRequest, Problem, TokenCreated, TokenList, TokenRevoked};

#[utoipa::path(post, path = "/api/tokens", tag = "tokens",
    request_body = CreateTokenRequest,
    responses(
        (status = 201, description = "A new token (role admin or auditor), shown once", body = TokenCreated),
        (status = "4XX", description = "Refused or malformed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<CreateTokenRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    // Refused (and audited) before the body is read.
    ctx.require_admin(&state.store, "token.create", None)
        .await?;
    let Json(req) = body?;
    let role = vcc_pki_authority::TokenRole::parse(req.role.as_deref().unwrap_or("admin"))?;
    let created = state.authority.create_token(&ctx, &req.name, role).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: created.id,
            name: created.name,
            role: created.role.as_str().into(),
            token: created.token,
        }),
    ))
}

#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    responses(
        (status = 200, description = "Every admin token (never the token itself)", body = TokenList),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<TokenList>> {
    let tokens = state.authority.list_tokens(&ctx).await?;
    Ok(Json(TokenList {
        items: tokens.into_iter().map(wire::token).collect(),
    }))
}

#[utoipa::path(post, path = "/api/tokens/{id}/revoke", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "Revoked", body = TokenRevoked),
        (status = "4XX", description = "Refused, unknown, already revoked, or the last active admin token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<i64>,
) -> ApiResult<Json<TokenRevoked>> {
    state.authority.revoke_admin_token(&ctx, id).await?;
    Ok(Json(TokenRevoked { id, revoked: true }))
}
