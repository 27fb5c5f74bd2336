//! Abuse bounds (issue 16): a flood of failed authentications from one address costs bounded
//! rows and bytes in the audit log, is answered 429 before any work once its burst is spent, and
//! a valid request from elsewhere still succeeds during it.
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vcc_pki_testkit::*;

/// A client that trusts the server's root and sends from `local` (any 127/8 address is this
/// host's loopback, so each stands for another source).
fn client_from(server: &TestServer, local: &str) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(server.root_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([root])
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn audit_rows_and_bytes(server: &TestServer) -> (i64, i64) {
    let out = server.sql(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(details) + LENGTH(COALESCE(target_id, '')) + LENGTH(actor)), 0) FROM audit_log",
    );
    let mut parts = out.trim().split('|').map(|p| p.parse::<i64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_tokens_is_bounded_and_a_valid_request_still_succeeds() {
    let server = Arc::new(TestServer::start(Some(PASSWORD)));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (rows_before, bytes_before) = audit_rows_and_bytes(&server);
    let cpu_before = server.cpu_seconds();

    const FLOOD: usize = 10_000;
    let sent = Arc::new(AtomicUsize::new(0));
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        u16,
        usize,
    >::new()));
    let flooder = client_from(&server, "127.0.0.2");
    // A large body on each: a refusal must not cost parsing it or storing it.
    let csr_like = "A".repeat(2_000);
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url, sent, statuses, body) = (
            flooder.clone(),
            format!("{}/api/certificates/issue", server.url),
            sent.clone(),
            statuses.clone(),
            csr_like.clone(),
        );
        workers.spawn(async move {
            while sent.fetch_add(1, Ordering::SeqCst) < FLOOD {
                let status = client
                    .post(&url)
                    .bearer_auth("vccadm_not-a-real-token-at-all")
                    .json(&json!({"service_id": "x", "common_name": "x", "csr_pem": body}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                *statuses.lock().unwrap().entry(status).or_default() += 1;
            }
        });
    }
    // During the flood: an admin from another address issues and reads health.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let admin = client_from(&server, "127.0.0.1");
    let during = Instant::now();
    let (s, issued) = server
        .send(
            &admin,
            "POST",
            "/api/certificates/issue",
            Some(&server.token),
            Some(json!({"service_id": "billing", "common_name": "billing.example.internal"})),
        )
        .await;
    assert_eq!(s, 201, "a valid request failed during the flood: {issued}");
    let (s, _) = server
        .send(&admin, "GET", "/api/health", Some(&server.token), None)
        .await;
    assert_eq!(s, 200);
    let valid_took = during.elapsed();
    let flood_running = sent.load(Ordering::SeqCst) < FLOOD;
    while workers.join_next().await.is_some() {}
    let took = started.elapsed();
    let cpu = server.cpu_seconds() - cpu_before;
    let statuses = statuses.lock().unwrap().clone();
    let refused = statuses.get(&401).copied().unwrap_or(0);
    let limited = statuses.get(&429).copied().unwrap_or(0);
    eprintln!(
        "flood of {FLOOD} bad-token requests: {took:?}, server CPU {cpu:.2} s, statuses {statuses:?}; valid issue + health during it: {valid_took:?}"
    );
    assert!(
        flood_running,
        "the flood ended before the valid request was made"
    );
    assert_eq!(refused + limited, FLOOD, "{statuses:?}");
    // Refused with work: the burst, plus one per refill interval over the flood's duration.
    let allowed = 60 + (took.as_secs_f64() / 0.5).ceil() as usize + 16;
    assert!(
        refused <= allowed,
        "{refused} requests were fully handled (bound {allowed})"
    );

    // The flooding address is told to come back later, with a Retry-After.
    let r = flooder
        .get(format!("{}/api/certificates", server.url))
        .bearer_auth("vccadm_still-wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/problem+json"
    );

    // The audit log grew by a bounded number of bounded rows.
    std::thread::sleep(Duration::from_secs(6)); // one summary interval
    let (rows_after, bytes_after) = audit_rows_and_bytes(&server);
    let (rows, bytes) = (rows_after - rows_before, bytes_after - bytes_before);
    eprintln!("audit log: +{rows} rows, +{bytes} bytes");
    assert!(
        rows <= allowed as i64 + 10,
        "{rows} audit rows for {FLOOD} refusals"
    );
    assert!(
        bytes <= 1_000 * (allowed as i64 + 10),
        "{bytes} bytes of audit rows"
    );
    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
}

#[tokio::test]
async fn refusals_over_the_audit_budget_are_summarised_not_lost() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // 300 sources, 4 refusals each: no source is slowed down, the log's budget (200 + 20/s) is.
    let url = format!("{}/api/tokens", server.url);
    let started = Instant::now();
    let mut total = 0;
    for host in 0..150u32 {
        for last in [10u32, 20] {
            let client = client_from(&server, &format!("127.1.{host}.{last}"));
            for _ in 0..4 {
                let s = client
                    .post(&url)
                    .bearer_auth("vccadm_wrong")
                    .json(&json!({"name": "x"}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(s.as_u16(), 401);
                total += 1;
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(6));
    let individual: i64 = server
        .sql("SELECT COUNT(*) FROM audit_log WHERE action = 'token.create' AND outcome = 'denied'")
        .trim()
        .parse()
        .unwrap();
    let summarised: i64 = server
        .sql("SELECT details FROM audit_log WHERE action = 'audit.refusals_summarised'")
        .lines()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["refused"]
                .as_i64()
                .unwrap()
        })
        .sum();
    eprintln!("{total} refusals in {took:.1} s: {individual} rows, {summarised} summarised");
    assert!(summarised > 0, "nothing was summarised: {individual} rows");
    assert_eq!(individual + summarised, total as i64, "a refusal was lost");
    assert!(individual as f64 <= 200.0 + 20.0 * (took + 1.0));
}

#[tokio::test]
async fn the_ca_password_cannot_be_guessed_through_the_api() {
    let mut server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // Creating a CA that exists says "exists", whatever the password: no oracle.
    for password in [PASSWORD, "a wrong password guess"] {
        let (s, body) = server
            .admin(
                "POST",
                "/api/ca/root",
                Some(json!({"common_name": "Again", "password": password})),
            )
            .await;
        assert_eq!(s, 409, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("already exists"),
            "{body}"
        );
    }
    // A sealed restart: unlock attempts are bounded (5 wrong a minute), each audited; the
    // right password is refused too until the window moves on.
    server.restart(None);
    for n in 0..5 {
        let (s, body) = server
            .admin(
                "POST",
                "/api/ca/unlock",
                Some(json!({"password": format!("guess number {n}")})),
            )
            .await;
        assert_eq!(s, 403, "{body}");
    }
    let (s, body) = server
        .admin(
            "POST",
            "/api/ca/unlock",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 503, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("too many wrong CA passwords"),
        "{body}"
    );
    let denied = server
        .sql("SELECT COUNT(*) FROM audit_log WHERE action = 'ca.unlock' AND outcome = 'denied'");
    assert_eq!(denied.trim(), "5");
    let (_, health) = server.admin("GET", "/api/health", None).await;
    assert_eq!(health["ca"]["sealed"], true, "{health}");
}
