use super::write_file;
use crate::output::text;
use crate::GlobalArgs;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create the Root CA (seed default RSA-4096, 10 years).
    #[command(
        after_help = "Example:\n  vcc-pki ca init-root --cn 'VCC Root CA' --country DE --org 'VCC GmbH'"
    )]
    InitRoot(CaArgs<10>),
    /// Create the Intermediate CA, signed by the root (seed default RSA-2048, 5 years).
    #[command(
        after_help = "Examples:\n  vcc-pki ca create-intermediate --cn 'VCC Intermediate CA' --country DE --org 'VCC GmbH'\n  vcc-pki ca create-intermediate --cn 'VCC Intermediate CA' --key-type ecdsa-p256 \\\n    --key-uri 'pkcs11:token=vcc-ca;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/vcc/pin'"
    )]
    CreateIntermediate {
        #[command(flatten)]
        args: CaArgs<5>,
        /// Do not sign here: write a CSR for an offline root to sign (`vcc-pki ceremony sign`); the
        /// key waits on the server until `ca import-intermediate` brings the certificate back.
        #[arg(long)]
        csr_out: Option<PathBuf>,
    },
    /// Bring back the issuing CA certificate an offline root signed (`vcc-pki ceremony sign`'s output:
    /// the intermediate, then the root when this server has none yet).
    #[command(
        after_help = "Example:\n  vcc-pki ca import-intermediate --cert ./intermediate-chain.pem"
    )]
    ImportIntermediate {
        #[arg(long)]
        cert: PathBuf,
    },
    /// Subjects, fingerprints, validity, key types and chain status.
    #[command(after_help = "Example:\n  vcc-pki ca info --output json")]
    Info,
    /// Write the CA certificates and their (still encrypted) keys in the seed's ca_storage/ layout.
    #[command(after_help = "Example:\n  vcc-pki ca export --out ./ca_storage")]
    Export {
        #[arg(long)]
        out: PathBuf,
    },
    /// Unlock a sealed CA with its password (--password or VCC_CA_PASSWORD).
    #[command(after_help = "Example:\n  VCC_CA_PASSWORD='…' vcc-pki ca unlock")]
    Unlock,
}

#[derive(clap::Args)]
pub struct CaArgs<const YEARS: u32> {
    /// Common name.
    #[arg(long)]
    cn: String,
    /// Two-letter country code.
    #[arg(long)]
    country: Option<String>,
    /// Organization.
    #[arg(long)]
    org: Option<String>,
    /// rsa-2048, rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 or ed25519 (default: the seed's RSA sizes).
    #[arg(long)]
    key_type: Option<String>,
    /// Validity in years [default: 10 for the root, 5 for the intermediate].
    #[arg(long)]
    validity_years: Option<u32>,
    /// Make the key inside a PKCS#11 token (RFC 7512 URI, read by the server), e.g.
    /// 'pkcs11:token=vcc-ca;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/vcc/pin'.
    /// The PIN comes from the pin-source file or env:NAME on the server, never from this command line.
    #[arg(long)]
    key_uri: Option<String>,
}

impl<const Y: u32> CaArgs<Y> {
    fn body(&self, password: &Option<String>) -> vcc_pki_proto::CaCreateRequest {
        vcc_pki_proto::CaCreateRequest {
            common_name: self.cn.clone(),
            country: self.country.clone(),
            organization: self.org.clone(),
            key_type: self.key_type.clone(),
            validity_years: Some(self.validity_years.unwrap_or(Y)),
            password: password.clone().map(zeroize::Zeroizing::new),
            key_uri: self.key_uri.clone(),
        }
    }
}

