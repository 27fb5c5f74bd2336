//! `vcc-pki bootstrap`: trust a remote server by the SHA-256 fingerprint of its root CA, the way
//! `step ca bootstrap` does, and remember it for later commands.
use super::write_file;
use crate::api_client::config_dir;
use crate::GlobalArgs;
use anyhow::{bail, Context};
use serde_json::json;

#[derive(clap::Args)]
pub struct BootstrapArgs {
    /// SHA-256 fingerprint of the root CA certificate (hex, colons allowed), from `vcc-pki ca info` on the server.
    #[arg(long)]
    fingerprint: String,
}

pub async fn run(args: BootstrapArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let server = g.server();
    let want: String = args
        .fingerprint
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    if want.len() != 64 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("--fingerprint must be a SHA-256 fingerprint: 64 hex digits");
    }
    // The root certificate is public; fetching it unverified is safe because we pin its hash.
    let http = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(true)
        .timeout(std::time::Duration::from_secs(15))
        .build()?;
    let url = format!("{}/ca/root.crt", server.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("cannot reach the VCC PKI server at {server}"))?;
    if !resp.status().is_success() {
        bail!(
            "{url} answered {}: does the server have a root CA yet?",
            resp.status()
        );
    }
    let der = resp.bytes().await?;
    let got = vcc_pki_core::fingerprint_sha256(&der);
    if got != want {
        bail!(
            "root CA fingerprint mismatch: the server sent {got}, expected {want}; not trusting it"
        );
    }
    let dir = config_dir().context("no HOME or XDG_CONFIG_HOME to store the trust anchor in")?;
    let ca = dir.join("ca.pem");
    write_file(&ca, &vcc_pki_core::certificate_pem(&der), 0o644)?;
    write_file(&dir.join("server"), &format!("{server}\n"), 0o644)?;
    if let Some(token) = &g.token {
        write_file(&dir.join("token"), &format!("{token}\n"), 0o600)?;
    }
    // Prove the pinned root now validates the server's TLS certificate.
    let client = crate::api_client::ApiClient::new(crate::api_client::Connection {
        server: server.clone(),
        token: None,
        ca_bundle: Some(ca.clone()),
        no_verify_ssl: false,
        data_dir: dir.join("no-local-data-dir"),
    })?;
    let health = client.get("/api/health").await?;
    if out.json() {
        out.print_json(&json!({"server": server, "ca_bundle": ca, "fingerprint_sha256": got, "health": health["status"]}));
    } else {
        out.success(&format!("trusting {server} (root CA {got})"));
        println!(
            "  saved {}; later commands use it without --server / --ca-bundle",
            ca.display()
        );
    }
    Ok(())
}
