//! Tests of the OCSP responder state: cache, revocation hook, responder rotation.
use super::*;
use crate::{AuthorityConfig, CaCreateRequest, IssueRequest, RevokeRequest};
use crate::{Principal, Requester, ServerTls};
use vcc_pki_core::ocsp::{build_request, read_response, OcspResponseSummary};
use vcc_pki_store::{CaLevel, Store};

/// The server's TLS listener, absent in these tests.
struct NoTls;

impl ServerTls for NoTls {
    fn install(
        &self,
        _: &str,
        _: &str,
        _: &[u8],
        _: OffsetDateTime,
        _: OffsetDateTime,
    ) -> Result<(), String> {
        Ok(())
    }
    fn set_client_trust(&self, _: &[Vec<u8>]) {}
    fn served(&self) -> Option<crate::ServedValidity> {
        None
    }
}

impl Authority {
    /// Make the current responder due (as if half its lifetime had passed).
    fn age_ocsp_responder(&self) {
        let mut slot = self.ocsp.responder.write().unwrap();
        let active = Arc::try_unwrap(slot.take().unwrap()).ok().unwrap();
        *slot = Some(Arc::new(ActiveResponder {
            not_before: active.not_before - RESPONDER_LIFETIME,
            ..active
        }));
    }
}

async fn ask(
    authority: &Authority,
    serial: &str,
    nonce: Option<&[u8]>,
) -> (Vec<u8>, OcspResponseSummary) {
    let intermediate = authority.intermediate_pem().unwrap();
    let der = vcc_pki_core::pem_decode_all(&intermediate, "CERTIFICATE")
        .unwrap()
        .remove(0);
    let issuer = IssuerIdentity::from_certificate(&der).unwrap();
    let id = issuer
        .cert_id(CertIdHash::Sha1, &Serial::from_hex(serial).unwrap())
        .unwrap();
    let answer = authority
        .ocsp()
        .respond(&build_request(vec![id], nonce).unwrap())
        .await;
    let der = answer.der();
    (der.clone(), read_response(&der).unwrap())
}

fn serial_of(certificate_der: &[u8]) -> Serial {
    let (_, cert) = x509_parser::parse_x509_certificate(certificate_der).unwrap();
    Serial::from_bytes(cert.raw_serial())
}

/// An Authority on a fresh SQLite store in `dir` with a P-256 root and intermediate, and an admin
/// request context.
async fn authority_with_ca(dir: &std::path::Path) -> (Arc<Authority>, Store, Requester) {
    let mut config = AuthorityConfig::new(dir.to_path_buf());
    config.ca_password = Some(zeroize::Zeroizing::new("correct horse battery".into()));
    let store = Store::open(&format!("sqlite://{}", dir.join("pki.db").display()))
        .await
        .unwrap();
    let authority = Authority::load(store.clone(), Arc::new(config), Arc::new(NoTls))
        .await
        .unwrap();
    let ctx = Requester {
        principal: Principal::Admin,
        source_ip: None,
        bad_token: false,
    };
    for level in [CaLevel::Root, CaLevel::Intermediate] {
        let req = CaCreateRequest {
            common_name: format!("{level:?} CA"),
            country: Some("DE".into()),
            organization: Some("VCC".into()),
            key_type: Some("ecdsa-p256".into()),
            validity_years: None,
            password: None,
            key_uri: None,
        };
        authority.create_ca(&ctx, level, req).await.unwrap();
    }
    (authority, store, ctx)
}

