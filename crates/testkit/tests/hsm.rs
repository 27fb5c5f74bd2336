//! CA keys in a PKCS#11 token (issue #17, SPEC §12), with SoftHSM2 as the token: the key is made
//! inside it and never stored; certificates, CRLs and OCSP responses it signs pass openssl; a
//! missing token or a refused PIN at start leaves the server sealed with the reason, and it
//! recovers once the token is back.
use serde_json::{json, Value};
use vcc_pki_testkit::*;

async fn issue(server: &TestServer, cn: &str) -> (u16, Value) {
    server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": cn})),
        )
        .await
}

fn ocsp(server: &TestServer, issued: &Value, leaf: &str) -> String {
    let dir = server.dir.path();
    let root = write(dir, "root.pem", server.root_pem());
    let inter = write(
        dir,
        "inter.pem",
        first_pem(issued["ca_chain_pem"].as_str().unwrap()),
    );
    let url = format!("{}/ocsp", server.http_url.as_ref().unwrap());
    let (_, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &inter,
            "-CAfile",
            &root,
            "-url",
            &url,
            "-cert",
            leaf,
            "-resp_text",
        ],
    );
    out
}

#[tokio::test]
async fn an_intermediate_key_in_softhsm_signs_certificates_crls_and_ocsp() {
    let hsm = SoftHsm::get();
    let uri = hsm.token("vcc-ca-signs", "intermediate");
    let server = TestServer::start_public(Some(PASSWORD));
    let dir = server.dir.path();
    let (s, root) = server
        .admin(
            "POST",
            "/api/ca/root",
            Some(json!({"common_name": "HSM Test Root", "key_type": "ecdsa-p384"})),
        )
        .await;
    assert_eq!(s, 201, "{root}");

    // A PIN in the URI is refused before anything is made: it would be stored.
    let (s, refused) = server
        .admin(
            "POST",
            "/api/ca/intermediate",
            Some(
                json!({"common_name": "HSM Intermediate", "key_type": "ecdsa-p256",
                        "key_uri": format!("{uri}&pin-value={SOFTHSM_PIN}")}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{refused}");
    assert!(
        refused["detail"].as_str().unwrap().contains("pin-source"),
        "{refused}"
    );
    assert_eq!(server.count("intermediate_ca"), 0);

    let (s, created) = server
        .admin(
            "POST",
            "/api/ca/intermediate",
            Some(json!({"common_name": "HSM Intermediate", "key_type": "ecdsa-p256", "key_uri": uri})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    assert_eq!(info["intermediate"]["key_storage"], "pkcs11", "{info}");
    assert_eq!(info["intermediate"]["key_uri"], uri.as_str());
    assert_eq!(info["root"]["key_storage"], "store");
    assert_eq!(info["sealed"], false);

    // The store keeps the URI and no key; the PIN is nowhere in the data dir or the database.
    assert_eq!(
        server.sql("SELECT length(encrypted_private_key) FROM intermediate_ca"),
        "0"
    );
    assert_eq!(server.sql("SELECT key_uri FROM intermediate_ca"), uri);
    if server.database_url.is_none() {
        for entry in std::fs::read_dir(server.data_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes
                        .windows(SOFTHSM_PIN.len())
                        .any(|w| w == SOFTHSM_PIN.as_bytes()),
                    "the PIN is in {}",
                    path.display()
                );
            }
        }
    }

    // A leaf signed by the token verifies under the root, strictly.
    let (s, issued) = issue(&server, "billing.example.internal").await;
    assert_eq!(s, 201, "{issued}");
    let chain = issued["ca_chain_pem"].as_str().unwrap();
    let cert = issued["certificate_pem"].as_str().unwrap();
    let (ok, out) = openssl_verify(dir, &server.root_pem(), chain, cert, None);
    assert!(ok, "{out}");
    let leaf = write(dir, "leaf.pem", cert);

    // OCSP: the responder certificate was signed by the token; openssl verifies the response.
    let out = ocsp(&server, &issued, &leaf);
    assert!(
        out.contains("Response verify OK") && out.contains("leaf.pem: good"),
        "{out}"
    );

    // Revoked: the token signs the CRL that lists it, and OCSP says revoked.
    let serial = issued["serial_number"].as_str().unwrap();
    let (s, rev) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial, "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200, "{rev}");
    let crl = wait_for_crl_with(&server, serial).await;
    let (ok, out) = openssl_verify(dir, &server.root_pem(), chain, cert, Some(&crl));
    assert!(!ok && out.contains("revoked"), "{out}");
    let out = ocsp(&server, &issued, &leaf);
    assert!(
        out.contains("Response verify OK") && out.contains("leaf.pem: revoked"),
        "{out}"
    );

    // `db verify` opens the token key and matches it to its certificate.
    if server.database_url.is_none() {
        let out = std::process::Command::new(bin())
            .args([
                "--data-dir",
                server.data_dir().to_str().unwrap(),
                "db",
                "verify",
            ])
            .env("VCC_CA_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("intermediate CA key") && text.contains("matches its certificate"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_missing_token_or_refused_pin_at_start_seals_with_the_reason_until_it_is_back() {
    let hsm = SoftHsm::get();
    let uri = hsm.token("vcc-ca-faults", "intermediate");
    let mut server = TestServer::start_public(Some(PASSWORD));
    let (s, _) = server
        .admin(
            "POST",
            "/api/ca/root",
            Some(json!({"common_name": "Fault Root", "key_type": "ecdsa-p256"})),
        )
        .await;
    assert_eq!(s, 201);
    let (s, created) = server
        .admin("POST", "/api/ca/intermediate", Some(json!({"common_name": "Fault Intermediate", "key_type": "rsa-2048", "key_uri": uri})))
        .await;
    assert_eq!(s, 201, "{created}");
    let (s, _) = issue(&server, "a.example.internal").await;
    assert_eq!(s, 201);
    let certificates = server.count("certificates");

    // The token taken away while the server runs: issuance is a 503 problem and stores nothing;
    // once it is back the next request works, without a restart.
    let token_dir = hsm.token_dir("vcc-ca-faults");
    // Out of SoftHSM's token directory altogether (it loads every directory in it, whatever its name).
    let away = hsm.dir.join("vcc-ca-faults.away");
    std::fs::rename(&token_dir, &away).unwrap();
    let (s, refused) = issue(&server, "during.example.internal").await;
    assert_eq!(s, 503, "{refused}");
    assert_eq!(refused["status"], 503, "a problem document: {refused}");
    assert_eq!(server.count("certificates"), certificates);
    std::fs::rename(&away, &token_dir).unwrap();
    // The module looks for its tokens again at most once a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, issued) = issue(&server, "after.example.internal").await;
    assert_eq!(s, 201, "{issued}");
    let certificates = server.count("certificates");

    // The token taken away at start: the server starts, sealed, and says why; issuance is
    // refused, nothing stored.
    std::fs::rename(&token_dir, &away).unwrap();
    server.restart(Some(PASSWORD));
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    assert_eq!(info["sealed"], true, "{info}");
    let reason = info["sealed_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("vcc-ca-faults") && reason.contains("no token"),
        "{info}"
    );
    let (s, refused) = issue(&server, "b.example.internal").await;
    assert_eq!(s, 503, "{refused}");
    assert_eq!(server.count("certificates"), certificates);

    // Back, with a wrong PIN: still sealed, and the reason says the PIN was refused.
    std::fs::rename(&away, &token_dir).unwrap();
    std::fs::write(hsm.pin_file("vcc-ca-faults"), "000000\n").unwrap();
    server.restart(Some(PASSWORD));
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    std::fs::write(hsm.pin_file("vcc-ca-faults"), format!("{SOFTHSM_PIN}\n")).unwrap();
    assert_eq!(info["sealed"], true, "{info}");
    assert!(
        info["sealed_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("refused the PIN"),
        "{info}"
    );

    // The right PIN again: unsealed, and issuance works.
    server.restart(Some(PASSWORD));
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    assert_eq!(info["sealed"], false, "{info}");
    assert!(
        info.get("sealed_reason").is_none_or(Value::is_null),
        "{info}"
    );
    let (s, issued) = issue(&server, "c.example.internal").await;
    assert_eq!(s, 201, "{issued}");
    let (ok, out) = openssl_verify(
        server.dir.path(),
        &server.root_pem(),
        issued["ca_chain_pem"].as_str().unwrap(),
        issued["certificate_pem"].as_str().unwrap(),
        None,
    );
    assert!(ok, "{out}");
}

/// Root and intermediate both in the token: no CA password at all, before or after a restart;
/// the root's self-signature and the intermediate's signature are the token's.
#[tokio::test]
async fn a_root_and_an_intermediate_in_the_token_need_no_ca_password() {
    let hsm = SoftHsm::get();
    let root_uri = hsm.token("vcc-ca-both", "root");
    let issuing_uri = hsm.uri("vcc-ca-both", "issuing");
    let mut server = TestServer::start_public(None);
    let (s, root) = server
        .admin(
            "POST",
            "/api/ca/root",
            Some(
                json!({"common_name": "Token Root", "key_type": "ecdsa-p384", "key_uri": root_uri}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{root}");
    let (s, created) = server
        .admin(
            "POST",
            "/api/ca/intermediate",
            Some(json!({"common_name": "Token Issuing CA", "key_type": "rsa-2048", "key_uri": issuing_uri})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(
        server.sql("SELECT length(encrypted_private_key) FROM root_ca"),
        "0"
    );
    server.restart(None);
    let (_, info) = server.admin("GET", "/api/ca/info", None).await;
    assert_eq!(info["sealed"], false, "{info}");
    assert_eq!(info["root"]["key_storage"], "pkcs11", "{info}");
    assert_eq!(info["chain_status"], "complete", "{info}");
    let (s, issued) = issue(&server, "token.example.internal").await;
    assert_eq!(s, 201, "{issued}");
    let (ok, out) = openssl_verify(
        server.dir.path(),
        &server.root_pem(),
        issued["ca_chain_pem"].as_str().unwrap(),
        issued["certificate_pem"].as_str().unwrap(),
        None,
    );
    assert!(ok, "{out}");
}
