//! Re-revocation with keyCompromise (issue 18 item 6; RFC 5280 §5.3.1 lets the reason change): a
//! certificate revoked for another reason can be revoked again for keyCompromise, which then
//! blocks its key and revokes its key's other certificates, as a first keyCompromise does.
use serde_json::{json, Value};
use vcc_pki_testkit::*;

async fn issue_with(server: &TestServer, csr: &str) -> (u16, Value) {
    server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "vault", "common_name": "vault.example.internal", "csr_pem": csr})),
        )
        .await
}

async fn revoke(server: &TestServer, serial: &str, reason: &str) -> (u16, Value) {
    server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial, "reason": reason})),
        )
        .await
}

/// `openssl crl -text` of the complete CRL as the server publishes it (`GET /crl`).
async fn crl_text(server: &TestServer) -> String {
    let bytes = server
        .client()
        .get(format!("{}/crl", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let file = write(server.dir.path(), "complete.crl", bytes);
    let (ok, out) = run(
        "openssl",
        &["crl", "-inform", "DER", "-in", &file, "-noout", "-text"],
    );
    assert!(ok, "{out}");
    out
}

#[tokio::test]
async fn a_superseded_certificate_revoked_again_for_key_compromise_blocks_its_key() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let (_key, csr) = openssl_csr(
        dir,
        "vault",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "vault.example.internal",
        "DNS:vault.example.internal",
        &[],
    );
    let (s, first) = issue_with(&server, &csr).await;
    assert_eq!(s, 201, "{first}");
    let (s, second) = issue_with(&server, &csr).await;
    assert_eq!(s, 201, "{second}");
    let first_serial = first["serial_number"].as_str().unwrap().to_string();
    let second_serial = second["serial_number"].as_str().unwrap().to_string();

    let (s, body) = revoke(&server, &first_serial, "superseded").await;
    assert_eq!(s, 200, "{body}");
    // Revoked again for another reason than keyCompromise: still a conflict.
    let (s, body) = revoke(&server, &first_serial, "cessationOfOperation").await;
    assert_eq!(s, 409, "{body}");
    let revoked_at = server.sql(&format!(
        "SELECT revoked_at FROM revoked_certificates WHERE serial_number = '{first_serial}'"
    ));

    // Now the key turns out to be compromised.
    let (s, body) = revoke(&server, &first_serial, "keyCompromise").await;
    assert_eq!(s, 200, "{body}");
    let listed: Vec<&str> = body["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["serial_number"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&first_serial.as_str()) && listed.contains(&second_serial.as_str()),
        "{body}"
    );
    assert_eq!(
        server.sql(&format!(
            "SELECT reason || '|' || revoked_at FROM revoked_certificates WHERE serial_number = '{first_serial}'"
        )),
        format!("keyCompromise|{}", revoked_at.trim()),
        "the reason changes, the revocation date stays"
    );
    assert_eq!(
        server.sql(&format!(
            "SELECT reason FROM revoked_certificates WHERE serial_number = '{second_serial}'"
        )),
        "keyCompromise"
    );
    // The key is blocked: a new certificate for it is refused.
    let (s, body) = issue_with(&server, &csr).await;
    assert!(s == 403 || s == 400 || s == 409, "{s} {body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("compromise"),
        "{body}"
    );
    // A second keyCompromise is a conflict; the audit chain holds.
    let (s, body) = revoke(&server, &first_serial, "keyCompromise").await;
    assert_eq!(s, 409, "{body}");
    let (_, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(v["intact"], true, "{v}");
    // The CRL names the new reason for both (openssl's reading).
    let (s, _) = server.admin("POST", "/api/crl/generate", None).await;
    assert_eq!(s, 200);
    let text = crl_text(&server).await;
    for serial in [&first_serial, &second_serial] {
        let at = text
            .to_ascii_lowercase()
            .find(&format!("serial number: {}", serial.to_ascii_lowercase()))
            .unwrap_or_else(|| panic!("{serial} not on the CRL: {text}"));
        let entry = &text[at..(at + 300).min(text.len())];
        assert!(entry.contains("Key Compromise"), "{entry}");
    }
}
