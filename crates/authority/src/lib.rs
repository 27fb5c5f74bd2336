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
pub mod policy;
mod principal;

mod ca_setup;
#[cfg(test)]
mod clock_tests;
mod crl_worker;
mod custody;
mod issuance;
mod ocsp;
mod ocsp_presign;
mod registry;
mod revocation;
mod tokens;

pub use ca_setup::{CaCreateRequest, CaCreated, CaInfo, CaSummary};
pub use issuance::{IssueRequest, IssuedCertificate, RenewRequest};
pub use ocsp::{
    OcspAnswer, SignedOcspResponse, OCSP_SERVICE_ID, OCSP_SIGNING_PROFILE, RESPONDER_LIFETIME,
    RESPONSE_LIFETIME,
};
pub use policy::validate_service_id;
pub use registry::{Registered, ServiceRegistration};
pub use revocation::{CrlInfo, RevokeRequest, RevokeResponse};
pub use tokens::CreatedToken;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{AuthorityConfig, ServedValidity, ServerTls};
pub use error::{AuthorityError, AuthorityResult, Malformed};
pub use principal::{Principal, Requester};
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;
use vcc_pki_store::{CertificateRecord, Store};
use x509_parser::prelude::{FromDer, X509Certificate};

pub struct Authority {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<AuthorityConfig>,
    keys: RwLock<custody::CaKeys>,
    tls: Arc<dyn ServerTls>,
    /// Wakes the CRL worker after a revocation (rebuilds are coalesced).
    crl_trigger: Notify,
    /// Serialises CA reloads (custody.rs).
    ca_reload: tokio::sync::Mutex<()>,
    /// Which CRLs the worker still has to rebuild.
    crl_schedule: crl_worker::SharedCrlSchedule,
    /// This process among the replicas sharing the database (holder of scheduling leases).
    replica_id: String,

    /// The OCSP responder: its signing certificate and pre-signed responses.
    ocsp: ocsp::OcspState,
}

/// The service id the server's own TLS certificates are issued to.
pub const SERVER_SERVICE_ID: &str = "vcc-pki-server";

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
        let authority = Arc::new(Self {
            store,
            clock,
            keys: RwLock::new(custody::CaKeys::locked_with(config.ca_password.clone())),
            config,
            tls,
            crl_trigger: Notify::new(),
            ca_reload: tokio::sync::Mutex::new(()),
            crl_schedule: Default::default(),
            replica_id: format!(
                "{}-{}-{:08x}",
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .unwrap_or_default()
                    .trim(),
                std::process::id(),
                rand::random::<u32>()
            ),

            ocsp: ocsp::OcspState::default(),
        });
        authority.reload_ca(false).await?;
        Ok(authority)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The authority's time, in whole seconds (as certificates, CRLs and OCSP responses carry it).
    pub fn now(&self) -> time::OffsetDateTime {
        let now = self.clock.now();
        now.replace_nanosecond(0).unwrap_or(now)
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
        let serial = hex::encode(cert.raw_serial())
            .trim_start_matches("00")
            .to_string();
        let serial = vcc_pki_core::Serial::from_hex(&serial)
            .map(|s| s.to_hex())
            .unwrap_or_default();
        let Some(record) = self.store.certificate_by_serial(&serial).await? else {
            return Ok(None);
        };
        if record.certificate_der != der || !record.status.is_valid() {
            return Ok(None);
        }
        Ok(Some(record))
    }
}
