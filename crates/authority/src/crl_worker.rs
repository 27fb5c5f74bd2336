//! CRLs: partitioned by shard, rebuilt in the background (docs/REVOCATION.md).
//!
//! A certificate issued while a public URL is configured belongs to one of `--crl-shards` shards,
//! chosen from its serial and named in its CRL distribution point (`{public}/crl/{shard}`). A
//! revocation marks its shard dirty; the worker rebuilds the dirty shards at once, so the work a
//! revocation causes is bounded by a shard's size, not the fleet's. The complete CRL (`/crl`, the
//! seed endpoint, for clients that take one file) is rebuilt too, at once while it is cheap and
//! otherwise at most once per [`COMPLETE_CRL_DUTY`]× its last build time, so that however large it
//! grows it never takes more than about a tenth of one core.
use super::revocation::CRL_LIFETIME;
use super::Authority;
use crate::{AuthorityConfig, AuthorityError, AuthorityResult, Clock};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use vcc_pki_core::{fingerprint_sha256, Serial};
use vcc_pki_store::{AuditEntry, CrlRecord, RevokedRecord, SignedCrl, Store};

mod follower;

/// Fault injection for tests (issue 18): when set, a revocation marks nothing for a rebuild here,
/// as if this replica died right after committing it; another replica's follower must relist it.
const FAULT_SKIP_MARK: &str = "VCC_PKI_FAULT_SKIP_CRL_MARK";

/// The complete CRL waits this many times its last build time before it is rebuilt again.
pub const COMPLETE_CRL_DUTY: u32 = 10;
/// Most shards a deployment may configure.
pub const MAX_CRL_SHARDS: u32 = 4096;

/// What the worker still has to rebuild.
pub(super) struct CrlSchedule {
    dirty_shards: BTreeSet<i64>,
    complete_dirty: bool,
    /// The complete CRL is not rebuilt (for a revocation) before this.
    complete_not_before: Instant,
    /// At start-up every CRL is rebuilt once (a revocation committed just before a crash may
    /// have missed its rebuild); this says that was scheduled.
    started: bool,
    /// `thisUpdate` of the newest CRL of each scope this replica knows (`None`: the complete CRL),
    /// for the refresh before nextUpdate. Builds by other replicas are not seen, so these are
    /// never later than the truth: a refresh may come early, never late.
    built: std::collections::HashMap<Option<i64>, OffsetDateTime>,
    /// The worker is building CRLs right now.
    busy: bool,
}

impl Default for CrlSchedule {
    fn default() -> Self {
        Self {
            dirty_shards: BTreeSet::new(),
            complete_dirty: false,
            complete_not_before: Instant::now(),
            started: false,
            built: Default::default(),
            busy: false,
        }
    }
}

/// The CRL publisher: decides each new certificate's shard and keeps every CRL fresh. The
/// Authority tells it of every revocation synchronously (the revoked certificates' shards are
/// marked before `revoke` returns); it holds the Authority weakly, for the intermediate that
/// signs, and its worker ends with it.
pub struct CrlPublisher {
    authority: Weak<Authority>,
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<AuthorityConfig>,
    /// This process among the replicas sharing the database (holder of the scheduling lease).
    replica_id: String,
    /// What is still to rebuild.
    schedule: Mutex<CrlSchedule>,
    /// Wakes the worker after a revocation (rebuilds are coalesced).
    wake: Notify,
    /// [`FAULT_SKIP_MARK`] is set: revocations here mark nothing.
    skip_mark: bool,
}

impl CrlPublisher {
    pub(crate) fn new(
        authority: Weak<Authority>,
        store: Store,
        clock: Arc<dyn Clock>,
        config: Arc<AuthorityConfig>,
        replica_id: String,
    ) -> Self {
        Self {
            authority,
            store,
            clock,
            config,
            replica_id,
            schedule: Mutex::default(),
            wake: Notify::new(),
            skip_mark: std::env::var_os(FAULT_SKIP_MARK).is_some_and(|v| v == "1"),
        }
    }

