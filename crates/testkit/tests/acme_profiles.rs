//! ACME profiles (draft-ietf-acme-profiles) with instant-acme: the directory lists them, an
//! order names one, and a `tlsserver` leaf lints clean under pkilint's CA/B Forum serverauth
//! linter (ignoring only cabf.internal_domain_name for test names) and PKIX.
mod acme_support;

use acme_support::*;
use instant_acme::{ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};
use std::time::Duration;
use vcc_pki_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tlsserver_certificate_lints_clean_as_cabf_serverauth() {
    let responder = Http01Responder::start().await;
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--http-port".into(),
            port.to_string(),
            "--public-url".into(),
            public,
            "--acme-http-port".into(),
            responder.port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p384", "ecdsa-p256").await;
    let account = instant_account(&server).await;
    let offered: Vec<String> = account.profiles().map(|p| p.name.to_string()).collect();
    assert!(
        offered.contains(&"classic".to_string()) && offered.contains(&"tlsserver".to_string()),
        "{offered:?}"
    );

    let identifiers = [Identifier::Dns("localhost".into())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers).profile("tlsserver"))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.unwrap();
            let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
            responder.set(&challenge.token, challenge.key_authorization().as_str());
            challenge.set_ready().await.unwrap();
        }
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(30));
    assert_eq!(order.poll_ready(&retry).await.unwrap(), OrderStatus::Ready);
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry).await.unwrap();
    let leaf = first_pem(&chain);
    let dir = server.dir.path();
    let file = write(dir, "tlsserver.pem", &leaf);
    let (_, text) = run("openssl", &["x509", "-in", &file, "-noout", "-text"]);
    assert!(
        text.contains("Subject: \n")
            || text.contains("Subject:\n")
            || !text.contains("Subject: CN"),
        "no CN: {text}"
    );
    assert!(text.contains("2.23.140.1.2.1"), "{text}");
    assert!(
        text.contains("TLS Web Server Authentication")
            && !text.contains("TLS Web Client Authentication"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Subject Alternative Name: critical"),
        "{text}"
    );

    let all = pkilint_errors(
        dir,
        "lint_cabf_serverauth_cert",
        &["-d"],
        leaf.as_bytes(),
        "tlsserver-lint.pem",
    );
    // The serverauth linter did run: it flags the test name `localhost` as internal, the one
    // finding the issue allows.
    assert!(
        all.iter().any(|f| f.contains("cabf.internal_domain_name")),
        "{all:#?}"
    );
    let cabf: Vec<String> = all
        .into_iter()
        .filter(|f| !f.contains("cabf.internal_domain_name"))
        .collect();
    assert!(cabf.is_empty(), "CA/B Forum serverauth findings: {cabf:#?}");
    let pkix = pkilint_errors(
        dir,
        "lint_pkix_cert",
        &[],
        leaf.as_bytes(),
        "tlsserver-pkix.pem",
    );
    assert!(pkix.is_empty(), "PKIX findings: {pkix:#?}");
    assert_eq!(server.sql("SELECT profile FROM acme_orders"), "tlsserver");
    assert_eq!(
        server.sql("SELECT profile, common_name FROM certificates WHERE service_id LIKE 'acme-%'"),
        "tlsserver|"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_from_the_config_file_are_offered_and_bind_their_orders() {
    let responder = Http01Responder::start().await;
    let config_dir = tempfile::tempdir().unwrap();
    let config = write(
        config_dir.path(),
        "vcc-pki.toml",
        r#"
[acme]
terms_of_service = "https://pki.example/terms"
authorization_reuse = "1d"

[acme.profiles.shortlived]
description = "Seven-day server certificates for DNS names, no CN"
certificate = "server"
validity_days = 7
identifiers = ["dns"]
max_names = 2
common_name = false
"#,
    );
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--config".into(),
            config,
            "--acme-http-port".into(),
            responder.port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let directory: serde_json::Value = server
        .client()
        .get(format!("{}/acme/directory", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        directory["meta"]["profiles"]["shortlived"],
        "Seven-day server certificates for DNS names, no CN"
    );
    assert!(
        directory["meta"]["profiles"]["classic"].is_string(),
        "{directory}"
    );
    assert_eq!(
        directory["meta"]["termsOfService"], "https://pki.example/terms",
        "{directory}"
    );
    // With terms configured, a new account must agree to them (as Boulder and Pebble).
    let disagreeing = RawAcme::new(server.client(), &server.url);
    let refused = disagreeing
        .post_jwk(&disagreeing.url("new-account"), serde_json::json!({}))
        .await;
    assert_eq!(refused.problem(), "malformed", "{}", refused.text);
    assert!(
        refused.text.contains("termsOfServiceAgreed"),
        "{}",
        refused.text
    );
    assert_eq!(server.count("acme_accounts"), 0);

    // The profile's identifier types and name count are checked at newOrder.
    let mut raw = RawAcme::new(server.client(), &server.url);
    raw.new_account().await;
    for identifiers in [
        serde_json::json!([{"type": "ip", "value": "127.0.0.1"}]),
        serde_json::json!([{"type": "dns", "value": "a.test"}, {"type": "dns", "value": "b.test"}, {"type": "dns", "value": "c.test"}]),
    ] {
        let refused = raw
            .post(
                &raw.url("new-order"),
                Some(serde_json::json!({"identifiers": identifiers, "profile": "shortlived"})),
            )
            .await;
        assert_eq!(refused.problem(), "rejectedIdentifier", "{}", refused.text);
    }
    assert_eq!(server.count("acme_orders"), 0);

    let account = instant_account(&server).await;
    let mut order = account
        .new_order(&NewOrder::new(&[Identifier::Dns("localhost".into())]).profile("shortlived"))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz.unwrap();
            let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
            responder.set(&challenge.token, challenge.key_authorization().as_str());
            challenge.set_ready().await.unwrap();
        }
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(30));
    assert_eq!(order.poll_ready(&retry).await.unwrap(), OrderStatus::Ready);
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry).await.unwrap();
    let file = write(server.dir.path(), "shortlived.pem", first_pem(&chain));
    let (_, text) = run("openssl", &["x509", "-in", &file, "-noout", "-text"]);
    assert!(!text.contains("Subject: CN"), "no CN: {text}");
    assert!(
        text.contains("TLS Web Server Authentication")
            && !text.contains("TLS Web Client Authentication"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Subject Alternative Name: critical"),
        "{text}"
    );
    let der = leaf_der(&chain);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let lifetime =
        cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime();
    let days = lifetime.whole_days();
    // [acme] authorization_reuse = "1d": the valid authorization is reusable for a day.
    let reuse_until = time::OffsetDateTime::parse(
        &server.sql("SELECT expires_at FROM acme_authorizations WHERE status = 'valid'"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let reuse = reuse_until - time::OffsetDateTime::now_utc();
    assert!(
        reuse > time::Duration::hours(23) && reuse <= time::Duration::hours(24),
        "{reuse}"
    );
    assert!((7..=8).contains(&days), "{days} days");
    let pkix = pkilint_errors(
        server.dir.path(),
        "lint_pkix_cert",
        &[],
        first_pem(&chain).as_bytes(),
        "shortlived-pkix.pem",
    );
    assert!(pkix.is_empty(), "PKIX findings: {pkix:#?}");
}

#[test]
fn a_bad_profile_in_the_config_file_stops_the_server_before_it_touches_anything() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.toml",
        "[acme.profiles.long]\ncertificate = \"tlsserver\"\nvalidity_days = 500\n",
    );
    let data = dir.path().join("data");
    let out = std::process::Command::new(bin())
        .args(["serve", "--port", "0", "--config", &config, "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[acme.profiles.long]") && stderr.contains("validity_days"),
        "{stderr}"
    );
    assert!(!data.exists(), "the data directory was created");
}
