//! The read-only auditor role (SPEC §11): `token create --role auditor` over REST; every admin
//! read works with it, every change is refused with 403 problem+json and an audit row, and
//! nothing changes.
use serde_json::json;
use vcc_pki_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_reads_everything_and_changes_nothing() {
    let server = TestServer::start(Some("auditor-test-pass"));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (status, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": "billing.internal"})),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let serial = issued["serial_number"].as_str().unwrap().to_string();
    let (status, created) = server
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "security review", "role": "auditor"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["role"], "auditor");
    let auditor = created["token"].as_str().unwrap().to_string();
    let http = server.client();

    for path in [
        "/api/certificates",
        "/api/certificates/billing",
        "/api/services",
        "/api/tokens",
        "/api/audit/verify",
        "/api/acme/accounts",
        "/api/acme/orders",
        "/api/acme/eab",
        "/api/ca/info",
        "/api/crl/info",
    ] {
        let (status, body) = server.send(&http, "GET", path, Some(&auditor), None).await;
        assert_eq!(status, 200, "auditor GET {path}: {body}");
    }
    let (_, tokens) = server
        .send(&http, "GET", "/api/tokens", Some(&auditor), None)
        .await;
    assert!(tokens.to_string().contains("\"auditor\""), "{tokens}");

    let certificates_before = server.count("certificates");
    let tokens_before = server.count("api_tokens");
    let services_before = server.count("services");
    let changes: Vec<(&str, &str, serde_json::Value)> = vec![
        (
            "POST",
            "/api/certificates/issue",
            json!({"service_id": "evil", "common_name": "evil.internal"}),
        ),
        (
            "POST",
            "/api/certificates/renew",
            json!({"serial_number": serial}),
        ),
        (
            "POST",
            "/api/certificates/revoke",
            json!({"serial_number": serial, "reason": "keyCompromise"}),
        ),
        (
            "POST",
            "/api/services/register",
            json!({"service_id": "evil", "service_name": "Evil", "allowed_dns": ["evil.internal"]}),
        ),
        ("POST", "/api/tokens", json!({"name": "escalate"})),
        ("POST", "/api/tokens/1/revoke", json!({})),
        ("POST", "/api/crl/generate", json!({})),
        (
            "POST",
            "/api/ca/unlock",
            json!({"password": "auditor-test-pass"}),
        ),
        ("POST", "/api/acme/eab", json!({})),
        (
            "POST",
            "/api/acme/renewal-windows/move",
            json!({"all": true}),
        ),
        ("GET", "/api/ca/export", serde_json::Value::Null),
    ];
    for (method, path, body) in &changes {
        let body = (!body.is_null()).then(|| body.clone());
        let (status, problem) = server.send(&http, method, path, Some(&auditor), body).await;
        assert_eq!(status, 403, "auditor {method} {path}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("read-only"),
            "{method} {path}: {problem}"
        );
    }
    assert_eq!(server.count("certificates"), certificates_before);
    assert_eq!(server.count("api_tokens"), tokens_before);
    assert_eq!(server.count("services"), services_before);
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM revoked_certificates"),
        "0",
        "nothing revoked"
    );
    assert_eq!(
        server
            .sql("SELECT COUNT(*) FROM audit_log WHERE actor = 'auditor' AND outcome = 'denied'")
            .parse::<usize>()
            .unwrap(),
        changes.len(),
        "one audit row per refused change: {}",
        server.sql("SELECT action FROM audit_log WHERE actor = 'auditor'")
    );
    // The chain still verifies with the refusals in it.
    let (status, verified) = server
        .send(&http, "GET", "/api/audit/verify", Some(&auditor), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(verified["intact"], true, "{verified}");

    // An admin revokes the auditor token (one admin token remains: allowed); then it is refused.
    let id = created["id"].as_i64().unwrap();
    let (status, body) = server
        .admin("POST", &format!("/api/tokens/{id}/revoke"), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server
        .send(&http, "GET", "/api/certificates", Some(&auditor), None)
        .await;
    assert_eq!(status, 401);
    // An unknown role is refused.
    let (status, problem) = server
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "x", "role": "root"})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
}
