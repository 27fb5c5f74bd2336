//! `bench --softhsm`: a throwaway SoftHSM2 token for the spawned server's intermediate key, so
//! a token-backed CA can be measured with one command (Debian `softhsm2`).
use anyhow::{bail, Context};
use std::process::Command;

pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A token in a temp dir; SOFTHSM2_CONF points at it for this process and the server it spawns.
pub struct ThrowawayToken {
    _dir: tempfile::TempDir,
    pub uri: String,
}

impl ThrowawayToken {
    /// Call before any thread or server starts: it sets SOFTHSM2_CONF.
    pub fn create() -> anyhow::Result<Self> {
        if !std::path::Path::new(MODULE).is_file() {
            bail!("--softhsm needs SoftHSM2 ({MODULE}): apt-get install softhsm2");
        }
        let dir = tempfile::Builder::new()
            .prefix("vcc-pki-bench-softhsm-")
            .tempdir()
            .context("cannot create a temp dir for the token")?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens)?;
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )?;
        std::env::set_var("SOFTHSM2_CONF", &conf);
        let pin: String = {
            let mut b = [0u8; 8];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
            hex::encode(b)
        };
        let pin_file = dir.path().join("pin");
        vcc_pki_authority::files::write_secret(&pin_file, format!("{pin}\n").as_bytes())?;
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "vcc-bench",
                "--pin",
                &pin,
                "--so-pin",
                &pin,
            ])
            .output()
            .context("softhsm2-util (Debian softhsm2) is not installed")?;
        if !out.status.success() {
            bail!(
                "softhsm2-util --init-token: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let uri = format!(
            "pkcs11:token=vcc-bench;object=intermediate?module-path={MODULE}&pin-source=file:{}",
            pin_file.display()
        );
        Ok(Self { _dir: dir, uri })
    }
}
