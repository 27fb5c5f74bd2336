//! Storage authority of VCC PKI: the only code that touches the database.
//!
//! SQLite (WAL, `synchronous=FULL`) is the embedded default. Writes go through a single
//! connection so that the audit hash chain and CRL numbers are serialised; reads use a pool.
//! Every state change writes its audit row in the same transaction as the change.

mod acme;
mod acme_eab;
mod acme_renewal;
mod acme_sweep;
mod audit;
mod backup;
mod batch_insert;
#[cfg(feature = "bench")]
mod bench;
mod ca;
mod certificates;
mod crl;
mod group_commit;
mod inventory;
mod key_compromise;
mod pending_ca;
mod refusal_audit;
mod services;
mod sqlite_writer;
mod statements;
pub mod telemetry;
mod tidy;
mod tokens;

pub use audit::{AuditEntry, AuditOutcome, AuditVerification};
pub use backup::{
    describe_sqlite_snapshot, snapshot_sqlite, sqlite_path, CheckFinding, SchemaStatus,
    SnapshotSummary,
};

/// Why a write transaction refused an issuance: rules re-checked inside it, so that a concurrent
/// change cannot slip between the authority's check and the insert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The enrollment token was used by a concurrent request.
    #[error("the enrollment token was used meanwhile")]
    EnrollmentUsed,
    /// The certificate being renewed is no longer active (revoked meanwhile).
    #[error("certificate {0} is revoked and cannot be renewed")]
    PredecessorNotActive(vcc_pki_core::Serial),
    /// The subject key was revoked for keyCompromise.
    #[error("this public key was revoked for keyCompromise and is blocked")]
    KeyCompromised,
    /// The ACME order being finalized is no longer processing.
    #[error("the ACME order is no longer being finalized")]
    OrderNotProcessing,
}
pub use acme::{
    AcmeAccountRecord, AcmeAuthorizationRecord, AcmeChallengeRecord, AcmeIdentifier,
    AcmeOrderRecord, AuthorizationLink, ChallengeOutcome, NewAcmeAuthorization, NewAcmeOrder,
};
pub use acme_eab::EabKeyRecord;
pub use acme_renewal::{RenewalOverride, RenewalSelection};
pub use ca::{ActiveCaIds, CaKey, CaLevel, CaRecord, NewCa};
pub use certificates::{
    CertificateRecord, CertificateStatus, IssueEffects, NewCertificate, RevocationTarget,
    RevokedRecord, EXPIRING_WITHIN,
};
pub use crl::{CrlRecord, CrlSummary, RevokedRow, SignedCrl};
pub use inventory::{
    CertificateCursor, CertificateFilter, CertificatePage, CertificateSearch,
    MIN_FINGERPRINT_PREFIX, MIN_SERIAL_PREFIX,
};
pub use pending_ca::{NewPendingCa, PendingCa};
pub use services::{NewService, ServiceRecord};
pub use tidy::TidyReport;
pub use tokens::{ActiveToken, TokenRecord};

use sqlx::pool::{Pool, PoolOptions};
use sqlx::{Any, Transaction};
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
    /// The database could not take the write (connection lost, writer stopped).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Policy enforced inside a transaction refused the change.
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unsupported database URL '{0}' (expected sqlite://PATH or postgres://…)")]
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

/// A database URL fit for a log or an error message: the password (`user:PASSWORD@` and any
/// `password=` parameter) replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = &out[authority_start..authority_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(authority_start + colon + 1..authority_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_url;

    #[test]
    fn passwords_never_leave_a_database_url() {
        assert_eq!(
            redacted_url("postgres://vcc:s3cr3t@db:5432/pki"),
            "postgres://vcc:***@db:5432/pki"
        );
        assert_eq!(
            redacted_url("postgresql://vcc:p%40ss@db/pki?sslmode=require&password=x2"),
            "postgresql://vcc:***@db/pki?sslmode=require&password=***"
        );
        assert_eq!(redacted_url("postgres://db/pki"), "postgres://db/pki");
        assert_eq!(
            redacted_url("sqlite:///var/lib/vcc/pki.db"),
            "sqlite:///var/lib/vcc/pki.db"
        );
    }
}

