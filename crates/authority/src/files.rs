//! Files in the data dir: the dir 0700, secrets 0600, written atomically (write, fsync, rename).
use std::io::Write;
use std::path::Path;

#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    // `server.key` and `server.pem` must not share a temporary file: append, do not replace, the extension.
    let mut tmp_name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(mode);
    let written = (|| {
        let mut f = options.open(&tmp)?;
        #[cfg(unix)]
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // A full volume: leave the old file and no half-written temporary behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A secret (token, key): mode 0600.
pub fn write_secret(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic(path, data, 0o600)
}

/// Public data (CA certificates): mode 0644.
pub fn write_public(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic(path, data, 0o644)
}

/// Make a SQLite database and its WAL/SHM side files owner-only (they hold certificates and hashes).
pub fn restrict_sqlite_files(database_url: &str) {
    let Some(path) = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
    else {
        return;
    };
    let path = path.split('?').next().unwrap_or(path);
    for suffix in ["", "-wal", "-shm"] {
        let p = format!("{path}{suffix}");
        #[cfg(unix)]
        if std::path::Path::new(&p).exists() {
            if let Err(e) = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(error = %e, path = %p, "could not restrict database file permissions");
            }
        }
    }
}

/// The lock file a running server holds in its data dir.
pub const DATA_DIR_LOCK: &str = "serve.lock";

/// An exclusive lock on a data dir, held while a server runs on it or a restore writes into it;
/// released when dropped (or when the process dies: the kernel drops the lock with the file).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Why a data dir could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum DataDirLockError {
    #[error("data dir {dir} is in use by a running vcc-pki (pid {pid})")]
    InUse { dir: String, pid: String },
    #[error("cannot lock data dir {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// Take the data dir's lock without waiting, and write this process's id into it.
pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, DataDirLockError> {
    let path = dir.join(DATA_DIR_LOCK);
    let io = |source| DataDirLockError::Io {
        dir: dir.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&path).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            return Err(DataDirLockError::InUse {
                dir: dir.display().to_string(),
                pid: pid.trim().to_string(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    file.set_len(0).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(DataDirLock { _file: file })
}
