//! Group commit for issuances: one writer task takes every insert waiting at that moment, runs
//! them in one transaction (a savepoint each) and answers each caller after the commit. One fsync
//! (SQLite) or one commit round trip and one advisory lock (PostgreSQL) then serve a whole batch,
//! and no certificate is handed out before it is durable.
use crate::batch_insert::{insert_batch, BatchItem};
use crate::certificates::{
    insert_certificate_in, revoke_in, IssueEffects, NewCertificate, Revocation, RevokedRecord,
};
use crate::sqlite_writer::SqliteWriter;
use crate::{begin_on, AuditEntry, Backend, Result, StoreError};
use sqlx::pool::Pool;
use sqlx::Any;
use tokio::sync::{mpsc, oneshot};

/// Most issuances in one transaction.
pub const MAX_BATCH: usize = 256;

struct Job {
    cert: NewCertificate,
    effects: IssueEffects,
    audit: AuditEntry,
    reply: oneshot::Sender<Result<i64>>,
}

struct RevokeJob {
    revocation: Revocation,
    reply: oneshot::Sender<Result<Vec<RevokedRecord>>>,
}

/// What the writer is sent: an issuance to store, or (SQLite) a revocation.
enum Work {
    Issue(Box<Job>),
    Revoke(Box<RevokeJob>),
}

#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Work>,
}

impl GroupCommit {
    /// The writer runs on a thread of its own with its own small runtime: a batch is a dozen
    /// statements in sequence, and on the shared runtime each of their completions would wait
    /// for a worker behind every request being parsed and signed (measured: 10 ms a batch there,
    /// with the database busy half of that time). If that thread cannot start, it runs as a task.
    ///
    /// On SQLite (`sqlite_url`) the thread opens its own connection to the database for the
    /// batches ([`SqliteWriter`]); without one it stores them through `pool`.
    pub(crate) fn start(pool: Pool<Any>, backend: Backend, sqlite_url: Option<String>) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        let pool_for_thread = pool.clone();
        // The runtime is built on the thread: dropped here, in async context, it would panic.
        let spawned = std::thread::Builder::new()
            .name("vcc-group-commit".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        // Dropping the receiver makes every write fail with "writer has stopped".
                        tracing::error!(error = %e, "no runtime for the group-commit writer");
                        return;
                    }
                };
                let sqlite = sqlite_url.and_then(|url| match SqliteWriter::open(&url) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "group commit: no connection of its own; batches go through sqlx");
                        None
                    }
                });
                runtime.block_on(writer(pool_for_thread, backend, rx, sqlite))
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for the group-commit writer");
            // The receiver went down with the closure; start over on the shared runtime.
            let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(writer(pool, backend, rx, None));
            return Self { jobs };
        }
        Self { jobs }
    }

    pub(crate) async fn submit(
        &self,
        cert: NewCertificate,
        effects: IssueEffects,
        audit: AuditEntry,
    ) -> Result<i64> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Work::Issue(Box::new(Job {
                cert,
                effects,
                audit,
                reply,
            })))
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer dropped the request".into()))?
    }

    /// Revoke in the writer's next batch: all revocations waiting share one transaction.
    pub(crate) async fn revoke(&self, revocation: Revocation) -> Result<Vec<RevokedRecord>> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Work::Revoke(Box::new(RevokeJob { revocation, reply })))
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer dropped the request".into()))?
    }
}

