//! CRL history: every CRL ever issued, numbers strictly increasing.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_time, Backend, Result, Store, StoreError};
use time::OffsetDateTime;
use vcc_pki_core::{RevocationReason, Serial};

#[derive(Debug, Clone)]
pub struct CrlRecord {
    pub crl_number: i64,
    pub issuer_ca_id: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub revoked_count: i64,
    pub crl_der: Vec<u8>,
    pub fingerprint_sha256: String,
    pub created_at: OffsetDateTime,
    /// `None` for the complete CRL, else the shard it covers.
    pub crl_shard: Option<i64>,
}

/// The newest CRL of one scope, as [`Store::newest_crls`] reports it.
#[derive(Debug, Clone)]
pub struct CrlSummary {
    /// `None`: the complete CRL.
    pub shard: Option<i64>,
    pub crl_number: i64,
    pub revoked_count: i64,
    pub next_update: OffsetDateTime,
    /// Size of the DER.
    pub bytes: i64,
}

#[derive(sqlx::FromRow)]
struct CrlRow {
    crl_number: i64,
    issuer_ca_id: i64,
    this_update: String,
    next_update: String,
    revoked_count: i64,
    crl_der: Vec<u8>,
    fingerprint_sha256: String,
    created_at: String,
    crl_shard: Option<i64>,
}

impl TryFrom<CrlRow> for CrlRecord {
    type Error = StoreError;

    fn try_from(r: CrlRow) -> Result<Self> {
        Ok(Self {
            crl_number: r.crl_number,
            issuer_ca_id: r.issuer_ca_id,
            this_update: parse_time(&r.this_update)?,
            next_update: parse_time(&r.next_update)?,
            revoked_count: r.revoked_count,
            crl_der: r.crl_der,
            fingerprint_sha256: r.fingerprint_sha256,
            created_at: parse_time(&r.created_at)?,
            crl_shard: r.crl_shard,
        })
    }
}

/// One revocation as a CRL lists it.
pub type RevokedRow = vcc_pki_core::RevokedEntry;

/// A signed CRL, produced by the caller for the number the store reserved.
pub struct SignedCrl {
    pub der: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub revoked_count: i64,
    pub fingerprint_sha256: String,
}

/// Revocation ids read per query when a CRL is built.
const CRL_READ_CHUNK: i64 = 50_000;

