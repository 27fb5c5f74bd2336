//! The admin commands of SPEC §3, each a thin layer over the REST API.
pub mod acme;
#[cfg(feature = "bench")]
pub mod bench;
pub mod bootstrap;
pub mod ca;
pub mod ceremony;
pub mod cert;
pub mod config_example;
pub mod crl;
pub mod db;
pub mod quickstart;
pub mod service;
pub mod system;

use anyhow::bail;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// Ask before a destructive action. `--yes` skips the question; without a terminal and without
/// `--yes` the command refuses and changes nothing.
pub fn confirm(yes: bool, question: &str) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!(
            "{question} — refusing without confirmation: no terminal to ask on; re-run with --yes"
        );
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        bail!("cancelled; nothing changed")
    }
}

/// Write a file atomically with the given mode (keys 0600, certificates 0644).
pub fn write_file(path: &Path, content: &str, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
