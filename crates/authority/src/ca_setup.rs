//! Creating and unlocking the Root and Intermediate CA.
use super::Authority;
use crate::Requester;
use crate::{AuthorityError, AuthorityResult};
use time::OffsetDateTime;
use vcc_pki_core::profile::{CaProfile, Validity};
use vcc_pki_core::signer::{self_signed_root, SignerHandle};
use vcc_pki_core::{
    certificate_pem, fingerprint_sha256, CaSubject, IssuingAuthority, KeyType, Serial,
};
use vcc_pki_store::{CaKey, CaLevel, CaRecord, NewCa};
use zeroize::Zeroizing;

/// A new root or intermediate CA.
#[derive(Clone, Default)]
pub struct CaCreateRequest {
    pub common_name: String,
    pub country: Option<String>,
    pub organization: Option<String>,
    pub key_type: Option<String>,
    pub validity_years: Option<u32>,
    /// Encrypts the CA key; else the server's configured CA password.
    pub password: Option<Zeroizing<String>>,
    /// Make the key inside this PKCS#11 token (RFC 7512 URI) instead of in the store.
    pub key_uri: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CaCreated {
    pub level: &'static str,
    pub common_name: String,
    pub subject: String,
    pub serial_number: Serial,
    pub key_type: KeyType,
    pub certificate_pem: String,
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct CaSummary {
    pub common_name: String,
    pub subject: String,
    pub serial_number: Serial,
    pub key_type: KeyType,
    pub fingerprint_sha256: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub days_until_expiry: i64,
    pub certificate_pem: String,
    /// "store" (encrypted here), "pkcs11" (in a token) or "offline" (kept by a ceremony).
    pub key_storage: &'static str,
    /// The token key's URI when the key is in a PKCS#11 token.
    pub key_uri: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CaInfo {
    pub root: Option<CaSummary>,
    pub intermediate: Option<CaSummary>,
    pub sealed: bool,
    /// Why the keys could not be opened at the last load (a token missing, a PIN refused).
    pub sealed_reason: Option<String>,
    /// "complete" when the intermediate verifies under the root, "no-root", "no-intermediate" or "broken".
    pub chain_status: &'static str,
}

pub const MIN_CA_PASSWORD_LEN: usize = 8;

pub(crate) fn summary(r: &CaRecord, now: OffsetDateTime) -> CaSummary {
    CaSummary {
        common_name: r.common_name.clone(),
        subject: r.subject.clone(),
        serial_number: r.serial_number.clone(),
        key_type: r.key_type,
        fingerprint_sha256: r.fingerprint_sha256.clone(),
        not_before: r.not_before,
        not_after: r.not_after,
        days_until_expiry: (r.not_after - now).whole_days(),
        certificate_pem: certificate_pem(&r.certificate_der),
        key_storage: match &r.key {
            CaKey::EncryptedPem(_) => "store",
            CaKey::Pkcs11Uri(_) => "pkcs11",
            CaKey::Offline => "offline",
        },
        key_uri: match &r.key {
            CaKey::Pkcs11Uri(uri) => Some(uri.clone()),
            _ => None,
        },
    }
}

/// A CA subject as an operator asked for it (REST or ceremony file): trimmed, the country upper
/// case, empty parts left out. The one normalisation of CA subjects.
pub(crate) fn requested_subject(
    common_name: &str,
    country: Option<&str>,
    organization: Option<&str>,
) -> CaSubject {
    CaSubject {
        common_name: common_name.trim().to_string(),
        country: country
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty()),
        organization: organization
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty()),
    }
}

pub(crate) fn subject_string(s: &CaSubject) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &s.country {
        parts.push(format!("C={c}"));
    }
    if let Some(o) = &s.organization {
        parts.push(format!("O={o}"));
    }
    parts.push(format!("CN={}", s.common_name));
    parts.join(", ")
}

impl Authority {
    pub(crate) async fn choose_password(
        &self,
        ctx: &Requester,
        action: &str,
        body: Option<Zeroizing<String>>,
    ) -> AuthorityResult<Zeroizing<String>> {
        let password = body.or_else(|| self.password()).ok_or_else(|| {
            AuthorityError::malformed(
                "no CA password: send 'password' or start the server with VCC_CA_PASSWORD",
            )
        })?;
        if password.chars().count() < MIN_CA_PASSWORD_LEN {
            return Err(AuthorityError::malformed(format!(
                "the CA password must have at least {MIN_CA_PASSWORD_LEN} characters"
            )));
        }
        if let Some(known) = self.password() {
            // One password for all CA keys: a different one would leave a CA the server cannot
            // unlock at its next start. Compared in constant time, a few wrong ones a minute.
            self.password_guard.check_allowed()?;
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(known.as_bytes(), password.as_bytes()).into();
            if !same {
                self.password_guard.failed();
                let refusal = AuthorityError::malformed(
                    "all CA keys use the server's one CA password; this one differs",
                );
                return Err(ctx.deny(&self.store, action, None, refusal).await);
            }
        }
        Ok(password)
    }

