//! Pure PKI logic for VCC PKI: key types, the CA signer, X.509 profiles, CSR checks,
//! certificate, CRL and OCSP response building. No I/O and no async: everything here is a function of its inputs.

pub mod ca_certificate;
pub mod csr;
pub mod error;
pub mod keys;
pub mod names;
pub mod ocsp;
pub mod profile;
pub mod revocation;
pub mod serial;
pub mod signer;

pub use error::CoreError;
pub use keys::KeyType;
pub use profile::{CaSubject, LeafProfile};
pub use revocation::RevocationReason;
pub use serial::Serial;
pub use signer::{CaSigner, IssuingAuthority, RevokedEntry};

/// SHA-256 fingerprint of DER bytes, lower-case hex without colons.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// PEM-encode a DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    pem_encode("CERTIFICATE", der)
}

/// PEM-encode arbitrary DER under a label (64-column base64 lines, LF line endings).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Decode every PEM block with the given label from `pem` into DER.
pub fn pem_decode_all(pem: &str, label: &str) -> Result<Vec<Vec<u8>>, CoreError> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let stop = after
            .find(&end)
            .ok_or_else(|| CoreError::Pem(format!("unterminated {label} block")))?;
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| CoreError::Pem("invalid base64".into()))?;
        out.push(der);
        rest = &after[stop + end.len()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        for len in 0..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let pem = pem_encode("TEST", &data);
            assert_eq!(pem_decode_all(&pem, "TEST").unwrap(), vec![data]);
        }
    }
}
