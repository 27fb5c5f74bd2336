//! ACME (SPEC §9) with a real client: instant-acme obtains certificates over http-01 from the
//! real `vcc-pki serve`, checked with openssl and against the store and audit chain.
mod acme_support;

use acme_support::*;
use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use std::time::Duration;
use vcc_pki_testkit::*;

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(30))
}

async fn account(server: &TestServer) -> Account {
    instant_account(server).await
}

/// Answer every pending authorization of `order` over http-01 through `responder`.
async fn solve_http01(order: &mut instant_acme::Order, responder: &Http01Responder) -> usize {
    let mut solved = 0;
    let mut authorizations = order.authorizations();
    while let Some(result) = authorizations.next().await {
        let mut authz = result.expect("authorization");
        if authz.status == AuthorizationStatus::Valid {
            continue;
        }
        assert_eq!(authz.status, AuthorizationStatus::Pending);
        let mut challenge = authz
            .challenge(ChallengeType::Http01)
            .expect("an http-01 challenge");
        responder.set(&challenge.token, challenge.key_authorization().as_str());
        challenge.set_ready().await.expect("challenge ready");
        solved += 1;
    }
    solved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_gets_a_certificate_over_http01() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p384", "ecdsa-p256").await;
    let account = account(&server).await;

    let identifiers = [
        Identifier::Dns("localhost".into()),
        Identifier::Ip("127.0.0.1".parse().unwrap()),
    ];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .expect("new order");
    assert_eq!(order.state().status, OrderStatus::Pending);
    assert_eq!(solve_http01(&mut order, &responder).await, 2);
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    let key_pem = order.finalize().await.expect("finalize");
    let chain = match order.poll_certificate(&retry()).await {
        Ok(chain) => chain,
        Err(e) => panic!(
            "certificate: {e:?}\norders: {}\naudit: {}",
            server.sql("SELECT status, error, certificate_serial FROM acme_orders"),
            server.sql("SELECT action, outcome, details FROM audit_log ORDER BY id DESC LIMIT 5")
        ),
    };
    assert!(responder.hits() >= 2, "the validator fetched both tokens");

    // Leaf + intermediate, verified by openssl against the root alone; the names are the order's.
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    let dir = server.dir.path();
    let leaf = write(dir, "acme-leaf.pem", first_pem(&chain));
    let chain_file = write(dir, "acme-chain.pem", &chain);
    let root = write(dir, "root.pem", server.root_pem());
    let (ok, out) = run(
        "openssl",
        &[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &root,
            "-untrusted",
            &chain_file,
            &leaf,
        ],
    );
    assert!(ok, "{out}");
    let (_, text) = run("openssl", &["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(text.contains("DNS:localhost"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    // The certificate is for the key the client made (only the CSR's key is used).
    let key = write(dir, "acme-key.pem", &key_pem);
    let (_, leaf_pub) = run("openssl", &["x509", "-in", &leaf, "-noout", "-pubkey"]);
    let (_, key_pub) = run("openssl", &["pkey", "-in", &key, "-pubout"]);
    assert_eq!(leaf_pub, key_pub);

    // Stored like any certificate (same table, OCSP and audit chain), filed under the account.
    let (_, serial) = run("openssl", &["x509", "-in", &leaf, "-noout", "-serial"]);
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    let row = server.sql(&format!(
        "SELECT service_id, status FROM certificates WHERE serial_number = '{serial}'"
    ));
    assert!(
        row.starts_with("acme-") && row.ends_with("|active"),
        "{row}"
    );
    assert_eq!(
        server.sql("SELECT status FROM acme_orders"),
        "valid",
        "the order is valid once its certificate is stored"
    );
    let actions = server.sql("SELECT action FROM audit_log WHERE action LIKE 'acme.%' ORDER BY id");
    for action in [
        "acme.account.create",
        "acme.order.create",
        "acme.challenge.start",
        "acme.challenge.validate",
        "acme.order.finalize",
        "acme.certificate.issue",
    ] {
        assert!(
            actions.contains(action),
            "{action} missing from the audit log:\n{actions}"
        );
    }
    let (status, verified) = server.admin("GET", "/api/audit/verify", None).await;
    assert_eq!(status, 200);
    assert_eq!(verified["intact"], true, "{verified}");

    // A second order for the same names reuses the valid authorizations: ready at once.
    let mut again = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .expect("second order");
    assert_eq!(again.state().status, OrderStatus::Ready);
    assert_eq!(solve_http01(&mut again, &responder).await, 0);
    again.finalize().await.expect("finalize again");
    let second = again.poll_certificate(&retry()).await.unwrap();
    assert_ne!(first_pem(&second), first_pem(&chain));

    // /metrics counted both orders through each state, two http-01 validations and two
    // certificates issued through ACME.
    let metrics = scrape_metrics(&server).await;
    for status in ["pending", "processing", "valid"] {
        assert_eq!(
            metric_sample(&metrics, "vcc_pki_acme_orders_total", &[("status", status)]),
            2.0,
            "{status}: {metrics}"
        );
    }
    assert_eq!(
        metric_sample(
            &metrics,
            "vcc_pki_acme_validation_duration_seconds_count",
            &[("challenge", "http-01"), ("result", "valid")]
        ),
        2.0
    );
    assert_eq!(
        metric_sample(
            &metrics,
            "vcc_pki_certificates_issued_total",
            &[("front_end", "acme")]
        ),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_http01_answer_makes_the_authorization_and_order_invalid() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let account = account(&server).await;
    let identifiers = [Identifier::Dns("localhost".into())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        let mut authz = authorizations.next().await.unwrap().unwrap();
        let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
        responder.set(&challenge.token, "not-the-key-authorization");
        // The answer may already carry the outcome (a fast validation): the challenge's error.
        if let Err(e) = challenge.set_ready().await {
            assert!(format!("{e:?}").contains("incorrectResponse"), "{e:?}");
        }
    }
    let status = order.poll_ready(&retry()).await.unwrap();
    assert_eq!(status, OrderStatus::Invalid);
    let error = server.sql("SELECT error FROM acme_challenges WHERE status = 'invalid'");
    assert!(
        error.contains("urn:ietf:params:acme:error:incorrectResponse")
            && error.contains("not-the-key-authorization")
            && error.contains(&format!("http://localhost:{}/", responder.port)),
        "the error names the URL tried and what was found: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_acme_gets_a_certificate_over_tls_alpn01_for_a_name_and_an_ip() {
    let responder = TlsAlpnResponder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-tls-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let account = account(&server).await;
    let identifiers = [
        Identifier::Dns("localhost".into()),
        Identifier::Ip("127.0.0.1".parse().unwrap()),
    ];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authz = result.unwrap();
            let (sni, san) = match authz.identifier().identifier {
                Identifier::Ip(_) => (
                    "1.0.0.127.in-addr.arpa".to_string(),
                    "127.0.0.1".to_string(),
                ),
                _ => ("localhost".to_string(), "localhost".to_string()),
            };
            let mut challenge = authz.challenge(ChallengeType::TlsAlpn01).unwrap();
            responder.set(&sni, &san, challenge.key_authorization().as_str());
            challenge.set_ready().await.unwrap();
        }
    }
    let status = order.poll_ready(&retry()).await.unwrap();
    assert_eq!(
        status,
        OrderStatus::Ready,
        "{}",
        server.sql(
            "SELECT challenge_type, status, error FROM acme_challenges WHERE status <> 'pending'"
        )
    );
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry()).await.unwrap();
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM acme_challenges WHERE challenge_type = 'tls-alpn-01' AND status = 'valid'"),
        "2"
    );

    // A certificate for the wrong key authorization is refused, saying why (a new account: the
    // first one's authorization for localhost is valid and would be reused).
    let other = self::account(&server).await;
    let mut order = other
        .new_order(&NewOrder::new(&[Identifier::Dns("localhost".into())]))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        let mut authz = authorizations.next().await.unwrap().unwrap();
        let mut challenge = authz.challenge(ChallengeType::TlsAlpn01).unwrap();
        responder.set("localhost", "localhost", "not-the-key-authorization");
        if let Err(e) = challenge.set_ready().await {
            assert!(format!("{e:?}").contains("acmeIdentifier"), "{e:?}");
        }
    }
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Invalid
    );
    let error = server.sql("SELECT error FROM acme_challenges WHERE challenge_type = 'tls-alpn-01' AND status = 'invalid'");
    assert!(error.contains("acmeIdentifier"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_change_moves_the_account_to_a_new_key() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let root = write(server.dir.path(), "acme-root.pem", server.root_pem());
    let (mut account, old_credentials) = Account::builder_with_root(&root)
        .unwrap()
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            format!("{}/acme/directory", server.url),
            None,
        )
        .await
        .unwrap();
    let old_thumbprint = server.sql("SELECT key_thumbprint FROM acme_accounts");
    let _new_credentials = account.update_key().await.expect("keyChange");
    let new_thumbprint = server.sql("SELECT key_thumbprint FROM acme_accounts");
    assert_ne!(old_thumbprint, new_thumbprint);
    assert_eq!(new_thumbprint, account.key_thumbprint());
    // The account works with the new key …
    let identifiers = [Identifier::Dns("localhost".into())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    assert_eq!(solve_http01(&mut order, &responder).await, 1);
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    // … and no longer with the old one.
    let old = Account::builder_with_root(&root)
        .unwrap()
        .from_credentials(old_credentials)
        .await
        .unwrap();
    let refused = old.new_order(&NewOrder::new(&identifiers)).await;
    assert!(refused.is_err(), "the old key still signs for the account");
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'acme.account.key_change'"),
        "1"
    );
}

