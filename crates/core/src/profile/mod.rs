//! What goes into a certificate (SPEC §6): the one home of the root, intermediate, service,
//! OCSP responder and server TLS profiles, with their validity rules in [`validity`].
mod checks;
pub mod server_tls;
pub mod validity;
pub(crate) use checks::{check_ca_template, check_leaf_template, check_ocsp_responder_template};
pub use validity::{renewal_due, DistributionUrls, Validity};

use crate::names::normalize_san_dns_name;
use crate::{CoreError, KeyType, Serial};
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use time::OffsetDateTime;

/// The two CA profiles (SPEC §6): their default key type and lifetime, and the longest lifetime
/// an operator may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaProfile {
    /// Self-signed, no path length limit.
    Root,
    /// Signed by the root, pathLen 0: it signs service certificates only.
    Intermediate,
}

impl CaProfile {
    pub fn default_key(self) -> KeyType {
        match self {
            Self::Root => KeyType::Rsa4096,
            Self::Intermediate => KeyType::Rsa2048,
        }
    }

    pub fn default_years(self) -> u32 {
        match self {
            Self::Root => 10,
            Self::Intermediate => 5,
        }
    }

    pub fn max_years(self) -> u32 {
        match self {
            Self::Root => 30,
            Self::Intermediate => 20,
        }
    }
}

/// Subject of a CA certificate, as the seed's `ca init-root --cn --country --org` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaSubject {
    pub common_name: String,
    pub country: Option<String>,
    pub organization: Option<String>,
}

