//! `vcc-pki ceremony root|sign|crl --config FILE`: the offline root, run on a machine with no
//! server (SPEC §12, docs/CEREMONY.md). The steps themselves are in the authority crate.
use crate::GlobalArgs;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use vcc_pki_authority::ceremony::{Ceremony, CeremonyConfig, CeremonyOutcome};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub enum CeremonyCommand {
    /// Make the root key (an encrypted file or a PKCS#11 token) and its self-signed certificate.
    #[command(
        after_help = "Example:\n  VCC_CA_PASSWORD='…' vcc-pki ceremony root --config /media/ceremony/ceremony.toml"
    )]
    Root {
        #[arg(long)]
        config: PathBuf,
    },
    /// Sign an issuing CA's CSR (from `ca create-intermediate --csr-out`) with the root.
    #[command(
        after_help = "Example:\n  vcc-pki ceremony sign --config ceremony.toml --csr intermediate.csr --out intermediate-chain.pem"
    )]
    Sign {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        csr: PathBuf,
        /// Where the intermediate certificate followed by the root goes (for `ca import-intermediate`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign the root's CRL: the intermediates listed under [crl] revoked, numbered one past the last.
    #[command(after_help = "Example:\n  vcc-pki ceremony crl --config ceremony.toml")]
    Crl {
        #[arg(long)]
        config: PathBuf,
    },
}

fn load(path: &Path, g: &GlobalArgs) -> anyhow::Result<Ceremony> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: CeremonyConfig = toml::from_str(&text)
        .with_context(|| format!("{} is not a ceremony configuration", path.display()))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Ceremony::new(
        config,
        base,
        g.password.clone().map(Zeroizing::new),
    )?)
}

pub fn run(cmd: CeremonyCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let outcome = match cmd {
        CeremonyCommand::Root { config } => load(&config, g)?.make_root(now)?,
        CeremonyCommand::Sign { config, csr, out } => {
            let csr_pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("cannot read {}", csr.display()))?;
            load(&config, g)?.sign(&csr_pem, &out, now)?
        }
        CeremonyCommand::Crl { config } => load(&config, g)?.crl(now)?,
    };
    show(g, &outcome);
    Ok(())
}

fn show(g: &GlobalArgs, o: &CeremonyOutcome) {
    let out = g.output();
    if out.json() {
        out.print_json(&serde_json::to_value(o).unwrap_or_default());
        return;
    }
    out.success(match o.step {
        "root" => "Root CA made; keep its key offline",
        "sign" => "Issuing CA certificate signed",
        _ => "Root CRL signed",
    });
    let mut fields = vec![("Subject", o.subject.clone())];
    if !o.serial_number.is_empty() {
        fields.push(("Serial", o.serial_number.clone()));
    }
    if let Some(n) = o.crl_number {
        fields.push(("CRL number", n.to_string()));
    }
    fields.push(("SHA-256", o.fingerprint_sha256.clone()));
    fields.push((
        "Written",
        o.written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    ));
    out.fields(&fields);
}
