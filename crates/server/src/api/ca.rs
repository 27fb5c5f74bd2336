use crate::auth::RequestContext;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use vcc_pki_authority::{CaCreateRequest, CaCreated, CaInfo};
use vcc_pki_store::CaLevel;
use zeroize::Zeroizing;

pub async fn create_root(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<CaCreateRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CaCreated>)> {
    ctx.require_admin(&state.store, "ca.create_root", None)
        .await?;
    let Json(req) = body?;
    Ok((
        StatusCode::CREATED,
        Json(state.authority.create_ca(&ctx, CaLevel::Root, req).await?),
    ))
}

pub async fn create_intermediate(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<CaCreateRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CaCreated>)> {
    ctx.require_admin(&state.store, "ca.create_intermediate", None)
        .await?;
    let Json(req) = body?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .authority
                .create_ca(&ctx, CaLevel::Intermediate, req)
                .await?,
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    password: Zeroizing<String>,
}

pub async fn unlock(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<UnlockRequest>, JsonRejection>,
) -> ApiResult<Json<CaInfo>> {
    ctx.require_admin(&state.store, "ca.unlock", None).await?;
    let Json(req) = body?;
    state.authority.unlock(&ctx, req.password).await?;
    Ok(Json(state.authority.info().await?))
}

pub async fn info(State(state): State<AppState>) -> ApiResult<Json<CaInfo>> {
    Ok(Json(state.authority.info().await?))
}

/// The CA chain, intermediate first then root, as PEM.
pub async fn bundle(State(state): State<AppState>) -> ApiResult<Response> {
    let chain = state.authority.chain_pem();
    if chain.is_empty() {
        return Err(ApiError::not_found("no CA exists yet"));
    }
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        chain,
    )
        .into_response())
}

fn der_response(pem: Option<String>, what: &str) -> ApiResult<Response> {
    let pem = pem.ok_or_else(|| ApiError::not_found(format!("no {what} CA exists yet")))?;
    let der = vcc_pki_core::pem_decode_all(&pem, "CERTIFICATE")
        .ok()
        .and_then(|mut v| v.pop())
        .ok_or_else(|| ApiError::internal("stored CA certificate is not PEM"))?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response())
}

pub async fn root_crt(State(state): State<AppState>) -> ApiResult<Response> {
    der_response(state.authority.root_pem(), "root")
}

pub async fn intermediate_crt(State(state): State<AppState>) -> ApiResult<Response> {
    der_response(state.authority.intermediate_pem(), "intermediate")
}

/// `ca export`: the CA certificates and their keys, still encrypted (admin only).
pub async fn export(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<serde_json::Value>> {
    let (root, intermediate) = state.authority.export_ca(&ctx).await?;
    let entry = |r: &vcc_pki_store::CaRecord| {
        serde_json::json!({
            "certificate_pem": vcc_pki_core::certificate_pem(&r.certificate_der),
            "encrypted_private_key_pem": r.encrypted_private_key,
            "serial_number": r.serial_number,
        })
    };
    Ok(Json(serde_json::json!({
        "root": entry(&root),
        "intermediate": intermediate.as_ref().map(entry),
        "ca_chain_pem": state.authority.chain_pem(),
    })))
}
