//! Logs (SPEC §10, issue 16): `--log-format json` gives one line per request with its id, route,
//! status, latency and kind of principal; a whole run — failed sign-ins, CA creation, an
//! enrollment, a database that refuses the connection — writes no token, no CA password and no
//! database password anywhere.
use serde_json::{json, Value};
use std::process::Command;
use vcc_pki_testkit::*;

const CA_PASSWORD: &str = "log-check CA password 7f3a";
const DB_PASSWORD: &str = "db-password-9c1e";

fn logs_of(server: &TestServer) -> String {
    let dir = server.dir.path();
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("{}{}", read("server.log"), read("server.out"))
}

#[tokio::test]
async fn json_logs_carry_one_line_per_request_and_never_a_secret() {
    let server = TestServer::start_with(
        Some(CA_PASSWORD),
        vec!["--log-format".into(), "json".into()],
    );
    let bootstrap = server.bootstrap_client();
    // A wrong bearer token and a wrong dashboard token.
    let (s, _) = server
        .send(
            &bootstrap,
            "GET",
            "/api/tokens",
            Some("vccadm_wrong-token-0001"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    let response = bootstrap
        .post(format!("{}/ui/login", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("token=vccadm_wrong-token-0002")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let (s, registered) = server
        .admin(
            "POST",
            "/api/services/register",
            Some(json!({"service_id": "ledger", "service_name": "Ledger", "allowed_dns": ["ledger.internal"]})),
        )
        .await;
    assert_eq!(s, 201, "{registered}");
    let enrollment = registered["enrollment_token"].as_str().unwrap().to_string();
    let client = server.client();
    let (s, issued) = server
        .send(
            &client,
            "POST",
            "/api/certificates/issue",
            Some(&enrollment),
            Some(json!({"service_id": "ledger", "common_name": "ledger.internal"})),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let response = client
        .get(format!("{}/api/health", server.url))
        .header("x-request-id", "trace-from-the-client")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-from-the-client");

    let logs = logs_of(&server);
    for (what, secret) in [
        ("the admin token", server.token.as_str()),
        ("the enrollment token", enrollment.as_str()),
        ("the CA password", CA_PASSWORD),
        ("a refused bearer token", "vccadm_wrong-token-0001"),
        ("a refused dashboard token", "vccadm_wrong-token-0002"),
    ] {
        assert!(!logs.contains(secret), "{what} is in the log:\n{logs}");
    }
    // Where the first admin token is, instead of the token.
    assert!(logs.contains("admin.token"), "{logs}");

    // Every stderr line is JSON; the request lines say what happened.
    let requests: Vec<Value> = std::fs::read_to_string(server.dir.path().join("server.log"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| v["target"] == "vcc_pki::request")
        .collect();
    let find = |route: &str, status: u64| {
        requests
            .iter()
            .find(|r| r["fields"]["route"] == route && r["fields"]["status"] == status)
            .unwrap_or_else(|| panic!("no {route} {status} line in {requests:#?}"))
            .clone()
    };
    let issue = find("/api/certificates/issue", 201);
    assert_eq!(issue["fields"]["principal"], "enrollment");
    assert_eq!(issue["fields"]["method"], "POST");
    assert!(issue["fields"]["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(issue["fields"]["request_id"].as_str().unwrap().len(), 24);
    assert_eq!(find("/api/tokens", 401)["fields"]["principal"], "bad_token");
    assert_eq!(
        find("/api/health", 200)["fields"]["request_id"],
        "trace-from-the-client"
    );
}

#[test]
fn a_database_that_refuses_the_connection_is_reported_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgres://vcc:{DB_PASSWORD}@127.0.0.1:{}/nowhere",
        free_port()
    );
    let out = Command::new(bin())
        .args(["serve", "--port", "0", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--database-url", &url, "--database-wait", "0"])
        .env("VCC_CA_PASSWORD", CA_PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("cannot open database postgres://vcc:***@127.0.0.1"),
        "{text}"
    );
    assert!(!text.contains(DB_PASSWORD), "{text}");
    assert!(!text.contains(CA_PASSWORD), "{text}");
}
