//! Key types, key generation and encrypted PKCS#8 storage of private keys.
use crate::CoreError;
use pkcs8::der::Decode;
use rand::RngCore;
use rcgen::{KeyPair, SignatureAlgorithm};
use std::fmt;
use x509_parser::x509::SubjectPublicKeyInfo;
use zeroize::Zeroizing;

/// The key types of SPEC §6, everywhere the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcdsaP256,
    EcdsaP384,
    Ed25519,
}

/// PBKDF2-HMAC-SHA256 iterations for keys at rest (OWASP 2023 guidance for PBKDF2-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EcdsaP256,
        Self::EcdsaP384,
        Self::Ed25519,
    ];

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| CoreError::UnknownKeyType(s.to_string()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }

    /// The signature algorithm a key of this type signs with (SHA-256 or stronger).
    pub fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Self::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }

    /// Generate a fresh key pair of this type from the OS CSPRNG (aws-lc-rs).
    pub fn generate(self) -> Result<KeyPair, CoreError> {
        let alg = self.signature_algorithm();
        let key = match self {
            Self::Rsa2048 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048),
            Self::Rsa3072 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072),
            Self::Rsa4096 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_4096),
            _ => KeyPair::generate_for(alg),
        };
        key.map_err(|e| CoreError::Crypto(format!("key generation failed: {e}")))
    }

    /// Classify a SubjectPublicKeyInfo; anything outside §6 is refused.
    pub fn of_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CoreError> {
        let alg = spki.algorithm.algorithm.to_id_string();
        match alg.as_str() {
            OID_RSA => {
                let parsed = spki
                    .parsed()
                    .map_err(|_| CoreError::UnsupportedKey("malformed RSA public key".into()))?;
                match parsed.key_size() {
                    2048 => Ok(Self::Rsa2048),
                    3072 => Ok(Self::Rsa3072),
                    4096 => Ok(Self::Rsa4096),
                    n => Err(CoreError::UnsupportedKey(format!(
                        "RSA-{n} (allowed: 2048, 3072, 4096)"
                    ))),
                }
            }
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    OID_P256 => Ok(Self::EcdsaP256),
                    OID_P384 => Ok(Self::EcdsaP384),
                    other => Err(CoreError::UnsupportedKey(format!(
                        "EC curve {other} (allowed: P-256, P-384)"
                    ))),
                }
            }
            OID_ED25519 => Ok(Self::Ed25519),
            other => Err(CoreError::UnsupportedKey(format!("algorithm {other}"))),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Encrypt a PKCS#8 private key as `ENCRYPTED PRIVATE KEY` PEM: PBES2 with PBKDF2-HMAC-SHA256
/// and AES-256-CBC, which `openssl pkey -passin` reads.
pub fn encrypt_private_key_pem(pkcs8_der: &[u8], password: &[u8]) -> Result<String, CoreError> {
    encrypt_private_key_pem_with_iterations(pkcs8_der, password, PBKDF2_ITERATIONS)
}

pub fn encrypt_private_key_pem_with_iterations(
    pkcs8_der: &[u8],
    password: &[u8],
    iterations: u32,
) -> Result<String, CoreError> {
    if password.is_empty() {
        return Err(CoreError::Crypto(
            "refusing to encrypt a key with an empty password".into(),
        ));
    }
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    rand::rng().fill_bytes(&mut iv);
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
        .map_err(|e| CoreError::Crypto(e.to_string()))?;
    let info = pkcs8::PrivateKeyInfo::from_der(pkcs8_der)
        .map_err(|e| CoreError::Crypto(format!("not a PKCS#8 key: {e}")))?;
    let encrypted = info
        .encrypt_with_params(params, password)
        .map_err(|e| CoreError::Crypto(e.to_string()))?;
    Ok(crate::pem_encode(
        "ENCRYPTED PRIVATE KEY",
        encrypted.as_bytes(),
    ))
}

