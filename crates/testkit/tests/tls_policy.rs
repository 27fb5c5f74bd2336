//! TLS policy (issue 18 item 7), as `openssl s_client` and `curl` see it: TLS 1.2 and 1.3 only,
//! forward-secret key exchange only (no RSA key transport), ALPN h2 and http/1.1; client
//! certificates fail closed (revoked, foreign, or not the certificate the store holds → not a
//! service).
use serde_json::json;
use vcc_pki_testkit::*;

/// `openssl s_client` against the HTTPS listener with `args`; its whole output.
fn s_client(server: &TestServer, args: &str) -> String {
    let addr = server.url.trim_start_matches("https://").to_string();
    let (_, out) = run(
        "sh",
        &[
            "-c",
            &format!(
                "openssl s_client -connect {addr} -servername localhost {args} </dev/null 2>&1"
            ),
        ],
    );
    out
}

fn handshake_ok(out: &str) -> bool {
    out.contains("BEGIN CERTIFICATE")
        || out.contains("Cipher is ") && !out.contains("Cipher is (NONE)")
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_with_forward_secret_key_exchange() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    for (args, expect) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let out = s_client(&server, args);
        assert!(handshake_ok(&out) && out.contains(expect), "{args}: {out}");
    }
    // TLS 1.1 and 1.0: refused by the server even when the client allows them.
    for args in [
        "-tls1_1 -cipher DEFAULT:@SECLEVEL=0",
        "-tls1 -cipher DEFAULT:@SECLEVEL=0",
    ] {
        let out = s_client(&server, args);
        assert!(!handshake_ok(&out), "{args} was accepted: {out}");
    }
    // RSA key transport (no forward secrecy) is not offered.
    let out = s_client(
        &server,
        "-tls1_2 -cipher AES128-GCM-SHA256:AES256-SHA256:AES128-SHA",
    );
    assert!(!handshake_ok(&out), "RSA key exchange accepted: {out}");
    // ALPN as configured.
    let out = s_client(&server, "-alpn h2");
    assert!(out.contains("ALPN protocol: h2"), "{out}");
    let out = s_client(&server, "-alpn http/1.1");
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
}

/// `curl` POST /api/certificates/renew with a client certificate; the HTTP status (0: no answer).
fn renew_with(server: &TestServer, cert: &str, key: &str, name: &str) -> u16 {
    let dir = server.dir.path();
    let root = write(dir, "root.pem", server.root_pem());
    let cert = write(dir, &format!("{name}.crt"), cert);
    let key = write(dir, &format!("{name}.key"), key);
    let (_, out) = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            &root,
            "--cert",
            &cert,
            "--key",
            &key,
            "-X",
            "POST",
            &format!("{}/api/certificates/renew", server.url),
        ],
    );
    out.trim().parse().unwrap_or(0)
}

async fn issue(server: &TestServer, cn: &str) -> serde_json::Value {
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": "billing", "common_name": cn})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    issued
}

#[tokio::test]
async fn client_certificates_fail_closed() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // The current certificate renews over mTLS.
    let good = issue(&server, "billing.example.internal").await;
    let (cert, key) = (
        good["certificate_pem"].as_str().unwrap(),
        good["private_key_pem"].as_str().unwrap(),
    );
    assert_eq!(renew_with(&server, cert, key, "good"), 201);

    // Revoked: not a service any more.
    let revoked = issue(&server, "billing.example.internal").await;
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": revoked["serial_number"], "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200);
    let status = renew_with(
        &server,
        revoked["certificate_pem"].as_str().unwrap(),
        revoked["private_key_pem"].as_str().unwrap(),
        "revoked",
    );
    assert!(
        status == 401 || status == 0,
        "a revoked certificate renewed: {status}"
    );

    // Issued by another CA with the same names: refused in the handshake or not a service.
    let dir = server.dir.path();
    let (ok, out) = run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            dir.join("foreign.key").to_str().unwrap(),
            "-out",
            dir.join("foreign.crt").to_str().unwrap(),
            "-subj",
            "/CN=billing.example.internal",
            "-days",
            "30",
        ],
    );
    assert!(ok, "{out}");
    let status = renew_with(
        &server,
        &std::fs::read_to_string(dir.join("foreign.crt")).unwrap(),
        &std::fs::read_to_string(dir.join("foreign.key")).unwrap(),
        "foreign",
    );
    assert!(
        status == 401 || status == 0,
        "a foreign certificate renewed: {status}"
    );

    // Not the certificate the store holds (its row says another DER, as if renamed or swapped):
    // not a service.
    let swapped = issue(&server, "billing.example.internal").await;
    server.sql(&format!(
        "UPDATE certificates SET common_name = 'renamed.example.internal', certificate_der = (SELECT certificate_der FROM certificates WHERE serial_number = '{}') WHERE serial_number = '{}'",
        good["serial_number"].as_str().unwrap(),
        swapped["serial_number"].as_str().unwrap()
    ));
    let status = renew_with(
        &server,
        swapped["certificate_pem"].as_str().unwrap(),
        swapped["private_key_pem"].as_str().unwrap(),
        "swapped",
    );
    assert!(
        status == 401 || status == 0,
        "a certificate the store does not hold renewed: {status}"
    );
}

