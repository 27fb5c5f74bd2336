//! Issue, renew, revoke, the inventory and CRLs.
use super::wire;
use crate::auth::{Principal, RequestContext};
use crate::problem::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use vcc_pki_authority::policy::Action;
use vcc_pki_proto::{
    CertificateList, CertificateListQuery, CrlInfo, CurrentCertificate, IssueRequest,
    IssuedCertificate, Problem, RenewRequest, RevokeRequest, RevokeResponse,
};
use vcc_pki_store::{CertificateCursor, CertificateFilter, CertificateSearch, CertificateStatus};

/// Largest page of a list.
pub const MAX_PAGE: i64 = 1000;

#[utoipa::path(post, path = "/api/certificates/issue", tag = "lifecycle",
    request_body = IssueRequest,
    responses(
        (status = 201, description = "Issued and stored", body = IssuedCertificate),
        (status = "4XX", description = "Refused or malformed; nothing issued", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "CA sealed or database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
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
    let issued = state
        .authority
        .issue(&ctx, wire::issue_request(req))
        .await?;
    Ok((StatusCode::CREATED, Json(wire::issued(issued))))
}

#[utoipa::path(post, path = "/api/certificates/renew", tag = "lifecycle",
    request_body(content = RenewRequest, description = "Empty over mTLS: the certificate presented is renewed"),
    responses(
        (status = 201, description = "Renewed (same key unless a CSR is sent) and stored", body = IssuedCertificate),
        (status = "4XX", description = "Refused or malformed; nothing issued", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "CA sealed or database unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn renew(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IssuedCertificate>)> {
    // A caller who may not renew at all (no token, an enrollment token) is refused and audited by
    // the authority without its body being read, as by every other handler with a body: 401, not
    // 400 for a malformed one.
    let may_renew = !matches!(
        ctx.principal,
        Principal::Anonymous | Principal::Enrollment { .. }
    );
    let req = if may_renew {
        let body = body.map_err(|r| ApiError::new(r.status(), "bad-request", r.body_text()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            RenewRequest::default()
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
        }
    } else {
        RenewRequest::default()
    };
    let renewed = state
        .authority
        .renew(&ctx, wire::renew_request(req))
        .await?;
    Ok((StatusCode::CREATED, Json(wire::issued(renewed))))
}

#[utoipa::path(post, path = "/api/certificates/revoke", tag = "lifecycle",
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "Revoked and stored; OCSP answers revoked from now on", body = RevokeResponse),
        (status = "4XX", description = "Refused, unknown or already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    ctx: RequestContext,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> ApiResult<Json<RevokeResponse>> {
    ctx.require_admin(&state.store, "certificate.revoke", None)
        .await?;
    let Json(req) = body?;
    let req = wire::revoke_request(req);
    // On a task of its own: once queued, a revocation commits even if this request is dropped
    // (client gone, request timeout), and its OCSP and CRL follow-up must run all the same.
    let authority = state.authority.clone();
    let revocation = tokio::spawn(async move { authority.revoke(&ctx, req).await });
    let revoked = revocation
        .await
        .map_err(|e| ApiError::internal(format!("the revocation task failed: {e}")))??;
    Ok(Json(wire::revoked(revoked)))
}

#[utoipa::path(get, path = "/api/certificates/{service_id}", tag = "inventory",
    params(("service_id" = String, Path, description = "The service")),
    responses(
        (status = 200, description = "The service's current certificate", body = CurrentCertificate),
        (status = "4XX", description = "Refused, or no such service or certificate", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []), ("mtls" = [])))]
pub async fn current(
    State(state): State<AppState>,
    ctx: RequestContext,
    Path(service_id): Path<String>,
) -> ApiResult<Json<CurrentCertificate>> {
    state
        .authority
        .authorize_read(&ctx, "certificate.read", &service_id)
        .await?;
    let record = state
        .store
        .current_certificate(&service_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "unknown service '{service_id}' or no certificate issued"
            ))
        })?;
    Ok(Json(CurrentCertificate {
        certificate: wire::certificate(record),
        ca_chain_pem: state.authority.chain_pem(),
    }))
}

