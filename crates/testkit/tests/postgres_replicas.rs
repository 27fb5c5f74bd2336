//! Several `vcc-pki serve` replicas over one PostgreSQL database (SPEC §7, issue #5). These tests
//! always need PostgreSQL: they fail, never skip, when it cannot be reached.
use serde_json::json;
use std::collections::HashSet;
use vcc_pki_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_database_without_losing_anything() {
    let db = new_postgres_database();
    let a = TestServer::start_on(Some(PASSWORD), &db, None, true);
    a.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // The second replica finds the CA in the database and unlocks it with the same password.
    let b = TestServer::start_on(Some(PASSWORD), &db, Some(&a.token), false);
    std::fs::copy(a.data_dir().join("root.crt"), b.data_dir().join("root.crt")).unwrap();
    let (s, info) = b.admin("GET", "/api/ca/info", None).await;
    assert_eq!(s, 200);
    assert_eq!(info["sealed"], false);

    // 2 × 500 issuances, 16 in flight per replica; every 5th certificate is revoked through the other replica.
    const PER_REPLICA: usize = 500;
    let mut tasks = Vec::new();
    for (r, server) in [&a, &b].into_iter().enumerate() {
        let other = if r == 0 { &b } else { &a };
        for lane in 0..16 {
            let (client, url, token) = (server.client(), server.url.clone(), server.token.clone());
            let (other_client, other_url) = (other.client(), other.url.clone());
            tasks.push(tokio::spawn(async move {
                let mut issued = Vec::new();
                let mut revoked = Vec::new();
                for i in (lane..PER_REPLICA).step_by(16) {
                    let service = format!("svc-{r}-{}", i % 20);
                    let resp = client
                        .post(format!("{url}/api/certificates/issue"))
                        .bearer_auth(&token)
                        .json(&json!({"service_id": service, "common_name": format!("{service}.internal")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 201);
                    let body: serde_json::Value = resp.json().await.unwrap();
                    let serial = body["serial_number"].as_str().unwrap().to_string();
                    if i % 5 == 0 {
                        let resp = other_client
                            .post(format!("{other_url}/api/certificates/revoke"))
                            .bearer_auth(&token)
                            .json(&json!({"serial_number": serial, "reason": "superseded"}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(resp.status(), 200);
                        revoked.push(serial.clone());
                    }
                    issued.push(serial);
                }
                (issued, revoked)
            }));
        }
    }
    let mut issued = Vec::new();
    let mut revoked = Vec::new();
    for t in tasks {
        let (i, r) = t.await.unwrap();
        issued.extend(i);
        revoked.extend(r);
    }
    assert_eq!(issued.len(), 2 * PER_REPLICA);
    assert_eq!(
        issued.iter().collect::<HashSet<_>>().len(),
        issued.len(),
        "duplicate serial handed out"
    );
    let (distinct, total) = {
        let row = a.sql("SELECT COUNT(DISTINCT serial_number), COUNT(*) FROM certificates WHERE service_id LIKE 'svc-%'");
        let (d, t) = row.split_once('|').unwrap();
        (d.parse::<usize>().unwrap(), t.parse::<usize>().unwrap())
    };
    assert_eq!((distinct, total), (2 * PER_REPLICA, 2 * PER_REPLICA));

    // The next CRL, whichever replica makes it and whichever serves it, lists every revocation.
    let (s, crl) = b.admin("POST", "/api/crl/generate", None).await;
    assert_eq!(s, 200, "{crl}");
    for server in [&a, &b] {
        let der = server
            .client()
            .get(format!("{}/crl", server.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let path = write(server.dir.path(), "crl.der", &der);
        let (ok, text) = run(
            "openssl",
            &["crl", "-inform", "DER", "-in", &path, "-noout", "-text"],
        );
        assert!(ok, "{text}");
        let text = text.to_uppercase();
        let missing: Vec<&String> = revoked
            .iter()
            .filter(|s| !text.contains(&s.to_uppercase()))
            .collect();
        assert!(
            missing.is_empty(),
            "{} revoked serials missing from the CRL served by {}",
            missing.len(),
            server.url
        );
    }
    // CRL numbers strictly increase in the order the CRLs were made, across both replicas.
    let numbers: Vec<i64> = a
        .sql("SELECT crl_number FROM crl_history ORDER BY id")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        numbers.len() > 2 && numbers.windows(2).all(|w| w[1] > w[0]),
        "{numbers:?}"
    );
    // Scheduled work has one holder.
    let holders = a.sql("SELECT COUNT(DISTINCT holder) FROM scheduler_leases WHERE name = 'crl'");
    assert!(holders == "1" || holders == "0", "{holders}");
    // The audit chain, appended to by both replicas, is intact.
    let (s, v) = b.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
    assert!(v["rows"].as_i64().unwrap() > 1100);
}

/// OCSP across replicas: a certificate issued through A has its `good` response pre-signed and
/// cached on A; revoked through B, A's responder must answer `revoked` within seconds (A follows
/// revocations in the shared database), checked with `openssl ocsp` against A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ocsp_on_one_replica_follows_a_revocation_through_the_other() {
    let db = new_postgres_database();
    let a = TestServer::start_on(Some(PASSWORD), &db, None, true);
    a.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let b = TestServer::start_on(Some(PASSWORD), &db, Some(&a.token), false);
    let (s, issued) = a
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "ledger", "common_name": "ledger.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let dir = a.dir.path();
    let root = write(dir, "root.pem", a.root_pem());
    let inter = write(
        dir,
        "inter.pem",
        first_pem(issued["ca_chain_pem"].as_str().unwrap()),
    );
    let leaf = write(dir, "leaf.pem", issued["certificate_pem"].as_str().unwrap());
    let request = dir.join("req.der").to_str().unwrap().to_string();
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &inter,
            "-cert",
            &leaf,
            "-no_nonce",
            "-reqout",
            &request,
        ],
    );
    assert!(ok, "{out}");
    let ask_a = || async {
        let der = a
            .client()
            .post(format!("{}/ocsp", a.url))
            .header("content-type", "application/ocsp-request")
            .body(std::fs::read(&request).unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let path = write(dir, "resp.der", &der);
        let (ok, out) = run(
            "openssl",
            &[
                "ocsp",
                "-respin",
                &path,
                "-issuer",
                &inter,
                "-cert",
                &leaf,
                "-CAfile",
                &root,
                "-no_nonce",
            ],
        );
        assert!(ok && out.contains("Response verify OK"), "{out}");
        out
    };
    assert!(ask_a().await.contains("leaf.pem: good"));

    let (s, body) = b
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": issued["serial_number"], "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let started = std::time::Instant::now();
    let mut last = String::new();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        last = ask_a().await;
        if last.contains("leaf.pem: revoked") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        last.contains("leaf.pem: revoked") && last.contains("Reason: keyCompromise"),
        "replica A still answers: {last}"
    );
}

/// The normal deployment: start the replicas, then create the CA through one of them. The other
/// replica loads it from the database within 5 s, answers over a TLS certificate issued by the new
/// intermediate, and issues certificates that chain to the root; a replica without the password
/// loads it sealed and stays sealed until unlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_a_ca_created_through_one_is_used_by_the_other_within_5_s() {
    let db = new_postgres_database();
    let a = TestServer::start_on(Some(PASSWORD), &db, None, true);
    let b = TestServer::start_on(Some(PASSWORD), &db, Some(&a.token), false);
    let sealed = TestServer::start_on(None, &db, Some(&a.token), false);
    // B has no CA yet.
    let (s, p) = b
        .send(
            &b.bootstrap_client(),
            "POST",
            "/api/certificates/issue",
            Some(&b.token),
            Some(json!({"service_id": "early", "common_name": "early.internal"})),
        )
        .await;
    assert_eq!(s, 409, "{p}");

    a.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let created = std::time::Instant::now();
    // Trust only the new root: B must serve a certificate from the new intermediate to answer.
    let root = reqwest::Certificate::from_pem(a.root_pem().as_bytes()).unwrap();
    let strict = reqwest::Client::builder()
        .tls_certs_only([root])
        .build()
        .unwrap();
    let issued = loop {
        let attempt = strict
            .post(format!("{}/api/certificates/issue", b.url))
            .bearer_auth(&b.token)
            .json(&json!({"service_id": "late", "common_name": "late.internal"}))
            .send()
            .await;
        if let Ok(resp) = attempt {
            if resp.status() == 201 {
                break resp.json::<serde_json::Value>().await.unwrap();
            }
        }
        assert!(
            created.elapsed() < std::time::Duration::from_secs(5),
            "replica B did not use the CA created through A within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let dir = tempfile::tempdir().unwrap();
    let root_file = write(dir.path(), "root.pem", a.root_pem());
    let chain = write(
        dir.path(),
        "chain.pem",
        issued["ca_chain_pem"].as_str().unwrap(),
    );
    let leaf = write(
        dir.path(),
        "leaf.pem",
        issued["certificate_pem"].as_str().unwrap(),
    );
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            &root_file,
            "-untrusted",
            &chain,
            &leaf,
        ],
    );
    assert!(ok, "{out}");

    // The replica without a password sees the CA, sealed, and refuses to sign until unlocked.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (s, info) = sealed
            .send(
                &sealed.bootstrap_client(),
                "GET",
                "/api/ca/info",
                None,
                None,
            )
            .await;
        assert_eq!(s, 200, "{info}");
        if info["intermediate"].is_object() {
            assert_eq!(info["sealed"], true, "{info}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sealed replica never saw the CA: {info}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, p) = sealed
        .send(
            &sealed.bootstrap_client(),
            "POST",
            "/api/certificates/issue",
            Some(&sealed.token),
            Some(json!({"service_id": "sealed", "common_name": "sealed.internal"})),
        )
        .await;
    assert_eq!(s, 503, "{p}");
    let (s, p) = sealed
        .send(
            &sealed.bootstrap_client(),
            "POST",
            "/api/ca/unlock",
            Some(&sealed.token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    let (s, p) = sealed
        .send(
            &sealed.bootstrap_client(),
            "POST",
            "/api/certificates/issue",
            Some(&sealed.token),
            Some(json!({"service_id": "sealed", "common_name": "sealed.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
}

/// A TCP forwarder that sends each new connection to the next backend in turn (a load
/// balancer with no affinity); counts connections per backend.
async fn alternating_proxy(
    backends: Vec<std::net::SocketAddr>,
) -> (u16, std::sync::Arc<Vec<std::sync::atomic::AtomicUsize>>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = std::sync::Arc::new(
        backends
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let seen = counts.clone();
    tokio::spawn(async move {
        let mut next = 0usize;
        while let Ok((mut inbound, _)) = listener.accept().await {
            let i = next % backends.len();
            next += 1;
            seen[i].fetch_add(1, Ordering::SeqCst);
            let target = backends[i];
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (port, counts)
}

mod acme_support;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_serve_one_acme_flow_alternately() {
    let db = new_postgres_database();
    let responder = acme_support::Http01Responder::start().await;
    let args = vec!["--acme-http-port".to_string(), responder.port.to_string()];
    let a = TestServer::start_on_with(Some(PASSWORD), &db, None, true, args.clone());
    a.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let b = TestServer::start_on_with(Some(PASSWORD), &db, Some(&a.token), false, args);
    std::fs::copy(a.data_dir().join("root.crt"), b.data_dir().join("root.crt")).unwrap();
    // B must serve a certificate from the shared intermediate before the client trusts it.
    let (s, _) = b.admin("GET", "/api/ca/info", None).await;
    assert_eq!(s, 200);
    let addr = |s: &TestServer| {
        s.url
            .trim_start_matches("https://")
            .parse::<std::net::SocketAddr>()
            .unwrap()
    };
    let (port, counts) = alternating_proxy(vec![addr(&a), addr(&b)]).await;
    let root = reqwest::Certificate::from_pem(a.root_pem().as_bytes()).unwrap();
    // One connection per request, so that consecutive requests go to different replicas.
    let http = reqwest::Client::builder()
        .tls_certs_only([root])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let mut client = acme_support::RawAcme::new(http, &base);
    client.new_account().await;
    let (order_url, order) = client
        .ready_order(json!([{"type": "dns", "value": "localhost"}]), &responder)
        .await;
    let (csr, _) = acme_support::csr_for(&["localhost"]);
    let finalized = client.finalize(&order, &csr).await;
    assert_eq!(finalized.status, 200, "{}", finalized.text);
    let chain = client.certificate(&order_url).await;
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    let used: Vec<usize> = counts
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    assert!(
        used.iter().all(|n| *n >= 5),
        "both replicas served the flow: {used:?}"
    );
    // A nonce handed out by one replica is refused by the other once it was used.
    let nonce = client.nonce().await;
    let url = client.url("new-account");
    let body = client.jws(
        &url,
        Some(&json!({"onlyReturnExisting": true})),
        &nonce,
        true,
    );
    let once = client
        .send(&url, body.clone(), "application/jose+json")
        .await;
    assert_eq!(once.status, 200, "{}", once.text);
    let twice = client.send(&url, body, "application/jose+json").await;
    assert_eq!(twice.problem(), "badNonce", "{}", twice.text);
    let (status, verified) = a.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(status, 200);
    assert_eq!(verified["intact"], true, "{verified}");
}

/// A replica that dies between a revocation's commit and its shard's CRL rebuild (issue 18): the
/// revocation is acknowledged, so another replica's CRL for that shard must list it within 60 s.
/// Replica A is started with `VCC_PKI_FAULT_SKIP_CRL_MARK=1`, so it never schedules the rebuild
/// (as if killed in that window), and is then killed with SIGKILL; B learns of the revocation
/// only from the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_a_revocation_whose_replica_died_is_listed_by_the_other() {
    let db = new_postgres_database();
    let shards = vec![
        "--public-url".to_string(),
        "http://127.0.0.1:9".to_string(),
        "--crl-shards".to_string(),
        "4".to_string(),
    ];
    let mut a = TestServer::start_on_with_env(
        Some(PASSWORD),
        &db,
        None,
        true,
        shards.clone(),
        &[("VCC_PKI_FAULT_SKIP_CRL_MARK", "1")],
    );
    a.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let b = TestServer::start_on_with(Some(PASSWORD), &db, Some(&a.token), false, shards);
    let (s, issued) = a
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "ledger", "common_name": "ledger.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let serial = issued["serial_number"].as_str().unwrap().to_string();
    let shard: i64 = a
        .sql(&format!(
            "SELECT crl_shard FROM certificates WHERE serial_number = '{serial}'"
        ))
        .parse()
        .unwrap();
    let dir = b.dir.path();
    let chain = write(
        dir,
        "chain.pem",
        format!(
            "{}{}",
            first_pem(issued["ca_chain_pem"].as_str().unwrap()),
            a.root_pem()
        ),
    );
    // The shard's CRL as B serves it: its DER, verified against the chain, as text.
    let shard_crl = || async {
        let resp = b
            .client()
            .get(format!("{}/crl/{shard}", b.url))
            .send()
            .await
            .unwrap();
        if resp.status() != 200 {
            return None;
        }
        let path = write(dir, "shard.crl", resp.bytes().await.unwrap());
        let (ok, text) = run(
            "openssl",
            &[
                "crl", "-inform", "DER", "-in", &path, "-CAfile", &chain, "-noout", "-text",
            ],
        );
        assert!(ok && text.contains("verify OK"), "{text}");
        Some(text.to_uppercase())
    };
    // Both replicas' start-up rebuilds have made the shard's CRL before the revocation.
    let started = std::time::Instant::now();
    while shard_crl().await.is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let before: i64 = a
        .sql("SELECT COALESCE(MAX(crl_number), 0) FROM crl_history")
        .parse()
        .unwrap();

    let (s, body) = a
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial, "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    a.kill();
    let revoked_at = std::time::Instant::now();
    let want = serial.to_uppercase();
    loop {
        if shard_crl().await.is_some_and(|text| text.contains(&want)) {
            break;
        }
        assert!(
            revoked_at.elapsed() < std::time::Duration::from_secs(60),
            "60 s after the revocation, B's CRL for shard {shard} does not list {serial}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let after: i64 = b
        .sql("SELECT COALESCE(MAX(crl_number), 0) FROM crl_history")
        .parse()
        .unwrap();
    assert!(after > before, "no new CRL was made");
    println!(
        "shard {shard} relisted by the other replica {:.1} s after the revocation",
        revoked_at.elapsed().as_secs_f64()
    );
}