/// `sqlite`: the thread's own connection; its calls block, so it is only given on the writer's own thread.
async fn writer(
    pool: Pool<Any>,
    backend: Backend,
    mut rx: mpsc::Receiver<Work>,
    mut sqlite: Option<SqliteWriter>,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut known = KnownServices::default();
    let mut revocations: Vec<RevokeJob> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(work) = next.take() {
            match work {
                Work::Issue(job) => batch.push(*job),
                Work::Revoke(job) => revocations.push(*job),
            }
            if batch.len() + revocations.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        // Revocations first: an issuance in this batch then sees a key they block.
        if !revocations.is_empty() {
            let started = std::time::Instant::now();
            let size = revocations.len();
            commit_revocations(&pool, backend, sqlite.as_mut(), &mut revocations).await;
            crate::telemetry::commit("revoke", started.elapsed(), size, true);
        }
        if batch.is_empty() {
            continue;
        }
        let started = std::time::Instant::now();
        let results = match sqlite.as_mut() {
            Some(own) => Ok(commit_batch_own(&pool, own, &batch, &mut known).await),
            None => {
                let jobs: Vec<&Job> = batch.iter().collect();
                commit_batch(&pool, backend, &jobs, &mut known).await
            }
        };
        tracing::trace!(
            size = batch.len(),
            micros = started.elapsed().as_micros() as u64,
            "batch committed"
        );
        crate::telemetry::commit("issue", started.elapsed(), batch.len(), results.is_ok());
        match results {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                let detail = e.to_string();
                tracing::warn!(error = %detail, size = batch.len(), "batch commit failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Unavailable(detail.clone())));
                }
            }
        }
    }
}

/// Store the waiting revocations: on the writer's own SQLite connection in one transaction (holding
/// the sqlx write connection meanwhile), else, or if that fails, one transaction each through sqlx.
async fn commit_revocations(
    pool: &Pool<Any>,
    backend: Backend,
    own: Option<&mut SqliteWriter>,
    jobs: &mut Vec<RevokeJob>,
) {
    if let Some(own) = own {
        match pool.acquire().await {
            Ok(sqlx_writer) => {
                let items: Vec<&Revocation> = jobs.iter().map(|j| &j.revocation).collect();
                let stored = own.revoke(&items);
                drop(sqlx_writer);
                match stored {
                    Ok(all) => {
                        for (job, revoked) in jobs.drain(..).zip(all) {
                            let _ = job.reply.send(Ok(revoked));
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, size = jobs.len(), "revocations failed on the writer's connection; storing them through sqlx");
                    }
                }
            }
            Err(e) => {
                let detail = e.to_string();
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Unavailable(detail.clone())));
                }
                return;
            }
        }
    }
    for job in jobs.drain(..) {
        let result = async {
            let mut tx = begin_on(pool, backend).await?;
            let revoked = revoke_in(&mut tx, &job.revocation).await?;
            tx.commit().await?;
            Ok(revoked)
        }
        .await;
        let _ = job.reply.send(result);
    }
}

/// Service ids known to exist: an admin's issuance asks to create its service if missing, and the
/// writer skips that insert for services it has seen stored (services are never deleted; were one
/// missing after all, the bulk insert fails on the foreign key and the one-by-one path creates it).
#[derive(Default)]
struct KnownServices(std::collections::HashSet<String>);

impl KnownServices {
    const MAX: usize = 100_000;

    fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }

    fn learn(&mut self, ids: impl Iterator<Item = String>) {
        if self.0.len() > Self::MAX {
            self.0.clear();
        }
        self.0.extend(ids);
    }
}

/// Store the batch on the writer's own SQLite connection, holding the sqlx write connection
/// meanwhile so that no other write waits on SQLite's lock. Jobs that use up an enrollment token,
/// and the whole batch if a statement fails there, go through [`commit_batch`] afterwards. One
/// result per job; a failure there fails only the jobs it held.
async fn commit_batch_own(
    pool: &Pool<Any>,
    own: &mut SqliteWriter,
    batch: &[Job],
    known: &mut KnownServices,
) -> Vec<Result<i64>> {
    let started = std::time::Instant::now();
    let mut results: Vec<Option<Result<i64>>> = batch.iter().map(|_| None).collect();
    let bulk: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].effects.bulk_insertable())
        .collect();
    if !bulk.is_empty() {
        match pool.acquire().await {
            Ok(sqlx_writer) => {
                let items: Vec<BatchItem> =
                    bulk.iter().map(|&i| batch_item(&batch[i], known)).collect();
                match own.store(&items) {
                    Ok(stored) => {
                        for (&i, result) in bulk.iter().zip(stored) {
                            results[i] = Some(result);
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, size = bulk.len(), "batch failed on the writer's connection; storing it through sqlx");
                    }
                }
                drop(sqlx_writer);
            }
            Err(e) => {
                let detail = e.to_string();
                for &i in &bulk {
                    results[i] = Some(Err(StoreError::Unavailable(detail.clone())));
                }
            }
        }
    }
    let rest: Vec<usize> = (0..batch.len()).filter(|&i| results[i].is_none()).collect();
    if !rest.is_empty() {
        let jobs: Vec<&Job> = rest.iter().map(|&i| &batch[i]).collect();
        match commit_batch(pool, Backend::Sqlite, &jobs, known).await {
            Ok(stored) => {
                for (&i, result) in rest.iter().zip(stored) {
                    results[i] = Some(result);
                }
            }
            Err(e) => {
                let detail = e.to_string();
                tracing::warn!(error = %detail, size = rest.len(), "batch commit failed");
                for &i in &rest {
                    results[i] = Some(Err(StoreError::Unavailable(detail.clone())));
                }
            }
        }
    }
    tracing::trace!(
        committed = started.elapsed().as_micros() as u64,
        "batch timing"
    );
    settle(batch.iter(), results, known)
}

