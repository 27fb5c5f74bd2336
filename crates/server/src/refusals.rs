//! Failed authentications, bounded per source address (issue 16): each source may fail a burst
//! of requests, then one every [`REFILL_EVERY`]; beyond that its requests are answered 429 before
//! any work is done (no token lookup, no CSR parsing, no audit row). A failure is a 401, or a 403
//! to a requester that is not an admin or an auditor (anonymous, a bad token, an enrollment token
//! — whose refusals never use it up — or a service certificate). Valid requests from other
//! sources are not affected; the store bounds the audit rows of all sources together
//! (`Store::audit_refusal`).
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures a source may have in a row before it is slowed down.
pub const BURST: f64 = 60.0;
/// One more failure is allowed per this interval once the burst is spent.
pub const REFILL_EVERY: Duration = Duration::from_millis(500);
/// Sources tracked at once; beyond, idle ones are forgotten, and if none is idle the new source
/// shares one bucket with the other overflowing sources.
const MAX_SOURCES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(now: Instant) -> Self {
        Self {
            tokens: BURST,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let gained = now.duration_since(self.updated).as_secs_f64() / REFILL_EVERY.as_secs_f64();
        self.tokens = (self.tokens + gained).min(BURST);
        self.updated = now;
    }
}

/// Where failures are counted: one address, an IPv6 /64 (one host's whole range), or the shared
/// overflow bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
    Overflow,
}

fn source_of(ip: IpAddr) -> Source {
    match ip {
        IpAddr::V4(v4) => Source::V4(v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Source::V4(v4.octets()),
            None => {
                let mut prefix = [0u8; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Source::V6Prefix(prefix)
            }
        },
    }
}

/// How often a full map may be swept of idle sources.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct RefusalLimiter {
    sources: Mutex<HashMap<Source, Bucket>>,
    last_sweep: Mutex<Option<Instant>>,
}

/// What [`RefusalLimiter::admit`] reserved for a request: a failure taken in advance from its
/// source's bucket (so that concurrent requests cannot overshoot it), given back if the request
/// does not fail.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    source: Source,
    reserved: bool,
}

impl RefusalLimiter {
    /// `Err(retry_after)` when `ip` has no failures left; otherwise admitted, with one failure
    /// reserved if the source has failed before.
    pub fn admit(&self, ip: IpAddr) -> Result<Admission, Duration> {
        let now = Instant::now();
        let source = source_of(ip);
        let Ok(mut sources) = self.sources.lock() else {
            return Ok(Admission {
                source,
                reserved: false,
            });
        };
        // A source not tracked while the map is full is charged to the shared overflow bucket.
        let source = if !sources.contains_key(&source) && sources.len() >= MAX_SOURCES {
            Source::Overflow
        } else {
            source
        };
        let Some(bucket) = sources.get_mut(&source) else {
            return Ok(Admission {
                source,
                reserved: false,
            });
        };
        bucket.refill(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(Admission {
                source,
                reserved: true,
            })
        } else {
            Err(REFILL_EVERY
                .mul_f64(1.0 - bucket.tokens)
                .max(Duration::from_secs(1)))
        }
    }

    /// The request admitted as `admission` has been answered; `failed`: it counts as a failure.
    pub fn answered(&self, admission: Admission, failed: bool) {
        if failed == admission.reserved {
            return; // a reserved failure that happened, or nothing reserved and nothing failed
        }
        let now = Instant::now();
        let Ok(mut sources) = self.sources.lock() else {
            return;
        };
        if !failed {
            if let Some(bucket) = sources.get_mut(&admission.source) {
                bucket.tokens = (bucket.tokens + 1.0).min(BURST);
            }
            return;
        }
        let mut source = admission.source;
        if !sources.contains_key(&source) && sources.len() >= MAX_SOURCES {
            // Forget the sources whose buckets are full again, at most once a minute (a sweep is
            // O(sources) under the lock); until then new sources share the overflow bucket.
            let sweep_due = self
                .last_sweep
                .lock()
                .map(|mut last| {
                    let due = last.is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY);
                    if due {
                        *last = Some(now);
                    }
                    due
                })
                .unwrap_or(false);
            if sweep_due {
                sources.retain(|_, b| {
                    b.refill(now);
                    b.tokens < BURST
                });
            }
            if sources.len() >= MAX_SOURCES {
                source = Source::Overflow;
            }
        }
        let bucket = sources.entry(source).or_insert_with(|| Bucket::full(now));
        bucket.refill(now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }
}

/// Whether an answer counts as a failed authentication of its requester.
/// Every 401 (no or bad credentials: the API, a dashboard sign-in); a 403 when the request
/// authenticated as someone other than an admin or auditor (`principal_kind` `None`: a route
/// that does not authenticate API requesters, such as ACME, whose refusals are its protocol's).
pub fn is_failure(status: axum::http::StatusCode, principal_kind: Option<&str>) -> bool {
    use axum::http::StatusCode;
    status == StatusCode::UNAUTHORIZED
        || (status == StatusCode::FORBIDDEN
            && principal_kind.is_some_and(|k| !matches!(k, "admin" | "auditor")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_slowed_after_its_burst_and_others_are_not() {
        let limiter = RefusalLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..BURST as usize {
            let admitted = limiter.admit(a).unwrap();
            limiter.answered(admitted, true);
        }
        assert!(limiter.admit(a).is_err(), "the burst is spent");
        assert!(limiter.admit(b).is_ok(), "another source is not affected");
        // The same host's other IPv6 addresses share one bucket.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..BURST as usize {
            let admitted = limiter.admit(v6).unwrap();
            limiter.answered(admitted, true);
        }
        assert!(limiter.admit("2001:db8::ffff".parse().unwrap()).is_err());
        assert!(limiter.admit("2001:db8:1::1".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_reserved_failure_is_given_back_when_the_request_succeeds() {
        let limiter = RefusalLimiter::default();
        let a: IpAddr = "192.0.2.9".parse().unwrap();
        for _ in 0..(BURST as usize - 1) {
            let admitted = limiter.admit(a).unwrap();
            limiter.answered(admitted, true);
        }
        // One failure left: concurrent requests cannot both take it.
        let first = limiter.admit(a).unwrap();
        assert!(limiter.admit(a).is_err());
        // That request succeeded: its reservation comes back.
        limiter.answered(first, false);
        assert!(limiter.admit(a).is_ok());
    }

    #[test]
    fn only_refusals_of_unprivileged_requesters_count() {
        use axum::http::StatusCode;
        assert!(is_failure(StatusCode::UNAUTHORIZED, Some("anonymous")));
        assert!(is_failure(StatusCode::FORBIDDEN, Some("enrollment")));
        assert!(is_failure(StatusCode::FORBIDDEN, Some("bad_token")));
        assert!(!is_failure(StatusCode::FORBIDDEN, Some("auditor")));
        assert!(!is_failure(StatusCode::OK, Some("anonymous")));
        assert!(
            !is_failure(StatusCode::FORBIDDEN, None),
            "ACME answers its own refusals"
        );
    }
}
