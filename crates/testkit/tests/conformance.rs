//! RFC 5280 conformance with independent tools: `openssl verify -x509_strict` for every key type,
//! and pkilint's PKIX linters on root, intermediate, RSA and EC leaves, and the CRL.
use serde_json::json;
use vcc_pki_testkit::*;

const KEY_TYPES: [&str; 6] = [
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
];

#[tokio::test]
async fn openssl_verifies_every_key_type_at_every_level() {
    // CA key types: each type once as root and once as intermediate (RSA-4096 roots are slow to make,
    // so the pairs rotate rather than forming the full 6×6 product).
    for (i, ca_key) in KEY_TYPES.iter().enumerate() {
        let inter_key = KEY_TYPES[(i + 1) % KEY_TYPES.len()];
        let server = TestServer::start(Some(PASSWORD));
        server.create_ca(ca_key, inter_key).await;
        let dir = server.dir.path();
        let root = server.root_pem();
        for leaf_key in KEY_TYPES
            .iter()
            .filter(|k| **k != "rsa-4096" && **k != "rsa-3072")
        {
            let (s, issued) = server
                .admin("POST", "/api/certificates/issue", Some(json!({"service_id": "svc", "common_name": "svc.example.internal", "key_type": leaf_key})))
                .await;
            assert_eq!(s, 201, "{ca_key}/{inter_key}/{leaf_key}: {issued}");
            let (ok, out) = openssl_verify(
                dir,
                &root,
                issued["ca_chain_pem"].as_str().unwrap(),
                issued["certificate_pem"].as_str().unwrap(),
                None,
            );
            assert!(
                ok,
                "root {ca_key}, intermediate {inter_key}, leaf {leaf_key}: {out}"
            );
        }
        // Leaves from openssl-made CSRs of the larger RSA sizes.
        for (name, alg) in [("rsa3072", ["rsa:3072"]), ("rsa4096", ["rsa:4096"])] {
            let (_, csr) = openssl_csr(dir, name, &alg, "svc.example.internal", "", &[]);
            let (s, issued) = server
                .admin("POST", "/api/certificates/issue", Some(json!({"service_id": "svc", "common_name": "svc.example.internal", "csr_pem": csr})))
                .await;
            assert_eq!(s, 201, "{issued}");
            assert_eq!(
                issued["key_type"],
                if name == "rsa3072" {
                    "rsa-3072"
                } else {
                    "rsa-4096"
                }
            );
            let (ok, out) = openssl_verify(
                dir,
                &root,
                issued["ca_chain_pem"].as_str().unwrap(),
                issued["certificate_pem"].as_str().unwrap(),
                None,
            );
            assert!(ok, "{name}: {out}");
        }
    }
}

#[tokio::test]
async fn pkilint_finds_no_errors_in_certificates_and_crl() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("rsa-2048", "ecdsa-p256").await;
    let dir = server.dir.path();
    let mut documents: Vec<(String, String)> = vec![("root".into(), server.root_pem())];
    let mut chain = String::new();
    for (key, cn, sans) in [
        (
            "rsa-2048",
            "veritas-backend",
            json!(["veritas-backend.internal"]),
        ),
        ("ecdsa-p256", "api.example.internal", json!([])),
        (
            "ecdsa-p384",
            "db.example.internal",
            json!(["db2.example.internal"]),
        ),
        ("ed25519", "edge.example.internal", json!([])),
    ] {
        let (s, issued) = server
            .admin("POST", "/api/certificates/issue", Some(json!({"service_id": "svc", "common_name": cn, "san_dns": sans, "san_ip": ["10.1.2.3"], "key_type": key})))
            .await;
        assert_eq!(s, 201, "{issued}");
        chain = issued["ca_chain_pem"].as_str().unwrap().to_string();
        documents.push((
            format!("leaf-{key}"),
            issued["certificate_pem"].as_str().unwrap().to_string(),
        ));
        if key == "ecdsa-p256" {
            let (s, _) = server.admin("POST", "/api/certificates/revoke", Some(json!({"serial_number": issued["serial_number"], "reason": "keyCompromise"}))).await;
            assert_eq!(s, 200);
        }
    }
    documents.push(("intermediate".into(), first_pem(&chain)));
    for (name, pem) in &documents {
        let errors = pkilint_errors(
            dir,
            "lint_pkix_cert",
            &[],
            pem.as_bytes(),
            &format!("{name}.pem"),
        );
        assert!(errors.is_empty(), "pkilint on {name}: {errors:#?}");
    }
    let (s, _) = server.admin("POST", "/api/crl/generate", None).await;
    assert_eq!(s, 200);
    let der = server
        .client()
        .get(format!("{}/crl", server.url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = write(dir, "crl.der", &der);
    let (_, text) = run(
        "openssl",
        &["crl", "-inform", "DER", "-in", &path, "-noout", "-text"],
    );
    assert!(
        text.contains("Key Compromise"),
        "revoked entry missing: {text}"
    );
    let errors = pkilint_errors(
        dir,
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        &der,
        "crl.der",
    );
    assert!(errors.is_empty(), "pkilint on CRL: {errors:#?}");
}
