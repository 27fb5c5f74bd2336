//! Revocation and CRLs. A revocation returns after its durable write; the CRL is rebuilt by a
//! background worker that coalesces bursts of revocations into one rebuild.
use super::Authority;
use crate::auth::RequestContext;
use crate::problem::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};
use vcc_pki_core::signer::RevokedEntry;
use vcc_pki_core::{fingerprint_sha256, RevocationReason, Serial};
use vcc_pki_store::{CrlRecord, RevocationTarget, RevokedRecord, SignedCrl};

/// How long a CRL is valid; it is rebuilt when two thirds of this have passed.
pub const CRL_LIFETIME: Duration = Duration::hours(24);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub service_id: Option<String>,
    pub serial_number: Option<String>,
    pub reason: Option<String>,
}

#[derive(Serialize)]
pub struct RevokeResponse {
    pub revoked: Vec<RevokedRecord>,
    pub reason: String,
}

#[derive(Serialize)]
pub struct CrlInfo {
    pub crl_number: i64,
    pub this_update: String,
    pub next_update: String,
    pub revoked_count: i64,
    pub fingerprint_sha256: String,
    pub crl_url: String,
}

impl From<&CrlRecord> for CrlInfo {
    fn from(r: &CrlRecord) -> Self {
        Self {
            crl_number: r.crl_number,
            this_update: r.this_update.clone(),
            next_update: r.next_update.clone(),
            revoked_count: r.revoked_count,
            fingerprint_sha256: r.fingerprint_sha256.clone(),
            crl_url: "/crl".into(),
        }
    }
}

impl Authority {
    pub async fn revoke(
        &self,
        ctx: &RequestContext,
        req: RevokeRequest,
    ) -> ApiResult<RevokeResponse> {
        const ACTION: &str = "certificate.revoke";
        let target = req.serial_number.clone().or_else(|| req.service_id.clone());
        ctx.require_admin(&self.store, ACTION, target.as_deref())
            .await?;
        let reason = RevocationReason::parse(req.reason.as_deref().unwrap_or("unspecified"))?;
        if matches!(
            reason,
            RevocationReason::RemoveFromCrl | RevocationReason::CertificateHold
        ) {
            // removeFromCRL belongs in delta CRLs only (RFC 5280 §5.3.1); holds are not supported,
            // since nothing could release one.
            return Err(ApiError::bad_request(format!(
                "reason '{}' is not accepted: revocation here is permanent",
                reason.as_str()
            )));
        }
        let store_target = match (&req.serial_number, &req.service_id) {
            (Some(serial), _) => {
                let serial = Serial::from_hex(serial)
                    .ok_or_else(|| ApiError::bad_request("serial_number is not hex"))?
                    .to_hex();
                let cert = self
                    .store
                    .certificate_by_serial(&serial)
                    .await?
                    .ok_or_else(|| {
                        ApiError::not_found(format!("no certificate with serial {serial}"))
                    })?;
                if cert.status == "revoked" {
                    return Err(ApiError::conflict(format!(
                        "certificate {serial} is already revoked"
                    )));
                }
                RevocationTarget::Serial(serial)
            }
            (None, Some(service_id)) => {
                if self.store.service(service_id).await?.is_none() {
                    return Err(ApiError::not_found(format!(
                        "unknown service '{service_id}'"
                    )));
                }
                RevocationTarget::Service(service_id.clone())
            }
            (None, None) => return Err(ApiError::bad_request("send serial_number or service_id")),
        };
        let audit = ctx
            .audit(ACTION, "certificate")
            .target(target.unwrap_or_default())
            .details(serde_json::json!({ "reason": reason.as_str() }));
        let revoked = self
            .store
            .revoke_certificates(
                &store_target,
                reason.as_str(),
                reason.code(),
                &ctx.caller.actor(),
                &audit,
            )
            .await?;
        if revoked.is_empty() {
            return Err(ApiError::conflict(match store_target {
                RevocationTarget::Serial(s) => {
                    format!("certificate {s} is already revoked or expired")
                }
                RevocationTarget::Service(s) => {
                    format!("service '{s}' has no unrevoked, unexpired certificate")
                }
            }));
        }
        // Durable now: OCSP answers `revoked` from here on; the CRL follows in the background.
        self.ocsp_revoked(&revoked, reason);
        self.trigger_crl();
        Ok(RevokeResponse {
            revoked,
            reason: reason.as_str().into(),
        })
    }

