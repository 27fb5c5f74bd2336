//! `/metrics` (SPEC §10, issue 16): every counter moves by what was done, the gauges tell the
//! store's and the CA's state, `promtool check metrics` accepts the page, and the HTTPS copy is
//! for admin and auditor tokens only.
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use vcc_pki_testkit::*;

fn has_series(text: &str, name: &str) -> bool {
    text.lines().any(|l| {
        !l.starts_with('#')
            && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
    })
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

fn promtool_check(text: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed: {report}"
    );
    report
}

async fn issue(server: &TestServer, service_id: &str) -> Value {
    let (s, issued) = server
        .admin(
            "POST",
            "/api/certificates/issue",
            Some(json!({"service_id": service_id, "common_name": format!("{service_id}.example.internal")})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    issued
}

#[tokio::test]
async fn counters_move_by_what_was_done_and_promtool_accepts_the_page() {
    let metrics_port = free_port();
    let http_port = free_port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}");
    let public = format!("http://127.0.0.1:{http_port}");
    let server = TestServer::start_with(
        Some(PASSWORD),
        vec![
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
            "--http-port".into(),
            http_port.to_string(),
            "--public-url".into(),
            public.clone(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let before = scrape(&metrics_url).await;
    let rest_issued = |t: &str| {
        metric_sample(
            t,
            "vcc_pki_certificates_issued_total",
            &[("front_end", "rest"), ("profile", "server_client")],
        )
    };

    // Two issued, one renewed, one revoked for keyCompromise, one refused (revoked again).
    let first = issue(&server, "metrics-a").await;
    let second = issue(&server, "metrics-b").await;
    let (s, renewed) = server
        .admin(
            "POST",
            "/api/certificates/renew",
            Some(json!({"serial_number": first["serial_number"]})),
        )
        .await;
    assert_eq!(s, 201, "{renewed}");
    let revoke = json!({"serial_number": second["serial_number"], "reason": "keyCompromise"});
    let (s, body) = server
        .admin("POST", "/api/certificates/revoke", Some(revoke.clone()))
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = server
        .admin("POST", "/api/certificates/revoke", Some(revoke))
        .await;
    assert_eq!(s, 409, "{body}");

    // OCSP: the renewed certificate twice (good), the revoked one once, a stranger once (unknown).
    let dir = server.dir.path();
    let root = write(dir, "root.pem", server.root_pem());
    let intermediate = write(
        dir,
        "intermediate.pem",
        first_pem(first["ca_chain_pem"].as_str().unwrap()),
    );
    let good = write(
        dir,
        "good.pem",
        renewed["certificate_pem"].as_str().unwrap(),
    );
    let revoked = write(
        dir,
        "revoked.pem",
        second["certificate_pem"].as_str().unwrap(),
    );
    let url = format!("{public}/ocsp");
    let ocsp = |what: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            &intermediate,
            "-url",
            &url,
            "-CAfile",
            &root,
            "-no_nonce",
        ];
        args.extend(what);
        let (_, out) = run("openssl", &args);
        assert!(out.contains("Response verify OK"), "{out}");
        out
    };
    assert!(ocsp(&["-cert", &good]).contains(": good"));
    assert!(ocsp(&["-cert", &good]).contains(": good"));
    assert!(ocsp(&["-cert", &revoked]).contains(": revoked"));
    assert!(ocsp(&["-serial", "0x1234567890abcdef"]).contains(": unknown"));

    let after = scrape(&metrics_url).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        metric_sample(&after, name, labels) - metric_sample(&before, name, labels)
    };
    assert_eq!(rest_issued(&after) - rest_issued(&before), 2.0, "{after}");
    assert_eq!(
        delta(
            "vcc_pki_certificates_renewed_total",
            &[("front_end", "rest"), ("profile", "server_client")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "vcc_pki_certificates_revoked_total",
            &[("front_end", "rest"), ("reason", "keyCompromise")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "vcc_pki_requests_refused_total",
            &[("operation", "revoke"), ("reason", "conflict")]
        ),
        1.0
    );
    assert_eq!(
        delta("vcc_pki_ocsp_responses_total", &[("status", "good")]),
        2.0
    );
    assert_eq!(
        delta("vcc_pki_ocsp_responses_total", &[("status", "revoked")]),
        1.0
    );
    assert_eq!(
        delta("vcc_pki_ocsp_responses_total", &[("status", "unknown")]),
        1.0
    );
    // The second identical query is served from the pre-signed cache.
    assert!(
        delta(
            "vcc_pki_ocsp_responses_total",
            &[("status", "good"), ("cache", "hit")]
        ) >= 1.0,
        "{after}"
    );
    // Request durations by route and status: two issuances answered 201.
    assert!(
        delta(
            "vcc_pki_http_request_duration_seconds_count",
            &[("route", "/api/certificates/issue"), ("status", "201")]
        ) >= 2.0,
        "{after}"
    );
    // The store's group commit ran (issuances are committed in batches).
    assert!(metric_sample(&after, "vcc_pki_store_commit_duration_seconds_count", &[]) >= 3.0);

    // Gauges from the counters the store keeps.
    assert!(metric_sample(&after, "vcc_pki_certificates", &[("status", "revoked")]) >= 1.0);
    assert!(metric_sample(&after, "vcc_pki_certificates", &[("status", "active")]) >= 2.0);
    assert!(has_series(&after, "vcc_pki_certificates_expiring"));
    assert_eq!(metric_sample(&after, "vcc_pki_sealed", &[]), 0.0);
    assert!(
        metric_sample(
            &after,
            "vcc_pki_ca_not_after_timestamp_seconds",
            &[("level", "intermediate")]
        ) > 1.7e9
    );
    assert_eq!(
        metric_sample(
            &after,
            "vcc_pki_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // The revocation's CRL: the complete CRL lists the revoked certificate.
    for _ in 0..50 {
        let now = scrape(&metrics_url).await;
        if metric_sample(&now, "vcc_pki_crl_entries", &[("shard", "complete")]) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let latest = scrape(&metrics_url).await;
    assert!(
        metric_sample(&latest, "vcc_pki_crl_entries", &[("shard", "complete")]) >= 1.0,
        "{latest}"
    );
    assert!(metric_sample(&latest, "vcc_pki_crl_number", &[("shard", "complete")]) >= 1.0);
    assert!(metric_sample(&latest, "vcc_pki_crl_bytes", &[("shard", "complete")]) > 100.0);
    assert!(
        metric_sample(
            &latest,
            "vcc_pki_crl_next_update_timestamp_seconds",
            &[("shard", "complete")]
        ) > 1.7e9
    );

    // Every metric has HELP and TYPE lines, and promtool finds nothing to say.
    for line in latest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap();
        let base = name
            .strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_count"))
            .or_else(|| name.strip_suffix("_sum"))
            .unwrap_or(name);
        assert!(
            latest.contains(&format!("# HELP {base} "))
                || latest.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    let report = promtool_check(&latest);
    assert!(report.trim().is_empty(), "promtool: {report}");

    // Every metric the shipped alert rules use is one this server exports.
    let alerts = std::fs::read_to_string(alerts_path()).unwrap();
    for word in alerts.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if let Some(name) = word.strip_prefix("vcc_pki_") {
            let name = format!("vcc_pki_{}", name.strip_suffix("_bucket").unwrap_or(name));
            assert!(
                latest.contains(&format!("# HELP {name} ")),
                "alerts.yml uses {name}, which /metrics does not export"
            );
        }
    }
}

fn alerts_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/prometheus/alerts.yml")
}

#[test]
fn the_shipped_alert_rules_pass_promtool() {
    let (ok, out) = run(
        "promtool",
        &["check", "rules", alerts_path().to_str().unwrap()],
    );
    assert!(ok && out.contains("SUCCESS"), "promtool check rules: {out}");
}

#[tokio::test]
async fn https_metrics_need_an_admin_or_auditor_token() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let client = server.client();
    let get = |token: Option<String>| {
        let client = client.clone();
        let url = format!("{}/metrics", server.url);
        async move {
            let mut request = client.get(url);
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, body) = get(None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(Some("vccadm_not-a-token".into())).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(Some(server.token.clone())).await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE vcc_pki_sealed gauge"), "{body}");
    let (s, auditor) = server
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "watcher", "role": "auditor"})),
        )
        .await;
    assert_eq!(s, 201, "{auditor}");
    let (status, body) = get(auditor["token"].as_str().map(String::from)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("vcc_pki_certificates"));
}

#[tokio::test]
async fn readyz_says_why_a_replica_cannot_take_traffic_and_healthz_only_that_it_lives() {
    let http_port = free_port();
    let mut server = TestServer::start_with(
        Some(PASSWORD),
        vec!["--http-port".into(), http_port.to_string()],
    );
    let plain = format!("http://127.0.0.1:{http_port}");
    let probe = |path: &'static str| {
        let url = format!("{plain}{path}");
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            let id = response.headers().get("x-request-id").cloned();
            let body: Value = response.json().await.unwrap();
            assert!(id.is_some(), "no X-Request-Id on {path}");
            (status, body)
        }
    };
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["problems"].to_string().contains("no intermediate CA"),
        "{body}"
    );
    assert_eq!(probe("/healthz").await.0, 200);
    // A client's request id comes back; one that is not a plain token is replaced.
    let echoed = |sent: &'static str| {
        let url = format!("{plain}/healthz");
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .header("x-request-id", sent)
                .send()
                .await
                .unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(echoed("trace-4711.a").await, "trace-4711.a");
    let replaced = echoed("no spaces please").await;
    assert!(
        replaced.len() == 24 && replaced.chars().all(|c| c.is_ascii_hexdigit()),
        "{replaced}"
    );

    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");

    // Restarted without the CA password: alive, not ready, and it says why.
    server.restart(None);
    let (status, body) = probe("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["problems"].to_string().contains("sealed"), "{body}");
    assert_eq!(probe("/healthz").await.0, 200);
}
