//! What the ACME front end counts (SPEC §10), through the `metrics` facade: orders by the state
//! they reach, and how long each validation took by challenge type and result.
use std::time::Duration;

pub const ORDERS: &str = "vcc_pki_acme_orders_total";
pub const VALIDATION_DURATION: &str = "vcc_pki_acme_validation_duration_seconds";

pub fn describe() {
    metrics::describe_counter!(
        ORDERS,
        "ACME orders by the state they reached: pending (created), processing (finalized), valid (certificate stored), invalid (issuance failed)."
    );
    metrics::describe_histogram!(
        VALIDATION_DURATION,
        metrics::Unit::Seconds,
        "Time of one challenge validation, by challenge type (http-01, dns-01, tls-alpn-01) and result (valid, invalid)."
    );
}

pub(crate) fn order(status: &'static str) {
    metrics::counter!(ORDERS, "status" => status).increment(1);
}

pub(crate) fn validation(challenge_type: &str, valid: bool, took: Duration) {
    let challenge = match challenge_type {
        "http-01" => "http-01",
        "dns-01" => "dns-01",
        "tls-alpn-01" => "tls-alpn-01",
        _ => "other",
    };
    metrics::histogram!(VALIDATION_DURATION, "challenge" => challenge, "result" => if valid { "valid" } else { "invalid" })
        .record(took.as_secs_f64());
}
