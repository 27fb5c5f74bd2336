//! CA certificates made on one machine and signed on another (an offline root, SPEC §12): the
//! CSR an issuing CA sends out, and the checks a certificate that comes back must pass before a
//! server uses it.
use crate::profile::{CaProfile, CaSubject};
use crate::{CoreError, KeyType, Serial};
use rcgen::{CertificateParams, SigningKey};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A PKCS#10 request for a CA key: the subject and the key's signature, nothing else. Whoever signs
/// it decides every extension (the ceremony takes only the key from it).
pub fn ca_csr_der(subject: &CaSubject, key: &impl SigningKey) -> Result<Vec<u8>, CoreError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject.distinguished_name()?;
    Ok(params.serialize_request(key)?.der().to_vec())
}

/// What a checked CA certificate says.
#[derive(Debug, Clone)]
pub struct CaCertificateFacts {
    pub subject: CaSubject,
    pub serial: Serial,
    pub key_type: KeyType,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub subject_public_key_info: Vec<u8>,
}

/// The subject of a CA certificate as country, organization and common name.
pub fn ca_subject_of(cert: &X509Certificate<'_>) -> CaSubject {
    let first = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>| {
        attrs
            .first()
            .and_then(|a| a.as_str().ok())
            .map(str::to_string)
    };
    let subject = cert.subject();
    CaSubject {
        common_name: first(subject.iter_common_name().collect()).unwrap_or_default(),
        country: first(subject.iter_country().collect()),
        organization: first(subject.iter_organization().collect()),
    }
}

/// Check `der` against the CA profile (§6): a root is self-signed with CA:TRUE; an intermediate is
/// signed by `issuer_der` with CA:TRUE, pathLen 0, inside the issuer's validity. Both carry
/// keyCertSign and cRLSign (critical) and an SKI; valid at `now`.
pub fn check_ca_certificate(
    der: &[u8],
    profile: CaProfile,
    issuer_der: Option<&[u8]>,
    now: OffsetDateTime,
) -> Result<CaCertificateFacts, CoreError> {
    let bad = |m: String| CoreError::InvalidCaCertificate(m);
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| bad(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("trailing data after the certificate".into()));
    }
    let issuer = match issuer_der {
        Some(d) => Some(
            X509Certificate::from_der(d)
                .map_err(|e| bad(format!("issuer does not parse: {e}")))?
                .1,
        ),
        None => None,
    };
    let signer_key = match (&profile, &issuer) {
        (CaProfile::Root, _) => cert.public_key(),
        (CaProfile::Intermediate, Some(i)) => i.public_key(),
        (CaProfile::Intermediate, None) => {
            return Err(bad("an intermediate needs its issuer".into()))
        }
    };
    cert.verify_signature(Some(signer_key)).map_err(|_| {
        bad(match profile {
            CaProfile::Root => "the root's self-signature does not verify".into(),
            CaProfile::Intermediate => "not signed by the root".into(),
        })
    })?;
    if let Some(i) = &issuer {
        if cert.issuer().as_raw() != i.subject().as_raw() {
            return Err(bad("its issuer name is not the root's subject".into()));
        }
    }
    let constraints = cert
        .basic_constraints()
        .map_err(|e| bad(format!("basicConstraints: {e}")))?
        .ok_or_else(|| bad("no basicConstraints".into()))?;
    if !constraints.critical || !constraints.value.ca {
        return Err(bad("basicConstraints must be critical with CA:TRUE".into()));
    }
    if profile == CaProfile::Intermediate && constraints.value.path_len_constraint != Some(0) {
        return Err(bad("an issuing CA must have pathLen 0".into()));
    }
    let usage = cert
        .key_usage()
        .map_err(|e| bad(format!("keyUsage: {e}")))?
        .ok_or_else(|| bad("no keyUsage".into()))?;
    if !usage.critical || !usage.value.key_cert_sign() || !usage.value.crl_sign() {
        return Err(bad(
            "keyUsage must be critical with keyCertSign and cRLSign".into(),
        ));
    }
    let has_ski = cert.iter_extensions().any(|e| {
        matches!(
            e.parsed_extension(),
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(_)
        )
    });
    if !has_ski {
        return Err(bad("no SubjectKeyIdentifier".into()));
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    if now < not_before || now >= not_after {
        return Err(bad(format!("not valid now ({not_before} to {not_after})")));
    }
    if let Some(i) = &issuer {
        if not_after > i.validity().not_after.to_datetime() {
            return Err(bad("outlives the root".into()));
        }
    }
    Ok(CaCertificateFacts {
        subject: ca_subject_of(&cert),
        serial: Serial::from_bytes(cert.raw_serial()),
        key_type: KeyType::of_spki(cert.public_key())?,
        not_before,
        not_after,
        subject_public_key_info: cert.public_key().raw.to_vec(),
    })
}