impl Store {
    /// Every revocation of `issuer_ca_id` (of one shard, if given) whose certificate has not
    /// expired at `now_text`, passed to `each` in id order.
    ///
    /// Read in id ranges, each answered as one aggregated text row: sqlx hands every result row
    /// from SQLite's worker thread over a channel, which cost ≈ 1 µs a row (1.8 s of a million-entry
    /// CRL against 0.7 s for the query itself). The highest id is read first and bounds the ranges:
    /// ids become visible in increasing order (every write holds the store's write lock), so the
    /// CRL holds exactly the revocations committed before that read.
    async fn read_revocations(
        &self,
        pool: &sqlx::Pool<sqlx::Any>,
        issuer_ca_id: i64,
        shard: Option<i64>,
        now_text: &str,
        mut each: impl FnMut(RevokedRow) -> Result<()>,
    ) -> Result<()> {
        // Compared when building one shard's CRL; the shard is always the last parameter.
        let shard_clause = |n: u8| match shard {
            Some(_) => format!("AND r.crl_shard = ${n}"),
            None => String::new(),
        };
        let mut bounds = sqlx::query_as::<_, (Option<i64>, Option<i64>)>(sqlx::AssertSqlSafe(
            format!(
                "SELECT MIN(r.id), MAX(r.id) FROM revoked_certificates r WHERE r.issuer_ca_id = $1 {}",
                shard_clause(2)
            ),
        ))
        .bind(issuer_ca_id);
        if let Some(shard) = shard {
            bounds = bounds.bind(shard);
        }
        let (low, high) = bounds.fetch_one(pool).await?;
        let (Some(low), Some(high)) = (low, high) else {
            return Ok(());
        };
        let aggregate = match self.backend {
            Backend::Sqlite => "group_concat",
            Backend::Postgres => "string_agg",
        };
        let sql = format!(
            "SELECT {aggregate}(r.serial_number || ',' || r.revoked_at || ',' || r.reason_code, ';')
             FROM revoked_certificates r JOIN certificates c ON c.id = r.certificate_id
             WHERE r.issuer_ca_id = $1 AND r.id >= $2 AND r.id < $3 AND c.not_after > $4 {}",
            shard_clause(5)
        );
        let mut from = low;
        while from <= high {
            let to = (from + CRL_READ_CHUNK).min(high + 1);
            let mut query =
                sqlx::query_as::<_, (Option<String>,)>(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(issuer_ca_id)
                    .bind(from)
                    .bind(to)
                    .bind(now_text);
            if let Some(shard) = shard {
                query = query.bind(shard);
            }
            let (text,) = query.fetch_one(pool).await?;
            let mut rows: Vec<RevokedRow> = Vec::new();
            for item in text
                .as_deref()
                .unwrap_or("")
                .split(';')
                .filter(|s| !s.is_empty())
            {
                let mut fields = item.splitn(3, ',');
                let (Some(serial), Some(at), Some(code)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(StoreError::Corrupt(format!("revocation row '{item}'")));
                };
                // An unknown code still lists the serial (as unspecified): a CRL that fails to
                // build is worse than one entry without its reason.
                let reason = code
                    .trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(RevocationReason::from_code)
                    .unwrap_or_else(|| {
                        tracing::warn!(
                            serial,
                            code,
                            "revocation with an unknown reason code: listed as unspecified"
                        );
                        RevocationReason::Unspecified
                    });
                let serial = Serial::from_hex(serial)
                    .ok_or_else(|| StoreError::Corrupt(format!("serial '{serial}'")))?;
                rows.push(RevokedRow {
                    serial,
                    revoked_at: parse_time(at)?,
                    reason,
                });
            }
            // Ranges come in id order; within one the aggregate's order is unspecified, which is
            // fine: RFC 5280 sets no order for CRL entries.
            for row in rows {
                each(row)?;
            }
            from = to;
        }
        Ok(())
    }

    /// The DER of the newest complete CRL, or of shard `shard`'s: what `GET /crl` serves, read
    /// alone (relying parties fetch it far more often than anything else).
    pub async fn latest_crl_der(&self, shard: Option<i64>) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = match shard {
            None => {
                sqlx::query_as(
                    "SELECT crl_der FROM crl_history WHERE crl_shard IS NULL ORDER BY crl_number DESC LIMIT 1",
                )
                .fetch_optional(&self.read)
                .await?
            }
            Some(k) => {
                sqlx::query_as(
                    "SELECT crl_der FROM crl_history WHERE crl_shard = $1 ORDER BY crl_number DESC LIMIT 1",
                )
                .bind(k)
                .fetch_optional(&self.read)
                .await?
            }
        };
        Ok(row.map(|(der,)| der))
    }

    /// The newest complete CRL (every revoked, unexpired certificate of the issuer).
    pub async fn latest_crl(&self) -> Result<Option<CrlRecord>> {
        sqlx::query_as::<_, CrlRow>(
            "SELECT crl_number, issuer_ca_id, this_update, next_update, revoked_count, crl_der, fingerprint_sha256, created_at, crl_shard
             FROM crl_history WHERE crl_shard IS NULL ORDER BY crl_number DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?
        .map(CrlRecord::try_from)
        .transpose()
    }

    /// The newest CRL of every scope (each shard and the complete CRL), without its DER: what
    /// `/metrics` reports. O(CRLs kept) on the (crl_shard, crl_number) index.
    pub async fn newest_crls(&self) -> Result<Vec<CrlSummary>> {
        let rows: Vec<(Option<i64>, i64, i64, String, i64)> = sqlx::query_as(
            "SELECT h.crl_shard, h.crl_number, h.revoked_count, h.next_update, CAST(length(h.crl_der) AS BIGINT)
             FROM crl_history h
             JOIN (SELECT MAX(crl_number) AS n FROM crl_history GROUP BY crl_shard) newest ON h.crl_number = newest.n",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(shard, crl_number, revoked_count, next_update, bytes)| {
                Ok(CrlSummary {
                    shard,
                    crl_number,
                    revoked_count,
                    next_update: parse_time(&next_update)?,
                    bytes,
                })
            })
            .collect()
    }

