//! Bad input and the negative authorisation matrix: every refusal is a 4xx problem document,
//! refusals are audited, and nothing is issued.
use serde_json::json;
use vcc_pki_testkit::*;

/// Certificates issued to services: the server's own TLS and OCSP-responder certificates are
/// issued in the background (the responder right after the intermediate appears) and do not count.
fn issued_count(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')")
        .parse()
        .unwrap()
}

fn denied_rows(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM audit_log WHERE outcome = 'denied'")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn bad_input_is_a_problem_document_and_changes_nothing() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let before = issued_count(&server);
    let services_before = server.count("services");

    let (_, good_csr) = openssl_csr(
        dir,
        "good",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "svc.internal",
        "DNS:svc.internal",
        &[],
    );
    // Mis-signed: flip one character inside the signed body of a valid CSR.
    let mut der = vcc_csr_der(&good_csr);
    let pos = der.windows(12).position(|w| w == b"svc.internal").unwrap();
    der[pos] = b'x';
    let mis_signed = pem("CERTIFICATE REQUEST", &der);
    let (_, ca_csr) = openssl_csr(
        dir,
        "ca",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "svc.internal",
        "",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    let (_, extra_names_csr) = openssl_csr(
        dir,
        "extra",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "svc.internal",
        "DNS:svc.internal,DNS:bank.example",
        &[],
    );
    let (_, small_rsa) = openssl_csr(dir, "rsa1024", &["rsa:1024"], "svc.internal", "", &[]);

    let cases = vec![
        (
            "malformed CSR",
            json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nMIIBnotreally\n-----END CERTIFICATE REQUEST-----\n"}),
            400,
        ),
        (
            "mis-signed CSR",
            json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": mis_signed}),
            400,
        ),
        (
            "CA:TRUE CSR",
            json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": ca_csr}),
            400,
        ),
        (
            "RSA-1024 CSR",
            json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": small_rsa}),
            400,
        ),
        (
            "unknown key type",
            json!({"service_id": "svc", "common_name": "svc.internal", "key_type": "dsa-1024"}),
            400,
        ),
        (
            "invalid DNS name",
            json!({"service_id": "svc", "common_name": "svc.internal", "san_dns": ["bad_name!.example"]}),
            400,
        ),
        (
            "invalid IP",
            json!({"service_id": "svc", "common_name": "svc.internal", "san_ip": ["300.1.2.3"]}),
            400,
        ),
        (
            "invalid service id",
            json!({"service_id": "../etc", "common_name": "svc.internal"}),
            400,
        ),
        (
            "unknown field",
            json!({"service_id": "svc", "common_name": "svc.internal", "is_ca": true}),
            422,
        ),
        (
            "validity too long",
            json!({"service_id": "svc", "common_name": "svc.internal", "validity_days": 100000}),
            400,
        ),
        (
            "wildcard name",
            json!({"service_id": "svc", "common_name": "svc.internal", "san_dns": ["*.svc.internal"]}),
            400,
        ),
        (
            "CSR names beyond the request",
            json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": extra_names_csr}),
            400,
        ),
    ];
    for (name, body, want) in cases {
        let (s, problem) = server
            .admin("POST", "/api/certificates/issue", Some(body))
            .await;
        assert_eq!(s, want, "{name}: {problem}");
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}: {problem}"
        );
        assert_eq!(problem["status"], want, "{name}");
    }
    // Oversized body: refused from its Content-Length, before it is read. curl with
    // `Expect: 100-continue` sees the 413 without racing the server's early close.
    let body = json!({"service_id": "svc", "common_name": "svc.internal", "csr_pem": "A".repeat(200 * 1024)});
    let body_file = write(server.dir.path(), "big.json", body.to_string());
    let root = server.data_dir().join("root.crt");
    let (ok, out) = run(
        "curl",
        &[
            "-sS",
            "--http1.1",
            "--cacert",
            root.to_str().unwrap(),
            "-H",
            &format!("Authorization: Bearer {}", server.token),
            "-H",
            "content-type: application/json",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{body_file}"),
            "-w",
            "\n%{http_code} %{content_type}",
            &format!("{}/api/certificates/issue", server.url),
        ],
    );
    assert!(ok, "{out}");
    assert!(
        out.trim_end().ends_with("413 application/problem+json"),
        "{out}"
    );
    // Unknown service for reads, renewals and revocations.
    let (s, _) = server
        .admin("GET", "/api/certificates/no-such-service", None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"service_id": "no-such-service"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"service_id": "no-such-service", "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": "0123abcd", "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": "0123abcd", "reason": "bored"})),
        )
        .await;
    assert_eq!(s, 400);
    // Permanent revocation only: removeFromCRL (delta CRLs) and certificateHold are refused.
    for reason in ["removeFromCRL", "certificateHold"] {
        let (s, p) = server
            .admin(
                "POST",
                "/api/certificates/revoke",
                Some(json!({"service_id": "svc", "reason": reason})),
            )
            .await;
        assert_eq!(s, 400, "{reason}: {p}");
    }
    let (s, _) = server
        .admin("GET", "/api/services/no-such-service", None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = server.admin("GET", "/api/no/such/endpoint", None).await;
    assert_eq!(s, 404);
    // Errors the framework answers (a path or query parameter that does not parse, a method the
    // route does not take) are problem documents too: `admin` asserts problem+json on every 4xx.
    let (s, p) = server
        .admin("POST", "/api/tokens/not-a-number/revoke", None)
        .await;
    assert_eq!(s, 400, "{p}");
    assert_eq!(p["type"], "urn:vcc-pki:problem:bad-request", "{p}");
    let (s, p) = server
        .admin("GET", "/api/certificates?limit=many", None)
        .await;
    assert_eq!(s, 400, "{p}");
    let (s, p) = server.admin("DELETE", "/api/health", None).await;
    assert_eq!(s, 405, "{p}");
    assert_eq!(p["type"], "urn:vcc-pki:problem:method-not-allowed", "{p}");

    assert_eq!(
        issued_count(&server),
        before,
        "a refused request stored a certificate"
    );
    assert_eq!(
        server.count("services"),
        services_before,
        "a refused request created a service"
    );
}

