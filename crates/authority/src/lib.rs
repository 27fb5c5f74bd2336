//! The Authority (Boulder's RA + CA in one): every issuance, renewal and revocation goes through
//! here. It owns the unlocked CA keys, applies policy (who may get which name) and asks the store
//! to persist before anything is returned.
//!
//! This crate has no transport: it depends on no HTTP crate (`cargo tree -p vcc-pki-authority -e
//! normal` shows no axum, hyper, tower or http). Front ends authenticate a [`Requester`], call the
//! authority with domain requests and map [`AuthorityError`] to their own wire errors.
pub mod clock;
pub mod config;
pub mod credentials;
mod error;
pub mod files;
mod password_guard;
pub mod policy;
mod principal;

pub mod audit_anchor;
mod ca_import;
pub mod ca_key;
mod ca_setup;
pub mod ceremony;
#[cfg(test)]
mod clock_tests;
mod crl_worker;
mod custody;
mod eab;
mod issuance;
mod ocsp;
mod ocsp_presign;
mod order_issuance;
mod registry;
mod renewal_windows;
mod revocation;
mod server_tls;
pub mod store_check;
pub mod telemetry;
mod tidy;
mod tokens;

pub use ca_import::IntermediateRequested;
pub use ca_setup::{CaCreateRequest, CaCreated, CaInfo, CaSummary};
pub use crl_worker::CrlPublisher;
pub use eab::{cidr_contains, dns_allowed, parse_cidr, CreatedEabKey, EabKeyRequest};
pub use issuance::{IssueRequest, IssuedCertificate, RenewRequest};
pub use ocsp::{
    OcspAnswer, OcspService, SignedOcspResponse, OCSP_SERVICE_ID, OCSP_SIGNING_PROFILE,
    RESPONDER_LIFETIME, RESPONSE_LIFETIME,
};
pub use order_issuance::{acme_service_id, is_acme_service_id, OrderIssueRequest};
pub use policy::validate_service_id;
pub use registry::{Registered, ServiceRegistration};
pub use revocation::{CrlInfo, RevokeRequest, RevokeResponse};
pub use server_tls::ServerTlsRenewer;
pub use tidy::TIDY_EVERY;
pub use tokens::{CreatedToken, TokenRole};

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthorityConfig, ServedValidity, ServerTls};
pub use error::{AuthorityError, AuthorityResult, Malformed};
pub use principal::{Principal, Requester};
use std::sync::{Arc, RwLock};
use vcc_pki_store::{CertificateRecord, Store};
use x509_parser::prelude::{FromDer, X509Certificate};

pub struct Authority {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<AuthorityConfig>,
    keys: RwLock<custody::CaKeys>,
    /// Wrong CA passwords offered lately (creation, unlock): bounded per minute.
    password_guard: password_guard::PasswordGuard,
    tls: Arc<dyn ServerTls>,
    /// Serialises CA reloads (custody.rs).
    ca_reload: tokio::sync::Mutex<()>,
    /// The CRL publisher: shards, rebuilds after revocations and before nextUpdate.
    crl: Arc<crl_worker::CrlPublisher>,
    /// The server's own TLS certificate, issued by the intermediate.
    server_tls: Arc<ServerTlsRenewer>,

    /// The OCSP responder: its signing certificate and pre-signed responses.
    ocsp: Arc<ocsp::OcspService>,
    /// One audit anchor written at a time (audit_anchor.rs).
    audit_anchoring: tokio::sync::Mutex<()>,
}

/// The service id the server's own TLS certificates are issued to.
pub const SERVER_SERVICE_ID: &str = vcc_pki_store::SERVER_SERVICE_ID;

impl Authority {
    pub async fn load(
        store: Store,
        config: Arc<AuthorityConfig>,
        tls: Arc<dyn ServerTls>,
    ) -> AuthorityResult<Arc<Self>> {
        Self::load_with_clock(store, config, tls, Arc::new(SystemClock)).await
    }

