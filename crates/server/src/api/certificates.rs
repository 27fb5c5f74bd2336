use crate::auth::{Principal, RequestContext};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use vcc_pki_authority::policy::Action;
use vcc_pki_authority::{
    CrlInfo, IssueRequest, IssuedCertificate, RenewRequest, RevokeRequest, RevokeResponse,
};
use vcc_pki_core::certificate_pem;
use vcc_pki_store::{CertificateFilter, CertificateRecord};

pub async fn issue(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<IssueRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<IssuedCertificate>)> {
    if matches!(ctx.principal, Principal::Anonymous) {
        // Refused (and audited) before the body is read.
        state
            .authority
            .authorize(&ctx, "certificate.issue", Action::Issue, "")
            .await?;
    }
    let Json(req) = body?;
    Ok((
        StatusCode::CREATED,
        Json(state.authority.issue(&ctx, req).await?),
    ))
}

pub async fn renew(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IssuedCertificate>)> {
    let body = body.map_err(|r| ApiError::new(r.status(), "bad-request", r.body_text()))?;
    let req: RenewRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RenewRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    Ok((
        StatusCode::CREATED,
        Json(state.authority.renew(&ctx, req).await?),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> ApiResult<Json<RevokeResponse>> {
    ctx.require_admin(&state.store, "certificate.revoke", None)
        .await?;
    let Json(req) = body?;
    // On a task of its own: once queued, a revocation commits even if this request is dropped
    // (client gone, request timeout), and its OCSP and CRL follow-up must run all the same.
    let authority = state.authority.clone();
    let revocation = tokio::spawn(async move { authority.revoke(&ctx, req).await });
    Ok(Json(revocation.await.map_err(|e| {
        ApiError::internal(format!("the revocation task failed: {e}"))
    })??))
}

/// A stored certificate as the inventory endpoints return it.
#[derive(Serialize)]
pub struct CertificateView {
    #[serde(flatten)]
    pub record: CertificateRecord,
    pub certificate_pem: String,
}

impl From<CertificateRecord> for CertificateView {
    fn from(record: CertificateRecord) -> Self {
        let certificate_pem = certificate_pem(&record.certificate_der);
        Self {
            record,
            certificate_pem,
        }
    }
}

/// Admin, or the service itself over mTLS.
async fn require_admin_or_self(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
    service_id: &str,
) -> ApiResult<()> {
    Ok(state
        .authority
        .authorize_read(ctx, action, service_id)
        .await?)
}

pub async fn current(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(service_id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    require_admin_or_self(&state, &ctx, "certificate.read", &service_id).await?;
    let record = state
        .store
        .current_certificate(&service_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown service '{service_id}' or no certificate issued"
            ))
        })?;
    let mut view = serde_json::to_value(CertificateView::from(record))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    view["ca_chain_pem"] = serde_json::Value::String(state.authority.chain_pem());
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    service_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Serialize)]
pub struct CertificateList {
    items: Vec<CertificateView>,
    next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<CertificateList>> {
    ctx.require_admin(&state.store, "certificate.list", None)
        .await?;
    let Query(q) = query?;
    if let Some(s) = &q.status {
        if !matches!(s.as_str(), "active" | "revoked" | "expired" | "expiring") {
            return Err(ApiError::bad_request(format!(
                "status '{s}': expected active, revoked, expired or expiring"
            )));
        }
    }
    let cursor = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("cursor is not one this server returned"))
        })
        .transpose()?;
    let page = state
        .store
        .list_certificates(&CertificateFilter {
            status: q.status,
            service_id: q.service_id,
            limit: q.limit.unwrap_or(100),
            cursor,
        })
        .await?;
    Ok(Json(CertificateList {
        items: page.items.into_iter().map(CertificateView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    }))
}

pub async fn generate_crl(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<CrlInfo>> {
    ctx.require_admin(&state.store, "crl.generate", None)
        .await?;
    Ok(Json(state.authority.generate_crl(&ctx).await?))
}

pub async fn crl_info(State(state): State<AppState>) -> ApiResult<Json<CrlInfo>> {
    Ok(Json(state.authority.crl_info().await?))
}

/// `GET /crl/{shard}`: the CRL of one shard, as named in its certificates' CRL distribution point.
pub async fn shard_crl_der(
    State(state): State<AppState>,
    axum::extract::Path(shard): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let shard: u32 = shard
        .parse()
        .map_err(|_| ApiError::not_found("no such CRL shard"))?;
    let latest = state
        .store
        .latest_shard_crl(i64::from(shard))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no CRL has been issued for shard {shard}")))?;
    Ok((
        [(header::CONTENT_TYPE, "application/pkix-crl")],
        latest.crl_der,
    )
        .into_response())
}

pub async fn crl_der(State(state): State<AppState>) -> ApiResult<Response> {
    let latest = state
        .store
        .latest_crl()
        .await?
        .ok_or_else(|| ApiError::not_found("no CRL has been issued yet"))?;
    Ok((
        [(header::CONTENT_TYPE, "application/pkix-crl")],
        latest.crl_der,
    )
        .into_response())
}
