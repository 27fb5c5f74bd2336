//! The offline root ceremony (SPEC §12): `vcc-pki ceremony root|sign|crl --config FILE` on a
//! machine with no server and no network. The root key lives only there (an encrypted file, or
//! a PKCS#11 token); what leaves is the root certificate, signed intermediate certificates and
//! the root's CRLs. Every step appends a line to the ceremony record, for the witnesses.
use crate::ca_key::{self, KeyLocation};
use crate::ca_setup::{requested_subject as subject, MIN_CA_PASSWORD_LEN};
use crate::files::{write_public, write_secret};
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;
use vcc_pki_core::profile::{CaProfile, Validity};
use vcc_pki_core::signer::{self_signed_root, SignerHandle};
use vcc_pki_core::{
    certificate_pem, fingerprint_sha256, CaSubject, IssuingAuthority, KeyType, RevocationReason,
    RevokedEntry, Serial,
};
use vcc_pki_store::CaKey;
use zeroize::Zeroizing;

/// Why a ceremony step stopped. Nothing is written when a step fails.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    #[error("{0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Core(#[from] vcc_pki_core::CoreError),
    #[error("{0}")]
    Key(String),
}

type Result<T> = std::result::Result<T, CeremonyError>;

/// The ceremony's configuration file (TOML). Paths are relative to the file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CeremonyConfig {
    pub root: RootSection,
    pub intermediate: Option<IntermediateSection>,
    pub crl: Option<CrlSection>,
    /// Where each step appends a JSON line of what it did [default: ceremony-record.jsonl].
    pub record: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootSection {
    pub common_name: String,
    pub country: Option<String>,
    pub organization: Option<String>,
    /// [default: rsa-4096]
    pub key_type: Option<String>,
    /// [default: 10; at most CaProfile::Root.max_years()]
    pub validity_years: Option<u32>,
    /// The root certificate (PEM), written by `ceremony root`.
    pub certificate: PathBuf,
    /// The root key as encrypted PKCS#8 (PEM, 0600), opened with the CA password; or:
    pub key: Option<PathBuf>,
    /// the root key inside a PKCS#11 token (RFC 7512 URI with a pin-source).
    pub key_uri: Option<String>,
    /// A file holding the CA password [default: VCC_CA_PASSWORD / --password].
    pub password_file: Option<PathBuf>,
}

/// What `ceremony sign` writes into an issuing CA certificate. The CSR contributes only its key
/// (and must name the same common name, so the witnesses sign what they read).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntermediateSection {
    pub common_name: String,
    pub country: Option<String>,
    pub organization: Option<String>,
    /// [default: 5]
    pub validity_years: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrlSection {
    /// The root's CRL (DER), written by `ceremony crl`; its number is the previous one + 1.
    pub file: PathBuf,
    /// [default: 365]
    pub next_update_days: Option<u32>,
    #[serde(default)]
    pub revoked: Vec<RevokedIntermediate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedIntermediate {
    /// Serial number of the intermediate (hex).
    pub serial: String,
    pub reason: String,
    /// RFC 3339.
    pub revoked_at: String,
}

/// A loaded configuration with its base directory and the CA password, if one is known.
pub struct Ceremony {
    config: CeremonyConfig,
    base: PathBuf,
    password: Option<Zeroizing<String>>,
}

/// What a step produced, for the operator to read out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CeremonyOutcome {
    pub step: &'static str,
    pub subject: String,
    pub serial_number: String,
    pub fingerprint_sha256: String,
    pub written: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_number: Option<u64>,
}