/// How long [`Store::open`] waits for a PostgreSQL server that does not answer yet.
pub const DEFAULT_DATABASE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One store over either backend. The SQL is shared (`$N` placeholders, times as RFC 3339 text
/// compared as text); only migrations and write serialisation differ per backend.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    read: Pool<Any>,
    write: Pool<Any>,
    group_commit: group_commit::GroupCommit,
    /// Serialises CRL builds within this process (PostgreSQL adds a session advisory lock).
    crl_build: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Hashes of the active admin tokens, read at most once per [`tokens::ADMIN_TOKEN_CACHE_TTL`]
    /// (every API request checks them); cleared at once when this process adds or revokes one.
    admin_tokens: std::sync::Arc<tokens::AdminTokenCache>,
    /// How many refusal rows may still be written one by one (see `refusal_audit`).
    refusals: refusal_audit::SharedBudget,
    /// Alive while any clone of this store is: background tasks (the WAL checkpointer) hold a
    /// weak reference and stop when it is gone.
    _alive: std::sync::Arc<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

/// The service id of the server's own TLS certificates.
pub const SERVER_SERVICE_ID: &str = "vcc-pki-server";
/// The service id of the OCSP responder's signing certificates.
pub const OCSP_SERVICE_ID: &str = "vcc-pki-ocsp";

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

/// Key of the PostgreSQL advisory lock every write transaction takes: it serialises the audit hash
/// chain and CRL numbers across replicas, as the single write connection does on SQLite.
const SQLITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL";

const WRITE_LOCK_KEY: i64 = 0x7663_6370_6b69; // "vccpki"

impl Store {
    /// Open (creating if missing) and migrate the database at `url` (`sqlite://path` or `postgres://…`).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_waiting(url, DEFAULT_DATABASE_WAIT).await
    }

    /// As [`Store::open`], waiting at most `wait` for a PostgreSQL server that is not up yet
    /// (SQLite does not wait).
    pub async fn open_waiting(url: &str, wait: Duration) -> Result<Self> {
        Self::open_with(url, wait, true).await
    }

    /// Open an existing store as it is, without applying migrations and without creating a
    /// SQLite file that is not there (`db verify`: a check changes nothing).
    pub async fn open_existing(url: &str) -> Result<Self> {
        if let Some(path) = sqlite_path(url) {
            if !path.is_file() {
                return Err(StoreError::NotFound(format!(
                    "no SQLite store at {}",
                    path.display()
                )));
            }
        }
        Self::open_with(url, Duration::ZERO, false).await
    }

    async fn open_with(url: &str, wait: Duration, migrate: bool) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if url.starts_with("sqlite:") {
            Self::open_sqlite(url, migrate).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url, wait, migrate).await
        } else {
            Err(StoreError::UnsupportedUrl(redacted_url(url)))
        }
    }

    async fn open_sqlite(url: &str, migrate: bool) -> Result<Self> {
        let base = url.split('?').next().unwrap_or(url);
        // One writer: SQLite serialises writes anyway, and the audit chain needs a single appender.
        let write = PoolOptions::<Any>::new()
            .max_connections(1)
            // The group-commit writer takes this connection for every batch it stores on its own
            // connection: no ping (a round trip to SQLite's worker thread) each time.
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(30))
            .after_release(|conn, _meta| Box::pin(release_check(conn)))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    // FULL: a commit is on disk (fsync of the WAL) before a certificate leaves the server.
                    conn.execute(SQLITE_PRAGMAS).await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    // Checkpoints run on their own connection (below), off the commit path; the
                    // writer checkpoints only if the WAL passes ~40 MB because they fell behind.
                    conn.execute("PRAGMA wal_autocheckpoint = 10000").await?;
                    Ok(())
                })
            })
            .connect(&format!(
                "{base}?mode={}",
                if migrate { "rwc" } else { "rw" }
            ))
            .await?;
        if migrate {
            sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        }
        let read = PoolOptions::<Any>::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect(&format!("{base}?mode=ro"))
            .await?;
        let alive = std::sync::Arc::new(());
        spawn_wal_checkpointer(base, std::sync::Arc::downgrade(&alive)).await?;
        let group_commit = group_commit::GroupCommit::start(
            write.clone(),
            Backend::Sqlite,
            Some(base.to_string()),
        );
        Ok(Self {
            backend: Backend::Sqlite,
            read,
            write,
            group_commit,
            crl_build: Default::default(),
            admin_tokens: Default::default(),
            refusals: Default::default(),
            _alive: alive,
        }
        .with_background_writers())
    }

    async fn open_postgres(url: &str, wait: Duration, migrate: bool) -> Result<Self> {
        let pool = PoolOptions::<Any>::new()
            .max_connections(16)
            .min_connections(0)
            // A request waits at most 3 s for a connection, then gets a 503: short blips are ridden
            // out, a real outage is reported.
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(url)?;
        // Replicas starting together: the migrator holds a PostgreSQL advisory lock while it runs.
        // A server that is still starting (or restarting) is waited for, up to `wait`.
        let deadline = std::time::Instant::now() + wait;
        let mut attempt = 0;
        if migrate {
            loop {
                match sqlx::migrate!("./migrations/postgres").run(&pool).await {
                    Ok(()) => break,
                    Err(e) if std::time::Instant::now() < deadline => {
                        attempt += 1;
                        tracing::warn!(error = %e, attempt, "PostgreSQL not ready for migrations; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let group_commit = group_commit::GroupCommit::start(pool.clone(), Backend::Postgres, None);
        let alive = std::sync::Arc::new(());
        Ok(Self {
            backend: Backend::Postgres,
            read: pool.clone(),
            write: pool,
            group_commit,
            crl_build: Default::default(),
            admin_tokens: Default::default(),
            refusals: Default::default(),
            _alive: alive,
        }
        .with_background_writers())
    }

    /// `open` taking an owned URL, for spawning.
    pub async fn open_owned(url: String) -> Result<Self> {
        Self::open(&url).await
    }

    /// Hold while building a CRL: a process mutex, plus on PostgreSQL a session advisory lock on a
    /// dedicated connection so that replicas build one at a time.
    pub(crate) async fn crl_build_lock(&self) -> Result<CrlBuildGuard> {
        let local = self.crl_build.clone().lock_owned().await;
        let remote = if self.backend == Backend::Postgres {
            let mut conn = self.write.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(CRL_LOCK_KEY)
                .execute(&mut *conn)
                .await?;
            Some(conn)
        } else {
            None
        };
        Ok(CrlBuildGuard {
            _local: local,
            remote,
        })
    }

    /// The pool CRL builds read from: on SQLite the read pool (WAL snapshots of committed data),
    /// on PostgreSQL the one pool.
    pub(crate) fn crl_read_pool(&self) -> Pool<Any> {
        self.read.clone()
    }

    /// Start the tasks that live as long as the store (the refusal summary writer).
    fn with_background_writers(self) -> Self {
        refusal_audit::spawn_summary_writer(&self, std::sync::Arc::downgrade(&self._alive));
        self
    }

    /// A clone that does not keep the store alive, for its own background tasks.
    fn clone_without_life(&self) -> Self {
        Self {
            _alive: std::sync::Arc::new(()),
            ..self.clone()
        }
    }

    /// Close every connection of this store (before its files are moved or removed).
    pub async fn close(self) {
        self.read.close().await;
        self.write.close().await;
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begin a write transaction; on PostgreSQL it first takes the replica-wide write lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>> {
        begin_on(&self.write, self.backend).await
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The counts of `GET /api/health` and `db stats`, in O(days + tables): whole expiry days
    /// and row counts come from the counters the database's triggers keep (migration
    /// `counters`); only today's and the 30th day's certificates are read, through the
    /// `not_after` index, to split those two days at the current time.
    pub async fn statistics(&self) -> Result<Statistics> {
        let now_t = OffsetDateTime::now_utc();
        let soon_t = now_t + time::Duration::days(30);
        let now = format_time(now_t);
        let day = |t: OffsetDateTime| format_time(t)[..10].to_string();
        let (today, tomorrow) = (day(now_t), day(now_t + time::Duration::days(1)));
        let soon_day = day(soon_t);
        let (total, revoked, active_later, expired_earlier, expiring_between): (i64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'revoked' THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'active' AND expiry_day > $1 THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'active' AND expiry_day < $1 THEN n ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN status = 'active' AND expiry_day > $1 AND expiry_day < $2 THEN n ELSE 0 END), 0) AS BIGINT)
                 FROM certificate_counts",
            )
            .bind(&today)
            .bind(&soon_day)
            .fetch_one(&self.read)
            .await?;
        // Today's active certificates, split at now.
        let (today_live, today_expired): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN not_after > $1 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN not_after <= $1 THEN 1 ELSE 0 END), 0)
             FROM certificates WHERE not_after >= $2 AND not_after < $3 AND status = 'active'",
        )
        .bind(&now)
        .bind(&today)
        .bind(&tomorrow)
        .fetch_one(&self.read)
        .await?;
        // The 30th day's active certificates up to 30 days from now.
        let soon_day_expiring = self.expiring_on_last_day(soon_t).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT table_name, CAST(SUM(n) AS BIGINT) FROM table_row_counts GROUP BY table_name",
        )
        .fetch_all(&self.read)
        .await?;
        let count = |name: &str| {
            rows.iter()
                .find(|(t, _)| t == name)
                .map(|(_, n)| *n)
                .unwrap_or(0)
        };
        let tables = SEED_TABLES
            .iter()
            .chain(["api_tokens"].iter())
            .map(|t| (t.to_string(), count(t)))
            .collect();
        Ok(Statistics {
            certificates_total: total,
            certificates_active: active_later + today_live,
            certificates_revoked: revoked,
            certificates_expired: expired_earlier + today_expired,
            certificates_expiring: today_live + expiring_between + soon_day_expiring
                - self.own_expiring(now_t, soon_t).await?,
            services: count("services"),
            crls: count("crl_history"),
            audit_rows: count("audit_log"),
            tables,
        })
    }

    /// Active certificates with now < notAfter <= now + `days`: the whole days between from the
    /// counters, today and the last day split at the exact time from the expiry index. O(days).
    /// The server's own certificates are left out (see [`Store::own_expiring`]).
    pub async fn expiring_within(&self, days: i64) -> Result<i64> {
        let now_t = OffsetDateTime::now_utc();
        let end_t = now_t + time::Duration::days(days);
        Ok(self.expiring_between(now_t, end_t).await? - self.own_expiring(now_t, end_t).await?)
    }

    /// The server's own active certificates (its TLS identity, its OCSP responder) with
    /// now < notAfter <= end: they renew themselves, so "expiring" counts leave them out. A few
    /// rows, read through the (service_id, not_after) index.
    async fn own_expiring(&self, now_t: OffsetDateTime, end_t: OffsetDateTime) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM certificates
             WHERE service_id IN ($1, $2) AND not_after > $3 AND not_after <= $4 AND status = 'active'",
        )
        .bind(SERVER_SERVICE_ID)
        .bind(OCSP_SERVICE_ID)
        .bind(format_time(now_t))
        .bind(format_time(end_t))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    async fn expiring_between(&self, now_t: OffsetDateTime, end_t: OffsetDateTime) -> Result<i64> {
        let day = |t: OffsetDateTime| format_time(t)[..10].to_string();
        let (today, end_day) = (day(now_t), day(end_t));
        if today == end_day {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM certificates WHERE not_after > $1 AND not_after <= $2 AND status = 'active'",
            )
            .bind(format_time(now_t))
            .bind(format_time(end_t))
            .fetch_one(&self.read)
            .await?;
            return Ok(n);
        }
        let (between,): (i64,) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM certificate_counts
             WHERE status = 'active' AND expiry_day > $1 AND expiry_day < $2",
        )
        .bind(&today)
        .bind(&end_day)
        .fetch_one(&self.read)
        .await?;
        let (today_live,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM certificates
             WHERE not_after > $1 AND not_after < $2 AND status = 'active'",
        )
        .bind(format_time(now_t))
        .bind(day(now_t + time::Duration::days(1)))
        .fetch_one(&self.read)
        .await?;
        Ok(today_live + between + self.expiring_on_last_day(end_t).await?)
    }

    /// Active certificates expiring on `end`'s day, up to `end`.
    async fn expiring_on_last_day(&self, end: OffsetDateTime) -> Result<i64> {
        let day = |t: OffsetDateTime| format_time(t)[..10].to_string();
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM certificates
             WHERE not_after >= $1 AND not_after < $2 AND not_after <= $3 AND status = 'active'",
        )
        .bind(day(end))
        .bind(day(end + time::Duration::days(1)))
        .bind(format_time(end))
        .fetch_one(&self.read)
        .await?;
        Ok(n)
    }

    /// Take or renew the lease `name` for `holder` until `ttl` from now. True if `holder` holds it:
    /// scheduled work (periodic CRLs) runs on one replica at a time.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: time::Duration,
    ) -> Result<bool> {
        let now = OffsetDateTime::now_utc();
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "INSERT INTO scheduler_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $3
             WHERE scheduler_leases.holder = $2 OR scheduler_leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(format_time(now + ttl))
        .bind(format_time(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(updated.rows_affected() == 1)
    }
}

/// Advisory lock key for CRL builds on PostgreSQL.
const CRL_LOCK_KEY: i64 = 0x7663_6370_6b6a;

/// Released on drop: the process mutex at once, the PostgreSQL session lock by a spawned unlock.
pub(crate) struct CrlBuildGuard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    remote: Option<sqlx::pool::PoolConnection<Any>>,
}

