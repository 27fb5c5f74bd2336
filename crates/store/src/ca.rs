//! Root and intermediate CA records. A CA key is stored only as encrypted PKCS#8 PEM, or as the
//! PKCS#11 URI of a key that never leaves its token.
use crate::audit::{append, AuditEntry};
use crate::{format_time, parse_time, Result, Store, StoreError};
use sqlx::{Any, Row, Transaction};
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

/// Where a CA's private key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaKey {
    /// PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC) PEM, opened with the CA password.
    EncryptedPem(String),
    /// An RFC 7512 `pkcs11:` URI: the key is inside a token.
    Pkcs11Uri(String),
    /// No key here: an offline root, kept by `vcc-pki ceremony` on another machine. Stored as an
    /// empty encrypted_private_key and no key_uri.
    Offline,
}

impl CaKey {
    /// The two columns: (encrypted_private_key, key_uri).
    fn columns(&self) -> (&str, Option<&str>) {
        match self {
            Self::EncryptedPem(pem) => (pem, None),
            Self::Pkcs11Uri(uri) => ("", Some(uri)),
            Self::Offline => ("", None),
        }
    }

    /// Where the key is, for people: "encrypted in the store" or the token URI.
    pub fn describe(&self) -> String {
        match self {
            Self::EncryptedPem(_) => "encrypted PKCS#8 in the store".into(),
            Self::Pkcs11Uri(uri) => format!("PKCS#11 token: {uri}"),
            Self::Offline => "offline (not on this server)".into(),
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
    pub key: CaKey,
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
    pub key: CaKey,
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
    key_uri: Option<String>,
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
            key: match r.key_uri {
                Some(uri) => CaKey::Pkcs11Uri(uri),
                None if r.encrypted_private_key.is_empty() => CaKey::Offline,
                None => CaKey::EncryptedPem(r.encrypted_private_key),
            },
            fingerprint_sha256: r.fingerprint_sha256,
            not_before: parse_time(&r.not_before)?,
            not_after: parse_time(&r.not_after)?,
            created_at: parse_time(&r.created_at)?,
        })
    }
}

const CA_COLUMNS: &str =
    "id, common_name, subject, serial_number, key_type, certificate_der, encrypted_private_key, \
                          key_uri, fingerprint_sha256, not_before, not_after, created_at";

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
        let id = insert_ca_in(&mut tx, level, ca).await?;
        append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }
}

/// Insert a CA record inside `tx`; refuses when an active one of the same level exists (409).
pub(crate) async fn insert_ca_in(
    tx: &mut Transaction<'_, Any>,
    level: CaLevel,
    ca: &NewCa,
) -> Result<i64> {
    let existing: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {} WHERE status = 'active' LIMIT 1",
        level.table()
    )))
    .fetch_optional(&mut **tx)
    .await?;
    if existing.is_some() {
        return Err(StoreError::Conflict(match level {
            CaLevel::Root => "a root CA already exists".into(),
            CaLevel::Intermediate => "an intermediate CA already exists".into(),
        }));
    }
    let now = format_time(OffsetDateTime::now_utc());
    let (encrypted_private_key, key_uri) = ca.key.columns();
    let id = match level {
            CaLevel::Root => {
                sqlx::query(
                    "INSERT INTO root_ca (common_name, subject, serial_number, key_type, certificate_der, encrypted_private_key,
                     key_uri, fingerprint_sha256, not_before, not_after, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING id",
                )
                .bind(&ca.common_name)
                .bind(&ca.subject)
                .bind(ca.serial_number.to_hex())
                .bind(ca.key_type.as_str())
                .bind(&ca.certificate_der)
                .bind(encrypted_private_key)
                .bind(key_uri)
                .bind(&ca.fingerprint_sha256)
                .bind(format_time(ca.not_before))
                .bind(format_time(ca.not_after))
                .bind(&now)
                .fetch_one(&mut **tx)
                .await?
                .try_get::<i64, _>(0)?
            }
            CaLevel::Intermediate => {
                let root: Option<(i64,)> = sqlx::query_as("SELECT id FROM root_ca WHERE status = 'active' LIMIT 1")
                    .fetch_optional(&mut **tx)
                    .await?;
                let root_id = root.ok_or_else(|| StoreError::Conflict("no root CA exists yet".into()))?.0;
                sqlx::query(
                    "INSERT INTO intermediate_ca (root_ca_id, common_name, subject, serial_number, key_type, certificate_der,
                     encrypted_private_key, key_uri, fingerprint_sha256, not_before, not_after, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING id",
                )
                .bind(root_id)
                .bind(&ca.common_name)
                .bind(&ca.subject)
                .bind(ca.serial_number.to_hex())
                .bind(ca.key_type.as_str())
                .bind(&ca.certificate_der)
                .bind(encrypted_private_key)
                .bind(key_uri)
                .bind(&ca.fingerprint_sha256)
                .bind(format_time(ca.not_before))
                .bind(format_time(ca.not_after))
                .bind(&now)
                .fetch_one(&mut **tx)
                .await?
                .try_get::<i64, _>(0)?
            }
        };
    Ok(id)
}
