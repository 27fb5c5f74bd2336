//! The seed workflow end to end over HTTPS, checked with openssl and sqlite3.
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use vcc_pki_testkit::*;

#[tokio::test]
async fn first_start_creates_private_data_dir_schema_and_admin_token() {
    let server = TestServer::start(Some(PASSWORD));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.data_dir()), 0o700);
    assert_eq!(mode(&server.data_dir().join("admin.token")), 0o600);
    if server.database_url.is_none() {
        assert_eq!(mode(&server.data_dir().join("pki.db")), 0o600);
    }
    assert!(server.token.starts_with("vccadm_") && server.token.len() > 40);

    let objects = server.schema_objects();
    for t in [
        "root_ca",
        "intermediate_ca",
        "certificates",
        "services",
        "revoked_certificates",
        "certificate_rotation_schedule",
        "crl_history",
        "audit_log",
    ] {
        assert!(
            objects.lines().any(|l| l == format!("table:{t}")),
            "missing table {t}: {objects}"
        );
    }
    for v in [
        "v_active_certificates",
        "v_certificate_status",
        "v_service_certificates",
        "v_expiring_certificates",
    ] {
        assert!(
            objects.lines().any(|l| l == format!("view:{v}")),
            "missing view {v}"
        );
    }
    // The token is stored only as a hash.
    let stored = server.sql("SELECT token_hash FROM api_tokens");
    assert_eq!(stored.len(), 64);
    assert!(!stored.contains(&server.token));

    // Before a CA exists the server's TLS certificate is self-signed: curl with the (absent) root fails,
    // with -k it answers.
    let (ok, out) = run("curl", &["-sk", &format!("{}/api/health", server.url)]);
    assert!(ok && out.contains("\"healthy\""), "{out}");
}

#[tokio::test]
async fn ca_creation_swaps_tls_and_keys_are_encrypted_for_openssl() {
    let server = TestServer::start(Some(PASSWORD));
    // Defaults are the seed's: RSA-4096 root, RSA-2048 intermediate.
    let (s, root) = server
        .admin(
            "POST",
            "/api/ca/root",
            Some(json!({"common_name": "VCC Root CA", "country": "DE", "organization": "VCC"})),
        )
        .await;
    assert_eq!(s, 201, "{root}");
    assert_eq!(root["key_type"], "rsa-4096");
    let (s, inter) =
        server.admin("POST", "/api/ca/intermediate", Some(json!({"common_name": "VCC Intermediate CA", "country": "DE", "organization": "VCC"}))).await;
    assert_eq!(s, 201, "{inter}");
    assert_eq!(inter["key_type"], "rsa-2048");

    // The server now presents a certificate issued by the intermediate: curl trusting only the root succeeds.
    let root_file = server.data_dir().join("root.crt");
    let (ok, out) = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            root_file.to_str().unwrap(),
            &format!("{}/api/ca/info", server.url),
        ],
    );
    assert!(ok, "curl --cacert root failed: {out}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["chain_status"], "complete");
    assert_eq!(info["sealed"], false);

    // Keys at rest: encrypted PKCS#8 that openssl opens with the CA password, and only with it.
    let dir = server.dir.path();
    for table in ["root_ca", "intermediate_ca"] {
        let pem = server.sql(&format!("SELECT encrypted_private_key FROM {table}"));
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{table}: {pem}"
        );
        let key = write(dir, &format!("{table}.key"), format!("{pem}\n"));
        let (ok, out) = run(
            "openssl",
            &[
                "pkey",
                "-in",
                &key,
                "-passin",
                &format!("pass:{PASSWORD}"),
                "-noout",
                "-text",
            ],
        );
        assert!(ok, "openssl could not open {table} key: {out}");
        let (ok, _) = run(
            "openssl",
            &[
                "pkey",
                "-in",
                &key,
                "-passin",
                "pass:wrong password",
                "-noout",
            ],
        );
        assert!(!ok, "{table} key opened with a wrong password");
        let (_, asn1) = run("openssl", &["asn1parse", "-in", &key]);
        assert!(
            asn1.contains("PBES2") && asn1.contains("aes-256-cbc"),
            "{asn1}"
        );
    }
    // A second root is refused.
    let (s, _) = server
        .admin(
            "POST",
            "/api/ca/root",
            Some(json!({"common_name": "Another Root"})),
        )
        .await;
    assert_eq!(s, 409);
    // Public distribution endpoints.
    let (ok, out) = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            root_file.to_str().unwrap(),
            "-o",
            dir.join("root.der").to_str().unwrap(),
            "-w",
            "%{content_type}",
            &format!("{}/ca/root.crt", server.url),
        ],
    );
    assert!(ok && out.contains("application/pkix-cert"), "{out}");
    let (ok, out) = run(
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            dir.join("root.der").to_str().unwrap(),
            "-noout",
            "-subject",
        ],
    );
    assert!(ok && out.contains("VCC Root CA"), "{out}");
}