impl CaSubject {
    pub fn validate(&self) -> Result<(), CoreError> {
        let cn = self.common_name.trim();
        if cn.is_empty() || cn.len() > 64 {
            return Err(CoreError::InvalidSubject(
                "common name must be 1 to 64 characters".into(),
            ));
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(CoreError::InvalidSubject(format!(
                    "country '{c}' must be a two-letter upper-case ISO 3166 code"
                )));
            }
        }
        if let Some(o) = &self.organization {
            if o.trim().is_empty() || o.len() > 64 {
                return Err(CoreError::InvalidSubject(
                    "organization must be 1 to 64 characters".into(),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn distinguished_name(&self) -> Result<DistinguishedName, CoreError> {
        self.validate()?;
        let mut dn = DistinguishedName::new();
        if let Some(c) = &self.country {
            // pkilint: countryName must be a PrintableString.
            let printable = rcgen::string::PrintableString::try_from(c.as_str())
                .map_err(|_| CoreError::InvalidSubject("country is not printable".into()))?;
            dn.push(DnType::CountryName, DnValue::PrintableString(printable));
        }
        if let Some(o) = &self.organization {
            dn.push(
                DnType::OrganizationName,
                DnValue::Utf8String(o.trim().to_string()),
            );
        }
        dn.push(
            DnType::CommonName,
            DnValue::Utf8String(self.common_name.trim().to_string()),
        );
        Ok(dn)
    }
}

/// Extended key usage profile of a service certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeafProfile {
    Server,
    Client,
    #[default]
    ServerClient,
    /// A TLS server certificate shaped as the CA/Browser Forum Baseline Requirements' subscriber
    /// profile (§7.1.2.7): serverAuth only, an empty subject (all names in a critical SAN),
    /// certificatePolicies with the domain-validated policy 2.23.140.1.2.1, at most 398 days.
    TlsServer,
}

/// The CA/B Forum domain-validated certificate policy (BR §7.1.6.1).
pub const CABF_DOMAIN_VALIDATED: &str = "2.23.140.1.2.1";
/// Longest validity of a `tlsserver` certificate (BR §6.3.2), days.
pub const TLS_SERVER_MAX_DAYS: u32 = 398;

impl LeafProfile {
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s {
            "server" => Ok(Self::Server),
            "client" => Ok(Self::Client),
            "server_client" | "server-client" => Ok(Self::ServerClient),
            "tlsserver" => Ok(Self::TlsServer),
            other => Err(CoreError::InvalidSubject(format!(
                "unknown profile '{other}' (expected server, client, server_client or tlsserver)"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
            Self::ServerClient => "server_client",
            Self::TlsServer => "tlsserver",
        }
    }

    /// Whether the subject may carry a common name (every profile but `tlsserver`, whose subject
    /// is always empty).
    pub fn has_common_name(self) -> bool {
        !matches!(self, Self::TlsServer)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

/// Everything a service certificate contains, decided by the authority's policy.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// DER SubjectPublicKeyInfo of the subject key (from a verified CSR or a server-made key).
    pub subject_public_key_info: Vec<u8>,
    pub key_type: KeyType,
    pub common_name: String,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub profile: LeafProfile,
    pub serial: Serial,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub crl_url: Option<String>,
    pub ocsp_url: Option<String>,
    pub ca_issuers_url: Option<String>,
}

fn base_params(
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CoreError> {
    if not_after <= not_before {
        return Err(CoreError::InvalidValidity(
            "notAfter must be after notBefore".into(),
        ));
    }
    let mut params = CertificateParams::default();
    params.serial_number = Some(rcgen::SerialNumber::from_slice(serial.as_bytes()));
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_identifier_method = KeyIdMethod::Sha256;
    Ok(params)
}

pub(crate) fn root_params(
    subject: &CaSubject,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CoreError> {
    let mut params = base_params(serial, not_before, not_after)?;
    params.distinguished_name = subject.distinguished_name()?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(params)
}

pub(crate) fn intermediate_params(
    subject: &CaSubject,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CoreError> {
    let mut params = base_params(serial, not_before, not_after)?;
    params.distinguished_name = subject.distinguished_name()?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    // The same usages as the root (SPEC §6); OCSP is signed by a delegated responder certificate.
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// A delegated OCSP responder certificate (RFC 6960 §4.2.2.2): CA:FALSE, digitalSignature,
/// EKU id-kp-OCSPSigning only, id-pkix-ocsp-nocheck (clients do not ask for its own status: it
/// lives only a few days instead), SKI and AKI. No SAN: it names no host.
pub(crate) fn ocsp_responder_params(
    subject: &CaSubject,
    serial: &Serial,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, CoreError> {
    let mut params = base_params(serial, not_before, not_after)?;
    params.distinguished_name = subject.distinguished_name()?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params.use_authority_key_identifier_extension = true;
    // id-pkix-ocsp-nocheck 1.3.6.1.5.5.7.48.1.5, value NULL, not critical.
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5],
            vec![0x05, 0x00],
        ));
    Ok(params)
}

/// Subject of the OCSP responder of a CA: the CA's country and organization, and its common name
/// followed by " OCSP Responder" (shortened to fit 64 characters).
pub(crate) fn ocsp_responder_subject(issuer: &CaSubject) -> CaSubject {
    const SUFFIX: &str = " OCSP Responder";
    let base: String = issuer
        .common_name
        .trim()
        .chars()
        .take(64 - SUFFIX.len())
        .collect();
    CaSubject {
        common_name: format!("{}{SUFFIX}", base.trim_end()),
        country: issuer.country.clone(),
        organization: issuer.organization.clone(),
    }
}

pub(crate) fn leaf_params(
    request: &LeafRequest,
    issuer_not_after: OffsetDateTime,
) -> Result<(CertificateParams, rcgen::SubjectPublicKeyInfo), CoreError> {
    let not_after = request.not_after.min(issuer_not_after);
    let mut params = base_params(&request.serial, request.not_before, not_after)?;
    let cn = request.common_name.trim();
    let mut dn = DistinguishedName::new();
    if request.profile.has_common_name() {
        // An empty common name gives an empty subject: every name is in the SAN, which rcgen
        // then marks critical (RFC 5280 §4.2.1.6). ACME profiles without a CN use it.
        if cn.len() > 64 {
            return Err(CoreError::InvalidSubject(
                "common name must be at most 64 characters".into(),
            ));
        }
        if !cn.is_empty() {
            dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_string()));
        }
    } else {
        if !cn.is_empty() {
            return Err(CoreError::InvalidSubject(format!(
                "profile {} has an empty subject: no common name",
                request.profile.as_str()
            )));
        }
        if request.not_after - request.not_before
            > time::Duration::days(i64::from(TLS_SERVER_MAX_DAYS))
        {
            return Err(CoreError::InvalidSubject(format!(
                "profile tlsserver allows at most {TLS_SERVER_MAX_DAYS} days"
            )));
        }
        params
            .custom_extensions
            .push(certificate_policies(CABF_DOMAIN_VALIDATED));
    }
    params.distinguished_name = dn;

    // The SAN holds every name, the CN included (RFC 6125: clients ignore the CN).
    let mut sans: Vec<SanType> = Vec::new();
    for name in &request.dns_names {
        let name = normalize_san_dns_name(name)?;
        let ia5 = rcgen::string::Ia5String::try_from(name.as_str())
            .map_err(|_| CoreError::InvalidDnsName(name.clone()))?;
        let san = SanType::DnsName(ia5);
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    for ip in &request.ip_addresses {
        let san = SanType::IpAddress(*ip);
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    if sans.is_empty() {
        return Err(CoreError::InvalidSubject(
            "a certificate needs at least one DNS name or IP address".into(),
        ));
    }
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = if request.key_type.is_rsa() {
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ]
    } else {
        vec![KeyUsagePurpose::DigitalSignature]
    };
    params.extended_key_usages = match request.profile {
        LeafProfile::Server | LeafProfile::TlsServer => vec![ExtendedKeyUsagePurpose::ServerAuth],
        LeafProfile::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
        LeafProfile::ServerClient => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    params.use_authority_key_identifier_extension = true;
    if let Some(url) = &request.crl_url {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![url.clone()],
        }];
    }
    if request.ocsp_url.is_some() || request.ca_issuers_url.is_some() {
        params.custom_extensions.push(authority_info_access(
            request.ocsp_url.as_deref(),
            request.ca_issuers_url.as_deref(),
        ));
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&request.subject_public_key_info)
        .map_err(|e| CoreError::UnsupportedKey(e.to_string()))?;
    Ok((params, spki))
}

/// certificatePolicies (RFC 5280 §4.2.1.4) with one policy and no qualifiers:
/// SEQUENCE { SEQUENCE { policyIdentifier OID } }.
fn certificate_policies(policy: &str) -> CustomExtension {
    use der::asn1::ObjectIdentifier;
    use der::{Encode, Sequence};

    #[derive(Sequence)]
    struct PolicyInformation {
        policy_identifier: ObjectIdentifier,
    }
    let policies = ObjectIdentifier::new(policy)
        .map(|oid| {
            vec![PolicyInformation {
                policy_identifier: oid,
            }]
        })
        .unwrap_or_default();
    let content = policies.to_der().unwrap_or_default();
    // id-ce-certificatePolicies 2.5.29.32
    CustomExtension::from_oid_content(&[2, 5, 29, 32], content)
}

/// AuthorityInfoAccess (RFC 5280 §4.2.2.1): SEQUENCE OF AccessDescription { accessMethod OID,
/// accessLocation [6] IA5String URI }. rcgen has no builder for it, so it is encoded with `der`.
fn authority_info_access(ocsp: Option<&str>, ca_issuers: Option<&str>) -> CustomExtension {
    use der::asn1::{Ia5StringRef, ObjectIdentifier};
    use der::{Encode, Sequence};

    #[derive(Sequence)]
    struct AccessDescription<'a> {
        method: ObjectIdentifier,
        #[asn1(context_specific = "6", tag_mode = "IMPLICIT")]
        location: Ia5StringRef<'a>,
    }
    const OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
    const CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");
    let mut items = Vec::new();
    for (method, url) in [(OCSP, ocsp), (CA_ISSUERS, ca_issuers)] {
        if let Some(location) = url.and_then(|u| Ia5StringRef::new(u).ok()) {
            items.push(AccessDescription { method, location });
        }
    }
    let content = items.to_der().unwrap_or_default();
    // id-pe-authorityInfoAccess 1.3.6.1.5.5.7.1.1, not critical.
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], content)
}
