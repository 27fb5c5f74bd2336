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
use crate::audit::{chain, ChainedRow};
use crate::batch_insert::{refusal, BatchItem};
use crate::certificates::{Revocation, RevocationTarget, RevokedRecord};
use crate::statements;
use crate::{format_time, json_list, AuditEntry, Result as StoreResult, StoreError};
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

    /// Store every item that passes the in-transaction checks, in one transaction, and commit.
    /// `Err`: nothing was stored.
    pub(crate) fn store(
        &mut self,
        items: &[BatchItem<'_>],
    ) -> rusqlite::Result<Vec<StoreResult<i64>>> {
        let now = format_time(OffsetDateTime::now_utc());
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
                    renewed.execute(params![now, previous])?;
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
        let now = format_time(OffsetDateTime::now_utc());
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut all = Vec::with_capacity(requests.len());
        let mut audits = Vec::with_capacity(requests.len());
        for request in requests {
            let revoked = revoke_one(&tx, request, &now)?;
            let mut audit = request.audit.clone();
            audit.set_detail(
                "revoked",
                serde_json::json!(revoked.iter().map(|r| &r.serial_number).collect::<Vec<_>>()),
            );
            audits.push(audit);
            all.push(revoked);
        }
        append_audit(&tx, &audits)?;
        tx.commit()?;
        Ok(all)
    }
}

/// A certificate a revocation hit: id, serial, service, issuer, key hash, CRL shard.
type Hit = (i64, String, String, i64, String, Option<i64>);

fn hit(row: &rusqlite::Row<'_>) -> rusqlite::Result<Hit> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
    ))
}

fn revoke_one(
    tx: &rusqlite::Transaction<'_>,
    request: &Revocation,
    now: &str,
) -> rusqlite::Result<Vec<RevokedRecord>> {
    const RETURNING: &str =
        "RETURNING id, serial_number, service_id, issuer_ca_id, public_key_sha256, crl_shard";
    let mut hits: Vec<Hit> = match &request.target {
        RevocationTarget::Serial(serial) => tx
            .prepare_cached(&format!(
                "UPDATE certificates SET status = 'revoked' WHERE serial_number = ?1 AND status = 'active' {RETURNING}"
            ))?
            .query_map([serial], hit)?
            .collect::<rusqlite::Result<_>>()?,
        RevocationTarget::Service(service_id) => tx
            .prepare_cached(&format!(
                "UPDATE certificates SET status = 'revoked' WHERE service_id = ?1 AND status = 'active' AND not_after > ?2 {RETURNING}"
            ))?
            .query_map(params![service_id, now], hit)?
            .collect::<rusqlite::Result<_>>()?,
    };
    if request.reason == "keyCompromise" {
        let keys: Vec<String> = hits.iter().map(|h| h.4.clone()).collect();
        for key in keys {
            tx.prepare_cached(
                "INSERT INTO compromised_keys (public_key_sha256, revoked_at) VALUES (?1, ?2)
                 ON CONFLICT(public_key_sha256) DO NOTHING",
            )?
            .execute(params![key, now])?;
            let siblings: Vec<Hit> = tx
                .prepare_cached(&format!(
                    "UPDATE certificates SET status = 'revoked' WHERE public_key_sha256 = ?1 AND status = 'active' {RETURNING}"
                ))?
                .query_map([&key], hit)?
                .collect::<rusqlite::Result<_>>()?;
            hits.extend(siblings);
        }
    }
    let mut revocation = tx.prepare_cached(
        "INSERT INTO revoked_certificates (certificate_id, serial_number, issuer_ca_id, revoked_at, reason, reason_code, revoked_by, crl_shard)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut schedule = tx.prepare_cached(
        "UPDATE certificate_rotation_schedule SET status = 'revoked', updated_at = ?1 WHERE certificate_id = ?2",
    )?;
    let mut revoked = Vec::with_capacity(hits.len());
    for (id, serial, service_id, issuer, _, crl_shard) in hits {
        revocation.execute(params![
            id,
            serial,
            issuer,
            now,
            request.reason,
            i64::from(request.reason_code),
            request.revoked_by,
            crl_shard,
        ])?;
        schedule.execute(params![now, id])?;
        revoked.push(RevokedRecord {
            serial_number: serial,
            service_id,
            revoked_at: now.to_string(),
            reason: request.reason.clone(),
            crl_shard,
        });
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
        tx.prepare_cached(
            "INSERT INTO services (service_id, service_name, description, endpoints, allowed_dns, allowed_ip, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT(service_id) DO NOTHING",
        )?
        .execute(params![
            service.service_id,
            service.service_name,
            service.description,
            json_list(&service.endpoints),
            json_list(&service.allowed_dns),
            json_list(&service.allowed_ip),
            now,
        ])?;
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
    let serials: HashSet<&str> = items
        .iter()
        .filter_map(|i| i.cert.renewed_from.as_deref())
        .collect();
    if serials.is_empty() {
        return Ok(statuses);
    }
    let mut lookup =
        tx.prepare_cached("SELECT status FROM certificates WHERE serial_number = ?1")?;
    for serial in serials {
        if let Some(status) = lookup
            .query_row([serial], |r| r.get::<_, String>(0))
            .optional()?
        {
            statuses.insert(serial.to_string(), status);
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
        .prepare_cached("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let (occurred_at, rows) = chain(head, entries);
    let mut insert = tx.prepare_cached(
        "INSERT INTO audit_log (occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for ChainedRow {
        entry,
        details,
        prev_hash,
        hash,
    } in rows
    {
        insert.execute(params![
            occurred_at,
            entry.actor,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.outcome.as_str(),
            details,
            entry.source_ip,
            prev_hash,
            hash,
        ])?;
    }
    Ok(())
}
