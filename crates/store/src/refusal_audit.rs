//! Audit rows of refusals, bounded (issue 16): a refusal changes nothing, so its row is the only
//! thing a flood of bad requests can make the server write. Each row is bounded in size. The
//! refusals of requesters that proved nothing (anonymous, a bad or refused enrollment token) are
//! written one by one up to [`BURST`] rows, then [`PER_SECOND`] a second, across all sources; the
//! rest are counted and written as one summary row (`audit.refusals_summarised`, with the count
//! per action) every [`SUMMARY_EVERY`]. Refusals of authenticated requesters (admins, auditors,
//! services, ACME accounts) are always written one by one: a flood cannot hide them. The chain
//! stays whole: summary rows are ordinary audit rows.
use crate::{AuditEntry, AuditOutcome, Result, Store};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Refusal rows written one by one in a burst, across all sources.
pub const BURST: f64 = 200.0;
/// …and per second after it.
pub const PER_SECOND: f64 = 20.0;
/// How often counted refusals are written as a summary row.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);
/// Longest reason and target kept in a refusal row.
const MAX_TEXT: usize = 256;
/// Most actions named in one summary row (the rest are added up under "other").
const MAX_ACTIONS: usize = 32;

#[derive(Debug)]
pub(crate) struct RefusalBudget {
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    tokens: f64,
    updated: Instant,
    counted: BTreeMap<String, u64>,
    counting_since: Option<time::OffsetDateTime>,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        Self {
            state: Mutex::new(BudgetState {
                tokens: BURST,
                updated: Instant::now(),
                counted: BTreeMap::new(),
                counting_since: None,
            }),
        }
    }
}

impl RefusalBudget {
    /// True: write this refusal's row now. False: it was counted for the next summary.
    fn take(&self, action: &str) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        let now = Instant::now();
        s.tokens = (s.tokens + now.duration_since(s.updated).as_secs_f64() * PER_SECOND).min(BURST);
        s.updated = now;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return true;
        }
        let key = if s.counted.len() < MAX_ACTIONS || s.counted.contains_key(action) {
            action.to_string()
        } else {
            "other".to_string()
        };
        *s.counted.entry(key).or_default() += 1;
        s.counting_since
            .get_or_insert_with(time::OffsetDateTime::now_utc);
        false
    }

    /// The summary row of what was counted since the last one, if anything was.
    fn summary(&self) -> Option<AuditEntry> {
        let mut s = self.state.lock().ok()?;
        if s.counted.is_empty() {
            return None;
        }
        let counted = std::mem::take(&mut s.counted);
        let since = s.counting_since.take();
        let total: u64 = counted.values().sum();
        Some(
            AuditEntry::new("system", "audit.refusals_summarised", "authorization")
                .outcome(AuditOutcome::Denied)
                .details(serde_json::json!({
                    "refused": total,
                    "by_action": counted,
                    "since": since.map(crate::format_time),
                    "reason": "more refusals than the audit log records one by one",
                })),
        )
    }
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

impl Store {
    /// Record a refusal (a request that changed nothing), within the refusal budget.
    pub async fn audit_refusal(&self, mut entry: AuditEntry) -> Result<()> {
        entry.target_id = entry.target_id.as_deref().map(bounded);
        entry.actor = bounded(&entry.actor);
        if let Some(reason) = entry.details.get("reason").and_then(|r| r.as_str()) {
            let reason = bounded(reason);
            entry.set_detail("reason", serde_json::Value::String(reason));
        }
        if entry.details.to_string().len() > 4 * MAX_TEXT {
            // Anything else a refusal carries is cut to its reason.
            let reason = entry.details.get("reason").cloned();
            entry.details = serde_json::json!({ "reason": reason, "details_truncated": true });
        }
        let proved_nothing = matches!(entry.actor.as_str(), "anonymous" | "enrollment-token");
        if !proved_nothing || self.refusals.take(&entry.action) {
            return self.audit(entry).await;
        }
        crate::telemetry::refusal_summarised();
        Ok(())
    }

    /// Write the summary of counted refusals now (the background writer does it every
    /// [`SUMMARY_EVERY`]).
    pub async fn flush_refusal_summary(&self) -> Result<()> {
        match self.refusals.summary() {
            Some(entry) => self.audit(entry).await,
            None => Ok(()),
        }
    }
}

/// Write summaries every [`SUMMARY_EVERY`] until the store is gone.
pub(crate) fn spawn_summary_writer(store: &Store, alive: Weak<()>) {
    let store = store.clone_without_life();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SUMMARY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let last = alive.strong_count() == 0;
            if let Err(e) = store.flush_refusal_summary().await {
                tracing::warn!(error = %e, "could not write the summary of refusals");
            }
            if last {
                return;
            }
        }
    });
}

pub(crate) type SharedBudget = Arc<RefusalBudget>;
