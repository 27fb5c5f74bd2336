//! API tokens (roles `admin` and read-only `auditor`), stored only as SHA-256 hashes of 256-bit
//! random values.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_time, Result, Store};
use sqlx::Row;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

type TokenRow = (i64, String, String, String, String, Option<String>);

/// An unrevoked token, as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub token_hash: String,
    /// `admin` or `auditor`.
    pub role: String,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = crate::StoreError;

    fn try_from((id, name, role, token_hash, created_at, revoked_at): TokenRow) -> Result<Self> {
        Ok(Self {
            id,
            name,
            role,
            token_hash,
            created_at: parse_time(&created_at)?,
            revoked_at: revoked_at.as_deref().map(parse_time).transpose()?,
        })
    }
}

impl Store {
    /// A new token of `role` (`admin` or `auditor`).
    pub async fn insert_token(
        &self,
        name: &str,
        role: &str,
        token_hash: &str,
        audit: &AuditEntry,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = sqlx::query(
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(role)
        .bind(token_hash)
        .bind(format_time(OffsetDateTime::now_utc()))
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        self.admin_tokens.clear();
        Ok(id)
    }

    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query_as::<_, TokenRow>(
            "SELECT id, name, role, token_hash, created_at, revoked_at FROM api_tokens ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(TokenRecord::try_from)
        .collect()
    }

    /// The tokens that are not revoked, with their roles.
    ///
    /// Cached for [`ADMIN_TOKEN_CACHE_TTL`]: a token revoked through another replica stops working
    /// here within that time (at once when revoked through this one).
    pub async fn active_tokens(&self) -> Result<Arc<Vec<ActiveToken>>> {
        if let Some(tokens) = self.admin_tokens.fresh() {
            return Ok(tokens);
        }
        self.reload_active_tokens().await
    }

    /// Read the active tokens from the database now (a presented token missed the cache: it
    /// may have been created through another replica or the CLI a moment ago).
    pub async fn reload_active_tokens(&self) -> Result<Arc<Vec<ActiveToken>>> {
        let generation = self.admin_tokens.generation();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT token_hash, role FROM api_tokens WHERE revoked_at IS NULL")
                .fetch_all(&self.read)
                .await?;
        let tokens = Arc::new(
            rows.into_iter()
                .map(|(token_hash, role)| ActiveToken { token_hash, role })
                .collect::<Vec<_>>(),
        );
        self.admin_tokens.put(generation, tokens.clone());
        Ok(tokens)
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
        self.admin_tokens.clear();
        Ok(done.rows_affected() == 1)
    }
}

/// How long the admin token hashes read from the database are trusted before the next read.
pub const ADMIN_TOKEN_CACHE_TTL: Duration = Duration::from_secs(2);

/// The cached hashes, with a generation that every change of the tokens moves: a read that began
/// before a revocation committed must not put the revoked hash back.
#[derive(Debug, Default)]
pub(crate) struct AdminTokenCache(Mutex<(u64, Option<CachedHashes>)>);

/// When the hashes were read, and the hashes.
type CachedHashes = (Instant, Arc<Vec<ActiveToken>>);

impl AdminTokenCache {
    fn fresh(&self) -> Option<Arc<Vec<ActiveToken>>> {
        let guard = self.0.lock().ok()?;
        guard
            .1
            .as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < ADMIN_TOKEN_CACHE_TTL)
            .map(|(_, hashes)| hashes.clone())
    }

    /// The generation to hand to [`Self::put`]; take it before reading the database.
    fn generation(&self) -> u64 {
        self.0.lock().map(|g| g.0).unwrap_or(u64::MAX)
    }

    fn put(&self, generation: u64, hashes: Arc<Vec<ActiveToken>>) {
        if let Ok(mut guard) = self.0.lock() {
            if guard.0 == generation {
                guard.1 = Some((Instant::now(), hashes));
            }
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut guard) = self.0.lock() {
            guard.0 = guard.0.wrapping_add(1);
            guard.1 = None;
        }
    }
}
