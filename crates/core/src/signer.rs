//! The signing core: a CA key behind a trait (so a PKCS#11 key can slot in) and the
//! issuing authority that turns profile-built parameters into signed DER.
use crate::profile::{self, CaProfile, CaSubject, LeafRequest};
use crate::revocation::RevocationReason;
use crate::{CoreError, Serial};
use rcgen::{Issuer, KeyIdMethod, PublicKeyData, SignatureAlgorithm, SigningKey};
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A CA private key. Implemented for in-memory keys (`rcgen::KeyPair`); an HSM key implements it too.
pub trait CaSigner: SigningKey + Send + Sync {
    /// False when a signature is a call out of the process (a PKCS#11 token): then it is made
    /// on a blocking thread however fast the algorithm is.
    fn signs_in_process(&self) -> bool {
        true
    }
}
impl CaSigner for rcgen::KeyPair {}

/// Cheaply clonable handle on a CA signer.
#[derive(Clone)]
pub struct SignerHandle(pub Arc<dyn CaSigner>);

impl PublicKeyData for SignerHandle {
    fn der_bytes(&self) -> &[u8] {
        self.0.der_bytes()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.0.algorithm()
    }
}

impl SigningKey for SignerHandle {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg)
    }
}

/// One revoked certificate as it goes into a CRL.
#[derive(Debug, Clone)]
pub struct RevokedEntry {
    pub serial: Serial,
    pub revoked_at: OffsetDateTime,
    pub reason: RevocationReason,
}

/// A CA certificate together with its (unlocked) key: everything needed to sign below it.
pub struct IssuingAuthority {
    certificate_der: Vec<u8>,
    subject_key_id: Vec<u8>,
    not_after: OffsetDateTime,
    issuer: Issuer<'static, SignerHandle>,
}

impl std::fmt::Debug for IssuingAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuingAuthority")
            .field("subject_key_id", &hex::encode(&self.subject_key_id))
            .finish_non_exhaustive()
    }
}

