//! The Authority (Boulder's RA + CA in one): every issuance, renewal and revocation goes through
//! here. It owns the unlocked CA keys, applies policy (who may get which name) and asks the store
//! to persist before anything is returned.
//!
//! This crate has no transport: it depends on no HTTP crate (`cargo tree -p vcc-pki-authority -e
//! normal` shows no axum, hyper, tower or http). Front ends authenticate a [`Requester`], call the
//! authority with domain requests and map [`AuthorityError`] to their own wire errors.
pub mod config;
pub mod credentials;
mod error;
pub mod files;
pub mod policy;
mod principal;

mod ca_setup;
mod crl_worker;
mod issuance;
mod ocsp;
mod ocsp_presign;
mod registry;
mod revocation;

pub use ca_setup::{CaCreateRequest, CaCreated, CaInfo, CaSummary};
pub use issuance::{IssueRequest, IssuedCertificate, RenewRequest};
pub use ocsp::{
    OcspAnswer, SignedOcspResponse, OCSP_SERVICE_ID, OCSP_SIGNING_PROFILE, RESPONDER_LIFETIME,
    RESPONSE_LIFETIME,
};
pub use policy::validate_service_id;
pub use registry::{Registered, ServiceRegistration};
pub use revocation::{CrlInfo, RevokeRequest, RevokeResponse};

pub use config::{AuthorityConfig, ServerTls};
pub use error::{AuthorityError, AuthorityResult, Malformed};
pub use principal::{Principal, Requester};
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;
use vcc_pki_core::{certificate_pem, IssuingAuthority};
use vcc_pki_store::{CaLevel, CertificateRecord, Store};
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

/// Unlocked CA material. Absent keys with present records means "sealed".
#[derive(Default)]
struct CaKeys {
    password: Option<Zeroizing<String>>,
    root: Option<Arc<IssuingAuthority>>,
    /// (intermediate_ca.id, authority)
    intermediate: Option<(i64, Arc<IssuingAuthority>)>,
    /// PEM of intermediate + root, for responses.
    chain_pem: String,
    root_pem: Option<String>,
    intermediate_pem: Option<String>,
}

pub struct Authority {
    store: Store,
    config: Arc<AuthorityConfig>,
    keys: RwLock<CaKeys>,
    tls: Arc<dyn ServerTls>,
    /// Wakes the CRL worker after a revocation (rebuilds are coalesced).
    crl_trigger: Notify,
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
        let authority = Arc::new(Self {
            store,
            keys: RwLock::new(CaKeys {
                password: config.ca_password.clone(),
                ..Default::default()
            }),
            config,
            tls,
            crl_trigger: Notify::new(),
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
        authority.reload_ca().await?;
        Ok(authority)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-read CA records and unlock them with the known password, if any.
    async fn reload_ca(&self) -> AuthorityResult<()> {
        let root = self.store.active_ca(CaLevel::Root).await?;
        let intermediate = self.store.active_ca(CaLevel::Intermediate).await?;
        let password = self
            .keys
            .read()
            .map_err(|_| AuthorityError::internal("lock poisoned"))?
            .password
            .clone();
        let mut next = CaKeys {
            password: password.clone(),
            ..Default::default()
        };
        next.root_pem = root.as_ref().map(|r| certificate_pem(&r.certificate_der));
        next.intermediate_pem = intermediate
            .as_ref()
            .map(|r| certificate_pem(&r.certificate_der));
        next.chain_pem = format!(
            "{}{}",
            next.intermediate_pem.clone().unwrap_or_default(),
            next.root_pem.clone().unwrap_or_default()
        );
        if let Some(password) = &password {
            if let Some(r) = &root {
                let key = vcc_pki_core::keys::decrypt_private_key_pem(
                    &r.encrypted_private_key,
                    password.as_bytes(),
                )
                .map_err(|e| AuthorityError::forbidden(format!("root CA key: {e}")))?;
                next.root = Some(Arc::new(IssuingAuthority::new(
                    r.certificate_der.clone(),
                    Arc::new(key),
                )?));
            }
            if let Some(i) = &intermediate {
                let key = vcc_pki_core::keys::decrypt_private_key_pem(
                    &i.encrypted_private_key,
                    password.as_bytes(),
                )
                .map_err(|e| AuthorityError::forbidden(format!("intermediate CA key: {e}")))?;
                next.intermediate = Some((
                    i.id,
                    Arc::new(IssuingAuthority::new(
                        i.certificate_der.clone(),
                        Arc::new(key),
                    )?),
                ));
            }
        }
        if let Some(r) = &root {
            // The local CLI's trust anchor (public data).
            let path = self.config.data_dir.join("root.crt");
            if let Err(e) =
                crate::files::write_public(&path, certificate_pem(&r.certificate_der).as_bytes())
            {
                tracing::warn!(error = %e, path = %path.display(), "could not write root.crt");
            }
        }
        let roots: Vec<Vec<u8>> = [root.as_ref(), intermediate.as_ref()]
            .into_iter()
            .flatten()
            .map(|r| r.certificate_der.clone())
            .collect();
        self.tls.set_client_trust(&roots);
        *self
            .keys
            .write()
            .map_err(|_| AuthorityError::internal("lock poisoned"))? = next;
        Ok(())
    }

    /// True when a CA exists but its keys are locked.
    pub fn is_sealed(&self) -> bool {
        self.keys
            .read()
            .map(|k| {
                (k.root_pem.is_some() && k.root.is_none())
                    || (k.intermediate_pem.is_some() && k.intermediate.is_none())
            })
            .unwrap_or(true)
    }

    fn intermediate(&self) -> AuthorityResult<(i64, Arc<IssuingAuthority>)> {
        let keys = self
            .keys
            .read()
            .map_err(|_| AuthorityError::internal("lock poisoned"))?;
        match (&keys.intermediate, &keys.intermediate_pem) {
            (Some(i), _) => Ok(i.clone()),
            (None, Some(_)) => Err(AuthorityError::Sealed),
            (None, None) => Err(AuthorityError::conflict(
                "no intermediate CA exists yet: create one with POST /api/ca/intermediate",
            )),
        }
    }

    pub fn chain_pem(&self) -> String {
        self.keys
            .read()
            .map(|k| k.chain_pem.clone())
            .unwrap_or_default()
    }

    pub fn root_pem(&self) -> Option<String> {
        self.keys.read().ok().and_then(|k| k.root_pem.clone())
    }

    pub fn intermediate_pem(&self) -> Option<String> {
        self.keys
            .read()
            .ok()
            .and_then(|k| k.intermediate_pem.clone())
    }

    fn password(&self) -> Option<Zeroizing<String>> {
        self.keys.read().ok().and_then(|k| k.password.clone())
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
        if record.certificate_der != der || !matches!(record.status.as_str(), "active" | "expiring")
        {
            return Ok(None);
        }
        Ok(Some(record))
    }
}
