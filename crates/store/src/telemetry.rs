//! What the store counts (SPEC §10), through the `metrics` facade (the server installs the
//! recorder): the group commit's duration and batch size, by what it committed.
use std::time::Duration;

pub const COMMIT_DURATION: &str = "vcc_pki_store_commit_duration_seconds";
pub const COMMIT_BATCH: &str = "vcc_pki_store_commit_batch_size";
pub const COMMIT_FAILURES: &str = "vcc_pki_store_commit_failures_total";
pub const REFUSALS_SUMMARISED: &str = "vcc_pki_audit_refusals_summarised_total";

pub fn describe() {
    metrics::describe_histogram!(
        COMMIT_DURATION,
        metrics::Unit::Seconds,
        "Time of one group commit (a transaction of waiting issuances or revocations), by kind."
    );
    metrics::describe_histogram!(
        COMMIT_BATCH,
        "Requests stored by one group commit, by kind (issue, revoke)."
    );
    metrics::describe_counter!(
        COMMIT_FAILURES,
        "Group commits that failed (every request in them was refused, nothing stored), by kind."
    );
    metrics::describe_counter!(
        REFUSALS_SUMMARISED,
        "Refusals counted into a summary audit row instead of a row each (over the refusal budget)."
    );
}

/// One refusal was counted for a summary row instead of written.
pub(crate) fn refusal_summarised() {
    metrics::counter!(REFUSALS_SUMMARISED).increment(1);
}

/// One group commit of `size` requests of `kind` (issue, revoke) took `took`.
pub(crate) fn commit(kind: &'static str, took: Duration, size: usize, ok: bool) {
    metrics::histogram!(COMMIT_DURATION, "kind" => kind).record(took.as_secs_f64());
    metrics::histogram!(COMMIT_BATCH, "kind" => kind).record(size as f64);
    if !ok {
        metrics::counter!(COMMIT_FAILURES, "kind" => kind).increment(1);
    }
}