impl Drop for CrlBuildGuard {
    fn drop(&mut self) {
        if let Some(mut conn) = self.remote.take() {
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(CRL_LOCK_KEY)
                    .execute(&mut *conn)
                    .await
                {
                    // Closing the connection releases the lock too.
                    tracing::warn!(error = %e, "CRL build lock not released cleanly; closing its connection");
                    let _ = conn.detach();
                }
            });
        }
    }
}

/// A SQLite write connection goes back into the pool only outside any transaction. When a COMMIT
/// fails (SQLITE_FULL on a full volume, an I/O error), SQLite keeps the transaction open, and sqlx
/// can lose track of it: the next `begin` on that connection then opens a savepoint inside the
/// stale transaction, its "commit" releases only the savepoint, and a certificate answered 201
/// would sit in a transaction no other connection sees, to be lost with the process (and its
/// write lock would stall every other writer for the busy timeout). `BEGIN` fails inside a
/// transaction, which closes the connection here; closing rolls the stale transaction back.
async fn release_check(conn: &mut sqlx::AnyConnection) -> std::result::Result<bool, sqlx::Error> {
    use sqlx::Executor;
    match conn.execute("BEGIN; ROLLBACK").await {
        Ok(_) => Ok(true),
        Err(e) => {
            tracing::warn!(error = %e, "a write connection was left inside a failed transaction: closing it");
            Ok(false)
        }
    }
}

