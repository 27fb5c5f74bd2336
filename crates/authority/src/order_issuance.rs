//! Issuance for an ACME order: the same signing, storing, audit, OCSP and CRL path as REST
//! ([`Authority::sign_and_store`]), authorised by the order itself. The ACME front end has
//! proved control of every identifier; the store completes the order (processing → valid) in the
//! issuing transaction, so a certificate exists only for an order that was being finalized by the
//! account that owns it.
use super::Authority;
use crate::issuance::Issuance;
use crate::policy::Names;
use crate::{AuthorityError, AuthorityResult, IssuedCertificate, Principal, Requester};
use std::collections::BTreeSet;
use std::net::IpAddr;
use vcc_pki_core::csr::{verify_csr_der, VerifiedCsr};
use vcc_pki_core::LeafProfile;
use vcc_pki_store::{IssueEffects, NewService};

/// A finalize request, as the ACME front end hands it over.
#[derive(Debug, Clone)]
pub struct OrderIssueRequest {
    pub account_id: String,
    pub order_id: String,
    /// The order's identifiers (authorised), normalised.
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    /// The finalize CSR (DER).
    pub csr_der: Vec<u8>,
    /// The certificate profile of the order's ACME profile.
    pub profile: LeafProfile,
    /// Put the first identifier in the subject CN (the `classic` profile) or leave the subject empty.
    pub common_name: bool,
    pub validity_days: u32,
    /// The order's notBefore/notAfter, checked at newOrder; None: from now for `validity_days`.
    pub window: Option<vcc_pki_core::profile::Validity>,
}

/// The service id that an ACME account's certificates are filed under.
pub fn acme_service_id(account_id: &str) -> String {
    let short: String = account_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    format!("acme-{short}")
}

/// Whether a certificate's service id is an ACME account's (the one rule for "issued through ACME").
pub fn is_acme_service_id(service_id: &str) -> bool {
    service_id.starts_with("acme-")
}

impl Authority {
    /// [`Self::issue_for_order_unmetered`], counted in `/metrics` (issue 16).
    pub async fn issue_for_order(
        &self,
        ctx: &Requester,
        req: OrderIssueRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        let result = self.issue_for_order_unmetered(ctx, req).await;
        match &result {
            Ok(done) => crate::telemetry::issued(ctx, &done.profile, false),
            Err(e) => crate::telemetry::refused(ctx, "issue", e),
        }
        result
    }

    /// Sign the CSR of a finalized order. The CSR must name exactly the order's identifiers (as
    /// CN and/or SANs); only its public key is used.
    async fn issue_for_order_unmetered(
        &self,
        ctx: &Requester,
        req: OrderIssueRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        const ACTION: &str = "acme.certificate.issue";
        match &ctx.principal {
            Principal::AcmeAccount { account_id } if *account_id == req.account_id => {}
            _ => {
                let refusal =
                    AuthorityError::forbidden("only the order's own ACME account finalizes it");
                return Err(ctx
                    .deny(&self.store, ACTION, Some(&req.order_id), refusal)
                    .await);
            }
        }
        let csr = Self::check_order_csr(&req)?;
        let common_name = if req.common_name {
            // The CSR's own CN if it has one, else the first identifier (RFC 8555 leaves it to the CA).
            csr.common_name
                .as_deref()
                .map(canonical_name)
                .or_else(|| req.dns_names.first().cloned())
                .or_else(|| req.ip_addresses.first().map(IpAddr::to_string))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let names = Names {
            common_name,
            dns: req.dns_names.clone(),
            ips: req.ip_addresses.clone(),
        };
        let service_id = acme_service_id(&req.account_id);
        let effects = IssueEffects {
            create_service: Some(NewService {
                service_id: service_id.clone(),
                service_name: format!("ACME account {}", req.account_id),
                ..Default::default()
            }),
            consume_enrollment: None,
            complete_acme_order: Some((req.account_id.clone(), req.order_id.clone())),
        };
        let issuance = Issuance {
            service_id,
            names,
            subject_spki: csr.subject_public_key_info,
            key_type: csr.key_type,
            key_source: "csr",
            profile: req.profile,
            validity_days: req.validity_days,
            window: req.window,
            renewed_from: None,
        };
        self.sign_and_store(ctx, ACTION, issuance, effects).await
    }

    /// The finalize CSR's checks, before the order moves to processing (a refused CSR leaves the
    /// order ready): it verifies, its key is acceptable, and it names exactly the order's
    /// identifiers as CN and/or SANs.
    pub fn check_order_csr(req: &OrderIssueRequest) -> AuthorityResult<VerifiedCsr> {
        let csr = verify_csr_der(&req.csr_der)?;
        let wanted: BTreeSet<String> = req
            .dns_names
            .iter()
            .cloned()
            .chain(req.ip_addresses.iter().map(IpAddr::to_string))
            .collect();
        let mut named: BTreeSet<String> = csr
            .dns_names
            .iter()
            .map(|d| d.to_ascii_lowercase())
            .chain(csr.ip_addresses.iter().map(IpAddr::to_string))
            .collect();
        if let Some(cn) = &csr.common_name {
            let cn = canonical_name(cn);
            if !named.contains(&cn) {
                return Err(AuthorityError::bad_csr(format!(
                    "the CSR's common name '{cn}' is not among its subject alternative names"
                )));
            }
            named.insert(cn);
        }
        if named != wanted {
            let missing: Vec<_> = wanted.difference(&named).cloned().collect();
            let extra: Vec<_> = named.difference(&wanted).cloned().collect();
            return Err(AuthorityError::bad_csr(format!(
                "the CSR must name exactly the order's identifiers (missing: [{}], not in the order: [{}])",
                missing.join(", "),
                extra.join(", ")
            )));
        }
        Ok(csr)
    }
}

/// A name as the order holds it: an IP address canonical, a DNS name lower-case.
fn canonical_name(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => name.to_ascii_lowercase(),
    }
}
