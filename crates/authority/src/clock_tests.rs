//! Time-driven rules, tested by moving an injected clock instead of sleeping: enrollment token
//! expiry, the server TLS certificate's renewal window, OCSP responder rotation and CRL refresh.
use crate::registry::ServiceRegistration;
use crate::*;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use vcc_pki_store::{CaLevel, Store};

/// The server's TLS listener, remembering what it was given to serve.
#[derive(Default)]
struct RecordingTls(Mutex<Option<ServedValidity>>);

impl ServerTls for RecordingTls {
    fn install(
        &self,
        _: &str,
        _: &str,
        _: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<(), String> {
        *self.0.lock().unwrap() = Some(ServedValidity {
            issued_by_ca: true,
            not_before,
            not_after,
        });
        Ok(())
    }
    fn set_client_trust(&self, _: &[Vec<u8>]) {}
    fn served(&self) -> Option<ServedValidity> {
        *self.0.lock().unwrap()
    }
}

async fn authority(dir: &std::path::Path) -> (Arc<Authority>, Arc<ManualClock>, Arc<RecordingTls>) {
    let mut config = AuthorityConfig::new(dir.to_path_buf());
    config.ca_password = Some(zeroize::Zeroizing::new("correct horse battery".into()));
    let store = Store::open(&format!("sqlite://{}", dir.join("pki.db").display()))
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let tls = Arc::new(RecordingTls::default());
    let authority = Authority::load_with_clock(store, Arc::new(config), tls.clone(), clock.clone())
        .await
        .unwrap();
    let admin = Requester::new(Principal::Admin);
    for level in [CaLevel::Root, CaLevel::Intermediate] {
        let req = CaCreateRequest {
            common_name: format!("{level:?} CA"),
            country: None,
            organization: Some("VCC".into()),
            key_type: Some("ecdsa-p256".into()),
            validity_years: None,
            password: None,
            key_uri: None,
        };
        authority.create_ca(&admin, level, req).await.unwrap();
    }
    (authority, clock, tls)
}

#[tokio::test]
async fn an_enrollment_token_expires_on_the_authoritys_clock() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, clock, _) = authority(dir.path()).await;
    let admin = Requester::new(Principal::Admin);
    let register = |id: &str| ServiceRegistration {
        service_id: id.into(),
        service_name: id.into(),
        enrollment_ttl_hours: Some(1),
        ..Default::default()
    };
    let enroll = |token: &str| {
        Requester::new(Principal::Enrollment {
            token_hash: credentials::token_hash(token),
        })
    };
    let issue = |id: &str| IssueRequest {
        service_id: id.into(),
        common_name: id.into(),
        ..Default::default()
    };
    let early = authority
        .register_service(&admin, register("early"))
        .await
        .unwrap();
    let late = authority
        .register_service(&admin, register("late"))
        .await
        .unwrap();
    clock.advance(Duration::minutes(59));
    let token = early.enrollment_token.unwrap();
    authority
        .issue(&enroll(&token), issue("early"))
        .await
        .unwrap();
    clock.advance(Duration::minutes(2));
    let token = late.enrollment_token.unwrap();
    let refused = authority.issue(&enroll(&token), issue("late")).await;
    assert!(
        matches!(refused, Err(AuthorityError::Unauthenticated(_))),
        "{:?}",
        refused.err()
    );
}

#[tokio::test]
async fn the_server_certificate_is_due_with_a_third_of_its_life_left() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, clock, tls) = authority(dir.path()).await;
    // Creating the intermediate issued the server's certificate (90 days).
    let served = tls.served().expect("a CA-issued server certificate");
    assert_eq!((served.not_after - served.not_before).whole_days(), 90);
    assert!(!authority.server_tls().due());
    clock.advance(Duration::days(59));
    assert!(!authority.server_tls().due());
    clock.advance(Duration::days(1));
    assert!(authority.server_tls().due());
    authority.server_tls().renew_if_possible().await;
    let renewed = tls.served().unwrap();
    assert!(renewed.not_before > served.not_before);
    assert!(!authority.server_tls().due());
}

#[tokio::test]
async fn the_ocsp_responder_rotates_at_half_life() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, clock, _) = authority(dir.path()).await;
    let first = authority
        .ocsp()
        .active_responder()
        .await
        .expect("a responder");
    clock.advance(RESPONDER_LIFETIME / 2 - Duration::hours(1));
    let same = authority.ocsp().active_responder().await.unwrap();
    assert_eq!(same.serial, first.serial);
    clock.advance(Duration::hours(2));
    let next = authority.ocsp().active_responder().await.unwrap();
    assert_ne!(
        next.serial, first.serial,
        "rotated once half its life had passed"
    );
    assert!(next.not_after > first.not_after);
}

#[tokio::test]
async fn crls_are_due_for_refresh_two_thirds_into_their_validity() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, clock, _) = authority(dir.path()).await;
    authority.crl().build_crl_now(None).await.unwrap();
    let due_in = authority.crl().refresh_due_in();
    assert_eq!(due_in.whole_hours(), 16);
    clock.advance(Duration::hours(16));
    assert!(authority.crl().refresh_due_in() <= Duration::ZERO);
}

