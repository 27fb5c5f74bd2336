//! Limits answer with problem documents over HTTP/2 too (issue #18 item 3): an over-limit body is
//! refused with 413 that the client reads, not a stream reset (curl: "Stream error in the HTTP/2
//! framing layer"), and nothing is stored; an oversized request head gets a 431 problem on HTTP/1.1
//! and HTTP/2, on the HTTPS and the plain-HTTP listener.
use vcc_pki_testkit::*;

/// Certificates issued to services: the server's own TLS and OCSP-responder certificates are
/// issued in the background after the CA appears and do not count.
fn issued(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_over_limit_body_over_http2_gets_a_413_problem_not_a_reset() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let body = format!(
        "{{\"service_id\":\"x\",\"common_name\":\"{}\"}}",
        "a".repeat(1_500_000)
    );
    let body_file = write(dir, "big.json", body);
    let root = write(dir, "root.pem", server.root_pem());
    let certificates = issued(&server);
    for attempt in 0..5 {
        let (ok, out) = run(
            "curl",
            &[
                "-sS",
                "--http2",
                "--cacert",
                &root,
                "-w",
                "\n%{http_code} %{http_version}",
                "-H",
                &format!("Authorization: Bearer {}", server.token),
                "-H",
                "content-type: application/json",
                "--data",
                &format!("@{body_file}"),
                &format!("{}/api/certificates/issue", server.url),
            ],
        );
        assert!(ok, "attempt {attempt}: {out}");
        assert!(
            out.trim_end().ends_with("413 2"),
            "attempt {attempt}: {out}"
        );
        assert!(
            out.contains("urn:vcc-pki:problem:body-too-large"),
            "attempt {attempt}: {out}"
        );
    }
    assert_eq!(issued(&server), certificates);
    // Within the limit, the same connection settings issue.
    let (ok, out) = run(
        "curl",
        &[
            "-sS",
            "--http2",
            "--cacert",
            &root,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{http_version}",
            "-H",
            &format!("Authorization: Bearer {}", server.token),
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"service_id":"billing","common_name":"billing.example.internal"}"#,
            &format!("{}/api/certificates/issue", server.url),
        ],
    );
    assert!(ok && out.trim() == "201 2", "{out}");
}

/// `curl` with a header file (`-H @file`: a 20 KB header does not fit on a command line).
fn curl_with_header(args: &[&str], header_file: &str, url: &str) -> String {
    let mut all = vec!["-sS", "-H", &format!("@{header_file}")]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend([
        "-w".into(),
        "\n%{http_code} %{http_version} %{content_type}".into(),
        url.into(),
    ]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let (ok, out) = run("curl", &all);
    assert!(ok, "{out}");
    out
}

#[tokio::test]
async fn an_oversized_request_head_gets_a_431_problem_on_both_protocols_and_listeners() {
    let server = TestServer::start_public(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let dir = server.dir.path();
    let root = write(dir, "root.pem", server.root_pem());
    // 20 KB of header: over the 16 KiB limit, within what the connection layer reads (64 KiB).
    let big = write(
        dir,
        "big.header",
        format!("X-Padding: {}\n", "a".repeat(20_000)),
    );
    let auth = format!("Authorization: Bearer {}", server.token);
    let certificates = issued(&server);
    let issue = format!("{}/api/certificates/issue", server.url);
    // A POST without a body: the head is refused before any body would be read, and over HTTP/2
    // curl 7.88 reports a stream still uploading when the answer and RST_STREAM(NO_ERROR) arrive
    // (RFC 9113 §8.1, what h2 sends) as a framing error instead of the answer.
    for (protocol, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = curl_with_header(
            &[protocol, "--cacert", &root, "-H", &auth, "-X", "POST"],
            &big,
            &issue,
        );
        assert!(
            out.trim_end()
                .ends_with(&format!("431 {version} application/problem+json")),
            "{protocol}: {out}"
        );
        assert!(
            out.contains("urn:vcc-pki:problem:headers-too-large") && out.contains("at most 16384"),
            "{protocol}: {out}"
        );
    }
    assert_eq!(issued(&server), certificates, "nothing is issued");
    // The plain-HTTP listener (OCSP, CRL) answers the same way.
    let crl = format!("{}/crl", server.http_url.as_deref().unwrap());
    let out = curl_with_header(&[], &big, &crl);
    assert!(
        out.trim_end().ends_with("431 1.1 application/problem+json")
            && out.contains("headers-too-large"),
        "{out}"
    );
    // Headers within the limit pass.
    let small = write(
        dir,
        "small.header",
        format!("X-Padding: {}\n", "a".repeat(8_000)),
    );
    let out = curl_with_header(
        &["--http2", "--cacert", &root, "-H", &auth],
        &small,
        &format!("{}/api/health", server.url),
    );
    assert!(out.trim_end().ends_with("200 2 application/json"), "{out}");
}