/// Decrypt an `ENCRYPTED PRIVATE KEY` PEM into a usable key pair. The clear DER is zeroised on drop.
pub fn decrypt_private_key_pem(pem: &str, password: &[u8]) -> Result<KeyPair, CoreError> {
    let der = crate::pem_decode_all(pem, "ENCRYPTED PRIVATE KEY")?
        .into_iter()
        .next()
        .ok_or_else(|| CoreError::Pem("no ENCRYPTED PRIVATE KEY block".into()))?;
    let encrypted =
        pkcs8::EncryptedPrivateKeyInfo::from_der(&der).map_err(|_| CoreError::KeyDecryption)?;
    let clear = encrypted
        .decrypt(password)
        .map_err(|_| CoreError::KeyDecryption)?;
    let clear_der = Zeroizing::new(clear.as_bytes().to_vec());
    KeyPair::try_from(clear_der.as_slice()).map_err(|e| CoreError::Crypto(e.to_string()))
}

/// A clear PKCS#8 `PRIVATE KEY` PEM (as [`private_key_pem`] writes it) back into a key pair.
pub fn private_key_from_pem(pem: &str) -> Result<KeyPair, CoreError> {
    let der = Zeroizing::new(
        crate::pem_decode_all(pem, "PRIVATE KEY")?
            .into_iter()
            .next()
            .ok_or_else(|| CoreError::Pem("no PRIVATE KEY block".into()))?,
    );
    KeyPair::try_from(der.as_slice()).map_err(|e| CoreError::Crypto(e.to_string()))
}

/// PKCS#8 v1 PEM (`PRIVATE KEY`) of a key pair, for keys handed once to the service that owns them.
/// aws-lc writes Ed25519 keys as PKCS#8 v2 (with the public key), which OpenSSL 3.0 refuses; the
/// public key is dropped so every TLS stack reads the result.
pub fn private_key_pem(key: &KeyPair) -> Zeroizing<String> {
    let der = Zeroizing::new(key.serialize_der());
    let v1 = pkcs8::PrivateKeyInfo::from_der(&der)
        .ok()
        .and_then(|mut info| {
            info.public_key = None;
            pkcs8::der::Encode::to_der(&info).ok().map(Zeroizing::new)
        });
    match v1 {
        Some(v1) => Zeroizing::new(crate::pem_encode("PRIVATE KEY", &v1)),
        None => Zeroizing::new(key.serialize_pem()),
    }
}

/// DER of the SubjectPublicKeyInfo of a key pair.
pub fn spki_der(key: &impl rcgen::PublicKeyData) -> Vec<u8> {
    key.subject_public_key_info()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_type_names_round_trip() {
        for k in KeyType::ALL {
            assert_eq!(KeyType::parse(k.as_str()).unwrap(), k);
        }
        assert!(KeyType::parse("dsa-1024").is_err());
    }

    #[test]
    fn encrypted_key_round_trip_and_wrong_password() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let pem =
            encrypt_private_key_pem_with_iterations(&key.serialize_der(), b"s3cret", 1000).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let back = decrypt_private_key_pem(&pem, b"s3cret").unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        assert!(matches!(
            decrypt_private_key_pem(&pem, b"wrong"),
            Err(CoreError::KeyDecryption)
        ));
    }

    #[test]
    fn private_key_pem_is_pkcs8_v1_for_every_key_type() {
        for k in [KeyType::EcdsaP256, KeyType::Ed25519] {
            let key = k.generate().unwrap();
            let pem = private_key_pem(&key);
            let der = crate::pem_decode_all(&pem, "PRIVATE KEY")
                .unwrap()
                .remove(0);
            let info = pkcs8::PrivateKeyInfo::from_der(&der).unwrap();
            assert!(info.public_key.is_none(), "{k}: PKCS#8 v2");
            let back = KeyPair::try_from(der.as_slice()).unwrap();
            assert_eq!(back.public_key_raw(), key.public_key_raw());
        }
    }

    #[test]
    fn spki_classification() {
        for k in [
            KeyType::Rsa2048,
            KeyType::EcdsaP256,
            KeyType::EcdsaP384,
            KeyType::Ed25519,
        ] {
            let key = k.generate().unwrap();
            let der = spki_der(&key);
            let (_, spki) =
                <SubjectPublicKeyInfo as x509_parser::prelude::FromDer<_>>::from_der(&der).unwrap();
            assert_eq!(KeyType::of_spki(&spki).unwrap(), k);
        }
    }
}
