//! Pre-signing the `good` OCSP response of each new certificate, on idle CPU.
//!
//! A pre-signature is an optimisation: a response missing from the cache is signed on the first
//! request for it. Made on the request thread it competed with issuance for the cores (an ECDSA
//! signature and the response's DER per certificate), so it is queued instead, to a thread of the
//! lowest scheduling class (Linux `SCHED_IDLE`), which runs when a core would otherwise idle. When
//! the bounded queue is full (the cores stay saturated) new pre-signatures are skipped and counted;
//! those responses are signed on demand, as any cache miss.
//!
//! The thread only signs. It never takes the cache's lock: a `SCHED_IDLE` thread preempted while
//! holding it would stall the request threads waiting for it until a core idles. Signed responses go
//! to a task on the server's runtime, which caches them.
//!
//! Each job carries the revocation epoch read before its certificate was stored. The thread skips a
//! job whose epoch has moved, and the cache refuses it too (`insert_if_current`, under the cache's
//! lock): a revocation since (through this replica or followed from another) voids the job however
//! late it runs, so a delayed `good` never shadows a `revoked`.
use super::ocsp::{OcspService, SignedOcspResponse};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock, Weak};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use vcc_pki_core::ocsp::{CertIdHash, CertificateStatus};
use vcc_pki_core::Serial;

/// Pre-signatures waiting at most; beyond it new ones are skipped (≈ 50 bytes each).
pub const PRESIGN_QUEUE: usize = 16_384;

pub(super) struct PresignJob {
    serial: Serial,
    issuer_ca_id: i64,
    epoch: u64,
}

/// The queue between issuance and the pre-signing thread.
#[derive(Default)]
pub(super) struct PresignQueue {
    /// Set when the thread runs; until then (tools and tests that build an Authority alone) jobs
    /// are signed inline.
    pub(super) sender: OnceLock<SyncSender<PresignJob>>,
    /// Pre-signatures skipped because the queue was full (logged at each power of two).
    skipped: AtomicU64,
}

impl OcspService {
    /// A certificate was just stored: have its `good` response pre-signed (see the module docs).
    pub(super) fn issued(&self, serial: &Serial, issuer_ca_id: i64, epoch: u64) {
        let queue = &self.presign;
        let Some(sender) = queue.sender.get() else {
            self.presign(serial, issuer_ca_id, CertificateStatus::Good, Some(epoch));
            return;
        };
        let job = PresignJob {
            serial: serial.clone(),
            issuer_ca_id,
            epoch,
        };
        match sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let skipped = queue.skipped.fetch_add(1, Ordering::Relaxed) + 1;
                if skipped.is_power_of_two() {
                    tracing::debug!(
                        skipped,
                        "OCSP: pre-signing queue full (CPU saturated); responses will be signed on demand"
                    );
                }
            }
            Err(TrySendError::Disconnected(job)) => self.presign(
                &job.serial,
                job.issuer_ca_id,
                CertificateStatus::Good,
                Some(job.epoch),
            ),
        }
    }

    /// Start the pre-signing thread and the task that caches what it signs (once; inside the
    /// server's runtime). Both hold the responder weakly and end with it.
    pub fn start_presigner(self: &Arc<Self>) {
        if self.presign.sender.get().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("OCSP: no runtime for the pre-signing thread; pre-signing inline");
            return;
        };
        let (sender, jobs) = mpsc::sync_channel(PRESIGN_QUEUE);
        let (signed_tx, signed_rx) = unbounded_channel();
        let responder = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("ocsp-presign".into())
            .spawn(move || presign_thread(responder, jobs, signed_tx));
        match spawned {
            Ok(_) => {
                runtime.spawn(cache_presigned(Arc::downgrade(self), signed_rx));
                // Only one caller gets here first in practice (serve start-up); a second thread
                // would find its queue's sender dropped and end.
                let _ = self.presign.sender.set(sender);
            }
            Err(e) => {
                tracing::warn!(error = %e, "OCSP: no pre-signing thread; pre-signing inline")
            }
        }
    }
}

type Signed = (PresignJob, SignedOcspResponse);

fn presign_thread(
    responder: Weak<OcspService>,
    jobs: Receiver<PresignJob>,
    signed: UnboundedSender<Signed>,
) {
    lowest_priority();
    while let Ok(job) = jobs.recv() {
        let Some(responder) = responder.upgrade() else {
            return;
        };
        if responder.epoch() != job.epoch {
            continue; // a revocation since: the cache would refuse it
        }
        let response =
            responder.sign_for_cache(&job.serial, job.issuer_ca_id, CertificateStatus::Good);
        if let Some(response) = response {
            if signed.send((job, response)).is_err() {
                return;
            }
        }
    }
}

/// Cache what the pre-signing thread signed, at normal priority.
async fn cache_presigned(responder: Weak<OcspService>, mut signed: UnboundedReceiver<Signed>) {
    while let Some((job, response)) = signed.recv().await {
        let Some(responder) = responder.upgrade() else {
            return;
        };
        let key = (job.serial, CertIdHash::Sha1);
        responder.insert_if_current(key, Arc::new(response), job.epoch);
    }
}

/// Put the calling thread in Linux's `SCHED_IDLE` class: it runs only on a core nothing else wants.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for SCHED_IDLE.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "OCSP: pre-signing thread keeps normal priority"
            );
        }
    }
}
