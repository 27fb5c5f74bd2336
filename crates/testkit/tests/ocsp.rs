//! The OCSP responder (RFC 6960 / 5019) against `openssl ocsp` and pkilint, over the plain-HTTP
//! listener that the certificates' AIA names, with POST and GET; plus its refusals.
use serde_json::{json, Value};
use std::path::Path;
use vcc_pki_testkit::*;

/// Files an `openssl ocsp` run needs, written into the test dir.
struct Chain {
    root: String,
    intermediate: String,
}

fn chain_files(server: &TestServer, issued: &Value) -> Chain {
    let dir = server.dir.path();
    Chain {
        root: write(dir, "root.pem", server.root_pem()),
        intermediate: write(
            dir,
            "intermediate.pem",
            first_pem(issued["ca_chain_pem"].as_str().unwrap()),
        ),
    }
}

async fn issue(server: &TestServer, service_id: &str, cn: &str) -> Value {
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": service_id, "common_name": cn})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    issued
}

/// The OCSP URL a relying party reads from the certificate's AIA.
fn ocsp_uri(leaf: &str) -> String {
    let (ok, out) = run("openssl", &["x509", "-in", leaf, "-noout", "-ocsp_uri"]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// `openssl ocsp -issuer … -url … -CAfile root -resp_text` plus `extra`.
fn openssl_ocsp(chain: &Chain, url: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "ocsp",
        "-issuer",
        &chain.intermediate,
        "-url",
        url,
        "-CAfile",
        &chain.root,
        "-resp_text",
    ];
    args.extend(extra);
    let (_, out) = run("openssl", &args);
    out
}

fn assert_verified(out: &str, status_line: &str) {
    assert!(out.contains("Response verify OK"), "not verified: {out}");
    assert!(out.contains(status_line), "expected '{status_line}': {out}");
    assert!(
        out.contains("This Update:") && out.contains("Next Update:"),
        "{out}"
    );
    assert!(!out.contains("WARNING"), "openssl warned: {out}");
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

/// GET {url}/{url-encoded base64 of the request} with curl; returns (headers, body file).
fn curl_get(dir: &Path, url: &str, request_der: &[u8], name: &str) -> (String, String) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(request_der);
    let encoded: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let body = dir.join(name).to_str().unwrap().to_string();
    let (ok, headers) = run(
        "curl",
        &["-sS", "-D", "-", "-o", &body, &format!("{url}/{encoded}")],
    );
    assert!(ok, "{headers}");
    (headers.to_ascii_lowercase(), body)
}

#[tokio::test]
async fn openssl_ocsp_reports_good_revoked_and_unknown_over_post_and_get() {
    let server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "rsa-2048").await;
    let dir = server.dir.path();
    let public = server.http_url.clone().unwrap();
    let issued = issue(&server, "billing", "billing.example.internal").await;
    let chain = chain_files(&server, &issued);
    let leaf = write(dir, "leaf.pem", issued["certificate_pem"].as_str().unwrap());

    // The leaf names the public URL in AIA and CRL DP, and still passes strict verification and pkilint.
    let url = ocsp_uri(&leaf);
    assert_eq!(url, format!("{public}/ocsp"));
    let (_, text) = run("openssl", &["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(
        text.contains(&format!("CA Issuers - URI:{public}/ca/intermediate.crt")),
        "{text}"
    );
    assert!(text.contains(&format!("URI:{public}/crl")), "{text}");
    let (ok, out) = openssl_verify(
        dir,
        &server.root_pem(),
        issued["ca_chain_pem"].as_str().unwrap(),
        issued["certificate_pem"].as_str().unwrap(),
        None,
    );
    assert!(ok, "{out}");
    let errors = pkilint_errors(
        dir,
        "lint_pkix_cert",
        &[],
        &read(Path::new(&leaf)),
        "leaf-aia.pem",
    );
    assert!(errors.is_empty(), "pkilint on leaf with AIA: {errors:#?}");

    // good, with a nonce (openssl checks it is echoed) and without one (the pre-signed response).
    let out = openssl_ocsp(&chain, &url, &["-cert", &leaf]);
    assert_verified(&out, "leaf.pem: good");
    let good = dir.join("good.der");
    let out = openssl_ocsp(
        &chain,
        &url,
        &[
            "-cert",
            &leaf,
            "-no_nonce",
            "-respout",
            good.to_str().unwrap(),
        ],
    );
    assert_verified(&out, "leaf.pem: good");

    // unknown: a serial this intermediate never issued.
    let unknown = dir.join("unknown.der");
    let out = openssl_ocsp(
        &chain,
        &url,
        &[
            "-serial",
            "0x1234567890abcdef",
            "-respout",
            unknown.to_str().unwrap(),
        ],
    );
    assert_verified(&out, "0x1234567890abcdef: unknown");

    // Revoked: visible as soon as revoke returns, with reason and time, with and without nonce.
    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": issued["serial_number"], "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let revoked = dir.join("revoked.der");
    for extra in [
        vec![],
        vec!["-no_nonce", "-respout", revoked.to_str().unwrap()],
    ] {
        let mut args = vec!["-cert", leaf.as_str()];
        args.extend(extra);
        let out = openssl_ocsp(&chain, &url, &args);
        assert_verified(&out, "leaf.pem: revoked");
        assert!(out.contains("Reason: keyCompromise"), "{out}");
        assert!(out.contains("Revocation Time:"), "{out}");
    }

    // GET (RFC 6960 A.1): the base64 request in the path, with RFC 5019 caching headers.
    let request = dir.join("request.der");
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &chain.intermediate,
            "-cert",
            &leaf,
            "-no_nonce",
            "-reqout",
            request.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let (headers, body) = curl_get(dir, &url, &read(&request), "get.der");
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    for expected in [
        "content-type: application/ocsp-response",
        "cache-control: max-age=",
        "public, no-transform, must-revalidate",
        "last-modified: ",
        "expires: ",
        "etag: ",
    ] {
        assert!(
            headers.contains(expected),
            "missing '{expected}': {headers}"
        );
    }
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            &body,
            "-issuer",
            &chain.intermediate,
            "-cert",
            &leaf,
            "-CAfile",
            &chain.root,
            "-resp_text",
            "-no_nonce",
        ],
    );
    assert!(ok, "{out}");
    assert_verified(&out, "leaf.pem: revoked");
    // Served from the cache: the same bytes again, and 304 for a matching If-None-Match. Each
    // replica's revocation follower (polling every second) drops the answers cached for a newly
    // revoked serial once, so the answer signed at revocation time may be replaced once: wait
    // for that to have happened, then the cache must hand out the same bytes.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (headers, body) = curl_get(dir, &url, &read(&request), "get1.der");
    let (_, again) = curl_get(dir, &url, &read(&request), "get2.der");
    assert_eq!(read(Path::new(&body)), read(Path::new(&again)));
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_string();
    let (_, out) = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("{url}/{}", {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(read(&request))
            }),
        ],
    );
    assert_eq!(out.trim(), "304");

    // pkilint: no ERROR/FATAL on good, revoked and unknown responses.
    for (name, path) in [
        ("good", &good),
        ("revoked", &revoked),
        ("unknown", &unknown),
    ] {
        let errors = pkilint_errors(
            dir,
            "lint_ocsp_response",
            &[],
            &read(path),
            &format!("ocsp-{name}.der"),
        );
        assert!(
            errors.is_empty(),
            "pkilint on the {name} response: {errors:#?}"
        );
    }

    // The delegated responder certificate: OCSP signing only, nocheck, issued by the intermediate,
    // clean under pkilint, and stored and audited like every certificate.
    let (_, text) = run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            good.to_str().unwrap(),
            "-resp_text",
            "-noverify",
        ],
    );
    let responder = first_pem(&text[text.find("-----BEGIN CERTIFICATE-----").unwrap()..]);
    let responder_file = write(dir, "responder.pem", &responder);
    let (_, details) = run(
        "openssl",
        &["x509", "-in", &responder_file, "-noout", "-text"],
    );
    for expected in [
        "OCSP Signing",
        "OCSP No Check",
        "CA:FALSE",
        "Digital Signature",
    ] {
        assert!(
            details.contains(expected),
            "responder lacks {expected}: {details}"
        );
    }
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "ocsphelper",
            "-CAfile",
            &chain.root,
            "-untrusted",
            &chain.intermediate,
            &responder_file,
        ],
    );
    assert!(ok, "{out}");
    let errors = pkilint_errors(
        dir,
        "lint_pkix_cert",
        &[],
        responder.as_bytes(),
        "responder-lint.pem",
    );
    assert!(
        errors.is_empty(),
        "pkilint on the responder certificate: {errors:#?}"
    );
    let (_, serial_line) = run(
        "openssl",
        &["x509", "-in", &responder_file, "-noout", "-serial"],
    );
    let serial = serial_line
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    assert_eq!(
        server.sql(&format!(
            "SELECT service_id || '|' || profile FROM certificates WHERE serial_number = '{serial}'"
        )),
        "vcc-pki-ocsp|ocsp_signing"
    );
    assert_eq!(
        server.sql(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issue_ocsp_responder' AND target_id = '{serial}'"
        )),
        "1"
    );
    let (s, chain_check) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(
        (s, chain_check["intact"].clone()),
        (200, json!(true)),
        "{chain_check}"
    );
}

