//! `vcc-pki bench acme --spawn`: complete ACME orders per second, each one newOrder →
//! authorization → http-01 validation against a responder in this process → finalize →
//! certificate download, by instant-acme clients (one account each), next to the crypto floor
//! of the same run (one CA signature and one CSR check per order).
use crate::load::{self, Outcome};
use crate::report::{self, Machine, Report, ServerRss};
use crate::{floor, spawn, BenchArgs, Summary};
use anyhow::{anyhow, bail, Context};
use axum::extract::{Path, State};
use axum::routing::get;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use vcc_pki_core::KeyType;

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// The http-01 responder the spawned server validates against. It listens on every address so
/// that each order can name its own loopback address (127.x.y.z): no authorization is reused.
async fn responder() -> anyhow::Result<(u16, Tokens)> {
    let tokens: Tokens = Default::default();
    async fn answer(State(t): State<Tokens>, Path(token): Path<String>) -> String {
        t.lock()
            .map(|m| m.get(&token).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
    let app = axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .with_state(tokens.clone());
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((port, tokens))
}

/// The loopback address of order `n` of worker `w` (127.0.0.1 is left alone).
fn address(w: usize, n: u64) -> IpAddr {
    let k = (w as u64) * 1_000_000 + n + 2;
    IpAddr::V4(Ipv4Addr::new(
        127,
        ((k >> 16) & 0xff) as u8,
        ((k >> 8) & 0xff) as u8,
        (k & 0xff) as u8,
    ))
}

async fn one_order(account: &Account, tokens: &Tokens, ip: IpAddr) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(5))
        .backoff(1.5)
        .timeout(Duration::from_secs(30));
    let identifiers = [Identifier::Ip(ip)];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(|e| fail("newOrder", &e))?;
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.map_err(|e| fail("authorization", &e))?;
            if authz.status == AuthorizationStatus::Valid {
                continue;
            }
            let mut challenge = authz
                .challenge(ChallengeType::Http01)
                .ok_or("no http-01 challenge")?;
            if let Ok(mut t) = tokens.lock() {
                t.insert(
                    challenge.token.clone(),
                    challenge.key_authorization().as_str().to_string(),
                );
            }
            challenge
                .set_ready()
                .await
                .map_err(|e| fail("challenge", &e))?;
        }
    }
    match order.poll_ready(&retry).await {
        Ok(OrderStatus::Ready) => {}
        Ok(other) => return Err(format!("order {other:?}, not ready")),
        Err(e) => return Err(fail("poll", &e)),
    }
    order.finalize().await.map_err(|e| fail("finalize", &e))?;
    let chain = order
        .poll_certificate(&retry)
        .await
        .map_err(|e| fail("certificate", &e))?;
    if !chain.contains("BEGIN CERTIFICATE") {
        return Err("the certificate download is not PEM".into());
    }
    Ok(())
}

/// An HTTPS client for instant-acme trusting `root_pem`, with TCP_NODELAY: instant-acme's own
/// client leaves Nagle on, and each small request then waits out the peer's delayed ACK (~40 ms)
/// — a client artefact (certbot, lego and reqwest set NODELAY), not the server's cost.
fn nodelay_client(root_pem: &[u8]) -> anyhow::Result<Box<dyn instant_acme::HttpClient>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem) {
        roots.add(cert.map_err(|e| anyhow!("root certificate: {e}"))?)?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, instant_acme::BodyWrapper<bytes::Bytes>>(https);
    Ok(Box::new(client))
}

pub fn run(args: &BenchArgs) -> anyhow::Result<Summary> {
    if !args.spawn {
        bail!(
            "bench acme needs --spawn: the server must validate against this process's own \
             http-01 responder"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

async fn bench(args: &BenchArgs) -> anyhow::Result<Summary> {
    let (port, tokens) = responder().await?;
    let server = spawn::SpawnedServer::start_with(&[
        "--acme-http-port".into(),
        port.to_string(),
        // The bench makes far more orders than an hour's default allows.
        "--acme-new-orders-per-hour".into(),
        "100000000".into(),
    ])?;
    let root_key = args.root_key.unwrap_or(args.ca_key);
    server
        .create_ca(root_key.as_str(), args.ca_key.as_str())
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rss = ServerRss {
        idle: Some(server.rss()?),
        ..Default::default()
    };
    let root = std::fs::read(server.data_dir().join("root.crt"))
        .context("the spawned server's root.crt")?;
    let directory = format!("{}/acme/directory", server.url);
    let mut accounts = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (account, _) = Account::builder_with_http(nodelay_client(&root)?)
            .create(
                &NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                directory.clone(),
                None,
            )
            .await
            .map_err(|e| anyhow!("newAccount: {e}"))?;
        accounts.push(account);
    }
    let accounts = Arc::new(accounts);
    let floor_secs = args.floor_secs;
    let work = floor::Work {
        sign_uri: None,
        sign: args.ca_key,
        verify: Some(KeyType::EcdsaP256),
        keygen: None,
    };
    let floor = tokio::task::spawn_blocking(move || floor::measure(&work, floor_secs))
        .await
        .map_err(|e| anyhow!("floor measurement: {e}"))??;
    let op = {
        let accounts = accounts.clone();
        let tokens = tokens.clone();
        move |w: usize, i: u64| {
            let accounts = accounts.clone();
            let tokens = tokens.clone();
            async move {
                match one_order(&accounts[w], &tokens, address(w, i)).await {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Err(e),
                }
            }
        }
    };
    if args.warmup > 0.0 {
        // Warm-up orders use addresses of their own (iterations from 500 000 on).
        let warm = {
            let op = op.clone();
            move |w: usize, i: u64| op(w, 500_000 + i)
        };
        load::run(args.concurrency, Duration::from_secs_f64(args.warmup), warm).await?;
    }
    rss.before_run = Some(server.rss()?);
    let result = load::run(args.concurrency, Duration::from_secs_f64(args.duration), op).await?;
    rss.after_run = Some(server.rss()?);
    let ratio_percent = Some(100.0 * result.requests_per_second / floor.floor_per_second);
    let mut prepared = BTreeMap::new();
    prepared.insert(
        "Orders".to_string(),
        "each: newOrder for a fresh 127.x.y.z, http-01 validated by the server against this \
         process, finalize with a new P-256 CSR, download; one ACME account per client"
            .to_string(),
    );
    let report = Report {
        scenario: "acme",
        server: server.url.clone(),
        spawned: true,
        concurrency: args.concurrency,
        duration_s: args.duration,
        warmup_s: args.warmup,
        ca_key_type: args.ca_key.as_str().into(),
        csr_key_type: Some(KeyType::EcdsaP256.as_str().into()),
        machine: Machine::detect(),
        protocol: "instant-acme over hyper with TCP_NODELAY (HTTP/1.1 or h2 by ALPN)".into(),
        prepared,
        issued: None,
        revoked: None,
        load: result,
        floor: Some(floor),
        ratio_percent,
        server_rss: Some(rss),
    };
    drop(server);
    Ok(report::summary(&report))
}
