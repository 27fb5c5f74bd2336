//! Backups and checks of a store (SPEC §10): a consistent online snapshot of a SQLite store, and
//! the structural checks of `vcc-pki db verify` and `db restore` (integrity, schema, counters).
//! The audit chain is checked by [`Store::verify_audit_chain`]; the CA keys by the authority.
use crate::{Backend, Result, Store, StoreError, SEED_TABLES};
use sqlx::{Connection, Row};
use std::path::{Path, PathBuf};

/// The file of a `sqlite://PATH[?…]` URL; `None` for any other URL.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
}

/// Copy the SQLite store in `db_file` to `out` (which must not exist) while a server may be
/// writing to it. `VACUUM INTO` reads one WAL snapshot: the copy holds exactly the transactions
/// committed before it began, is itself a compact, self-contained database (no `-wal` file), and
/// the writer is never blocked. The caller makes `out`'s directory private first: the copy holds
/// the encrypted CA keys and the token hashes.
pub async fn snapshot_sqlite(db_file: &Path, out: &Path) -> Result<()> {
    sqlx::any::install_default_drivers();
    if !db_file.is_file() {
        return Err(StoreError::NotFound(format!(
            "no SQLite store at {}",
            db_file.display()
        )));
    }
    let url = format!("sqlite://{}?mode=ro", db_file.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    sqlx::query("PRAGMA busy_timeout = 10000")
        .execute(&mut conn)
        .await?;
    sqlx::query("VACUUM INTO $1")
        .bind(out.to_string_lossy().into_owned())
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// What a SQLite snapshot holds, read without changing it (`immutable=1`: no WAL, no locks).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnapshotSummary {
    pub certificates: i64,
    pub audit_rows: i64,
    pub migrations: i64,
}

/// Check a snapshot file with SQLite's own integrity check and count what it holds.
pub async fn describe_sqlite_snapshot(file: &Path) -> Result<SnapshotSummary> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=ro&immutable=1", file.display());
    let mut conn = sqlx::AnyConnection::connect(&url).await?;
    let check: Vec<String> = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>(0).ok())
        .filter(|m| m != "ok")
        .collect();
    if !check.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "{}: {}",
            file.display(),
            check.join("; ")
        )));
    }
    let (certificates, audit_rows, migrations): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM certificates), (SELECT COUNT(*) FROM audit_log),
                (SELECT COUNT(*) FROM _sqlx_migrations)",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    Ok(SnapshotSummary {
        certificates,
        audit_rows,
        migrations,
    })
}

/// One finding of a store check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckFinding {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl CheckFinding {
    pub fn pass(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            ok: true,
            detail: detail.into(),
        }
    }
    pub fn fail(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            ok: false,
            detail: detail.into(),
        }
    }
}

/// Where a store's schema stands against the migrations this build carries.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SchemaStatus {
    pub applied: i64,
    pub known: i64,
    /// Migrations recorded as failed (a start that stopped half-way).
    pub failed: i64,
}