#[tokio::test]
async fn responder_survives_restart_sealed_start_and_unlock() {
    let mut server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p384").await;
    let dir = server.dir.path().to_path_buf();
    let good = issue(&server, "ledger", "ledger.example.internal").await;
    let bad = issue(&server, "ledger", "ledger.example.internal").await;
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": bad["serial_number"], "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200);
    let chain = chain_files(&server, &good);
    let good_leaf = write(&dir, "good.pem", good["certificate_pem"].as_str().unwrap());
    let bad_leaf = write(&dir, "bad.pem", bad["certificate_pem"].as_str().unwrap());
    let url = ocsp_uri(&good_leaf);

    // Sealed restart: the responder of the first start still signs (its key, kept in the data
    // dir 0600, is not a CA key), so OCSP keeps answering while the CA is locked.
    server.restart(None);
    let out = openssl_ocsp(&chain, &url, &["-cert", &good_leaf]);
    assert_verified(&out, "good.pem: good");
    let out = openssl_ocsp(&chain, &url, &["-cert", &bad_leaf, "-no_nonce"]);
    assert_verified(&out, "bad.pem: revoked");
    // Without that key nothing can sign until the CA is unlocked.
    std::fs::remove_file(server.data_dir().join("ocsp-responder.key")).unwrap();
    server.restart(None);
    let out = openssl_ocsp(&chain, &url, &["-cert", &good_leaf]);
    assert!(out.contains("trylater"), "{out}");
    let (s, body) = server
        .admin(
            "POST",
            "/api/ca/unlock",
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let out = openssl_ocsp(&chain, &url, &["-cert", &good_leaf]);
    assert_verified(&out, "good.pem: good");
    let out = openssl_ocsp(&chain, &url, &["-cert", &bad_leaf, "-no_nonce"]);
    assert_verified(&out, "bad.pem: revoked");
    assert!(out.contains("Reason: superseded"), "{out}");
    // The first start's responder was reused by the first sealed restart; the second, without
    // its key, issued one more once unlocked.
    assert_eq!(responder_certificates(&server), 2);

    // Over the HTTPS port too (POST with curl).
    let request = dir.join("request.der");
    let (ok, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            &chain.intermediate,
            "-cert",
            &good_leaf,
            "-no_nonce",
            "-reqout",
            request.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let response = dir.join("https.der");
    let (ok, out) = run(
        "curl",
        &[
            "-sS",
            "--cacert",
            &chain.root,
            "-H",
            "Content-Type: application/ocsp-request",
            "--data-binary",
            &format!("@{}", request.display()),
            "-o",
            response.to_str().unwrap(),
            &format!("{}/ocsp", server.url),
        ],
    );
    assert!(ok, "{out}");
    let (_, out) = run(
        "openssl",
        &[
            "ocsp",
            "-respin",
            response.to_str().unwrap(),
            "-issuer",
            &chain.intermediate,
            "-cert",
            &good_leaf,
            "-CAfile",
            &chain.root,
            "-no_nonce",
        ],
    );
    assert_verified(&out, "good.pem: good");
}

fn responder_certificates(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id = 'vcc-pki-ocsp'")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn malformed_oversized_and_foreign_requests_get_ocsp_errors_and_http_serves_only_public_data()
{
    let server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let public = server.http_url.clone().unwrap();
    let ocsp = format!("{public}/ocsp");
    let client = reqwest::Client::new();
    let malformed: &[u8] = &[0x30, 0x03, 0x0a, 0x01, 0x01];

    for body in [b"not an OCSP request".to_vec(), vec![0x30; 20_000]] {
        let resp = client
            .post(&ocsp)
            .header("content-type", "application/ocsp-request")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/ocsp-response");
        assert_eq!(&resp.bytes().await.unwrap()[..], malformed);
    }
    for path in ["/ocsp/not-base64!", "/ocsp"] {
        let resp = client.get(format!("{public}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(&resp.bytes().await.unwrap()[..], malformed, "{path}");
    }
    let bad = write(dir, "bad.der", malformed);
    let (_, out) = run(
        "openssl",
        &["ocsp", "-respin", &bad, "-resp_text", "-noverify"],
    );
    assert!(out.contains("malformedrequest"), "{out}");

    // A CA that is not ours: unauthorized.
    let foreign_key = dir.join("foreign.key");
    let foreign = dir.join("foreign.pem");
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
            foreign_key.to_str().unwrap(),
            "-out",
            foreign.to_str().unwrap(),
            "-subj",
            "/CN=Someone Else CA",
            "-days",
            "2",
        ],
    );
    assert!(ok, "{out}");
    let (_, out) = run(
        "openssl",
        &[
            "ocsp",
            "-issuer",
            foreign.to_str().unwrap(),
            "-serial",
            "0x01",
            "-url",
            &ocsp,
        ],
    );
    assert!(out.contains("unauthorized"), "{out}");

    // A good answer for a P-256 intermediate too.
    let issued = issue(&server, "edge", "edge.example.internal").await;
    let chain = chain_files(&server, &issued);
    let leaf = write(dir, "leaf.pem", issued["certificate_pem"].as_str().unwrap());
    let out = openssl_ocsp(&chain, &ocsp_uri(&leaf), &["-cert", &leaf]);
    assert_verified(&out, "leaf.pem: good");

    // Plain HTTP serves the public documents and nothing else.
    let get = |path: &str| {
        let client = client.clone();
        let url = format!("{public}{path}");
        async move { client.get(url).send().await.unwrap() }
    };
    let root = get("/ca/root.crt").await;
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["content-type"], "application/pkix-cert");
    let intermediate = get("/ca/intermediate.crt").await.bytes().await.unwrap();
    let (_, inter_der) = run(
        "openssl",
        &[
            "x509",
            "-in",
            &chain.intermediate,
            "-outform",
            "DER",
            "-out",
            dir.join("i.der").to_str().unwrap(),
        ],
    );
    assert!(
        inter_der.is_empty() || !inter_der.contains("error"),
        "{inter_der}"
    );
    assert_eq!(&intermediate[..], &read(&dir.join("i.der"))[..]);
    let mut crl_status = 0;
    for _ in 0..50 {
        crl_status = get("/crl").await.status().as_u16();
        if crl_status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        crl_status, 200,
        "the CRL worker's first CRL over plain HTTP"
    );
    for path in ["/api/health", "/api/ca/info", "/api/certificates", "/docs"] {
        let resp = get(path).await;
        assert_eq!(resp.status(), 404, "{path} over plain HTTP");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
    }
    // A method the route does not take is a problem document there too.
    let resp = client.delete(format!("{public}/crl")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert!(resp.headers().contains_key("allow"));
}

/// Partitioned CRLs (docs/REVOCATION.md): each certificate's CRL distribution point names its
/// shard; after a revocation that shard's CRL, fetched over plain HTTP from the URL in the
/// certificate, lists it, carries a critical issuing distribution point naming that same URL (so
/// OpenSSL takes it as the right CRL for the certificate and reports it revoked), and passes
/// pkilint. The complete CRL at /crl lists it too; other certificates stay good against their own
/// shard's CRL.
#[tokio::test]
async fn revocation_reaches_the_shard_crl_named_in_the_certificate() {
    let server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let public = server.http_url.clone().unwrap();
    let crl_dp = |leaf: &str| -> String {
        let (_, text) = run("openssl", &["x509", "-in", leaf, "-noout", "-text"]);
        let uri = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("URI:").filter(|u| u.contains("/crl")))
            .unwrap_or_else(|| panic!("no CRL DP: {text}"))
            .to_string();
        uri
    };
    let revoked = issue(&server, "ledger", "ledger.example.internal").await;
    let kept = issue(&server, "billing", "billing.example.internal").await;
    let revoked_leaf = write(
        dir,
        "revoked-leaf.pem",
        revoked["certificate_pem"].as_str().unwrap(),
    );
    let kept_leaf = write(
        dir,
        "kept-leaf.pem",
        kept["certificate_pem"].as_str().unwrap(),
    );
    let revoked_dp = crl_dp(&revoked_leaf);
    let kept_dp = crl_dp(&kept_leaf);
    let shard_of = |dp: &str| -> u32 {
        dp.strip_prefix(&format!("{public}/crl/"))
            .and_then(|k| k.parse().ok())
            .unwrap_or_else(|| panic!("{dp} is not a shard of {public}/crl/"))
    };
    assert!(shard_of(&revoked_dp) < 16 && shard_of(&kept_dp) < 16);

    let (s, body) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"serial_number": revoked["serial_number"], "reason": "superseded"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let serial = revoked["serial_number"]
        .as_str()
        .unwrap()
        .to_ascii_uppercase();
    let fetch = |url: &str, name: &str| -> (String, String) {
        let file = dir.join(name).to_str().unwrap().to_string();
        let (ok, out) = run("curl", &["-sSf", "-o", &file, url]);
        assert!(ok, "{url}: {out}");
        let (ok, text) = run(
            "openssl",
            &["crl", "-inform", "DER", "-in", &file, "-noout", "-text"],
        );
        assert!(ok, "{text}");
        let (_, pem) = run("openssl", &["crl", "-inform", "DER", "-in", &file]);
        (text, pem)
    };
    // The worker rebuilds in the background: poll the URL the certificate names.
    let mut shard_crl = None;
    for _ in 0..100 {
        let (text, pem) = fetch(&revoked_dp, "shard.crl");
        if text.contains(&serial) {
            shard_crl = Some((text, pem));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (text, pem) = shard_crl.expect("the shard CRL never listed the revoked serial");
    assert!(
        text.contains("X509v3 Issuing Distribution Point: critical"),
        "{text}"
    );
    assert!(text.contains(&format!("URI:{revoked_dp}")), "{text}");
    assert!(text.contains("Only User Certificates"), "{text}");
    let (ok, out) = openssl_verify(
        dir,
        &server.root_pem(),
        revoked["ca_chain_pem"].as_str().unwrap(),
        revoked["certificate_pem"].as_str().unwrap(),
        Some(&pem),
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let errors = pkilint_errors(
        dir,
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        pem.as_bytes(),
        "shard-crl.pem",
    );
    assert!(errors.is_empty(), "pkilint on the shard CRL: {errors:#?}");

    // The kept certificate is good against its own shard's CRL (whichever shard that is).
    let (_, kept_pem) = fetch(&kept_dp, "kept-shard.crl");
    let (ok, out) = openssl_verify(
        dir,
        &server.root_pem(),
        kept["ca_chain_pem"].as_str().unwrap(),
        kept["certificate_pem"].as_str().unwrap(),
        Some(&kept_pem),
    );
    assert!(ok, "{out}");

    // The complete CRL lists the revocation too (no issuing distribution point there).
    let mut complete = String::new();
    for _ in 0..100 {
        complete = fetch(&format!("{public}/crl"), "complete.crl").0;
        if complete.contains(&serial) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(complete.contains(&serial), "{complete}");
    assert!(
        !complete.contains("Issuing Distribution Point"),
        "{complete}"
    );
    // A shard that does not exist is a problem+json 404.
    let (_, out) = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{public}/crl/99999"),
        ],
    );
    assert_eq!(out.trim(), "404");
}
