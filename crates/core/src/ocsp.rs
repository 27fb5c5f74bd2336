//! OCSP (RFC 6960, in the RFC 5019 lightweight profile; nonces per RFC 8954/9654): parse requests
//! and build signed responses. Pure functions of their inputs: the caller decides each certificate's
//! status (from its store) and hands it over with the times to put in the response.
use crate::revocation::RevocationReason;
use crate::signer::CaSigner;
use crate::{CoreError, Serial};
use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;
use x509_ocsp::{
    BasicOcspResponse, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, Request,
    ResponderId, ResponseData, RevokedInfo, SingleResponse, TbsRequest, Version,
};

pub use x509_cert::ext::Extension;
pub use x509_ocsp::{CertId, OcspResponseStatus};

/// Most certificates one request may ask about (RFC 5019 clients ask about one).
pub const MAX_CERTIFICATES_PER_REQUEST: usize = 16;
/// Longest nonce echoed (RFC 9654 §2.1: 1 to 128 octets; longer is a malformed request).
pub const MAX_NONCE_LEN: usize = 128;

const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");

/// Hash algorithm of a CertID. SHA-1 is what RFC 5019 clients (and `openssl ocsp`) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl CertIdHash {
    pub const ALL: [CertIdHash; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    pub fn oid(self) -> ObjectIdentifier {
        ObjectIdentifier::new_unwrap(match self {
            Self::Sha1 => "1.3.14.3.2.26",
            Self::Sha256 => "2.16.840.1.101.3.4.2.1",
            Self::Sha384 => "2.16.840.1.101.3.4.2.2",
            Self::Sha512 => "2.16.840.1.101.3.4.2.3",
        })
    }

    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.oid() == *oid)
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// The issuer a CertID must name: hashes of its subject DN and of its public key (RFC 6960 §4.1.1),
/// precomputed for every supported hash algorithm.
#[derive(Debug, Clone)]
pub struct IssuerIdentity {
    hashes: Vec<(CertIdHash, Vec<u8>, Vec<u8>)>,
}

impl IssuerIdentity {
    pub fn from_certificate(certificate_der: &[u8]) -> Result<Self, CoreError> {
        let cert = Certificate::from_der(certificate_der)
            .map_err(|e| CoreError::Crypto(format!("issuer certificate does not parse: {e}")))?;
        let name = cert
            .tbs_certificate
            .subject
            .to_der()
            .map_err(|e| CoreError::Crypto(e.to_string()))?;
        let key = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        let hashes = CertIdHash::ALL
            .into_iter()
            .map(|h| (h, h.digest(&name), h.digest(key)))
            .collect();
        Ok(Self { hashes })
    }

    fn hashes(&self, alg: CertIdHash) -> Option<(&[u8], &[u8])> {
        self.hashes
            .iter()
            .find(|(h, _, _)| *h == alg)
            .map(|(_, n, k)| (n.as_slice(), k.as_slice()))
    }

    /// The CertID a client computes for `serial` under this issuer.
    pub fn cert_id(&self, alg: CertIdHash, serial: &Serial) -> Result<CertId, CoreError> {
        let (name, key) = self
            .hashes(alg)
            .ok_or_else(|| CoreError::Crypto("hash algorithm missing".into()))?;
        let der_err = |e: der::Error| CoreError::Crypto(e.to_string());
        Ok(CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: Some(Null.into()),
            },
            issuer_name_hash: OctetString::new(name).map_err(der_err)?,
            issuer_key_hash: OctetString::new(key).map_err(der_err)?,
            serial_number: SerialNumber::new(serial.as_bytes()).map_err(der_err)?,
        })
    }

    /// True when `query` names this issuer (by name and key hash).
    pub fn names(&self, query: &CertQuery) -> bool {
        let Some(alg) = query.hash else {
            return false;
        };
        self.hashes(alg).is_some_and(|(name, key)| {
            query.cert_id.issuer_name_hash.as_bytes() == name
                && query.cert_id.issuer_key_hash.as_bytes() == key
        })
    }
}

/// One certificate a request asks about.
#[derive(Debug, Clone)]
pub struct CertQuery {
    /// Echoed unchanged in the response.
    pub cert_id: CertId,
    /// None when the CertID uses a hash algorithm this responder does not know.
    pub hash: Option<CertIdHash>,
    /// None for a negative serial number, which no conforming CA issues.
    pub serial: Option<Serial>,
}