/// An expired client certificate issued by this CA (made with `openssl ca`, backdated, from the
/// exported intermediate key) is refused in the handshake with the "certificate expired" alert;
/// the same CA's current certificate is accepted on the same connection settings.
#[tokio::test]
async fn an_expired_client_certificate_is_refused_in_the_handshake() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let (s, export) = server.admin("GET", "/api/ca/export", None).await;
    assert_eq!(s, 200, "{export}");
    let inter_cert = write(
        dir,
        "inter.crt",
        export["intermediate"]["certificate_pem"].as_str().unwrap(),
    );
    let inter_enc = write(
        dir,
        "inter.enc.key",
        export["intermediate"]["encrypted_private_key_pem"]
            .as_str()
            .unwrap(),
    );
    let inter_key = dir.join("inter.key").to_str().unwrap().to_string();
    let (ok, out) = run(
        "openssl",
        &[
            "pkey",
            "-in",
            &inter_enc,
            "-passin",
            &format!("pass:{PASSWORD}"),
            "-out",
            &inter_key,
        ],
    );
    assert!(ok, "{out}");
    let (key, csr) = openssl_csr(
        dir,
        "expired",
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "billing.example.internal",
        "",
        &[],
    );
    let csr = write(dir, "expired.csr", csr);
    let key = write(dir, "expired-client.key", key);
    write(dir, "index.txt", "");
    write(dir, "serial", "01\n");
    let conf = write(
        dir,
        "ca.cnf",
        format!(
            "[ca]\ndefault_ca = x\n[x]\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\nserial = {d}/serial\n\
             default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n\
             [ext]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
             extendedKeyUsage = clientAuth\nsubjectAltName = DNS:billing.example.internal\n",
            d = dir.display()
        ),
    );
    let expired = dir.join("expired.crt").to_str().unwrap().to_string();
    let (ok, out) = run(
        "openssl",
        &[
            "ca",
            "-batch",
            "-config",
            &conf,
            "-cert",
            &inter_cert,
            "-keyfile",
            &inter_key,
            "-in",
            &csr,
            "-out",
            &expired,
            "-startdate",
            "20250101000000Z",
            "-enddate",
            "20250201000000Z",
            "-extensions",
            "ext",
            "-notext",
        ],
    );
    assert!(ok, "{out}");
    // It is this CA's: openssl says only that it expired.
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            &write(dir, "root.pem", server.root_pem()),
            "-untrusted",
            &inter_cert,
            &expired,
        ],
    );
    assert!(!ok && out.contains("certificate has expired"), "{out}");

    let out = s_client(&server, &format!("-tls1_2 -cert {expired} -key {key}"));
    assert!(
        out.contains("alert certificate expired"),
        "an expired client certificate was not refused with its alert: {out}"
    );
    let status = renew_with(
        &server,
        &std::fs::read_to_string(&expired).unwrap(),
        &std::fs::read_to_string(&key).unwrap(),
        "expired-renew",
    );
    assert!(
        status == 0 || status == 401,
        "an expired certificate renewed: {status}"
    );

    // The CA's current certificate on the same settings: the handshake completes.
    let good = issue(&server, "billing.example.internal").await;
    let cert = write(
        dir,
        "good-client.crt",
        good["certificate_pem"].as_str().unwrap(),
    );
    let gkey = write(
        dir,
        "good-client.key",
        good["private_key_pem"].as_str().unwrap(),
    );
    let out = s_client(&server, &format!("-tls1_2 -cert {cert} -key {gkey}"));
    assert!(handshake_ok(&out) && !out.contains("alert"), "{out}");
}
