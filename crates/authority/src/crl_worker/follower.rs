//! The CRL publisher follows revocations in the store, not only those made here (issue 18).
//!
//! A revocation marks its shard for a rebuild in the memory of the replica that made it; if that
//! replica dies between the commit and the rebuild, the mark dies with it. Every CRL records the
//! highest revocation id committed before its rows were read (`covers_revocation_id`), so every
//! replica can tell, from the store alone, whether a revocation it sees is in the newest CRL of
//! its shard yet. One that is not after [`SHARD_GRACE`] is rebuilt here: the replica that made it
//! would have rebuilt within milliseconds, so this costs no duplicate build while it lives.
use super::CrlPublisher;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often each replica reads revocations made through any replica.
const FOLLOW_POLL: Duration = Duration::from_secs(5);
/// A revocation's shard CRL must list it this long after it is seen, or another replica rebuilds.
/// With [`FOLLOW_POLL`] the shard is listed again within about 20 s.
const SHARD_GRACE: Duration = Duration::from_secs(15);
/// The complete CRL is rebuilt at most once per ten times its build time (its duty cycle), so a
/// large one may lag legitimately: another replica takes over only after this long.
const COMPLETE_GRACE: Duration = Duration::from_secs(120);
/// Rows read per look.
const PAGE: i64 = 1000;

/// A revocation seen in the store: (seen at, revocation id, issuer, shard).
type Seen = (Instant, i64, i64, Option<i64>);

impl CrlPublisher {
    /// Follow revocations through every replica and rebuild the CRLs that still miss one after
    /// the grace period. Revocations before the start are covered by the start-up rebuild.
    pub async fn run_revocation_follower(self: Arc<Self>) {
        let mut last = loop {
            match self.store.last_revocation_id().await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "CRL follower: cannot read revocations; retrying");
                    tokio::time::sleep(FOLLOW_POLL).await;
                }
            }
        };
        let mut shard_queue: VecDeque<Seen> = VecDeque::new();
        let mut complete_queue: VecDeque<Seen> = VecDeque::new();
        loop {
            tokio::time::sleep(FOLLOW_POLL).await;
            if self.authority.strong_count() == 0 {
                return;
            }
            loop {
                let rows = match self.store.revocation_scopes_after(last, PAGE).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::debug!(error = %e, "CRL follower: cannot read revocations");
                        break;
                    }
                };
                let seen = Instant::now();
                for &(id, issuer, shard) in &rows {
                    last = id;
                    shard_queue.push_back((seen, id, issuer, shard));
                }
                if (rows.len() as i64) < PAGE {
                    break;
                }
            }
            let due_shards = take_due(&mut shard_queue, SHARD_GRACE);
            let mut due_complete = take_due(&mut complete_queue, COMPLETE_GRACE);
            // A certificate without a shard has only the complete CRL, which must then list it as
            // soon as a shard would.
            due_complete.extend(due_shards.iter().filter(|(.., shard)| shard.is_none()));
            if due_shards.is_empty() && due_complete.is_empty() {
                continue;
            }
            match self.uncovered(&due_shards, &due_complete).await {
                Ok((shards, complete)) => {
                    // Every revocation is checked once more against the complete CRL.
                    complete_queue.extend(due_shards);
                    if !shards.is_empty() || complete {
                        tracing::warn!(shards = ?shards, complete, "revocations not yet in their CRL (the replica that made them may have stopped): rebuilding here");
                        self.mark(shards, complete);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "CRL follower: cannot read CRL coverage; retrying");
                    complete_queue.extend(due_complete.into_iter().filter(|(.., k)| k.is_some()));
                    shard_queue.extend(due_shards);
                }
            }
        }
    }

    /// Which shards' newest CRLs miss one of `shards_due`, and whether the complete CRL misses
    /// one of `complete_due` (each compared with its own issuer's CRLs).
    async fn uncovered(
        &self,
        shards_due: &[Seen],
        complete_due: &[Seen],
    ) -> crate::AuthorityResult<(Vec<i64>, bool)> {
        let mut coverage: HashMap<i64, HashMap<Option<i64>, i64>> = HashMap::new();
        for &(_, _, issuer, _) in shards_due.iter().chain(complete_due) {
            if let std::collections::hash_map::Entry::Vacant(slot) = coverage.entry(issuer) {
                slot.insert(self.store.crl_coverage(issuer).await?.into_iter().collect());
            }
        }
        let covers = |issuer: i64, scope: Option<i64>, id: i64| {
            coverage
                .get(&issuer)
                .and_then(|c| c.get(&scope))
                .is_some_and(|&covered| covered >= id)
        };
        let mut shards: Vec<i64> = shards_due
            .iter()
            .filter_map(|&(_, id, issuer, shard)| shard.filter(|&k| !covers(issuer, Some(k), id)))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        let complete = complete_due
            .iter()
            .any(|&(_, id, issuer, _)| !covers(issuer, None, id));
        Ok((shards, complete))
    }
}

/// Remove and return the entries seen at least `grace` ago (the queue is in order of sight).
fn take_due(queue: &mut VecDeque<Seen>, grace: Duration) -> Vec<Seen> {
    let mut due = Vec::new();
    while queue
        .front()
        .is_some_and(|(seen, ..)| seen.elapsed() >= grace)
    {
        if let Some(entry) = queue.pop_front() {
            due.push(entry);
        }
    }
    due
}