/// What a request asks, once parsed and checked.
#[derive(Debug, Clone)]
pub struct ParsedOcspRequest {
    pub queries: Vec<CertQuery>,
    /// The request's nonce extension, to be echoed verbatim (RFC 8954).
    pub nonce: Option<Extension>,
}

/// Parse a DER `OCSPRequest`. Anything that is not a well-formed request asking about 1 to
/// [`MAX_CERTIFICATES_PER_REQUEST`] certificates is `MalformedOcspRequest`. A request signature,
/// if present, is ignored (this responder does not require signed requests).
pub fn parse_request(der: &[u8]) -> Result<ParsedOcspRequest, CoreError> {
    let malformed = |why: String| CoreError::MalformedOcspRequest(why);
    let request = OcspRequest::from_der(der).map_err(|e| malformed(e.to_string()))?;
    let list = &request.tbs_request.request_list;
    if list.is_empty() {
        return Err(malformed("the request asks about no certificate".into()));
    }
    if list.len() > MAX_CERTIFICATES_PER_REQUEST {
        return Err(malformed(format!(
            "the request asks about {} certificates (at most {MAX_CERTIFICATES_PER_REQUEST})",
            list.len()
        )));
    }
    let queries = list
        .iter()
        .map(|r| {
            let bytes = r.req_cert.serial_number.as_bytes();
            let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
            CertQuery {
                cert_id: r.req_cert.clone(),
                hash: CertIdHash::from_oid(&r.req_cert.hash_algorithm.oid),
                serial: (!negative).then(|| Serial::from_bytes(bytes)),
            }
        })
        .collect();
    let nonce = match &request.tbs_request.request_extensions {
        Some(extensions) => extensions
            .iter()
            .find(|e| e.extn_id == ID_PKIX_OCSP_NONCE)
            .map(checked_nonce)
            .transpose()?,
        None => None,
    };
    Ok(ParsedOcspRequest { queries, nonce })
}

/// The nonce extension to echo: the request's own value (an OCTET STRING holding the nonce),
/// never critical. A nonce of 0 or more than [`MAX_NONCE_LEN`] octets makes the request malformed.
fn checked_nonce(extension: &Extension) -> Result<Extension, CoreError> {
    let value = extension.extn_value.as_bytes();
    // RFC 8954: extnValue holds a DER OCTET STRING; pre-RFC 6960 clients sent the bytes bare.
    let len = OctetString::from_der(value)
        .map(|o| o.as_bytes().len())
        .unwrap_or(value.len());
    if len == 0 || len > MAX_NONCE_LEN {
        return Err(CoreError::MalformedOcspRequest(format!(
            "nonce of {len} octets (expected 1 to {MAX_NONCE_LEN})"
        )));
    }
    Ok(Extension {
        extn_id: ID_PKIX_OCSP_NONCE,
        critical: false,
        extn_value: extension.extn_value.clone(),
    })
}

/// The status of one certificate as the responder's store knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStatus {
    Good,
    Revoked {
        revoked_at: OffsetDateTime,
        reason: RevocationReason,
    },
    /// Never issued by this issuer.
    Unknown,
}

impl CertificateStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

fn generalized_time(t: OffsetDateTime) -> Result<OcspGeneralizedTime, CoreError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CoreError::InvalidValidity("time before 1970".into()))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|e| CoreError::InvalidValidity(e.to_string()))
}

fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::CertificateHold => CrlReason::CertificateHold,
        RevocationReason::RemoveFromCrl => CrlReason::RemoveFromCRL,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

fn cert_status(status: CertificateStatus) -> Result<CertStatus, CoreError> {
    Ok(match status {
        CertificateStatus::Good => CertStatus::good(),
        CertificateStatus::Unknown => CertStatus::unknown(),
        CertificateStatus::Revoked { revoked_at, reason } => CertStatus::revoked(RevokedInfo {
            revocation_time: generalized_time(revoked_at)?,
            // As in the CRL (RFC 5280 §5.3.1): the reason "unspecified" is left out.
            revocation_reason: match reason {
                RevocationReason::Unspecified => None,
                r => Some(crl_reason(r)),
            },
        }),
    })
}

