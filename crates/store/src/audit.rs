//! The audit trail: one row per state change or refusal, hash-chained so that editing or
//! deleting a row is detected by `verify_chain`.
use crate::statements;
use crate::{format_time, Backend, Result, Store};
use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Denied,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One audit record, before it is chained.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub outcome: AuditOutcome,
    pub details: serde_json::Value,
    pub source_ip: Option<String>,
}

impl AuditEntry {
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target_type: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            target_type: target_type.into(),
            target_id: None,
            outcome: AuditOutcome::Success,
            details: serde_json::json!({}),
            source_ip: None,
        }
    }
    pub fn target(mut self, id: impl Into<String>) -> Self {
        self.target_id = Some(id.into());
        self
    }
    pub fn outcome(mut self, outcome: AuditOutcome) -> Self {
        self.outcome = outcome;
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
    pub fn source(mut self, ip: Option<String>) -> Self {
        self.source_ip = ip;
        self
    }

    /// Add `key` to the details; details that are not a JSON object are kept under "details".
    pub(crate) fn set_detail(&mut self, key: &str, value: serde_json::Value) {
        if !self.details.is_object() {
            let previous = std::mem::take(&mut self.details);
            self.details = if previous.is_null() {
                serde_json::json!({})
            } else {
                serde_json::json!({ "details": previous })
            };
        }
        if let Some(map) = self.details.as_object_mut() {
            map.insert(key.to_string(), value);
        }
    }
}

