use crate::auth::RequestContext;
use crate::problem::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;

/// Health and statistics. 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/api/health", tag = "system",
    responses(
        (status = 200, description = "Server, database, CA and key expiry, statistics", body = Object),
        (status = 503, description = "The database does not answer", body = Object),
    ))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.store.ping().await;
    let stats = state.store.statistics().await.ok();
    let info = state.authority.info().await.ok();
    let served = state.tls.served();
    let healthy = database.is_ok();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "database": { "status": if healthy { "ok" } else { "unavailable" } },
        "ca": {
            "root": info.as_ref().map(|i| i.root.is_some()).unwrap_or(false),
            "intermediate": info.as_ref().map(|i| i.intermediate.is_some()).unwrap_or(false),
            "sealed": state.authority.is_sealed(),
            "chain_status": info.as_ref().map(|i| i.chain_status),
            "root_days_until_expiry": info.as_ref().and_then(|i| i.root.as_ref().map(|r| r.days_until_expiry)),
            "intermediate_days_until_expiry": info.as_ref().and_then(|i| i.intermediate.as_ref().map(|r| r.days_until_expiry)),
        },
        "tls": served.map(|s| json!({"issued_by_ca": s.issued_by_ca, "not_after": s.not_after})),
        "statistics": stats,
    });
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

#[utoipa::path(get, path = "/api/audit/verify", tag = "system",
    responses(
        (status = 200, description = "The audit hash chain walked from its first row", body = vcc_pki_proto::AuditVerification),
        (status = "4XX", description = "Refused", body = vcc_pki_proto::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn audit_verify(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<Json<vcc_pki_proto::AuditVerification>> {
    ctx.require_reader(&state.store, "audit.verify", None)
        .await?;
    let chain = state.store.verify_audit_chain().await?;
    let anchors = state.authority.check_audit_anchors().await?;
    let verified = super::wire::audit_verification(chain, anchors);
    // A head that verified is anchored, so that what was checked stays checkable.
    if verified.intact {
        if let Err(e) = state.authority.anchor_audit_head().await {
            tracing::warn!(error = %e, "could not anchor the verified audit head");
        }
    }
    Ok(Json(verified))
}

/// `/metrics` on HTTPS: for admin and auditor tokens (SPEC §10).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses(
        (status = 200, description = "Prometheus text format (also without a token on --metrics-listen)", body = String, content_type = "text/plain"),
        (status = "4XX", description = "Refused", body = vcc_pki_proto::Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> ApiResult<axum::response::Response> {
    ctx.require_reader(&state.store, "metrics.read", None)
        .await?;
    Ok(crate::metrics::render(&state).await)
}

/// `/metrics` on `--metrics-listen`: that listener is for a private scrape network.
pub async fn metrics_unauthenticated(State(state): State<AppState>) -> axum::response::Response {
    crate::metrics::render(&state).await
}

/// `/healthz`: the process is alive and answering. Reads nothing.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, description = "The process answers", body = Object)))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "alive" }))
}

/// `/readyz`: may this replica take traffic? The database answers, a CA exists and is unsealed,
/// and every newest CRL is within its validity. O(CRL scopes), whatever the store size.
#[utoipa::path(get, path = "/readyz", tag = "system",
    responses(
        (status = 200, description = "Ready: database, unsealed CA, fresh CRLs", body = Object),
        (status = 503, description = "Not ready; `problems` says why", body = Object),
    ))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = state.store.ping().await {
        problems.push(format!("database unreachable: {e}"));
    }
    if state.authority.is_sealed() {
        problems.push("the CA is sealed".into());
    }
    // A database error is already said above.
    if let Ok(ids) = state.store.active_ca_ids().await {
        if ids.intermediate.is_none() {
            problems.push("no intermediate CA yet".into());
        }
    }
    let now = state.authority.now();
    if let Ok(crls) = state.store.newest_crls().await {
        for crl in crls.iter().filter(|c| c.next_update <= now) {
            problems.push(format!(
                "CRL {} (shard {}) is past its nextUpdate",
                crl.crl_number,
                crl.shard
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "complete".into())
            ));
        }
    }
    let ready = problems.is_empty();
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(json!({
            "status": if ready { "ready" } else { "not ready" },
            "problems": problems,
        })),
    )
}
