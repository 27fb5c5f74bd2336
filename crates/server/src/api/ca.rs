use super::wire;
use crate::auth::RequestContext;
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use vcc_pki_proto::{
    CaCreateRequest, CaCreated, CaExport, CaInfo, IntermediateImportRequest, IntermediateRequested,
    Problem, UnlockRequest,
};
use vcc_pki_store::CaLevel;

#[utoipa::path(post, path = "/api/ca/root", tag = "ca",
    request_body = CaCreateRequest,
    responses(
        (status = 201, description = "The root CA, its key encrypted in the store", body = CaCreated),
        (status = "4XX", description = "Refused, malformed, or a root exists", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
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
        Json(wire::ca_created(
            state
                .authority
                .create_ca(&ctx, CaLevel::Root, wire::ca_create_request(req))
                .await?,
        )),
    ))
}

#[utoipa::path(post, path = "/api/ca/intermediate", tag = "ca",
    request_body = CaCreateRequest,
    responses(
        (status = 201, description = "The intermediate CA, signed by the root", body = CaCreated),
        (status = "4XX", description = "Refused, malformed, no root, or an intermediate exists", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
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
        Json(wire::ca_created(
            state
                .authority
                .create_ca(&ctx, CaLevel::Intermediate, wire::ca_create_request(req))
                .await?,
        )),
    ))
}

#[utoipa::path(post, path = "/api/ca/intermediate/csr", tag = "ca",
    request_body = CaCreateRequest,
    responses(
        (status = 201, description = "A CSR for a new issuing CA (for an offline root to sign); its key waits on the server", body = IntermediateRequested),
        (status = "4XX", description = "Refused, malformed, or an intermediate exists", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn request_intermediate(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<CaCreateRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<IntermediateRequested>)> {
    ctx.require_admin(&state.store, "ca.request_intermediate", None)
        .await?;
    let Json(req) = body?;
    let requested = state
        .authority
        .request_intermediate(&ctx, wire::ca_create_request(req))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::intermediate_requested(requested)),
    ))
}

#[utoipa::path(post, path = "/api/ca/intermediate/import", tag = "ca",
    request_body = IntermediateImportRequest,
    responses(
        (status = 201, description = "The issuing CA is active; the offline root came with it if the server had none", body = CaCreated),
        (status = "4XX", description = "Refused: not signed by the root, not the CA profile, or no pending key matches", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn import_intermediate(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<IntermediateImportRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CaCreated>)> {
    ctx.require_admin(&state.store, "ca.import_intermediate", None)
        .await?;
    let Json(req) = body?;
    let created = state
        .authority
        .import_intermediate(&ctx, &req.certificate_pem, req.password)
        .await?;
    Ok((StatusCode::CREATED, Json(wire::ca_created(created))))
}

#[utoipa::path(post, path = "/api/ca/unlock", tag = "ca",
    request_body = UnlockRequest,
    responses(
        (status = 200, description = "Unlocked", body = CaInfo),
        (status = "4XX", description = "Refused, wrong password, or not sealed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn unlock(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<UnlockRequest>, JsonRejection>,
) -> ApiResult<Json<CaInfo>> {
    ctx.require_admin(&state.store, "ca.unlock", None).await?;
    let Json(req) = body?;
    state.authority.unlock(&ctx, req.password).await?;
    Ok(Json(wire::ca_info(state.authority.info().await?)))
}

#[utoipa::path(get, path = "/api/ca/info", tag = "ca",
    responses((status = 200, description = "Subjects, fingerprints, validity, chain status", body = CaInfo)))]
pub async fn info(State(state): State<AppState>) -> ApiResult<Json<CaInfo>> {
    Ok(Json(wire::ca_info(state.authority.info().await?)))
}

/// The CA chain, intermediate first then root, as PEM.
#[utoipa::path(get, path = "/api/ca/bundle", tag = "ca",
    responses(
        (status = 200, description = "Intermediate then root", body = String, content_type = "application/pem-certificate-chain"),
        (status = 404, description = "No CA yet", body = Problem, content_type = "application/problem+json"),
    ))]
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

#[utoipa::path(get, path = "/ca/root.crt", tag = "public",
    responses(
        (status = 200, description = "The root certificate (DER)", body = Vec<u8>, content_type = "application/pkix-cert"),
        (status = 404, description = "No root yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn root_crt(State(state): State<AppState>) -> ApiResult<Response> {
    der_response(state.authority.root_pem(), "root")
}

#[utoipa::path(get, path = "/ca/intermediate.crt", tag = "public",
    responses(
        (status = 200, description = "The intermediate certificate (DER), as AIA caIssuers names it", body = Vec<u8>, content_type = "application/pkix-cert"),
        (status = 404, description = "No intermediate yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn intermediate_crt(State(state): State<AppState>) -> ApiResult<Response> {
    der_response(state.authority.intermediate_pem(), "intermediate")
}

/// `ca export`: the CA certificates and their keys, still encrypted (admin only).
#[utoipa::path(get, path = "/api/ca/export", tag = "ca",
    responses(
        (status = 200, description = "CA certificates and their keys, still encrypted", body = CaExport),
        (status = "4XX", description = "Refused, or no CA yet", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<CaExport>> {
    let (root, intermediate) = state.authority.export_ca(&ctx).await?;
    Ok(Json(CaExport {
        root: wire::exported_ca(&root),
        intermediate: intermediate.as_ref().map(wire::exported_ca),
        ca_chain_pem: state.authority.chain_pem(),
    }))
}
