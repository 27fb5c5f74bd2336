//! One test per profile: what each certificate kind carries (basic constraints, key usages, EKUs,
//! key identifiers, AIA/CDP) and how its validity is clamped, read back with x509-parser.
use super::*;
use crate::signer::self_signed_root;
use crate::IssuingAuthority;
use std::sync::Arc;
use time::Duration;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn subject(cn: &str) -> CaSubject {
    CaSubject {
        common_name: cn.into(),
        country: Some("DE".into()),
        organization: Some("VCC".into()),
    }
}

/// A root and an intermediate (valid for `intermediate_days`), P-256.
fn chain(intermediate_days: i64) -> (Vec<u8>, IssuingAuthority) {
    let root_key = KeyType::EcdsaP256.generate().unwrap();
    let (root_der, _) = self_signed_root(
        &subject("Test Root"),
        &root_key,
        &Serial::random(),
        Validity::ca(now(), 10),
    )
    .unwrap();
    let root = IssuingAuthority::new(root_der.clone(), Arc::new(root_key)).unwrap();
    let key = KeyType::EcdsaP256.generate().unwrap();
    let (der, _) = root
        .issue_intermediate(
            &subject("Test Intermediate"),
            &key,
            &Serial::random(),
            Validity {
                not_before: now() - Duration::minutes(5),
                not_after: now() + Duration::days(intermediate_days),
            },
        )
        .unwrap();
    (root_der, IssuingAuthority::new(der, Arc::new(key)).unwrap())
}

fn parse(der: &[u8]) -> X509Certificate<'_> {
    X509Certificate::from_der(der).unwrap().1
}

fn leaf_request(key_type: KeyType, profile: LeafProfile, days: i64) -> LeafRequest {
    let key = key_type.generate().unwrap();
    LeafRequest {
        subject_public_key_info: crate::keys::spki_der(&key),
        key_type,
        common_name: "svc.internal".into(),
        dns_names: vec!["svc.internal".into(), "svc".into()],
        ip_addresses: vec!["10.0.0.7".parse().unwrap()],
        profile,
        serial: Serial::random(),
        not_before: now() - validity::LEAF_BACKDATE,
        not_after: now() + Duration::days(days),
        crl_url: Some("http://pki.example/crl/3".into()),
        ocsp_url: Some("http://pki.example/ocsp".into()),
        ca_issuers_url: Some("http://pki.example/ca/intermediate.crt".into()),
    }
}

#[test]
fn root_and_intermediate_profiles() {
    let (root_der, intermediate) = chain(1825);
    let root = parse(&root_der);
    let bc = root.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint.is_none());
    let ku = root.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    let root_ski = root
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap();

    let inter = parse(intermediate.certificate_der());
    let bc = inter.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
    let ku = inter.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    let aki = inter
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(aki, root_ski, "the intermediate's AKI names the root's key");
}

#[test]
fn leaf_profiles_carry_their_usages_names_and_urls() {
    let (_, issuer) = chain(1825);
    for (profile, server, client) in [
        (LeafProfile::Server, true, false),
        (LeafProfile::Client, false, true),
        (LeafProfile::ServerClient, true, true),
    ] {
        for key_type in [KeyType::EcdsaP256, KeyType::Rsa2048] {
            let (der, validity) = issuer
                .issue_leaf(&leaf_request(key_type, profile, 30))
                .unwrap();
            let cert = parse(&der);
            let what = format!("{profile:?} {key_type:?}");
            let bc = cert.basic_constraints().unwrap().unwrap();
            assert!(bc.critical && !bc.value.ca, "{what}");
            let ku = cert.key_usage().unwrap().unwrap();
            assert!(ku.critical && ku.value.digital_signature(), "{what}");
            assert_eq!(ku.value.key_encipherment(), key_type.is_rsa(), "{what}");
            assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign(), "{what}");
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert_eq!(
                (eku.server_auth, eku.client_auth),
                (server, client),
                "{what}"
            );
            assert!(!eku.any && !eku.ocsp_signing, "{what}");
            let san = cert.subject_alternative_name().unwrap().unwrap().value;
            assert!(
                san.general_names
                    .contains(&GeneralName::DNSName("svc.internal")),
                "{what}: the CN is a SAN"
            );
            assert_eq!(san.general_names.len(), 3, "{what}");
            let mut has = (false, false, false);
            for e in cert.extensions() {
                match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(_) => has.0 = true,
                    ParsedExtension::CRLDistributionPoints(_) => has.1 = true,
                    ParsedExtension::AuthorityInfoAccess(aia) => {
                        has.2 = aia.accessdescs.len() == 2;
                    }
                    _ => {}
                }
            }
            assert_eq!(has, (true, true, true), "{what}: AKI, CDP, AIA");
            assert_eq!(validity.not_after, now() + Duration::days(30), "{what}");
            assert_eq!(
                cert.validity().not_after.timestamp(),
                validity.not_after.unix_timestamp()
            );
            assert_eq!(
                cert.validity().not_before.timestamp(),
                validity.not_before.unix_timestamp()
            );
        }
    }
}

#[test]
fn a_leaf_never_outlives_its_issuer_and_core_says_so() {
    let (_, issuer) = chain(10);
    let (der, validity) = issuer
        .issue_leaf(&leaf_request(KeyType::EcdsaP256, LeafProfile::Server, 365))
        .unwrap();
    assert_eq!(validity.not_after, issuer.not_after());
    assert_eq!(
        parse(&der).validity().not_after.timestamp(),
        issuer.not_after().unix_timestamp()
    );
}

