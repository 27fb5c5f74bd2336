//! `vcc-pki bench inventory`: fill a store directly (not over HTTP) with `--certificates N` and
//! time every inventory query the REST API and the dashboard make — health statistics, each
//! filter, each kind of search, a second page — printing p50/p99 of each, next to a full
//! `COUNT(*)` of the same store as the reference (what the seed's health check did per request).
use crate::Summary;
use anyhow::Context;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vcc_pki_authority::{Authority, CaCreateRequest, Principal, Requester};
use vcc_pki_store::{CaLevel, CertificateFilter, CertificateSearch, CertificateStatus, Store};
use zeroize::Zeroizing;

/// Timed runs of each query.
const RUNS: usize = 40;

pub fn run(certificates: i64, database_url: Option<String>) -> anyhow::Result<Summary> {
    if !(1..=100_000_000).contains(&certificates) {
        anyhow::bail!("--certificates must be between 1 and 100000000");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(measure(certificates, database_url))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn time_it<F, Fut, T>(mut f: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, vcc_pki_store::StoreError>>,
{
    f().await?; // warm
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        f().await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    let at = |p: f64| {
        ms(samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1])
    };
    Ok((at(0.5), at(0.99)))
}

async fn measure(certificates: i64, database_url: Option<String>) -> anyhow::Result<Summary> {
    let tmp = std::env::temp_dir().join(format!("vcc-pki-bench-inventory-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let mut config = vcc_pki_server::config::ServeConfig::new(tmp.join("data"));
    if let Some(url) = &database_url {
        config.database_url = url.clone();
    }
    config.ca_password = Some(Zeroizing::new("benchmark password, not a secret".into()));
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
        key_type: Some("ecdsa-p256".into()),
        validity_years: Some(2),
        password: None,
    };
    for (level, cn) in [
        (CaLevel::Root, "Benchmark Root"),
        (CaLevel::Intermediate, "Benchmark Intermediate"),
    ] {
        authority
            .create_ca(&admin, level, ca(cn))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let issuer = store
        .active_ca(CaLevel::Intermediate)
        .await?
        .context("intermediate missing")?
        .id;
    let started = Instant::now();
    store
        .bench_fill_inventory(issuer, certificates, 50_000)
        .await
        .context("filling the inventory")?;
    let fill_secs = started.elapsed().as_secs_f64();
    store.bench_analyze().await?;

    // A name, a serial and a fingerprint that exist, from the middle of the store.
    let middle = store
        .list_certificates(&CertificateFilter {
            search: CertificateSearch::parse(&format!("h{}.inv.test", certificates / 2 + 1)),
            limit: 1,
            ..Default::default()
        })
        .await?
        .items
        .into_iter()
        .next()
        .context("the middle certificate is missing")?;
    let name = middle.common_name.clone();
    let serial_prefix = middle.serial_number.to_hex()[..10].to_string();
    let fingerprint_prefix = middle.fingerprint_sha256[..20].to_string();
    let first_page = store
        .list_certificates(&CertificateFilter {
            limit: 100,
            ..Default::default()
        })
        .await?;
    let filters: Vec<(&str, CertificateFilter)> = vec![
        ("list: newest page", CertificateFilter::default()),
        (
            "list: second page (cursor)",
            CertificateFilter {
                cursor: first_page.next_cursor.clone(),
                ..Default::default()
            },
        ),
        (
            "filter: status=active",
            CertificateFilter {
                status: Some(CertificateStatus::Active),
                ..Default::default()
            },
        ),
        (
            "filter: status=expiring",
            CertificateFilter {
                status: Some(CertificateStatus::Expiring),
                ..Default::default()
            },
        ),
        (
            "filter: status=expired",
            CertificateFilter {
                status: Some(CertificateStatus::Expired),
                ..Default::default()
            },
        ),
        (
            "filter: status=revoked",
            CertificateFilter {
                status: Some(CertificateStatus::Revoked),
                ..Default::default()
            },
        ),
        (
            "filter: service_id",
            CertificateFilter {
                service_id: Some("inv-417".into()),
                ..Default::default()
            },
        ),
        (
            "filter: service_id + status=expired",
            CertificateFilter {
                service_id: Some("inv-417".into()),
                status: Some(CertificateStatus::Expired),
                ..Default::default()
            },
        ),
        (
            "filter: profile",
            CertificateFilter {
                profile: Some("tlsserver".into()),
                ..Default::default()
            },
        ),
        (
            "filter: expires within 7 days",
            CertificateFilter {
                expires_within_days: Some(7),
                ..Default::default()
            },
        ),
        (
            "sort: expiry",
            CertificateFilter {
                by_expiry: true,
                ..Default::default()
            },
        ),
        (
            "search: name (SAN/CN)",
            CertificateFilter {
                search: CertificateSearch::parse(&name.to_uppercase()),
                ..Default::default()
            },
        ),
        (
            "search: serial prefix",
            CertificateFilter {
                search: CertificateSearch::parse(&serial_prefix),
                ..Default::default()
            },
        ),
        (
            "search: fingerprint prefix",
            CertificateFilter {
                search: CertificateSearch::parse(&fingerprint_prefix),
                ..Default::default()
            },
        ),
    ];
    let mut rows: Vec<(String, f64, f64)> = Vec::new();
    let (p50, p99) = time_it(|| store.statistics()).await?;
    rows.push(("health statistics (/api/health)".into(), p50, p99));
    let (p50, p99) = time_it(|| store.issuance_per_day(30)).await?;
    rows.push(("issuance per day, 30 days (overview)".into(), p50, p99));
    for (label, filter) in &filters {
        let filter = CertificateFilter {
            limit: 100,
            ..filter.clone()
        };
        let (p50, p99) = time_it(|| store.list_certificates(&filter)).await?;
        rows.push((format!("{label} (100 rows)"), p50, p99));
    }
    let (p50, p99) = time_it(|| store.audit_page(None, None, None, 100)).await?;
    rows.push(("audit log page".into(), p50, p99));
    // The reference: a full count, as the seed's health check made on every request.
    let t = Instant::now();
    let total = store.bench_count_certificates().await?;
    let full_count_ms = ms(t.elapsed());
    drop(authority);
    let _ = std::fs::remove_dir_all(&tmp);

    let database = if config.database_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let worst = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    let report: Value = json!({
        "certificates": total,
        "database": database,
        "fill_seconds": fill_secs,
        "reference_full_count_ms": full_count_ms,
        "queries": rows.iter().map(|(k, p50, p99)| json!({"query": k, "p50_ms": p50, "p99_ms": p99})).collect::<Vec<_>>(),
        "worst_p99_ms": worst,
    });
    let mut fields: Vec<(String, String)> = vec![
        (
            "Fill".into(),
            format!("{fill_secs:.1} s for {total} certificates"),
        ),
        (
            "Reference: COUNT(*) of every row".into(),
            format!("{full_count_ms:.1} ms"),
        ),
    ];
    for (k, p50, p99) in &rows {
        fields.push((k.clone(), format!("p50 {p50:.2} ms, p99 {p99:.2} ms")));
    }
    fields.push((
        "Worst p99".into(),
        format!(
            "{worst:.2} ms ({:.3} of the full count)",
            worst / full_count_ms.max(0.001)
        ),
    ));
    let mut warnings = Vec::new();
    if worst >= 50.0 {
        warnings.push(format!(
            "a query's p99 is {worst:.1} ms, over the 50 ms target"
        ));
    }
    Ok(Summary {
        heading: format!("Inventory at scale: {total} certificates ({database}), {RUNS} runs each"),
        fields,
        warnings,
        json: report,
    })
}