pub async fn run(cmd: CaCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    match cmd {
        CaCommand::InitRoot(args) => {
            let created = client
                .send_request("/api/ca/root", &args.body(&g.password))
                .await?;
            show_created(&out, "Root CA created", &created, g);
        }
        CaCommand::CreateIntermediate {
            args,
            csr_out: Some(path),
        } => {
            let requested = client
                .send_request("/api/ca/intermediate/csr", &args.body(&g.password))
                .await?;
            write_file(&path, &text(&requested, "csr_pem"), 0o644)?;
            if out.json() {
                out.print_json(&requested);
            } else {
                out.success(&format!(
                    "CSR written to {}; its key waits on the server. Sign it offline with \
                     `vcc-pki ceremony sign --csr {}`, then `vcc-pki ca import-intermediate --cert FILE`",
                    path.display(),
                    path.display()
                ));
                out.fields(&[
                    ("Subject", text(&requested, "subject")),
                    ("Key type", text(&requested, "key_type")),
                    ("Key SHA-256", text(&requested, "public_key_sha256")),
                ]);
            }
        }
        CaCommand::ImportIntermediate { cert } => {
            let pem = std::fs::read_to_string(&cert)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", cert.display()))?;
            let created = client
                .send_request(
                    "/api/ca/intermediate/import",
                    &json!({ "certificate_pem": pem, "password": g.password }),
                )
                .await?;
            show_created(
                &out,
                "Intermediate CA imported; the server now uses a TLS certificate it issued",
                &created,
                g,
            );
        }
        CaCommand::CreateIntermediate {
            args,
            csr_out: None,
        } => {
            let created = client
                .send_request("/api/ca/intermediate", &args.body(&g.password))
                .await?;
            show_created(
                &out,
                "Intermediate CA created; the server now uses a TLS certificate it issued",
                &created,
                g,
            );
        }
        CaCommand::Info => {
            let info = client.get("/api/ca/info").await?;
            if out.json() {
                out.print_json(&info);
                return Ok(());
            }
            for (label, key) in [("Root CA", "root"), ("Intermediate CA", "intermediate")] {
                out.heading(label);
                match info.get(key).filter(|v| !v.is_null()) {
                    None => println!("  {}", out.dim("not created yet")),
                    Some(ca) => out.fields(&[
                        ("Subject", text(ca, "subject")),
                        ("Key type", text(ca, "key_type")),
                        ("Serial", text(ca, "serial_number")),
                        ("SHA-256", text(ca, "fingerprint_sha256")),
                        (
                            "Valid",
                            format!("{} → {}", text(ca, "not_before"), text(ca, "not_after")),
                        ),
                        ("Days left", text(ca, "days_until_expiry")),
                        (
                            "Key",
                            match (
                                text(ca, "key_storage").as_str(),
                                ca.get("key_uri").and_then(Value::as_str),
                            ) {
                                (_, Some(uri)) => format!("in a PKCS#11 token: {uri}"),
                                ("offline", _) => {
                                    "offline (kept by the ceremony, not on this server)".to_string()
                                }
                                _ => "encrypted in the store".to_string(),
                            },
                        ),
                    ]),
                }
            }
            let sealed = info["sealed"].as_bool().unwrap_or(false);
            if let Some(reason) = info.get("sealed_reason").and_then(Value::as_str) {
                out.fields(&[("Sealed because", reason.to_string())]);
            }
            out.fields(&[
                ("Chain", out.status(&text(&info, "chain_status"))),
                (
                    "Keys",
                    if sealed {
                        out.status("sealed")
                    } else {
                        out.status("ok")
                    },
                ),
            ]);
        }
        CaCommand::Export { out: dir } => {
            let export = client.get("/api/ca/export").await?;
            let mut written = Vec::new();
            for (level, entry) in [
                ("root_ca", &export["root"]),
                ("intermediate_ca", &export["intermediate"]),
            ] {
                if entry.is_null() {
                    continue;
                }
                let base = dir.join(level);
                let crt = base.join(format!("{level}.crt"));
                let key = base.join(format!("{level}.key"));
                write_file(&crt, &text(entry, "certificate_pem"), 0o644)?;
                // A key inside a token has nothing to export: it never leaves the token.
                let key_pem = text(entry, "encrypted_private_key_pem");
                if !key_pem.is_empty() {
                    write_file(&key, &key_pem, 0o600)?;
                    written.push(key);
                }
                write_file(
                    &base.join(format!("{level}.srl")),
                    &format!("{}\n", text(entry, "serial_number")),
                    0o644,
                )?;
                written.push(crt);
            }
            if !export["intermediate"].is_null() {
                let chain = dir.join("intermediate_ca").join("ca_chain.pem");
                write_file(&chain, &text(&export, "ca_chain_pem"), 0o644)?;
                written.push(chain);
            }
            if out.json() {
                out.print_json(&json!({"written": written}));
            } else {
                out.success(&format!(
                    "CA exported to {} (keys in the store stay encrypted with the CA password; \
                     a token or offline key is never exported)",
                    dir.display()
                ));
                for p in written {
                    println!("  {}", p.display());
                }
            }
        }
        CaCommand::Unlock => {
            let password = g.password.clone().ok_or_else(|| {
                anyhow::anyhow!("no CA password: pass --password or set VCC_CA_PASSWORD")
            })?;
            let info = client
                .post("/api/ca/unlock", json!({"password": password}))
                .await?;
            if out.json() {
                out.print_json(&info);
            } else {
                out.success("CA unlocked; signing is available");
            }
        }
    }
    Ok(())
}

fn show_created(out: &crate::output::Output, msg: &str, created: &Value, _g: &GlobalArgs) {
    if out.json() {
        out.print_json(created);
        return;
    }
    out.success(msg);
    out.fields(&[
        ("Subject", text(created, "subject")),
        ("Key type", text(created, "key_type")),
        ("Serial", text(created, "serial_number")),
        ("SHA-256", text(created, "fingerprint_sha256")),
        ("Not after", text(created, "not_after")),
    ]);
}
