//! Background renewal as a tokio task: checks on an interval (with jitter), renews when the
//! remaining lifetime falls below the threshold, backs off on failure, refreshes the CRL, and
//! stops when its handle is stopped or dropped.
use crate::PkiClient;
use rand::Rng;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone)]
pub struct RenewalPolicy {
    pub check_interval: Duration,
    /// Renew when less than this remains; `None` = 30 days or a third of the lifetime, whichever is shorter.
    pub threshold: Option<Duration>,
    /// First retry delay after a failure; doubles up to `check_interval`.
    pub initial_backoff: Duration,
}

impl Default for RenewalPolicy {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(6 * 3600),
            threshold: None,
            initial_backoff: Duration::from_secs(30),
        }
    }
}

impl RenewalPolicy {
    /// How much lifetime must remain before renewal is due, for a certificate of `lifetime`.
    pub fn threshold_for(&self, lifetime: Duration) -> Duration {
        self.threshold
            .unwrap_or_else(|| Duration::from_secs(30 * 86400).min(lifetime / 3))
    }
}

/// Handle on the renewal task; dropping it stops the task.
pub struct AutoRenewal {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    renewals: watch::Receiver<u64>,
}

impl AutoRenewal {
    /// Number of successful renewals so far.
    pub fn renewals(&self) -> u64 {
        *self.renewals.borrow()
    }

    /// Wait until at least `n` renewals have happened.
    pub async fn wait_for_renewals(&mut self, n: u64) {
        while *self.renewals.borrow() < n {
            if self.renewals.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stop and wait for the task to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for AutoRenewal {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn is_due(client: &PkiClient, policy: &RenewalPolicy) -> bool {
    let Some((not_before, not_after)) = client.current_validity() else {
        return false;
    };
    let lifetime = Duration::try_from(not_after - not_before).unwrap_or_default();
    let remaining =
        Duration::try_from(not_after - time::OffsetDateTime::now_utc()).unwrap_or_default();
    remaining < policy.threshold_for(lifetime)
}

pub(crate) fn spawn(client: PkiClient, policy: RenewalPolicy) -> AutoRenewal {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let (count_tx, count_rx) = watch::channel(0u64);
    let task = tokio::spawn(async move {
        let mut backoff = policy.initial_backoff;
        let mut delay = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stop_rx.changed() => return,
            }
            if *stop_rx.borrow() {
                return;
            }
            if let Err(e) = client.refresh_revocation().await {
                tracing::debug!(error = %e, "CRL refresh failed");
            }
            let result = if is_due(&client, &policy) {
                Some(client.renew_certificate().await)
            } else {
                None
            };
            delay = match result {
                Some(Err(e)) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "certificate renewal failed");
                    let d = backoff;
                    backoff = (backoff * 2).min(policy.check_interval);
                    d
                }
                Some(Ok(info)) => {
                    tracing::info!(serial = %info.serial_number, not_after = %info.not_after, "certificate renewed");
                    backoff = policy.initial_backoff;
                    count_tx.send_modify(|n| *n += 1);
                    jitter(policy.check_interval)
                }
                None => jitter(policy.check_interval),
            };
        }
    });
    AutoRenewal {
        stop: stop_tx,
        task: Some(task),
        renewals: count_rx,
    }
}

/// ±10 % so a fleet started together does not renew in lockstep.
fn jitter(interval: Duration) -> Duration {
    let factor = rand::rng().random_range(0.9..1.1);
    interval.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threshold_is_thirty_days_or_a_third() {
        let p = RenewalPolicy::default();
        assert_eq!(
            p.threshold_for(Duration::from_secs(365 * 86400)),
            Duration::from_secs(30 * 86400)
        );
        assert_eq!(
            p.threshold_for(Duration::from_secs(30 * 86400)),
            Duration::from_secs(10 * 86400)
        );
        let fixed = RenewalPolicy {
            threshold: Some(Duration::from_secs(5)),
            ..Default::default()
        };
        assert_eq!(
            fixed.threshold_for(Duration::from_secs(86400)),
            Duration::from_secs(5)
        );
    }
}