impl Ceremony {
    /// A parsed configuration; `base`: the directory its relative paths start from; `password`:
    /// --password / VCC_CA_PASSWORD (the config's password_file wins when set).
    pub fn new(
        config: CeremonyConfig,
        base: PathBuf,
        password: Option<Zeroizing<String>>,
    ) -> Result<Self> {
        let mut ceremony = Self {
            config,
            base,
            password,
        };
        if let Some(file) = ceremony.config.root.password_file.clone() {
            let path = ceremony.path(&file);
            let text = Zeroizing::new(
                std::fs::read_to_string(&path)
                    .map_err(|source| CeremonyError::Io { path, source })?,
            );
            ceremony.password = Some(Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_string(),
            ));
        }
        match (&ceremony.config.root.key, &ceremony.config.root.key_uri) {
            (Some(_), Some(_)) => {
                return Err(CeremonyError::Config(
                    "[root]: give key or key_uri, not both".into(),
                ))
            }
            (None, None) => {
                return Err(CeremonyError::Config(
                    "[root]: key (an encrypted file) or key_uri (a PKCS#11 token) is required"
                        .into(),
                ))
            }
            _ => {}
        }
        Ok(ceremony)
    }

    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn password(&self) -> Result<&Zeroizing<String>> {
        let p = self.password.as_ref().ok_or_else(|| {
            CeremonyError::Config(
                "the root key file needs the CA password: [root] password_file, or VCC_CA_PASSWORD"
                    .into(),
            )
        })?;
        if p.chars().count() < MIN_CA_PASSWORD_LEN {
            return Err(CeremonyError::Config(format!(
                "the CA password must have at least {MIN_CA_PASSWORD_LEN} characters"
            )));
        }
        Ok(p)
    }

    fn root_subject(&self) -> CaSubject {
        let r = &self.config.root;
        subject(
            &r.common_name,
            r.country.as_deref(),
            r.organization.as_deref(),
        )
    }

    /// `ceremony root`: make the root key and its self-signed certificate. Refuses to overwrite.
    pub fn make_root(&self, now: OffsetDateTime) -> Result<CeremonyOutcome> {
        let r = &self.config.root;
        let cert_path = self.path(&r.certificate);
        let key_path = r.key.as_ref().map(|k| self.path(k));
        for p in std::iter::once(&cert_path).chain(key_path.as_ref()) {
            if p.exists() {
                return Err(CeremonyError::Refused(format!(
                    "{} exists: a ceremony never overwrites a root",
                    p.display()
                )));
            }
        }
        let subject = self.root_subject();
        subject.validate()?;
        let key_type = match &r.key_type {
            Some(k) => KeyType::parse(k)?,
            None => CaProfile::Root.default_key(),
        };
        let years = r.validity_years.unwrap_or(CaProfile::Root.default_years());
        if years == 0 || years > CaProfile::Root.max_years() {
            return Err(CeremonyError::Config(format!(
                "[root] validity_years must be between 1 and {}",
                CaProfile::Root.max_years()
            )));
        }
        let location = KeyLocation::parse(r.key_uri.as_deref())
            .map_err(|e| CeremonyError::Config(e.to_string()))?;
        let password = match location {
            KeyLocation::Store => Some(self.password()?),
            KeyLocation::Pkcs11(_) => None,
        };
        let (signer, stored) = ca_key::generate(&location, key_type, password)
            .map_err(|e| CeremonyError::Key(e.to_string()))?;
        let serial = Serial::random();
        let (der, _) = self_signed_root(
            &subject,
            &SignerHandle(signer.clone()),
            &serial,
            Validity::ca(now, years),
        )?;
        IssuingAuthority::new(der.clone(), signer)?;
        let mut written = Vec::new();
        if let (Some(path), CaKey::EncryptedPem(pem)) = (&key_path, &stored) {
            write_secret(path, pem.as_bytes()).map_err(|source| io(path, source))?;
            written.push(path.clone());
        }
        write_public(&cert_path, certificate_pem(&der).as_bytes())
            .map_err(|source| io(&cert_path, source))?;
        written.push(cert_path);
        let outcome = CeremonyOutcome {
            step: "root",
            subject: crate::ca_setup::subject_string(&subject),
            serial_number: serial.to_hex(),
            fingerprint_sha256: fingerprint_sha256(&der),
            written,
            crl_number: None,
        };
        let key_storage = match (&stored, &key_path) {
            (CaKey::EncryptedPem(_), Some(path)) => {
                format!("encrypted PKCS#8 file {}", path.display())
            }
            _ => stored.describe(),
        };
        self.record(
            &outcome,
            now,
            serde_json::json!({"key_type": key_type.as_str(), "key_storage": key_storage}),
        )?;
        Ok(outcome)
    }

    /// The root certificate and its unlocked key.
    fn root(&self) -> Result<IssuingAuthority> {
        let r = &self.config.root;
        let cert_path = self.path(&r.certificate);
        let pem = std::fs::read_to_string(&cert_path).map_err(|source| io(&cert_path, source))?;
        let der = vcc_pki_core::pem_decode_all(&pem, "CERTIFICATE")?
            .into_iter()
            .next()
            .ok_or_else(|| {
                CeremonyError::Config(format!("{}: no certificate", cert_path.display()))
            })?;
        let (key, password) = match (&r.key, &r.key_uri) {
            (Some(file), _) => {
                let path = self.path(file);
                let pem = std::fs::read_to_string(&path).map_err(|source| io(&path, source))?;
                (CaKey::EncryptedPem(pem), Some(self.password()?))
            }
            (None, Some(uri)) => (CaKey::Pkcs11Uri(uri.clone()), None),
            (None, None) => return Err(CeremonyError::Config("[root]: no key".into())),
        };
        let signer = ca_key::open(&key, password, "root")
            .map_err(|e| CeremonyError::Key(e.to_string()))?
            .ok_or_else(|| CeremonyError::Key("the root key did not open".into()))?;
        Ok(IssuingAuthority::new(der, signer)?)
    }

    /// `ceremony sign`: sign an issuing CA's CSR with the root. Writes the intermediate followed
    /// by the root to `out` (what `ca import-intermediate --cert` takes).
    pub fn sign(&self, csr_pem: &str, out: &Path, now: OffsetDateTime) -> Result<CeremonyOutcome> {
        let section = self.config.intermediate.as_ref().ok_or_else(|| {
            CeremonyError::Config(
                "[intermediate] is required to sign: it says what the certificate holds".into(),
            )
        })?;
        if out.exists() {
            return Err(CeremonyError::Refused(format!("{} exists", out.display())));
        }
        let csr = vcc_pki_core::csr::verify_csr_pem(csr_pem)?;
        let subject = subject(
            &section.common_name,
            section.country.as_deref(),
            section.organization.as_deref(),
        );
        subject.validate()?;
        if csr.common_name.as_deref() != Some(subject.common_name.as_str()) {
            return Err(CeremonyError::Refused(format!(
                "the CSR asks for CN={} but [intermediate] says CN={}: check what you are signing",
                csr.common_name.as_deref().unwrap_or("(none)"),
                subject.common_name
            )));
        }
        let years = section
            .validity_years
            .unwrap_or(CaProfile::Intermediate.default_years());
        if years == 0 || years > CaProfile::Intermediate.max_years() {
            return Err(CeremonyError::Config(format!(
                "[intermediate] validity_years must be between 1 and {}",
                CaProfile::Intermediate.max_years()
            )));
        }
        let root = self.root()?;
        let key = rcgen::SubjectPublicKeyInfo::from_der(&csr.subject_public_key_info)
            .map_err(|e| CeremonyError::Refused(format!("CSR public key: {e}")))?;
        let serial = Serial::random();
        let (der, _) =
            root.issue_intermediate(&subject, &key, &serial, Validity::ca(now, years))?;
        let chain = format!(
            "{}{}",
            certificate_pem(&der),
            certificate_pem(root.certificate_der())
        );
        write_public(out, chain.as_bytes()).map_err(|source| io(out, source))?;
        let outcome = CeremonyOutcome {
            step: "sign",
            subject: crate::ca_setup::subject_string(&subject),
            serial_number: serial.to_hex(),
            fingerprint_sha256: fingerprint_sha256(&der),
            written: vec![out.to_path_buf()],
            crl_number: None,
        };
        self.record(
            &outcome,
            now,
            serde_json::json!({
                "key_type": csr.key_type.as_str(),
                "public_key_sha256": fingerprint_sha256(&csr.subject_public_key_info),
            }),
        )?;
        Ok(outcome)
    }

    /// `ceremony crl`: the root's CRL listing `[crl] revoked`, numbered one past the last one.
    pub fn crl(&self, now: OffsetDateTime) -> Result<CeremonyOutcome> {
        let section = self.config.crl.as_ref().ok_or_else(|| {
            CeremonyError::Config(
                "[crl] is required: where the root's CRL goes and what it lists".into(),
            )
        })?;
        let path = self.path(&section.file);
        let previous = match std::fs::read(&path) {
            Ok(der) => Some(crl_number_of(&der).ok_or_else(|| {
                CeremonyError::Config(format!("{}: not a CRL with a number", path.display()))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(io(&path, source)),
        };
        let number = previous.map_or(1, |n| n + 1);
        let mut entries = Vec::new();
        for r in &section.revoked {
            let serial = Serial::from_hex(&r.serial).ok_or_else(|| {
                CeremonyError::Config(format!("[crl] revoked serial '{}' is not hex", r.serial))
            })?;
            let revoked_at = OffsetDateTime::parse(
                &r.revoked_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| {
                CeremonyError::Config(format!("[crl] revoked_at '{}': {e}", r.revoked_at))
            })?;
            let reason = RevocationReason::parse(&r.reason)?;
            // The root revokes for good: a hold would need a later CRL to take it back.
            if matches!(
                reason,
                RevocationReason::CertificateHold | RevocationReason::RemoveFromCrl
            ) {
                return Err(CeremonyError::Config(format!(
                    "[crl] revoked '{}': {} is not a reason a root revokes an issuing CA for",
                    r.serial, r.reason
                )));
            }
            entries.push(RevokedEntry {
                serial,
                revoked_at,
                reason,
            });
        }
        let days = section.next_update_days.unwrap_or(365);
        if days == 0 || days > 3650 {
            return Err(CeremonyError::Config(
                "[crl] next_update_days must be between 1 and 3650".into(),
            ));
        }
        let root = self.root()?;
        let listed = entries.len();
        let der = root.issue_crl(
            number,
            now,
            now + time::Duration::days(i64::from(days)),
            entries,
            None,
        )?;
        write_public(&path, &der).map_err(|source| io(&path, source))?;
        let subject = root.subject()?;
        let outcome = CeremonyOutcome {
            step: "crl",
            subject: crate::ca_setup::subject_string(&subject),
            serial_number: String::new(),
            fingerprint_sha256: fingerprint_sha256(&der),
            written: vec![path],
            crl_number: Some(number),
        };
        self.record(
            &outcome,
            now,
            serde_json::json!({"revoked": listed, "next_update_days": days}),
        )?;
        Ok(outcome)
    }

    /// Append one JSON line to the ceremony record.
    fn record(
        &self,
        outcome: &CeremonyOutcome,
        now: OffsetDateTime,
        extra: serde_json::Value,
    ) -> Result<()> {
        let path = self.path(
            self.config
                .record
                .as_deref()
                .unwrap_or(Path::new("ceremony-record.jsonl")),
        );
        let line = serde_json::json!({
            "time": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "outcome": outcome,
            "details": extra,
        });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| io(&path, source))?;
        writeln!(f, "{line}")
            .and_then(|_| f.sync_all())
            .map_err(|source| io(&path, source))
    }
}

fn crl_number_of(der: &[u8]) -> Option<u64> {
    let (_, crl) = x509_parser::parse_x509_crl(der).ok()?;
    match crl.crl_number()?.to_u64_digits().as_slice() {
        [] => Some(0),
        [n] => Some(*n),
        _ => None,
    }
}

fn io(path: &Path, source: std::io::Error) -> CeremonyError {
    CeremonyError::Io {
        path: path.to_path_buf(),
        source,
    }
}
