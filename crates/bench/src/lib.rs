//! VCC PKI's benchmarks, run as `vcc-pki bench …` and `vcc-pki bench-revocation`.
//!
//! `bench`: a closed-loop HTTPS load generator for the server's hot paths, reporting throughput,
//! latency percentiles and errors next to the crypto floor of this machine measured in the same
//! run (issue #7). `--spawn` makes it one reproducible command: a throwaway server with a fresh
//! CA, benchmarked and stopped. `bench-revocation` ([`revocation`]): revocation and CRLs at scale,
//! through the server's own authority on a store filled directly.
//!
//! The crate measures and returns a [`Summary`]; the CLI prints it.
mod acme;
mod floor;
mod http;
pub mod inventory;
mod load;
mod report;
pub mod revocation;
mod scenario;
mod softhsm;
mod spawn;

use anyhow::{anyhow, bail, Context};
use scenario::{PlanOptions, Scenario, Target};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vcc_pki_client::{AdminClient, ServerTrust};
use vcc_pki_core::KeyType;

/// Where the load goes and how the server is trusted (the CLI resolves these from its flags).
/// No `Debug`: it carries the admin token.
#[derive(Clone)]
pub struct Connection {
    /// `https://host:port`.
    pub server: String,
    /// The admin token (issuing and revoking scenarios need one).
    pub token: Option<String>,
    /// PEM files of the CA certificates the server's certificate chains to. The bench verifies
    /// the server as its clients would: there is no "do not verify".
    pub trust_anchors: Vec<PathBuf>,
}

impl Connection {
    /// The concatenated PEM of the trust anchors.
    fn trust_pem(&self) -> anyhow::Result<Vec<u8>> {
        let mut pem = Vec::new();
        for path in &self.trust_anchors {
            pem.extend(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
            pem.push(b'\n');
        }
        if pem.is_empty() {
            bail!(
                "no CA to trust the server with: --ca-bundle, or --data-dir of the server's host"
            );
        }
        Ok(pem)
    }

    /// The typed admin client of this server (preparation and statistics, not the load).
    fn admin(&self) -> anyhow::Result<AdminClient> {
        let trust = ServerTrust::Pem(self.trust_pem()?);
        Ok(match &self.token {
            Some(token) => AdminClient::new(&self.server, token, trust)?,
            None => AdminClient::anonymous(&self.server, trust)?,
        })
    }
}

/// A finished benchmark as the CLI shows it: the JSON document (`--output json`), or a heading,
/// its fields and warnings.
#[derive(Debug, Clone)]
pub struct Summary {
    pub json: Value,
    pub heading: String,
    pub fields: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

const EXAMPLES: &str = "Examples:
  vcc-pki bench issue-csr --spawn --ca-key ecdsa-p256          # throwaway server, P-256 CA, 64 clients, 10 s
  vcc-pki bench issue-csr --spawn --ca-key rsa-2048 --csr-key rsa-2048
  vcc-pki bench renew --server https://pki.internal:8443 --token vccadm_… --ca-bundle root.crt
  vcc-pki bench crl --spawn --concurrency 16 --duration 5 --output json
  vcc-pki bench acme --spawn --concurrency 8                   # complete ACME orders per second";

#[derive(clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct BenchArgs {
    /// What to load.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Concurrent clients (each with its own keep-alive connection).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (opens the connections, warms caches).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Key type of the pre-generated CSRs (issue-csr).
    #[arg(long, default_value = "ecdsa-p256", value_parser = parse_key_type)]
    csr_key: KeyType,
    /// Start a throwaway server (`vcc-pki serve --port 0`, temp data dir) with a fresh CA, and stop it after.
    #[arg(long)]
    spawn: bool,
    /// With --spawn: the intermediate CA's key type (the key that signs every certificate).
    #[arg(long, default_value = "ecdsa-p256", value_parser = parse_key_type)]
    ca_key: KeyType,
    /// With --spawn: make the intermediate's key in this PKCS#11 token (RFC 7512 URI); the crypto
    /// floor is then the token's own signing rate, measured through the same module.
    #[arg(long, value_name = "PKCS11_URI", conflicts_with = "softhsm")]
    ca_key_uri: Option<String>,
    /// With --spawn: a throwaway SoftHSM2 token (Debian softhsm2) holds the intermediate's key.
    #[arg(long)]
    softhsm: bool,
    /// With --spawn: the root CA's key type [default: the --ca-key type].
    #[arg(long, value_parser = parse_key_type)]
    root_key: Option<KeyType>,
    /// revoke: certificates pre-issued (each request revokes one; the run ends early when all are).
    #[arg(long, default_value_t = 10_000)]
    pool: usize,
    /// Seconds each crypto-floor measurement runs.
    #[arg(long, default_value_t = 1.0)]
    floor_secs: f64,
    /// ocsp and crl: send the load to the plain-HTTP listener, as RFC 5019 clients and CRL
    /// fetchers do (`http://` URLs in AIA and CRL DP), not to HTTPS. With --spawn the spawned
    /// server's listener; otherwise give its base URL with --http-url.
    #[arg(long)]
    plain_http: bool,
    /// Base URL of the server's plain-HTTP listener (serve --http-port), for --plain-http.
    #[arg(long)]
    http_url: Option<String>,
    /// Send over HTTP/2 (ALPN h2) on this many connections, the clients multiplexed over them,
    /// instead of one HTTP/1.1 keep-alive connection per client.
    #[arg(long, value_name = "CONNECTIONS")]
    http2: Option<usize>,
    /// inventory: certificates written straight into the store before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    certificates: i64,
    /// inventory: the store (default: SQLite in a temporary directory).
    #[arg(long)]
    database_url: Option<String>,
}

impl BenchArgs {
    /// Whether the run starts its own server (`--spawn`).
    pub fn spawns(&self) -> bool {
        self.spawn
    }

