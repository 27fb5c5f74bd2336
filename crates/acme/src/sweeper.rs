//! Work a crash or a restart cut off: a challenge left `processing` is validated again (the
//! client is still polling its authorization), an order left `processing` becomes `invalid`
//! (its issuance never committed, so no certificate exists; the client orders again). Runs at
//! start and then every [`SWEEP_EVERY`] on every replica; work younger than its stale age (three
//! validation timeouts for a challenge, [`STALE_ORDER_AGE`] for an order) may still be running
//! elsewhere and is left alone.
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::Acme;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use vcc_pki_authority::{Principal, Requester};
use vcc_pki_store::AuditOutcome;

/// How long an order may stay `processing` before it counts as cut off.
pub const STALE_ORDER_AGE: time::Duration = time::Duration::minutes(5);

/// How often each replica looks for stale work.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

impl Acme {
    /// A validation started before this is stale (three validation timeouts, at least 30 s).
    fn stale_before(&self) -> time::OffsetDateTime {
        let age = (self.config.validation_timeout * 3).max(Duration::from_secs(30));
        time::OffsetDateTime::now_utc() - age
    }

    /// One sweep: how many challenges were restarted and orders failed.
    pub async fn sweep_stale_work(self: &Arc<Self>) -> Result<(usize, usize), AcmeProblem> {
        let before = self.stale_before();
        let mut restarted = 0;
        for id in self.store.stale_acme_challenges(before, 100).await? {
            let Some(challenge) = self.store.acme_challenge(&id).await? else {
                continue;
            };
            let Some(authz) = self
                .store
                .acme_authorization(&challenge.authorization_id)
                .await?
            else {
                continue;
            };
            let Some(account) = self.store.acme_account(&authz.account_id).await? else {
                continue;
            };
            let requester = Requester::new(Principal::AcmeAccount {
                account_id: account.id.clone(),
            });
            let audit = requester
                .audit("acme.challenge.restart", "acme_challenge")
                .target(challenge.id.clone())
                .details(
                    json!({ "type": challenge.challenge_type, "identifier": authz.identifier,
                                 "why": "its validation was cut off (server restart or crash)" }),
                );
            if self
                .store
                .restart_acme_challenge(&challenge.id, before, &audit)
                .await?
            {
                restarted += 1;
                crate::order::spawn_validation(
                    self.clone(),
                    requester,
                    account.jwk.clone(),
                    authz,
                    challenge,
                );
            }
        }
        let problem = AcmeProblem::new(
            AcmeErrorType::ServerInternal,
            "the issuance of this order was cut off (server restart or crash); no certificate \
             was issued: place a new order",
        )
        .to_json();
        // Issuance takes milliseconds, but a busy store can hold it up: an order is given
        // [`STALE_ORDER_AGE`] before it counts as cut off.
        let orders_before = time::OffsetDateTime::now_utc() - STALE_ORDER_AGE;
        let failed = self
            .store
            .fail_stale_acme_orders(orders_before, &problem, |order_id, account_id| {
                Requester::new(Principal::AcmeAccount {
                    account_id: account_id.to_string(),
                })
                .audit("acme.order.fail", "acme_order")
                .target(order_id.to_string())
                .outcome(AuditOutcome::Failure)
                .details(json!({ "error": "issuance cut off by a restart or crash" }))
            })
            .await?;
        if restarted > 0 || !failed.is_empty() {
            tracing::warn!(
                restarted_challenges = restarted,
                failed_orders = failed.len(),
                "ACME work cut off by a restart or crash was picked up"
            );
        }
        Ok((restarted, failed.len()))
    }

    /// Sweep at start and every [`SWEEP_EVERY`] while `acme` lives.
    pub fn start_sweeper(acme: &Arc<Self>) {
        let weak = Arc::downgrade(acme);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_EVERY);
            loop {
                tick.tick().await;
                let Some(acme) = weak.upgrade() else { return };
                if let Err(e) = acme.sweep_stale_work().await {
                    tracing::warn!(error = %e.detail, "could not sweep stale ACME work");
                }
            }
        });
    }
}
