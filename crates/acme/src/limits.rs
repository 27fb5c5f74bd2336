//! Which names ACME may issue server-wide (`--acme-allow-dns`, `--acme-allow-ip`) and the rate
//! limits (SPEC §9): new accounts per source address, new orders and failed validations per
//! account, each per hour, answered `rateLimited` with `Retry-After`. ARI replacement orders
//! are not counted.
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::Acme;
use axum::http::StatusCode;
use vcc_pki_authority::{cidr_contains, dns_allowed, parse_cidr};
use vcc_pki_store::AcmeIdentifier;

/// The window every limit counts over.
pub const WINDOW: time::Duration = time::Duration::hours(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub accounts_per_address: u32,
    pub orders_per_account: u32,
    pub failed_validations_per_account: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            accounts_per_address: 50,
            orders_per_account: 300,
            failed_validations_per_account: 60,
        }
    }
}

fn limited(what: &str, limit: u32) -> AcmeProblem {
    AcmeProblem::new(
        AcmeErrorType::RateLimited,
        format!("{what}: at most {limit} an hour; retry later"),
    )
    .with_status(StatusCode::TOO_MANY_REQUESTS)
    .with_retry_after(WINDOW.whole_seconds() as u64)
}

pub(crate) async fn check_new_account(
    acme: &Acme,
    source: Option<&str>,
) -> Result<(), AcmeProblem> {
    let Some(source) = source else { return Ok(()) };
    let limit = acme.config.rate_limits.accounts_per_address;
    let since = acme.authority.now() - WINDOW;
    if acme.store.acme_accounts_from(source, since).await? >= i64::from(limit) {
        return Err(limited(&format!("new accounts from {source}"), limit));
    }
    Ok(())
}

pub(crate) async fn check_new_order(acme: &Acme, account_id: &str) -> Result<(), AcmeProblem> {
    let limit = acme.config.rate_limits.orders_per_account;
    let since = acme.authority.now() - WINDOW;
    if acme.store.acme_orders_since(account_id, since).await? >= i64::from(limit) {
        return Err(limited("new orders of this account", limit));
    }
    Ok(())
}

pub(crate) async fn check_validation(acme: &Acme, account_id: &str) -> Result<(), AcmeProblem> {
    let limit = acme.config.rate_limits.failed_validations_per_account;
    let since = acme.authority.now() - WINDOW;
    if acme
        .store
        .acme_failed_validations_since(account_id, since)
        .await?
        >= i64::from(limit)
    {
        return Err(limited("failed validations of this account", limit));
    }
    Ok(())
}

/// The identifiers outside allow lists of DNS suffixes and IP ranges. With both lists empty
/// nothing is outside; with either set, an identifier must match its type's list. One rule for
/// the server-wide policy and for EAB keys.
pub(crate) fn outside_allow_lists(
    dns: &[String],
    ip: &[String],
    identifiers: &[AcmeIdentifier],
) -> Vec<AcmeIdentifier> {
    if dns.is_empty() && ip.is_empty() {
        return Vec::new();
    }
    let ranges: Vec<_> = ip.iter().filter_map(|r| parse_cidr(r).ok()).collect();
    identifiers
        .iter()
        .filter(|i| match i.kind.as_str() {
            "ip" => !i
                .value
                .parse()
                .is_ok_and(|a| ranges.iter().any(|r| cidr_contains(*r, a))),
            _ => !dns_allowed(dns, &i.value),
        })
        .cloned()
        .collect()
}

/// `rejectedIdentifier` for identifiers outside allow lists, one subproblem each.
pub(crate) fn refuse_outside(
    outside: Vec<AcmeIdentifier>,
    summary: &str,
    per_identifier: &str,
) -> Result<(), AcmeProblem> {
    if outside.is_empty() {
        return Ok(());
    }
    Err(AcmeProblem::for_identifiers(
        AcmeErrorType::RejectedIdentifier,
        summary,
        outside
            .into_iter()
            .map(|i| {
                let detail = format!("{}: {per_identifier}", i.value);
                (i, detail)
            })
            .collect(),
    ))
}

/// The server-wide allow lists: with none, every name that passes validation may be issued.
pub(crate) fn check_identifiers(
    acme: &Acme,
    identifiers: &[AcmeIdentifier],
) -> Result<(), AcmeProblem> {
    refuse_outside(
        outside_allow_lists(&acme.config.allow_dns, &acme.config.allow_ip, identifiers),
        "this CA does not issue for these identifiers (policy)",
        "outside the server's allowed DNS suffixes and IP ranges",
    )
}
