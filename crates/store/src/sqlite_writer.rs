//! The SQLite group-commit batch on a connection the writer thread owns (rusqlite), with cached
//! prepared statements. Through sqlx every statement is a round trip to the connection's worker
//! thread, and the batch's values are copied twice on the way; profiled, that thread cost more CPU
//! per certificate than the certificate's signature (docs/PERFORMANCE.md).
//!
//! Only the plain case runs here: a batch of issuances that create at most their service. A
//! statement that fails rolls the transaction back and the caller stores the batch through the
//! sqlx path (`batch_insert`, then one by one), which also handles enrollment tokens.
//!
//! Two connections now write to one database. The caller holds the sqlx write connection (taken
//! from its pool) while this one writes: the two never interleave, so a sqlx transaction that reads
//! before it writes never finds its snapshot outdated (SQLITE_BUSY_SNAPSHOT), and neither waits on
//! SQLite's write lock for the other.
use crate::audit::chain;
use crate::batch_insert::{refusal, BatchItem};
use crate::certificates::{revocation_audit, Revocation, RevokedRecord};
use crate::statements;
use crate::statements::RevocationHit;
use crate::{format_time, AuditEntry, Result as StoreResult, StoreError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

pub(crate) struct SqliteWriter {
    conn: Connection,
}

impl SqliteWriter {
    /// Open the database file the sqlx pools use (`sqlite://PATH`, already migrated, in WAL mode).
    pub(crate) fn open(url: &str) -> rusqlite::Result<Self> {
        let base = url.split('?').next().unwrap_or(url);
        let path = base
            .strip_prefix("sqlite://")
            .or_else(|| base.strip_prefix("sqlite:"))
            .unwrap_or(base);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As on the sqlx connections: FULL makes every commit durable (fsync of the WAL) before a
        // certificate leaves the server; checkpoints run on their own connection.
        conn.execute_batch(
            "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;
             PRAGMA wal_autocheckpoint = 10000;",
        )?;
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::InvalidQuery);
        }
        conn.set_prepared_statement_cache_capacity(32);
        Ok(Self { conn })
    }

    /// A transaction whose COMMIT and ROLLBACK both failed (a full volume) is still open: end it
    /// before the next, which would otherwise fail to begin.
    fn leave_failed_transaction(&mut self) {
        if !self.conn.is_autocommit() {
            tracing::warn!(
                "the writer's connection was left inside a failed transaction: rolling it back"
            );
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Store every item that passes the in-transaction checks, in one transaction, and commit.
    /// `Err`: nothing was stored.
    pub(crate) fn store(
        &mut self,
        items: &[BatchItem<'_>],
    ) -> rusqlite::Result<Vec<StoreResult<i64>>> {
        let now = format_time(OffsetDateTime::now_utc());
        self.leave_failed_transaction();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        create_services(&tx, items, &now)?;
        let compromised = compromised_keys(&tx, items)?;
        let predecessors = predecessor_statuses(&tx, items)?;
        let refusals: Vec<Option<crate::Refusal>> = items
            .iter()
            .map(|item| refusal(item.cert, &predecessors, &compromised))
            .collect();

        let mut ids = Vec::with_capacity(items.len());
        let mut audits: Vec<AuditEntry> = Vec::with_capacity(items.len());
        {
            let mut certificate = tx.prepare_cached(&statements::insert_certificates(
                &statements::numbered_row(statements::CERTIFICATE_WIDTH),
            ))?;
            let mut schedule = tx.prepare_cached(&statements::insert_schedules(
                &statements::numbered_row(statements::SCHEDULE_WIDTH),
            ))?;
            let mut renewed = tx.prepare_cached(statements::MARK_RENEWED)?;
            for (item, refused) in items.iter().zip(&refusals) {
                if refused.is_some() {
                    ids.push(None);
                    continue;
                }
                let c = item.cert;
                certificate.execute(rusqlite::params_from_iter(statements::certificate_row(
                    c, &now,
                )))?;
                let id = tx.last_insert_rowid();
                schedule.execute(rusqlite::params_from_iter(statements::schedule_row(
                    id, c, &now,
                )))?;
                if let Some(previous) = &c.renewed_from {
                    renewed.execute(params![now, previous.to_hex()])?;
                }
                ids.push(Some(id));
                audits.push(item.audit.clone());
            }
        }
        append_audit(&tx, &audits)?;
        tx.commit()?;

        Ok(ids
            .into_iter()
            .zip(refusals)
            .map(|(id, refused)| match (id, refused) {
                (Some(id), _) => Ok(id),
                (None, Some(detail)) => Err(StoreError::Refused(detail)),
                (None, None) => Err(StoreError::Corrupt(
                    "inserted certificate without an id".into(),
                )),
            })
            .collect())
    }
}

impl SqliteWriter {
    /// Revoke, in one transaction, what each request names (the same statements as
    /// `certificates::revoke_in`); one list of revoked certificates per request. `Err`: nothing
    /// was stored.
    pub(crate) fn revoke(
        &mut self,
        requests: &[&Revocation],
    ) -> rusqlite::Result<Vec<Vec<RevokedRecord>>> {
        let (at, now) = crate::now_stored();
        self.leave_failed_transaction();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut all = Vec::with_capacity(requests.len());
        let mut audits = Vec::with_capacity(requests.len());
        for request in requests {
            let revoked = revoke_one(&tx, request, &now, at)?;
            audits.push(revocation_audit(&request.audit, &revoked));
            all.push(revoked);
        }
        append_audit(&tx, &audits)?;
        tx.commit()?;
        Ok(all)
    }
}

fn revoke_one(
    tx: &rusqlite::Transaction<'_>,
    request: &Revocation,
    now: &str,
    at: OffsetDateTime,
) -> rusqlite::Result<Vec<RevokedRecord>> {
    let (sql, values) = statements::revoke_target(&request.target, now);
    let mut hits: Vec<RevocationHit> = tx
        .prepare_cached(sql)?
        .query_map(
            rusqlite::params_from_iter(values),
            RevocationHit::from_rusqlite,
        )?
        .collect::<rusqlite::Result<_>>()?;
    if statements::blocks_key(request) {
        let keys: Vec<String> = hits.iter().map(|h| h.public_key_sha256.clone()).collect();
        for key in keys {
            tx.prepare_cached(statements::BLOCK_KEY)?
                .execute(params![key, now])?;
            let siblings: Vec<RevocationHit> = tx
                .prepare_cached(statements::REVOKE_KEY)?
                .query_map([&key], RevocationHit::from_rusqlite)?
                .collect::<rusqlite::Result<_>>()?;
            hits.extend(siblings);
        }
    }
    let mut revocation = tx.prepare_cached(statements::INSERT_REVOCATION)?;
    let mut schedule = tx.prepare_cached(statements::SCHEDULE_REVOKED)?;
    let mut revoked = Vec::with_capacity(hits.len());
    for hit in hits {
        revocation.execute(rusqlite::params_from_iter(statements::revocation_row(
            &hit, request, now,
        )))?;
        schedule.execute(params![now, hit.id])?;
        revoked.push(hit.revoked(request, at));
    }
    Ok(revoked)
}

fn create_services(
    tx: &rusqlite::Transaction<'_>,
    items: &[BatchItem<'_>],
    now: &str,
) -> rusqlite::Result<()> {
    let mut seen = HashSet::new();
    for service in items.iter().filter_map(|i| i.create_service) {
        if !seen.insert(service.service_id.as_str()) {
            continue;
        }
        tx.prepare_cached(&statements::insert_services(&statements::numbered_row(
            statements::SERVICE_WIDTH,
        )))?
        .execute(rusqlite::params_from_iter(statements::service_row(
            service, now,
        )))?;
    }
    Ok(())
}

/// Which of the batch's public keys were revoked for keyCompromise (read inside the write
/// transaction, so a revocation cannot slip between the authority's check and the insert).
fn compromised_keys(
    tx: &rusqlite::Transaction<'_>,
    items: &[BatchItem<'_>],
) -> rusqlite::Result<HashSet<String>> {
    let mut lookup =
        tx.prepare_cached("SELECT 1 FROM compromised_keys WHERE public_key_sha256 = ?1")?;
    let mut compromised = HashSet::new();
    let keys: HashSet<&str> = items
        .iter()
        .map(|i| i.cert.public_key_sha256.as_str())
        .collect();
    for key in keys {
        if lookup.exists([key])? {
            compromised.insert(key.to_string());
        }
    }
    Ok(compromised)
}

/// Status of every certificate the batch renews, by serial.
fn predecessor_statuses(
    tx: &rusqlite::Transaction<'_>,
    items: &[BatchItem<'_>],
) -> rusqlite::Result<HashMap<String, String>> {
    let mut statuses = HashMap::new();
    let serials: HashSet<String> = items
        .iter()
        .filter_map(|i| i.cert.renewed_from.as_ref().map(|s| s.to_hex()))
        .collect();
    if serials.is_empty() {
        return Ok(statuses);
    }
    let mut lookup =
        tx.prepare_cached("SELECT status FROM certificates WHERE serial_number = ?1")?;
    for serial in serials {
        if let Some(status) = lookup
            .query_row([&serial], |r| r.get::<_, String>(0))
            .optional()?
        {
            statuses.insert(serial, status);
        }
    }
    Ok(statuses)
}

/// Append the batch's audit rows after the chain's head, hashes chained in memory.
fn append_audit(tx: &rusqlite::Transaction<'_>, entries: &[AuditEntry]) -> rusqlite::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let head: Option<String> = tx
        .prepare_cached(statements::AUDIT_HEAD)?
        .query_row([], |r| r.get(0))
        .optional()?;
    let (occurred_at, rows) = chain(head, entries);
    let mut insert = tx.prepare_cached(&statements::insert_audit(&statements::numbered_row(
        statements::AUDIT_WIDTH,
    )))?;
    for row in &rows {
        insert.execute(rusqlite::params_from_iter(statements::audit_row(
            &occurred_at,
            row,
        )))?;
    }
    Ok(())
}