#[utoipa::path(get, path = "/api/certificates", tag = "inventory",
    params(CertificateListQuery),
    responses(
        (status = 200, description = "A page of certificates, newest first", body = CertificateList),
        (status = "4XX", description = "Refused or a bad filter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    query: Result<Query<CertificateListQuery>, QueryRejection>,
) -> ApiResult<Json<CertificateList>> {
    ctx.require_reader(&state.store, "certificate.list", None)
        .await?;
    let Query(q) = query?;
    let page = state
        .store
        .list_certificates(&certificate_filter(&q)?)
        .await?;
    Ok(Json(CertificateList {
        items: page.items.into_iter().map(wire::certificate).collect(),
        next_cursor: page.next_cursor.map(|c| c.to_token()),
    }))
}

/// The store's filter for a list query (REST and dashboard alike); a bad value is a 400.
pub fn certificate_filter(q: &CertificateListQuery) -> ApiResult<CertificateFilter> {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            CertificateStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status '{s}': expected active, revoked, expired or expiring"
                ))
            })
        })
        .transpose()?;
    let cursor = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            CertificateCursor::parse(c)
                .ok_or_else(|| ApiError::bad_request("cursor is not one this server returned"))
        })
        .transpose()?;
    let by_expiry = match q.sort.as_deref() {
        None | Some("") | Some("newest") => false,
        Some("expiry") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort '{other}': expected newest or expiry"
            )))
        }
    };
    if let Some(days) = q.expires_within_days {
        if !(0..=36_600).contains(&days) {
            return Err(ApiError::bad_request(format!(
                "expires_within_days {days}: expected 0 to 36600"
            )));
        }
    }
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    Ok(CertificateFilter {
        status,
        service_id: non_empty(&q.service_id),
        profile: non_empty(&q.profile),
        expires_within_days: q.expires_within_days,
        search: q.q.as_deref().and_then(CertificateSearch::parse),
        by_expiry,
        limit: page_limit(q.limit)?,
        cursor,
    })
}

/// A list's `limit`: 1 to [`MAX_PAGE`], 100 when absent.
pub fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit {n}: expected 1 to {MAX_PAGE}"
        ))),
    }
}

#[utoipa::path(post, path = "/api/crl/generate", tag = "revocation",
    responses(
        (status = 200, description = "Every CRL rebuilt; the complete one", body = CrlInfo),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn generate_crl(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<CrlInfo>> {
    ctx.require_admin(&state.store, "crl.generate", None)
        .await?;
    Ok(Json(wire::crl_info(
        state.authority.generate_crl(&ctx).await?,
    )))
}

#[utoipa::path(get, path = "/api/crl/info", tag = "revocation",
    responses(
        (status = 200, description = "The latest complete CRL", body = CrlInfo),
        (status = 404, description = "No CRL yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn crl_info(State(state): State<AppState>) -> ApiResult<Json<CrlInfo>> {
    Ok(Json(wire::crl_info(state.authority.crl_info().await?)))
}

#[utoipa::path(get, path = "/crl/{shard}", tag = "public",
    params(("shard" = u32, Path, description = "The shard a certificate's CRL distribution point names")),
    responses(
        (status = 200, description = "The shard's CRL (DER)", body = Vec<u8>, content_type = "application/pkix-crl"),
        (status = 404, description = "No such shard or no CRL yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn shard_crl_der(
    State(state): State<AppState>,
    axum::extract::Path(shard): axum::extract::Path<String>,
) -> ApiResult<Response> {
    let shard: u32 = shard
        .parse()
        .map_err(|_| ApiError::not_found("no such CRL shard"))?;
    let der = state
        .store
        .latest_crl_der(Some(i64::from(shard)))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no CRL has been issued for shard {shard}")))?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}

#[utoipa::path(get, path = "/crl", tag = "public",
    responses(
        (status = 200, description = "The complete CRL (DER)", body = Vec<u8>, content_type = "application/pkix-crl"),
        (status = 404, description = "No CRL yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn crl_der(State(state): State<AppState>) -> ApiResult<Response> {
    let der = state
        .store
        .latest_crl_der(None)
        .await?
        .ok_or_else(|| ApiError::not_found("no CRL has been issued yet"))?;
    Ok(([(header::CONTENT_TYPE, "application/pkix-crl")], der).into_response())
}
