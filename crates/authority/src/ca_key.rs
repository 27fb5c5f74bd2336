//! CA key custody behind one seam: where a new CA key is made (encrypted in the store, or inside
//! a PKCS#11 token) and how a stored one is opened. Everything else signs through `CaSigner`
//! without knowing which.
use crate::{AuthorityError, AuthorityResult};
use std::sync::Arc;
use vcc_pki_core::keys::{decrypt_private_key_pem, encrypt_private_key_pem};
use vcc_pki_core::signer::CaSigner;
use vcc_pki_core::KeyType;
use vcc_pki_pkcs11::{KeyUri, Pkcs11Error, Pkcs11Key};
use vcc_pki_store::CaKey;
use zeroize::Zeroizing;

/// Where a new CA key is to be made.
#[derive(Debug, Clone)]
pub enum KeyLocation {
    /// Generated here, stored as PKCS#8 encrypted with the CA password.
    Store,
    /// Generated inside the token the URI names; only the URI is stored.
    Pkcs11(KeyUri),
}

impl KeyLocation {
    /// `None` → in the store; `Some("pkcs11:…")` → in that token. A bad URI is a 400.
    pub fn parse(key_uri: Option<&str>) -> AuthorityResult<Self> {
        match key_uri.map(str::trim).filter(|u| !u.is_empty()) {
            None => Ok(Self::Store),
            Some(uri) => KeyUri::parse(uri)
                .map(Self::Pkcs11)
                .map_err(|e| AuthorityError::malformed(e.to_string())),
        }
    }

    /// True when the key is protected by the CA password (so one is needed).
    pub fn needs_password(&self) -> bool {
        matches!(self, Self::Store)
    }
}

/// Make a CA key at `location`. Returns the signer and what the store keeps of it.
/// Blocking (key generation, token I/O): call from a blocking thread.
pub(crate) fn generate(
    location: &KeyLocation,
    key_type: KeyType,
    password: Option<&Zeroizing<String>>,
) -> AuthorityResult<(Arc<dyn CaSigner>, CaKey)> {
    match location {
        KeyLocation::Store => {
            let password = password.ok_or_else(|| {
                AuthorityError::malformed("a CA key in the store needs the CA password")
            })?;
            let key = key_type.generate()?;
            let pem =
                encrypt_private_key_pem(&Zeroizing::new(key.serialize_der()), password.as_bytes())?;
            Ok((Arc::new(key), CaKey::EncryptedPem(pem)))
        }
        KeyLocation::Pkcs11(uri) => {
            let key = Pkcs11Key::generate(uri, key_type).map_err(token_refusal)?;
            Ok((Arc::new(key), CaKey::Pkcs11Uri(uri.as_str().to_string())))
        }
    }
}

/// Open a stored CA key. `Ok(None)`: the key is encrypted and no password is known (sealed).
/// Blocking (PBKDF2, token I/O): call from a blocking thread.
pub(crate) fn open(
    key: &CaKey,
    password: Option<&Zeroizing<String>>,
    what: &str,
) -> AuthorityResult<Option<Arc<dyn CaSigner>>> {
    match key {
        CaKey::EncryptedPem(pem) => {
            let Some(password) = password else {
                return Ok(None);
            };
            let key = decrypt_private_key_pem(pem, password.as_bytes())
                .map_err(|e| AuthorityError::forbidden(format!("{what} CA key: {e}")))?;
            Ok(Some(Arc::new(key)))
        }
        // Kept by `vcc-pki ceremony` on another machine: nothing to open here, by design.
        CaKey::Offline => Ok(None),
        CaKey::Pkcs11Uri(uri) => {
            let uri = KeyUri::parse(uri)
                .map_err(|e| AuthorityError::internal(format!("{what} CA key: stored {e}")))?;
            let key = Pkcs11Key::open(&uri)
                .map_err(|e| AuthorityError::unavailable(format!("{what} CA key: {e}")))?;
            Ok(Some(Arc::new(key)))
        }
    }
}

/// A token that cannot make the key: the operator's URI, PIN or token is wrong (400), or the
/// token is not answering (503).
fn token_refusal(e: Pkcs11Error) -> AuthorityError {
    match e {
        Pkcs11Error::Uri(_)
        | Pkcs11Error::Key { .. }
        | Pkcs11Error::Unsupported(_)
        | Pkcs11Error::Pin(_) => AuthorityError::malformed(e.to_string()),
        Pkcs11Error::Module { .. } | Pkcs11Error::Token { .. } => {
            AuthorityError::unavailable(e.to_string())
        }
    }
}
