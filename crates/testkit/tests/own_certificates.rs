//! The server's own certificates (its TLS identity `vcc-pki-server`, its OCSP responder
//! `vcc-pki-ocsp`), issue 16: not counted as "expiring", not revocable through the API, replaced
//! at once when revoked, and the OCSP responder's not issued again on every restart.
use serde_json::json;
use std::time::{Duration, Instant};
use vcc_pki_testkit::*;

fn own(server: &TestServer, service_id: &str) -> Vec<String> {
    server
        .sql(&format!(
            "SELECT serial_number FROM certificates WHERE service_id = '{service_id}' AND status = 'active' ORDER BY id"
        ))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Wait until the server has issued itself an OCSP responder certificate.
fn responders(server: &TestServer) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = own(server, "vcc-pki-ocsp");
        if !found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The serial (lower-case hex) of the certificate the HTTPS listener presents.
fn served_serial(server: &TestServer) -> String {
    let addr = server.url.trim_start_matches("https://").to_string();
    let (_, out) = run(
        "sh",
        &[
            "-c",
            &format!("openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -serial"),
        ],
    );
    out.trim()
        .strip_prefix("serial=")
        .unwrap_or_else(|| panic!("no serial from s_client: {out}"))
        .to_ascii_lowercase()
}

#[tokio::test]
async fn the_servers_own_certificates_are_left_out_of_expiring_and_refused_to_revoke() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // The responder certificate lives 4 days: it is in the 30-day window, and was counted
    // (and listed by v_expiring_certificates) before the server's own were left out.
    assert!(
        !responders(&server).is_empty(),
        "no OCSP responder certificate"
    );
    let (_, health) = server.admin("GET", "/api/health", None).await;
    assert_eq!(health["statistics"]["certificates_expiring"], 0, "{health}");
    assert_eq!(
        server
            .sql("SELECT COUNT(*) FROM v_expiring_certificates")
            .trim(),
        "0"
    );
    // A service certificate in the window is counted, in both.
    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "short", "common_name": "short.example.internal", "validity_days": 10})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (_, health) = server.admin("GET", "/api/health", None).await;
    assert_eq!(health["statistics"]["certificates_expiring"], 1, "{health}");
    assert_eq!(
        server
            .sql("SELECT service_id FROM v_expiring_certificates")
            .trim(),
        "short"
    );

    // Revoking them through the API is refused (403, audited) and changes nothing.
    let tls = own(&server, "vcc-pki-server");
    let serial = tls.last().unwrap().clone();
    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial, "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    for service_id in ["vcc-pki-server", "vcc-pki-ocsp"] {
        let (s, body) = server
            .admin(
                "POST",
                "/api/certificates/revoke",
                Some(json!({"service_id": service_id, "reason": "superseded"})),
            )
            .await;
        assert_eq!(s, 403, "{service_id}: {body}");
    }
    assert_eq!(own(&server, "vcc-pki-server"), tls);
    assert_eq!(server.count("revoked_certificates"), 0);
    let denied = server.sql(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.revoke' AND outcome <> 'success'",
    );
    assert_eq!(denied.trim(), "3", "each refusal is audited");
}

#[tokio::test]
async fn a_restart_reuses_the_ocsp_responder_and_replaces_a_revoked_tls_certificate() {
    let mut server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let first = responders(&server);
    assert_eq!(first.len(), 1, "{first:?}");
    let key_file = server.data_dir().join("ocsp-responder.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    for _ in 0..3 {
        server.restart(Some(PASSWORD));
        assert_eq!(server.admin("GET", "/api/health", None).await.0, 200);
    }
    // Give a (wrong) new responder issuance time to happen before counting.
    std::thread::sleep(Duration::from_secs(2));
    let all = server.sql("SELECT COUNT(*) FROM certificates WHERE service_id = 'vcc-pki-ocsp'");
    assert_eq!(
        all.trim(),
        "1",
        "a restart issued another OCSP responder certificate"
    );
    // …and it signs: a certificate's status is answered by the remembered responder.
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": "billing.example.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let dir = server.dir.path();
    let root = write(dir, "root.pem", server.root_pem());
    let chain = issued["ca_chain_pem"].as_str().unwrap();
    let intermediate = write(dir, "intermediate.pem", first_pem(chain));
    let leaf = write(dir, "leaf.pem", issued["certificate_pem"].as_str().unwrap());
    let url = format!("{}/ocsp", server.http_url.as_deref().unwrap());
    let (_, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &intermediate,
            "-cert",
            &leaf,
            "-url",
            &url,
            "-CAfile",
            &root,
            "-no_nonce",
        ],
    );
    assert!(out.contains("leaf.pem: good"), "{out}");

    // A served TLS certificate that the store records as revoked (as an older version allowed)
    // is replaced at start.
    let served = served_serial(&server);
    assert_eq!(own(&server, "vcc-pki-server").last().unwrap(), &served);
    server.sql(&format!(
        "INSERT INTO revoked_certificates (certificate_id, serial_number, issuer_ca_id, revoked_at, reason, reason_code, revoked_by)
         SELECT id, serial_number, issuer_ca_id, '2026-01-01T00:00:00Z', 'keyCompromise', 1, 'test' FROM certificates WHERE serial_number = '{served}'"
    ));
    server.sql(&format!(
        "UPDATE certificates SET status = 'revoked' WHERE serial_number = '{served}'"
    ));
    server.restart(Some(PASSWORD));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now_served = served_serial(&server);
    while now_served == served && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        now_served = served_serial(&server);
    }
    assert_ne!(
        now_served, served,
        "the revoked TLS certificate is still served"
    );
    assert!(own(&server, "vcc-pki-server").contains(&now_served));
}