#[tokio::test]
async fn authorisation_matrix_refuses_audits_and_issues_nothing() {
    let server = TestServer::start(Some(PASSWORD));
    let client = server.bootstrap_client();
    // CA operations without admin.
    for token in [None, Some("vccadm_not-a-real-token"), Some("garbage")] {
        let denied = denied_rows(&server);
        let (s, p) = server
            .send(
                &client,
                "POST",
                "/api/ca/root",
                token,
                Some(json!({"common_name": "Evil Root"})),
            )
            .await;
        assert_eq!(s, 401, "{p}");
        assert_eq!(denied_rows(&server), denied + 1, "refusal not audited");
    }
    assert_eq!(server.count("root_ca"), 0);
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let client = server.client();

    // Register a service: one-time enrollment token bound to allowed names.
    let (s, reg) = server
        .admin("POST", "/api/services/register", Some(json!({"service_id": "billing", "service_name": "Billing", "endpoints": ["https://billing.internal:8443"], "allowed_dns": ["billing.internal"]})))
        .await;
    assert_eq!(s, 201, "{reg}");
    let enrollment = reg["enrollment_token"].as_str().unwrap().to_string();
    assert!(enrollment.starts_with("vccenr_"));
    assert!(!server
        .sql("SELECT enrollment_token_hash FROM services WHERE service_id='billing'")
        .contains(&enrollment));

    let base = issued_count(&server);
    let issue = |cn: &str| json!({"service_id": "billing", "common_name": cn});
    // No token, wrong token.
    for token in [None, Some("vccenr_wrong"), Some("vccadm_wrong")] {
        let denied = denied_rows(&server);
        let (s, p) = server
            .send(
                &client,
                "POST",
                "/api/certificates/issue",
                token,
                Some(issue("billing.internal")),
            )
            .await;
        assert_eq!(s, 401, "{token:?}: {p}");
        assert!(denied_rows(&server) > denied);
    }
    // A renewal by a caller who may not renew (no token, an enrollment token) is refused and
    // audited before its body is read: 401 whatever the body, never 400.
    for token in [None, Some(enrollment.as_str())] {
        let denied = denied_rows(&server);
        let mut request = client
            .post(format!("{}/api/certificates/renew", server.url))
            .header("content-type", "application/json")
            .body("{not json");
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{token:?}");
        assert_eq!(
            denied_rows(&server),
            denied + 1,
            "renewal refusal not audited"
        );
    }
    // Names outside the allowed list: refused, and the token is not used up.
    let denied = denied_rows(&server);
    let (s, p) = server
        .send(
            &client,
            "POST",
            "/api/certificates/issue",
            Some(&enrollment),
            Some(issue("payments.internal")),
        )
        .await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("payments.internal"));
    let (s, p) = server
        .send(&client, "POST", "/api/certificates/issue", Some(&enrollment), Some(json!({"service_id": "billing", "common_name": "billing.internal", "san_ip": ["10.9.9.9"]})))
        .await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(denied_rows(&server), denied + 2);
    // The enrollment token is bound to its service.
    let (s, _) = server
        .send(
            &client,
            "POST",
            "/api/certificates/issue",
            Some(&enrollment),
            Some(json!({"service_id": "other", "common_name": "billing.internal"})),
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(
        issued_count(&server),
        base,
        "a refused request issued a certificate"
    );

    // The token buys exactly one certificate.
    let (_, csr) = openssl_csr(
        server.dir.path(),
        "billing",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "billing.internal",
        "",
        &[],
    );
    let key = std::fs::read_to_string(server.dir.path().join("billing.key")).unwrap();
    let (s, first) = server
        .send(
            &client,
            "POST",
            "/api/certificates/issue",
            Some(&enrollment),
            Some(
                json!({"service_id": "billing", "common_name": "billing.internal", "csr_pem": csr}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    let (s, p) = server
        .send(
            &client,
            "POST",
            "/api/certificates/issue",
            Some(&enrollment),
            Some(issue("billing.internal")),
        )
        .await;
    assert_eq!(s, 401, "reused enrollment token: {p}");
    assert_eq!(issued_count(&server), base + 1);

    // An enrollment token is not an admin token.
    let (s, _) = server
        .send(&client, "GET", "/api/certificates", Some(&enrollment), None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = server
        .send(&client, "POST", "/api/crl/generate", None, None)
        .await;
    assert_eq!(s, 401);

    // mTLS: a service may not read or renew another service's certificate, nor revoke.
    let (s, other) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "other", "common_name": "other.internal"})),
        )
        .await;
    assert_eq!(s, 201);
    let billing = server.mtls_client(first["certificate_pem"].as_str().unwrap(), &key);
    let (s, _) = server
        .send(&billing, "GET", "/api/certificates/other", None, None)
        .await;
    assert_eq!(s, 403);
    let (s, _) = server
        .send(
            &billing,
            "POST",
            "/api/certificates/renew",
            None,
            Some(json!({"serial_number": other["serial_number"]})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = server
        .send(
            &billing,
            "POST",
            "/api/certificates/revoke",
            None,
            Some(json!({"service_id": "other"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = server.send(&billing, "POST", "/api/services/register", None, Some(json!({"service_id": "billing", "service_name": "B", "allowed_dns": ["evil.internal"]}))).await;
    assert_eq!(s, 403);
    // …but may update its own registry entry.
    let (s, upd) = server.send(&billing, "POST", "/api/services/register", None, Some(json!({"service_id": "billing", "service_name": "Billing v2", "endpoints": ["https://b:1"]}))).await;
    assert_eq!(s, 200, "{upd}");
    assert_eq!(upd["allowed_dns"], json!(["billing.internal"]));

    // Renewal with a revoked certificate over mTLS: refused, nothing issued.
    let issued = issued_count(&server);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": first["serial_number"], "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200);
    let billing = server.mtls_client(first["certificate_pem"].as_str().unwrap(), &key);
    let (s, p) = server
        .send(&billing, "POST", "/api/certificates/renew", None, None)
        .await;
    assert_eq!(s, 401, "{p}");
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"serial_number": first["serial_number"]})),
        )
        .await;
    assert_eq!(s, 403, "admin renewed a revoked certificate");
    assert_eq!(issued_count(&server), issued);
}

#[tokio::test]
async fn audit_chain_detects_an_edited_row() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "a", "common_name": "a.internal"})),
        )
        .await;
    assert_eq!(s, 201);
    // Every state change wrote its row.
    let actions = server.sql("SELECT action FROM audit_log ORDER BY id");
    for a in [
        "token.create",
        "ca.create_root",
        "ca.create_intermediate",
        "certificate.issue",
    ] {
        assert!(
            actions.lines().any(|l| l == a),
            "no audit row for {a}: {actions}"
        );
    }
    let (s, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["intact"], true, "{v}");
    // Edit one row behind the server's back.
    server.sql("UPDATE audit_log SET actor = 'someone-else' WHERE action = 'ca.create_root'");
    let (_, v) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(v["intact"], false, "edited audit row not detected: {v}");
    let edited: i64 = server
        .sql("SELECT id FROM audit_log WHERE action = 'ca.create_root'")
        .parse()
        .unwrap();
    assert_eq!(v["first_broken_id"], edited);
}

