//! Pre-signing the `good` OCSP response of each new certificate, on idle CPU.
//!
//! A pre-signature is an optimisation: a response missing from the cache is signed on the first
//! request for it. Made on the request thread it cost a fifth of the issuance throughput of a
//! saturated 2-core server (an ECDSA signature, response DER, the cache's write lock), so it is
//! queued instead, to a thread of the lowest scheduling class (Linux `SCHED_IDLE`): it runs when a
//! core would otherwise idle. Under sustained saturation the bounded queue fills and further
//! pre-signatures are skipped (counted); those responses are signed on demand, as any cache miss.
//!
//! Each job carries the revocation epoch read before its certificate was stored; a revocation
//! since then (through this replica or followed from another) voids the job's insert, however
//! late it runs, so a delayed `good` can never shadow a `revoked`.
use super::Authority;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use vcc_pki_core::ocsp::CertificateStatus;
use vcc_pki_core::Serial;

/// Pre-signatures waiting at most; beyond it new ones are skipped (≈ 80 bytes each).
pub const PRESIGN_QUEUE: usize = 16_384;

pub(super) struct PresignJob {
    serial: Serial,
    issuer_ca_id: i64,
    epoch: u64,
}

/// The queue between issuance and the pre-signing thread.
pub(super) struct PresignQueue {
    sender: SyncSender<PresignJob>,
    /// Taken by the thread when it starts; until then jobs are signed inline.
    receiver: Mutex<Option<Receiver<PresignJob>>>,
    pub(super) started: AtomicBool,
    /// Pre-signatures skipped because the queue was full (logged at each power of two).
    skipped: AtomicU64,
}

impl Default for PresignQueue {
    fn default() -> Self {
        let (sender, receiver) = mpsc::sync_channel(PRESIGN_QUEUE);
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
            started: AtomicBool::new(false),
            skipped: AtomicU64::new(0),
        }
    }
}

impl Authority {
    /// A certificate was just stored: have its `good` response pre-signed (see the module docs).
    /// Before the pre-signing thread runs (tools and tests that build an Authority alone) the
    /// response is signed here.
    pub(super) fn ocsp_issued(&self, serial: &Serial, issuer_ca_id: i64, epoch: u64) {
        let queue = &self.ocsp.presign;
        if !queue.started.load(Ordering::Acquire) {
            self.ocsp_presign(serial, issuer_ca_id, CertificateStatus::Good, Some(epoch));
            return;
        }
        let job = PresignJob {
            serial: serial.clone(),
            issuer_ca_id,
            epoch,
        };
        match queue.sender.try_send(job) {
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
            Err(TrySendError::Disconnected(job)) => self.ocsp_presign(
                &job.serial,
                job.issuer_ca_id,
                CertificateStatus::Good,
                Some(job.epoch),
            ),
        }
    }

    /// Start the pre-signing thread (once). It holds the Authority weakly and ends with it.
    pub fn start_ocsp_presigner(self: &Arc<Self>) {
        let Some(receiver) = self
            .ocsp
            .presign
            .receiver
            .lock()
            .ok()
            .and_then(|mut r| r.take())
        else {
            return;
        };
        let authority = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("ocsp-presign".into())
            .spawn(move || presign_thread(authority, receiver));
        match spawned {
            Ok(_) => self.ocsp.presign.started.store(true, Ordering::Release),
            Err(e) => {
                tracing::warn!(error = %e, "OCSP: no pre-signing thread; pre-signing on the request path")
            }
        }
    }
}

fn presign_thread(authority: Weak<Authority>, receiver: Receiver<PresignJob>) {
    lowest_priority();
    while let Ok(job) = receiver.recv() {
        let Some(authority) = authority.upgrade() else {
            return;
        };
        authority.ocsp_presign(
            &job.serial,
            job.issuer_ca_id,
            CertificateStatus::Good,
            Some(job.epoch),
        );
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
