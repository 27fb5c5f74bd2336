//! Revocation and CRLs. A revocation returns after its durable write; the CRL is rebuilt by a
//! background worker that coalesces bursts of revocations into one rebuild.
use super::Authority;
use crate::Requester;
use crate::{AuthorityError, AuthorityResult};
use time::Duration;
use time::OffsetDateTime;
use vcc_pki_core::{RevocationReason, Serial};
use vcc_pki_store::{CertificateStatus, CrlRecord, RevocationTarget, RevokedRecord};

/// How long a CRL is valid; it is rebuilt when two thirds of this have passed.
pub const CRL_LIFETIME: Duration = vcc_pki_core::profile::validity::CRL_LIFETIME;

#[derive(Clone, Default)]
pub struct RevokeRequest {
    pub service_id: Option<String>,
    pub serial_number: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RevokeResponse {
    pub revoked: Vec<RevokedRecord>,
    pub reason: RevocationReason,
}

#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub crl_number: i64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub revoked_count: i64,
    pub fingerprint_sha256: String,
    pub crl_url: String,
}

impl From<&CrlRecord> for CrlInfo {
    fn from(r: &CrlRecord) -> Self {
        Self {
            crl_number: r.crl_number,
            this_update: r.this_update,
            next_update: r.next_update,
            revoked_count: r.revoked_count,
            fingerprint_sha256: r.fingerprint_sha256.clone(),
            crl_url: "/crl".into(),
        }
    }
}

impl Authority {
    /// [`Self::revoke_unmetered`], counted in `/metrics` (issue 16).
    pub async fn revoke(
        &self,
        ctx: &Requester,
        req: RevokeRequest,
    ) -> AuthorityResult<RevokeResponse> {
        let result = self.revoke_unmetered(ctx, req).await;
        match &result {
            Ok(done) => crate::telemetry::revoked(ctx, done.reason, done.revoked.len() as u64),
            Err(e) => crate::telemetry::refused(ctx, "revoke", e),
        }
        result
    }

