//! Limits answer with problem documents over HTTP/2 too (issue #18 item 3): an over-limit body is
//! refused with 413 that the client reads, not a stream reset (curl: "Stream error in the HTTP/2
//! framing layer"), and nothing is stored.
use vcc_pki_testkit::*;

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
    let certificates = server.count("certificates");
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
    assert_eq!(server.count("certificates"), certificates);
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