#[test]
fn the_self_check_refuses_a_template_outside_the_profile() {
    let (_, issuer) = chain(3650);
    let too_long = leaf_request(
        KeyType::EcdsaP256,
        LeafProfile::Server,
        i64::from(validity::LEAF_MAX_DAYS) + 1,
    );
    assert!(matches!(
        issuer.issue_leaf(&too_long),
        Err(CoreError::ProfileViolation(_))
    ));
    // The template checks themselves, on a template a buggy caller could build.
    let (mut params, _) = leaf_params(
        &leaf_request(KeyType::EcdsaP256, LeafProfile::Server, 30),
        issuer.not_after(),
    )
    .unwrap();
    assert!(check_leaf_template(&params, issuer.not_after()).is_ok());
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    assert!(check_leaf_template(&params, issuer.not_after()).is_err());
    params.key_usages.pop();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    assert!(check_leaf_template(&params, issuer.not_after()).is_err());
    params.is_ca = IsCa::ExplicitNoCa;
    params
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::Any);
    assert!(check_leaf_template(&params, issuer.not_after()).is_err());
}

#[test]
fn ocsp_responder_profile() {
    let (_, issuer) = chain(1825);
    let key = KeyType::EcdsaP256.generate().unwrap();
    let (der, validity, responder_subject) = issuer
        .issue_ocsp_responder(&key, &Serial::random(), now())
        .unwrap();
    assert_eq!(validity, Validity::ocsp_responder(now()));
    assert_eq!(
        responder_subject.common_name,
        "Test Intermediate OCSP Responder"
    );
    let cert = parse(&der);
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.ocsp_signing && !eku.server_auth && !eku.client_auth);
    let nocheck = cert
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5");
    assert!(nocheck, "id-pkix-ocsp-nocheck");
    assert!(cert.subject_alternative_name().unwrap().is_none());
    assert!(cert
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .ends_with(" OCSP Responder"));
}

#[test]
fn the_self_check_refuses_a_ca_template_outside_its_profile() {
    let serial = Serial::random();
    let validity = Validity::ca(now(), 10);
    let root = root_params(
        &subject("Root"),
        &serial,
        validity.not_before,
        validity.not_after,
    )
    .unwrap();
    assert!(check_ca_template(&root, CaProfile::Root, None).is_ok());
    // A root template is no intermediate (no pathLen 0, no issuer key id).
    assert!(check_ca_template(&root, CaProfile::Intermediate, None).is_err());
    let issuer_not_after = now() + Duration::days(3650);
    let intermediate = intermediate_params(
        &subject("Intermediate"),
        &serial,
        validity.not_before,
        validity.not_after,
    )
    .unwrap();
    assert!(check_ca_template(
        &intermediate,
        CaProfile::Intermediate,
        Some(issuer_not_after)
    )
    .is_ok());
    // Outliving its issuer.
    assert!(check_ca_template(
        &intermediate,
        CaProfile::Intermediate,
        Some(now() + Duration::days(30))
    )
    .is_err());
    // An extra usage, an EKU, a SAN, or a lifetime past the profile's maximum.
    let mut broken = intermediate.clone();
    broken.key_usages.push(KeyUsagePurpose::DigitalSignature);
    assert!(check_ca_template(&broken, CaProfile::Intermediate, None).is_err());
    let mut broken = intermediate.clone();
    broken
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    assert!(check_ca_template(&broken, CaProfile::Intermediate, None).is_err());
    let mut broken = intermediate.clone();
    broken
        .subject_alt_names
        .push(SanType::DnsName("ca.example".try_into().unwrap()));
    assert!(check_ca_template(&broken, CaProfile::Intermediate, None).is_err());
    let mut broken = intermediate;
    broken.not_after = broken.not_before
        + Duration::days(365 * i64::from(CaProfile::Intermediate.max_years()) + 1);
    assert!(check_ca_template(&broken, CaProfile::Intermediate, None).is_err());
    // Signing goes through the check: a root asked to outlive its maximum is refused.
    let key = KeyType::EcdsaP256.generate().unwrap();
    let too_long = Validity::ca(now(), CaProfile::Root.max_years() + 1);
    assert!(matches!(
        self_signed_root(&subject("Root"), &key, &serial, too_long),
        Err(CoreError::ProfileViolation(_))
    ));
}

#[test]
fn the_self_check_refuses_a_responder_template_outside_its_profile() {
    let validity = Validity::ocsp_responder(now());
    let issuer_not_after = now() + Duration::days(3650);
    let params = ocsp_responder_params(
        &subject("Intermediate OCSP Responder"),
        &Serial::random(),
        validity.not_before,
        validity.not_after,
    )
    .unwrap();
    assert!(check_ocsp_responder_template(&params, issuer_not_after).is_ok());
    let mut broken = params.clone();
    broken.custom_extensions.clear();
    assert!(check_ocsp_responder_template(&broken, issuer_not_after).is_err());
    let mut broken = params.clone();
    broken
        .extended_key_usages
        .push(ExtendedKeyUsagePurpose::ServerAuth);
    assert!(check_ocsp_responder_template(&broken, issuer_not_after).is_err());
    let mut broken = params.clone();
    broken.key_usages.push(KeyUsagePurpose::KeyCertSign);
    assert!(check_ocsp_responder_template(&broken, issuer_not_after).is_err());
    let mut broken = params.clone();
    broken.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    assert!(check_ocsp_responder_template(&broken, issuer_not_after).is_err());
    let mut broken = params;
    broken.not_after = broken.not_before + validity::OCSP_RESPONDER_LIFETIME * 2;
    assert!(check_ocsp_responder_template(&broken, issuer_not_after).is_err());
}
