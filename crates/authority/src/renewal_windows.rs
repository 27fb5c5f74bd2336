//! ACME Renewal Information (RFC 9773) as an admin steers it: `vcc-pki acme ari move` pulls the
//! renewal windows of chosen certificates to now (incident response), so ARI clients renew at
//! their next check.
use super::Authority;
use crate::{AuthorityError, AuthorityResult, Requester};
use vcc_pki_store::{RenewalOverride, RenewalSelection};

impl Authority {
    /// Pull the renewal windows of the selected certificates to now; how many moved.
    pub async fn move_renewal_windows(
        &self,
        ctx: &Requester,
        selection: RenewalSelection,
        explanation_url: Option<String>,
    ) -> AuthorityResult<u64> {
        const ACTION: &str = "acme.renewal.move";
        ctx.require_admin(&self.store, ACTION, None).await?;
        if let Some(url) = &explanation_url {
            if !(url.starts_with("https://") || url.starts_with("http://"))
                || url.len() > 512
                || url.chars().any(|c| c.is_control() || c == ' ')
            {
                return Err(AuthorityError::malformed(
                    "explanation_url must be an http(s) URL of at most 512 characters",
                ));
            }
        }
        let now = self.now();
        // A window that has just closed: every ARI client renews at its next check.
        let window = RenewalOverride {
            window_start: now - time::Duration::hours(1),
            window_end: now,
            explanation_url,
        };
        let audit = ctx
            .audit(ACTION, "certificate")
            .details(serde_json::json!({ "selection": format!("{selection:?}") }));
        Ok(self
            .store
            .move_renewal_windows(&selection, &window, &audit)
            .await?)
    }
}
