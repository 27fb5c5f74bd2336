//! `vcc-pki bench-revocation`: revocation at scale (issue #6). Fills the store with many revoked
//! certificates directly (not over HTTP), then measures, through the server's own Authority with
//! its background CRL worker running: revoke latency, CRL build+sign time, peak RSS.
use crate::Summary;
use anyhow::Context;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vcc_pki_authority::{
    Authority, CaCreateRequest, IssueRequest, Principal, Requester, RevokeRequest,
};
use vcc_pki_store::{CaLevel, Store};
use zeroize::Zeroizing;

#[derive(clap::Args)]
pub struct RevocationBenchArgs {
    /// Revoked certificates to put in the store before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    revoked: i64,
    /// Live certificates to issue and then revoke one by one (the latency sample).
    #[arg(long, default_value_t = 1000)]
    revocations: usize,
    /// Key type of the CA (root and intermediate).
    #[arg(long, default_value = "ecdsa-p256")]
    ca_key: String,
    /// Database URL (default: SQLite in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
    /// CRL shards (as `serve --crl-shards`; the benchmark sets a public URL so that they apply).
    #[arg(long, default_value_t = 16)]
    crl_shards: u32,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(args: RevocationBenchArgs) -> anyhow::Result<Summary> {
    // Quiet unless asked: VCC_PKI_LOG=vcc_pki_store=debug shows each CRL's read/sign/store times.
    let filter = tracing_subscriber::EnvFilter::try_from_env("VCC_PKI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(measure(args))
}

async fn measure(args: RevocationBenchArgs) -> anyhow::Result<Summary> {
    let tmp = tempfile_dir()?;
    let mut config = vcc_pki_server::config::ServeConfig::new(tmp.join("data"));
    if let Some(url) = &args.database_url {
        config.database_url = url.clone();
    }
    config.public_url = Some("http://pki.bench.invalid".into());
    config.crl_shards = args.crl_shards;
    let password = "benchmark password, not a secret";
    config.ca_password = Some(Zeroizing::new(password.to_string()));
    vcc_pki_server::files::ensure_private_dir(&config.data_dir)?;
    let store = Store::open(&config.database_url)
        .await
        .context("opening the store")?;
    let tls = vcc_pki_server::tls::TlsState::new_self_signed(&[])?;
    let authority = Authority::load(store.clone(), Arc::new(config.authority()), tls).await?;
    let admin = Requester::new(Principal::Admin);
    let ca = |cn: &str| CaCreateRequest {
        common_name: cn.into(),
        country: None,
        organization: Some("VCC PKI benchmark".into()),
        key_type: Some(args.ca_key.clone()),
        validity_years: Some(2),
        password: None,
        key_uri: None,
    };
    authority
        .create_ca(&admin, CaLevel::Root, ca("Benchmark Root"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    authority
        .create_ca(&admin, CaLevel::Intermediate, ca("Benchmark Intermediate"))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let issuer = store
        .active_ca(CaLevel::Intermediate)
        .await?
        .context("intermediate missing")?
        .id;

    let started = Instant::now();
    store
        .bench_fill_revoked(issuer, args.revoked, 50_000, args.crl_shards)
        .await
        .context("filling revoked certificates")?;
    let fill_secs = started.elapsed().as_secs_f64();
    let rss_after_fill = rss_kib("VmRSS:");

    // The background CRL worker runs as in the server: every revocation below triggers a rebuild.
    // First it rebuilds every CRL once, as at any start; the measurement begins after that, as on
    // a server that has been up a while.
    tokio::spawn(authority.crl().clone().run_worker());
    let settle = Instant::now();
    while authority.crl().work_pending() && settle.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let startup_rebuild_secs = settle.elapsed().as_secs_f64();

    let mut serials = Vec::with_capacity(args.revocations);
    for i in 0..args.revocations {
        let issued = authority
            .issue(
                &admin,
                IssueRequest {
                    service_id: "bench-live".into(),
                    common_name: format!("live-{i}.bench.internal"),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        serials.push(issued.serial_number);
    }
    let mut latencies = Vec::with_capacity(serials.len());
    for serial in serials {
        let t = Instant::now();
        authority
            .revoke(
                &admin,
                RevokeRequest {
                    service_id: None,
                    serial_number: Some(serial.to_hex()),
                    reason: Some("superseded".into()),
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        latencies.push(t.elapsed());
    }
    latencies.sort();

    // What a revocation costs in the background: rebuilding one shard's CRL.
    let shard_crl = if args.crl_shards > 0 {
        let t = Instant::now();
        let record = authority
            .crl()
            .build_crl_now(Some(0))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Some((t.elapsed().as_secs_f64(), record))
    } else {
        None
    };
    let rss_peak_before_complete = rss_kib("VmHWM:");
    // Let the worker finish what the revocations started, then measure one complete build alone:
    // reset the high-water mark (Linux: write 5 to clear_refs) so the peak is this build's.
    let settle = Instant::now();
    while authority.crl().work_pending() && settle.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_before_complete = rss_kib("VmRSS:");
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    // The complete CRL (`/crl`), rebuilt at most at a tenth of a core's time.
    let t = Instant::now();
    let crl = authority
        .crl()
        .build_crl_now(None)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let crl_secs = t.elapsed().as_secs_f64();
    let crl_bytes = crl.crl_der.len();
    let report = json!({
        "revoked_in_store": args.revoked,
        "fill_seconds": fill_secs,
        "revocations_measured": latencies.len(),
        "revoke_ms": {"p50": percentile(&latencies, 0.50), "p90": percentile(&latencies, 0.90), "p99": percentile(&latencies, 0.99), "max": percentile(&latencies, 1.0)},
        "crl": {"number": crl.crl_number, "entries": crl.revoked_count, "bytes": crl_bytes, "build_and_sign_seconds": crl_secs},
        "shard_crl": shard_crl.as_ref().map(|(secs, r)| json!({"shards": args.crl_shards, "number": r.crl_number, "entries": r.revoked_count, "bytes": r.crl_der.len(), "build_and_sign_seconds": secs})),
        "startup_crl_rebuild_seconds": startup_rebuild_secs,
        "rss_mib": {"after_fill": rss_after_fill as f64 / 1024.0, "peak_through_revocations": rss_peak_before_complete as f64 / 1024.0, "before_complete_crl": rss_before_complete as f64 / 1024.0, "peak_complete_crl_build": rss_kib("VmHWM:") as f64 / 1024.0},
        "ca_key": args.ca_key,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
    });
    let _ = std::fs::remove_dir_all(&tmp);
    let heading = format!(
        "Revocation at scale: {} revoked certificates in the store ({})",
        args.revoked, report["database"]
    );
    let fields = vec![
            ("Fill", format!("{fill_secs:.1} s")),
            (
                "Start-up CRL rebuild",
                format!("{startup_rebuild_secs:.1} s (every shard and the complete CRL, in the background)"),
            ),
            (
                "Revoke p50/p90/p99/max",
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2} ms  (n = {})",
                    report["revoke_ms"]["p50"].as_f64().unwrap_or(0.0),
                    report["revoke_ms"]["p90"].as_f64().unwrap_or(0.0),
                    report["revoke_ms"]["p99"].as_f64().unwrap_or(0.0),
                    report["revoke_ms"]["max"].as_f64().unwrap_or(0.0),
                    latencies.len()
                ),
            ),
            (
                "Shard CRL build + sign",
                match &shard_crl {
                    Some((secs, r)) => format!(
                        "{secs:.2} s for {} entries, {:.1} MB (1 of {} shards)",
                        r.revoked_count,
                        r.crl_der.len() as f64 / 1e6,
                        args.crl_shards
                    ),
                    None => "no shards".into(),
                },
            ),
            (
                "Complete CRL build + sign",
                format!(
                    "{crl_secs:.2} s for {} entries, {:.1} MB",
                    crl.revoked_count,
                    crl_bytes as f64 / 1e6
                ),
            ),
            (
                "Peak RSS",
                format!(
                    "{:.0} MiB through fill, start-up rebuild and revocations; {:.0} MiB during one complete CRL build (from {:.0} MiB)",
                    report["rss_mib"]["peak_through_revocations"]
                        .as_f64()
                        .unwrap_or(0.0),
                    report["rss_mib"]["peak_complete_crl_build"]
                        .as_f64()
                        .unwrap_or(0.0),
                    report["rss_mib"]["before_complete_crl"]
                        .as_f64()
                        .unwrap_or(0.0)
                ),
            ),
        ];
    Ok(Summary {
        heading,
        fields: fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        warnings: Vec::new(),
        json: report,
    })
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("vcc-pki-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
