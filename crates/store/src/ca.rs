//! Root and intermediate CA records. Keys are stored only as encrypted PKCS#8 PEM.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_time, Result, Store, StoreError};
use sqlx::Row;
use time::OffsetDateTime;
use vcc_pki_core::{KeyType, Serial};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaLevel {
    Root,
    Intermediate,
}

impl CaLevel {
    fn table(self) -> &'static str {
        match self {
            Self::Root => "root_ca",
            Self::Intermediate => "intermediate_ca",
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewCa {
    pub common_name: String,
    pub subject: String,
    pub serial_number: Serial,
    pub key_type: KeyType,
    pub certificate_der: Vec<u8>,
    pub encrypted_private_key: String,
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A stored CA. Only the active CA of each level is read (a replaced one is `retired`).
#[derive(Debug, Clone)]
pub struct CaRecord {
    pub id: i64,
    pub common_name: String,
    pub subject: String,
    pub serial_number: Serial,
    pub key_type: KeyType,
    pub certificate_der: Vec<u8>,
    pub encrypted_private_key: String,
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct CaRow {
    id: i64,
    common_name: String,
    subject: String,
    serial_number: String,
    key_type: String,
    certificate_der: Vec<u8>,
    encrypted_private_key: String,
    fingerprint_sha256: String,
    not_before: String,
    not_after: String,
    created_at: String,
}

impl TryFrom<CaRow> for CaRecord {
    type Error = StoreError;

    fn try_from(r: CaRow) -> Result<Self> {
        Ok(Self {
            id: r.id,
            common_name: r.common_name,
            subject: r.subject,
            serial_number: crate::parse_serial(&r.serial_number)?,
            key_type: crate::parse_key_type(&r.key_type)?,
            certificate_der: r.certificate_der,
            encrypted_private_key: r.encrypted_private_key,
            fingerprint_sha256: r.fingerprint_sha256,
            not_before: parse_time(&r.not_before)?,
            not_after: parse_time(&r.not_after)?,
            created_at: parse_time(&r.created_at)?,
        })
    }
}

const CA_COLUMNS: &str =
    "id, common_name, subject, serial_number, key_type, certificate_der, encrypted_private_key, \
                          fingerprint_sha256, not_before, not_after, created_at";

/// Ids of the active root and intermediate CA records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActiveCaIds {
    pub root: Option<i64>,
    pub intermediate: Option<i64>,
}

impl Store {
    /// Which root and intermediate are active: one cheap read, polled by every replica.
    pub async fn active_ca_ids(&self) -> Result<ActiveCaIds> {
        let (root, intermediate): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MAX(id) FROM root_ca WHERE status = 'active'), \
                    (SELECT MAX(id) FROM intermediate_ca WHERE status = 'active')",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(ActiveCaIds { root, intermediate })
    }

    /// The active CA of a level, if one exists.
    pub async fn active_ca(&self, level: CaLevel) -> Result<Option<CaRecord>> {
        let sql = format!(
            "SELECT {CA_COLUMNS} FROM {} WHERE status = 'active' ORDER BY id DESC LIMIT 1",
            level.table()
        );
        sqlx::query_as::<_, CaRow>(sqlx::AssertSqlSafe(sql))
            .fetch_optional(&self.read)
            .await?
            .map(CaRecord::try_from)
            .transpose()
    }

    /// Store a new CA; refuses when an active one of the same level exists (409).
    pub async fn insert_ca(&self, level: CaLevel, ca: &NewCa, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let existing: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM {} WHERE status = 'active' LIMIT 1",
            level.table()
        )))
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_some() {
            return Err(StoreError::Conflict(match level {
                CaLevel::Root => "a root CA already exists".into(),
                CaLevel::Intermediate => "an intermediate CA already exists".into(),
            }));
        }
        let now = format_time(OffsetDateTime::now_utc());
        let id = match level {
            CaLevel::Root => {
                sqlx::query(
                    "INSERT INTO root_ca (common_name, subject, serial_number, key_type, certificate_der, encrypted_private_key,
                     fingerprint_sha256, not_before, not_after, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING id",
                )
                .bind(&ca.common_name)
                .bind(&ca.subject)
                .bind(ca.serial_number.to_hex())
                .bind(ca.key_type.as_str())
                .bind(&ca.certificate_der)
                .bind(&ca.encrypted_private_key)
                .bind(&ca.fingerprint_sha256)
                .bind(format_time(ca.not_before))
                .bind(format_time(ca.not_after))
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?
            }
            CaLevel::Intermediate => {
                let root: Option<(i64,)> = sqlx::query_as("SELECT id FROM root_ca WHERE status = 'active' LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
                let root_id = root.ok_or_else(|| StoreError::Conflict("no root CA exists yet".into()))?.0;
                sqlx::query(
                    "INSERT INTO intermediate_ca (root_ca_id, common_name, subject, serial_number, key_type, certificate_der,
                     encrypted_private_key, fingerprint_sha256, not_before, not_after, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
                )
                .bind(root_id)
                .bind(&ca.common_name)
                .bind(&ca.subject)
                .bind(ca.serial_number.to_hex())
                .bind(ca.key_type.as_str())
                .bind(&ca.certificate_der)
                .bind(&ca.encrypted_private_key)
                .bind(&ca.fingerprint_sha256)
                .bind(format_time(ca.not_before))
                .bind(format_time(ca.not_after))
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?
                .try_get::<i64, _>(0)?
            }
        };
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }
}
