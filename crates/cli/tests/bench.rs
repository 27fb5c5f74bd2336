//! `vcc-pki bench --spawn`: the real binary starts a throwaway server with a fresh CA, loads it,
//! and reports figures that must add up (every successful issuance stored, percentiles ordered,
//! a positive crypto floor).
use serde_json::Value;
use std::process::Command;

fn bench(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vcc-pki"))
        .arg("bench")
        .args(args)
        .args([
            "--spawn",
            "--output",
            "json",
            "--warmup",
            "0.3",
            "--floor-secs",
            "0.3",
        ])
        .env_remove("VCC_PKI_SERVER")
        .env_remove("VCC_PKI_TOKEN")
        .env_remove("VCC_PKI_CA_BUNDLE")
        .env_remove("VCC_CA_PASSWORD")
        .output()
        .expect("run vcc-pki bench");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    // The exit status names a signal when the process was killed (empty stdout and stderr).
    (
        out.status.success(),
        json,
        format!("{}\n{stdout}\n{stderr}", out.status),
    )
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{} missing in {v}", path.join(".")))
}

/// The figures of a clean run: requests, no errors, ordered percentiles, one stored certificate
/// per request, a positive floor and ratio, and the spawned server's memory.
fn assert_clean_issuing_run(r: &Value, scenario: &str) {
    assert_eq!(r["scenario"], scenario, "{r}");
    let requests = f(r, &["requests"]);
    assert!(requests > 0.0, "{r}");
    assert_eq!(f(r, &["errors"]), 0.0, "{r}");
    assert!(f(r, &["requests_per_second"]) > 0.0, "{r}");
    let (p50, p90, p99, max) = (
        f(r, &["latency_ms", "p50"]),
        f(r, &["latency_ms", "p90"]),
        f(r, &["latency_ms", "p99"]),
        f(r, &["latency_ms", "max"]),
    );
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{r}");
    assert_eq!(
        f(r, &["issued"]),
        requests,
        "each successful request must store exactly one certificate: {r}"
    );
    assert!(f(r, &["floor", "sign_per_second"]) > 0.0, "{r}");
    assert!(f(r, &["floor", "floor_per_second"]) > 0.0, "{r}");
    assert!(f(r, &["ratio_percent"]) > 0.0, "{r}");
    assert!(f(r, &["machine", "cores"]) >= 1.0, "{r}");
    assert!(f(r, &["server_rss", "idle", "rss_kb"]) > 0.0, "{r}");
    assert!(
        f(r, &["server_rss", "after_run", "hwm_kb"]) >= f(r, &["server_rss", "idle", "rss_kb"]),
        "{r}"
    );
}

#[test]
fn issue_csr_against_a_spawned_p256_ca() {
    let (ok, r, out) = bench(&[
        "issue-csr",
        "--ca-key",
        "ecdsa-p256",
        "--duration",
        "2",
        "--concurrency",
        "8",
    ]);
    assert!(ok, "{out}");
    assert_clean_issuing_run(&r, "issue-csr");
    assert_eq!(r["ca_key_type"], "ecdsa-p256");
    assert_eq!(r["csr_key_type"], "ecdsa-p256");
    // issue-csr's floor is one CA signature plus one CSR verification.
    assert!(f(&r, &["floor", "verify_per_second"]) > 0.0, "{r}");
    assert!(f(&r, &["floor", "floor_per_second"]) < f(&r, &["floor", "sign_per_second"]));
}

#[test]
fn renew_by_serial_and_ocsp_against_a_spawned_server() {
    let (ok, r, out) = bench(&["renew", "--duration", "1", "--concurrency", "4"]);
    assert!(ok, "{out}");
    assert_clean_issuing_run(&r, "renew");
    assert_eq!(
        r["protocol"], "HTTP/1.1 over 4 keep-alive connections",
        "{r}"
    );

    // Over HTTP/2 (ALPN h2), the 4 clients multiplexed on 2 connections.
    let (ok, r, out) = bench(&[
        "issue-keygen",
        "--http2",
        "2",
        "--duration",
        "1",
        "--concurrency",
        "4",
    ]);
    assert!(ok, "{out}");
    assert_clean_issuing_run(&r, "issue-keygen");
    assert_eq!(
        r["protocol"], "HTTP/2.0 over 2 keep-alive connections",
        "{r}"
    );

    // OCSP: a pre-built RFC 6960 request for a pre-issued certificate, answered `successful`.
    let (ok, r, out) = bench(&["ocsp", "--duration", "1", "--concurrency", "4"]);
    assert!(ok, "{out}");
    assert!(f(&r, &["requests"]) > 0.0, "{r}");
    assert_eq!(f(&r, &["errors"]), 0.0, "{r}");
    assert!(
        r["floor"].is_null(),
        "OCSP answers are pre-signed: no floor: {r}"
    );

    // The same over the spawned server's plain-HTTP listener, where RFC 5019 clients send it.
    let (ok, r, out) = bench(&[
        "ocsp",
        "--plain-http",
        "--duration",
        "1",
        "--concurrency",
        "4",
    ]);
    assert!(ok, "{out}");
    assert!(
        r["server"]
            .as_str()
            .unwrap_or("")
            .starts_with("http://127.0.0.1:"),
        "{r}"
    );
    assert!(f(&r, &["requests"]) > 0.0, "{r}");
    assert_eq!(f(&r, &["errors"]), 0.0, "{r}");
    // The API is HTTPS only: --plain-http is refused for an issuing scenario.
    let (ok, _, out) = bench(&["issue-csr", "--plain-http", "--duration", "1"]);
    assert!(
        !ok && out.contains("--plain-http is for the ocsp and crl"),
        "{out}"
    );
}

/// `bench-revocation` on a small store: every filled and every live revocation is in the complete
/// CRL, a shard holds about its share, and the figures the issue asks for are reported.
#[test]
fn bench_revocation_reports_revoke_latency_crl_times_and_rss() {
    let out = Command::new(env!("CARGO_BIN_EXE_vcc-pki"))
        .args([
            "bench-revocation",
            "--revoked",
            "3200",
            "--revocations",
            "20",
            "--output",
            "json",
        ])
        .env_remove("VCC_PKI_DATABASE_URL")
        .output()
        .expect("run vcc-pki bench-revocation");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(f(&r, &["revocations_measured"]), 20.0, "{r}");
    assert!(f(&r, &["revoke_ms", "p99"]) > 0.0, "{r}");
    // 3 200 filled + 20 revoked live certificates, all unexpired: all in the complete CRL.
    assert_eq!(f(&r, &["crl", "entries"]), 3220.0, "{r}");
    assert!(f(&r, &["crl", "build_and_sign_seconds"]) > 0.0, "{r}");
    // Shard 0 of 16 holds the filled serials n with n % 16 == 0 (200), plus any live ones.
    let shard = f(&r, &["shard_crl", "entries"]);
    assert!((200.0..=220.0).contains(&shard), "{r}");
    assert!(f(&r, &["rss_mib", "peak_complete_crl_build"]) > 0.0, "{r}");
}
