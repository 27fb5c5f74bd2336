//! Intermediate CA keys waiting for a certificate signed elsewhere (an offline root): made by
//! `ca create-intermediate --csr-out`, consumed by `ca import-intermediate`.
use crate::audit::{append, AuditEntry};
use crate::ca::insert_ca_in;
use crate::{format_time, parse_time, CaKey, CaLevel, NewCa, Result, Store, StoreError};
use time::OffsetDateTime;
use vcc_pki_core::KeyType;

#[derive(Debug, Clone)]
pub struct NewPendingCa {
    pub common_name: String,
    pub subject: String,
    pub key_type: KeyType,
    pub public_key_der: Vec<u8>,
    pub key: CaKey,
    pub csr_der: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct PendingCa {
    pub id: i64,
    pub common_name: String,
    pub subject: String,
    pub key_type: KeyType,
    pub key: CaKey,
    pub csr_der: Vec<u8>,
    pub created_at: OffsetDateTime,
}

type PendingRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Vec<u8>,
    String,
);

impl Store {
    /// Keep a new intermediate key and its CSR until its certificate comes back.
    pub async fn insert_pending_intermediate(
        &self,
        p: &NewPendingCa,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let (encrypted, uri) = match &p.key {
            CaKey::EncryptedPem(pem) => (pem.as_str(), None),
            CaKey::Pkcs11Uri(uri) => ("", Some(uri.as_str())),
            CaKey::Offline => {
                return Err(StoreError::Conflict(
                    "a pending intermediate needs its key".into(),
                ))
            }
        };
        let mut tx = self.begin_write().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO pending_intermediate_ca (common_name, subject, key_type, public_key_der, \
             encrypted_private_key, key_uri, csr_der, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id",
        )
        .bind(&p.common_name)
        .bind(&p.subject)
        .bind(p.key_type.as_str())
        .bind(&p.public_key_der)
        .bind(encrypted)
        .bind(uri)
        .bind(&p.csr_der)
        .bind(format_time(OffsetDateTime::now_utc()))
        .fetch_one(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The pending intermediate whose public key is `public_key_der`, if this server made one.
    pub async fn pending_intermediate(&self, public_key_der: &[u8]) -> Result<Option<PendingCa>> {
        let row: Option<PendingRow> = sqlx::query_as(
            "SELECT id, common_name, subject, key_type, encrypted_private_key, key_uri, csr_der, created_at \
             FROM pending_intermediate_ca WHERE public_key_der = $1",
        )
        .bind(public_key_der)
        .fetch_optional(&self.read)
        .await?;
        row.map(
            |(id, common_name, subject, key_type, encrypted, uri, csr_der, created_at)| {
                Ok(PendingCa {
                    id,
                    common_name,
                    subject,
                    key_type: crate::parse_key_type(&key_type)?,
                    key: match uri {
                        Some(uri) => CaKey::Pkcs11Uri(uri),
                        None => CaKey::EncryptedPem(encrypted),
                    },
                    csr_der,
                    created_at: parse_time(&created_at)?,
                })
            },
        )
        .transpose()
    }

    /// The signed certificate of a pending intermediate is back: in one transaction, store the
    /// root it came with (an offline root, when the store has none yet), make the intermediate
    /// active and forget the pending record.
    pub async fn import_intermediate(
        &self,
        root: Option<&NewCa>,
        intermediate: &NewCa,
        pending_id: i64,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        if let Some(root) = root {
            insert_ca_in(&mut tx, CaLevel::Root, root).await?;
        }
        let id = insert_ca_in(&mut tx, CaLevel::Intermediate, intermediate).await?;
        let gone = sqlx::query("DELETE FROM pending_intermediate_ca WHERE id = $1")
            .bind(pending_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone != 1 {
            return Err(StoreError::Conflict(
                "the pending intermediate was imported meanwhile".into(),
            ));
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }
}
