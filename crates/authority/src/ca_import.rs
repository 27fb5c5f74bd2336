//! An issuing CA whose certificate is signed elsewhere (an offline root, SPEC §12): the server
//! makes the key and a CSR (`ca create-intermediate --csr-out`), keeps the key pending, and
//! takes the signed certificate back (`ca import-intermediate --cert`), with the root it came
//! with when the store has none yet. The root's key never comes here.
use crate::ca_setup::{requested_subject, subject_string, CaCreateRequest, CaCreated};
use crate::{Authority, AuthorityError, AuthorityResult, Requester};
use vcc_pki_core::ca_certificate::{ca_csr_der, check_ca_certificate, CaCertificateFacts};
use vcc_pki_core::profile::CaProfile;
use vcc_pki_core::signer::SignerHandle;
use vcc_pki_core::{certificate_pem, fingerprint_sha256, IssuingAuthority, KeyType};
use vcc_pki_store::{CaKey, CaLevel, NewCa, NewPendingCa};

/// A CSR for a new issuing CA, its key kept pending on the server.
#[derive(Debug, Clone)]
pub struct IntermediateRequested {
    pub csr_pem: String,
    pub subject: String,
    pub key_type: KeyType,
    /// SHA-256 of the SubjectPublicKeyInfo: what the ceremony operator compares.
    pub public_key_sha256: String,
}

impl Authority {
    /// Make an issuing CA key (in the store or a token) and a CSR for it; the key waits until
    /// `import_intermediate` brings its certificate.
    pub async fn request_intermediate(
        &self,
        ctx: &Requester,
        req: CaCreateRequest,
    ) -> AuthorityResult<IntermediateRequested> {
        let action = "ca.request_intermediate";
        ctx.require_admin(&self.store, action, None).await?;
        let subject = requested_subject(
            &req.common_name,
            req.country.as_deref(),
            req.organization.as_deref(),
        );
        subject.validate()?;
        let key_type = req
            .key_type
            .as_deref()
            .map(KeyType::parse)
            .transpose()?
            .unwrap_or(CaProfile::Intermediate.default_key());
        if self.intermediate_pem().is_some() {
            return Err(AuthorityError::conflict(
                "an intermediate CA already exists",
            ));
        }
        let location = crate::ca_key::KeyLocation::parse(req.key_uri.as_deref())?;
        let password = if location.needs_password() || req.password.is_some() {
            Some(self.choose_password(ctx, action, req.password).await?)
        } else {
            None
        };
        let for_key = (location.clone(), password.clone(), subject.clone());
        let (csr_der, key, spki) =
            tokio::task::spawn_blocking(move || -> AuthorityResult<(Vec<u8>, CaKey, Vec<u8>)> {
                let (location, password, subject) = for_key;
                let (signer, key) =
                    crate::ca_key::generate(&location, key_type, password.as_ref())?;
                let handle = SignerHandle(signer);
                let csr = ca_csr_der(&subject, &handle)?;
                Ok((csr, key, vcc_pki_core::keys::spki_der(&handle)))
            })
            .await
            .map_err(|e| AuthorityError::internal(format!("key task failed: {e}")))??;
        let public_key_sha256 = fingerprint_sha256(&spki);
        let subject_text = subject_string(&subject);
        let audit = ctx.audit(action, "ca").details(serde_json::json!({
            "subject": subject_text, "key_type": key_type.as_str(),
            "public_key_sha256": public_key_sha256, "key_storage": key.describe(),
        }));
        self.store
            .insert_pending_intermediate(
                &NewPendingCa {
                    common_name: subject.common_name.clone(),
                    subject: subject_text.clone(),
                    key_type,
                    public_key_der: spki,
                    key,
                    csr_der: csr_der.clone(),
                },
                &audit,
            )
            .await?;
        if let Some(password) = password {
            if let Ok(mut keys) = self.keys.write() {
                keys.password.get_or_insert(password);
            }
        }
        Ok(IntermediateRequested {
            csr_pem: vcc_pki_core::pem_encode("CERTIFICATE REQUEST", &csr_der),
            subject: subject_text,
            key_type,
            public_key_sha256,
        })
    }