impl IssuingAuthority {
    /// Pair a CA certificate with its key; refuses a key that does not match the certificate.
    pub fn new(certificate_der: Vec<u8>, signer: Arc<dyn CaSigner>) -> Result<Self, CoreError> {
        let handle = SignerHandle(signer);
        let (_, cert) = X509Certificate::from_der(&certificate_der)
            .map_err(|e| CoreError::Crypto(format!("CA certificate does not parse: {e}")))?;
        if cert.public_key().raw != handle.subject_public_key_info().as_slice() {
            return Err(CoreError::Crypto(
                "CA key does not match the CA certificate".into(),
            ));
        }
        let subject_key_id = cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                    Some(k.0.to_vec())
                }
                _ => None,
            })
            .ok_or_else(|| {
                CoreError::Crypto("CA certificate has no SubjectKeyIdentifier".into())
            })?;
        let not_after = cert.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&certificate_der.clone().into(), handle)?;
        Ok(Self {
            certificate_der,
            subject_key_id,
            not_after,
            issuer,
        })
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// True when one signature takes tens of microseconds (ECDSA, Ed25519): cheap enough to make
    /// on an async worker. RSA signatures (a millisecond and more) belong on a blocking thread.
    pub fn signs_quickly(&self) -> bool {
        if !self.issuer.key().0.signs_in_process() {
            return false;
        }
        let alg = self.issuer.key().algorithm();
        [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ]
        .contains(&alg)
    }

    pub fn subject_key_id(&self) -> &[u8] {
        &self.subject_key_id
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Sign an intermediate CA certificate (pathLen 0) for `subject_key`. Returns the DER and the
    /// validity it carries (clamped to this CA's own notAfter).
    pub fn issue_intermediate(
        &self,
        subject: &CaSubject,
        subject_key: &impl PublicKeyData,
        serial: &Serial,
        validity: profile::Validity,
    ) -> Result<(Vec<u8>, profile::Validity), CoreError> {
        let validity = validity.clamped_to(self.not_after);
        let params =
            profile::intermediate_params(subject, serial, validity.not_before, validity.not_after)?;
        profile::check_ca_template(&params, CaProfile::Intermediate, Some(self.not_after))?;
        Ok((
            params.signed_by(subject_key, &self.issuer)?.der().to_vec(),
            validity,
        ))
    }

    /// Sign a service (end-entity) certificate. Everything in it comes from `request`, which the
    /// authority built from policy; nothing is copied from a CSR except its public key.
    /// Returns the DER and the validity it carries (clamped to this CA's own notAfter).
    pub fn issue_leaf(
        &self,
        request: &LeafRequest,
    ) -> Result<(Vec<u8>, profile::Validity), CoreError> {
        let (params, subject_key) = profile::leaf_params(request, self.not_after)?;
        profile::check_leaf_template(&params, self.not_after)?;
        let validity = profile::Validity {
            not_before: params.not_before,
            not_after: params.not_after,
        };
        Ok((
            params.signed_by(&subject_key, &self.issuer)?.der().to_vec(),
            validity,
        ))
    }

    /// Sign a delegated OCSP responder certificate for `subject_key`, issued at `now` (see
    /// `profile::ocsp_responder_params`); its subject is derived from this CA's. Returns the DER,
    /// the validity it carries and its subject.
    pub fn issue_ocsp_responder(
        &self,
        subject_key: &impl PublicKeyData,
        serial: &Serial,
        now: OffsetDateTime,
    ) -> Result<(Vec<u8>, profile::Validity, CaSubject), CoreError> {
        let validity = profile::Validity::ocsp_responder(now).clamped_to(self.not_after);
        let subject = profile::ocsp_responder_subject(&self.subject()?);
        let params = profile::ocsp_responder_params(
            &subject,
            serial,
            validity.not_before,
            validity.not_after,
        )?;
        profile::check_ocsp_responder_template(&params, self.not_after)?;
        let der = params.signed_by(subject_key, &self.issuer)?.der().to_vec();
        Ok((der, validity, subject))
    }

    /// This CA's subject as country, organization and common name.
    pub fn subject(&self) -> Result<CaSubject, CoreError> {
        let (_, cert) = X509Certificate::from_der(&self.certificate_der)
            .map_err(|e| CoreError::Crypto(format!("CA certificate does not parse: {e}")))?;
        Ok(crate::ca_certificate::ca_subject_of(&cert))
    }

    /// Sign a v2 CRL with the given number and entries.
    ///
    /// `partition_url`: for the CRL of one shard, the URL its certificates name in their CRL
    /// distribution point. It goes into an issuing distribution point extension (critical, RFC 5280
    /// §5.2.5, with onlyContainsUserCerts), so that a relying party accepts this CRL for exactly
    /// those certificates and does not take it for a complete one.
    pub fn issue_crl(
        &self,
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        entries: Vec<RevokedEntry>,
        partition_url: Option<&str>,
    ) -> Result<Vec<u8>, CoreError> {
        let params = rcgen::CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: rcgen::SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: partition_url.map(|url| {
                rcgen::CrlIssuingDistributionPoint {
                    distribution_point: rcgen::CrlDistributionPoint {
                        uris: vec![url.to_string()],
                    },
                    scope: Some(rcgen::CrlScope::UserCertsOnly),
                }
            }),
            revoked_certs: entries
                .into_iter()
                .map(|e| rcgen::RevokedCertParams {
                    // Moved, not copied: a million-entry CRL holds each serial once.
                    serial_number: rcgen::SerialNumber::from(e.serial.into_bytes()),
                    revocation_time: e.revoked_at,
                    // RFC 5280 §5.3.1: the reason code "unspecified" SHOULD be absent.
                    reason_code: match e.reason {
                        RevocationReason::Unspecified => None,
                        r => Some(r.to_rcgen()),
                    },
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::PreSpecified(self.subject_key_id.clone()),
        };
        let crl = params.signed_by(&self.issuer)?;
        // A million-entry CRL's parameters are tens of MB: gone before the DER is copied out.
        drop(params);
        Ok(crl.der().to_vec())
    }
}

/// Create a self-signed root CA certificate for `key`. Returns the DER and its validity.
pub fn self_signed_root(
    subject: &CaSubject,
    key: &impl SigningKey,
    serial: &Serial,
    validity: profile::Validity,
) -> Result<(Vec<u8>, profile::Validity), CoreError> {
    let params = profile::root_params(subject, serial, validity.not_before, validity.not_after)?;
    profile::check_ca_template(&params, CaProfile::Root, None)?;
    Ok((params.self_signed(key)?.der().to_vec(), validity))
}