    /// Build, sign and store a new CRL now.
    pub async fn generate_crl(&self, ctx: &RequestContext) -> ApiResult<CrlInfo> {
        let record = self.build_crl(ctx.audit("crl.generate", "crl")).await?;
        Ok(CrlInfo::from(&record))
    }

    async fn build_crl(&self, audit: vcc_pki_store::AuditEntry) -> ApiResult<CrlRecord> {
        let (issuer_id, issuer) = self.intermediate()?;
        let record = self
            .store
            .insert_crl_with(issuer_id, &audit, move |number, rows| {
                let mut entries = Vec::with_capacity(rows.len());
                for (serial, revoked_at, code) in rows {
                    let serial = Serial::from_hex(&serial)
                        .ok_or_else(|| format!("stored serial '{serial}' is not hex"))?;
                    let revoked_at =
                        vcc_pki_store::parse_time(&revoked_at).map_err(|e| e.to_string())?;
                    let reason = RevocationReason::ALL
                        .into_iter()
                        .find(|r| i64::from(r.code()) == code)
                        .unwrap_or(RevocationReason::Unspecified);
                    entries.push(RevokedEntry {
                        serial,
                        revoked_at,
                        reason,
                    });
                }
                let this_update = OffsetDateTime::now_utc()
                    .replace_nanosecond(0)
                    .unwrap_or(OffsetDateTime::now_utc());
                let next_update = this_update + CRL_LIFETIME;
                let der = issuer
                    .issue_crl(number as u64, this_update, next_update, &entries)
                    .map_err(|e| e.to_string())?;
                Ok(SignedCrl {
                    fingerprint_sha256: fingerprint_sha256(&der),
                    der,
                    this_update,
                    next_update,
                    revoked_count: entries.len() as i64,
                })
            })
            .await?;
        Ok(record)
    }

    pub async fn crl_info(&self) -> ApiResult<CrlInfo> {
        let record = self
            .store
            .latest_crl()
            .await?
            .ok_or_else(|| ApiError::not_found("no CRL has been issued yet"))?;
        Ok(CrlInfo::from(&record))
    }

    /// Background worker: rebuilds the CRL after revocations (coalesced) and before nextUpdate.
    pub async fn run_crl_worker(self: Arc<Self>) {
        loop {
            let due_in = match self.store.latest_crl().await {
                Ok(Some(latest)) => vcc_pki_store::parse_time(&latest.this_update)
                    .map(|t| t + CRL_LIFETIME * 2 / 3 - OffsetDateTime::now_utc())
                    .unwrap_or(Duration::ZERO),
                Ok(None) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "CRL worker: database unavailable");
                    Duration::seconds(5)
                }
            };
            let wait = std::time::Duration::try_from(due_in.max(Duration::ZERO))
                .unwrap_or_default()
                .min(std::time::Duration::from_secs(3600));
            let triggered = if wait.is_zero() {
                false
            } else {
                tokio::select! {
                    _ = self.crl_trigger.notified() => true,
                    _ = tokio::time::sleep(wait) => false,
                }
            };
            if self.intermediate().is_err() {
                // No unlocked intermediate yet: wait for one to appear.
                self.crl_trigger.notified().await;
                continue;
            }
            // A revocation on this replica rebuilds at once; the scheduled rebuild before nextUpdate
            // is done by whichever replica holds the "crl" lease.
            if !triggered {
                match self
                    .store
                    .acquire_lease("crl", &self.replica_id, Duration::minutes(10))
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "CRL worker: cannot take the scheduling lease");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                        continue;
                    }
                }
            }
            let audit = vcc_pki_store::AuditEntry::new("system", "crl.generate", "crl");
            match self.build_crl(audit).await {
                Ok(r) => tracing::info!(
                    crl_number = r.crl_number,
                    revoked = r.revoked_count,
                    "CRL issued"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "CRL rebuild failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }
        }
    }
}