    /// How far the newest CRL of each scope of `issuer_ca_id` reaches: (shard, the highest
    /// revocation id committed before it was read; 0 for a CRL made before this was recorded).
    /// `None` as shard: the complete CRL. O(CRLs kept) on the (crl_shard, crl_number) index.
    pub async fn crl_coverage(&self, issuer_ca_id: i64) -> Result<Vec<(Option<i64>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT h.crl_shard, COALESCE(h.covers_revocation_id, 0) FROM crl_history h
             JOIN (SELECT MAX(crl_number) AS n FROM crl_history WHERE issuer_ca_id = $1 GROUP BY crl_shard) newest
               ON h.crl_number = newest.n",
        )
        .bind(issuer_ca_id)
        .fetch_all(&self.read)
        .await?)
    }

    /// Revocations after `after_id`, oldest first, each as (id, issuer, CRL shard): what the CRL
    /// publisher follows to see revocations made through every replica.
    pub async fn revocation_scopes_after(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64, Option<i64>)>> {
        Ok(sqlx::query_as(
            "SELECT id, issuer_ca_id, crl_shard FROM revoked_certificates WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    /// The shards that have a CRL, each with the `this_update` of its newest one.
    pub async fn shard_crl_updates(&self) -> Result<Vec<(i64, OffsetDateTime)>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT crl_shard, MAX(this_update) FROM crl_history WHERE crl_shard IS NOT NULL GROUP BY crl_shard",
        )
        .fetch_all(&self.read)
        .await?;
        rows.into_iter()
            .map(|(shard, at)| Ok((shard, parse_time(&at)?)))
            .collect()
    }

    /// Reserve the next CRL number, let `sign` build the CRL for it, and store it — all inside one
    /// write transaction, so two CRLs never share a number and numbers only grow.
    ///
    /// `shard`: `None` builds the complete CRL, `Some(k)` the CRL of shard `k` only.
    ///
    /// Rows are read in chunks and parsed into entries one chunk at a time, so a million-entry CRL
    /// never holds the rows' text and the entries at once.
    ///
    /// Returns the stored CRL and the build's own work: reading its rows and signing, without the
    /// waits for the build lock, a connection or the write (which follow the load, not the CRL).
    pub async fn insert_crl_with<F>(
        &self,
        issuer_ca_id: i64,
        shard: Option<i64>,
        audit: &AuditEntry,
        sign: F,
    ) -> Result<(CrlRecord, std::time::Duration)>
    where
        F: FnOnce(i64, Vec<RevokedRow>) -> std::result::Result<SignedCrl, String> + Send + 'static,
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
        // Read before the rows: every revocation up to this id is committed and visible to the
        // read below (one committed after this read may be listed too; never one fewer).
        let (covers,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM revoked_certificates")
                .fetch_one(&self.crl_read_pool())
                .await?;
        let now_text = format_time(OffsetDateTime::now_utc());
        // Entries of certificates that have expired are dropped (RFC 5280 §3.3): the CRL's size
        // follows the revoked-and-still-valid certificates, not history.
        let pool = self.crl_read_pool();
        let started = std::time::Instant::now();
        let mut revoked = Vec::new();
        self.read_revocations(&pool, issuer_ca_id, shard, &now_text, |row| {
            revoked.push(row);
            Ok(())
        })
        .await?;
        let read = started.elapsed();
        let signed = tokio::task::spawn_blocking(move || sign(number, revoked))
            .await
            .map_err(|e| StoreError::Corrupt(format!("CRL signing task: {e}")))?
            .map_err(StoreError::Corrupt)?;
        let signed_at = started.elapsed();
        let mut tx = self.begin_write().await?;
        let (created_at, now) = crate::now_stored();
        sqlx::query(
            "INSERT INTO crl_history (crl_number, issuer_ca_id, this_update, next_update, revoked_count, crl_der, fingerprint_sha256, created_at, crl_shard, covers_revocation_id)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
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
        .bind(covers)
        .execute(&mut *tx)
        .await?;
        let mut audit = audit.clone();
        audit.target_id = Some(match shard {
            None => number.to_string(),
            Some(k) => format!("{number} (shard {k})"),
        });
        append(&mut tx, &audit).await?;
        tx.commit().await?;
        tracing::debug!(
            entries = signed.revoked_count,
            read_ms = read.as_millis() as u64,
            sign_ms = (signed_at - read).as_millis() as u64,
            store_ms = (started.elapsed() - signed_at).as_millis() as u64,
            "CRL stored"
        );
        let record = CrlRecord {
            crl_number: number,
            issuer_ca_id,
            this_update: signed.this_update,
            next_update: signed.next_update,
            revoked_count: signed.revoked_count,
            crl_der: signed.der,
            fingerprint_sha256: signed.fingerprint_sha256,
            created_at,
            crl_shard: shard,
        };
        Ok((record, signed_at))
    }
}
