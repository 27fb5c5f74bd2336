//! Storage authority of VCC PKI: the only code that touches the database.
//!
//! SQLite (WAL, `synchronous=FULL`) is the embedded default. Writes go through a single
//! connection so that the audit hash chain and CRL numbers are serialised; reads use a pool.
//! Every state change writes its audit row in the same transaction as the change.

mod audit;
mod ca;
mod certificates;
mod crl;
mod services;
mod tokens;

pub use audit::{AuditEntry, AuditOutcome, AuditVerification};
pub use ca::{CaLevel, CaRecord, NewCa};
pub use certificates::{
    CertificateFilter, CertificatePage, CertificateRecord, IssueEffects, NewCertificate,
    RevokedRecord,
};
pub use crl::{CrlRecord, SignedCrl};
pub use services::{NewService, ServiceRecord};
pub use tokens::TokenRecord;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}' (expected sqlite://PATH)")]
    UnsupportedUrl(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Counts for `GET /api/health` and `db stats`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Statistics {
    pub certificates_total: i64,
    pub certificates_active: i64,
    pub certificates_revoked: i64,
    pub certificates_expired: i64,
    pub certificates_expiring: i64,
    pub services: i64,
    pub crls: i64,
    pub audit_rows: i64,
    pub tables: Vec<(String, i64)>,
}

#[derive(Clone)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(sqlite)")
    }
}

/// The 8 tables and 4 views every backend carries (SPEC §7).
pub const SEED_TABLES: [&str; 8] = [
    "root_ca",
    "intermediate_ca",
    "certificates",
    "services",
    "revoked_certificates",
    "certificate_rotation_schedule",
    "crl_history",
    "audit_log",
];
pub const SEED_VIEWS: [&str; 4] = [
    "v_active_certificates",
    "v_certificate_status",
    "v_service_certificates",
    "v_expiring_certificates",
];

impl Store {
    /// Open (creating if missing) and migrate the database at `url` (`sqlite://path`).
    pub async fn open(url: &str) -> Result<Self> {
        if !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk (fsync of the WAL) before a certificate leaves the server.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self { read, write })
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn statistics(&self) -> Result<Statistics> {
        let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                    COALESCE(SUM(status = 'active'), 0),
                    COALESCE(SUM(status = 'revoked'), 0),
                    COALESCE(SUM(status = 'expired'), 0),
                    COALESCE(SUM(status = 'expiring'), 0)
             FROM v_certificate_status",
        )
        .fetch_one(&self.read)
        .await?;
        let mut tables = Vec::new();
        for table in SEED_TABLES.iter().chain(["api_tokens"].iter()) {
            // Table names come from the constant list above, never from input.
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(&self.read)
                    .await?;
            tables.push((table.to_string(), n));
        }
        let count = |name: &str| {
            tables
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        Ok(Statistics {
            certificates_total: row.0,
            certificates_active: row.1 + row.4,
            certificates_revoked: row.2,
            certificates_expired: row.3,
            certificates_expiring: row.4,
            services: count("services"),
            crls: count("crl_history"),
            audit_rows: count("audit_log"),
            tables,
        })
    }

    /// Names of the tables and views present, for schema checks.
    pub async fn schema_objects(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?)
    }
}

/// RFC 3339 UTC text with second precision: the one time format in the database.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("time '{s}': {e}")))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn parse_json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}
