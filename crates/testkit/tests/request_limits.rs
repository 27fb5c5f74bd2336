//! What one request can make the server do is bounded (issue 18 item 3): at most 100 names, a CSR
//! of at most 16 KiB, only the key types of SPEC §6, and JSON nested beyond serde_json's limit of
//! 128 levels refused. Each over-limit request is a 4xx problem document (RFC 8555 problem on ACME),
//! nothing is issued, and the server keeps answering.
use serde_json::{json, Value};
use vcc_pki_testkit::*;

fn issued(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')")
        .parse()
        .unwrap()
}

/// POST a raw body (not necessarily JSON a client library would write) as the admin.
async fn post_raw(
    server: &TestServer,
    path: &str,
    ctype: &str,
    body: String,
) -> (u16, String, Value) {
    let resp = server
        .client()
        .post(format!("{}{path}", server.url))
        .bearer_auth(&server.token)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.unwrap();
    (
        status,
        ctype,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn pem_of(label: &str, der: &[u8]) -> String {
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
async fn names_csr_size_key_types_and_json_depth_are_bounded() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let before = issued(&server);

    // Names: 100 pass, 101 do not.
    let names =
        |n: usize| -> Vec<String> { (0..n).map(|i| format!("n{i}.svc.internal")).collect() };
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "limits", "common_name": "n0.svc.internal", "san_dns": names(101)})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("100"), "{v}");
    assert_eq!(issued(&server), before, "101 names issued");
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "limits", "common_name": "n0.svc.internal", "san_dns": names(100)})),
        )
        .await;
    assert_eq!(s, 201, "100 names are allowed: {v}");
    let leaf = write(dir, "hundred.pem", v["certificate_pem"].as_str().unwrap());
    let (ok, text) = run(
        "openssl",
        &["x509", "-in", &leaf, "-noout", "-ext", "subjectAltName"],
    );
    assert!(ok && text.matches("DNS:").count() == 100, "{text}");
    let before = issued(&server);

    // A CSR over 16 KiB is refused on its size, before it is parsed.
    let oversized = pem_of("CERTIFICATE REQUEST", &vec![0x30; 17 * 1024]);
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "limits", "common_name": "n0.svc.internal", "csr_pem": oversized})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("16384"), "{v}");

    // A key type outside SPEC §6 (P-521) is refused, as RSA-1024 is (api_refusals.rs).
    let (_, p521) = openssl_csr(
        dir,
        "p521",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "n0.svc.internal",
        "DNS:n0.svc.internal",
        &[],
    );
    let (s, v) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(
                json!({"service_id": "limits", "common_name": "n0.svc.internal", "csr_pem": p521}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(issued(&server), before, "an over-limit request issued");

    // JSON nested 20 000 deep (40 KB, under the body limit): in a known field and in an unknown one.
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    for body in [
        format!(r#"{{"service_id":"limits","common_name":"n0.svc.internal","san_dns":{deep}}}"#),
        format!(r#"{{"padding":{deep},"service_id":"limits","common_name":"n0.svc.internal"}}"#),
    ] {
        let (s, ctype, v) =
            post_raw(&server, "/api/certificates/issue", "application/json", body).await;
        assert!(s == 400 || s == 422, "{s} {v}");
        assert_eq!(ctype, "application/problem+json", "{v}");
    }
    // On ACME: an RFC 8555 malformed problem.
    let (s, ctype, v) = post_raw(
        &server,
        "/acme/new-account",
        "application/jose+json",
        format!(r#"{{"protected":{deep}}}"#),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(ctype, "application/problem+json", "{v}");
    assert_eq!(v["type"], "urn:ietf:params:acme:error:malformed", "{v}");

    assert_eq!(issued(&server), before, "an over-limit request issued");
    let (s, _) = server.admin("GET", "/api/health", None).await;
    assert_eq!(s, 200, "the server stopped answering");
}
