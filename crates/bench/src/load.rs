//! The closed-loop load generator: N workers, each sending its next request as soon as the previous
//! one is answered, over one keep-alive HTTPS client whose pool holds N connections.
use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one request ended.
pub enum Outcome {
    Ok,
    Err(String),
    /// The scenario has nothing left to send (e.g. every pre-issued certificate is revoked).
    Exhausted,
}

/// At most this many distinct error messages are kept (the first ones seen).
const MAX_DISTINCT_ERRORS: usize = 5;

#[derive(Default)]
struct WorkerStats {
    latencies_us: Vec<u32>,
    errors: u64,
    error_messages: Vec<(String, u64)>,
    exhausted: bool,
}

impl WorkerStats {
    fn error(&mut self, message: String) {
        self.errors += 1;
        if let Some(e) = self.error_messages.iter_mut().find(|(m, _)| *m == message) {
            e.1 += 1;
        } else if self.error_messages.len() < MAX_DISTINCT_ERRORS {
            self.error_messages.push((message, 1));
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub message: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// What a load phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadResult {
    /// Successful responses.
    pub requests: u64,
    pub errors: u64,
    pub error_messages: Vec<ErrorCount>,
    /// From the first request to the last response (requests in flight at the deadline finish).
    pub elapsed_s: f64,
    pub requests_per_second: f64,
    /// Of successful requests, milliseconds.
    pub latency_ms: Latency,
    /// The scenario ran out of work before the duration ended.
    pub exhausted: bool,
    /// Successful responses in each whole second of the run (shows a rate that drifts as the
    /// database grows).
    pub per_second: Vec<u64>,
}

/// Run `op(worker, iteration)` on `concurrency` workers until `duration` has passed.
pub async fn run<F, Fut>(
    concurrency: usize,
    duration: Duration,
    op: F,
) -> anyhow::Result<LoadResult>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    // One bucket per second, plus one for answers to requests sent just before the deadline.
    let buckets: Arc<Vec<AtomicU64>> = Arc::new(
        (0..duration.as_secs() as usize + 2)
            .map(|_| AtomicU64::new(0))
            .collect(),
    );
    let mut handles = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let op = op.clone();
        let buckets = buckets.clone();
        handles.push(tokio::spawn(async move {
            let mut stats = WorkerStats::default();
            let mut iteration = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match op(worker, iteration).await {
                    Outcome::Ok => {
                        let us = t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                        stats.latencies_us.push(us);
                        let second = (started.elapsed().as_secs() as usize).min(buckets.len() - 1);
                        buckets[second].fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Err(message) => stats.error(message),
                    Outcome::Exhausted => {
                        stats.exhausted = true;
                        break;
                    }
                }
                iteration += 1;
            }
            stats
        }));
    }
    let mut all = WorkerStats::default();
    for h in handles {
        let stats = h
            .await
            .map_err(|e| anyhow::anyhow!("a load worker failed: {e}"))?;
        all.latencies_us.extend(stats.latencies_us);
        all.errors += stats.errors;
        all.exhausted |= stats.exhausted;
        for (message, count) in stats.error_messages {
            if let Some(e) = all.error_messages.iter_mut().find(|(m, _)| *m == message) {
                e.1 += count;
            } else if all.error_messages.len() < MAX_DISTINCT_ERRORS {
                all.error_messages.push((message, count));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = all.latencies_us;
    lat.sort_unstable();
    let requests = lat.len() as u64;
    Ok(LoadResult {
        requests,
        errors: all.errors,
        error_messages: all
            .error_messages
            .into_iter()
            .map(|(message, count)| ErrorCount { message, count })
            .collect(),
        elapsed_s: elapsed,
        requests_per_second: if elapsed > 0.0 {
            requests as f64 / elapsed
        } else {
            0.0
        },
        latency_ms: latency(&lat),
        exhausted: all.exhausted,
        per_second: buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
    })
}

/// Nearest-rank percentiles of sorted microsecond samples, in milliseconds.
fn latency(sorted_us: &[u32]) -> Latency {
    let at = |p: f64| -> f64 {
        if sorted_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
        f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
    };
    let mean = if sorted_us.is_empty() {
        0.0
    } else {
        sorted_us.iter().map(|&u| f64::from(u)).sum::<f64>() / sorted_us.len() as f64 / 1000.0
    };
    Latency {
        p50: at(50.0),
        p90: at(90.0),
        p99: at(99.0),
        max: at(100.0),
        mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_ordered() {
        let samples: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let l = latency(&samples);
        assert_eq!(l.p50, 500.0);
        assert_eq!(l.p90, 900.0);
        assert_eq!(l.p99, 990.0);
        assert_eq!(l.max, 1000.0);
        assert!(latency(&[]).p99 == 0.0);
    }

    #[tokio::test]
    async fn counts_errors_and_stops_when_exhausted() {
        let r = run(4, Duration::from_secs(5), |_, i| async move {
            match i {
                0 => Outcome::Err("boom".into()),
                1..=9 => Outcome::Ok,
                _ => Outcome::Exhausted,
            }
        })
        .await
        .unwrap();
        assert_eq!(r.requests, 36);
        assert_eq!(r.errors, 4);
        assert_eq!(r.error_messages.len(), 1);
        assert!(r.exhausted);
        assert!(r.elapsed_s < 5.0);
    }
}