/// Result of walking the chain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditVerification {
    pub rows: i64,
    pub intact: bool,
    /// Id of the first row whose hash or link does not match, if any.
    pub first_broken_id: Option<i64>,
    pub head_hash: String,
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
fn row_hash(
    prev: &str,
    occurred_at: &str,
    actor: &str,
    action: &str,
    target_type: &str,
    target_id: Option<&str>,
    outcome: &str,
    details: &str,
    source_ip: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different rows serialise to the same bytes.
    for field in [
        Some(prev),
        Some(occurred_at),
        Some(actor),
        Some(action),
        Some(target_type),
        target_id,
        Some(outcome),
        Some(details),
        source_ip,
    ] {
        match field {
            Some(s) => {
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(u64::MAX.to_be_bytes()),
        }
    }
    hex::encode(h.finalize())
}

/// An audit row with its place in the chain, ready to insert.
pub(crate) struct ChainedRow<'a> {
    pub entry: &'a AuditEntry,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Chain `entries` after the row whose hash is `head` (`None`: the chain is empty), all stamped
/// with the same time, which is returned too.
pub(crate) fn chain(head: Option<String>, entries: &[AuditEntry]) -> (String, Vec<ChainedRow<'_>>) {
    let mut prev = head.unwrap_or_else(|| GENESIS.to_string());
    let occurred_at = format_time(OffsetDateTime::now_utc());
    let mut rows = Vec::with_capacity(entries.len());
    for entry in entries {
        let details = entry.details.to_string();
        let hash = row_hash(
            &prev,
            &occurred_at,
            &entry.actor,
            &entry.action,
            &entry.target_type,
            entry.target_id.as_deref(),
            entry.outcome.as_str(),
            &details,
            entry.source_ip.as_deref(),
        );
        rows.push(ChainedRow {
            entry,
            details,
            prev_hash: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
    }
    (occurred_at, rows)
}

/// Append one audit row inside the caller's transaction (the single writer connection
/// serialises appends, so reading the head and inserting after it is race-free).
pub(crate) async fn append(tx: &mut Transaction<'_, Any>, entry: &AuditEntry) -> Result<()> {
    append_many(tx, Backend::Postgres, std::slice::from_ref(entry)).await
}

/// Append several audit rows, in order, with one read of the chain head and one multi-row insert:
/// the hashes are chained in memory. Used by group commit, where a batch has one row per issuance.
///
/// `backend` only picks the placeholder style: numbered placeholders work on both backends.
pub(crate) async fn append_many(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    entries: &[AuditEntry],
) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let head: Option<(String,)> = sqlx::query_as(statements::AUDIT_HEAD)
        .fetch_optional(&mut **tx)
        .await?;
    let (occurred_at, rows) = chain(head.map(|p| p.0), entries);
    let sql = statements::insert_audit(&crate::values_placeholders(
        backend,
        rows.len(),
        statements::AUDIT_WIDTH,
    ));
    let query = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
    statements::bind_sqlx(
        query,
        rows.iter()
            .flat_map(|row| statements::audit_row(&occurred_at, row)),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

type AuditRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
);

impl Store {
    /// Record an event that changes nothing else (a refusal, a login failure).
    pub async fn audit(&self, entry: AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        append(&mut tx, &entry).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Walk the whole chain and recompute every hash.
    pub async fn verify_audit_chain(&self) -> Result<AuditVerification> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash
             FROM audit_log ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        let mut prev = GENESIS.to_string();
        let mut first_broken_id = None;
        for (
            id,
            occurred_at,
            actor,
            action,
            target_type,
            target_id,
            outcome,
            details,
            source_ip,
            prev_hash,
            hash,
        ) in &rows
        {
            let expect = row_hash(
                &prev,
                occurred_at,
                actor,
                action,
                target_type,
                target_id.as_deref(),
                outcome,
                details,
                source_ip.as_deref(),
            );
            if *prev_hash != prev || *hash != expect {
                first_broken_id = Some(*id);
                break;
            }
            prev = hash.clone();
        }
        Ok(AuditVerification {
            rows: rows.len() as i64,
            intact: first_broken_id.is_none(),
            first_broken_id,
            head_hash: prev,
        })
    }

    /// The newest audit row: its id and hash (`None`: the log is empty).
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(
            sqlx::query_as("SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
                .fetch_optional(&self.read)
                .await?,
        )
    }

    /// The stored hash of audit row `id`, if the row exists.
    pub async fn audit_row_hash(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT row_hash FROM audit_log WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// A page of audit rows, newest first, below `before` (an id), of one action or one target
    /// if asked (each through its own index).
    pub async fn audit_page(
        &self,
        action: Option<&str>,
        target_id: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<serde_json::Value>> {
        let mut predicates = vec!["id < $1".to_string()];
        let mut texts = Vec::new();
        if let Some(a) = action {
            texts.push(a.to_string());
            predicates.push(format!("action = ${}", texts.len() + 2));
        }
        if let Some(t) = target_id {
            texts.push(t.to_string());
            predicates.push(format!("target_id = ${}", texts.len() + 2));
        }
        let sql = format!(
            "SELECT id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash
             FROM audit_log WHERE {} ORDER BY id DESC LIMIT $2",
            predicates.join(" AND ")
        );
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit.clamp(1, 1000));
        for t in texts {
            query = query.bind(t);
        }
        Ok(query
            .fetch_all(&self.read)
            .await?
            .into_iter()
            .map(audit_json)
            .collect())
    }

    /// Most recent audit rows, newest first.
    pub async fn recent_audit(&self, limit: i64) -> Result<Vec<serde_json::Value>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, occurred_at, actor, action, target_type, target_id, outcome, details, source_ip, prev_hash, row_hash
             FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(audit_json).collect())
    }
}

fn audit_json(r: AuditRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.0, "occurred_at": r.1, "actor": r.2, "action": r.3, "target_type": r.4,
        "target_id": r.5, "outcome": r.6,
        "details": serde_json::from_str::<serde_json::Value>(&r.7).unwrap_or_default(),
        "source_ip": r.8, "row_hash": r.10,
    })
}

#[cfg(test)]
mod tests {
    use super::AuditEntry;
    use serde_json::json;

    #[test]
    fn set_detail_adds_to_objects_and_wraps_anything_else() {
        let mut object = AuditEntry::new("a", "b", "c").details(json!({ "reason": "x" }));
        object.set_detail("revoked", json!(["01"]));
        assert_eq!(object.details, json!({ "reason": "x", "revoked": ["01"] }));
        // A non-object used to panic (serde_json's IndexMut) on the writer thread.
        let mut list = AuditEntry::new("a", "b", "c").details(json!(["y"]));
        list.set_detail("revoked", json!([]));
        assert_eq!(list.details, json!({ "details": ["y"], "revoked": [] }));
        let mut null = AuditEntry::new("a", "b", "c").details(serde_json::Value::Null);
        null.set_detail("revoked", json!([]));
        assert_eq!(null.details, json!({ "revoked": [] }));
    }
}