/// Copy the WAL into the database file every 250 ms on a connection of its own. Left to the
/// writer (SQLite's default, every 1000 pages), a checkpoint lands inside some commit and holds
/// up the whole group-commit batch waiting behind it (measured: commit p90 9 ms against p50 2 ms).
async fn spawn_wal_checkpointer(base: &str, store: std::sync::Weak<()>) -> Result<()> {
    let pool = PoolOptions::<Any>::new()
        .max_connections(1)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute(SQLITE_PRAGMAS).await?;
                Ok(())
            })
        })
        .connect(&format!("{base}?mode=rw"))
        .await?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            if store.strong_count() == 0 {
                pool.close().await;
                return;
            }
            match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "WAL checkpoint failed; the writer will checkpoint instead");
                }
                Err(_) => {}
            }
        }
    });
    Ok(())
}

/// Begin a write transaction on `pool`; on PostgreSQL it first takes the replica-wide write lock.
pub(crate) async fn begin_on(
    pool: &Pool<Any>,
    backend: Backend,
) -> Result<Transaction<'static, Any>> {
    let mut tx = pool.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK_KEY)
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
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

/// Now, as the store keeps it: whole seconds, so that a record returned equals the row stored.
pub(crate) fn now_stored() -> (OffsetDateTime, String) {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    (now, format_time(now))
}

