//! ACME dns-01 (and http-01 resolved through the same resolver) with instant-acme, against
//! `--acme-dns-resolver` pointing at pebble-challtestsrv.
mod acme_support;

use acme_support::*;
use instant_acme::{
    AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};
use std::time::Duration;
use vcc_pki_testkit::*;

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(30))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_with_a_followed_cname_and_http01_resolved_by_the_same_resolver() {
    let dns = ChallTestSrv::start();
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--acme-dns-resolver".into(),
            dns.dns.to_string(),
            "--acme-http-port".into(),
            responder.port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let account = instant_account(&server).await;

    // app.test by dns-01 directly; alias.test by dns-01 through a CNAME; web.test by http-01
    // (its A record comes from the test DNS server, not /etc/hosts).
    let identifiers = [
        Identifier::Dns("app.test".into()),
        Identifier::Dns("alias.test".into()),
        Identifier::Dns("web.test".into()),
    ];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    {
        let mut authorizations = order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authz = result.unwrap();
            assert_eq!(authz.status, AuthorizationStatus::Pending);
            let name = authz.identifier().to_string();
            match name.as_str() {
                "web.test" => {
                    let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
                    responder.set(&challenge.token, challenge.key_authorization().as_str());
                    challenge.set_ready().await.unwrap();
                }
                "alias.test" => {
                    let mut challenge = authz.challenge(ChallengeType::Dns01).unwrap();
                    dns.set_cname(
                        "_acme-challenge.alias.test",
                        "_acme-challenge.delegated.test",
                    )
                    .await;
                    dns.set_txt(
                        "_acme-challenge.delegated.test",
                        &challenge.key_authorization().dns_value(),
                    )
                    .await;
                    challenge.set_ready().await.unwrap();
                }
                _ => {
                    let mut challenge = authz.challenge(ChallengeType::Dns01).unwrap();
                    dns.set_txt(
                        "_acme-challenge.app.test",
                        &challenge.key_authorization().dns_value(),
                    )
                    .await;
                    challenge.set_ready().await.unwrap();
                }
            }
        }
    }
    let status = order.poll_ready(&retry()).await.unwrap();
    if status != OrderStatus::Ready {
        panic!(
            "order {status:?}; challenges: {}",
            server.sql("SELECT challenge_type, status, error FROM acme_challenges WHERE status <> 'pending'")
        );
    }
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry()).await.unwrap();
    let leaf = write(server.dir.path(), "dns-leaf.pem", first_pem(&chain));
    let (_, text) = run(
        "openssl",
        &["x509", "-in", &leaf, "-noout", "-ext", "subjectAltName"],
    );
    for name in ["app.test", "alias.test", "web.test"] {
        assert!(text.contains(&format!("DNS:{name}")), "{text}");
    }
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM acme_challenges WHERE challenge_type = 'dns-01' AND status = 'valid'"),
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_txt_record_is_reported_with_what_was_asked_and_found() {
    let dns = ChallTestSrv::start();
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-dns-resolver".into(), dns.dns.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let mut client = RawAcme::new(server.client(), &server.url);
    client.new_account().await;
    let created = client
        .post(
            &client.url("new-order"),
            Some(serde_json::json!({"identifiers": [{"type": "dns", "value": "nothing.test"}]})),
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
        .find(|c| c["type"] == "dns-01")
        .unwrap()
        .clone();
    dns.set_txt("_acme-challenge.nothing.test", "wrong-value")
        .await;
    client
        .post(
            challenge["url"].as_str().unwrap(),
            Some(serde_json::json!({})),
        )
        .await;
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        last = client.post(&authz_url, None).await.json();
        if last["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "invalid", "{last}");
    let error = server.sql("SELECT error FROM acme_challenges WHERE status = 'invalid'");
    assert!(
        error.contains("_acme-challenge.nothing.test") && error.contains("wrong-value"),
        "{error}"
    );
    // An IP identifier gets no dns-01 (RFC 8738).
    let ip_order = client
        .post(
            &client.url("new-order"),
            Some(serde_json::json!({"identifiers": [{"type": "ip", "value": "127.0.0.1"}]})),
        )
        .await;
    let ip_authz = client
        .post(ip_order.json()["authorizations"][0].as_str().unwrap(), None)
        .await
        .json();
    let types: Vec<_> = ip_authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].clone())
        .collect();
    assert!(!types.contains(&serde_json::json!("dns-01")), "{ip_authz}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_is_validated_over_dns01_only_and_issued_beside_its_base_name() {
    let dns = ChallTestSrv::start();
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec![
            "--acme-dns-resolver".into(),
            dns.dns.to_string(),
            "--acme-allow-wildcards".into(),
            "--acme-http-port".into(),
            responder.port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let account = instant_account(&server).await;
    let identifiers = [
        Identifier::Dns("*.Wild.test".into()),
        Identifier::Dns("wild.test".into()),
    ];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .unwrap();
    let mut seen = Vec::new();
    {
        let mut authorizations = order.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authz = result.unwrap();
            let name = authz.identifier().to_string();
            let types: Vec<ChallengeType> =
                authz.challenges.iter().map(|c| c.r#type.clone()).collect();
            if authz.wildcard {
                // The authorization names the base; only dns-01 can prove a wildcard.
                assert_eq!(name, "*.wild.test");
                assert_eq!(types, vec![ChallengeType::Dns01]);
            } else {
                assert!(types.contains(&ChallengeType::Http01), "{types:?}");
            }
            seen.push(name);
            // Both authorizations put their TXT value at the same name.
            let mut challenge = authz.challenge(ChallengeType::Dns01).unwrap();
            dns.set_txt(
                "_acme-challenge.wild.test",
                &challenge.key_authorization().dns_value(),
            )
            .await;
            challenge.set_ready().await.unwrap();
        }
    }
    seen.sort();
    assert_eq!(seen, vec!["*.wild.test", "wild.test"]);
    assert_eq!(
        order.poll_ready(&retry()).await.unwrap(),
        OrderStatus::Ready
    );
    order.finalize().await.unwrap();
    let chain = order.poll_certificate(&retry()).await.unwrap();
    let dir = server.dir.path();
    let leaf = first_pem(&chain);
    let file = write(dir, "wild-leaf.pem", &leaf);
    let (_, text) = run(
        "openssl",
        &["x509", "-in", &file, "-noout", "-ext", "subjectAltName"],
    );
    assert!(
        text.contains("DNS:*.wild.test") && text.contains("DNS:wild.test"),
        "{text}"
    );
    let end = "-----END CERTIFICATE-----";
    let intermediate = &chain[chain.find(end).unwrap() + end.len()..];
    let (ok, out) = openssl_verify(
        dir,
        &server.root_pem(),
        intermediate.trim_start(),
        &leaf,
        None,
    );
    assert!(ok, "{out}");
    assert_eq!(
        server.sql(
            "SELECT identifier_value || ':' || wildcard FROM acme_authorizations ORDER BY wildcard"
        ),
        "wild.test:0\nwild.test:1"
    );
    // The same account's next wildcard order reuses the wildcard authorization, not the base's.
    let mut again = account
        .new_order(&NewOrder::new(&[Identifier::Dns("*.wild.test".into())]))
        .await
        .unwrap();
    assert_eq!(again.state().status, OrderStatus::Ready);

    // An account that proved only the base name, over http-01, has no wildcard authorization:
    // its wildcard order waits for a new one that offers dns-01 alone.
    let other = instant_account(&server).await;
    let mut base = other
        .new_order(&NewOrder::new(&[Identifier::Dns("wild2.test".into())]))
        .await
        .unwrap();
    {
        let mut authorizations = base.authorizations();
        while let Some(result) = authorizations.next().await {
            let mut authz = result.unwrap();
            let mut challenge = authz.challenge(ChallengeType::Http01).unwrap();
            responder.set(&challenge.token, challenge.key_authorization().as_str());
            challenge.set_ready().await.unwrap();
        }
    }
    assert_eq!(base.poll_ready(&retry()).await.unwrap(), OrderStatus::Ready);
    let mut wild = other
        .new_order(&NewOrder::new(&[Identifier::Dns("*.wild2.test".into())]))
        .await
        .unwrap();
    assert_eq!(wild.state().status, OrderStatus::Pending);
    let mut authorizations = wild.authorizations();
    let authz = authorizations.next().await.unwrap().unwrap();
    assert!(authz.wildcard);
    assert_eq!(authz.status, AuthorizationStatus::Pending);
    let types: Vec<ChallengeType> = authz.challenges.iter().map(|c| c.r#type.clone()).collect();
    assert_eq!(types, vec![ChallengeType::Dns01]);
}
