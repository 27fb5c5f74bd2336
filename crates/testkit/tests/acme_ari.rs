//! ACME Renewal Information (RFC 9773) with instant-acme: the suggested window, `vcc-pki acme ari
//! move` pulling it to now, a revoked certificate's window in the past, and `replaces` (once).
mod acme_support;

use acme_support::*;
use instant_acme::{
    Account, CertificateIdentifier, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};
use rustls_pki_types::CertificateDer;
use std::time::Duration;
use vcc_pki_testkit::*;

fn retry() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .timeout(Duration::from_secs(30))
}

async fn obtain(
    account: &Account,
    responder: &Http01Responder,
    replaces: Option<CertificateIdentifier<'_>>,
) -> Result<Vec<u8>, instant_acme::Error> {
    let identifiers = [Identifier::Dns("localhost".into())];
    let mut new_order = NewOrder::new(&identifiers);
    if let Some(id) = replaces {
        new_order = new_order.replaces(id);
    }
    let mut order = account.new_order(&new_order).await?;
    {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            if let Some(mut challenge) = authz.challenge(ChallengeType::Http01) {
                responder.set(&challenge.token, challenge.key_authorization().as_str());
                challenge.set_ready().await?;
            }
        }
    }
    assert_eq!(order.poll_ready(&retry()).await?, OrderStatus::Ready);
    order.finalize().await?;
    let chain = order.poll_certificate(&retry()).await?;
    Ok(leaf_der(&chain))
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_windows_move_and_replacement_orders() {
    let responder = Http01Responder::start().await;
    let server = TestServer::start_with(
        Some("acme-test-pass"),
        vec!["--acme-http-port".into(), responder.port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let root = write(server.dir.path(), "acme-root.pem", server.root_pem());
    let account = instant_account(&server).await;

    let first = obtain(&account, &responder, None).await.unwrap();
    let first_der = CertificateDer::from(first.clone());
    let id = CertificateIdentifier::try_from(&first_der).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&first).unwrap();
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();

    // The default window: centred at two thirds of the lifetime, 2 % of it wide; Retry-After 6 h.
    let (info, retry_after) = account.renewal_info(&id).await.unwrap();
    let lifetime: time::Duration = not_after - not_before;
    let centre: time::OffsetDateTime = not_before + lifetime * 2 / 3;
    let start: time::OffsetDateTime = info.suggested_window.start;
    let end: time::OffsetDateTime = info.suggested_window.end;
    let want_start: time::OffsetDateTime = centre - lifetime / 100;
    let want_end: time::OffsetDateTime = centre + lifetime / 100;
    let off_start: time::Duration = start - want_start;
    let off_end: time::Duration = end - want_end;
    assert!(
        off_start.abs() <= time::Duration::seconds(2),
        "{start} vs {want_start}"
    );
    assert!(
        off_end.abs() <= time::Duration::seconds(2),
        "{end} vs {want_end}"
    );
    assert!(
        retry_after > Duration::from_secs(5 * 3600) && retry_after <= Duration::from_secs(6 * 3600)
    );

    // An admin pulls it to now (incident response): the window has passed.
    let serial = hex::encode(cert.raw_serial())
        .trim_start_matches("00")
        .to_string();
    let (ok, out) = cli(
        &server,
        &[
            "acme",
            "ari",
            "move",
            "--serial",
            &serial,
            "--explanation",
            "https://status.internal/incident-1",
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("1 certificate"), "{out}");
    let (moved, _) = account.renewal_info(&id).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert!(
        moved.suggested_window.end <= now
            && moved.suggested_window.start < moved.suggested_window.end
    );
    assert_eq!(
        moved.explanation_url.as_deref(),
        Some("https://status.internal/incident-1")
    );
    // Not an admin: refused, nothing moved.
    let (ok, out) = run(
        bin(),
        &[
            "--server",
            &server.url,
            "--ca-bundle",
            &root,
            "--token",
            "vccadm_wrong",
            "acme",
            "ari",
            "move",
            "--all",
        ],
    );
    assert!(!ok && out.contains("not valid"), "{out}");

    // A replacement order names the old certificate: once.
    let second = obtain(&account, &responder, Some(id.clone()))
        .await
        .unwrap();
    assert_ne!(second, first);
    let stored = server.sql("SELECT replaces FROM acme_orders WHERE replaces IS NOT NULL");
    assert_eq!(stored, id.to_string());
    let again = account
        .new_order(&NewOrder::new(&[Identifier::Dns("localhost".into())]).replaces(id.clone()))
        .await;
    match again {
        Err(instant_acme::Error::Api(problem)) => {
            assert_eq!(
                problem.r#type.as_deref(),
                Some("urn:ietf:params:acme:error:alreadyReplaced"),
                "{problem:?}"
            )
        }
        other => panic!(
            "a second replacement was accepted: {:?}",
            other.map(|o| o.url().to_string())
        ),
    }

    // A revoked certificate's window lies in the past.
    let second_der = CertificateDer::from(second.clone());
    account
        .revoke(&instant_acme::RevocationRequest {
            certificate: &second_der,
            reason: Some(instant_acme::RevocationReason::Superseded),
        })
        .await
        .unwrap();
    let second_id = CertificateIdentifier::try_from(&second_der).unwrap();
    let (revoked, _) = account.renewal_info(&second_id).await.unwrap();
    assert!(revoked.suggested_window.end < time::OffsetDateTime::now_utc());

    // Another account may not name this account's certificate in `replaces`.
    let other = instant_account(&server).await;
    let refused = other
        .new_order(&NewOrder::new(&[Identifier::Dns("localhost".into())]).replaces(second_id))
        .await;
    match refused {
        Err(instant_acme::Error::Api(problem)) => {
            assert_eq!(
                problem.r#type.as_deref(),
                Some("urn:ietf:params:acme:error:unauthorized"),
                "{problem:?}"
            )
        }
        other => panic!(
            "another account's replacement was accepted: {:?}",
            other.is_ok()
        ),
    }
}