    /// Take back the certificate of a pending issuing CA, signed by the root (`chain_pem`: the
    /// intermediate first, then the root when the store has no root yet). Checked against the CA
    /// profile and its pending key before anything is stored.
    pub async fn import_intermediate(
        &self,
        ctx: &Requester,
        chain_pem: &str,
        password: Option<zeroize::Zeroizing<String>>,
    ) -> AuthorityResult<CaCreated> {
        let action = "ca.import_intermediate";
        ctx.require_admin(&self.store, action, None).await?;
        let blocks = vcc_pki_core::pem_decode_all(chain_pem, "CERTIFICATE")
            .map_err(|e| AuthorityError::malformed(e.to_string()))?;
        let (intermediate_der, given_root) = match blocks.as_slice() {
            [i] => (i.clone(), None),
            [i, r] => (i.clone(), Some(r.clone())),
            _ => {
                return Err(AuthorityError::malformed(
                    "expected the intermediate certificate, optionally followed by the root",
                ))
            }
        };
        if self.intermediate_pem().is_some() {
            return Err(AuthorityError::conflict(
                "an intermediate CA already exists",
            ));
        }
        let now = self.now();
        let stored_root = self.store.active_ca(CaLevel::Root).await?;
        let (root_der, new_root) = match (&stored_root, given_root) {
            (Some(r), Some(g)) if r.certificate_der != g => {
                return Err(AuthorityError::conflict(
                    "the root in this chain is not the root this server already has",
                ))
            }
            (Some(r), _) => (r.certificate_der.clone(), None),
            (None, Some(g)) => {
                let facts = check_ca_certificate(&g, CaProfile::Root, None, now)?;
                (g.clone(), Some(ca_record(&g, &facts, CaKey::Offline)))
            }
            (None, None) => {
                return Err(AuthorityError::malformed(
                    "this server has no root yet: give the chain, the intermediate followed by the root",
                ))
            }
        };
        let facts = check_ca_certificate(
            &intermediate_der,
            CaProfile::Intermediate,
            Some(&root_der),
            now,
        )?;
        let pending = self
            .store
            .pending_intermediate(&facts.subject_public_key_info)
            .await?
            .ok_or_else(|| {
                AuthorityError::conflict(
                    "no key on this server matches this certificate: it was not requested here \
                     (vcc-pki ca create-intermediate --csr-out FILE)",
                )
            })?;
        // The pending key opens and is the certificate's key. An encrypted one needs the CA
        // password: the server's, or one sent with the import (checked like at creation).
        let password = match (&pending.key, password) {
            (CaKey::EncryptedPem(_), Some(given)) => {
                Some(self.choose_password(ctx, action, Some(given)).await?)
            }
            (CaKey::EncryptedPem(_), None) if self.password().is_none() => {
                return Err(AuthorityError::malformed(
                    "the pending key is encrypted with the CA password and this server has none: \
                     send 'password' (--password / VCC_CA_PASSWORD)",
                ))
            }
            _ => self.password(),
        };
        let (key, der) = (pending.key.clone(), intermediate_der.clone());
        let for_open = password.clone();
        tokio::task::spawn_blocking(move || -> AuthorityResult<()> {
            let signer = crate::ca_key::open(&key, for_open.as_ref(), "intermediate")?
                .ok_or(AuthorityError::Sealed)?;
            IssuingAuthority::new(der, signer)?;
            Ok(())
        })
        .await
        .map_err(|e| AuthorityError::internal(format!("key task failed: {e}")))??;
        let record = ca_record(&intermediate_der, &facts, pending.key);
        let fingerprint = record.fingerprint_sha256.clone();
        let audit = ctx
            .audit(action, "ca")
            .target(facts.serial.to_hex())
            .details(serde_json::json!({
                "subject": record.subject, "fingerprint_sha256": fingerprint,
                "root_imported": new_root.is_some(),
            }));
        self.store
            .import_intermediate(new_root.as_ref(), &record, pending.id, &audit)
            .await?;
        if let Some(password) = password {
            if let Ok(mut keys) = self.keys.write() {
                keys.password.get_or_insert(password);
            }
        }
        self.reload_ca(false).await?;
        self.ca_changed().await;
        Ok(CaCreated {
            level: "intermediate",
            common_name: record.common_name,
            subject: record.subject,
            serial_number: record.serial_number,
            key_type: record.key_type,
            certificate_pem: certificate_pem(&intermediate_der),
            fingerprint_sha256: fingerprint,
            not_before: record.not_before,
            not_after: record.not_after,
        })
    }
}

fn ca_record(der: &[u8], facts: &CaCertificateFacts, key: CaKey) -> NewCa {
    NewCa {
        common_name: facts.subject.common_name.clone(),
        subject: subject_string(&facts.subject),
        serial_number: facts.serial.clone(),
        key_type: facts.key_type,
        certificate_der: der.to_vec(),
        key,
        fingerprint_sha256: fingerprint_sha256(der),
        not_before: facts.not_before,
        not_after: facts.not_after,
    }
}
