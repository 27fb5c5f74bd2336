//! The body of a group-commit batch in a constant number of statements, whatever its size: one
//! multi-row insert per table, one query for compromised keys, one for renewed predecessors, and
//! the audit rows chained in memory. Per-item statements cost a round trip to SQLite's worker
//! thread (or PostgreSQL) each; at hundreds of issuances per batch they were the bottleneck.
//!
//! Items that use up an enrollment token are not taken here (each needs its own checked update);
//! the caller runs those, and the whole batch again if a statement here fails, one by one.
use crate::audit::append_many;
use crate::certificates::NewCertificate;
use crate::services::NewService;
use crate::statements;
use crate::Refusal;
use crate::{
    format_time, list_placeholders, values_placeholders, AuditEntry, Backend, Result, StoreError,
};
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;
use vcc_pki_core::Serial;

pub(crate) struct BatchItem<'a> {
    pub cert: &'a NewCertificate,
    /// Create this service first unless it exists (the writer leaves out services it knows).
    pub create_service: Option<&'a NewService>,
    pub audit: &'a AuditEntry,
}

/// Store every item that passes the in-transaction policy checks. `Err` when a statement failed:
/// the caller must roll back to its savepoint (some rows may have been written).
pub(crate) async fn insert_batch(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    items: &[BatchItem<'_>],
) -> Result<Vec<Result<i64>>> {
    let now = format_time(OffsetDateTime::now_utc());
    create_services(tx, backend, items, &now).await?;

    let compromised = compromised_keys(tx, backend, items).await?;
    let predecessors = predecessor_statuses(tx, backend, items).await?;
    let refusals: Vec<Option<Refusal>> = items
        .iter()
        .map(|item| refusal(item.cert, &predecessors, &compromised))
        .collect();
    let accepted: Vec<&BatchItem> = items
        .iter()
        .zip(&refusals)
        .filter(|(_, r)| r.is_none())
        .map(|(i, _)| i)
        .collect();

    let ids = insert_certificates(tx, backend, &accepted, &now).await?;
    insert_schedules(tx, backend, &accepted, &ids, &now).await?;
    mark_predecessors_renewed(tx, backend, &accepted, &now).await?;
    let audits: Vec<AuditEntry> = accepted.iter().map(|i| i.audit.clone()).collect();
    append_many(tx, backend, &audits).await?;

    let mut results = Vec::with_capacity(items.len());
    for (item, refusal) in items.iter().zip(refusals) {
        results.push(match refusal {
            Some(detail) => Err(StoreError::Refused(detail)),
            None => ids
                .get(&item.cert.serial_number.to_hex())
                .copied()
                .ok_or_else(|| StoreError::Corrupt("inserted certificate without an id".into())),
        });
    }
    Ok(results)
}

/// Why the store refuses `cert` inside the write transaction, if it does: it renews a certificate
/// that is not active (`predecessors`: status by serial), or its key was revoked for keyCompromise.
pub(crate) fn refusal(
    cert: &NewCertificate,
    predecessors: &HashMap<String, String>,
    compromised: &HashSet<String>,
) -> Option<Refusal> {
    if let Some(previous) = &cert.renewed_from {
        if predecessors.get(&previous.to_hex()).map(String::as_str) != Some("active") {
            return Some(Refusal::PredecessorNotActive(previous.clone()));
        }
    }
    compromised
        .contains(&cert.public_key_sha256)
        .then_some(Refusal::KeyCompromised)
}

async fn create_services(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    items: &[BatchItem<'_>],
    now: &str,
) -> Result<()> {
    let mut seen = HashSet::new();
    let services: Vec<_> = items
        .iter()
        .filter_map(|i| i.create_service)
        .filter(|s| seen.insert(s.service_id.clone()))
        .collect();
    if services.is_empty() {
        return Ok(());
    }
    let sql = statements::insert_services(&values_placeholders(
        backend,
        services.len(),
        statements::SERVICE_WIDTH,
    ));
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    statements::bind_sqlx(
        query,
        services
            .into_iter()
            .flat_map(|s| statements::service_row(s, now)),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Which of the batch's public keys were revoked for keyCompromise (checked inside the write
/// transaction, so a concurrent revocation cannot slip between the authority's check and the insert).
async fn compromised_keys(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    items: &[BatchItem<'_>],
) -> Result<HashSet<String>> {
    let keys: Vec<String> = items
        .iter()
        .map(|i| i.cert.public_key_sha256.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT public_key_sha256 FROM compromised_keys WHERE public_key_sha256 IN ({})",
        list_placeholders(backend, 1, keys.len())
    );
    let mut query = sqlx::query_as::<_, (String,)>(sqlx::AssertSqlSafe(sql)).persistent(false);
    for k in keys {
        query = query.bind(k);
    }
    Ok(query
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect())
}

/// Status of every certificate the batch renews, by serial.
async fn predecessor_statuses(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    items: &[BatchItem<'_>],
) -> Result<HashMap<String, String>> {
    let serials: Vec<String> = items
        .iter()
        .filter_map(|i| i.cert.renewed_from.as_ref().map(Serial::to_hex))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if serials.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT serial_number, status FROM certificates WHERE serial_number IN ({})",
        list_placeholders(backend, 1, serials.len())
    );
    let mut query =
        sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).persistent(false);
    for s in serials {
        query = query.bind(s);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().collect())
}

/// Insert the accepted certificates; their ids by serial.
async fn insert_certificates(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    accepted: &[&BatchItem<'_>],
    now: &str,
) -> Result<HashMap<String, i64>> {
    if accepted.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "{} RETURNING id, serial_number",
        statements::insert_certificates(&values_placeholders(
            backend,
            accepted.len(),
            statements::CERTIFICATE_WIDTH
        ))
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    let query = statements::bind_sqlx(
        query,
        accepted
            .iter()
            .flat_map(|item| statements::certificate_row(item.cert, now)),
    );
    let rows = query.fetch_all(&mut **tx).await?;
    let mut ids = HashMap::with_capacity(rows.len());
    for row in rows {
        ids.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
    }
    Ok(ids)
}

/// Renewal is due two thirds into each certificate's lifetime.
async fn insert_schedules(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    accepted: &[&BatchItem<'_>],
    ids: &HashMap<String, i64>,
    now: &str,
) -> Result<()> {
    if accepted.is_empty() {
        return Ok(());
    }
    let sql = statements::insert_schedules(&values_placeholders(
        backend,
        accepted.len(),
        statements::SCHEDULE_WIDTH,
    ));
    let mut rows = Vec::with_capacity(accepted.len() * statements::SCHEDULE_WIDTH);
    for item in accepted {
        let id = ids
            .get(&item.cert.serial_number.to_hex())
            .copied()
            .ok_or_else(|| StoreError::Corrupt("inserted certificate without an id".into()))?;
        rows.extend(statements::schedule_row(id, item.cert, now));
    }
    let query = statements::bind_sqlx(
        sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false),
        rows,
    );
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn mark_predecessors_renewed(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    accepted: &[&BatchItem<'_>],
    now: &str,
) -> Result<()> {
    let previous: Vec<String> = accepted
        .iter()
        .filter_map(|i| i.cert.renewed_from.as_ref().map(Serial::to_hex))
        .collect();
    if previous.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE certificate_rotation_schedule SET status = 'renewed', updated_at = {}
         WHERE status = 'pending' AND certificate_id IN (SELECT id FROM certificates WHERE serial_number IN ({}))",
        // One style per statement: sqlx numbers bare `?` from 1 whatever `$N` precede them.
        list_placeholders(backend, 1, 1),
        list_placeholders(backend, 2, previous.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(false)
        .bind(now.to_string());
    for s in previous {
        query = query.bind(s);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}
