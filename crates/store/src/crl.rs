//! CRL history: every CRL ever issued, numbers strictly increasing.
use crate::audit::{append, AuditEntry};
use crate::{format_time, Result, Store, StoreError};
use time::OffsetDateTime;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CrlRecord {
    pub crl_number: i64,
    pub issuer_ca_id: i64,
    pub this_update: String,
    pub next_update: String,
    pub revoked_count: i64,
    pub crl_der: Vec<u8>,
    pub fingerprint_sha256: String,
    pub created_at: String,
    /// `None` for the complete CRL, else the shard it covers.
    pub crl_shard: Option<i64>,
}

/// One revocation as a CRL needs it: (serial hex, revoked_at RFC 3339, CRLReason code).
pub type RevokedRow = (String, String, i64);

/// A signed CRL, produced by the caller for the number the store reserved.
pub struct SignedCrl {
    pub der: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub revoked_count: i64,
    pub fingerprint_sha256: String,
}

impl Store {
    /// The newest complete CRL (every revoked, unexpired certificate of the issuer).
    pub async fn latest_crl(&self) -> Result<Option<CrlRecord>> {
        Ok(sqlx::query_as(
            "SELECT crl_number, issuer_ca_id, this_update, next_update, revoked_count, crl_der, fingerprint_sha256, created_at, crl_shard
             FROM crl_history WHERE crl_shard IS NULL ORDER BY crl_number DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?)
    }

    /// The newest CRL of one shard.
    pub async fn latest_shard_crl(&self, shard: i64) -> Result<Option<CrlRecord>> {
        Ok(sqlx::query_as(
            "SELECT crl_number, issuer_ca_id, this_update, next_update, revoked_count, crl_der, fingerprint_sha256, created_at, crl_shard
             FROM crl_history WHERE crl_shard = $1 ORDER BY crl_number DESC LIMIT 1",
        )
        .bind(shard)
        .fetch_optional(&self.read)
        .await?)
    }

    /// The shards that have a CRL, each with the `this_update` of its newest one.
    pub async fn shard_crl_updates(&self) -> Result<Vec<(i64, String)>> {
        Ok(sqlx::query_as(
            "SELECT crl_shard, MAX(this_update) FROM crl_history WHERE crl_shard IS NOT NULL GROUP BY crl_shard",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Reserve the next CRL number, let `sign` build the CRL for it, and store it — all inside one
    /// write transaction, so two CRLs never share a number and numbers only grow.
    ///
    /// `shard`: `None` builds the complete CRL, `Some(k)` the CRL of shard `k` only.
    ///
    /// Rows are streamed from the database and turned into the caller's entry type by `entry` one at
    /// a time, so a million-entry CRL never holds the rows' text and the entries at once.
    pub async fn insert_crl_with<T, M, F>(
        &self,
        issuer_ca_id: i64,
        shard: Option<i64>,
        audit: &AuditEntry,
        mut entry: M,
        sign: F,
    ) -> Result<CrlRecord>
    where
        T: Send + 'static,
        M: FnMut(RevokedRow) -> std::result::Result<T, String>,
        F: FnOnce(i64, Vec<T>) -> std::result::Result<SignedCrl, String> + Send + 'static,
    {
        // One CRL build at a time (across replicas on PostgreSQL), so the number order and the
        // snapshot order agree: a later CRL never lacks a revocation an earlier one has, and a CRL
        // includes every revocation committed before its build began. Reading and signing happen
        // outside the write lock, so a revocation never waits for a large CRL.
        let _build = self.crl_build_lock().await?;
        let (number,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(crl_number), 0) + 1 FROM crl_history")
                .fetch_one(&self.crl_read_pool())
                .await?;
        let now_text = format_time(OffsetDateTime::now_utc());
        // Entries of certificates that have expired are dropped (RFC 5280 §3.3): the CRL's size
        // follows the revoked-and-still-valid certificates, not history.
        let sql = match shard {
            None => {
                "SELECT r.serial_number, r.revoked_at, r.reason_code FROM revoked_certificates r
                 JOIN certificates c ON c.id = r.certificate_id
                 WHERE r.issuer_ca_id = $1 AND c.not_after > $2 ORDER BY r.id"
            }
            Some(_) => {
                "SELECT r.serial_number, r.revoked_at, r.reason_code FROM revoked_certificates r
                 JOIN certificates c ON c.id = r.certificate_id
                 WHERE r.issuer_ca_id = $1 AND r.crl_shard = $3 AND c.not_after > $2 ORDER BY r.id"
            }
        };
        let mut query = sqlx::query_as::<_, RevokedRow>(sql)
            .bind(issuer_ca_id)
            .bind(&now_text);
        if let Some(shard) = shard {
            query = query.bind(shard);
        }
        let pool = self.crl_read_pool();
        let mut rows = query.fetch(&pool);
        let mut revoked = Vec::new();
        while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows).await? {
            revoked.push(entry(row).map_err(StoreError::Corrupt)?);
        }
        drop(rows);
        let signed = tokio::task::spawn_blocking(move || sign(number, revoked))
            .await
            .map_err(|e| StoreError::Corrupt(format!("CRL signing task: {e}")))?
            .map_err(StoreError::Corrupt)?;
        let mut tx = self.begin_write().await?;
        let now = format_time(OffsetDateTime::now_utc());
        sqlx::query(
            "INSERT INTO crl_history (crl_number, issuer_ca_id, this_update, next_update, revoked_count, crl_der, fingerprint_sha256, created_at, crl_shard)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(number)
        .bind(issuer_ca_id)
        .bind(format_time(signed.this_update))
        .bind(format_time(signed.next_update))
        .bind(signed.revoked_count)
        .bind(&signed.der)
        .bind(&signed.fingerprint_sha256)
        .bind(&now)
        .bind(shard)
        .execute(&mut *tx)
        .await?;
        let mut audit = audit.clone();
        audit.target_id = Some(match shard {
            None => number.to_string(),
            Some(k) => format!("{number} (shard {k})"),
        });
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(CrlRecord {
            crl_number: number,
            issuer_ca_id,
            this_update: format_time(signed.this_update),
            next_update: format_time(signed.next_update),
            revoked_count: signed.revoked_count,
            crl_der: signed.der,
            fingerprint_sha256: signed.fingerprint_sha256,
            created_at: now,
            crl_shard: shard,
        })
    }
}
