//! Admin token management: create (shown once), list, revoke.
use crate::auth::RequestContext;
use crate::problem::ApiResult;
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
    let created = state.authority.create_admin_token(&ctx, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": created.id, "name": created.name, "role": "admin", "token": created.token.as_str()}),
        ),
    ))
}

pub async fn list(State(state): State<AppState>, ctx: RequestContext) -> ApiResult<Json<Value>> {
    Ok(Json(
        json!({"items": state.authority.list_tokens(&ctx).await?}),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    state.authority.revoke_admin_token(&ctx, id).await?;
    Ok(Json(json!({"id": id, "revoked": true})))
}
