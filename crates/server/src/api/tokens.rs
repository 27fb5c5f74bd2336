//! Admin token management: create (shown once), list, revoke.
use crate::auth::{new_token, token_hash, RequestContext, ADMIN_TOKEN_PREFIX};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ctx.require_admin(&state.store, "token.create", None)
        .await?;
    let Json(req) = body?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::bad_request(
            "token name must be 1 to 64 characters",
        ));
    }
    let token = new_token(ADMIN_TOKEN_PREFIX);
    let audit = ctx.audit("token.create", "token").target(name.to_string());
    let id = state
        .store
        .insert_admin_token(name, &token_hash(&token), &audit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": name, "role": "admin", "token": token})),
    ))
}

pub async fn list(State(state): State<AppState>, ctx: RequestContext) -> ApiResult<Json<Value>> {
    ctx.require_admin(&state.store, "token.list", None).await?;
    Ok(Json(json!({"items": state.store.list_tokens().await?})))
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ctx.require_admin(&state.store, "token.revoke", Some(&id.to_string()))
        .await?;
    let active = state.store.active_admin_token_hashes().await?;
    let tokens = state.store.list_tokens().await?;
    let target = tokens
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no token with id {id}")))?;
    if target.revoked_at.is_some() {
        return Err(ApiError::conflict(format!("token {id} is already revoked")));
    }
    if active.len() <= 1 {
        return Err(ApiError::conflict(
            "refusing to revoke the last active admin token",
        ));
    }
    let audit = ctx.audit("token.revoke", "token").target(id.to_string());
    state.store.revoke_token(id, &audit).await?;
    Ok(Json(json!({"id": id, "revoked": true})))
}