#[tokio::test]
async fn a_bad_enrollment_token_is_refused_before_any_name_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, _, _) = authority(dir.path()).await;
    let wrong = Requester::new(Principal::Enrollment {
        token_hash: credentials::token_hash("vccenr_not-the-token"),
    });
    let refused = authority
        .issue(
            &wrong,
            IssueRequest {
                service_id: "svc".into(),
                common_name: "not a name!".into(),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(AuthorityError::Unauthenticated(_))),
        "{:?}",
        refused.err()
    );
}

/// Serials (lower-case hex) a CRL lists.
fn crl_serials(der: &[u8]) -> Vec<String> {
    let (_, crl) = x509_parser::parse_x509_crl(der).unwrap();
    crl.iter_revoked_certificates()
        .map(|r| hex::encode(r.raw_serial()))
        .collect()
}

#[tokio::test]
async fn tidy_empties_what_is_long_dead_and_keeps_the_chain_and_every_crl_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, clock, _) = authority(dir.path()).await;
    let admin = Requester::new(Principal::Admin);
    let issue = |id: &str, days: u32| IssueRequest {
        service_id: id.into(),
        common_name: id.into(),
        validity_days: Some(days),
        ..Default::default()
    };
    let revoke = |serial: &vcc_pki_core::Serial| RevokeRequest {
        service_id: None,
        serial_number: Some(serial.to_hex()),
        reason: Some("keyCompromise".into()),
    };
    let short = authority.issue(&admin, issue("short", 10)).await.unwrap();
    let short_revoked = authority.issue(&admin, issue("gone", 10)).await.unwrap();
    let long = authority.issue(&admin, issue("long", 365)).await.unwrap();
    let long_revoked = authority
        .issue(&admin, issue("compromised", 365))
        .await
        .unwrap();
    for cert in [&short_revoked, &long_revoked] {
        authority
            .revoke(&admin, revoke(&cert.serial_number))
            .await
            .unwrap();
    }
    authority
        .register_service(
            &admin,
            ServiceRegistration {
                service_id: "never-enrolled".into(),
                service_name: "never".into(),
                enrollment_ttl_hours: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for _ in 0..3 {
        authority.generate_crl(&admin).await.unwrap();
    }
    let store = authority.store().clone();
    let crls_before = store.statistics().await.unwrap().crls;

    // 40 days on: the 10-day certificates have been expired for 30 days; retention 7 days.
    clock.advance(Duration::days(40));
    authority.generate_crl(&admin).await.unwrap();
    // An auditor may not tidy.
    let auditor = Requester::new(Principal::Auditor);
    assert!(matches!(
        authority.tidy(&auditor, Duration::days(7)).await,
        Err(AuthorityError::Forbidden(_))
    ));
    let report = authority.tidy(&admin, Duration::days(7)).await.unwrap();
    assert!(report.certificates_emptied >= 2, "{report:?}");
    assert_eq!(report.enrollment_tokens_cleared, 1, "{report:?}");
    assert!(report.crls_removed >= 3, "{report:?}");
    assert!(store.statistics().await.unwrap().crls < crls_before + 1);

    // The expired certificates keep their rows (serial, names, status), not their DER.
    // (The store derives "expired" from the system clock, which has not moved: the status checked
    // here is the stored one, revoked.)
    for (cert, revoked) in [(&short, false), (&short_revoked, true)] {
        let row = store
            .certificate_by_serial(&cert.serial_number)
            .await
            .unwrap()
            .expect("the row stays");
        assert!(row.certificate_der.is_empty(), "{}", row.common_name);
        assert_eq!(row.common_name, cert.common_name);
        assert_eq!(
            row.status == vcc_pki_store::CertificateStatus::Revoked,
            revoked
        );
    }
    for cert in [&long, &long_revoked] {
        let row = store
            .certificate_by_serial(&cert.serial_number)
            .await
            .unwrap()
            .unwrap();
        assert!(
            !row.certificate_der.is_empty(),
            "a valid certificate lost its DER"
        );
    }
    // The audit chain verifies, with the tidy row in it.
    let chain = store.verify_audit_chain().await.unwrap();
    assert!(chain.intact, "{chain:?}");
    let tidy_rows = store
        .audit_page(Some("store.tidy"), None, None, 10)
        .await
        .unwrap();
    // Newest first: the tidy with its counts, then the auditor's refusal.
    assert_eq!(tidy_rows.len(), 2, "{tidy_rows:?}");
    assert_eq!(tidy_rows[0]["outcome"], "success");
    assert_eq!(
        tidy_rows[0]["details"]["removed"]["enrollment_tokens_cleared"],
        1
    );
    assert_eq!(tidy_rows[1]["outcome"], "denied");
    // Every CRL still lists every unexpired revoked certificate: the newest complete CRL and a
    // fresh one after tidy list the compromised 365-day certificate.
    let compromised = long_revoked.serial_number.to_hex();
    authority.generate_crl(&admin).await.unwrap();
    let complete = store.latest_crl_der(None).await.unwrap().unwrap();
    let listed = crl_serials(&complete);
    assert!(listed.contains(&compromised), "{listed:?}");
    // A second run finds nothing more to empty.
    let again = authority.tidy(&admin, Duration::days(7)).await.unwrap();
    assert_eq!(again.certificates_emptied, 0, "{again:?}");
}