/// What a crash leaves: a challenge whose validation began and an order whose issuance began,
/// both `processing` with nothing running. After a restart the challenge is validated again and
/// the order is failed (no certificate exists for it), each audited; the client goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_cut_off_by_a_restart_is_picked_up() {
    let responder = Http01Responder::start().await;
    // A fixed address, so that the account and order URLs survive the restart.
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--listen".into(),
            listen,
            "--acme-http-port".into(),
            responder.port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let mut client = RawAcme::new(server.client(), &server.url);
    client.new_account().await;

    // Order A: its http-01 challenge "was being validated" when the server died.
    let created = client
        .post(
            &client.url("new-order"),
            Some(serde_json::json!({"identifiers": [{"type": "dns", "value": "localhost"}]})),
        )
        .await;
    let authz_url = created.json()["authorizations"][0]
        .as_str()
        .unwrap()
        .to_string();
    let authz = client.post(&authz_url, None).await.json();
    let challenge = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let token = challenge["token"].as_str().unwrap();
    responder.set(token, &format!("{token}.{}", client.thumbprint()));
    let challenge_id = challenge["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    server.sql(&format!(
        "UPDATE acme_challenges SET status = 'processing', started_at = '2020-01-01T00:00:00Z' WHERE id = '{challenge_id}'"
    ));

    // Order B: ready, and its issuance "had begun" when the server died.
    let (order_b, _) = client
        .ready_order(
            serde_json::json!([{"type": "ip", "value": "127.0.0.1"}]),
            &responder,
        )
        .await;
    let order_b_id = order_b.rsplit('/').next().unwrap();
    server.sql(&format!(
        "UPDATE acme_orders SET status = 'processing', updated_at = '2020-01-01T00:00:00Z' WHERE id = '{order_b_id}'"
    ));
    let hits_before = responder.hits();

    server.restart(Some("acme-test-pass"));
    let mut authz_after = serde_json::Value::Null;
    let mut order_after = serde_json::Value::Null;
    for _ in 0..200 {
        authz_after = client.post(&authz_url, None).await.json();
        order_after = client.post(&order_b, None).await.json();
        if authz_after["status"] != "pending" && order_after["status"] != "processing" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(authz_after["status"], "valid", "{authz_after}");
    assert!(
        responder.hits() > hits_before,
        "the validation was not run again"
    );
    assert_eq!(order_after["status"], "invalid", "{order_after}");
    assert_eq!(
        order_after["error"]["type"], "urn:ietf:params:acme:error:serverInternal",
        "{order_after}"
    );
    assert!(
        order_after["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("place a new order"),
        "{order_after}"
    );
    assert_eq!(
        server.count("certificates WHERE service_id LIKE 'acme-%'"),
        0,
        "no certificate for the cut-off order"
    );
    assert_eq!(
        server.sql("SELECT action FROM audit_log WHERE action IN ('acme.challenge.restart', 'acme.order.fail') ORDER BY action"),
        "acme.challenge.restart\nacme.order.fail"
    );
    // The client goes on: order A is ready (its authorization is valid) and is issued.
    let order_a = created.location();
    let order = client.post(&order_a, None).await.json();
    assert_eq!(order["status"], "ready", "{order}");
    let (csr, _) = csr_for(&["localhost"]);
    let finalized = client.finalize(&order, &csr).await;
    assert_eq!(finalized.status, 200, "{}", finalized.text);
    assert!(client
        .certificate(&order_a)
        .await
        .contains("BEGIN CERTIFICATE"));
}

/// RFC 8555 §7.4: newOrder's notBefore/notAfter are checked against the profile at newOrder,
/// echoed in the order, and the certificate carries exactly that window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orders_chosen_window_is_checked_and_issued() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--acme-http-port".into(),
            responder.port.to_string(),
            "--acme-order-lifetime".into(),
            "2h".into(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let mut client = RawAcme::new(server.client(), &server.url);
    client.new_account().await;
    // A valid authorization for localhost, which the next orders reuse.
    client
        .ready_order(
            serde_json::json!([{"type": "dns", "value": "localhost"}]),
            &responder,
        )
        .await;
    let orders_before = server.count("acme_orders");
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = time::OffsetDateTime::now_utc();
    let id = serde_json::json!([{"type": "dns", "value": "localhost"}]);
    for (body, why) in [
        (
            serde_json::json!({"identifiers": id, "notAfter": fmt(now + time::Duration::days(400))}),
            "at most 365 days",
        ),
        (
            serde_json::json!({"identifiers": id, "notBefore": fmt(now - time::Duration::hours(3))}),
            "in the past",
        ),
        (
            serde_json::json!({"identifiers": id, "notBefore": "yesterday"}),
            "RFC 3339",
        ),
        // --acme-order-lifetime 2h: the window cannot start after the order expires.
        (
            serde_json::json!({"identifiers": id, "notBefore": fmt(now + time::Duration::hours(3))}),
            "after the order expires",
        ),
        (
            serde_json::json!({"identifiers": id, "notBefore": fmt(now + time::Duration::hours(1)), "notAfter": fmt(now + time::Duration::minutes(30))}),
            "after notBefore",
        ),
    ] {
        let refused = client.post(&client.url("new-order"), Some(body)).await;
        assert_eq!(refused.problem(), "malformed", "{}", refused.text);
        assert!(refused.text.contains(why), "{why}: {}", refused.text);
    }
    assert_eq!(
        server.count("acme_orders"),
        orders_before,
        "no refused order stored"
    );

    let not_before = (now + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap();
    let not_after = not_before + time::Duration::days(3);
    let created = client
        .post(
            &client.url("new-order"),
            Some(serde_json::json!({"identifiers": id, "notBefore": fmt(not_before), "notAfter": fmt(not_after)})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let order = created.json();
    assert_eq!(
        order["status"], "ready",
        "the authorization is reused: {order}"
    );
    assert_eq!(order["notBefore"], fmt(not_before), "{order}");
    assert_eq!(order["notAfter"], fmt(not_after), "{order}");
    let expires = time::OffsetDateTime::parse(
        order["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let lifetime = expires - now;
    assert!(
        lifetime > time::Duration::minutes(115) && lifetime < time::Duration::minutes(125),
        "--acme-order-lifetime 2h: {order}"
    );
    let (csr, _) = csr_for(&["localhost"]);
    let finalized = client.finalize(&order, &csr).await;
    assert_eq!(finalized.status, 200, "{}", finalized.text);
    let chain = client.certificate(&created.location()).await;
    let der = leaf_der(&chain);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.validity().not_before.to_datetime(), not_before);
    assert_eq!(cert.validity().not_after.to_datetime(), not_after);
}
