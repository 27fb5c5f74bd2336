//! ACME protocol rules (RFC 8555) with a hand-driven client against the real server: headers on
//! every response, nonces, JWS checks, accounts, orders, finalize, revocation, and the error type
//! of each refusal, each checked to change nothing.
mod acme_support;

use acme_support::*;
use serde_json::json;
use vcc_pki_testkit::*;

async fn started() -> (TestServer, Http01Responder) {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    (server, responder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_nonce_and_the_index_link_and_nonces_are_single_use() {
    let (server, _responder) = started().await;
    let http = server.client();
    let directory = http
        .get(format!("{}/acme/directory", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(directory.status(), 200);
    let index = format!("<{}/acme/directory>;rel=\"index\"", server.url);
    assert!(directory.headers().contains_key("replay-nonce"));
    assert_eq!(directory.headers()["link"], index.as_str());
    let body: serde_json::Value = directory.json().await.unwrap();
    for key in [
        "newNonce",
        "newAccount",
        "newOrder",
        "revokeCert",
        "renewalInfo",
        "keyChange",
    ] {
        assert!(
            body[key].as_str().unwrap().starts_with(&server.url),
            "{key}: {body}"
        );
    }
    assert_eq!(body["meta"]["externalAccountRequired"], false);
    assert!(body["meta"]["profiles"]["classic"].is_string(), "{body}");

    // newNonce: HEAD 200, GET 204, never cached.
    let head = http
        .head(format!("{}/acme/new-nonce", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["cache-control"], "no-store");
    let get = http
        .get(format!("{}/acme/new-nonce", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 204);
    assert_ne!(
        head.headers()["replay-nonce"],
        get.headers()["replay-nonce"]
    );

    // Errors carry them too: an unknown resource, a wrong method.
    for response in [
        http.get(format!("{}/acme/nothing-here", server.url))
            .send()
            .await
            .unwrap(),
        http.put(format!("{}/acme/new-order", server.url))
            .send()
            .await
            .unwrap(),
    ] {
        assert!(response.status().is_client_error());
        assert!(response.headers().contains_key("replay-nonce"));
        assert_eq!(response.headers()["link"], index.as_str());
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }

    // A nonce is accepted once; a replay is badNonce and creates nothing.
    let client = RawAcme::new(http.clone(), &server.url);
    let url = client.url("new-account");
    let nonce = client.nonce().await;
    let body = client.jws(
        &url,
        Some(&json!({"termsOfServiceAgreed": true})),
        &nonce,
        true,
    );
    let first = client
        .send(&url, body.clone(), "application/jose+json")
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let replay = client.send(&url, body, "application/jose+json").await;
    assert_eq!(
        (replay.status, replay.problem()),
        (400, "badNonce".into()),
        "{}",
        replay.text
    );
    assert!(
        !replay.header("replay-nonce").is_empty(),
        "a badNonce answer carries a fresh nonce"
    );
    let forged = client.jws(&url, Some(&json!({})), "bm90LWEtbm9uY2U", true);
    let forged = client.send(&url, forged, "application/jose+json").await;
    assert_eq!(forged.problem(), "badNonce", "{}", forged.text);
    assert_eq!(server.count("acme_accounts"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_break_the_jws_rules_are_refused_with_their_error_types() {
    let (server, _responder) = started().await;
    let mut client = RawAcme::new(server.client(), &server.url);
    let url = client.url("new-account");

    // Not application/jose+json.
    let nonce = client.nonce().await;
    let body = client.jws(&url, Some(&json!({})), &nonce, true);
    let wrong_type = client.send(&url, body, "application/json").await;
    assert_eq!(
        (wrong_type.status, wrong_type.problem()),
        (415, "malformed".into())
    );

    // The signed url must be the request URL.
    let nonce = client.nonce().await;
    let elsewhere = client.jws(&client.url("new-order"), Some(&json!({})), &nonce, true);
    let answer = client.send(&url, elsewhere, "application/jose+json").await;
    assert_eq!(answer.problem(), "unauthorized", "{}", answer.text);

    // A bad signature.
    let nonce = client.nonce().await;
    let mut tampered: serde_json::Value =
        serde_json::from_str(&client.jws(&url, Some(&json!({})), &nonce, true)).unwrap();
    tampered["payload"] = json!("e30"); // "{}" signed as something else
    let tampered_payload = client.jws(&url, Some(&json!({"contact": []})), &nonce, true);
    let mut signed_other: serde_json::Value = serde_json::from_str(&tampered_payload).unwrap();
    signed_other["payload"] = tampered["payload"].clone();
    let answer = client
        .send(&url, signed_other.to_string(), "application/jose+json")
        .await;
    assert_eq!(answer.problem(), "malformed", "{}", answer.text);
    assert!(
        answer.json()["detail"]
            .as_str()
            .unwrap()
            .contains("signature"),
        "{}",
        answer.text
    );

    // onlyReturnExisting for a key without an account.
    let answer = client
        .post_jwk(&url, json!({"onlyReturnExisting": true}))
        .await;
    assert_eq!(
        (answer.status, answer.problem()),
        (400, "accountDoesNotExist".into())
    );

    // Contacts: mailto only, one address each.
    let answer = client
        .post_jwk(&url, json!({"contact": ["tel:+4912345"]}))
        .await;
    assert_eq!(answer.problem(), "unsupportedContact", "{}", answer.text);
    let answer = client
        .post_jwk(&url, json!({"contact": ["mailto:a@b.example,c@d.example"]}))
        .await;
    assert_eq!(answer.problem(), "invalidContact", "{}", answer.text);
    assert_eq!(
        server.count("acme_accounts"),
        0,
        "no refused request made an account"
    );

    // A kid that names no account.
    client.kid = Some(format!("{}/acme/account/nobody", server.url));
    let answer = client
        .post(&client.url("new-order"), Some(json!({"identifiers": []})))
        .await;
    assert_eq!(answer.problem(), "accountDoesNotExist", "{}", answer.text);

    // newAccount twice with one key: the same account, 200, same Location.
    client.kid = None;
    let created = client.new_account().await;
    let again = client.post_jwk(&url, json!({})).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.location(), created.location());
    let existing = client
        .post_jwk(&url, json!({"onlyReturnExisting": true}))
        .await;
    assert_eq!(
        (existing.status, existing.location()),
        (200, created.location())
    );

    // A kid-only endpoint signed with a jwk.
    let answer = client
        .post_jwk(&client.url("new-order"), json!({"identifiers": []}))
        .await;
    assert_eq!(answer.problem(), "malformed", "{}", answer.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_identifiers_profiles_finalize_and_the_orders_list() {
    let (server, responder) = started().await;
    let mut client = RawAcme::new(server.client(), &server.url);
    client.new_account().await;
    let new_order = client.url("new-order");

    let answer = client
        .post(
            &new_order,
            Some(json!({"identifiers": [{"type": "email", "value": "a@b.c"}]})),
        )
        .await;
    assert_eq!(answer.problem(), "unsupportedIdentifier", "{}", answer.text);
    let answer = client
        .post(
            &new_order,
            Some(json!({"identifiers": [{"type": "dns", "value": "bad..name"}]})),
        )
        .await;
    assert_eq!(answer.problem(), "rejectedIdentifier", "{}", answer.text);
    // Wildcards are off unless --acme-allow-wildcards.
    let answer = client
        .post(
            &new_order,
            Some(json!({"identifiers": [{"type": "dns", "value": "*.example.test"}]})),
        )
        .await;
    assert_eq!(answer.problem(), "rejectedIdentifier", "{}", answer.text);
    assert!(answer.text.contains("wildcard"), "{}", answer.text);
    // Every bad identifier is named in its own subproblem.
    let answer = client
        .post(
            &new_order,
            Some(json!({"identifiers": [
                {"type": "dns", "value": "ok.example"},
                {"type": "dns", "value": "bad..name"},
                {"type": "ip", "value": "300.1.1.1"}]})),
        )
        .await;
    let body = answer.json();
    let values: Vec<&str> = body["subproblems"]
        .as_array()
        .unwrap_or_else(|| panic!("subproblems: {body}"))
        .iter()
        .map(|p| p["identifier"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, vec!["bad..name", "300.1.1.1"], "{body}");
    let answer = client
        .post(&new_order, Some(json!({"identifiers": [{"type": "dns", "value": "localhost"}], "profile": "nonesuch"})))
        .await;
    assert_eq!(answer.problem(), "invalidProfile", "{}", answer.text);
    assert_eq!(
        server.count("acme_orders"),
        0,
        "no refused order was stored"
    );

    // Finalize before the order is ready.
    let created = client
        .post(
            &new_order,
            Some(json!({"identifiers": [{"type": "dns", "value": "localhost"}]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["status"], "pending");
    assert_eq!(
        created.header("retry-after"),
        "",
        "nothing to wait for before the challenges"
    );
    let polled = client.post(&created.location(), None).await;
    assert_eq!(
        polled.header("retry-after"),
        "1",
        "a pending order's poll says when to ask again"
    );
    let (csr, _) = csr_for(&["localhost"]);
    let early = client.finalize(&created.json(), &csr).await;
    assert_eq!(
        (early.status, early.problem()),
        (403, "orderNotReady".into()),
        "{}",
        early.text
    );

    // Ready; a CSR naming something else is badCSR and leaves the order ready.
    let (order_url, order) = client
        .ready_order(
            json!([{"type": "dns", "value": "localhost"}, {"type": "ip", "value": "127.0.0.1"}]),
            &responder,
        )
        .await;
    assert_eq!(order["status"], "ready", "{order}");
    let (extra, _) = csr_for(&["localhost", "127.0.0.1", "other.example"]);
    let refused = client.finalize(&order, &extra).await;
    assert_eq!(refused.problem(), "badCSR", "{}", refused.text);
    assert!(refused.text.contains("other.example"), "{}", refused.text);
    let (missing, _) = csr_for(&["localhost"]);
    let refused = client.finalize(&order, &missing).await;
    assert_eq!(refused.problem(), "badCSR", "{}", refused.text);
    assert!(refused.text.contains("127.0.0.1"), "{}", refused.text);
    assert_eq!(
        client.post(&order_url, None).await.json()["status"],
        "ready"
    );
    assert_eq!(
        server.count("certificates"),
        server
            .sql("SELECT COUNT(*) FROM certificates WHERE service_id NOT LIKE 'acme-%'")
            .parse::<i64>()
            .unwrap()
    );

    // The right CSR: valid, and the certificate downloads with POST-as-GET and plain GET.
    let (good, _) = csr_for(&["127.0.0.1", "localhost"]);
    let finalized = client.finalize(&order, &good).await;
    assert_eq!(finalized.status, 200, "{}", finalized.text);
    let chain = client.certificate(&order_url).await;
    let again = client.finalize(&order, &good).await;
    assert_eq!(
        again.problem(),
        "orderNotReady",
        "a valid order is not finalized twice"
    );
    let cert_url = client.post(&order_url, None).await.json()["certificate"]
        .as_str()
        .unwrap()
        .to_string();
    let plain = server.client().get(&cert_url).send().await.unwrap();
    assert_eq!(plain.text().await.unwrap(), chain);

    // The account's orders list names both orders.
    let account = client.post(client.kid.as_ref().unwrap(), None).await.json();
    let list = client
        .post(account["orders"].as_str().unwrap(), None)
        .await
        .json();
    let orders = list["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{list}");
    assert!(orders.iter().any(|o| o == &json!(order_url)));

    // Another account sees neither the order nor the certificate.
    let mut other = RawAcme::new(server.client(), &server.url);
    other.new_account().await;
    assert_eq!(other.post(&order_url, None).await.status, 404);
    assert_eq!(other.post(&cert_url, None).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_by_account_by_authorized_account_and_by_certificate_key() {
    let (server, responder) = started().await;
    let mut owner = RawAcme::new(server.client(), &server.url);
    owner.new_account().await;
    let revoke_url = owner.url("revoke-cert");
    let obtain = async |client: &RawAcme| {
        let (order_url, order) = client
            .ready_order(json!([{"type": "dns", "value": "localhost"}]), &responder)
            .await;
        let (csr, key) = csr_for(&["localhost"]);
        assert_eq!(client.finalize(&order, &csr).await.status, 200);
        (leaf_der(&client.certificate(&order_url).await), key)
    };
    use base64::Engine;
    let b64 = |der: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der);

    // 1. By the ordering account, with a reason; again: alreadyRevoked.
    let (cert, _) = obtain(&owner).await;
    let bad_reason = owner
        .post(
            &revoke_url,
            Some(json!({"certificate": b64(&cert), "reason": 2})),
        )
        .await;
    assert_eq!(
        bad_reason.problem(),
        "badRevocationReason",
        "{}",
        bad_reason.text
    );
    let stranger = {
        let mut s = RawAcme::new(server.client(), &server.url);
        s.new_account().await;
        s
    };
    let refused = stranger
        .post(&revoke_url, Some(json!({"certificate": b64(&cert)})))
        .await;
    assert_eq!(refused.problem(), "unauthorized", "{}", refused.text);
    let done = owner
        .post(
            &revoke_url,
            Some(json!({"certificate": b64(&cert), "reason": 4})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    let twice = owner
        .post(&revoke_url, Some(json!({"certificate": b64(&cert)})))
        .await;
    assert_eq!(twice.problem(), "alreadyRevoked", "{}", twice.text);

    // 2. By another account that holds valid authorizations for every name.
    let (cert2, key2) = obtain(&owner).await;
    let mut authorized = RawAcme::new(server.client(), &server.url);
    authorized.new_account().await;
    authorized
        .ready_order(json!([{"type": "dns", "value": "localhost"}]), &responder)
        .await;
    let done = authorized
        .post(
            &revoke_url,
            Some(json!({"certificate": b64(&cert2), "reason": 0})),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);

    // 3. Signed by the certificate's own key (jwk), keyCompromise: the key is then blocked.
    let (cert3, key3) = obtain(&owner).await;
    let by_wrong_key = RawAcme::with_key(server.client(), &server.url, key2.clone());
    let refused = by_wrong_key
        .post_jwk(
            &revoke_url,
            json!({"certificate": b64(&cert3), "reason": 1}),
        )
        .await;
    assert_eq!(
        refused.problem(),
        "unauthorized",
        "another certificate's key: {}",
        refused.text
    );
    let by_key = RawAcme::with_key(server.client(), &server.url, key3.clone());
    let done = by_key
        .post_jwk(
            &revoke_url,
            json!({"certificate": b64(&cert3), "reason": 1}),
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.text);

    let serial = |der: &[u8]| {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        hex_serial(c.raw_serial())
    };
    let reasons = server.sql(&format!(
        "SELECT c.serial_number, r.reason FROM revoked_certificates r JOIN certificates c ON c.id = r.certificate_id
         WHERE c.serial_number IN ('{}', '{}', '{}') ORDER BY r.id",
        serial(&cert), serial(&cert2), serial(&cert3)
    ));
    assert_eq!(
        reasons,
        format!(
            "{}|superseded\n{}|unspecified\n{}|keyCompromise",
            serial(&cert),
            serial(&cert2),
            serial(&cert3)
        ),
    );
    let bases = server.sql(
        "SELECT actor, details FROM audit_log WHERE action = 'acme.certificate.revoke' ORDER BY id",
    );
    assert!(
        bases.contains("ordering-account")
            && bases.contains("authorized-account")
            && bases.contains("certificate-key"),
        "{bases}"
    );
    assert!(
        bases.contains("acme-key:"),
        "the certificate-key revocation is audited as that key: {bases}"
    );

    // A CSR with the compromised key is refused at finalize.
    let (order_url, order) = owner
        .ready_order(json!([{"type": "dns", "value": "localhost"}]), &responder)
        .await;
    let key = rcgen::KeyPair::try_from(key3.as_slice()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    let refused = owner.finalize(&order, csr.der()).await;
    assert_eq!(refused.problem(), "unauthorized", "{}", refused.text);
    assert!(refused.text.contains("keyCompromise"), "{}", refused.text);
    let failed = owner.post(&order_url, None).await.json();
    assert_eq!(failed["status"], "invalid", "{failed}");
    assert!(
        failed["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("keyCompromise"),
        "{failed}"
    );
}

fn hex_serial(raw: &[u8]) -> String {
    let trimmed: Vec<u8> = raw.iter().skip_while(|b| **b == 0).copied().collect();
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_change_refuses_a_key_that_another_account_holds() {
    let (server, _responder) = started().await;
    let mut first = RawAcme::new(server.client(), &server.url);
    let first_url = first.new_account().await.location();
    let mut second = RawAcme::new(server.client(), &server.url);
    second.new_account().await;
    let url = second.url("key-change");
    // The inner JWS is signed by the first account's key: the key is taken.
    let inner = first.jws(
        &url,
        Some(&json!({"account": second.kid.clone().unwrap(), "oldKey": second.jwk()})),
        "unused",
        true,
    );
    let inner: serde_json::Value = serde_json::from_str(&inner).unwrap();
    let answer = second.post(&url, Some(inner)).await;
    assert_eq!(answer.status, 409, "{}", answer.text);
    assert_eq!(answer.location(), first_url);
    // An inner JWS naming another account is refused too.
    let fresh = RawAcme::new(server.client(), &server.url);
    let inner = fresh.jws(
        &url,
        Some(&json!({"account": first_url, "oldKey": second.jwk()})),
        "unused",
        true,
    );
    let answer = second
        .post(&url, Some(serde_json::from_str(&inner).unwrap()))
        .await;
    assert_eq!(answer.problem(), "unauthorized", "{}", answer.text);
    assert_eq!(
        server.sql("SELECT COUNT(*) FROM audit_log WHERE action = 'acme.account.key_change'"),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_and_rate_limits_refuse_with_their_error_types() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        [
            "--acme-http-port",
            &responder.port.to_string(),
            "--acme-allow-dns",
            "localhost",
            "--acme-allow-ip",
            "127.0.0.0/8",
            "--acme-new-accounts-per-hour",
            "2",
            "--acme-new-orders-per-hour",
            "2",
            "--acme-failed-validations-per-hour",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let mut a = RawAcme::new(server.client(), &server.url);
    a.new_account().await;
    let new_order = a.url("new-order");
    let order = |value: &str, kind: &str| json!({"identifiers": [{"type": kind, "value": value}]});

    // Outside the server's allow lists.
    let refused = a
        .post(&new_order, Some(order("other.example", "dns")))
        .await;
    assert_eq!(refused.problem(), "rejectedIdentifier", "{}", refused.text);
    let refused = a.post(&new_order, Some(order("10.0.0.1", "ip"))).await;
    assert_eq!(refused.problem(), "rejectedIdentifier", "{}", refused.text);
    // One subproblem per identifier outside the lists (RFC 8555 §6.7.1); the allowed one has none.
    let refused = a
        .post(
            &new_order,
            Some(json!({"identifiers": [
                {"type": "dns", "value": "localhost"},
                {"type": "dns", "value": "other.example"},
                {"type": "ip", "value": "10.0.0.1"}]})),
        )
        .await;
    let body = refused.json();
    let named: Vec<String> = body["subproblems"]
        .as_array()
        .unwrap_or_else(|| panic!("subproblems: {body}"))
        .iter()
        .map(|p| {
            assert_eq!(
                p["type"], "urn:ietf:params:acme:error:rejectedIdentifier",
                "{p}"
            );
            format!(
                "{}:{}",
                p["identifier"]["type"].as_str().unwrap(),
                p["identifier"]["value"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(named, vec!["dns:other.example", "ip:10.0.0.1"], "{body}");
    // Two orders an hour, then rateLimited with Retry-After.
    assert_eq!(
        a.post(&new_order, Some(order("localhost", "dns")))
            .await
            .status,
        201
    );
    assert_eq!(
        a.post(&new_order, Some(order("127.0.0.1", "ip")))
            .await
            .status,
        201
    );
    let limited = a.post(&new_order, Some(order("localhost", "dns"))).await;
    assert_eq!(
        (limited.status, limited.problem()),
        (429, "rateLimited".into()),
        "{}",
        limited.text
    );
    assert_eq!(limited.header("retry-after"), "3600");
    assert_eq!(server.sql("SELECT COUNT(*) FROM acme_orders"), "2");

    // One failed validation an hour: the next challenge is refused.
    let mut b = RawAcme::new(server.client(), &server.url);
    b.new_account().await;
    for attempt in 0..2 {
        let created = b.post(&new_order, Some(order("localhost", "dns"))).await;
        assert_eq!(created.status, 201, "{}", created.text);
        let authz_url = created.json()["authorizations"][0]
            .as_str()
            .unwrap()
            .to_string();
        let authz = b.post(&authz_url, None).await.json();
        let challenge = authz["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "http-01")
            .unwrap()
            .clone();
        responder.set(challenge["token"].as_str().unwrap(), "wrong");
        let started = b
            .post(challenge["url"].as_str().unwrap(), Some(json!({})))
            .await;
        if attempt == 0 {
            assert_eq!(started.status, 200, "{}", started.text);
            for _ in 0..100 {
                if b.post(&authz_url, None).await.json()["status"] == "invalid" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        } else {
            assert_eq!(started.problem(), "rateLimited", "{}", started.text);
        }
    }

    // Two accounts an hour from one address.
    let c = RawAcme::new(server.client(), &server.url);
    let refused = c
        .post_jwk(&c.url("new-account"), json!({"termsOfServiceAgreed": true}))
        .await;
    assert_eq!(
        (refused.status, refused.problem()),
        (429, "rateLimited".into()),
        "{}",
        refused.text
    );
    assert_eq!(server.count("acme_accounts"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_certificates_and_other_hosts_are_out_of_reach() {
    let (server, responder) = started().await;
    let mut client = RawAcme::new(server.client(), &server.url);
    client.new_account().await;
    // This account controls every name of the server's TLS certificate …
    client
        .ready_order(
            json!([{"type": "dns", "value": "localhost"}, {"type": "ip", "value": "127.0.0.1"}]),
            &responder,
        )
        .await;
    let addr = server.url.trim_start_matches("https://").to_string();
    let (_, shown) = run(
        "sh",
        &[
            "-c",
            &format!("openssl s_client -connect {addr} -showcerts </dev/null 2>/dev/null"),
        ],
    );
    assert!(
        shown.contains("BEGIN CERTIFICATE"),
        "openssl s_client: {shown}"
    );
    let begin = shown.find("-----BEGIN CERTIFICATE-----").unwrap();
    let der = leaf_der(&first_pem(&shown[begin..]));
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
    // … and still may not revoke it: it was not issued through ACME.
    for reason in [0, 1] {
        let refused = client
            .post(
                &client.url("revoke-cert"),
                Some(json!({"certificate": b64, "reason": reason})),
            )
            .await;
        assert_eq!(refused.problem(), "unauthorized", "{}", refused.text);
    }
    assert_eq!(server.sql("SELECT COUNT(*) FROM revoked_certificates"), "0");

    // http-01 follows a redirect only to the same host on the validation port: not to another
    // service, whose answer would come back in the challenge's error.
    let mut other = RawAcme::new(server.client(), &server.url);
    other.new_account().await;
    let created = other
        .post(
            &other.url("new-order"),
            Some(json!({"identifiers": [{"type": "dns", "value": "localhost"}]})),
        )
        .await;
    let authz_url = created.json()["authorizations"][0]
        .as_str()
        .unwrap()
        .to_string();
    let authz = other.post(&authz_url, None).await.json();
    let challenge = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "http-01")
        .unwrap()
        .clone();
    let api_port = server.url.rsplit(':').next().unwrap().to_string();
    responder.set(
        challenge["token"].as_str().unwrap(),
        &format!("REDIRECT http://localhost:{api_port}/api/health"),
    );
    other
        .post(challenge["url"].as_str().unwrap(), Some(json!({})))
        .await;
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        last = other.post(&authz_url, None).await.json();
        if last["status"] != "pending" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(last["status"], "invalid", "{last}");
    let error = server.sql("SELECT error FROM acme_challenges WHERE status = 'invalid'");
    assert!(
        error.contains("redirect") && error.contains("refused"),
        "{error}"
    );
}