async fn issue_leaf(authority: &Authority, ctx: &Requester, name: &str) -> Serial {
    let leaf = authority
        .issue(
            ctx,
            IssueRequest {
                service_id: "svc".into(),
                common_name: format!("{name}.example.internal"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    leaf.serial_number
}

/// Wait (up to 60 s: the thread runs on idle CPU only) for the pre-signing thread to cache
/// `serial`'s response.
async fn presigned(authority: &Authority, serial: &Serial) -> Arc<SignedOcspResponse> {
    let key = (serial.clone(), CertIdHash::Sha1);
    for _ in 0..6000 {
        if let Some(r) = authority.ocsp.cached(&key, authority.now()) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no pre-signed response for {serial}");
}

/// New certificates' `good` responses are pre-signed off the request path, and a queued
/// pre-signature whose status was read before a revocation is not cached however late it runs.
#[tokio::test]
async fn presigning_thread_caches_good_and_drops_jobs_older_than_a_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, _store, ctx) = authority_with_ca(dir.path()).await;
    let issuer_ca_id = authority
        .ocsp()
        .active_responder()
        .await
        .unwrap()
        .issuer_ca_id;
    authority.ocsp().start_presigner();
    assert!(authority.ocsp.presign.sender.get().is_some());

    let a = issue_leaf(&authority, &ctx, "a").await;
    let cached = presigned(&authority, &a).await;
    assert_eq!(
        read_response(&cached.der).unwrap().answers[0].1,
        CertificateStatus::Good
    );

    // A job carrying the epoch from before a revocation (here: a's cache entry forgotten, as a
    // revocation followed from another replica does) must not put `good` back.
    let before = authority.ocsp.epoch();
    authority.ocsp.forget(std::slice::from_ref(&a));
    authority.ocsp.issued(&a, issuer_ca_id, before);
    // The queue is FIFO with one consumer: once b's (later) job is cached, a's stale one ran.
    let b = issue_leaf(&authority, &ctx, "b").await;
    presigned(&authority, &b).await;
    assert!(authority
        .ocsp
        .cached(&(a.clone(), CertIdHash::Sha1), authority.now())
        .is_none());
    // With a current epoch the same job is cached.
    authority
        .ocsp
        .issued(&a, issuer_ca_id, authority.ocsp.epoch());
    presigned(&authority, &a).await;
}

#[tokio::test]
async fn revocation_replaces_cached_responses_and_responders_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, store, ctx) = authority_with_ca(dir.path()).await;
    let serial = issue_leaf(&authority, &ctx, "svc").await.to_hex();

    // First answer: good, from a responder certificate that is stored under vcc-pki-ocsp.
    let (first, summary) = ask(&authority, &serial, None).await;
    assert_eq!(summary.status, OcspResponseStatus::Successful);
    assert_eq!(summary.answers[0].1, CertificateStatus::Good);
    let responder_a = serial_of(&summary.certificates[0]);
    let stored = store
        .certificate_by_serial(&responder_a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.service_id.as_str(), stored.profile.as_str()),
        (OCSP_SERVICE_ID, OCSP_SIGNING_PROFILE)
    );
    // Cached: the same bytes again; a nonce gets its own, echoed.
    assert_eq!(ask(&authority, &serial, None).await.0, first);
    let (_, with_nonce) = ask(&authority, &serial, Some(b"0123456789abcdef")).await;
    assert_eq!(with_nonce.nonce.as_deref(), Some(&b"0123456789abcdef"[..]));

    // Revocation replaces the cached response before revoke returns.
    let revoke = |serial: &str, reason: &str| RevokeRequest {
        service_id: None,
        serial_number: Some(serial.to_string()),
        reason: Some(reason.to_string()),
    };
    authority
        .revoke(&ctx, revoke(&serial, "keyCompromise"))
        .await
        .unwrap();
    let cached = authority
        .ocsp
        .cached(
            &(Serial::from_hex(&serial).unwrap(), CertIdHash::Sha1),
            authority.now(),
        )
        .unwrap();
    let revoked = read_response(&cached.der).unwrap();
    assert!(matches!(
        revoked.answers[0].1,
        CertificateStatus::Revoked {
            reason: RevocationReason::KeyCompromise,
            ..
        }
    ));
    assert_eq!(ask(&authority, &serial, None).await.0, cached.der);

    // A due responder is replaced (same intermediate: cached responses stay valid until the
    // worker re-signs them with the new one).
    authority.age_ocsp_responder();
    let (_, still) = ask(&authority, &serial, None).await;
    assert_eq!(serial_of(&still.certificates[0]), responder_a);
    let responder_b = authority.ocsp.installed().unwrap().serial.clone();
    assert_ne!(responder_b, responder_a);
    authority.ocsp.refresh_due_responses().await.unwrap();
    let (_, resigned) = ask(&authority, &serial, None).await;
    assert_eq!(serial_of(&resigned.certificates[0]), responder_b);
    assert!(matches!(
        resigned.answers[0].1,
        CertificateStatus::Revoked { .. }
    ));

    // An admin may not revoke the server's own responder certificate…
    let refused = authority
        .revoke(&ctx, revoke(&responder_b.to_hex(), "keyCompromise"))
        .await;
    assert!(
        matches!(refused, Err(AuthorityError::Forbidden(_))),
        "{refused:?}"
    );
    // …but a revoked one (here by the system) is replaced at once and answers `revoked` itself.
    authority
        .revoke(
            &Requester::system(),
            revoke(&responder_b.to_hex(), "keyCompromise"),
        )
        .await
        .unwrap();
    let (_, after) = ask(&authority, &responder_b.to_hex(), None).await;
    let responder_c = serial_of(&after.certificates[0]);
    assert!(
        responder_c != responder_a && responder_c != responder_b,
        "{responder_a} {responder_b} {responder_c}"
    );
    assert!(matches!(
        after.answers[0].1,
        CertificateStatus::Revoked { .. }
    ));
    let stored = store
        .certificate_by_serial(&responder_c)
        .await
        .unwrap()
        .unwrap();
    // Replaced, not renewed: nothing may renew from a revoked certificate.
    assert_eq!(stored.renewed_from, None);

    // Serials never issued: unknown, and not cached.
    let (_, unknown) = ask(&authority, "0123456789abcdef", None).await;
    assert_eq!(unknown.answers[0].1, CertificateStatus::Unknown);
    assert!(authority
        .ocsp
        .cached(
            &(
                Serial::from_hex("0123456789abcdef").unwrap(),
                CertIdHash::Sha1
            ),
            authority.now()
        )
        .is_none());
}