    pub async fn create_ca(
        &self,
        ctx: &Requester,
        level: CaLevel,
        req: CaCreateRequest,
    ) -> AuthorityResult<CaCreated> {
        let action = match level {
            CaLevel::Root => "ca.create_root",
            CaLevel::Intermediate => "ca.create_intermediate",
        };
        ctx.require_admin(&self.store, action, None).await?;
        let subject = requested_subject(
            &req.common_name,
            req.country.as_deref(),
            req.organization.as_deref(),
        );
        subject.validate()?;
        let profile = match level {
            CaLevel::Root => CaProfile::Root,
            CaLevel::Intermediate => CaProfile::Intermediate,
        };
        let (default_key, default_years, max_years) = (
            profile.default_key(),
            profile.default_years(),
            profile.max_years(),
        );
        let key_type = req
            .key_type
            .as_deref()
            .map(KeyType::parse)
            .transpose()?
            .unwrap_or(default_key);
        let years = req.validity_years.unwrap_or(default_years);
        if years == 0 || years > max_years {
            return Err(AuthorityError::malformed(format!(
                "validity_years must be between 1 and {max_years}"
            )));
        }
        // Existence first: asking to create a CA that exists tells nothing about the password.
        let exists = match level {
            CaLevel::Root => self.root_pem().is_some(),
            CaLevel::Intermediate => self.intermediate_pem().is_some(),
        };
        if exists {
            return Err(AuthorityError::conflict(match level {
                CaLevel::Root => "a root CA already exists",
                CaLevel::Intermediate => "an intermediate CA already exists",
            }));
        }
        let location = crate::ca_key::KeyLocation::parse(req.key_uri.as_deref())?;
        // A key in a token is guarded by the token's PIN, not the CA password.
        let password = if location.needs_password() || req.password.is_some() {
            Some(self.choose_password(ctx, action, req.password).await?)
        } else {
            None
        };
        let root = match level {
            CaLevel::Root => {
                if self.root_pem().is_some() {
                    return Err(AuthorityError::conflict("a root CA already exists"));
                }
                None
            }
            CaLevel::Intermediate => {
                if self.intermediate_pem().is_some() {
                    return Err(AuthorityError::conflict(
                        "an intermediate CA already exists",
                    ));
                }
                let keys = self
                    .keys
                    .read()
                    .map_err(|_| AuthorityError::internal("lock poisoned"))?;
                match (&keys.root, &keys.root_pem) {
                    (Some(r), _) => Some(r.clone()),
                    (None, Some(_)) if keys.root_offline => {
                        return Err(AuthorityError::conflict(
                            "the root CA is offline: make a CSR with `vcc-pki ca create-intermediate --csr-out FILE`, \
                             sign it with `vcc-pki ceremony sign`, then `vcc-pki ca import-intermediate --cert FILE`",
                        ))
                    }
                    (None, Some(_)) => return Err(AuthorityError::Sealed),
                    (None, None) => {
                        return Err(AuthorityError::conflict(
                            "create the root CA first (POST /api/ca/root)",
                        ))
                    }
                }
            }
        };

        let serial = Serial::random();
        let now = self.now();
        let validity = vcc_pki_core::profile::Validity::ca(now, years);
        let pw = password.clone();
        let subject_for_sign = subject.clone();
        let serial_for_sign = serial.clone();
        let key_location = location.clone();
        let (der, validity, stored_key) =
            tokio::task::spawn_blocking(move || -> AuthorityResult<(Vec<u8>, Validity, CaKey)> {
                let (signer, stored_key) =
                    crate::ca_key::generate(&key_location, key_type, pw.as_ref())?;
                let key = SignerHandle(signer.clone());
                let (der, validity) = match &root {
                    None => self_signed_root(&subject_for_sign, &key, &serial_for_sign, validity)?,
                    Some(root) => root.issue_intermediate(
                        &subject_for_sign,
                        &key,
                        &serial_for_sign,
                        validity,
                    )?,
                };
                // Proves the key and certificate pair before anything is stored.
                IssuingAuthority::new(der.clone(), signer)?;
                Ok((der, validity, stored_key))
            })
            .await
            .map_err(|e| AuthorityError::internal(format!("signing task failed: {e}")))??;

        let fingerprint = fingerprint_sha256(&der);
        let record = NewCa {
            common_name: subject.common_name.clone(),
            subject: subject_string(&subject),
            serial_number: serial.clone(),
            key_type,
            certificate_der: der.clone(),
            key: stored_key,
            fingerprint_sha256: fingerprint.clone(),
            not_before: validity.not_before,
            not_after: validity.not_after,
        };
        let audit = ctx
            .audit(action, "ca")
            .target(serial.to_hex())
            .details(serde_json::json!({"subject": record.subject, "key_type": key_type.as_str(), "fingerprint_sha256": fingerprint, "key_storage": record.key.describe()}));
        self.store.insert_ca(level, &record, &audit).await?;
        // Keep the password in memory so the new CA is usable at once.
        if let Some(password) = password {
            if let Ok(mut keys) = self.keys.write() {
                keys.password = Some(password);
            }
        }
        self.reload_ca(false)
            .await
            .map_err(|e| AuthorityError::internal(e.to_string()))?;
        if level == CaLevel::Intermediate {
            self.ca_changed().await;
        }
        Ok(CaCreated {
            level: match level {
                CaLevel::Root => "root",
                CaLevel::Intermediate => "intermediate",
            },
            common_name: record.common_name,
            subject: record.subject,
            serial_number: record.serial_number,
            key_type: record.key_type,
            certificate_pem: certificate_pem(&der),
            fingerprint_sha256: fingerprint,
            not_before: validity.not_before,
            not_after: validity.not_after,
        })
    }