#[tokio::test]
async fn server_without_password_starts_sealed_and_unlocks() {
    let mut server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    server.restart(None);
    let (s, h) = server.admin("GET", "/api/health", None).await;
    assert_eq!(s, 200);
    assert_eq!(h["ca"]["sealed"], true);
    let (s, p) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "a", "common_name": "a.internal"})),
        )
        .await;
    assert_eq!(s, 503, "{p}");
    assert_eq!(p["type"], "urn:vcc-pki:problem:ca-sealed");
    let (s, _) = server
        .admin(
            "POST",
            "/api/ca/unlock",
            Some(json!({"password": "wrong password!"})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = server
        .send(
            &server.client(),
            "POST",
            "/api/ca/unlock",
            None,
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 401);
    let (s, info) = server
        .admin(
            "POST",
            "/api/ca/unlock",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 200, "{info}");
    assert_eq!(info["sealed"], false);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "a", "common_name": "a.internal"})),
        )
        .await;
    assert_eq!(s, 201);
}

fn vcc_csr_der(pem_text: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem_text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn revoking_a_service_wins_over_concurrent_renewals_and_old_siblings_cannot_renew() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (s, first) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "race", "common_name": "race.internal"})),
        )
        .await;
    assert_eq!(s, 201);
    let key = first["private_key_pem"].as_str().unwrap().to_string();
    let (s, second) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"service_id": "race"})),
        )
        .await;
    assert_eq!(s, 201);
    // The older sibling may not renew over mTLS: only the current certificate does.
    let old = server.mtls_client(first["certificate_pem"].as_str().unwrap(), &key);
    let (s, p) = server
        .send(&old, "POST", "/api/certificates/renew", None, None)
        .await;
    assert_eq!(s, 403, "{p}");
    // Many renewals in flight while the service is revoked: afterwards nothing of it is active.
    let current = server.mtls_client(second["certificate_pem"].as_str().unwrap(), &key);
    let mut renewals = Vec::new();
    for _ in 0..8 {
        let client = current.clone();
        let url = format!("{}/api/certificates/renew", server.url);
        renewals.push(tokio::spawn(async move {
            client.post(url).send().await.map(|r| r.status().as_u16())
        }));
    }
    let (s, rev) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"service_id": "race", "reason": "cessationOfOperation"})),
        )
        .await;
    assert_eq!(s, 200, "{rev}");
    for r in renewals {
        let _ = r.await.unwrap();
    }
    let active = server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id = 'race' AND status = 'active'");
    // Renewals that committed before the revocation were revoked with it; later ones were refused.
    assert_eq!(
        active, "0",
        "a certificate survived the service's revocation"
    );
}

