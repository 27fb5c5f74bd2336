//! The authorisation matrix, without HTTP or a database: each row is a principal, an action and
//! the state of the service, and the expected answer.
use super::*;
use time::Duration;
use vcc_pki_core::Serial;
use vcc_pki_store::{CertificateRecord, ServiceRecord};

const TOKEN_HASH: &str = "aa11";

static SERIAL_01: std::sync::LazyLock<Serial> =
    std::sync::LazyLock::new(|| Serial::from_hex("01").unwrap());
static SERIAL_02: std::sync::LazyLock<Serial> =
    std::sync::LazyLock::new(|| Serial::from_hex("02").unwrap());

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn service(allowed_dns: &[&str], token: Option<(&str, OffsetDateTime, bool)>) -> ServiceRecord {
    ServiceRecord {
        id: 1,
        service_id: "billing".into(),
        service_name: "Billing".into(),
        description: None,
        endpoints: vec![],
        allowed_dns: allowed_dns.iter().map(|s| s.to_string()).collect(),
        allowed_ip: vec![],
        enrollment_token_hash: token.map(|(h, _, _)| h.to_string()),
        enrollment_expires_at: token.map(|(_, t, _)| t),
        enrollment_used_at: token.filter(|(_, _, used)| *used).map(|_| now()),
        status: "active".into(),
        created_at: now(),
        updated_at: now(),
    }
}

fn certificate(service_id: &str, serial: &str, dns: &[&str]) -> CertificateRecord {
    CertificateRecord {
        id: 1,
        serial_number: Serial::from_hex(serial).unwrap(),
        service_id: service_id.into(),
        common_name: dns.first().copied().unwrap_or_default().into(),
        san_dns: dns.iter().map(|s| s.to_string()).collect(),
        san_ip: vec![],
        profile: "server_client".into(),
        key_type: vcc_pki_core::KeyType::EcdsaP256,
        key_source: "csr".into(),
        public_key_sha256: String::new(),
        fingerprint_sha256: String::new(),
        certificate_der: vec![],
        issuer_ca_id: 1,
        not_before: now(),
        not_after: now() + time::Duration::days(100),
        status: vcc_pki_store::CertificateStatus::Active,
        days_until_expiry: 100,
        renewed_from: None,
        created_at: now(),
        revoked_at: None,
        revocation_reason: None,
    }
}

fn names(dns: &[&str]) -> Names {
    let dns: Vec<String> = dns.iter().map(|s| s.to_string()).collect();
    if dns.is_empty() {
        return Names::default();
    }
    Names::from_request(&dns[0], &dns[1..], &[]).unwrap()
}

