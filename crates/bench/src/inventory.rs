//! `vcc-pki bench inventory`: fill a store directly (not over HTTP) with `--certificates N` and
//! time every inventory query the REST API and the dashboard make — health statistics, each
//! filter, each kind of search, a second page — printing p50/p99 of each, next to a full
//! `COUNT(*)` of the same store as the reference (what the seed's health check did per request).
use crate::http::LoadClient;
use crate::spawn::SpawnedServer;
use crate::Summary;
use anyhow::Context;
use bytes::Bytes;
use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::time::{Duration, Instant};
use vcc_pki_store::{CaLevel, CertificateFilter, CertificateSearch, CertificateStatus, Store};

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
    Ok(percentiles(samples))
}

/// (p50, p99) of the samples, milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |p: f64| {
        ms(samples[((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1])
    };
    (at(0.5), at(0.99))
}

async fn measure(certificates: i64, database_url: Option<String>) -> anyhow::Result<Summary> {
    // A real server makes the CAs, is stopped while the store is filled directly, then serves
    // the filled store: its REST lists and dashboard pages are timed over HTTPS next to the
    // store's own queries.
    let extra = match &database_url {
        Some(url) => vec!["--database-url".to_string(), url.clone()],
        None => Vec::new(),
    };
    let mut server = SpawnedServer::start_with(&extra)?;
    server.create_ca("ecdsa-p256", "ecdsa-p256").await?;
    server.stop();
    let store_url = database_url.clone().unwrap_or_else(|| {
        vcc_pki_server::config::ServeConfig::new(server.data_dir()).database_url
    });
    let store = Store::open(&store_url).await.context("opening the store")?;
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
    drop(store);

    server.restart()?;
    let pages = http_pages(
        &server,
        &name,
        &middle.serial_number.to_hex(),
        first_page.next_cursor.as_ref().map(|c| c.to_token()),
    )
    .await?;
    let mut page_rows = Vec::new();
    for (label, path, auth) in &pages.paths {
        let (p50, p99) = pages.time(path, *auth).await?;
        page_rows.push((label.clone(), p50, p99));
    }
    drop(server);

    let database = if store_url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let worst = rows.iter().map(|r| r.2).fold(0.0, f64::max);
    let worst_page = page_rows.iter().map(|r| r.2).fold(0.0, f64::max);
    let report: Value = json!({
        "certificates": total,
        "database": database,
        "fill_seconds": fill_secs,
        "reference_full_count_ms": full_count_ms,
        "queries": rows.iter().map(|(k, p50, p99)| json!({"query": k, "p50_ms": p50, "p99_ms": p99})).collect::<Vec<_>>(),
        "worst_p99_ms": worst,
        "http": page_rows.iter().map(|(k, p50, p99)| json!({"request": k, "p50_ms": p50, "p99_ms": p99})).collect::<Vec<_>>(),
        "worst_http_p99_ms": worst_page,
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
    for (k, p50, p99) in &page_rows {
        fields.push((
            format!("HTTPS {k}"),
            format!("p50 {p50:.2} ms, p99 {p99:.2} ms"),
        ));
    }
    fields.push((
        "Worst HTTPS p99".into(),
        format!(
            "{worst_page:.2} ms ({:.3} of the full count)",
            worst_page / full_count_ms.max(0.001)
        ),
    ));
    let mut warnings = Vec::new();
    if worst >= 50.0 {
        warnings.push(format!(
            "a query's p99 is {worst:.1} ms, over the 50 ms target"
        ));
    }
    if worst_page >= 100.0 {
        warnings.push(format!(
            "a request's p99 is {worst_page:.1} ms, over the 100 ms target of SPEC §11"
        ));
    }
    Ok(Summary {
        heading: format!("Inventory at scale: {total} certificates ({database}), {RUNS} runs each"),
        fields,
        warnings,
        json: report,
    })
}

/// The REST lists and dashboard pages timed over HTTPS, one keep-alive connection, as an
/// operator's browser or a script would ask them; the dashboard with a signed-in session.
struct Pages {
    client: LoadClient,
    bearer: HeaderValue,
    paths: Vec<(String, String, bool)>,
}

impl Pages {
    /// p50/p99 of `GET path` (with the admin token when `auth`), each answer checked for 200.
    async fn time(&self, path: &str, auth: bool) -> anyhow::Result<(f64, f64)> {
        let auth = auth.then_some(&self.bearer);
        let get = || async {
            let answer = self
                .client
                .send(0, Method::GET, path, None, auth, Bytes::new())
                .await
                .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
            if answer.status != StatusCode::OK {
                anyhow::bail!(
                    "GET {path}: {} {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                );
            }
            Ok(())
        };
        get().await?; // warm
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            get().await?;
            samples.push(t.elapsed());
        }
        Ok(percentiles(samples))
    }
}

async fn http_pages(
    server: &SpawnedServer,
    name: &str,
    serial: &str,
    cursor: Option<String>,
) -> anyhow::Result<Pages> {
    let conn = server.connection();
    let token = conn
        .token
        .clone()
        .context("the server wrote no admin token")?;
    let mut client = LoadClient::new(&server.url, &conn, 1, None)?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))?;
    // Wait until the restarted server answers.
    let started = Instant::now();
    loop {
        match client
            .send(
                0,
                Method::GET,
                "/api/health",
                None,
                Some(&bearer),
                Bytes::new(),
            )
            .await
        {
            Ok(a) if a.status == StatusCode::OK => break,
            _ if started.elapsed() > Duration::from_secs(60) => {
                anyhow::bail!(
                    "the restarted server does not answer: {}",
                    server.log_tail()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let login = client
        .send(
            0,
            Method::POST,
            "/ui/login",
            Some("application/x-www-form-urlencoded"),
            None,
            Bytes::from(format!("token={token}")),
        )
        .await
        .map_err(|e| anyhow::anyhow!("signing in to the dashboard: {e}"))?;
    let cookie = login
        .headers
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("the dashboard set no session cookie")?;
    client.set_cookie(HeaderValue::from_str(cookie)?);
    let cursor = cursor.context("the first page has no next cursor")?;
    let rest = |label: &str, query: &str| {
        (
            format!("REST {label}"),
            format!("/api/certificates?limit=100{query}"),
            true,
        )
    };
    let ui = |label: &str, path: String| (format!("UI {label}"), path, false);
    let paths = vec![
        (
            "REST /api/health".to_string(),
            "/api/health".to_string(),
            true,
        ),
        rest("list", ""),
        rest("second page", &format!("&cursor={cursor}")),
        rest("status=expired", "&status=expired"),
        rest("status=revoked", "&status=revoked"),
        rest("service_id", "&service_id=inv-417"),
        rest(
            "service_id + status=expired",
            "&service_id=inv-417&status=expired",
        ),
        rest("profile", "&profile=tlsserver"),
        rest("expires_within_days=7", "&expires_within_days=7"),
        rest("sort=expiry", "&sort=expiry"),
        rest("q=name", &format!("&q={name}")),
        rest("q=serial prefix", &format!("&q={}", &serial[..10])),
        ui("overview", "/ui".into()),
        ui("certificates", "/ui/certificates".into()),
        ui("search by name", format!("/ui/certificates?q={name}")),
        ui("status=expiring", "/ui/certificates?status=expiring".into()),
        ui(
            "service + expired",
            "/ui/certificates?service_id=inv-417&status=expired".into(),
        ),
        ui("certificate detail", format!("/ui/certificates/{serial}")),
        ui("services", "/ui/services".into()),
        ui("tokens", "/ui/tokens".into()),
        ui("audit", "/ui/audit".into()),
        ui("ACME", "/ui/acme".into()),
    ];
    Ok(Pages {
        client,
        bearer,
        paths,
    })
}
