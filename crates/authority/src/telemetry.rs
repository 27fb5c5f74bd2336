//! What the authority counts (SPEC §10), through the `metrics` facade: the server installs the
//! Prometheus recorder; without one (tests, the CLI) every call here costs an atomic load.
//!
//! One rule for the labels: `front_end` is where the request came in (rest, acme, mtls, system),
//! read off its principal; `reason` of a refusal is the kind of [`AuthorityError`].
use crate::{AuthorityError, Principal, Requester};
use vcc_pki_core::RevocationReason;

pub const ISSUED: &str = "vcc_pki_certificates_issued_total";
pub const RENEWED: &str = "vcc_pki_certificates_renewed_total";
pub const REVOKED: &str = "vcc_pki_certificates_revoked_total";
pub const REFUSED: &str = "vcc_pki_requests_refused_total";
pub const OCSP_RESPONSES: &str = "vcc_pki_ocsp_responses_total";

/// HELP text of every metric this crate records (the server calls it once the recorder is in).
pub fn describe() {
    metrics::describe_counter!(
        ISSUED,
        "Certificates issued (first issuance, not renewal), by profile and front end."
    );
    metrics::describe_counter!(
        RENEWED,
        "Certificates issued as renewals of a stored certificate, by profile and front end."
    );
    metrics::describe_counter!(
        REVOKED,
        "Certificates revoked, by RFC 5280 reason and front end."
    );
    metrics::describe_counter!(
        REFUSED,
        "Issuance, renewal and revocation requests refused, by operation, front end and reason."
    );
    metrics::describe_counter!(
        OCSP_RESPONSES,
        "OCSP answers, by certificate status (or refusal status) and whether a pre-signed response served it."
    );
    metrics::describe_gauge!(
        crate::audit_anchor::ANCHORED_ROW,
        "Id of the newest audit row anchored outside the database (audit-anchors.jsonl in the data dir)."
    );
}

/// Where a request came in, for the `front_end` label.
pub fn front_end(principal: &Principal) -> &'static str {
    match principal {
        Principal::Service { .. } => "mtls",
        Principal::AcmeAccount { .. } | Principal::AcmeKey { .. } => "acme",
        Principal::System => "system",
        Principal::Admin
        | Principal::Auditor
        | Principal::Enrollment { .. }
        | Principal::Anonymous => "rest",
    }
}

/// The `reason` label of a refusal.
pub fn refusal_kind(error: &AuthorityError) -> &'static str {
    match error {
        AuthorityError::Malformed { .. } => "malformed",
        AuthorityError::Unauthenticated(_) => "unauthenticated",
        AuthorityError::Forbidden(_) => "forbidden",
        AuthorityError::NotFound(_) => "not_found",
        AuthorityError::Conflict(_) => "conflict",
        AuthorityError::Sealed => "sealed",
        AuthorityError::Unavailable(_) => "unavailable",
        AuthorityError::Internal(_) => "internal",
    }
}

/// Count a certificate issued (`renewal` false) or renewed, once it is stored.
pub fn issued(ctx: &Requester, profile: &str, renewal: bool) {
    let name = if renewal { RENEWED } else { ISSUED };
    metrics::counter!(name, "profile" => profile.to_string(), "front_end" => front_end(&ctx.principal))
        .increment(1);
}

/// Count `n` certificates revoked for `reason`.
pub fn revoked(ctx: &Requester, reason: RevocationReason, n: u64) {
    metrics::counter!(REVOKED, "reason" => reason.as_str(), "front_end" => front_end(&ctx.principal))
        .increment(n);
}

/// Count a refused `operation` (issue, renew, revoke).
pub fn refused(ctx: &Requester, operation: &'static str, error: &AuthorityError) {
    metrics::counter!(REFUSED, "operation" => operation, "front_end" => front_end(&ctx.principal), "reason" => refusal_kind(error))
        .increment(1);
}

/// Count an OCSP answer: `status` good, revoked, unknown or the refusal's name; `hit` when a
/// cached pre-signed response served it.
pub fn ocsp_answer(status: &'static str, hit: bool) {
    metrics::counter!(OCSP_RESPONSES, "status" => status, "cache" => if hit { "hit" } else { "miss" })
        .increment(1);
}
