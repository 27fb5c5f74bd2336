//! Issuance and renewal of service certificates: the one path every certificate takes.
use super::Authority;
use crate::policy::{permit, reserved_for_the_server, validate_service_id, Action, Names, Subject};
use crate::{AuthorityError, AuthorityResult};
use crate::{Principal, Requester};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use vcc_pki_core::csr::verify_csr_pem;
use vcc_pki_core::profile::LeafRequest;
use vcc_pki_core::{certificate_pem, fingerprint_sha256, KeyType, LeafProfile, Serial};
use vcc_pki_store::{
    CertificateRecord, CertificateStatus, IssueEffects, NewCertificate, NewService, StoreError,
};
use zeroize::Zeroizing;

/// A new certificate for a service, as a front end asks for it (the REST body maps onto it).
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    pub service_id: String,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub csr_pem: Option<String>,
    pub key_type: Option<String>,
    pub validity_days: Option<u32>,
    pub profile: Option<String>,
}

/// A renewal: of a serial, of a service's current certificate, or (over mTLS) of the certificate presented.
#[derive(Debug, Clone, Default)]
pub struct RenewRequest {
    pub service_id: Option<String>,
    pub serial_number: Option<String>,
    pub csr_pem: Option<String>,
    pub validity_days: Option<u32>,
}

/// An issued certificate, stored before it is returned. No `Debug`: it may hold a private key.
#[derive(Clone)]
pub struct IssuedCertificate {
    pub service_id: String,
    pub serial_number: Serial,
    pub common_name: String,
    pub san_dns: Vec<String>,
    pub san_ip: Vec<String>,
    pub certificate_pem: String,
    pub ca_chain_pem: String,
    pub private_key_pem: Option<Zeroizing<String>>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub fingerprint_sha256: String,
    pub key_type: KeyType,
    pub profile: String,
    pub renewed_from: Option<Serial>,
}

use vcc_pki_core::profile::validity::{
    LEAF_DEFAULT_DAYS as DEFAULT_VALIDITY_DAYS, LEAF_MAX_DAYS as MAX_VALIDITY_DAYS,
};
use vcc_pki_core::profile::{DistributionUrls, Validity};
/// Everything policy decided about one certificate, ready to sign.
pub(crate) struct Issuance {
    pub(crate) service_id: String,
    /// The CN is `names.common_name`: the normalised name policy checked.
    pub(crate) names: Names,
    pub(crate) subject_spki: Vec<u8>,
    pub(crate) key_type: KeyType,
    /// "csr" when the subject made its own key, "server" when this server made it.
    pub(crate) key_source: &'static str,
    pub(crate) profile: LeafProfile,
    pub(crate) validity_days: u32,
    /// A window the requester chose and policy checked (an ACME order's notBefore/notAfter);
    /// None: from now for `validity_days`.
    pub(crate) window: Option<Validity>,
    pub(crate) renewed_from: Option<Serial>,
}

fn spki_of(der: &[u8]) -> AuthorityResult<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| AuthorityError::internal("stored certificate does not parse"))?;
    Ok(cert.public_key().raw.to_vec())
}

impl Authority {
    /// [`Self::issue_unmetered`], counted in `/metrics` (issue 16).
    pub async fn issue(
        &self,
        ctx: &Requester,
        req: IssueRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        let result = self.issue_unmetered(ctx, req).await;
        match &result {
            Ok(done) => crate::telemetry::issued(ctx, &done.profile, false),
            Err(e) => crate::telemetry::refused(ctx, "issue", e),
        }
        result
    }

