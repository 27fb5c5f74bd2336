//! CA keys in a PKCS#11 token.
//!
//! A key is named by an RFC 7512 URI (`pkcs11:token=vcc-ca;object=intermediate?module-path=…&pin-source=file:…`).
//! The module is loaded at run time (`dlopen`), so the binary builds and runs without one. Keys are
//! generated inside the token as sensitive and non-extractable; only the URI is kept anywhere else.
//! The PIN comes from a file or an environment variable named in the URI, never from the URI itself.
mod key;
mod module;
mod uri;

pub use key::{KeyProtection, Pkcs11Key};
pub use uri::{KeyUri, PinSource};

/// Why a token key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs11Error {
    #[error("PKCS#11 URI: {0}")]
    Uri(String),
    #[error("PKCS#11 module {module}: {reason}")]
    Module { module: String, reason: String },
    #[error("PKCS#11 token '{token}': {reason}")]
    Token { token: String, reason: String },
    #[error("PKCS#11 PIN: {0}")]
    Pin(String),
    #[error("PKCS#11 key '{object}': {reason}")]
    Key { object: String, reason: String },
    #[error("PKCS#11: {0}")]
    Unsupported(String),
}

/// The short name of a PKCS#11 failure (`PinIncorrect`, `TokenNotPresent`, …) rather than
/// cryptoki's paragraph-long description.
pub(crate) fn describe(e: &cryptoki::error::Error) -> String {
    match e {
        cryptoki::error::Error::Pkcs11(rv, function) => format!("{function}: {rv:?}"),
        other => other.to_string(),
    }
}
