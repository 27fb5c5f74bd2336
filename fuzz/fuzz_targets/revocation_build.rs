//! CRL and OCSP response building from arbitrary serials, reasons and times: whatever the store
//! hands the signer either signs into DER that parses back with the same entries, or is refused.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use time::{Duration, OffsetDateTime};
use vcc_pki_core::ocsp::{CertIdHash, CertificateStatus, IssuerIdentity, OcspResponder};
use vcc_pki_core::{CaSubject, IssuingAuthority, KeyType, RevocationReason, RevokedEntry, Serial};
use x509_parser::prelude::FromDer;

#[derive(Arbitrary, Debug)]
struct Entry {
    serial: Vec<u8>,
    reason_code: u8,
    revoked_seconds_ago: u32,
}

#[derive(Arbitrary, Debug)]
struct Input {
    crl_number: u64,
    lifetime_seconds: i32,
    shard: Option<u16>,
    entries: Vec<Entry>,
}

struct Ca {
    authority: IssuingAuthority,
    responder: OcspResponder,
    issuer: IssuerIdentity,
}

fn ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| {
        let key = KeyType::EcdsaP256.generate().expect("key");
        let subject = CaSubject {
            common_name: "Fuzz CA".into(),
            country: None,
            organization: None,
        };
        let now = OffsetDateTime::now_utc();
        let (der, _) = vcc_pki_core::signer::self_signed_root(
            &subject,
            &key,
            &Serial::random(),
            vcc_pki_core::profile::Validity::ca(now, 1),
        )
        .expect("root");
        let authority = IssuingAuthority::new(der, Arc::new(key)).expect("authority");
        let responder_key = KeyType::EcdsaP256.generate().expect("key");
        let (responder_der, _, _) = authority
            .issue_ocsp_responder(&responder_key, &Serial::random(), now)
            .expect("responder");
        let responder =
            OcspResponder::new(&responder_der, Arc::new(responder_key)).expect("responder");
        let issuer = IssuerIdentity::from_certificate(authority.certificate_der()).expect("issuer");
        Ca {
            authority,
            responder,
            issuer,
        }
    })
}

fuzz_target!(|input: Input| {
    let ca = ca();
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("whole seconds");
    let entries: Vec<RevokedEntry> = input
        .entries
        .iter()
        .take(64)
        .map(|e| RevokedEntry {
            serial: Serial::from_bytes(&e.serial),
            revoked_at: now - Duration::seconds(i64::from(e.revoked_seconds_ago)),
            reason: RevocationReason::from_code(i64::from(e.reason_code))
                .unwrap_or(RevocationReason::Unspecified),
        })
        .collect();
    let next = now + Duration::seconds(i64::from(input.lifetime_seconds));
    let url = input.shard.map(|k| format!("http://pki.example/crl/{k}"));
    if let Ok(der) =
        ca.authority
            .issue_crl(input.crl_number, now, next, entries.clone(), url.as_deref())
    {
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
            .expect("a CRL we signed parses");
        assert_eq!(crl.iter_revoked_certificates().count(), entries.len());
    }
    for entry in entries.iter().take(4) {
        let Ok(id) = ca.issuer.cert_id(CertIdHash::Sha1, &entry.serial) else {
            continue;
        };
        let status = CertificateStatus::Revoked {
            revoked_at: entry.revoked_at,
            reason: entry.reason,
        };
        if let Ok(der) = ca.responder.sign(&[(id, status)], now, next, None) {
            vcc_pki_core::ocsp::read_response(&der).expect("a response we signed reads back");
        }
    }
});