/// A serial as stored (lower-case hex).
pub(crate) fn parse_serial(s: &str) -> Result<vcc_pki_core::Serial> {
    vcc_pki_core::Serial::from_hex(s).ok_or_else(|| StoreError::Corrupt(format!("serial '{s}'")))
}

/// A key type as stored.
pub(crate) fn parse_key_type(s: &str) -> Result<vcc_pki_core::KeyType> {
    vcc_pki_core::KeyType::parse(s).map_err(|_| StoreError::Corrupt(format!("key type '{s}'")))
}

/// A revocation reason as stored.
pub(crate) fn parse_reason(s: &str) -> Result<vcc_pki_core::RevocationReason> {
    vcc_pki_core::RevocationReason::parse(s)
        .map_err(|_| StoreError::Corrupt(format!("revocation reason '{s}'")))
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

/// `($1,$2,…),($k+1,…)…`: placeholders for a multi-row `VALUES` list of `rows` rows of `columns`.
/// On SQLite they are anonymous (`?`, bound in order): SQLite resolves each `$N` by a linear search
/// of the names seen so far while parsing, which is quadratic in a statement with thousands.
pub(crate) fn values_placeholders(backend: Backend, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 6);
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push(',');
            }
            if backend == Backend::Sqlite {
                out.push('?');
            } else {
                out.push('$');
                out.push_str(&(r * columns + c + 1).to_string());
            }
        }
        out.push(')');
    }
    out
}

/// `$from,$from+1,…`: `count` placeholders for an `IN (…)` list (`?` on SQLite, as above).
pub(crate) fn list_placeholders(backend: Backend, from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| match backend {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${i}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}
