//! Files under `<storage_dir>/<service_id>/`, as the seed's Python client kept them: `cert.pem`,
//! `key.pem` (0600), `ca_chain.pem`. Every write goes to a temporary file that is fsynced and renamed,
//! and the key is written before the certificate, so a reader never sees a certificate whose key is missing.
use crate::error::Result;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

/// A certificate with its key and chain, as PEM.
#[derive(Clone)]
pub struct StoredIdentity {
    pub certificate_pem: String,
    pub key_pem: zeroize::Zeroizing<String>,
    pub ca_chain_pem: String,
}

impl Storage {
    pub fn new(storage_dir: &Path, service_id: &str) -> Self {
        Self {
            dir: storage_dir.join(service_id),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("cert.pem")
    }
    pub fn key_path(&self) -> PathBuf {
        self.dir.join("key.pem")
    }
    pub fn ca_chain_path(&self) -> PathBuf {
        self.dir.join("ca_chain.pem")
    }

    pub fn load(&self) -> Option<StoredIdentity> {
        Some(StoredIdentity {
            certificate_pem: std::fs::read_to_string(self.cert_path()).ok()?,
            key_pem: zeroize::Zeroizing::new(std::fs::read_to_string(self.key_path()).ok()?),
            ca_chain_pem: std::fs::read_to_string(self.ca_chain_path()).ok()?,
        })
    }

    pub fn save(&self, identity: &StoredIdentity) -> Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        write_atomic(&self.key_path(), identity.key_pem.as_bytes(), 0o600)?;
        write_atomic(
            &self.ca_chain_path(),
            identity.ca_chain_pem.as_bytes(),
            0o644,
        )?;
        write_atomic(
            &self.cert_path(),
            identity.certificate_pem.as_bytes(),
            0o644,
        )?;
        Ok(())
    }
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