    /// The authority, for the intermediate that signs the CRLs.
    fn authority(&self) -> AuthorityResult<Arc<Authority>> {
        self.authority
            .upgrade()
            .ok_or_else(|| AuthorityError::Unavailable("the authority is shutting down".into()))
    }

    /// Number of CRL shards new certificates are spread over (0: one complete CRL only).
    fn shard_count(&self) -> u32 {
        if self.config.public_url.is_some() {
            self.config.crl_shards.min(MAX_CRL_SHARDS)
        } else {
            // Without a public URL certificates carry no CRL distribution point to name a shard in.
            0
        }
    }

    /// The shard of a new certificate: its serial's last two bytes modulo the shard count (serials
    /// are random, so shards fill evenly). Stored with the certificate: changing the count later
    /// moves no certificate already issued.
    pub(super) fn shard_for(&self, serial: &Serial) -> Option<i64> {
        let shards = self.shard_count();
        if shards == 0 {
            return None;
        }
        let bytes = serial.as_bytes();
        let tail = bytes
            .iter()
            .rev()
            .take(2)
            .rev()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        Some(i64::from(tail % shards))
    }

    /// The URL of a CRL: the shard's, or the complete one's.
    pub(super) fn url(&self, shard: Option<i64>) -> Option<String> {
        let base = self.config.public_url.as_deref()?;
        Some(vcc_pki_core::profile::validity::crl_url(base, shard))
    }

    /// Certificates were revoked (durably): rebuild their shards and the complete CRL.
    pub(super) fn revoked(&self, revoked: &[RevokedRecord]) {
        if self.skip_mark {
            tracing::warn!(
                "{FAULT_SKIP_MARK}=1: this revocation's CRLs are left to another replica"
            );
            return;
        }
        self.mark(revoked.iter().filter_map(|r| r.crl_shard), true);
    }

    /// Mark shards (and the complete CRL) for a rebuild and wake the worker.
    fn mark(&self, shards: impl IntoIterator<Item = i64>, complete: bool) {
        if let Ok(mut schedule) = self.schedule.lock() {
            schedule.dirty_shards.extend(shards);
            schedule.complete_dirty |= complete;
        }
        self.wake.notify_one();
    }

    /// Ask for a rebuild of the complete CRL (a new intermediate, an unlock).
    pub fn trigger(&self) {
        self.mark(std::iter::empty(), true);
    }

    /// Build, sign and store one CRL now: the complete one (`shard` `None`) or a shard's.
    pub(super) async fn build_crl(
        &self,
        shard: Option<i64>,
        audit: AuditEntry,
    ) -> AuthorityResult<CrlRecord> {
        let (issuer_id, issuer) = self.authority()?.intermediate()?;
        let partition_url = shard.and_then(|k| self.url(Some(k)));
        let started = Instant::now();
        let clock = self.clock.clone();
        let (record, work) = self
            .store
            .insert_crl_with(issuer_id, shard, &audit, move |number, entries| {
                let revoked_count = entries.len() as i64;
                let this_update = crate::clock::whole_seconds(clock.now());
                let next_update = this_update + CRL_LIFETIME;
                let der = issuer
                    .issue_crl(
                        number as u64,
                        this_update,
                        next_update,
                        entries,
                        partition_url.as_deref(),
                    )
                    .map_err(|e| e.to_string())?;
                Ok(SignedCrl {
                    fingerprint_sha256: fingerprint_sha256(&der),
                    der,
                    this_update,
                    next_update,
                    revoked_count,
                })
            })
            .await?;
        let cost = started.elapsed();
        if shard.is_none() {
            return_freed_memory();
        }
        if let Ok(mut schedule) = self.schedule.lock() {
            if shard.is_none() {
                // The duty cycle counts the build's own work: time spent queued behind the load's
                // writes (or a database coming back) would hold the next complete CRL back for
                // nine times as long, while revocations wait for it.
                schedule.complete_not_before = Instant::now() + work * (COMPLETE_CRL_DUTY - 1);
            }
            schedule.built.insert(shard, record.this_update);
        }
        tracing::info!(
            crl_number = record.crl_number,
            shard = ?shard,
            revoked = record.revoked_count,
            millis = cost.as_millis() as u64,
            work_millis = work.as_millis() as u64,
            "CRL issued"
        );
        Ok(record)
    }

