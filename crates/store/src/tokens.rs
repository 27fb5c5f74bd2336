//! Admin API tokens, stored only as SHA-256 hashes of 256-bit random values.
use crate::audit::{append, AuditEntry};
use crate::{format_time, Result, Store};
use sqlx::Row;
use time::OffsetDateTime;

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    #[serde(skip)]
    pub token_hash: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl Store {
    pub async fn insert_admin_token(
        &self,
        name: &str,
        token_hash: &str,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, 'admin', $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(token_hash)
        .bind(format_time(OffsetDateTime::now_utc()))
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        Ok(sqlx::query_as(
            "SELECT id, name, role, token_hash, created_at, revoked_at FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?)
    }

    /// Hashes of the admin tokens that are not revoked.
    pub async fn active_admin_token_hashes(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT token_hash FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub async fn revoke_token(&self, id: i64, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
        )
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