/// Policy holes closed in the authority (#13): a renewal re-permits every name against the
/// service's allowed list, a certificate superseded by a renewal may read but not change the
/// service, and the CN is the normalised name policy checked.
#[tokio::test]
async fn renewal_re_permits_names_and_superseded_certificates_change_nothing() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (s, reg) = server
        .admin(
            "POST",
            "/api/services/register",
            Some(json!({"service_id": "shop", "service_name": "Shop", "endpoints": ["https://shop.internal"],
                        "allowed_dns": ["shop.internal", "shop-admin.internal"]})),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let token = reg["enrollment_token"].as_str().unwrap().to_string();
    let (s, first) = server
        .send(
            &server.client(),
            "POST",
            "/api/certificates/issue",
            Some(&token),
            Some(json!({"service_id": "shop", "common_name": "Shop.Internal.", "san_dns": ["shop-admin.internal"]})),
        )
        .await;
    assert_eq!(s, 201, "{first}");
    // The CN is the name policy checked, normalised, not the string as sent.
    assert_eq!(first["common_name"], "shop.internal");
    let der =
        vcc_pki_core::pem_decode_all(first["certificate_pem"].as_str().unwrap(), "CERTIFICATE")
            .unwrap()
            .remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cn, "shop.internal");

    let key = first["private_key_pem"].as_str().unwrap().to_string();
    let old = server.mtls_client(first["certificate_pem"].as_str().unwrap(), &key);
    let (s, second) = server
        .send(&old, "POST", "/api/certificates/renew", None, None)
        .await;
    assert_eq!(s, 201, "{second}");
    let current = server.mtls_client(second["certificate_pem"].as_str().unwrap(), &key);

    // The superseded certificate still reads its own service ...
    let (s, info) = server
        .send(&old, "GET", "/api/services/shop", None, None)
        .await;
    assert_eq!(s, 200, "{info}");
    // ... but may not rename it or rewrite its endpoints.
    let denied = denied_rows(&server);
    let (s, p) = server
        .send(
            &old,
            "POST",
            "/api/services/register",
            None,
            Some(json!({"service_id": "shop", "service_name": "Evil", "endpoints": ["https://evil.example"]})),
        )
        .await;
    assert_eq!(s, 403, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("superseded"), "{p}");
    assert_eq!(denied_rows(&server), denied + 1);
    assert_eq!(
        server.sql("SELECT service_name FROM services WHERE service_id = 'shop'"),
        "Shop"
    );
    // The current certificate may.
    let (s, p) = server
        .send(
            &current,
            "POST",
            "/api/services/register",
            None,
            Some(json!({"service_id": "shop", "service_name": "Shop 2", "endpoints": ["https://shop.internal:8443"]})),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        server.sql("SELECT service_name FROM services WHERE service_id = 'shop'"),
        "Shop 2"
    );

    // An admin narrows the allowed list: the next renewal over mTLS is refused, naming the name,
    // audited, and issues nothing.
    let (s, reg) = server
        .admin(
            "POST",
            "/api/services/register",
            Some(json!({"service_id": "shop", "service_name": "Shop", "endpoints": [], "allowed_dns": ["shop.internal"]})),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let issued = issued_count(&server);
    let denied = denied_rows(&server);
    let (s, p) = server
        .send(&current, "POST", "/api/certificates/renew", None, None)
        .await;
    assert_eq!(s, 403, "{p}");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("no longer allowed") && detail.contains("shop-admin.internal"),
        "{p}"
    );
    assert_eq!(issued_count(&server), issued);
    assert_eq!(denied_rows(&server), denied + 1);
    // An admin still renews it (admins are not bound by a service's list).
    let (s, p) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"service_id": "shop"})),
        )
        .await;
    assert_eq!(s, 201, "{p}");
}

