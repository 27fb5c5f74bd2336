//! `/metrics` (SPEC §10): the Prometheus text format, on `--metrics-listen` (plain HTTP, for a
//! scraper on a private network) and on the HTTPS listener for admin and auditor tokens.
//!
//! Counters and histograms are recorded where things happen, through the `metrics` facade
//! (authority: issued, renewed, revoked, refused, OCSP; store: group commits; acme: orders and
//! validations; here: HTTP requests). Gauges are read on each scrape from what the store keeps
//! as counters and from the newest CRL of each shard: a scrape costs O(shards), never a scan.
//! Only this crate links the exporter.
use crate::state::AppState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use vcc_pki_store::CaLevel;

pub const HTTP_DURATION: &str = "vcc_pki_http_request_duration_seconds";
pub const RATE_LIMITED: &str = "vcc_pki_http_rate_limited_total";

/// One request answered 429: its source failed authentication too often.
pub fn rate_limited() {
    metrics::counter!(RATE_LIMITED).increment(1);
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets, seconds: 1 ms to 10 s.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Group-commit batch sizes.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Install the process's recorder (once; later calls reuse it) and describe every metric.
pub fn install() -> anyhow::Result<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .set_buckets_for_metric(
            Matcher::Full("vcc_pki_store_commit_batch_size".into()),
            BATCH,
        )?
        .install_recorder()?;
    // Without upkeep the exporter's histograms grow without bound between scrapes.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let _ = HANDLE.set(handle);
    describe();
    vcc_pki_authority::telemetry::describe();
    vcc_pki_store::telemetry::describe();
    vcc_pki_acme::telemetry::describe();
    metrics::gauge!("vcc_pki_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(())
}

fn describe() {
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's arrival to its answer's head, by route template and status."
    );
    metrics::describe_counter!(
        crate::connections::REFUSED_METRIC,
        "Connections closed as soon as accepted: over the listener's cap or its per-source cap, by listener and cap."
    );
    metrics::describe_counter!(
        RATE_LIMITED,
        "Requests answered 429 before any work: their source address failed authentication too often."
    );
    metrics::describe_gauge!(
        "vcc_pki_certificates",
        "Certificates in the store by status (active, expired, revoked), from maintained counters."
    );
    metrics::describe_gauge!(
        "vcc_pki_certificates_expiring",
        "Active certificates whose notAfter is within the window (7d, 30d); the server's own (TLS, OCSP responder) renew themselves and are left out."
    );
    metrics::describe_gauge!(
        "vcc_pki_ca_not_after_timestamp_seconds",
        "notAfter of the active root and intermediate CA certificate, Unix seconds."
    );
    metrics::describe_gauge!(
        "vcc_pki_crl_number",
        "CRL number of the newest CRL of each shard (shard=\"complete\": the complete CRL)."
    );
    metrics::describe_gauge!(
        "vcc_pki_crl_entries",
        "Revoked certificates the newest CRL of each shard lists."
    );
    metrics::describe_gauge!(
        "vcc_pki_crl_bytes",
        "DER size of the newest CRL of each shard, bytes."
    );
    metrics::describe_gauge!(
        "vcc_pki_crl_next_update_timestamp_seconds",
        "nextUpdate of the newest CRL of each shard, Unix seconds: alert well before it passes."
    );
    metrics::describe_gauge!(
        "vcc_pki_ocsp_oldest_cached_response_age_seconds",
        "Age (now - thisUpdate) of the oldest pre-signed OCSP response in the cache."
    );
    metrics::describe_gauge!(
        "vcc_pki_ocsp_cached_responses",
        "Pre-signed OCSP responses in the cache."
    );
    metrics::describe_gauge!(
        "vcc_pki_sealed",
        "1 while the CA keys are locked (signing refused), else 0."
    );
    metrics::describe_gauge!(
        "vcc_pki_build_info",
        "Always 1; the version label names the running build."
    );
}

/// Read the gauges of this moment, then render every metric.
pub async fn render(state: &AppState) -> Response {
    let Some(handle) = HANDLE.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not enabled in this process\n",
        )
            .into_response();
    };
    refresh_gauges(state).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

async fn refresh_gauges(state: &AppState) {
    metrics::gauge!("vcc_pki_sealed").set(if state.authority.is_sealed() {
        1.0
    } else {
        0.0
    });
    match state.store.statistics().await {
        Ok(s) => {
            for (status, n) in [
                ("active", s.certificates_active),
                ("expired", s.certificates_expired),
                ("revoked", s.certificates_revoked),
            ] {
                metrics::gauge!("vcc_pki_certificates", "status" => status).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: certificate counts unavailable"),
    }
    for days in [7, 30] {
        match state.store.expiring_within(days).await {
            Ok(n) => {
                metrics::gauge!("vcc_pki_certificates_expiring", "window" => format!("{days}d"))
                    .set(n as f64)
            }
            Err(e) => tracing::warn!(error = %e, "metrics: expiry counts unavailable"),
        }
    }
    for (level, label) in [
        (CaLevel::Root, "root"),
        (CaLevel::Intermediate, "intermediate"),
    ] {
        if let Ok(Some(ca)) = state.store.active_ca(level).await {
            metrics::gauge!("vcc_pki_ca_not_after_timestamp_seconds", "level" => label)
                .set(ca.not_after.unix_timestamp() as f64);
        }
    }
    match state.store.newest_crls().await {
        Ok(crls) => {
            for crl in crls {
                let shard = crl
                    .shard
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "complete".into());
                metrics::gauge!("vcc_pki_crl_number", "shard" => shard.clone())
                    .set(crl.crl_number as f64);
                metrics::gauge!("vcc_pki_crl_entries", "shard" => shard.clone())
                    .set(crl.revoked_count as f64);
                metrics::gauge!("vcc_pki_crl_bytes", "shard" => shard.clone())
                    .set(crl.bytes as f64);
                metrics::gauge!("vcc_pki_crl_next_update_timestamp_seconds", "shard" => shard)
                    .set(crl.next_update.unix_timestamp() as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: CRL state unavailable"),
    }
    let (cached, oldest) = state.authority.ocsp().cache_age();
    metrics::gauge!("vcc_pki_ocsp_cached_responses").set(cached as f64);
    metrics::gauge!("vcc_pki_ocsp_oldest_cached_response_age_seconds")
        .set(oldest.map(|d| d.as_secs_f64()).unwrap_or(0.0));
}
