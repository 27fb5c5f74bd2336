//! Guessing the CA password online (issue 18): a request that offers a CA password (creating a
//! CA, unlocking a sealed one) is answered about it at most [`MAX_FAILURES`] times wrong per
//! [`WINDOW`], across all requesters; past that, password checks are refused until the window
//! has moved on. Every wrong password is audited by the caller. With the existence checks made
//! before any password is looked at, creating a CA that exists says nothing about the password.
use crate::{AuthorityError, AuthorityResult};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong CA passwords accepted for checking per [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub(crate) struct PasswordGuard {
    failures: Mutex<VecDeque<Instant>>,
}

impl PasswordGuard {
    /// Refuse to check a password while too many wrong ones came in the window.
    pub(crate) fn check_allowed(&self) -> AuthorityResult<()> {
        let Ok(mut failures) = self.failures.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            failures.pop_front();
        }
        if failures.len() >= MAX_FAILURES {
            let wait = failures
                .front()
                .map(|t| WINDOW.saturating_sub(now.duration_since(*t)))
                .unwrap_or(WINDOW);
            return Err(AuthorityError::Unavailable(format!(
                "too many wrong CA passwords: password checks are refused for {} s",
                wait.as_secs().max(1)
            )));
        }
        Ok(())
    }

    /// A wrong password was offered.
    pub(crate) fn failed(&self) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push_back(Instant::now());
            while failures.len() > MAX_FAILURES {
                failures.pop_front();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_stop_after_the_allowed_failures() {
        let guard = PasswordGuard::default();
        for _ in 0..MAX_FAILURES {
            assert!(guard.check_allowed().is_ok());
            guard.failed();
        }
        assert!(matches!(
            guard.check_allowed(),
            Err(AuthorityError::Unavailable(_))
        ));
    }
}
