//! The OCSP responder's key kept in the data dir (mode 0600, as the server's TLS key), so that a
//! restart reuses the responder certificate it still has instead of issuing one more: without
//! it, every restart of every replica added a responder certificate to the store (issue 16).
//! The file names the certificate by serial; the store, not the file, says whether it is still
//! good (active, of the current intermediate, its key, not due for rotation).
use super::{ActiveResponder, OcspService, OCSP_SERVICE_ID};
use crate::{AuthorityError, AuthorityResult};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use vcc_pki_core::ocsp::{IssuerIdentity, OcspResponder};
use vcc_pki_core::Serial;
use vcc_pki_store::{CaLevel, CertificateStatus};

const FILE: &str = "ocsp-responder.key";
const SERIAL_PREFIX: &str = "serial ";

fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Remember the responder in use (best effort: a failure only costs a new one at the next start).
pub(crate) fn remember(data_dir: &Path, serial: &Serial, key_pem: &str) {
    let content = zeroize::Zeroizing::new(format!("{SERIAL_PREFIX}{}\n{key_pem}", serial.to_hex()));
    if let Err(e) = crate::files::write_secret(&path(data_dir), content.as_bytes()) {
        tracing::warn!(error = %e, "could not keep the OCSP responder key for the next start");
    }
}

impl OcspService {
    /// Install the responder remembered in the data dir if its certificate is still one to sign
    /// with: of the store's active intermediate (and of `unsealed_intermediate`, the one whose
    /// key is open, if any). Works while the CA is sealed: the responder's key is not a CA key.
    pub(super) async fn install_remembered(
        &self,
        unsealed_intermediate: Option<i64>,
    ) -> Option<Arc<ActiveResponder>> {
        // Once per process: a file that was not good at start does not become good, and a
        // sealed server must not read it again for every OCSP request.
        if self.remembered_tried.swap(true, Ordering::SeqCst) {
            return None;
        }
        let dir = self.data_dir()?;
        let active = self.remembered_responder(&dir).await?;
        if unsealed_intermediate.is_some_and(|id| id != active.issuer_ca_id) {
            return None;
        }
        tracing::info!(serial = %active.serial, "reusing the OCSP responder certificate of the last start");
        if let Ok(mut slot) = self.responder.write() {
            *slot = Some(active.clone());
        }
        self.warm_needed.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        Some(active)
    }

    async fn remembered_responder(&self, data_dir: &Path) -> Option<Arc<ActiveResponder>> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path(data_dir)).ok()?);
        match self.load_responder(&text).await {
            Ok(active) => Some(active),
            Err(e) => {
                tracing::info!(reason = %e, "not reusing the remembered OCSP responder");
                None
            }
        }
    }

    async fn load_responder(&self, text: &str) -> AuthorityResult<Arc<ActiveResponder>> {
        let stale = |why: &str| AuthorityError::internal(why.to_string());
        let (first, pem) = text
            .split_once('\n')
            .ok_or_else(|| stale("unreadable file"))?;
        let serial = first
            .strip_prefix(SERIAL_PREFIX)
            .and_then(Serial::from_hex)
            .ok_or_else(|| stale("no serial"))?;
        let key = vcc_pki_core::keys::private_key_from_pem(pem)?;
        let record = self
            .store
            .certificate_by_serial(&serial)
            .await?
            .ok_or_else(|| stale("its certificate is not in the store"))?;
        if record.service_id != OCSP_SERVICE_ID || record.profile != super::OCSP_SIGNING_PROFILE {
            return Err(stale("its serial is not a responder certificate's"));
        }
        if matches!(
            record.status,
            CertificateStatus::Revoked | CertificateStatus::Expired
        ) {
            return Err(stale("its certificate is revoked or expired"));
        }
        let issuer = self
            .store
            .active_ca(CaLevel::Intermediate)
            .await?
            .ok_or_else(|| stale("there is no intermediate"))?;
        if record.issuer_ca_id != issuer.id {
            return Err(stale("its certificate is of another intermediate"));
        }
        let (_, certificate) = x509_parser::parse_x509_certificate(&record.certificate_der)
            .map_err(|e| stale(&e.to_string()))?;
        if certificate.tbs_certificate.subject_pki.raw != vcc_pki_core::keys::spki_der(&key) {
            return Err(stale("the key is not its certificate's"));
        }
        let active = Arc::new(ActiveResponder {
            responder: OcspResponder::new(&record.certificate_der, Arc::new(key))?,
            issuer: IssuerIdentity::from_certificate(&issuer.certificate_der)?,
            issuer_ca_id: issuer.id,
            serial,
            not_before: record.not_before,
            not_after: record.not_after,
            revoked: AtomicBool::new(false),
        });
        if !active.usable(self.now()) || active.due(self.now()) {
            return Err(stale("it is due for rotation"));
        }
        Ok(active)
    }
}