    /// As [`Authority::load`], reading time from `clock`.
    pub async fn load_with_clock(
        store: Store,
        config: Arc<AuthorityConfig>,
        tls: Arc<dyn ServerTls>,
        clock: Arc<dyn Clock>,
    ) -> AuthorityResult<Arc<Self>> {
        let replica_id = format!(
            "{}-{}-{:08x}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap_or_default()
                .trim(),
            std::process::id(),
            rand::random::<u32>()
        );
        let authority = Arc::new_cyclic(|weak| Self {
            ocsp: Arc::new(ocsp::OcspService::new(
                weak.clone(),
                store.clone(),
                clock.clone(),
            )),
            crl: Arc::new(crl_worker::CrlPublisher::new(
                weak.clone(),
                store.clone(),
                clock.clone(),
                config.clone(),
                replica_id,
            )),
            server_tls: Arc::new(ServerTlsRenewer::new(
                weak.clone(),
                tls.clone(),
                clock.clone(),
            )),
            store,
            clock,
            keys: RwLock::new(custody::CaKeys::locked_with(config.ca_password.clone())),
            password_guard: Default::default(),
            config,
            tls,
            ca_reload: tokio::sync::Mutex::new(()),
            audit_anchoring: tokio::sync::Mutex::new(()),
        });
        match authority.reload_ca(false).await {
            Ok(()) => {}
            // A token that is missing or refuses its PIN: up, sealed, saying why (the next start
            // or replica reload retries). A wrong CA password stays fatal, as the operator typed it.
            Err(AuthorityError::Unavailable(_)) => authority.reload_ca(true).await?,
            Err(e) => return Err(e),
        }
        Ok(authority)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The renewer of the server's own TLS certificate.
    pub fn server_tls(&self) -> &Arc<ServerTlsRenewer> {
        &self.server_tls
    }

    /// Start the components' background work (inside the server's runtime): the OCSP
    /// responder's worker, pre-signer and revocation follower, the CRL worker, the CA follower and
    /// the server-TLS renewer. Each holds the Authority weakly and ends with it.
    pub fn start_components(self: &Arc<Self>) {
        self.ocsp.start_presigner();
        tokio::spawn(self.ocsp.clone().run_worker());
        tokio::spawn(self.ocsp.clone().run_revocation_follower());
        tokio::spawn(self.crl.clone().run_worker());
        tokio::spawn(self.crl.clone().run_revocation_follower());
        tokio::spawn(self.server_tls.clone().run());
        tokio::spawn(Self::run_ca_follower(Arc::downgrade(self)));
        self.start_audit_anchors();
    }

    /// The CA changed (created, replaced, unlocked, loaded from another replica): the
    /// components start over on it.
    async fn ca_changed(&self) {
        self.server_tls.renew_if_possible().await;
        self.crl.trigger();
        self.ocsp.wake();
    }

    /// The CRL publisher (told of every revocation by the authority).
    pub fn crl(&self) -> &Arc<crl_worker::CrlPublisher> {
        &self.crl
    }

    /// The OCSP responder (told of every issuance and revocation by the authority).
    pub fn ocsp(&self) -> &Arc<ocsp::OcspService> {
        &self.ocsp
    }

    /// The authority's time, in whole seconds (as certificates, CRLs and OCSP responses carry it).
    pub fn now(&self) -> time::OffsetDateTime {
        clock::whole_seconds(self.clock.now())
    }

    /// The stored record behind a client certificate presented over mTLS, if it is one of ours,
    /// byte-identical to what we issued, and neither revoked nor expired.
    pub async fn service_certificate_for(
        &self,
        der: &[u8],
    ) -> AuthorityResult<Option<CertificateRecord>> {
        let Ok((_, cert)) = X509Certificate::from_der(der) else {
            return Ok(None);
        };
        let serial = vcc_pki_core::Serial::from_bytes(cert.raw_serial());
        let Some(record) = self.store.certificate_by_serial(&serial).await? else {
            return Ok(None);
        };
        if record.certificate_der != der || !record.status.is_valid() {
            return Ok(None);
        }
        Ok(Some(record))
    }
}
