//! Replay nonces (RFC 8555 §6.5) valid on every replica of one database: each nonce carries its
//! expiry and a MAC under a key shared through the store, and is single-use through a used set in
//! the store. A replica can hand out nonces without writing; redeeming one is one insert.
use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use time::OffsetDateTime;
use vcc_pki_store::{Store, StoreError};

/// How long a nonce may wait before it is used.
pub const NONCE_LIFETIME: time::Duration = time::Duration::hours(1);
const RANDOM_LEN: usize = 16;
const MAC_LEN: usize = 16;
const NONCE_LEN: usize = 8 + RANDOM_LEN + MAC_LEN;

#[derive(Debug, thiserror::Error)]
pub enum NonceError {
    #[error("the nonce is not one of this server's")]
    Unknown,
    #[error("the nonce has expired; fetch a new one")]
    Expired,
    #[error("the nonce was used already")]
    Used,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Nonces {
    key: hmac::Key,
    store: Store,
}

impl Nonces {
    /// The MAC key shared by every replica on `store`'s database (made by the first one).
    pub async fn load(store: Store) -> Result<Self, StoreError> {
        let candidate: [u8; 32] = rand::random();
        let secret = store
            .acme_secret("nonce-mac-key", &B64.encode(candidate))
            .await?;
        let bytes = B64
            .decode(secret.as_bytes())
            .map_err(|_| StoreError::Corrupt("acme nonce key".into()))?;
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
            store,
        })
    }

    pub fn fresh(&self, now: OffsetDateTime) -> String {
        let expires = (now + NONCE_LIFETIME).unix_timestamp();
        let mut raw = Vec::with_capacity(NONCE_LEN);
        raw.extend_from_slice(&expires.to_be_bytes());
        raw.extend_from_slice(&rand::random::<[u8; RANDOM_LEN]>());
        let tag = hmac::sign(&self.key, &raw);
        raw.extend_from_slice(&tag.as_ref()[..MAC_LEN]);
        B64.encode(raw)
    }

    /// Accept `nonce` once: ours, unexpired and not used before on any replica.
    pub async fn redeem(&self, nonce: &str, now: OffsetDateTime) -> Result<(), NonceError> {
        let raw = B64
            .decode(nonce.as_bytes())
            .map_err(|_| NonceError::Unknown)?;
        if raw.len() != NONCE_LEN {
            return Err(NonceError::Unknown);
        }
        let (body, mac) = raw.split_at(8 + RANDOM_LEN);
        let tag = hmac::sign(&self.key, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&tag.as_ref()[..MAC_LEN], mac)) {
            return Err(NonceError::Unknown);
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&body[..8]);
        let expires = OffsetDateTime::from_unix_timestamp(i64::from_be_bytes(expiry))
            .map_err(|_| NonceError::Unknown)?;
        if expires <= now {
            return Err(NonceError::Expired);
        }
        if self.store.redeem_acme_nonce(nonce, expires).await? {
            Ok(())
        } else {
            Err(NonceError::Used)
        }
    }

    /// Forget used nonces past their expiry.
    pub async fn purge(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.store.purge_acme_nonces(now).await
    }
}