    /// Unlock a sealed CA with its password.
    pub async fn unlock(
        &self,
        ctx: &Requester,
        password: Zeroizing<String>,
    ) -> AuthorityResult<()> {
        ctx.require_admin(&self.store, "ca.unlock", None).await?;
        if !self.is_sealed() {
            return Err(AuthorityError::conflict("the CA is not sealed"));
        }
        self.password_guard.check_allowed()?;
        let previous = self.password();
        if let Ok(mut keys) = self.keys.write() {
            keys.password = Some(password);
        }
        if let Err(e) = self.reload_ca(false).await {
            if let Ok(mut keys) = self.keys.write() {
                keys.password = previous;
            }
            let _ = self.reload_ca(true).await;
            self.password_guard.failed();
            let err = AuthorityError::forbidden(format!("unlock failed: {e}"));
            return Err(ctx.deny(&self.store, "ca.unlock", None, err).await);
        }
        self.store.audit(ctx.audit("ca.unlock", "ca")).await?;
        self.ca_changed().await;
        Ok(())
    }

    pub async fn info(&self) -> AuthorityResult<CaInfo> {
        let root = self.store.active_ca(CaLevel::Root).await?;
        let intermediate = self.store.active_ca(CaLevel::Intermediate).await?;
        let chain_status = match (&root, &intermediate) {
            (None, _) => "no-root",
            (Some(_), None) => "no-intermediate",
            (Some(r), Some(i)) => {
                let ok = (|| {
                    let (_, root) = x509_parser::parse_x509_certificate(&r.certificate_der).ok()?;
                    let (_, inter) =
                        x509_parser::parse_x509_certificate(&i.certificate_der).ok()?;
                    inter.verify_signature(Some(root.public_key())).ok()
                })();
                if ok.is_some() {
                    "complete"
                } else {
                    "broken"
                }
            }
        };
        Ok(CaInfo {
            root: root.as_ref().map(|r| summary(r, self.now())),
            intermediate: intermediate.as_ref().map(|r| summary(r, self.now())),
            sealed: self.is_sealed(),
            sealed_reason: self.sealed_reason(),
            chain_status,
        })
    }
}

impl Authority {
    /// The active CA records with their encrypted keys, for `ca export` (the seed's
    /// `ca_storage/` layout). Admin only, audited; the keys stay encrypted.
    pub async fn export_ca(
        &self,
        ctx: &Requester,
    ) -> AuthorityResult<(CaRecord, Option<CaRecord>)> {
        ctx.require_admin(&self.store, "ca.export", None).await?;
        let root = self
            .store
            .active_ca(CaLevel::Root)
            .await?
            .ok_or_else(|| AuthorityError::not_found("no root CA exists yet"))?;
        let intermediate = self.store.active_ca(CaLevel::Intermediate).await?;
        self.store.audit(ctx.audit("ca.export", "ca")).await?;
        Ok((root, intermediate))
    }
}