    /// Build one CRL now, as the worker would (benchmarks).
    pub async fn build_crl_now(&self, shard: Option<i64>) -> AuthorityResult<CrlRecord> {
        self.build_crl(shard, AuditEntry::new("system", "crl.generate", "crl"))
            .await
    }

    /// Build the complete CRL and every shard's (the scheduled refresh, `crl generate`).
    /// Marks are cleared before the builds start: a revocation committed meanwhile marks again.
    pub(super) async fn build_all_crls(&self, audit: AuditEntry) -> AuthorityResult<CrlRecord> {
        if let Ok(mut schedule) = self.schedule.lock() {
            schedule.dirty_shards.clear();
            schedule.complete_dirty = false;
        }
        let mut shards: BTreeSet<i64> = (0..i64::from(self.shard_count())).collect();
        if let Ok(schedule) = self.schedule.lock() {
            shards.extend(schedule.built.keys().flatten());
        }
        let built = async {
            for &shard in &shards {
                self.build_crl(Some(shard), audit.clone()).await?;
            }
            self.build_crl(None, audit).await
        }
        .await;
        if built.is_err() {
            if let Ok(mut schedule) = self.schedule.lock() {
                schedule.dirty_shards.extend(shards);
                schedule.complete_dirty = true;
            }
        }
        built
    }

    /// Rebuild what revocations marked: every dirty shard now, the complete CRL when its duty
    /// cycle allows. Returns how long until the complete CRL may be built, if it is still due.
    async fn build_dirty_crls(&self) -> Option<std::time::Duration> {
        let shards: Vec<i64> = match self.schedule.lock() {
            Ok(mut schedule) => std::mem::take(&mut schedule.dirty_shards)
                .into_iter()
                .collect(),
            Err(_) => Vec::new(),
        };
        for (i, &shard) in shards.iter().enumerate() {
            let audit = AuditEntry::new("system", "crl.generate", "crl");
            if let Err(e) = self.build_crl(Some(shard), audit).await {
                tracing::warn!(error = %e, shard, "shard CRL rebuild failed; retrying");
                if let Ok(mut schedule) = self.schedule.lock() {
                    // This shard and every one not reached yet.
                    schedule.dirty_shards.extend(&shards[i..]);
                }
                return Some(std::time::Duration::from_secs(5));
            }
        }
        let complete_wait = match self.schedule.lock() {
            Ok(schedule) if schedule.complete_dirty => Some(
                schedule
                    .complete_not_before
                    .saturating_duration_since(Instant::now()),
            ),
            _ => None,
        };
        match complete_wait {
            Some(wait) if wait.is_zero() => {
                if let Ok(mut schedule) = self.schedule.lock() {
                    schedule.complete_dirty = false;
                }
                let audit = AuditEntry::new("system", "crl.generate", "crl");
                if let Err(e) = self.build_crl(None, audit).await {
                    tracing::warn!(error = %e, "CRL rebuild failed; retrying");
                    if let Ok(mut schedule) = self.schedule.lock() {
                        schedule.complete_dirty = true;
                    }
                    return Some(std::time::Duration::from_secs(5));
                }
                None
            }
            other => other,
        }
    }