    /// Whether the run needs no server at all (`inventory` opens a store itself).
    pub fn in_process(&self) -> bool {
        self.scenario == Scenario::Inventory
    }
}

fn parse_key_type(s: &str) -> Result<KeyType, String> {
    KeyType::parse(s).map_err(|e| e.to_string())
}

/// Run `vcc-pki bench`: against `server`, or with `--spawn` against a throwaway server.
pub fn run(args: BenchArgs, server: Option<Connection>) -> anyhow::Result<Summary> {
    if args.concurrency == 0 || args.concurrency > 10_000 {
        bail!("--concurrency must be between 1 and 10000");
    }
    let duration_ok = args.duration > 0.0 && args.duration <= 3600.0;
    if !duration_ok || !(0.0..=600.0).contains(&args.warmup) {
        bail!("--duration must be in (0, 3600] seconds and --warmup in [0, 600]");
    }
    if args.http2.is_some_and(|n| n == 0 || n > args.concurrency) {
        bail!("--http2 takes the number of connections, 1 to --concurrency");
    }
    if args.plain_http && args.http2.is_some() {
        bail!("--http2 is for HTTPS (h2 by ALPN); leave it out with --plain-http");
    }
    if args.plain_http && !matches!(args.scenario, Scenario::Ocsp | Scenario::Crl) {
        bail!("--plain-http is for the ocsp and crl scenarios (the API is HTTPS only)");
    }
    if args.scenario == Scenario::Inventory {
        return inventory::run(args.certificates, args.database_url.clone());
    }
    if args.scenario == Scenario::Acme {
        if server.is_some() {
            bail!("bench acme runs with --spawn only (leave out --server)");
        }
        return acme::run(&args);
    }
    if args.spawn == server.is_some() {
        bail!("--spawn starts its own server; leave out --server (or VCC_PKI_SERVER), or give one without --spawn");
    }
    if (args.softhsm || args.ca_key_uri.is_some()) && !args.spawn {
        bail!("--softhsm and --ca-key-uri make the CA of a spawned server: add --spawn");
    }
    // Before the server starts: it inherits SOFTHSM2_CONF.
    let softhsm = if args.softhsm {
        Some(softhsm::ThrowawayToken::create()?)
    } else {
        None
    };
    let ca_key_uri = softhsm
        .as_ref()
        .map(|t| t.uri.clone())
        .or_else(|| args.ca_key_uri.clone());
    let spawned = if args.spawn {
        Some(spawn::SpawnedServer::start()?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(bench(
        &args,
        server,
        spawned.as_ref(),
        ca_key_uri.as_deref(),
    ));
    let report = match (report, &spawned) {
        (Err(e), Some(s)) if !s.alive() => {
            return Err(e.context(format!(
                "the spawned server died; its log: {}",
                s.log_tail()
            )))
        }
        (r, _) => r?,
    };
    drop(spawned);
    Ok(report::summary(&report))
}

async fn bench(
    args: &BenchArgs,
    server: Option<Connection>,
    spawned: Option<&spawn::SpawnedServer>,
    ca_key_uri: Option<&str>,
) -> anyhow::Result<report::Report> {
    let scenario = args.scenario;
    let mut rss = report::ServerRss::default();
    let conn = match spawned {
        Some(s) => {
            s.create_ca_in(
                args.root_key.unwrap_or(args.ca_key).as_str(),
                args.ca_key.as_str(),
                ca_key_uri,
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            rss.idle = Some(s.rss()?);
            s.connection()
        }
        None => server.context("no server to benchmark: --server, or --spawn")?,
    };
    // Built after the CA exists, so a spawned server's fresh root.crt is trusted.
    let admin = conn.admin()?;
    let base = conn.server.trim_end_matches('/').to_string();
    let http = Arc::new(http::LoadClient::new(
        &base,
        &conn,
        args.concurrency,
        args.http2,
    )?);

    let info = admin
        .ca_info()
        .await
        .context("reading the CA's key types (GET /api/ca/info)")?;
    let ca_key = info
        .intermediate
        .map(|i| i.key_type)
        .context("the server has no intermediate CA: create one (`vcc-pki ca create-intermediate`) or use --spawn")?;
    let ca_key = KeyType::parse(&ca_key).map_err(|e| anyhow!("intermediate key type: {e}"))?;
    if conn.token.is_none() && !matches!(scenario, Scenario::Crl | Scenario::Ocsp) {
        bail!("{} needs an admin token: --token, VCC_PKI_TOKEN, or <data-dir>/admin.token on the server's host", scenario.name());
    }
    let target = Target {
        admin,
        http,
        conn,
        workers: args.concurrency,
        base,
    };

    let plain_http_base = if args.plain_http {
        let url = args
            .http_url
            .clone()
            .or_else(|| spawned.and_then(|s| s.http_url.clone()))
            .context("--plain-http needs --spawn or --http-url http://HOST:PORT")?;
        Some(url.trim_end_matches('/').to_string())
    } else {
        None
    };
    let options = PlanOptions {
        concurrency: args.concurrency,
        csr_key: args.csr_key,
        pool: args.pool.max(1),
        plain_http_base,
    };
    let plan = Arc::new(scenario::prepare(scenario, &target, &options).await?);
    plan.probe(scenario).await?;

    let work = match scenario {
        Scenario::IssueCsr => Some(floor::Work {
            sign: ca_key,
            sign_uri: ca_key_uri.map(str::to_string),
            verify: Some(args.csr_key),
            keygen: None,
        }),
        Scenario::IssueKeygen => Some(floor::Work {
            sign: ca_key,
            sign_uri: ca_key_uri.map(str::to_string),
            verify: None,
            keygen: Some(scenario::KEYGEN_KEY_TYPE),
        }),
        Scenario::Renew => Some(floor::Work {
            sign: ca_key,
            sign_uri: ca_key_uri.map(str::to_string),
            verify: None,
            keygen: None,
        }),
        // No signature per request: revocation is a durable write (the CRL is rebuilt in the
        // background), the CRL and OCSP answers are pre-signed.
        Scenario::Revoke
        | Scenario::Crl
        | Scenario::Ocsp
        | Scenario::Acme
        | Scenario::Inventory => None,
    };
    let floor_secs = args.floor_secs;
    let floor = match work {
        Some(work) => Some(
            tokio::task::spawn_blocking(move || floor::measure(&work, floor_secs))
                .await
                .map_err(|e| anyhow!("floor measurement: {e}"))??,
        ),
        None => None,
    };

    let op = {
        let plan = plan.clone();
        move |w: usize, i: u64| {
            let plan = plan.clone();
            async move { plan.execute(w, i).await }
        }
    };
    if args.warmup > 0.0 {
        // revoke: the warm-up may use a fifth of the pool, the measured run the rest.
        plan.limit_pool(5);
        load::run(
            args.concurrency,
            Duration::from_secs_f64(args.warmup),
            op.clone(),
        )
        .await?;
    }
    plan.limit_pool(1);
    let before = statistics(&target.admin).await;
    if let Some(s) = spawned {
        rss.before_run = Some(s.rss()?);
    }
    let result = load::run(args.concurrency, Duration::from_secs_f64(args.duration), op).await?;
    let after = statistics(&target.admin).await;
    if let Some(s) = spawned {
        rss.after_run = Some(s.rss()?);
    }
    let delta = |key: &str| -> Option<i64> {
        Some(after.as_ref()?.get(key)?.as_i64()? - before.as_ref()?.get(key)?.as_i64()?)
    };
    let ratio_percent = floor
        .as_ref()
        .map(|f| 100.0 * result.requests_per_second / f.floor_per_second);
    Ok(report::Report {
        scenario: scenario.name(),
        // The base the load went to: the plain-HTTP listener with --plain-http.
        server: options
            .plain_http_base
            .clone()
            .unwrap_or_else(|| target.base.clone()),
        spawned: spawned.is_some(),
        concurrency: args.concurrency,
        duration_s: args.duration,
        warmup_s: args.warmup,
        ca_key_type: ca_key.as_str().into(),
        csr_key_type: (scenario == Scenario::IssueCsr).then(|| args.csr_key.as_str().into()),
        machine: report::Machine::detect(),
        protocol: protocol(plan.version.get(), args),
        prepared: plan.notes.iter().cloned().collect(),
        issued: delta("certificates_total"),
        revoked: delta("certificates_revoked"),
        load: result,
        floor,
        ratio_percent,
        server_rss: spawned.map(|_| rss),
    })
}

/// "HTTP/2.0 over 2 connections": the version the server answered in (ALPN decides for HTTPS).
fn protocol(version: Option<&hyper::Version>, args: &BenchArgs) -> String {
    let connections = match (version, args.http2) {
        (Some(&hyper::Version::HTTP_2), Some(n)) => n,
        _ => args.concurrency,
    };
    match version {
        Some(v) => format!("{v:?} over {connections} keep-alive connections"),
        None => "no answer".into(),
    }
}

/// The server's certificate counts (GET /api/health), to check that every request stored one.
async fn statistics(admin: &AdminClient) -> Option<Value> {
    admin
        .health()
        .await
        .ok()
        .and_then(|h| h.get("statistics").cloned())
        .filter(|s| !s.is_null())
}
