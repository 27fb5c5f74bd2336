//! kill -9 of the server during 1 000 concurrent issuances and revocations (issue 18 item 2): after
//! a restart on the same store, every certificate a client received is stored as received, every
//! revocation a client saw acknowledged is in the next CRL and answered `revoked` by OCSP, no serial
//! is repeated, nothing is half-written, and the audit chain verifies. Runs on SQLite and, in the
//! suite's second pass, on PostgreSQL.
use serde_json::{json, Value};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use vcc_pki_testkit::*;

/// Certificates issued before the load, revoked during it.
const TARGETS: usize = 400;
/// Operations in the load: TARGETS revocations and the rest issuances, interleaved.
const OPERATIONS: usize = 1000;
/// Requests in flight at once (below the server's per-source connection cap).
const IN_FLIGHT: usize = 64;
/// The server is killed once this many answers have come back.
const KILL_AFTER: usize = 600;

const REASONS: [&str; 3] = ["superseded", "keyCompromise", "cessationOfOperation"];

enum Outcome {
    Issued {
        serial: String,
        pem: String,
    },
    Revoked(String),
    /// Refused with a status, or no answer (the connection died with the server).
    Failed,
}

async fn issue(client: &reqwest::Client, url: &str, token: &str, i: usize) -> Outcome {
    let sent = client
        .post(format!("{url}/api/certificates/issue"))
        .bearer_auth(token)
        .json(&json!({"service_id": format!("crash-{}", i % 8), "common_name": format!("crash-{i}.internal")}))
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    let Ok(resp) = sent else {
        return Outcome::Failed;
    };
    if resp.status() != 201 {
        return Outcome::Failed;
    }
    // A body cut off by the kill is not a received certificate.
    let Ok(body) = resp.json::<Value>().await else {
        return Outcome::Failed;
    };
    Outcome::Issued {
        serial: body["serial_number"].as_str().unwrap().to_string(),
        pem: body["certificate_pem"].as_str().unwrap().to_string(),
    }
}

async fn revoke(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    serial: &str,
    i: usize,
) -> Outcome {
    let sent = client
        .post(format!("{url}/api/certificates/revoke"))
        .bearer_auth(token)
        .json(&json!({"serial_number": serial, "reason": REASONS[i % REASONS.len()]}))
        .timeout(Duration::from_secs(60))
        .send()
        .await;
    let Ok(resp) = sent else {
        return Outcome::Failed;
    };
    if resp.status() != 200 {
        return Outcome::Failed;
    }
    let Ok(body) = resp.json::<Value>().await else {
        return Outcome::Failed;
    };
    assert_eq!(body["revoked"][0]["serial_number"], serial, "{body}");
    Outcome::Revoked(serial.to_string())
}

