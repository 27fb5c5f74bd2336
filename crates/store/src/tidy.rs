//! Tidy by policy (SPEC §10, `serve --tidy-after`): what has been dead for longer than the
//! retention is removed or emptied, in one write transaction with its audit row. Kept: every
//! certificate row (serial, names, dates, status; only its DER goes), every revocation, every
//! audit row, the newest CRL of each issuer and shard, and everything still valid. A revoked
//! certificate stays on the CRLs until it expires whatever tidy does: CRLs list the revoked
//! certificates that have not expired (`crl.rs`), not what tidy left.
use crate::audit::append;
use crate::{format_time, AuditEntry, Result, Store};
use time::OffsetDateTime;

/// What one tidy removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TidyReport {
    /// Certificates expired before the cutoff whose DER was dropped (their rows stay).
    pub certificates_emptied: i64,
    /// Enrollment tokens past their expiry, cleared from their services.
    pub enrollment_tokens_cleared: i64,
    /// CRLs whose nextUpdate is before the cutoff and that are not the newest of their scope.
    pub crls_removed: i64,
    /// ACME orders expired before the cutoff (their certificates stay).
    pub acme_orders_removed: i64,
    /// ACME authorizations (with their challenges) expired before the cutoff and no order's.
    pub acme_authorizations_removed: i64,
    /// Spent ACME nonces past their expiry.
    pub acme_nonces_removed: i64,
}

impl Store {
    /// Remove what was dead before `cutoff` (now − retention); tokens and nonces past `now`.
    /// The audit row `audit` gets the counts and the cutoff in its details.
    pub async fn tidy(
        &self,
        now: OffsetDateTime,
        cutoff: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<TidyReport> {
        let (now, cutoff) = (format_time(now), format_time(cutoff));
        let mut tx = self.begin_write().await?;
        // Through the expiry index; an emptied DER is not emptied again.
        let certificates_emptied = sqlx::query(
            "UPDATE certificates SET certificate_der = $1
             WHERE not_after < $2 AND length(certificate_der) > 0",
        )
        .bind(Vec::<u8>::new())
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        let enrollment_tokens_cleared = sqlx::query(
            "UPDATE services SET enrollment_token_hash = NULL, enrollment_expires_at = NULL
             WHERE enrollment_token_hash IS NOT NULL AND enrollment_expires_at < $1",
        )
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        let crls_removed = sqlx::query(
            "DELETE FROM crl_history WHERE next_update < $1 AND id NOT IN (
                 SELECT MAX(id) FROM crl_history GROUP BY issuer_ca_id, crl_shard)",
        )
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        sqlx::query(
            "DELETE FROM acme_order_authorizations
             WHERE order_id IN (SELECT id FROM acme_orders WHERE expires_at < $1)",
        )
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?;
        let acme_orders_removed = sqlx::query("DELETE FROM acme_orders WHERE expires_at < $1")
            .bind(&cutoff)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
        let orphaned = "SELECT id FROM acme_authorizations WHERE expires_at < $1
             AND id NOT IN (SELECT authorization_id FROM acme_order_authorizations)";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM acme_challenges WHERE authorization_id IN ({orphaned})"
        )))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?;
        let acme_authorizations_removed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM acme_authorizations WHERE id IN ({orphaned})"
        )))
        .bind(&cutoff)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
        let acme_nonces_removed = sqlx::query("DELETE FROM acme_used_nonces WHERE expires_at < $1")
            .bind(&now)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
        let report = TidyReport {
            certificates_emptied,
            enrollment_tokens_cleared,
            crls_removed,
            acme_orders_removed,
            acme_authorizations_removed,
            acme_nonces_removed,
        };
        let mut entry = audit.clone();
        entry.set_detail("cutoff", serde_json::Value::String(cutoff));
        entry.set_detail(
            "removed",
            serde_json::to_value(report).unwrap_or(serde_json::Value::Null),
        );
        append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(report)
    }
}