#[derive(Debug, PartialEq)]
enum Want {
    Ok,
    Unauthenticated,
    Forbidden(&'static str),
}

/// The permit's answer is `want`; a forbidden answer's detail names what `Want::Forbidden` holds.
fn expect(what: &str, answer: AuthorityResult<()>, want: Want) {
    let (got, detail) = outcome(answer);
    match want {
        Want::Forbidden(needle) => {
            assert_eq!(got, Want::Forbidden(""), "{what}: {detail}");
            assert!(
                detail.contains(needle),
                "{what}: '{detail}' should contain '{needle}'"
            );
        }
        want => assert_eq!(got, want, "{what}: {detail}"),
    }
}

fn outcome(r: AuthorityResult<()>) -> (Want, String) {
    match r {
        Ok(()) => (Want::Ok, String::new()),
        Err(AuthorityError::Unauthenticated(d)) => (Want::Unauthenticated, d),
        Err(AuthorityError::Forbidden(d)) => (Want::Forbidden(""), d),
        Err(other) => panic!("a refusal must be 401 or 403, got {other:?}"),
    }
}

#[test]
fn issuance_matrix() {
    let valid = Some((TOKEN_HASH, now() + Duration::hours(1), false));
    let expired = Some((TOKEN_HASH, now() - Duration::seconds(1), false));
    let used = Some((TOKEN_HASH, now() + Duration::hours(1), true));
    let allowed = ["billing.internal", "billing"];
    let own_cert = certificate("billing", "01", &["billing.internal"]);
    let enrollment = |h: &str| Principal::Enrollment {
        token_hash: h.into(),
    };
    let svc = |c: &CertificateRecord| Principal::Service {
        certificate: Box::new(c.clone()),
    };
    // (principal, service state, names, expected)
    let rows: Vec<(&str, Principal, Option<ServiceRecord>, Names, Want)> = vec![
        (
            "admin, unregistered service",
            Principal::Admin,
            None,
            names(&["x.example"]),
            Want::Ok,
        ),
        (
            "system",
            Principal::System,
            None,
            names(&["localhost"]),
            Want::Ok,
        ),
        (
            "admin ignores allowed list",
            Principal::Admin,
            Some(service(&allowed, None)),
            names(&["other.example"]),
            Want::Ok,
        ),
        (
            "enrollment, allowed names",
            enrollment(TOKEN_HASH),
            Some(service(&allowed, valid)),
            names(&["billing.internal", "billing"]),
            Want::Ok,
        ),
        (
            "enrollment, a name outside the list",
            enrollment(TOKEN_HASH),
            Some(service(&allowed, valid)),
            names(&["billing.internal", "payroll.internal"]),
            Want::Forbidden("payroll.internal"),
        ),
        (
            "enrollment, wrong token",
            enrollment("bb22"),
            Some(service(&allowed, valid)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "enrollment, a token of a prefix",
            enrollment("aa"),
            Some(service(&allowed, valid)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "enrollment, expired token",
            enrollment(TOKEN_HASH),
            Some(service(&allowed, expired)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "enrollment, used token",
            enrollment(TOKEN_HASH),
            Some(service(&allowed, used)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "enrollment, no service",
            enrollment(TOKEN_HASH),
            None,
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "enrollment, service without token",
            enrollment(TOKEN_HASH),
            Some(service(&allowed, None)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
        (
            "service certificate",
            svc(&own_cert),
            Some(service(&allowed, None)),
            names(&["billing"]),
            Want::Forbidden("renews it"),
        ),
        (
            "anonymous",
            Principal::Anonymous,
            Some(service(&allowed, valid)),
            names(&["billing"]),
            Want::Unauthenticated,
        ),
    ];
    for (what, principal, service, names, want) in rows {
        let subject = Subject {
            service_id: "billing",
            service: service.as_ref(),
            current_serial: Some(&*SERIAL_01),
        };
        expect(
            what,
            permit(&principal, false, Action::Issue, subject, &names, now()),
            want,
        );
    }
}

#[test]
fn renewal_matrix() {
    let current = certificate("billing", "02", &["billing.internal", "billing"]);
    let superseded = certificate("billing", "01", &["billing.internal", "billing"]);
    let other = certificate("payroll", "03", &["payroll.internal"]);
    let svc = |c: &CertificateRecord| Principal::Service {
        certificate: Box::new(c.clone()),
    };
    let full = service(&["billing.internal", "billing"], None);
    // The admin has since removed `billing` from the list.
    let narrowed = service(&["billing.internal"], None);
    // A service an admin's issuance created: no list.
    let unlisted = service(&[], None);
    // (what, principal, target certificate, service, expected)
    let rows: Vec<(&str, Principal, &CertificateRecord, &ServiceRecord, Want)> = vec![
        (
            "current certificate renews itself",
            svc(&current),
            &current,
            &full,
            Want::Ok,
        ),
        (
            "names removed from the list since",
            svc(&current),
            &current,
            &narrowed,
            Want::Forbidden("no longer allowed for service 'billing': billing "),
        ),
        (
            "service without a list renews the admin's names",
            svc(&current),
            &current,
            &unlisted,
            Want::Ok,
        ),
        (
            "superseded certificate",
            svc(&superseded),
            &superseded,
            &full,
            Want::Forbidden("current certificate"),
        ),
        (
            "superseded certificate renewing the current one",
            svc(&superseded),
            &current,
            &full,
            Want::Forbidden("only its own"),
        ),
        (
            "another service's certificate",
            svc(&other),
            &current,
            &full,
            Want::Forbidden("only its own"),
        ),
        (
            "admin renews despite the narrowed list",
            Principal::Admin,
            &current,
            &narrowed,
            Want::Ok,
        ),
        (
            "enrollment token",
            Principal::Enrollment {
                token_hash: TOKEN_HASH.into(),
            },
            &current,
            &full,
            Want::Unauthenticated,
        ),
        (
            "anonymous",
            Principal::Anonymous,
            &current,
            &full,
            Want::Unauthenticated,
        ),
    ];
    for (what, principal, target, service, want) in rows {
        let subject = Subject {
            service_id: &target.service_id,
            service: Some(service),
            current_serial: Some(&*SERIAL_02),
        };
        let names = Names::of_certificate(target);
        let action = Action::Renew {
            certificate: target,
        };
        expect(
            what,
            permit(&principal, false, action, subject, &names, now()),
            want,
        );
    }
}

#[test]
fn registry_matrix() {
    let current = certificate("billing", "02", &["billing"]);
    let superseded = certificate("billing", "01", &["billing"]);
    let other = certificate("payroll", "03", &["payroll"]);
    let svc = |c: &CertificateRecord| Principal::Service {
        certificate: Box::new(c.clone()),
    };
    let none = Names::default();
    let some = names(&["billing.internal"]);
    // (what, principal, action, requested allowed names, expected)
    let rows: Vec<(&str, Principal, Action<'_>, &Names, Want)> = vec![
        (
            "admin registers with names",
            Principal::Admin,
            Action::Register,
            &some,
            Want::Ok,
        ),
        (
            "current certificate updates its entry",
            svc(&current),
            Action::UpdateEntry,
            &none,
            Want::Ok,
        ),
        (
            "current certificate reads",
            svc(&current),
            Action::Read,
            &none,
            Want::Ok,
        ),
        (
            "superseded certificate may still read",
            svc(&superseded),
            Action::Read,
            &none,
            Want::Ok,
        ),
        (
            "superseded certificate may not rewrite the entry",
            svc(&superseded),
            Action::UpdateEntry,
            &none,
            Want::Forbidden("superseded"),
        ),
        (
            "superseded certificate may not re-register",
            svc(&superseded),
            Action::Register,
            &none,
            Want::Forbidden("superseded"),
        ),
        (
            "a service may not change its allowed names",
            svc(&current),
            Action::Register,
            &some,
            Want::Forbidden("only an admin"),
        ),
        (
            "another service's certificate",
            svc(&other),
            Action::UpdateEntry,
            &none,
            Want::Forbidden("only its own entry"),
        ),
        (
            "another service's certificate reads",
            svc(&other),
            Action::Read,
            &none,
            Want::Forbidden("not your service"),
        ),
        (
            "enrollment token registers",
            Principal::Enrollment {
                token_hash: TOKEN_HASH.into(),
            },
            Action::Register,
            &none,
            Want::Unauthenticated,
        ),
        (
            "enrollment token reads",
            Principal::Enrollment {
                token_hash: TOKEN_HASH.into(),
            },
            Action::Read,
            &none,
            Want::Forbidden("not your service"),
        ),
        (
            "anonymous registers",
            Principal::Anonymous,
            Action::Register,
            &none,
            Want::Unauthenticated,
        ),
        (
            "anonymous reads",
            Principal::Anonymous,
            Action::Read,
            &none,
            Want::Unauthenticated,
        ),
    ];
    let record = service(&["billing"], None);
    for (what, principal, action, names, want) in rows {
        let subject = Subject {
            service_id: "billing",
            service: Some(&record),
            current_serial: Some(&*SERIAL_02),
        };
        expect(
            what,
            permit(&principal, false, action, subject, names, now()),
            want,
        );
    }
}

#[test]
fn a_bad_token_says_so() {
    let subject = Subject {
        service_id: "billing",
        service: None,
        current_serial: None,
    };
    let err = permit(
        &Principal::Anonymous,
        true,
        Action::Issue,
        subject,
        &Names::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        AuthorityError::unauthenticated("the bearer token is not valid")
    );
}

#[test]
fn names_are_normalised_and_the_cn_is_the_checked_name() {
    let n = Names::from_request(
        " Billing.Internal. ",
        &["billing.internal".into(), "BILLING".into()],
        &["10.0.0.1".into(), " 10.0.0.1".into()],
    )
    .unwrap();
    assert_eq!(n.common_name, "billing.internal");
    assert_eq!(n.dns, vec!["billing.internal", "billing"]);
    assert_eq!(n.ips.len(), 1);
    let ip = Names::from_request("::0001", &[], &[]).unwrap();
    assert_eq!(ip.common_name, "::1");
    assert!(Names::from_request("  ", &[], &[]).is_err());
    assert!(Names::from_request("a..b", &[], &[]).is_err());
    let many: Vec<String> = (0..MAX_NAMES).map(|i| format!("n{i}.example")).collect();
    assert!(Names::from_request("cn.example", &many, &[]).is_err());
}

#[test]
fn wildcards_only_in_order_identifiers() {
    assert!(Names::from_request("*.example.com", &[], &[]).is_err());
    assert!(Names::from_request("a.example.com", &["*.example.com".into()], &[]).is_err());
    let n = Names::from_identifiers(
        &[
            "*.Example.com".into(),
            "example.com".into(),
            "*.example.com".into(),
        ],
        &["10.0.0.1".into()],
    )
    .unwrap();
    assert_eq!(n.common_name, "");
    assert_eq!(n.dns, vec!["*.example.com", "example.com"]);
    assert_eq!(n.ips.len(), 1);
    for bad in ["*.com", "a.*.example.com", "*"] {
        assert!(
            Names::from_identifiers(&[bad.into()], &[]).is_err(),
            "{bad}"
        );
    }
    assert!(Names::from_identifiers(&[], &[]).is_err());
    let many: Vec<String> = (0..=MAX_NAMES).map(|i| format!("n{i}.example")).collect();
    assert!(Names::from_identifiers(&many, &[]).is_err());
}

#[test]
fn registration_defaults_to_the_service_naming_itself() {
    let (dns, ips) = allowed_names("Billing", &[], &[]).unwrap();
    assert_eq!((dns, ips), (vec!["billing".to_string()], vec![]));
    let (dns, ips) = allowed_names(
        "billing",
        &["A.example".into(), "a.example".into()],
        &["::1".into()],
    )
    .unwrap();
    assert_eq!(
        (dns, ips),
        (vec!["a.example".to_string()], vec!["::1".to_string()])
    );
    assert!(allowed_names("billing", &["bad name".into()], &[]).is_err());
}

#[test]
fn service_ids() {
    for ok in ["a", "billing-api", "svc.1_a", &"x".repeat(64)] {
        assert!(validate_service_id(ok).is_ok(), "{ok}");
    }
    for bad in ["", "-a", ".a", "a b", "a/b", &"x".repeat(65)] {
        assert!(validate_service_id(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_certificate_issued_through_acme_renews_only_through_acme() {
    let acme = certificate("acme-abc123", "02", &["*.example.com"]);
    let principal = Principal::Service {
        certificate: Box::new(acme.clone()),
    };
    let names = Names::of_certificate(&acme);
    // No allowed-names list (an ACME service has none): without the rule this renewal would pass.
    let unlisted = service(&[], None);
    let subject = Subject {
        service_id: "acme-abc123",
        service: Some(&unlisted),
        current_serial: Some(&acme.serial_number),
    };
    for action in [
        Action::Renew { certificate: &acme },
        Action::Register,
        Action::UpdateEntry,
    ] {
        expect(
            "ACME certificate over REST",
            permit(&principal, false, action, subject, &names, now()),
            Want::Forbidden("new ACME order"),
        );
    }
    // It still reads its own records.
    expect(
        "ACME certificate reads",
        permit(&principal, false, Action::Read, subject, &names, now()),
        Want::Ok,
    );
}

#[test]
fn only_the_server_uses_its_own_service_ids() {
    use crate::policy::reserved_for_the_server;
    for id in [crate::SERVER_SERVICE_ID, crate::OCSP_SERVICE_ID] {
        assert!(reserved_for_the_server(&Principal::System, id).is_ok());
        for outsider in [Principal::Admin, Principal::Anonymous, Principal::Auditor] {
            assert!(matches!(
                reserved_for_the_server(&outsider, id),
                Err(AuthorityError::Forbidden(_))
            ));
        }
    }
    assert!(reserved_for_the_server(&Principal::Admin, "billing").is_ok());
}