#[tokio::test]
async fn issue_renew_revoke_and_crl_as_the_seed_workflow() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let root = server.root_pem();

    // Issue with a server-made key, as the seed's `cert issue veritas-backend` does.
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "veritas-backend", "common_name": "veritas-backend", "san_dns": ["veritas-backend.internal"], "san_ip": ["10.0.0.5"]})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let cert = issued["certificate_pem"].as_str().unwrap();
    let chain = issued["ca_chain_pem"].as_str().unwrap();
    let key = issued["private_key_pem"].as_str().unwrap();
    assert!(key.contains("PRIVATE KEY"));
    let (ok, out) = openssl_verify(dir, &root, chain, cert, None);
    assert!(ok, "openssl verify: {out}");
    let (_, text) = run(
        "openssl",
        &[
            "x509",
            "-in",
            &write(dir, "leaf.pem", cert),
            "-noout",
            "-text",
        ],
    );
    assert!(
        text.contains("DNS:veritas-backend, DNS:veritas-backend.internal, IP Address:10.0.0.5"),
        "{text}"
    );
    assert!(text.contains("CA:FALSE"));
    let serial1 = issued["serial_number"].as_str().unwrap().to_string();
    assert!(
        serial1.len() >= 16,
        "serial has fewer than 64 bits: {serial1}"
    );
    // Stored as DER before it was returned.
    assert_eq!(
        server.sql(&format!("SELECT COUNT(*) FROM certificates WHERE serial_number = '{serial1}' AND length(certificate_der) > 0")),
        "1"
    );

    // Issue from an openssl-made CSR: only its public key is used.
    let (_, csr) = openssl_csr(
        dir,
        "svc",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "api.example.internal",
        "DNS:api.example.internal",
        &[],
    );
    let (s, from_csr) = server
        .admin("POST", "/api/certificates/issue", Some(json!({"service_id": "api", "common_name": "api.example.internal", "csr_pem": csr, "profile": "server"})))
        .await;
    assert_eq!(s, 201, "{from_csr}");
    assert!(from_csr.get("private_key_pem").is_none());
    let (ok, out) = openssl_verify(
        dir,
        &root,
        chain,
        from_csr["certificate_pem"].as_str().unwrap(),
        None,
    );
    assert!(ok, "{out}");

    // Renew keeps the public key and gets a new random serial.
    let (s, renewed) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"service_id": "veritas-backend"})),
        )
        .await;
    assert_eq!(s, 201, "{renewed}");
    let serial2 = renewed["serial_number"].as_str().unwrap().to_string();
    assert_ne!(serial1, serial2);
    let pubkey = |pem: &str, name: &str| {
        run(
            "openssl",
            &["x509", "-in", &write(dir, name, pem), "-noout", "-pubkey"],
        )
        .1
    };
    assert_eq!(
        pubkey(cert, "a.pem"),
        pubkey(renewed["certificate_pem"].as_str().unwrap(), "b.pem")
    );

    // Renew over mTLS with the current certificate (empty body).
    let mtls = server.mtls_client(renewed["certificate_pem"].as_str().unwrap(), key);
    let (s, renewed2) = server
        .send(&mtls, "POST", "/api/certificates/renew", None, None)
        .await;
    assert_eq!(s, 201, "{renewed2}");
    assert_eq!(renewed2["renewed_from"], serial2.as_str());
    assert_eq!(
        pubkey(cert, "a.pem"),
        pubkey(renewed2["certificate_pem"].as_str().unwrap(), "c.pem")
    );
    // The service reads its own certificate over mTLS.
    let (s, own) = server
        .send(
            &mtls,
            "GET",
            "/api/certificates/veritas-backend",
            None,
            None,
        )
        .await;
    assert_eq!(s, 200, "{own}");

    // Revoke one serial; the CRL worker publishes it; openssl then rejects the certificate.
    let crl_before: i64 = server
        .sql("SELECT COALESCE(MAX(crl_number), 0) FROM crl_history")
        .parse()
        .unwrap();
    let (s, rev) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": serial1, "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200, "{rev}");
    assert_eq!(rev["revoked"][0]["serial_number"], serial1.as_str());
    // keyCompromise retires the key: the renewed siblings with the same key are revoked with it,
    // and the key can no longer renew.
    assert_eq!(rev["revoked"].as_array().unwrap().len(), 3, "{rev}");
    let (s, _) = server
        .send(&mtls, "POST", "/api/certificates/renew", None, None)
        .await;
    assert!(s == 401 || s == 403, "compromised key renewed: {s}");
    let crl_pem = wait_for_crl_with(&server, &serial1).await;
    let (ok, out) = openssl_verify(dir, &root, chain, cert, Some(&crl_pem));
    assert!(
        !ok && out.contains("revoked"),
        "revoked certificate accepted: {out}"
    );
    let (ok, out) = openssl_verify(
        dir,
        &root,
        chain,
        from_csr["certificate_pem"].as_str().unwrap(),
        Some(&crl_pem),
    );
    assert!(ok, "good certificate rejected with CRL: {out}");
    let (_, crl_text) = run(
        "openssl",
        &[
            "crl",
            "-in",
            &write(dir, "crl.pem", &crl_pem),
            "-noout",
            "-text",
        ],
    );
    assert!(crl_text.contains("Key Compromise"), "{crl_text}");
    let crl_after: i64 = server
        .sql("SELECT MAX(crl_number) FROM crl_history")
        .parse()
        .unwrap();
    assert!(crl_after > crl_before);

    // Forced CRL: number strictly increases, each kept in crl_history.
    let (s, c1) = server.admin("POST", "/api/crl/generate", None).await;
    assert_eq!(s, 200, "{c1}");
    let (_, c2) = server.admin("POST", "/api/crl/generate", None).await;
    assert!(c2["crl_number"].as_i64().unwrap() > c1["crl_number"].as_i64().unwrap());
    let numbers = server.sql("SELECT crl_number FROM crl_history ORDER BY id");
    let numbers: Vec<i64> = numbers.lines().map(|l| l.parse().unwrap()).collect();
    assert!(numbers.windows(2).all(|w| w[1] > w[0]), "{numbers:?}");
    let (s, info) = server.admin("GET", "/api/crl/info", None).await;
    assert_eq!(s, 200);
    assert_eq!(info["crl_number"], c2["crl_number"]);

    // Revoke by service: every unexpired, unrevoked certificate of it.
    for _ in 0..2 {
        let (s, _) = server
            .admin(
                "POST",
                "/api/certificates/issue",
                Some(json!({"service_id": "batch", "common_name": "batch.internal"})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, rev) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"service_id": "batch", "reason": "cessationOfOperation"})),
        )
        .await;
    assert_eq!(s, 200, "{rev}");
    assert_eq!(rev["revoked"].as_array().unwrap().len(), 2);
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"service_id": "batch", "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 409, "nothing left to revoke");

    // Inventory: filters and pagination.
    let (s, list) = server
        .admin("GET", "/api/certificates?status=revoked", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 5);
    let (_, page1) = server.admin("GET", "/api/certificates?limit=2", None).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("next_cursor")
        .to_string();
    let (_, page2) = server
        .admin(
            "GET",
            &format!("/api/certificates?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert!(!page2["items"].as_array().unwrap().is_empty());
    assert_ne!(
        page1["items"][0]["serial_number"],
        page2["items"][0]["serial_number"]
    );
    let (_, active) = server
        .admin(
            "GET",
            "/api/certificates?status=active&service_id=api",
            None,
        )
        .await;
    assert_eq!(active["items"].as_array().unwrap().len(), 1);

    // Health with statistics, docs and OpenAPI, unauthenticated.
    let client = server.client();
    let (s, health) = server.send(&client, "GET", "/api/health", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(health["statistics"]["certificates_revoked"], 5);
    let (s, openapi) = server
        .send(&client, "GET", "/openapi.json", None, None)
        .await;
    assert_eq!(s, 200);
    assert!(openapi["paths"]["/api/certificates/issue"].is_object());
    let (s, docs) = server.send(&client, "GET", "/docs", None, None).await;
    assert_eq!(s, 200);
    assert!(docs.as_str().unwrap().contains("/openapi.json"));
}

/// The typed admin client against the real server: every answer decodes into the proto types
/// (a field renamed on one side fails here), and a refusal comes back as the problem document.
#[tokio::test]
async fn typed_admin_client_issues_lists_and_revokes() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let admin = server.admin_client();
    let info = admin.ca_info().await.expect("CA info");
    assert_eq!(info.chain_status, "complete");
    assert!(!info.sealed);

    let issued = admin
        .issue(&vcc_pki_proto::IssueRequest {
            service_id: "typed".into(),
            common_name: "typed.internal".into(),
            san_dns: vec!["typed.internal".into()],
            ..Default::default()
        })
        .await
        .expect("issue");
    assert_eq!(issued.common_name, "typed.internal");
    assert!(
        issued.private_key_pem.is_some(),
        "no CSR: the server made the key"
    );
    // The certificate it returned is the one the server stores and openssl accepts.
    let (ok, out) = openssl_verify(
        server.dir.path(),
        &server.root_pem(),
        &issued.ca_chain_pem,
        &issued.certificate_pem,
        None,
    );
    assert!(ok, "{out}");
    let current = admin.current_certificate("typed").await.expect("current");
    assert_eq!(current.certificate.serial_number, issued.serial_number);
    assert_eq!(current.certificate.status, "active");

    let revoked = admin
        .revoke(&vcc_pki_proto::RevokeRequest {
            serial_number: Some(issued.serial_number.clone()),
            reason: Some("keyCompromise".into()),
            ..Default::default()
        })
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked.len(), 1);
    assert_eq!(revoked.reason, "keyCompromise");
    let listed = admin
        .list_certificates(&vcc_pki_proto::CertificateListQuery {
            status: Some("revoked".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(
        listed.items[0].revocation_reason.as_deref(),
        Some("keyCompromise")
    );

    // Refused: the same serial again (409), and a token that is not the admin's (401).
    let again = admin
        .revoke(&vcc_pki_proto::RevokeRequest {
            serial_number: Some(issued.serial_number.clone()),
            ..Default::default()
        })
        .await
        .expect_err("a second revocation is refused");
    assert_eq!(again.status(), Some(409), "{again}");
    assert!(matches!(again, AdminError::Problem(ref p) if p.kind.ends_with(":conflict")));
    let stranger = AdminClient::new(
        &server.url,
        "vccadm_not-a-token",
        ServerTrust::Pem(server.root_pem().into_bytes()),
    )
    .unwrap();
    let refused_list = stranger
        .list_certificates(&Default::default())
        .await
        .expect_err("an unknown token lists nothing");
    assert_eq!(refused_list.status(), Some(401), "{refused_list}");
    // Reading the CA's public info needs no token.
    let public = stranger.ca_info().await.expect("CA info is public");
    assert_eq!(public.chain_status, "complete");
}