/// The complete CRL (`GET /crl`), checked against the chain by openssl; its `openssl crl -text`.
async fn complete_crl_text(server: &TestServer, chain_file: &str) -> Option<String> {
    let resp = server
        .client()
        .get(format!("{}/crl", server.url))
        .send()
        .await
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let der = resp.bytes().await.ok()?;
    let path = write(server.dir.path(), "after-crash.crl", &der);
    let (ok, text) = run(
        "openssl",
        &[
            "crl", "-inform", "DER", "-in", &path, "-CAfile", chain_file, "-noout", "-text",
        ],
    );
    assert!(ok && text.contains("verify OK"), "{text}");
    Some(text.to_uppercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_issuance_and_revocation_loses_nothing() {
    let mut server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let client = server.client();

    // The certificates the load revokes.
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut pre = Vec::new();
    for i in 0..TARGETS {
        let (client, url, token, gate) = (
            client.clone(),
            server.url.clone(),
            server.token.clone(),
            gate.clone(),
        );
        pre.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            issue(&client, &url, &token, OPERATIONS + i).await
        }));
    }
    let mut targets = Vec::new();
    for task in pre {
        match task.await.unwrap() {
            Outcome::Issued { serial, .. } => targets.push(serial),
            _ => panic!("issuing the revocation targets failed before any fault"),
        }
    }
    let (s, first) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "crash-chain", "common_name": "crash-chain.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    // Intermediate then root: what `openssl crl -CAfile` needs.
    let chain_pem = format!(
        "{}{}",
        first["ca_chain_pem"].as_str().unwrap(),
        server.root_pem()
    );

    // The load: revocations of the targets interleaved with new issuances, IN_FLIGHT at a time,
    // and SIGKILL once KILL_AFTER answers have come back.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    let mut next_target = 0;
    for i in 0..OPERATIONS {
        let target = (i % 5 < 2 && next_target < TARGETS).then(|| {
            next_target += 1;
            targets[next_target - 1].clone()
        });
        let (client, url, token, gate, answered) = (
            client.clone(),
            server.url.clone(),
            server.token.clone(),
            gate.clone(),
            answered.clone(),
        );
        load.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let outcome = match &target {
                Some(serial) => revoke(&client, &url, &token, serial, i).await,
                None => issue(&client, &url, &token, i).await,
            };
            answered.fetch_add(1, Ordering::SeqCst);
            outcome
        }));
    }
    while answered.load(Ordering::SeqCst) < KILL_AFTER {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();

    let mut received: Vec<(String, String)> = Vec::new();
    let mut acknowledged: Vec<String> = Vec::new();
    let mut failed = 0;
    for task in load {
        match task.await.unwrap() {
            Outcome::Issued { serial, pem } => received.push((serial, pem)),
            Outcome::Revoked(serial) => acknowledged.push(serial),
            Outcome::Failed => failed += 1,
        }
    }
    eprintln!(
        "before the kill: {} issued, {} revoked; {failed} requests lost with the server",
        received.len(),
        acknowledged.len()
    );
    assert!(
        !received.is_empty() && !acknowledged.is_empty(),
        "the load made no progress before the kill"
    );
    assert!(
        failed > 0,
        "the kill came after the load had finished: nothing was interrupted"
    );

    server.restart(Some(PASSWORD));

    // Every certificate a client received is stored, byte for byte as received (its DER's SHA-256
    // is the stored fingerprint).
    let stored: HashMap<String, String> = server
        .sql("SELECT serial_number || '|' || fingerprint_sha256 FROM certificates")
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(s, p)| (s.to_string(), p.to_string()))
        .collect();
    for (serial, pem) in &received {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let fingerprint = hex::encode(sha2::Sha256::digest(&block.contents));
        assert_eq!(
            stored.get(serial),
            Some(&fingerprint),
            "certificate {serial} reached a client but is not stored as received"
        );
    }
    // No serial repeated: not among the answers, not in the store, not after the restart.
    let mut seen: HashSet<&str> = targets.iter().map(String::as_str).collect();
    for (serial, _) in &received {
        assert!(seen.insert(serial), "serial {serial} issued twice");
    }
    assert_eq!(
        server.sql("SELECT COUNT(*) - COUNT(DISTINCT serial_number) FROM certificates"),
        "0"
    );
    for i in 0..20 {
        match issue(&server.client(), &server.url, &server.token, 10_000 + i).await {
            Outcome::Issued { serial, .. } => {
                assert!(
                    !stored.contains_key(&serial),
                    "serial {serial} repeated after the restart"
                )
            }
            _ => panic!("issuance after the restart failed"),
        }
    }

    // Nothing half-written: each certificate has its issuance audit row and each revocation its
    // revocation audit row, and the chain verifies.
    assert_eq!(
        server.sql(
            "SELECT COUNT(*) FROM certificates c WHERE c.service_id LIKE 'crash-%'
             AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.target_id = c.serial_number AND a.action = 'certificate.issue')"
        ),
        "0",
        "certificate rows without their audit row"
    );
    assert_eq!(
        server.sql(
            "SELECT COUNT(*) FROM revoked_certificates r
             WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.target_id = r.serial_number AND a.action = 'certificate.revoke')"
        ),
        "0",
        "revocation rows without their audit row"
    );
    let revoked_in_store: HashSet<String> = server
        .sql("SELECT serial_number FROM revoked_certificates")
        .lines()
        .map(str::to_string)
        .collect();
    for serial in &acknowledged {
        assert!(
            revoked_in_store.contains(serial),
            "revocation of {serial} was acknowledged but is not stored"
        );
    }
    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");

    // Every acknowledged revocation is in the next complete CRL (rebuilt at start-up)...
    let chain_file = write(server.dir.path(), "chain.pem", &chain_pem);
    let mut missing = acknowledged.clone();
    for _ in 0..120 {
        if let Some(text) = complete_crl_text(&server, &chain_file).await {
            missing.retain(|serial| !text.contains(&serial.to_uppercase()));
            if missing.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        missing.is_empty(),
        "acknowledged revocations missing from the CRL after the restart: {missing:?}"
    );

    // ... and OCSP (openssl ocsp over the plain-HTTP listener the certificates name) says revoked.
    let dir = server.dir.path();
    let intermediate = write(dir, "intermediate.pem", first_pem(&chain_pem));
    let root = write(dir, "root.pem", server.root_pem());
    let url = format!("{}/ocsp", server.http_url.as_deref().unwrap());
    for batch in acknowledged.chunks(16) {
        let mut args = vec![
            "ocsp".to_string(),
            "-issuer".into(),
            intermediate.clone(),
            "-url".into(),
            url.clone(),
            "-CAfile".into(),
            root.clone(),
            "-no_nonce".into(),
        ];
        for serial in batch {
            args.extend(["-serial".into(), format!("0x{serial}")]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out) = run("openssl", &args);
        assert!(out.contains("Response verify OK"), "{out}");
        for serial in batch {
            assert!(
                out.contains(&format!("0x{serial}: revoked")),
                "OCSP does not answer revoked for {serial}: {out}"
            );
        }
    }
}
