//! Bearer credentials: random 256-bit tokens with a type prefix, known to the store only by their
//! SHA-256 hash.
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const ADMIN_TOKEN_PREFIX: &str = "vccadm_";
pub const ENROLLMENT_TOKEN_PREFIX: &str = "vccenr_";

/// A fresh 256-bit token with a type prefix (so a leaked token is recognisable in scanners).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hashed() {
        let a = new_token(ADMIN_TOKEN_PREFIX);
        let b = new_token(ADMIN_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with(ADMIN_TOKEN_PREFIX) && a.len() == ADMIN_TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