/// AlgorithmIdentifier of the signatures a key of this algorithm makes (RFC 5758, 8410, 4055).
fn signature_algorithm(
    alg: &'static rcgen::SignatureAlgorithm,
) -> Result<AlgorithmIdentifierOwned, CoreError> {
    let (oid, null_params) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        ("1.2.840.10045.4.3.2", false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        ("1.2.840.10045.4.3.3", false)
    } else if alg == &rcgen::PKCS_ED25519 {
        ("1.3.101.112", false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        ("1.2.840.113549.1.1.11", true)
    } else if alg == &rcgen::PKCS_RSA_SHA384 {
        ("1.2.840.113549.1.1.12", true)
    } else if alg == &rcgen::PKCS_RSA_SHA512 {
        ("1.2.840.113549.1.1.13", true)
    } else {
        return Err(CoreError::UnsupportedKey(format!(
            "no OCSP signature algorithm for {alg:?}"
        )));
    };
    Ok(AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(oid),
        parameters: null_params.then(|| Null.into()),
    })
}

/// A delegated OCSP responder (RFC 6960 §4.2.2.2): a certificate with id-kp-OCSPSigning issued by
/// the CA whose certificates it answers for, and that certificate's key.
pub struct OcspResponder {
    certificate: Certificate,
    key_hash: OctetString,
    signer: Arc<dyn CaSigner>,
    signature_algorithm: AlgorithmIdentifierOwned,
}

impl std::fmt::Debug for OcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspResponder")
            .field("key_hash", &hex::encode(self.key_hash.as_bytes()))
            .finish_non_exhaustive()
    }
}