#[tokio::test]
async fn the_servers_own_service_ids_are_refused_to_every_request() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    for id in ["vcc-pki-server", "vcc-pki-ocsp"] {
        let (s, body) = server
            .admin(
                "POST",
                "/api/certificates/issue",
                Some(json!({"service_id": id, "common_name": "localhost"})),
            )
            .await;
        assert_eq!(s, 403, "issue {id}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains("reserved"),
            "{body}"
        );
        let (s, body) = server
            .admin(
                "POST",
                "/api/services/register",
                Some(json!({"service_id": id, "service_name": "mine now"})),
            )
            .await;
        assert_eq!(s, 403, "register {id}: {body}");
    }
    // The server's TLS certificate, issued by the server itself, is not renewed from outside.
    let (s, list) = server
        .admin("GET", "/api/certificates?service_id=vcc-pki-server", None)
        .await;
    assert_eq!(s, 200, "{list}");
    let serial = list["items"][0]["serial_number"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"serial_number": serial})),
        )
        .await;
    assert_eq!(s, 403, "renew the server's certificate: {body}");
    // Each refusal is audited; none created a service or a certificate.
    let denied = server.sql(
        "SELECT COUNT(*) FROM audit_log WHERE outcome = 'denied' AND action IN ('certificate.issue', 'service.register', 'certificate.renew')",
    );
    assert_eq!(denied, "5");
    assert_eq!(
        server.sql("SELECT service_name FROM services WHERE service_id = 'vcc-pki-ocsp'"),
        server.sql("SELECT service_name FROM services WHERE service_id = 'vcc-pki-ocsp' AND service_name <> 'mine now'")
    );
    assert_eq!(
        server.sql(
            "SELECT COUNT(*) FROM audit_log WHERE actor = 'admin' AND outcome = 'success' \
             AND target_id IN ('vcc-pki-server', 'vcc-pki-ocsp')"
        ),
        "0"
    );
}