    async fn issue_unmetered(
        &self,
        ctx: &Requester,
        req: IssueRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        const ACTION: &str = "certificate.issue";
        validate_service_id(&req.service_id)?;
        // Only an enrollment needs the service's record; an admin's issuance creates the service
        // if it does not exist yet (inside the issuing transaction), without a read first.
        let service = match &ctx.principal {
            Principal::Enrollment { .. } => self.store.service(&req.service_id).await?,
            _ => None,
        };
        let subject = Subject {
            service_id: &req.service_id,
            service: service.as_ref(),
            current_serial: None,
        };
        let now = self.now();
        // The credentials first, before any name is parsed (a refusal is audited whatever the
        // names), then every name.
        let names = match permit(
            &ctx.principal,
            ctx.bad_token,
            Action::Issue,
            subject,
            &Names::default(),
            now,
        ) {
            Ok(()) => Names::from_request(&req.common_name, &req.san_dns, &req.san_ip)?,
            Err(refusal) => {
                return Err(ctx
                    .deny(&self.store, ACTION, Some(&req.service_id), refusal)
                    .await)
            }
        };
        if let Err(refusal) = reserved_for_the_server(&ctx.principal, &req.service_id) {
            return Err(ctx
                .deny(&self.store, ACTION, Some(&req.service_id), refusal)
                .await);
        }
        if let Err(refusal) = permit(
            &ctx.principal,
            ctx.bad_token,
            Action::Issue,
            subject,
            &names,
            now,
        ) {
            return Err(ctx
                .deny(&self.store, ACTION, Some(&req.service_id), refusal)
                .await);
        }
        let mut effects = IssueEffects::default();
        match &ctx.principal {
            Principal::Enrollment { token_hash } => {
                effects.consume_enrollment = Some((req.service_id.clone(), token_hash.clone()));
            }
            _ => {
                effects.create_service = Some(NewService {
                    service_id: req.service_id.clone(),
                    service_name: req.service_id.clone(),
                    ..Default::default()
                });
            }
        }

        let csr = req.csr_pem.as_deref().map(verify_csr_pem).transpose()?;
        if csr.is_some() && req.key_type.is_some() {
            return Err(AuthorityError::malformed(
                "key_type is for server-made keys; a CSR brings its own key",
            ));
        }
        if let Some(csr) = &csr {
            names.check_csr(csr)?;
        }
        let key_type = req
            .key_type
            .as_deref()
            .map(KeyType::parse)
            .transpose()?
            .unwrap_or(KeyType::EcdsaP256);
        let profile = req
            .profile
            .as_deref()
            .map(LeafProfile::parse)
            .transpose()?
            .unwrap_or_default();
        let validity_days = req.validity_days.unwrap_or(DEFAULT_VALIDITY_DAYS);
        if validity_days == 0 || validity_days > MAX_VALIDITY_DAYS {
            return Err(AuthorityError::malformed(format!(
                "validity_days must be between 1 and {MAX_VALIDITY_DAYS}"
            )));
        }
        let (subject_spki, key_type, private_key) = match csr {
            Some(csr) => (csr.subject_public_key_info, csr.key_type, None),
            None => {
                let key = tokio::task::spawn_blocking(move || key_type.generate())
                    .await
                    .map_err(|e| AuthorityError::internal(e.to_string()))??;
                (
                    vcc_pki_core::keys::spki_der(&key),
                    key_type,
                    Some(vcc_pki_core::keys::private_key_pem(&key)),
                )
            }
        };
        let audit_action = if effects.consume_enrollment.is_some() {
            "certificate.enroll"
        } else {
            ACTION
        };
        let key_source = if private_key.is_some() {
            "server"
        } else {
            "csr"
        };
        let issuance = Issuance {
            service_id: req.service_id.clone(),
            names,
            subject_spki,
            key_type,
            key_source,
            profile,
            validity_days,
            window: None,
            renewed_from: None,
        };
        let mut issued = self
            .sign_and_store(ctx, audit_action, issuance, effects)
            .await?;
        issued.private_key_pem = private_key;
        Ok(issued)
    }

    /// [`Self::renew_unmetered`], counted in `/metrics` (issue 16).
    pub async fn renew(
        &self,
        ctx: &Requester,
        req: RenewRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        let result = self.renew_unmetered(ctx, req).await;
        match &result {
            Ok(done) => crate::telemetry::issued(ctx, &done.profile, true),
            Err(e) => crate::telemetry::refused(ctx, "renew", e),
        }
        result
    }

