//! Tidy by policy (SPEC §10): the authority's clock decides what is old; the store removes it in
//! one transaction with its audit row (`vcc_pki_store::Store::tidy`). Off unless
//! `serve --tidy-after` sets a retention; then one replica at a time runs it (a lease).
use super::Authority;
use crate::{AuthorityResult, Requester};
use std::sync::Arc;
use vcc_pki_store::TidyReport;

/// How often a server with `--tidy-after` tidies.
pub const TIDY_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl Authority {
    /// Remove what has been dead for longer than `retention` (expired certificates' DER, old
    /// CRLs, expired ACME orders and authorizations) and what is dead now (expired enrollment
    /// tokens, spent nonces). Admin or the server itself; audited with the counts.
    pub async fn tidy(
        &self,
        ctx: &Requester,
        retention: time::Duration,
    ) -> AuthorityResult<TidyReport> {
        ctx.require_admin(&self.store, "store.tidy", None).await?;
        let now = self.now();
        let audit = ctx
            .audit("store.tidy", "store")
            .details(serde_json::json!({ "retention_seconds": retention.whole_seconds() }));
        let report = self.store.tidy(now, now - retention, &audit).await?;
        tracing::info!(?report, "tidy done");
        Ok(report)
    }

    /// Tidy every [`TIDY_EVERY`] (the first time a minute after start), on one replica at a
    /// time; ends with the authority.
    pub fn start_tidy(self: &Arc<Self>, retention: time::Duration) {
        let weak = Arc::downgrade(self);
        let holder = format!("tidy-{}-{:08x}", std::process::id(), rand::random::<u32>());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            loop {
                let Some(authority) = weak.upgrade() else {
                    return;
                };
                let lease = authority
                    .store
                    .acquire_lease("tidy", &holder, time::Duration::minutes(30))
                    .await;
                if matches!(lease, Ok(true)) {
                    if let Err(e) = authority.tidy(&Requester::system(), retention).await {
                        tracing::warn!(error = %e, "tidy failed; retrying at the next interval");
                    }
                }
                drop(authority);
                tokio::time::sleep(TIDY_EVERY).await;
            }
        });
    }
}
