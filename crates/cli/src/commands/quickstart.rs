//! `vcc-pki quickstart`: a server with a ready Root and Intermediate CA in one command, for trying
//! VCC PKI. The generated CA password is written next to the data (0600) — fine for a demo, not
//! for production, and it says so.
use super::write_file;
use crate::GlobalArgs;
use anyhow::Context;
use rand::RngCore;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct QuickstartArgs {
    /// Port to serve on.
    #[arg(long, default_value_t = 8443)]
    port: u16,
}

pub fn run(args: QuickstartArgs, g: &GlobalArgs) -> anyhow::Result<()> {
    let data_dir: PathBuf = g.data_dir.clone();
    let password_file = data_dir.join("ca-password.txt");
    let password = match std::fs::read_to_string(&password_file) {
        Ok(p) => p.trim().to_string(),
        Err(_) => {
            let mut bytes = [0u8; 24];
            rand::rng().fill_bytes(&mut bytes);
            let p = hex::encode(bytes);
            vcc_pki_server::files::ensure_private_dir(&data_dir)?;
            write_file(&password_file, &format!("{p}\n"), 0o600)?;
            p
        }
    };
    let mut config = vcc_pki_server::config::ServeConfig::new(data_dir.clone());
    config.port = args.port;
    config.ca_password = Some(zeroize::Zeroizing::new(password.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let server = tokio::spawn(vcc_pki_server::run(config));
        let local = GlobalArgs { server: Some(format!("https://localhost:{}", args.port)), token: None, ..g.clone() };
        // Wait for the listener.
        let mut up = false;
        for _ in 0..100 {
            if server.is_finished() {
                break;
            }
            if let Ok(client) = local.client() {
                if client.get("/api/health").await.is_ok() {
                    up = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !up {
            return match server.await {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow::anyhow!("the server did not come up on port {}", args.port)),
            };
        }
        let client = local.client()?;
        let info = client.get("/api/ca/info").await?;
        if info["root"].is_null() {
            client
                .post("/api/ca/root", json!({"common_name": "VCC PKI Quickstart Root CA", "organization": "VCC PKI Quickstart", "key_type": "ecdsa-p384"}))
                .await
                .context("creating the root CA")?;
        }
        if info["intermediate"].is_null() {
            client
                .post("/api/ca/intermediate", json!({"common_name": "VCC PKI Quickstart Intermediate CA", "organization": "VCC PKI Quickstart", "key_type": "ecdsa-p256"}))
                .await
                .context("creating the intermediate CA")?;
        }
        let out = local.output();
        out.success(&format!("VCC PKI is ready at https://localhost:{}", args.port));
        println!("  data dir:     {}", data_dir.display());
        println!("  trust anchor: {}", data_dir.join("root.crt").display());
        println!("  admin token:  {}", data_dir.join("admin.token").display());
        println!("  CA password:  {} (demo only: keep real CA passwords away from the data)", password_file.display());
        println!("\nTry, in another shell:");
        println!("  vcc-pki --data-dir {} --server https://localhost:{} cert issue demo --cn demo.internal --san-dns localhost", data_dir.display(), args.port);
        println!("\nCtrl-C stops the server.");
        server.await.context("server task")?
    })
}
