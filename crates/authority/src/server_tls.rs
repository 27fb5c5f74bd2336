//! The server's own TLS certificate, a component of the Authority ([`ServerTlsRenewer`]): issued
//! by the intermediate to the server itself (service `vcc-pki-server`), stored and audited like
//! every certificate, installed in the TLS listener, renewed when the profile says it is due.
use super::issuance::Issuance;
use super::{Authority, SERVER_SERVICE_ID};
use crate::policy::Names;
use crate::{AuthorityError, AuthorityResult, Clock, Requester, ServerTls};
use std::sync::{Arc, Weak};
use vcc_pki_core::profile::validity::SERVER_TLS_DAYS;
use vcc_pki_core::{KeyType, LeafProfile};
use vcc_pki_store::{IssueEffects, NewService};

/// How often the renewer looks at the served certificate.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Keeps the TLS listener's certificate issued by the intermediate. The Authority tells it when
/// the CA changes (a new intermediate, an unlock); it holds the Authority weakly, to issue.
pub struct ServerTlsRenewer {
    authority: Weak<Authority>,
    tls: Arc<dyn ServerTls>,
    clock: Arc<dyn Clock>,
}

impl ServerTlsRenewer {
    pub(crate) fn new(
        authority: Weak<Authority>,
        tls: Arc<dyn ServerTls>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            authority,
            tls,
            clock,
        }
    }

    fn authority(&self) -> AuthorityResult<Arc<Authority>> {
        self.authority
            .upgrade()
            .ok_or_else(|| AuthorityError::Unavailable("the authority is shutting down".into()))
    }

    /// The served certificate is self-signed, or its renewal is due (the profile's rule).
    pub fn due(&self) -> bool {
        self.tls.served().is_none_or(|s| {
            !s.issued_by_ca
                || crate::clock::whole_seconds(self.clock.now())
                    >= vcc_pki_core::profile::renewal_due(s.not_before, s.not_after)
        })
    }

    /// Issue a new server certificate from the intermediate and swap it in; on failure keep the
    /// current one (logged).
    pub async fn renew(&self) {
        if let Err(e) = self.try_renew().await {
            tracing::warn!(error = %e, "could not issue the server's TLS certificate; keeping the current one");
        }
    }

    /// Renew if an unlocked intermediate exists; otherwise keep the current certificate.
    pub async fn renew_if_possible(&self) {
        if self.authority().is_ok_and(|a| a.intermediate().is_ok()) {
            self.renew().await;
        }
    }

    /// Whether the certificate served now is one the store records as revoked.
    pub async fn served_is_revoked(&self) -> bool {
        let (Some(serial), Ok(authority)) = (self.tls.served_serial(), self.authority()) else {
            return false;
        };
        matches!(
            authority.store.certificate_by_serial(&serial).await,
            Ok(Some(c)) if c.status == vcc_pki_store::CertificateStatus::Revoked
        )
    }

    /// A served certificate that is revoked (at start, or by a revocation just now) is replaced
    /// at once: clients that check OCSP or CRLs would refuse it, and after keyCompromise its key
    /// must not be used again.
    pub async fn replace_if_revoked(&self) {
        if self.served_is_revoked().await {
            tracing::warn!("the server's TLS certificate is revoked; replacing it now");
            self.renew_if_possible().await;
        }
    }

    /// Whether `serial` is the certificate served now.
    pub fn serves(&self, serial: &vcc_pki_core::Serial) -> bool {
        self.tls.served_serial().is_some_and(|s| &s == serial)
    }

    /// Check every ten minutes and renew when due; ends with the Authority.
    pub async fn run(self: Arc<Self>) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if self.authority.strong_count() == 0 {
                return;
            }
            if self.due() {
                self.renew_if_possible().await;
            } else {
                self.replace_if_revoked().await;
            }
        }
    }

    async fn try_renew(&self) -> AuthorityResult<()> {
        let authority = self.authority()?;
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
        let (dns, ips) = vcc_pki_core::profile::server_tls::server_names(
            host_name.as_deref(),
            &authority.config.dns_names,
            &authority.config.host,
        )?;
        let key = tokio::task::spawn_blocking(|| KeyType::EcdsaP256.generate())
            .await
            .map_err(|e| AuthorityError::internal(e.to_string()))??;
        let ctx = Requester::system();
        let mut effects = IssueEffects::default();
        if authority.store.service(SERVER_SERVICE_ID).await?.is_none() {
            effects.create_service = Some(NewService {
                service_id: SERVER_SERVICE_ID.into(),
                service_name: "VCC PKI server (TLS)".into(),
                ..Default::default()
            });
        }
        let issuance = Issuance {
            service_id: SERVER_SERVICE_ID.into(),
            names: Names {
                common_name: "localhost".into(),
                dns,
                ips,
            },
            subject_spki: vcc_pki_core::keys::spki_der(&key),
            key_type: KeyType::EcdsaP256,
            key_source: "server",
            profile: LeafProfile::Server,
            validity_days: SERVER_TLS_DAYS,
            window: None,
            renewed_from: None,
        };
        let issued = authority
            .sign_and_store(&ctx, "certificate.issue_server_tls", issuance, effects)
            .await?;
        self.tls
            .install(
                &issued.certificate_pem,
                &authority.chain_pem(),
                &key.serialize_der(),
                issued.not_before,
                issued.not_after,
            )
            .map_err(|e| AuthorityError::internal(e.to_string()))?;
        tracing::info!(serial = %issued.serial_number, not_after = %vcc_pki_store::format_time(issued.not_after), "server TLS certificate issued by the intermediate");
        Ok(())
    }
}