    /// At start-up: mark every CRL for a rebuild — the configured shards, shards a previous
    /// configuration left in `crl_history` (their certificates still name them), and the complete one.
    async fn schedule_startup_rebuild(&self) {
        let started = self.schedule.lock().map(|s| s.started).unwrap_or(true);
        if started {
            return;
        }
        let existing: Vec<i64> = match self.store.shard_crl_updates().await {
            Ok(rows) => rows.into_iter().map(|(k, _)| k).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "CRL worker: cannot list shard CRLs");
                return;
            }
        };
        if let Ok(mut schedule) = self.schedule.lock() {
            schedule.started = true;
            schedule.dirty_shards.extend(existing);
            schedule
                .dirty_shards
                .extend(0..i64::from(self.shard_count()));
            schedule.complete_dirty = true;
        }
    }

    fn set_busy(&self, busy: bool) {
        if let Ok(mut schedule) = self.schedule.lock() {
            schedule.busy = busy;
        }
    }

    /// Whether the CRL worker has work it could do now (benchmarks wait for it to settle):
    /// the start-up rebuild not done, a build running, dirty shards, or a complete CRL due.
    pub fn work_pending(&self) -> bool {
        self.schedule.lock().is_ok_and(|s| {
            !s.started
                || s.busy
                || !s.dirty_shards.is_empty()
                || (s.complete_dirty && s.complete_not_before <= Instant::now())
        })
    }

    /// How long until the oldest CRL this replica knows is two thirds into its validity.
    pub(crate) fn refresh_due_in(&self) -> Duration {
        let oldest = self
            .schedule
            .lock()
            .ok()
            .and_then(|s| s.built.values().min().copied());
        match oldest {
            Some(t) => {
                vcc_pki_core::profile::renewal_due(t, t + CRL_LIFETIME)
                    - crate::clock::whole_seconds(self.clock.now())
            }
            None => Duration::ZERO,
        }
    }

    /// Background worker: rebuilds CRLs after revocations (coalesced) and before nextUpdate.
    pub async fn run_worker(self: Arc<Self>) {
        let mut complete_wait: Option<std::time::Duration> = None;
        loop {
            let mut wait = std::time::Duration::try_from(self.refresh_due_in().max(Duration::ZERO))
                .unwrap_or_default()
                .min(std::time::Duration::from_secs(3600));
            if let Some(deferred) = complete_wait {
                wait = wait.min(deferred);
            }
            if !self.schedule.lock().map(|s| s.started).unwrap_or(true) {
                wait = std::time::Duration::ZERO;
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = self.wake.notified() => {},
                    _ = tokio::time::sleep(wait) => {},
                }
            }
            // The authority is held for this check only (not across the wait).
            let ready = self.authority.upgrade().map(|a| a.intermediate().is_ok());
            match ready {
                Some(true) => {}
                Some(false) => {
                    // No unlocked intermediate yet: wait for one to appear.
                    self.wake.notified().await;
                    continue;
                }
                None => return,
            }
            self.schedule_startup_rebuild().await;
            self.set_busy(true);
            complete_wait = self.build_dirty_crls().await;
            self.set_busy(false);
            if self.refresh_due_in() > Duration::ZERO {
                continue;
            }
            // The scheduled rebuild before nextUpdate (every shard and the complete CRL) is done by
            // whichever replica holds the "crl" lease; the others ask again each minute (their view
            // of other replicas' builds is older than the truth, never newer).
            match self
                .store
                .acquire_lease("crl", &self.replica_id, Duration::minutes(10))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "CRL worker: cannot take the scheduling lease");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    continue;
                }
            }
            let audit = AuditEntry::new("system", "crl.generate", "crl");
            self.set_busy(true);
            let built = self.build_all_crls(audit).await;
            self.set_busy(false);
            if let Err(e) = built {
                tracing::warn!(error = %e, "scheduled CRL rebuild failed; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
    }
}

/// Give the memory a complete CRL's build freed back to the operating system. glibc keeps freed
/// blocks in per-thread arenas; a million-entry build frees ≈ 200 MB on whichever blocking thread
/// signed it, and without a trim the next build on another thread stacks on top (measured: the
/// resident size before a build crept from 60 to 135 MiB).
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap pages; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}