/// Remember the services of the jobs stored, and give each job its result (a job without one was
/// not stored).
fn settle<'a>(
    jobs: impl Iterator<Item = &'a Job>,
    results: Vec<Option<Result<i64>>>,
    known: &mut KnownServices,
) -> Vec<Result<i64>> {
    known.learn(
        jobs.zip(&results)
            .filter(|(_, r)| matches!(r, Some(Ok(_))))
            .map(|(job, _)| job.cert.service_id.clone()),
    );
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Unavailable("not stored".into()))))
        .collect()
}

fn batch_item<'a>(job: &'a Job, known: &KnownServices) -> BatchItem<'a> {
    BatchItem {
        cert: &job.cert,
        create_service: job
            .effects
            .create_service
            .as_ref()
            .filter(|s| !known.contains(&s.service_id)),
        audit: &job.audit,
    }
}

/// Store the batch and commit once. Jobs that only insert go through [`insert_batch`] (a constant
/// number of statements); jobs that use up an enrollment token run one by one, each in its own
/// savepoint so that one refusal does not undo the others. If the bulk step fails (a duplicate
/// serial, a missing service), its transaction is rolled back and the whole batch runs one by one
/// in a new one. `Err` only when a transaction itself failed (then nothing of the batch is stored).
async fn commit_batch(
    pool: &Pool<Any>,
    backend: Backend,
    batch: &[&Job],
    known: &mut KnownServices,
) -> Result<Vec<Result<i64>>> {
    let started = std::time::Instant::now();
    let mut tx = begin_on(pool, backend).await?;
    let begun = started.elapsed().as_micros() as u64;
    let mut results: Vec<Option<Result<i64>>> = batch.iter().map(|_| None).collect();
    let bulk: Vec<usize> = (0..batch.len())
        .filter(|&i| batch[i].effects.bulk_insertable())
        .collect();
    if !bulk.is_empty() {
        let items: Vec<BatchItem> = bulk.iter().map(|&i| batch_item(batch[i], known)).collect();
        match insert_batch(&mut tx, backend, &items).await {
            Ok(stored) => {
                for (&i, result) in bulk.iter().zip(stored) {
                    results[i] = Some(result);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, size = bulk.len(), "bulk insert failed; storing the batch one by one");
                tx.rollback().await?;
                tx = begin_on(pool, backend).await?;
            }
        }
    }
    for (job, slot) in batch.iter().zip(results.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
        match insert_certificate_in(&mut savepoint, &job.cert, &job.effects, &job.audit).await {
            Ok(id) => {
                savepoint.commit().await?;
                *slot = Some(Ok(id));
            }
            Err(e) => {
                savepoint.rollback().await?;
                *slot = Some(Err(e));
            }
        }
    }
    let stored = started.elapsed().as_micros() as u64;
    tx.commit().await?;
    tracing::trace!(
        begun,
        stored,
        committed = started.elapsed().as_micros() as u64,
        "batch timing"
    );
    Ok(settle(batch.iter().copied(), results, known))
}