    async fn renew_unmetered(
        &self,
        ctx: &Requester,
        req: RenewRequest,
    ) -> AuthorityResult<IssuedCertificate> {
        const ACTION: &str = "certificate.renew";
        let target = req.serial_number.clone().or_else(|| req.service_id.clone());
        let current: CertificateRecord = match &ctx.principal {
            Principal::Admin | Principal::System => {
                let found = match (&req.serial_number, &req.service_id) {
                    (Some(serial), _) => {
                        let serial = Serial::from_hex(serial)
                            .ok_or_else(|| AuthorityError::malformed("serial_number is not hex"))?;
                        self.store.certificate_by_serial(&serial).await?
                    }
                    (None, Some(id)) => self.store.current_certificate(id).await?,
                    (None, None) => {
                        return Err(AuthorityError::malformed(
                            "send service_id or serial_number",
                        ))
                    }
                };
                found.ok_or_else(|| {
                    AuthorityError::not_found(format!(
                        "no certificate for {}",
                        target.clone().unwrap_or_default()
                    ))
                })?
            }
            Principal::Service { certificate } => {
                // Over mTLS the renewal is of the certificate presented; a request naming any
                // other service or serial is refused by policy as someone else's.
                let names_itself = req
                    .service_id
                    .as_deref()
                    .is_none_or(|id| id == certificate.service_id)
                    && req.serial_number.as_deref().is_none_or(|s| {
                        Serial::from_hex(s).as_ref() == Some(&certificate.serial_number)
                    });
                let service_id = if names_itself {
                    certificate.service_id.as_str()
                } else {
                    ""
                };
                let current = self
                    .store
                    .current_certificate(&certificate.service_id)
                    .await?;
                let service = self.store.service(&certificate.service_id).await?;
                let subject = Subject {
                    service_id,
                    service: service.as_ref(),
                    current_serial: current.as_ref().map(|c| &c.serial_number),
                };
                let action = Action::Renew {
                    certificate: certificate.as_ref(),
                };
                let names = Names::of_certificate(certificate);
                let now = self.now();
                if let Err(refusal) =
                    permit(&ctx.principal, ctx.bad_token, action, subject, &names, now)
                {
                    let own_serial = certificate.serial_number.to_hex();
                    let target = if names_itself {
                        Some(own_serial.as_str())
                    } else {
                        target.as_deref()
                    };
                    return Err(ctx.deny(&self.store, ACTION, target, refusal).await);
                }
                (**certificate).clone()
            }
            Principal::Auditor => {
                let err = crate::principal::read_only();
                return Err(ctx.deny(&self.store, ACTION, target.as_deref(), err).await);
            }
            Principal::AcmeAccount { .. } | Principal::AcmeKey { .. } => {
                let err = AuthorityError::forbidden(
                    "an ACME account renews by a new order (with ARI `replaces`)",
                );
                return Err(ctx.deny(&self.store, ACTION, target.as_deref(), err).await);
            }
            Principal::Enrollment { .. } | Principal::Anonymous => {
                let err = AuthorityError::unauthenticated(
                    "renewal needs the service's current certificate (mTLS) or an admin token",
                );
                return Err(ctx.deny(&self.store, ACTION, target.as_deref(), err).await);
            }
        };
        if let Err(refusal) = reserved_for_the_server(&ctx.principal, &current.service_id) {
            return Err(ctx
                .deny(&self.store, ACTION, target.as_deref(), refusal)
                .await);
        }
        if current.profile == super::OCSP_SIGNING_PROFILE {
            return Err(AuthorityError::conflict(
                "OCSP responder certificates are issued and rotated by the server itself",
            ));
        }
        if current.status == CertificateStatus::Revoked {
            let err = AuthorityError::forbidden(format!(
                "certificate {} is revoked and cannot be renewed",
                current.serial_number
            ));
            return Err(ctx
                .deny(
                    &self.store,
                    ACTION,
                    Some(&current.serial_number.to_hex()),
                    err,
                )
                .await);
        }
        let (subject_spki, key_type) = match &req.csr_pem {
            Some(pem) => {
                let csr = verify_csr_pem(pem)?;
                (csr.subject_public_key_info, csr.key_type)
            }
            None => (spki_of(&current.certificate_der)?, current.key_type),
        };
        let names = Names::of_certificate(&current);
        let lifetime_days = u32::try_from((current.not_after - current.not_before).whole_days())
            .map(|days| days.clamp(1, MAX_VALIDITY_DAYS))
            .unwrap_or(DEFAULT_VALIDITY_DAYS);
        let validity_days = req.validity_days.unwrap_or(lifetime_days);
        // A service may shorten its renewed certificate, never lengthen it; an admin may choose.
        let max_days = if matches!(ctx.principal, Principal::Admin) {
            MAX_VALIDITY_DAYS
        } else {
            lifetime_days
        };
        if validity_days == 0 || validity_days > max_days {
            return Err(AuthorityError::malformed(format!(
                "validity_days must be between 1 and {max_days}"
            )));
        }
        let issuance = Issuance {
            service_id: current.service_id.clone(),
            names,
            subject_spki,
            key_type,
            key_source: if req.csr_pem.is_some() {
                "csr"
            } else {
                if current.key_source == "server" {
                    "server"
                } else {
                    "csr"
                }
            },
            profile: LeafProfile::parse(&current.profile)?,
            validity_days,
            window: None,
            renewed_from: Some(current.serial_number.clone()),
        };
        self.sign_and_store(ctx, ACTION, issuance, IssueEffects::default())
            .await
    }