    async fn revoke_unmetered(
        &self,
        ctx: &Requester,
        req: RevokeRequest,
    ) -> AuthorityResult<RevokeResponse> {
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
            return Err(AuthorityError::malformed(format!(
                "reason '{}' is not accepted: revocation here is permanent",
                reason.as_str()
            )));
        }
        let store_target = match (&req.serial_number, &req.service_id) {
            (Some(serial), _) => {
                let serial = Serial::from_hex(serial)
                    .ok_or_else(|| AuthorityError::malformed("serial_number is not hex"))?;
                let cert = self
                    .store
                    .certificate_by_serial(&serial)
                    .await?
                    .ok_or_else(|| {
                        AuthorityError::not_found(format!("no certificate with serial {serial}"))
                    })?;
                if let Err(refusal) =
                    crate::policy::reserved_for_the_server(&ctx.principal, &cert.service_id)
                {
                    return Err(ctx
                        .deny(&self.store, ACTION, Some(&serial.to_hex()), refusal)
                        .await);
                }
                if cert.status == CertificateStatus::Revoked {
                    // RFC 5280 lets the reason change: a compromise found later blocks the key.
                    if reason == RevocationReason::KeyCompromise {
                        return self.escalate_to_key_compromise(ctx, &serial).await;
                    }
                    return Err(AuthorityError::conflict(format!(
                        "certificate {serial} is already revoked"
                    )));
                }
                RevocationTarget::Serial(serial)
            }
            (None, Some(service_id)) => {
                if let Err(refusal) =
                    crate::policy::reserved_for_the_server(&ctx.principal, service_id)
                {
                    return Err(ctx
                        .deny(&self.store, ACTION, Some(service_id), refusal)
                        .await);
                }
                if self.store.service(service_id).await?.is_none() {
                    return Err(AuthorityError::not_found(format!(
                        "unknown service '{service_id}'"
                    )));
                }
                RevocationTarget::Service(service_id.clone())
            }
            (None, None) => {
                return Err(AuthorityError::malformed(
                    "send serial_number or service_id",
                ))
            }
        };
        let audit = ctx
            .audit(ACTION, "certificate")
            .target(target.unwrap_or_default())
            .details(serde_json::json!({ "reason": reason.as_str() }));
        self.record_revocation(ctx, store_target, reason, audit)
            .await
    }

    /// [`Self::revoke_for_acme_unmetered`], counted in `/metrics` (issue 16).
    pub async fn revoke_for_acme(
        &self,
        ctx: &Requester,
        serial: &Serial,
        reason: RevocationReason,
        basis: &str,
    ) -> AuthorityResult<RevokeResponse> {
        let result = self
            .revoke_for_acme_unmetered(ctx, serial, reason, basis)
            .await;
        match &result {
            Ok(done) => crate::telemetry::revoked(ctx, done.reason, done.revoked.len() as u64),
            Err(e) => crate::telemetry::refused(ctx, "revoke", e),
        }
        result
    }

    /// Revoke one certificate for an ACME revokeCert request (RFC 8555 §7.6). The ACME front end
    /// has established `basis`: the account that ordered it, an account authorised for all its
    /// names, or a request signed by the certificate's own key.
    async fn revoke_for_acme_unmetered(
        &self,
        ctx: &Requester,
        serial: &Serial,
        reason: RevocationReason,
        basis: &str,
    ) -> AuthorityResult<RevokeResponse> {
        const ACTION: &str = "acme.certificate.revoke";
        if !matches!(
            ctx.principal,
            crate::Principal::AcmeAccount { .. } | crate::Principal::AcmeKey { .. }
        ) {
            let refusal = AuthorityError::forbidden("ACME revocation needs an ACME requester");
            return Err(ctx
                .deny(&self.store, ACTION, Some(&serial.to_hex()), refusal)
                .await);
        }
        if matches!(
            reason,
            RevocationReason::RemoveFromCrl | RevocationReason::CertificateHold
        ) {
            return Err(AuthorityError::malformed(format!(
                "reason '{}' is not accepted: revocation here is permanent",
                reason.as_str()
            )));
        }
        // The server's own certificates (TLS, OCSP responder) are never revoked through ACME.
        if let Some(record) = self.store.certificate_by_serial(serial).await? {
            if record.service_id == crate::SERVER_SERVICE_ID
                || record.service_id == crate::OCSP_SERVICE_ID
            {
                let refusal = AuthorityError::forbidden(
                    "the server's own certificates are not revoked through ACME",
                );
                return Err(ctx
                    .deny(&self.store, ACTION, Some(&serial.to_hex()), refusal)
                    .await);
            }
        }
        let audit = ctx
            .audit(ACTION, "certificate")
            .target(serial.to_hex())
            .details(serde_json::json!({ "reason": reason.as_str(), "basis": basis }));
        self.record_revocation(ctx, RevocationTarget::Serial(serial.clone()), reason, audit)
            .await
    }

    /// Store the revocation with its audit row, then tell OCSP and the CRL publisher.
    async fn record_revocation(
        &self,
        ctx: &Requester,
        store_target: RevocationTarget,
        reason: RevocationReason,
        audit: vcc_pki_store::AuditEntry,
    ) -> AuthorityResult<RevokeResponse> {
        let revoked = self
            .store
            .revoke_certificates(&store_target, reason, &ctx.principal.actor(), &audit)
            .await?;
        if revoked.is_empty() {
            return Err(AuthorityError::conflict(match store_target {
                RevocationTarget::Serial(s) => {
                    format!("certificate {s} is already revoked or expired")
                }
                RevocationTarget::Service(s) => {
                    format!("service '{s}' has no unrevoked, unexpired certificate")
                }
            }));
        }
        self.revocation_stored(&revoked, reason);
        Ok(RevokeResponse { revoked, reason })
    }

    /// A certificate revoked for another reason becomes keyCompromise: its key is blocked and
    /// every other certificate with that key revoked, as a first keyCompromise would.
    async fn escalate_to_key_compromise(
        &self,
        ctx: &Requester,
        serial: &Serial,
    ) -> AuthorityResult<RevokeResponse> {
        let reason = RevocationReason::KeyCompromise;
        let audit = ctx
            .audit("certificate.revoke", "certificate")
            .target(serial.to_hex())
            .details(serde_json::json!({ "reason": reason.as_str(), "reason_changed": true }));
        let revoked = self
            .store
            .escalate_to_key_compromise(serial, &ctx.principal.actor(), &audit)
            .await?;
        self.revocation_stored(&revoked, reason);
        Ok(RevokeResponse { revoked, reason })
    }

    /// Durable now: OCSP answers `revoked` from here on; the CRL follows in the background; a
    /// served TLS certificate among them is replaced.
    fn revocation_stored(
        &self,
        revoked: &[vcc_pki_store::RevokedRecord],
        reason: RevocationReason,
    ) {
        self.ocsp.revoked(revoked, reason);
        self.crl.revoked(revoked);
        if revoked
            .iter()
            .any(|r| self.server_tls.serves(&r.serial_number))
        {
            let renewer = self.server_tls.clone();
            tokio::spawn(async move { renewer.replace_if_revoked().await });
        }
    }

    /// Build, sign and store a new CRL now.
    pub async fn generate_crl(&self, ctx: &Requester) -> AuthorityResult<CrlInfo> {
        ctx.require_admin(&self.store, "crl.generate", None).await?;
        let record = self
            .crl
            .build_all_crls(ctx.audit("crl.generate", "crl"))
            .await?;
        Ok(CrlInfo::from(&record))
    }

    pub async fn crl_info(&self) -> AuthorityResult<CrlInfo> {
        let record = self
            .store
            .latest_crl()
            .await?
            .ok_or_else(|| AuthorityError::not_found("no CRL has been issued yet"))?;
        Ok(CrlInfo::from(&record))
    }
}
