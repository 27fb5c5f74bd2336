//! ACME work cut off by a crash or a restart: challenges left `processing` (their validation is
//! restarted) and orders left `processing`. Such an order has no certificate — issuance
//! completes the order in its own transaction — so it becomes `invalid`, and the client orders
//! again. Every replica sweeps; each row is claimed by a conditional update, so one wins.
use crate::audit::{append, AuditEntry};
use crate::{format_time, Result, Store};
use time::OffsetDateTime;

impl Store {
    /// Challenges whose validation began before `before` and never ended, oldest first.
    pub async fn stale_acme_challenges(
        &self,
        before: OffsetDateTime,
        limit: i64,
    ) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM acme_challenges
             WHERE status = 'processing' AND (started_at IS NULL OR started_at < $1)
             ORDER BY started_at LIMIT $2",
        )
        .bind(format_time(before))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Claim a stale challenge for a new validation (its start time becomes now); false if
    /// another replica claimed it first or its validation ended meanwhile.
    pub async fn restart_acme_challenge(
        &self,
        id: &str,
        before: OffsetDateTime,
        audit: &AuditEntry,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_challenges SET started_at = $1
             WHERE id = $2 AND status = 'processing' AND (started_at IS NULL OR started_at < $3)",
        )
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(id)
        .bind(format_time(before))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Orders `processing` since before `before`: each becomes invalid with `problem` (JSON)
    /// and an audit row from `audit_for(order id, account id)`, in one transaction. Their ids.
    pub async fn fail_stale_acme_orders(
        &self,
        before: OffsetDateTime,
        problem: &str,
        audit_for: impl Fn(&str, &str) -> AuditEntry,
    ) -> Result<Vec<String>> {
        let before = format_time(before);
        let stale: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, account_id FROM acme_orders
             WHERE status = 'processing' AND updated_at < $1 ORDER BY updated_at LIMIT 100",
        )
        .bind(&before)
        .fetch_all(&self.read)
        .await?;
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let mut failed = Vec::new();
        for (order_id, account_id) in stale {
            let done = sqlx::query(
                "UPDATE acme_orders SET status = 'invalid', error = $1, updated_at = $2
                 WHERE id = $3 AND status = 'processing' AND updated_at < $4",
            )
            .bind(problem)
            .bind(format_time(OffsetDateTime::now_utc()))
            .bind(&order_id)
            .bind(&before)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                append(&mut tx, &audit_for(&order_id, &account_id)).await?;
                failed.push(order_id);
            }
        }
        tx.commit().await?;
        Ok(failed)
    }
}