    /// Sign with the intermediate and store durably; only then return the certificate.
    pub(crate) async fn sign_and_store(
        &self,
        ctx: &Requester,
        action: &str,
        issuance: Issuance,
        effects: IssueEffects,
    ) -> AuthorityResult<IssuedCertificate> {
        let Issuance {
            service_id,
            names,
            subject_spki,
            key_type,
            key_source,
            profile,
            validity_days,
            window,
            renewed_from,
        } = issuance;
        let service_id = service_id.as_str();
        let (issuer_id, issuer) = self.intermediate()?;
        let validity = window.unwrap_or_else(|| Validity::leaf(self.now(), validity_days));
        let serial = Serial::random();
        let crl_shard = self.crl.shard_for(&serial);
        let urls = self
            .config
            .public_url
            .as_deref()
            .map(|u| DistributionUrls::new(u, crl_shard));
        let request = LeafRequest {
            subject_public_key_info: subject_spki.clone(),
            key_type,
            common_name: names.common_name.clone(),
            dns_names: names.dns.clone(),
            ip_addresses: names.ips.clone(),
            profile,
            serial,
            not_before: validity.not_before,
            not_after: validity.not_after,
            crl_url: urls.as_ref().map(|u| u.crl.clone()),
            ocsp_url: urls.as_ref().map(|u| u.ocsp.clone()),
            ca_issuers_url: urls.map(|u| u.ca_issuers),
        };
        let serial = request.serial.clone();
        let req_for_sign = request.clone();
        let (der, validity) = if issuer.signs_quickly() {
            issuer.issue_leaf(&req_for_sign)?
        } else {
            tokio::task::spawn_blocking(move || issuer.issue_leaf(&req_for_sign))
                .await
                .map_err(|e| AuthorityError::internal(e.to_string()))??
        };
        let Validity {
            not_before,
            not_after,
        } = validity;
        let fingerprint = fingerprint_sha256(&der);
        let record = NewCertificate {
            serial_number: serial.clone(),
            service_id: service_id.to_string(),
            common_name: request.common_name.clone(),
            san_dns: names.dns.clone(),
            san_ip: names.ips.iter().map(|i| i.to_string()).collect(),
            profile: profile.as_str().into(),
            key_type,
            key_source: key_source.into(),
            public_key_sha256: hex::encode(Sha256::digest(&subject_spki)),
            fingerprint_sha256: fingerprint.clone(),
            certificate_der: der.clone(),
            issuer_ca_id: issuer_id,
            not_before,
            not_after,
            renewed_from: renewed_from.clone(),
            crl_shard,
            renew_after: validity.renewal_due(),
        };
        let audit = ctx
            .audit(action, "certificate")
            .target(serial.to_hex())
            .details(serde_json::json!({
                "service_id": service_id, "common_name": record.common_name, "san_dns": record.san_dns,
                "san_ip": record.san_ip, "key_type": key_type.as_str(), "profile": record.profile,
                "not_after": vcc_pki_store::format_time(not_after), "renewed_from": renewed_from.as_ref().map(Serial::to_hex),
            }));
        let ocsp_epoch = self.ocsp.epoch();
        match self
            .store
            .insert_certificate(&record, &effects, &audit)
            .await
        {
            Ok(_) => self.ocsp.issued(&serial, issuer_id, ocsp_epoch),
            // Policy re-checked inside the transaction (revoked predecessor, compromised key, token
            // used meanwhile): a refusal, audited like the others.
            Err(refused @ StoreError::Refused(_)) => {
                let refusal = AuthorityError::from(refused);
                return Err(ctx
                    .deny(&self.store, action, Some(service_id), refusal)
                    .await);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(IssuedCertificate {
            service_id: service_id.to_string(),
            serial_number: serial,
            common_name: record.common_name,
            san_dns: record.san_dns,
            san_ip: record.san_ip,
            certificate_pem: certificate_pem(&der),
            ca_chain_pem: self.chain_pem(),
            private_key_pem: None,
            not_before,
            not_after,
            fingerprint_sha256: fingerprint,
            key_type: record.key_type,
            profile: record.profile,
            renewed_from,
        })
    }
}
