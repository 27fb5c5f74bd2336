//! PostgreSQL restarted under load (issue #5): requests fail with 503 problem+json meanwhile and
//! succeed again afterwards without restarting vcc-pki; nothing is half-written. Revocations too
//! (issue 18): each is acknowledged or refused, and every acknowledged one is stored, audited and
//! in the next CRL. Needs PostgreSQL
//! and the right to stop and start its cluster (`pg_ctlcluster`, as root in CI).
use serde_json::json;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use vcc_pki_testkit::*;

fn pg_ctl(action: &str) -> (bool, String) {
    let version = std::env::var("VCC_PG_CLUSTER_VERSION").unwrap_or_else(|_| "15".into());
    let out = Command::new("pg_ctlcluster")
        .args([version.as_str(), "main", action])
        .output()
        .expect("pg_ctlcluster not installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Starts the cluster again even if the test fails half-way.
struct RestartGuard;
impl Drop for RestartGuard {
    fn drop(&mut self) {
        let _ = pg_ctl("start");
    }
}

/// Certificates issued before the outage and revoked through it.
const REVOKE_TARGETS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_get_503_while_postgres_is_down_and_recover_after() {
    let db = new_postgres_database();
    let server = TestServer::start_on(Some(PASSWORD), &db, None, true);
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;

    // Certificates that two revoking lanes revoke through the outage (issue 18 item 2).
    let mut targets = Vec::new();
    for i in 0..REVOKE_TARGETS {
        let (s, v) = server
            .admin(
                "POST",
                "/api/certificates/issue",
                Some(json!({"service_id": format!("revoke-{}", i % 2), "common_name": format!("revoke-{i}.internal")})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        targets.push(v["serial_number"].as_str().unwrap().to_string());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut revokers = Vec::new();
    for lane in 0..2 {
        let (client, url, token, stop) = (
            server.client(),
            server.url.clone(),
            server.token.clone(),
            stop.clone(),
        );
        let mut queue: std::collections::VecDeque<String> =
            targets.iter().skip(lane).step_by(2).cloned().collect();
        revokers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let Some(serial) = queue.pop_front() else {
                    break;
                };
                let resp = client
                    .post(format!("{url}/api/certificates/revoke"))
                    .bearer_auth(&token)
                    .json(&json!({"serial_number": serial, "reason": "superseded"}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let outcome = match resp {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let ctype = r
                            .headers()
                            .get("content-type")
                            .map(|v| v.to_str().unwrap_or("").to_string())
                            .unwrap_or_default();
                        (status, ctype)
                    }
                    Err(e) => (0, e.to_string()),
                };
                // Refused while the database was away: tried again later.
                if outcome.0 != 200 {
                    queue.push_back(serial.clone());
                }
                outcomes.push((std::time::Instant::now(), serial, outcome));
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            outcomes
        }));
    }
    let mut lanes = Vec::new();
    for lane in 0..4 {
        let (client, url, token, stop) = (
            server.client(),
            server.url.clone(),
            server.token.clone(),
            stop.clone(),
        );
        lanes.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let resp = client
                    .post(format!("{url}/api/certificates/issue"))
                    .bearer_auth(&token)
                    .json(&json!({"service_id": format!("load-{lane}"), "common_name": format!("load-{lane}-{i}.internal")}))
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                let outcome = match resp {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string()).unwrap_or_default();
                        (status, ctype)
                    }
                    Err(e) => (0, e.to_string()),
                };
                outcomes.push((std::time::Instant::now(), outcome));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let guard = RestartGuard;
    let (ok, out) = pg_ctl("stop");
    assert!(
        ok,
        "cannot stop PostgreSQL (run as root or postgres): {out}"
    );
    tokio::time::sleep(Duration::from_secs(8)).await;
    let (ok, out) = pg_ctl("start");
    assert!(ok, "cannot start PostgreSQL: {out}");
    let restarted = std::time::Instant::now();
    drop(guard);
    tokio::time::sleep(Duration::from_secs(8)).await;
    stop.store(true, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    for l in lanes {
        outcomes.extend(l.await.unwrap());
    }
    let mut revocations = Vec::new();
    for r in revokers {
        revocations.extend(r.await.unwrap());
    }
    let unavailable = outcomes.iter().filter(|(_, (s, _))| *s == 503).count();
    assert!(unavailable > 0, "no request saw the outage");
    for (_, (status, ctype)) in &outcomes {
        assert!(
            *status == 201 || (*status == 503 && ctype == "application/problem+json"),
            "unexpected outcome during the outage: {status} {ctype}"
        );
    }
    let recovered = outcomes
        .iter()
        .filter(|(t, (s, _))| *t > restarted + Duration::from_secs(3) && *s == 201)
        .count();
    assert!(
        recovered > 0,
        "no request succeeded after PostgreSQL came back"
    );

    // Nothing half-written: every certificate has its audit row, and every issuance audit row its certificate.
    let orphans = server.sql(
        "SELECT COUNT(*) FROM certificates c WHERE c.service_id LIKE 'load-%'
         AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.target_id = c.serial_number AND a.action = 'certificate.issue')",
    );
    assert_eq!(orphans, "0", "certificate rows without their audit row");
    let ghosts = server.sql(
        "SELECT COUNT(*) FROM audit_log a WHERE a.action = 'certificate.issue' AND a.details LIKE '%load-%'
         AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.serial_number = a.target_id)",
    );
    assert_eq!(
        ghosts, "0",
        "audit rows for certificates that were not stored"
    );
    let ok_responses = outcomes.iter().filter(|(_, (s, _))| *s == 201).count();
    let stored: usize = server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id LIKE 'load-%'")
        .parse()
        .unwrap();
    assert_eq!(
        stored, ok_responses,
        "every 201 is stored, and nothing else is"
    );

    eprintln!(
        "revocations: {} acknowledged, {} refused with 503; issuances: {} tried",
        revocations
            .iter()
            .filter(|(_, _, (s, _))| *s == 200)
            .count(),
        revocations
            .iter()
            .filter(|(_, _, (s, _))| *s == 503)
            .count(),
        outcomes.len()
    );
    // Revocations through the outage: acknowledged, or refused with 503 problem+json and then
    // stored nowhere; every acknowledged one is stored with its audit row and in the next CRL.
    for (_, serial, (status, ctype)) in &revocations {
        assert!(
            *status == 200 || (*status == 503 && ctype == "application/problem+json"),
            "unexpected revocation outcome during the outage for {serial}: {status} {ctype}"
        );
    }
    assert!(
        revocations.iter().any(|(_, _, (s, _))| *s == 503),
        "no revocation saw the outage"
    );
    assert!(
        revocations
            .iter()
            .any(|(t, _, (s, _))| *t > restarted + Duration::from_secs(3) && *s == 200),
        "no revocation succeeded after PostgreSQL came back"
    );
    let acknowledged: Vec<&String> = revocations
        .iter()
        .filter(|(_, _, (s, _))| *s == 200)
        .map(|(_, serial, _)| serial)
        .collect();
    let revoked_rows: std::collections::HashSet<String> = server
        .sql("SELECT c.serial_number FROM revoked_certificates r JOIN certificates c ON c.id = r.certificate_id WHERE c.service_id LIKE 'revoke-%'")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        revoked_rows.len(),
        acknowledged.len(),
        "every acknowledged revocation is stored, and nothing else"
    );
    for serial in &acknowledged {
        assert!(
            revoked_rows.contains(*serial),
            "{serial} acknowledged, not stored"
        );
    }
    assert_eq!(
        server.sql(
            "SELECT COUNT(*) FROM revoked_certificates r
             WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.target_id = r.serial_number AND a.action = 'certificate.revoke')"
        ),
        "0",
        "revocation rows without their audit row"
    );
    let last = acknowledged.last().expect("a revocation was acknowledged");
    let crl = wait_for_crl_with(&server, last).await;
    let path = write(server.dir.path(), "after-outage.crl", &crl);
    let (ok, text) = run("openssl", &["crl", "-in", &path, "-noout", "-text"]);
    assert!(ok, "{text}");
    let text = text.to_uppercase();
    for serial in &acknowledged {
        assert!(
            text.contains(&serial.to_uppercase()),
            "{serial} acknowledged during the outage, missing from the CRL"
        );
    }

    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
}
