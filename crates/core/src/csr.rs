//! Certificate signing requests: parsed and verified with x509-parser, then reduced to the
//! few facts policy may use. Nothing else in a CSR is trusted or copied (rcgen would copy requested extensions, CA:TRUE included).
use crate::names::normalize_san_dns_name;
use crate::{CoreError, KeyType};
use std::net::IpAddr;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

/// Largest CSR accepted, DER bytes (an RSA-4096 CSR with many SANs is ~2 KiB).
pub const MAX_CSR_DER_LEN: usize = 16 * 1024;

/// What a verified CSR contributes: its public key and the names it asks for.
#[derive(Debug, Clone)]
pub struct VerifiedCsr {
    pub subject_public_key_info: Vec<u8>,
    pub key_type: KeyType,
    pub common_name: Option<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
}

pub fn verify_csr_pem(pem: &str) -> Result<VerifiedCsr, CoreError> {
    let blocks = crate::pem_decode_all(pem, "CERTIFICATE REQUEST")
        .map_err(|e| CoreError::InvalidCsr(e.to_string()))?;
    let der = match blocks.as_slice() {
        [one] => one,
        [] => {
            return Err(CoreError::InvalidCsr(
                "no CERTIFICATE REQUEST PEM block".into(),
            ))
        }
        _ => {
            return Err(CoreError::InvalidCsr(
                "more than one CERTIFICATE REQUEST block".into(),
            ))
        }
    };
    verify_csr_der(der)
}

pub fn verify_csr_der(der: &[u8]) -> Result<VerifiedCsr, CoreError> {
    if der.len() > MAX_CSR_DER_LEN {
        return Err(CoreError::InvalidCsr(format!(
            "larger than {MAX_CSR_DER_LEN} bytes"
        )));
    }
    let (rest, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| CoreError::InvalidCsr(format!("does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(CoreError::InvalidCsr("trailing data after the CSR".into()));
    }
    csr.verify_signature()
        .map_err(|_| CoreError::CsrSignature)?;
    let info = &csr.certification_request_info;
    let key_type = KeyType::of_spki(&info.subject_pki)?;

    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .map(|cn| cn.as_str().map(str::to_string))
        .transpose()
        .map_err(|_| CoreError::InvalidCsr("common name is not a string".into()))?;

    let mut dns_names = Vec::new();
    let mut ip_addresses = Vec::new();
    if let Some(extensions) = csr.requested_extensions() {
        for ext in extensions {
            match ext {
                ParsedExtension::BasicConstraints(bc) if bc.ca => {
                    return Err(CoreError::CsrRequestsCa)
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        match name {
                            GeneralName::DNSName(d) => dns_names.push(normalize_san_dns_name(d)?),
                            GeneralName::IPAddress(bytes) => ip_addresses.push(ip_from_bytes(bytes)?),
                            other => {
                                return Err(CoreError::InvalidCsr(format!(
                                    "unsupported subjectAltName {other:?}; only DNS names and IP addresses"
                                )))
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(VerifiedCsr {
        subject_public_key_info: info.subject_pki.raw.to_vec(),
        key_type,
        common_name,
        dns_names,
        ip_addresses,
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, CoreError> {
    match bytes.len() {
        4 => {
            Ok(IpAddr::from(<[u8; 4]>::try_from(bytes).map_err(|_| {
                CoreError::InvalidIpAddress(hex::encode(bytes))
            })?))
        }
        16 => {
            Ok(IpAddr::from(<[u8; 16]>::try_from(bytes).map_err(|_| {
                CoreError::InvalidIpAddress(hex::encode(bytes))
            })?))
        }
        _ => Err(CoreError::InvalidIpAddress(hex::encode(bytes))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa};

    fn csr_for(key: &rcgen::KeyPair, names: &[&str], ca: bool) -> String {
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    #[test]
    fn verifies_csr_and_extracts_names() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let csr = verify_csr_pem(&csr_for(&key, &["api.example.com", "10.0.0.1"], false)).unwrap();
        assert_eq!(csr.key_type, KeyType::EcdsaP256);
        assert_eq!(csr.dns_names, vec!["api.example.com"]);
        assert_eq!(
            csr.ip_addresses,
            vec!["10.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn rejects_ca_request() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        assert!(matches!(
            verify_csr_pem(&csr_for(&key, &["a.example"], true)),
            Err(CoreError::CsrRequestsCa)
        ));
    }

    #[test]
    fn rejects_tampered_signature() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let pem = csr_for(&key, &["a.example"], false);
        let mut der = crate::pem_decode_all(&pem, "CERTIFICATE REQUEST")
            .unwrap()
            .remove(0);
        // Flip a byte inside the DNS name, which is covered by the signature.
        let pos = der.windows(9).position(|w| w == b"a.example").unwrap();
        der[pos] = b'b';
        assert!(matches!(verify_csr_der(&der), Err(CoreError::CsrSignature)));
    }

    #[test]
    fn rejects_garbage() {
        assert!(verify_csr_pem(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        )
        .is_err());
        assert!(verify_csr_pem("hello").is_err());
    }
}
