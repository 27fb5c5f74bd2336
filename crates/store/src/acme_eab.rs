//! External Account Binding keys (RFC 8555 §7.3.4): made by an admin, used by newAccount.
use crate::audit::{append, AuditEntry};
use crate::{format_time, json_list, parse_json_list, parse_time, Result, Store, StoreError};
use time::OffsetDateTime;

/// An EAB key and the policy it binds its accounts to. No `Debug`: it holds the HMAC key.
#[derive(Clone)]
pub struct EabKeyRecord {
    pub kid: String,
    /// base64url of the HMAC key.
    pub hmac_key: String,
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub profiles: Vec<String>,
    pub reusable: bool,
    pub expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub used_at: Option<OffsetDateTime>,
}

type EabRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);
const EAB_COLUMNS: &str = "kid, hmac_key, allowed_dns, allowed_ip, profiles, reusable, expires_at, created_at, revoked_at, used_at";

impl TryFrom<EabRow> for EabKeyRecord {
    type Error = StoreError;
    fn try_from(row: EabRow) -> Result<Self> {
        let (kid, hmac_key, dns, ip, profiles, reusable, expires, created, revoked, used) = row;
        Ok(Self {
            kid,
            hmac_key,
            allowed_dns: parse_json_list(&dns),
            allowed_ip: parse_json_list(&ip),
            profiles: parse_json_list(&profiles),
            reusable: reusable != 0,
            expires_at: expires.as_deref().map(parse_time).transpose()?,
            created_at: parse_time(&created)?,
            revoked_at: revoked.as_deref().map(parse_time).transpose()?,
            used_at: used.as_deref().map(parse_time).transpose()?,
        })
    }
}

impl Store {
    pub async fn insert_eab_key(&self, key: &EabKeyRecord, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO acme_eab_keys (kid, hmac_key, allowed_dns, allowed_ip, profiles, reusable, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&key.kid)
        .bind(&key.hmac_key)
        .bind(json_list(&key.allowed_dns))
        .bind(json_list(&key.allowed_ip))
        .bind(json_list(&key.profiles))
        .bind(i64::from(key.reusable))
        .bind(key.expires_at.map(format_time))
        .bind(format_time(key.created_at))
        .execute(&mut *tx)
        .await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn eab_key(&self, kid: &str) -> Result<Option<EabKeyRecord>> {
        sqlx::query_as::<_, EabRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {EAB_COLUMNS} FROM acme_eab_keys WHERE kid = $1"
        )))
        .bind(kid)
        .fetch_optional(&self.read)
        .await?
        .map(EabKeyRecord::try_from)
        .transpose()
    }

    pub async fn eab_keys(&self) -> Result<Vec<EabKeyRecord>> {
        sqlx::query_as::<_, EabRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {EAB_COLUMNS} FROM acme_eab_keys ORDER BY created_at, kid"
        )))
        .fetch_all(&self.read)
        .await?
        .into_iter()
        .map(EabKeyRecord::try_from)
        .collect()
    }

    /// Revoke an EAB key; false if it was unknown or revoked already.
    pub async fn revoke_eab_key(&self, kid: &str, audit: &AuditEntry) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE acme_eab_keys SET revoked_at = $1 WHERE kid = $2 AND revoked_at IS NULL",
        )
        .bind(format_time(OffsetDateTime::now_utc()))
        .bind(kid)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Inside newAccount's transaction: use up a single-use key (fails if it was used meanwhile).
pub(crate) async fn use_eab_key_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kid: &str,
) -> Result<()> {
    let now = format_time(OffsetDateTime::now_utc());
    let done = sqlx::query(
        "UPDATE acme_eab_keys SET used_at = $1
         WHERE kid = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)
           AND (reusable <> 0 OR used_at IS NULL)",
    )
    .bind(&now)
    .bind(kid)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(
            "the external account key is used, revoked or expired".into(),
        ));
    }
    Ok(())
}
