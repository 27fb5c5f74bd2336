//! Group commit for issuances: one writer task takes every insert waiting at that moment, runs
//! them in one transaction (a savepoint each) and answers each caller after the commit. One fsync
//! (SQLite) or one commit round trip and one advisory lock (PostgreSQL) then serve a whole batch,
//! and no certificate is handed out before it is durable.
use crate::certificates::{insert_certificate_in, IssueEffects, NewCertificate};
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

#[derive(Clone)]
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    pub(crate) fn start(pool: Pool<Any>, backend: Backend) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(writer(pool, backend, rx));
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
            .send(Job {
                cert,
                effects,
                audit,
                reply,
            })
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer dropped the request".into()))?
    }
}

async fn writer(pool: Pool<Any>, backend: Backend, mut rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit_batch(&pool, backend, &batch).await;
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

/// Run every job in its own savepoint; commit once. `Err` only when the transaction itself failed
/// (then nothing of the batch is stored).
async fn commit_batch(
    pool: &Pool<Any>,
    backend: Backend,
    batch: &[Job],
) -> Result<Vec<Result<i64>>> {
    let mut tx = begin_on(pool, backend).await?;
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
        match insert_certificate_in(&mut savepoint, &job.cert, &job.effects, &job.audit).await {
            Ok(id) => {
                savepoint.commit().await?;
                results.push(Ok(id));
            }
            Err(e) => {
                savepoint.rollback().await?;
                results.push(Err(e));
            }
        }
    }
    tx.commit().await?;
    Ok(results)
}