impl OcspResponder {
    /// Pair the responder certificate with its key; refuses a key that does not match.
    pub fn new(certificate_der: &[u8], signer: Arc<dyn CaSigner>) -> Result<Self, CoreError> {
        let certificate = Certificate::from_der(certificate_der)
            .map_err(|e| CoreError::Crypto(format!("responder certificate does not parse: {e}")))?;
        let spki = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| CoreError::Crypto(e.to_string()))?;
        if spki != signer.subject_public_key_info() {
            return Err(CoreError::Crypto(
                "responder key does not match the responder certificate".into(),
            ));
        }
        // ResponderID byKey: SHA-1 of the subjectPublicKey BIT STRING value (RFC 6960 §4.2.1).
        let key_hash = OctetString::new(
            CertIdHash::Sha1.digest(
                certificate
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            ),
        )
        .map_err(|e| CoreError::Crypto(e.to_string()))?;
        let signature_algorithm = signature_algorithm(signer.algorithm())?;
        Ok(Self {
            certificate,
            key_hash,
            signer,
            signature_algorithm,
        })
    }

    /// Sign a successful response: one SingleResponse per `(CertID, status)`, all with the same
    /// thisUpdate (= producedAt) and nextUpdate; the nonce extension echoed when given.
    pub fn sign(
        &self,
        answers: &[(CertId, CertificateStatus)],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
        nonce: Option<&Extension>,
    ) -> Result<Vec<u8>, CoreError> {
        if next_update <= this_update {
            return Err(CoreError::InvalidValidity(
                "nextUpdate must be after thisUpdate".into(),
            ));
        }
        let this = generalized_time(this_update)?;
        let next = generalized_time(next_update)?;
        let responses = answers
            .iter()
            .map(|(cert_id, status)| {
                Ok(SingleResponse {
                    cert_id: cert_id.clone(),
                    cert_status: cert_status(*status)?,
                    this_update: this,
                    next_update: Some(next),
                    single_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, CoreError>>()?;
        let tbs_response_data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(self.key_hash.clone()),
            produced_at: this,
            responses,
            response_extensions: nonce.map(|n| vec![n.clone()]),
        };
        let der_err = |e: der::Error| CoreError::Crypto(e.to_string());
        let tbs = tbs_response_data.to_der().map_err(der_err)?;
        let signature = self.signer.sign(&tbs)?;
        let basic = BasicOcspResponse {
            tbs_response_data,
            signature_algorithm: self.signature_algorithm.clone(),
            signature: BitString::from_bytes(&signature).map_err(der_err)?,
            certs: Some(vec![self.certificate.clone()]),
        };
        OcspResponse::successful(basic)
            .and_then(|r| r.to_der())
            .map_err(der_err)
    }
}

/// An unsuccessful response: only the status, no body (RFC 6960 §4.2.1).
pub fn status_only_response(status: OcspResponseStatus) -> Vec<u8> {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } — three fixed bytes after the header.
    vec![0x30, 0x03, 0x0a, 0x01, status as u8]
}

/// A DER `OCSPRequest` for `cert_ids`, with a nonce extension when given (what a relying party
/// sends; used by tests and clients of this crate).
pub fn build_request(cert_ids: Vec<CertId>, nonce: Option<&[u8]>) -> Result<Vec<u8>, CoreError> {
    let der_err = |e: der::Error| CoreError::Crypto(e.to_string());
    let request_extensions = match nonce {
        Some(n) => {
            let inner = OctetString::new(n)
                .and_then(|o| o.to_der())
                .map_err(der_err)?;
            Some(vec![Extension {
                extn_id: ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(inner).map_err(der_err)?,
            }])
        }
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list: cert_ids
                .into_iter()
                .map(|req_cert| Request {
                    req_cert,
                    single_request_extensions: None,
                })
                .collect(),
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(der_err)
}

/// What a DER `OCSPResponse` says. The signature is NOT verified: this is for inspecting
/// responses (tests, diagnostics), not for trusting them.
#[derive(Debug, Clone)]
pub struct OcspResponseSummary {
    pub status: OcspResponseStatus,
    /// The responder's key hash (responderID byKey), for successful responses.
    pub responder_key_hash: Option<Vec<u8>>,
    /// Certificates carried in the response (the delegated responder's), DER.
    pub certificates: Vec<Vec<u8>>,
    /// Per CertID: its serial and status.
    pub answers: Vec<(Serial, CertificateStatus)>,
    pub this_update: Option<OffsetDateTime>,
    pub next_update: Option<OffsetDateTime>,
    /// The nonce octets echoed, if any.
    pub nonce: Option<Vec<u8>>,
}

fn offset_time(t: &OcspGeneralizedTime) -> Result<OffsetDateTime, CoreError> {
    let secs = i64::try_from(t.0.to_unix_duration().as_secs())
        .map_err(|_| CoreError::MalformedOcspResponse("time out of range".into()))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| CoreError::MalformedOcspResponse(e.to_string()))
}

/// Decode a DER `OCSPResponse` (see [`OcspResponseSummary`]).
pub fn read_response(der: &[u8]) -> Result<OcspResponseSummary, CoreError> {
    let bad = |e: der::Error| CoreError::MalformedOcspResponse(e.to_string());
    let response = OcspResponse::from_der(der).map_err(bad)?;
    let mut summary = OcspResponseSummary {
        status: response.response_status,
        responder_key_hash: None,
        certificates: Vec::new(),
        answers: Vec::new(),
        this_update: None,
        next_update: None,
        nonce: None,
    };
    let Some(bytes) = response.response_bytes else {
        return Ok(summary);
    };
    let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(bad)?;
    summary.nonce = basic.nonce().map(|n| n.0.as_bytes().to_vec());
    let data = &basic.tbs_response_data;
    if let ResponderId::ByKey(hash) = &data.responder_id {
        summary.responder_key_hash = Some(hash.as_bytes().to_vec());
    }
    for cert in basic.certs.iter().flatten() {
        summary.certificates.push(cert.to_der().map_err(bad)?);
    }
    for single in &data.responses {
        let status = match single.cert_status {
            CertStatus::Good(_) => CertificateStatus::Good,
            CertStatus::Unknown(_) => CertificateStatus::Unknown,
            CertStatus::Revoked(info) => CertificateStatus::Revoked {
                revoked_at: offset_time(&info.revocation_time)?,
                reason: info
                    .revocation_reason
                    .and_then(|r| {
                        RevocationReason::ALL
                            .into_iter()
                            .find(|x| x.code() == r as u8)
                    })
                    .unwrap_or(RevocationReason::Unspecified),
            },
        };
        let serial = Serial::from_bytes(single.cert_id.serial_number.as_bytes());
        summary.answers.push((serial, status));
        summary.this_update = Some(offset_time(&single.this_update)?);
        summary.next_update = single.next_update.as_ref().map(offset_time).transpose()?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaSubject, IssuingAuthority, KeyType};
    use time::Duration;

    fn authority() -> IssuingAuthority {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let subject = CaSubject {
            common_name: "Test Intermediate".into(),
            country: Some("DE".into()),
            organization: Some("VCC".into()),
        };
        let now = OffsetDateTime::now_utc();
        let (der, _) = crate::signer::self_signed_root(
            &subject,
            &key,
            &Serial::random(),
            crate::profile::Validity::ca(now, 1),
        )
        .unwrap();
        IssuingAuthority::new(der, Arc::new(key)).unwrap()
    }

    fn responder(ca: &IssuingAuthority) -> OcspResponder {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let now = OffsetDateTime::now_utc();
        let (der, _, _) = ca
            .issue_ocsp_responder(&key, &Serial::random(), now)
            .unwrap();
        OcspResponder::new(&der, Arc::new(key)).unwrap()
    }

    fn request_der(cert_ids: Vec<CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
        build_request(cert_ids, nonce).unwrap()
    }

    #[test]
    fn request_round_trip_matches_issuer_and_keeps_nonce() {
        let ca = authority();
        let issuer = IssuerIdentity::from_certificate(ca.certificate_der()).unwrap();
        let serial = Serial::random();
        let id = issuer.cert_id(CertIdHash::Sha256, &serial).unwrap();
        let parsed = parse_request(&request_der(vec![id], Some(&[7u8; 32]))).unwrap();
        assert_eq!(parsed.queries.len(), 1);
        assert!(issuer.names(&parsed.queries[0]));
        assert_eq!(parsed.queries[0].serial.as_ref(), Some(&serial));
        assert!(parsed.nonce.is_some());

        let other = authority();
        let other_issuer = IssuerIdentity::from_certificate(other.certificate_der()).unwrap();
        assert!(!other_issuer.names(&parsed.queries[0]));
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert!(matches!(
            parse_request(b"not DER"),
            Err(CoreError::MalformedOcspRequest(_))
        ));
        assert!(parse_request(&request_der(vec![], None)).is_err());
        let issuer = IssuerIdentity::from_certificate(authority().certificate_der()).unwrap();
        let id = issuer.cert_id(CertIdHash::Sha1, &Serial::random()).unwrap();
        assert!(parse_request(&request_der(vec![id.clone()], Some(&[1u8; 129]))).is_err());
        assert!(parse_request(&request_der(vec![id.clone()], Some(&[]))).is_err());
        let many = vec![id; MAX_CERTIFICATES_PER_REQUEST + 1];
        assert!(parse_request(&request_der(many, None)).is_err());
    }

    #[test]
    fn signed_response_carries_status_times_nonce_and_verifies() {
        let ca = authority();
        let responder = responder(&ca);
        let issuer = IssuerIdentity::from_certificate(ca.certificate_der()).unwrap();
        let serial = Serial::random();
        let id = issuer.cert_id(CertIdHash::Sha1, &serial).unwrap();
        let nonce = checked_nonce(&Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new([9u8; 16]).unwrap().to_der().unwrap())
                .unwrap(),
        })
        .unwrap();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let revoked_at = now - Duration::hours(1);
        let der = responder
            .sign(
                &[(
                    id.clone(),
                    CertificateStatus::Revoked {
                        revoked_at,
                        reason: RevocationReason::KeyCompromise,
                    },
                )],
                now,
                now + Duration::days(1),
                Some(&nonce),
            )
            .unwrap();
        let response = OcspResponse::from_der(&der).unwrap();
        assert_eq!(response.response_status, OcspResponseStatus::Successful);
        let bytes = response.response_bytes.unwrap();
        let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
        let single = &basic.tbs_response_data.responses[0];
        assert_eq!(single.cert_id, id);
        match single.cert_status {
            CertStatus::Revoked(info) => {
                assert_eq!(info.revocation_reason, Some(CrlReason::KeyCompromise));
                assert_eq!(info.revocation_time, generalized_time(revoked_at).unwrap());
            }
            other => panic!("expected revoked, got {other:?}"),
        }
        assert!(single.next_update.is_some());
        let summary = read_response(&der).unwrap();
        assert_eq!(summary.status, OcspResponseStatus::Successful);
        assert_eq!(
            summary.answers,
            vec![(
                serial.clone(),
                CertificateStatus::Revoked {
                    revoked_at,
                    reason: RevocationReason::KeyCompromise
                }
            )]
        );
        assert_eq!(summary.this_update, Some(now));
        assert_eq!(summary.next_update, Some(now + Duration::days(1)));
        assert_eq!(summary.nonce.as_deref(), Some(&[9u8; 16][..]));
        assert_eq!(summary.certificates.len(), 1);
        assert_eq!(
            basic.nonce().unwrap().0.as_bytes(),
            &[9u8; 16],
            "nonce echoed"
        );
        // The signature verifies under the responder certificate's key (x509-parser, independent).
        let responder_der = basic.certs.as_ref().unwrap()[0].to_der().unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&responder_der).unwrap();
        let tbs = basic.tbs_response_data.to_der().unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            &cert.public_key().subject_public_key.data,
        )
        .verify(&tbs, basic.signature.raw_bytes())
        .expect("response signature verifies");
    }

    #[test]
    fn status_only_responses() {
        let der = status_only_response(OcspResponseStatus::Unauthorized);
        let parsed = OcspResponse::from_der(&der).unwrap();
        assert_eq!(parsed.response_status, OcspResponseStatus::Unauthorized);
        assert!(parsed.response_bytes.is_none());
    }
}