#[test]
fn responder_is_due_at_half_life_and_outlives_its_responses() {
    let nb = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
    let na = nb + RESPONDER_LIFETIME;
    let half = nb + RESPONDER_LIFETIME / 2;
    // Rotated at half-life, so the last responses it signs expire before it does.
    assert!(half + RESPONSE_LIFETIME < na);
    let due = |t| t >= nb + (na - nb) / 2;
    assert!(!due(half - Duration::seconds(1)));
    assert!(due(half));
}

#[test]
fn revoked_record_gives_revoked_status_with_reason() {
    let record = CertificateRecord {
        id: 1,
        serial_number: Serial::from_hex("01").unwrap(),
        service_id: "svc".into(),
        common_name: "svc".into(),
        san_dns: vec![],
        san_ip: vec![],
        profile: "server".into(),
        key_type: vcc_pki_core::KeyType::EcdsaP256,
        key_source: "server".into(),
        public_key_sha256: String::new(),
        fingerprint_sha256: String::new(),
        certificate_der: vec![],
        issuer_ca_id: 1,
        not_before: time::macros::datetime!(2026-01-01 00:00 UTC),
        not_after: time::macros::datetime!(2027-01-01 00:00 UTC),
        status: vcc_pki_store::CertificateStatus::Revoked,
        days_until_expiry: 10,
        renewed_from: None,
        created_at: time::macros::datetime!(2026-01-01 00:00 UTC),
        revoked_at: Some(time::macros::datetime!(2026-02-01 10:00 UTC)),
        revocation_reason: Some(RevocationReason::KeyCompromise),
    };
    match status_of(&record) {
        Some(CertificateStatus::Revoked { reason, revoked_at }) => {
            assert_eq!(reason, RevocationReason::KeyCompromise);
            assert_eq!(
                vcc_pki_store::format_time(revoked_at),
                "2026-02-01T10:00:00Z"
            );
        }
        other => panic!("{other:?}"),
    }
    let good = CertificateRecord {
        status: vcc_pki_store::CertificateStatus::Active,
        ..record.clone()
    };
    assert_eq!(status_of(&good), Some(CertificateStatus::Good));
    let broken = CertificateRecord {
        revoked_at: None,
        ..record
    };
    assert_eq!(status_of(&broken), None);
}

#[test]
fn http_dates_are_imf_fixdate() {
    let t = time::OffsetDateTime::from_unix_timestamp(784111777).unwrap();
    assert_eq!(
        super::http_date(t).unwrap(),
        "Sun, 06 Nov 1994 08:49:37 GMT"
    );
}
