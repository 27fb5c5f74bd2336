use thiserror::Error;

/// Errors of the pure PKI layer. Each names what was wrong with the input so that the
/// API can turn it into a 4xx problem document; `Crypto` is the only server-side failure.
#[derive(Debug, Error)]
pub enum CoreError {
    #[error("unknown key type '{0}' (expected one of rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384, ed25519)")]
    UnknownKeyType(String),
    #[error("invalid CSR: {0}")]
    InvalidCsr(String),
    #[error("CSR signature does not verify")]
    CsrSignature,
    #[error("CSR requests CA:TRUE; service certificates are never CA certificates")]
    CsrRequestsCa,
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    #[error("invalid DNS name '{0}'")]
    InvalidDnsName(String),
    #[error("invalid IP address '{0}'")]
    InvalidIpAddress(String),
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    #[error("invalid validity: {0}")]
    InvalidValidity(String),
    #[error("'{0}' is not a serial number (hex, at most 20 bytes)")]
    InvalidSerial(String),
    #[error("unknown revocation reason '{0}'")]
    UnknownReason(String),
    #[error("wrong CA password or corrupt encrypted key")]
    KeyDecryption,
    #[error("malformed OCSP request: {0}")]
    MalformedOcspRequest(String),
    #[error("malformed OCSP response: {0}")]
    MalformedOcspResponse(String),
    #[error("PEM: {0}")]
    Pem(String),
    #[error("cryptographic failure: {0}")]
    Crypto(String),
    /// A certificate template broke its profile's invariants; it was not signed.
    #[error("refused to sign: {0}")]
    ProfileViolation(String),
    /// The CA key is in a token that did not sign (removed, logged out, failing): nothing was
    /// signed; the next request works once the token answers again.
    #[error("the CA key's token did not sign; retry once it is back")]
    KeyUnavailable,
    /// A CA certificate brought in from elsewhere (an offline root's signature) is not one this
    /// CA may use.
    #[error("CA certificate refused: {0}")]
    InvalidCaCertificate(String),
}

impl From<rcgen::Error> for CoreError {
    fn from(e: rcgen::Error) -> Self {
        match e {
            rcgen::Error::RemoteKeyError => CoreError::KeyUnavailable,
            e => CoreError::Crypto(e.to_string()),
        }
    }
}
