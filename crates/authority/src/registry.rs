//! The service registry's changes: registration by an admin (allowed names and a one-time
//! enrollment token) and a service's update of its own entry over mTLS. Who may do which is
//! `policy::permit`'s decision.
use crate::credentials::{new_token, token_hash, ENROLLMENT_TOKEN_PREFIX};
use crate::policy::{allowed_names, permit, validate_service_id, Action, Names, Subject};
use crate::{Authority, AuthorityError, AuthorityResult, Principal, Requester};
use time::Duration;
use vcc_pki_store::{NewService, ServiceRecord};
use zeroize::Zeroizing;

/// A registration or an update of a service's entry.
#[derive(Debug, Clone, Default)]
pub struct ServiceRegistration {
    pub service_id: String,
    pub service_name: String,
    pub endpoints: Vec<String>,
    /// Only an admin sets these; none: the service may name itself.
    pub allowed_dns: Vec<String>,
    pub allowed_ip: Vec<String>,
    pub description: Option<String>,
    /// Lifetime of the enrollment token, hours (default 24, at most 720).
    pub enrollment_ttl_hours: Option<u32>,
}

/// The stored service, and the enrollment token when one was made (shown once).
pub struct Registered {
    pub service: ServiceRecord,
    pub enrollment_token: Option<Zeroizing<String>>,
}

pub const DEFAULT_ENROLLMENT_TTL_HOURS: u32 = 24;
pub const MAX_ENROLLMENT_TTL_HOURS: u32 = 720;

impl Authority {
    /// Register a service (admin) or update its own entry (the service, with its current certificate).
    pub async fn register_service(
        &self,
        ctx: &Requester,
        req: ServiceRegistration,
    ) -> AuthorityResult<Registered> {
        const ACTION: &str = "service.register";
        if matches!(
            ctx.principal,
            Principal::Anonymous
                | Principal::Auditor
                | Principal::Enrollment { .. }
                | Principal::AcmeAccount { .. }
                | Principal::AcmeKey { .. }
        ) {
            self.authorize(ctx, ACTION, Action::Register, "").await?;
        }
        validate_service_id(&req.service_id)?;
        if let Err(refusal) =
            crate::policy::reserved_for_the_server(&ctx.principal, &req.service_id)
        {
            return Err(ctx
                .deny(&self.store, ACTION, Some(&req.service_id), refusal)
                .await);
        }
        let name = req.service_name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(AuthorityError::malformed(
                "service_name must be 1 to 128 characters",
            ));
        }
        if req.endpoints.len() > 50
            || req
                .endpoints
                .iter()
                .any(|e| e.len() > 512 || e.trim().is_empty())
        {
            return Err(AuthorityError::malformed(
                "endpoints: at most 50 non-empty URLs of up to 512 characters",
            ));
        }
        if let Principal::Service { certificate } = &ctx.principal {
            // The names as sent: a service may send none.
            let requested = Names {
                common_name: String::new(),
                dns: req
                    .allowed_dns
                    .iter()
                    .chain(&req.allowed_ip)
                    .cloned()
                    .collect(),
                ips: Vec::new(),
            };
            let current = self
                .store
                .current_certificate(&certificate.service_id)
                .await?;
            let action = if requested.dns.is_empty() {
                Action::UpdateEntry
            } else {
                Action::Register
            };
            let subject = Subject {
                service_id: &req.service_id,
                service: None,
                current_serial: current.as_ref().map(|c| &c.serial_number),
            };
            if let Err(refusal) = permit(
                &ctx.principal,
                ctx.bad_token,
                action,
                subject,
                &requested,
                self.now(),
            ) {
                return Err(ctx
                    .deny(&self.store, ACTION, Some(&req.service_id), refusal)
                    .await);
            }
            let audit = ctx
                .audit("service.update", "service")
                .target(req.service_id.clone());
            let service = self
                .store
                .update_service_entry(
                    &req.service_id,
                    name,
                    &req.endpoints,
                    req.description.as_deref(),
                    &audit,
                )
                .await?;
            return Ok(Registered {
                service,
                enrollment_token: None,
            });
        }
        if !matches!(ctx.principal, Principal::Admin | Principal::System) {
            // Refused above; never reached by another principal.
            return Err(AuthorityError::forbidden(
                "only an admin registers a service",
            ));
        }
        let (allowed_dns, allowed_ip) =
            allowed_names(&req.service_id, &req.allowed_dns, &req.allowed_ip)?;
        let ttl = req
            .enrollment_ttl_hours
            .unwrap_or(DEFAULT_ENROLLMENT_TTL_HOURS);
        if ttl == 0 || ttl > MAX_ENROLLMENT_TTL_HOURS {
            return Err(AuthorityError::malformed(format!(
                "enrollment_ttl_hours must be between 1 and {MAX_ENROLLMENT_TTL_HOURS}"
            )));
        }
        let token = Zeroizing::new(new_token(ENROLLMENT_TOKEN_PREFIX));
        let expires = self.now() + Duration::hours(i64::from(ttl));
        let record = NewService {
            service_id: req.service_id.clone(),
            service_name: name.to_string(),
            description: req.description.clone(),
            endpoints: req.endpoints.clone(),
            allowed_dns,
            allowed_ip,
        };
        let audit = ctx
            .audit(ACTION, "service")
            .target(req.service_id.clone())
            .details(serde_json::json!({"allowed_dns": record.allowed_dns, "allowed_ip": record.allowed_ip, "enrollment_expires_at": vcc_pki_store::format_time(expires)}));
        let service = self
            .store
            .register_service(&record, &token_hash(&token), expires, &audit)
            .await?;
        Ok(Registered {
            service,
            enrollment_token: Some(token),
        })
    }

    /// May the requester read this service's record and certificates? Refusals are audited.
    pub async fn authorize_read(
        &self,
        ctx: &Requester,
        action: &str,
        service_id: &str,
    ) -> AuthorityResult<()> {
        self.authorize(ctx, action, Action::Read, service_id).await
    }

    /// The policy's answer for an action that needs no stored state to decide (a read, or a
    /// refusal before a request body is read); refusals are audited.
    pub async fn authorize(
        &self,
        ctx: &Requester,
        audit_action: &str,
        action: Action<'_>,
        service_id: &str,
    ) -> AuthorityResult<()> {
        let subject = Subject {
            service_id,
            service: None,
            current_serial: None,
        };
        let now = self.now();
        match permit(
            &ctx.principal,
            ctx.bad_token,
            action,
            subject,
            &Names::default(),
            now,
        ) {
            Ok(()) => Ok(()),
            Err(refusal) => {
                let target = (!service_id.is_empty()).then_some(service_id);
                Err(ctx.deny(&self.store, audit_action, target, refusal).await)
            }
        }
    }
}
