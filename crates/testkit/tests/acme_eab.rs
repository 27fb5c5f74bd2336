//! External Account Binding (RFC 8555 §7.3.4) with instant-acme and `vcc-pki acme eab`: required
//! by config, single-use and reusable keys, revocation, and the key's policy binding the
//! account's orders.
use base64::Engine;
use instant_acme::{Account, ExternalAccountKey, Identifier, NewAccount, NewOrder};
use vcc_pki_testkit::*;

fn cli(server: &TestServer, args: &[&str]) -> (bool, String) {
    let data = server.data_dir();
    let mut all = vec![
        "--server",
        server.url.as_str(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    all.extend(args);
    run(bin(), &all)
}

fn create_key(server: &TestServer, args: &[&str]) -> (String, Vec<u8>) {
    let mut all = vec!["--output", "json", "acme", "eab", "create"];
    all.extend(args);
    let (ok, out) = cli(server, &all);
    assert!(ok, "{out}");
    let created: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(created["hmac_key"].as_str().unwrap())
        .unwrap();
    (created["kid"].as_str().unwrap().to_string(), key)
}

async fn new_account(
    server: &TestServer,
    eab: Option<&ExternalAccountKey>,
) -> Result<Account, instant_acme::Error> {
    let root = write(server.dir.path(), "acme-root.pem", server.root_pem());
    Account::builder_with_root(&root)
        .unwrap()
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            format!("{}/acme/directory", server.url),
            eab,
        )
        .await
        .map(|(a, _)| a)
}

fn problem(result: Result<impl std::any::Any, instant_acme::Error>) -> String {
    match result {
        Err(instant_acme::Error::Api(p)) => p
            .r#type
            .unwrap_or_default()
            .trim_start_matches("urn:ietf:params:acme:error:")
            .to_string(),
        Err(e) => format!("other error: {e}"),
        Ok(_) => "accepted".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_need_a_key_when_required_and_the_key_binds_their_orders() {
    let server = TestServer::start_with(Some("acme-test-pass"), vec!["--acme-eab-required".into()]);
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
    assert_eq!(directory["meta"]["externalAccountRequired"], true);
    assert_eq!(
        problem(new_account(&server, None).await),
        "externalAccountRequired"
    );

    let (kid, key) = create_key(
        &server,
        &[
            "--allowed-dns",
            "localhost",
            "--profile",
            "classic",
            "--expires-in",
            "1d",
        ],
    );
    assert!(kid.starts_with("eab-"), "{kid}");
    // A wrong HMAC key is refused and uses nothing up.
    let wrong = ExternalAccountKey::new(kid.clone(), b"not the key at all, 32 bytes long");
    assert_eq!(
        problem(new_account(&server, Some(&wrong)).await),
        "unauthorized"
    );
    let eab = ExternalAccountKey::new(kid.clone(), &key);
    let account = new_account(&server, Some(&eab))
        .await
        .expect("an account with the key");
    assert_eq!(server.sql("SELECT eab_kid FROM acme_accounts"), kid);
    // Single-use: a second account with the same key is refused.
    assert_eq!(
        problem(new_account(&server, Some(&eab)).await),
        "unauthorized"
    );
    assert_eq!(server.count("acme_accounts"), 1);

    // The key's policy: localhost only, classic only.
    let ip = [Identifier::Ip("127.0.0.1".parse().unwrap())];
    assert_eq!(
        problem(account.new_order(&NewOrder::new(&ip)).await),
        "rejectedIdentifier"
    );
    let name = [Identifier::Dns("localhost".into())];
    assert_eq!(
        problem(
            account
                .new_order(&NewOrder::new(&name).profile("tlsserver"))
                .await
        ),
        "invalidProfile"
    );
    assert_eq!(
        problem(account.new_order(&NewOrder::new(&name)).await),
        "accepted"
    );
    // Revoking the key stops the accounts made with it.
    let (ok, out) = cli(&server, &["acme", "eab", "revoke", &kid]);
    assert!(ok, "{out}");
    assert_eq!(
        problem(account.new_order(&NewOrder::new(&name)).await),
        "unauthorized"
    );

    // A reusable key makes several accounts until it is revoked.
    let (reusable, key) = create_key(&server, &["--reusable"]);
    let eab = ExternalAccountKey::new(reusable.clone(), &key);
    new_account(&server, Some(&eab))
        .await
        .expect("first account");
    new_account(&server, Some(&eab))
        .await
        .expect("second account");
    let (ok, out) = cli(&server, &["acme", "eab", "revoke", &reusable]);
    assert!(ok, "{out}");
    assert_eq!(
        problem(new_account(&server, Some(&eab)).await),
        "unauthorized"
    );
    let (ok, list) = cli(&server, &["--output", "json", "acme", "eab", "list"]);
    assert!(ok, "{list}");
    assert!(
        !list.contains("hmac_key"),
        "the list never shows HMAC keys: {list}"
    );
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    let audit =
        server.sql("SELECT action FROM audit_log WHERE action LIKE 'acme.eab.%' ORDER BY id");
    assert_eq!(
        audit,
        "acme.eab.create\nacme.eab.revoke\nacme.eab.create\nacme.eab.revoke"
    );
}
