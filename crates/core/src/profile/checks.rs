//! The invariants of each profile, checked on the template just before it is signed (as Boulder
//! lints before it signs): a bug in the code that filled a template in refuses to sign instead of
//! issuing a certificate outside its profile.
use super::validity::{self, OCSP_RESPONDER_LIFETIME};
use super::CaProfile;
use crate::CoreError;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// id-pkix-ocsp-nocheck.
const OCSP_NOCHECK: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

fn broken(what: &str) -> Result<(), CoreError> {
    Err(CoreError::ProfileViolation(what.to_string()))
}

/// What every profile shares: a random serial, a non-empty validity no longer than `longest`
/// and within the issuer's (`None`: self-signed).
fn check_serial_and_validity(
    params: &CertificateParams,
    longest: Duration,
    issuer_not_after: Option<OffsetDateTime>,
) -> Result<(), CoreError> {
    if params.serial_number.is_none() {
        return broken("a certificate needs a random serial");
    }
    if params.not_after <= params.not_before
        || issuer_not_after.is_some_and(|limit| params.not_after > limit)
    {
        return broken("validity must be non-empty and within the issuer's");
    }
    if params.not_after - params.not_before > longest {
        return broken("validity longer than the profile's maximum");
    }
    Ok(())
}

/// The invariants every service certificate holds, checked on the template before it is signed
/// (as Boulder lints before it signs): a bug in the code that filled it in refuses to sign
/// instead of issuing a certificate outside its profile.
pub(crate) fn check_leaf_template(
    params: &CertificateParams,
    issuer_not_after: OffsetDateTime,
) -> Result<(), CoreError> {
    if !matches!(params.is_ca, IsCa::ExplicitNoCa) {
        return broken("a service certificate must say CA:FALSE");
    }
    if params.key_usages.is_empty()
        || params
            .key_usages
            .iter()
            .any(|u| matches!(u, KeyUsagePurpose::KeyCertSign | KeyUsagePurpose::CrlSign))
    {
        return broken("a service certificate signs no certificates or CRLs");
    }
    if params.extended_key_usages.is_empty()
        || params.extended_key_usages.iter().any(|u| {
            !matches!(
                u,
                ExtendedKeyUsagePurpose::ServerAuth | ExtendedKeyUsagePurpose::ClientAuth
            )
        })
    {
        return broken("a service certificate's EKU is serverAuth and/or clientAuth");
    }
    if params.subject_alt_names.is_empty() {
        return broken("a service certificate names at least one DNS name or IP address");
    }
    if !params.use_authority_key_identifier_extension {
        return broken("a service certificate carries the issuer's key identifier");
    }
    let longest = Duration::days(i64::from(validity::LEAF_MAX_DAYS)) + validity::LEAF_BACKDATE;
    check_serial_and_validity(params, longest, Some(issuer_not_after))
}

/// A CA certificate: CA:TRUE (pathLen 0 for the intermediate), keyCertSign and cRLSign only, no
/// EKU, no SAN, a common name, and the intermediate names its issuer's key.
pub(crate) fn check_ca_template(
    params: &CertificateParams,
    profile: CaProfile,
    issuer_not_after: Option<OffsetDateTime>,
) -> Result<(), CoreError> {
    let constraints_hold = match profile {
        CaProfile::Root => matches!(params.is_ca, IsCa::Ca(BasicConstraints::Unconstrained)),
        CaProfile::Intermediate => {
            matches!(params.is_ca, IsCa::Ca(BasicConstraints::Constrained(0)))
        }
    };
    if !constraints_hold {
        return broken("a root says CA:TRUE, an intermediate CA:TRUE with pathLen 0");
    }
    let mut usages = params.key_usages.clone();
    usages.sort_by_key(|u| format!("{u:?}"));
    if usages != [KeyUsagePurpose::CrlSign, KeyUsagePurpose::KeyCertSign] {
        return broken("a CA certificate's key usages are keyCertSign and cRLSign");
    }
    if !params.extended_key_usages.is_empty() || !params.subject_alt_names.is_empty() {
        return broken("a CA certificate carries no EKU and no SAN");
    }
    if params.distinguished_name.get(&DnType::CommonName).is_none() {
        return broken("a CA certificate has a common name");
    }
    if profile == CaProfile::Intermediate && !params.use_authority_key_identifier_extension {
        return broken("an intermediate carries its issuer's key identifier");
    }
    let longest = Duration::days(365 * i64::from(profile.max_years())) + validity::CA_BACKDATE;
    check_serial_and_validity(params, longest, issuer_not_after)
}

/// A delegated OCSP responder certificate (RFC 6960 §4.2.2.2): CA:FALSE, digitalSignature only,
/// EKU id-kp-OCSPSigning only, id-pkix-ocsp-nocheck, no SAN, the issuer's key identifier, and a
/// lifetime of at most [`OCSP_RESPONDER_LIFETIME`].
pub(crate) fn check_ocsp_responder_template(
    params: &CertificateParams,
    issuer_not_after: OffsetDateTime,
) -> Result<(), CoreError> {
    if !matches!(params.is_ca, IsCa::ExplicitNoCa) {
        return broken("an OCSP responder certificate says CA:FALSE");
    }
    if params.key_usages != [KeyUsagePurpose::DigitalSignature] {
        return broken("an OCSP responder certificate's key usage is digitalSignature only");
    }
    if params.extended_key_usages != [ExtendedKeyUsagePurpose::OcspSigning] {
        return broken("an OCSP responder certificate's EKU is OCSPSigning only");
    }
    let nocheck = params
        .custom_extensions
        .iter()
        .any(|e| e.oid_components().eq(OCSP_NOCHECK.iter().copied()));
    if !nocheck {
        return broken("an OCSP responder certificate carries id-pkix-ocsp-nocheck");
    }
    if !params.subject_alt_names.is_empty() {
        return broken("an OCSP responder certificate names no host");
    }
    if !params.use_authority_key_identifier_extension {
        return broken("an OCSP responder certificate carries the issuer's key identifier");
    }
    check_serial_and_validity(
        params,
        OCSP_RESPONDER_LIFETIME + validity::LEAF_BACKDATE,
        Some(issuer_not_after),
    )
}