impl Store {
    /// The applied migrations against the ones this build knows.
    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let known = match self.backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").migrations.len(),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").migrations.len(),
        } as i64;
        let (applied, failed): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN success THEN 1 ELSE 0 END), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN success THEN 0 ELSE 1 END), 0) AS BIGINT)
             FROM _sqlx_migrations",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(SchemaStatus {
            applied,
            known,
            failed,
        })
    }

    /// Every structural check of `db verify` but the audit chain and the CA keys: the
    /// database's own integrity check (SQLite), the schema against this build, and every
    /// maintained counter against a real count (a full scan: this is the one place that counts).
    pub async fn check_structure(&self) -> Vec<CheckFinding> {
        let mut findings = Vec::new();
        findings.push(match self.integrity().await {
            Ok(None) => CheckFinding::pass("integrity", self.integrity_note()),
            Ok(Some(problem)) => CheckFinding::fail("integrity", problem),
            Err(e) => CheckFinding::fail("integrity", e.to_string()),
        });
        let schema = self.schema_status().await;
        let schema_current = matches!(&schema, Ok(s) if s.applied == s.known && s.failed == 0);
        findings.push(match schema {
            Ok(s) if s.failed > 0 => CheckFinding::fail(
                "schema",
                format!("{} migration(s) recorded as failed", s.failed),
            ),
            Ok(s) if s.applied > s.known => CheckFinding::fail(
                "schema",
                format!(
                    "{} migrations applied but this vcc-pki knows {}: the store was written by a newer version",
                    s.applied, s.known
                ),
            ),
            Ok(s) if s.applied < s.known => CheckFinding::pass(
                "schema",
                format!(
                    "{} of {} migrations applied; `vcc-pki serve` applies the other {} on start",
                    s.applied,
                    s.known,
                    s.known - s.applied
                ),
            ),
            Ok(s) => CheckFinding::pass("schema", format!("all {} migrations applied", s.known)),
            Err(e) => CheckFinding::fail("schema", e.to_string()),
        });
        if schema_current {
            findings.push(match self.counter_drift().await {
                Ok(drift) if drift.is_empty() => {
                    CheckFinding::pass("counters", "every maintained count matches the rows")
                }
                Ok(drift) => CheckFinding::fail("counters", drift.join("; ")),
                Err(e) => CheckFinding::fail("counters", e.to_string()),
            });
        }
        findings
    }

    fn integrity_note(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "PRAGMA integrity_check and foreign_key_check: ok",
            Backend::Postgres => "tables and views present (PostgreSQL checks its own pages)",
        }
    }

    /// `None` when the database is sound, else what is wrong.
    async fn integrity(&self) -> Result<Option<String>> {
        if self.backend == Backend::Sqlite {
            let rows = sqlx::query("PRAGMA integrity_check")
                .fetch_all(&self.read)
                .await?;
            let messages: Vec<String> = rows
                .iter()
                .filter_map(|r| r.try_get::<String, _>(0).ok())
                .filter(|m| m != "ok")
                .collect();
            if !messages.is_empty() {
                return Ok(Some(messages.join("; ")));
            }
            let violations = sqlx::query("PRAGMA foreign_key_check")
                .fetch_all(&self.read)
                .await?;
            if !violations.is_empty() {
                return Ok(Some(format!(
                    "{} row(s) break a foreign key",
                    violations.len()
                )));
            }
        }
        for table in SEED_TABLES {
            // Table names come from the constant list above, never from input.
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT 1 FROM {table} LIMIT 1"
            )))
            .fetch_optional(&self.read)
            .await
            {
                return Ok(Some(format!("table {table}: {e}")));
            }
        }
        Ok(None)
    }

    /// Maintained counters that differ from the rows they count, as readable lines.
    async fn counter_drift(&self) -> Result<Vec<String>> {
        let mut drift = Vec::new();
        // One snapshot for counters and counts alike: a live server keeps writing audit rows.
        let mut tx = self.read.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let kept: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT status, expiry_day, CAST(SUM(n) AS BIGINT) FROM certificate_counts
             GROUP BY status, expiry_day HAVING SUM(n) <> 0 ORDER BY status, expiry_day",
        )
        .fetch_all(&mut *tx)
        .await?;
        let real: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT status, substr(not_after, 1, 10), CAST(COUNT(*) AS BIGINT) FROM certificates
             GROUP BY status, substr(not_after, 1, 10) ORDER BY status, substr(not_after, 1, 10)",
        )
        .fetch_all(&mut *tx)
        .await?;
        if kept != real {
            let total = |v: &[(String, String, i64)]| v.iter().map(|r| r.2).sum::<i64>();
            drift.push(format!(
                "certificate_counts: {} certificates counted in {} groups, {} stored in {} groups",
                total(&kept),
                kept.len(),
                total(&real),
                real.len()
            ));
        }
        let tables: Vec<(String, i64)> = sqlx::query_as(
            "SELECT table_name, CAST(SUM(n) AS BIGINT) FROM table_row_counts GROUP BY table_name ORDER BY table_name",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (table, counted) in tables {
            // Only names this build knows are put into SQL.
            let Some(known) = SEED_TABLES
                .iter()
                .chain(["api_tokens"].iter())
                .find(|t| **t == table)
            else {
                drift.push(format!("table_row_counts names an unknown table '{table}'"));
                continue;
            };
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM {known}"
            )))
            .fetch_one(&mut *tx)
            .await?;
            if n != counted {
                drift.push(format!("{known}: {counted} counted, {n} stored"));
            }
        }
        tx.rollback().await?;
        Ok(drift)
    }
}
