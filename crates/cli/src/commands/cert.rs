use super::{confirm, write_file};
use crate::output::{text, Output};
use crate::GlobalArgs;
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum CertCommand {
    /// Issue a certificate; without --csr the key is made by the server and written once to --out.
    #[command(
        after_help = "Examples:\n  vcc-pki cert issue veritas-backend --cn veritas-backend.vcc.local --san-dns veritas-backend localhost\n  vcc-pki cert issue api --cn api.internal --csr api.csr --out ./certs/api"
    )]
    Issue {
        service_id: String,
        /// Common name (also put in the SAN).
        #[arg(long)]
        cn: String,
        /// DNS names for the SAN.
        #[arg(long, num_args = 1..)]
        san_dns: Vec<String>,
        /// IP addresses for the SAN.
        #[arg(long, num_args = 1..)]
        san_ip: Vec<String>,
        /// PEM CSR made by the service (only its public key is used).
        #[arg(long)]
        csr: Option<PathBuf>,
        /// Key type for a server-made key (default ecdsa-p256).
        #[arg(long)]
        key_type: Option<String>,
        #[arg(long, default_value_t = 365)]
        validity_days: u32,
        /// server, client or server_client.
        #[arg(long)]
        profile: Option<String>,
        /// Directory for cert.pem, key.pem (0600) and ca_chain.pem [default: service_certificates/<service-id>].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Renew the service's certificate, keeping its public key.
    #[command(
        after_help = "Example:\n  vcc-pki cert renew veritas-backend --out service_certificates/veritas-backend"
    )]
    Renew {
        service_id: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke one certificate (--serial) or every unexpired certificate of the service.
    #[command(
        after_help = "Example:\n  vcc-pki cert revoke veritas-backend --reason keyCompromise --yes"
    )]
    Revoke {
        service_id: String,
        #[arg(long)]
        serial: Option<String>,
        /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation,
        /// certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise.
        #[arg(long)]
        reason: String,
    },
    /// The service's current certificate: serial, names, validity, days left, status.
    #[command(after_help = "Example:\n  vcc-pki cert info veritas-backend")]
    Info { service_id: String },
    /// Certificates as a table.
    #[command(after_help = "Example:\n  vcc-pki cert list --status expiring")]
    List {
        #[arg(long, value_parser = ["active", "revoked", "expired", "expiring"])]
        status: Option<String>,
        #[arg(long)]
        service: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        cursor: Option<String>,
    },
}

pub async fn run(cmd: CertCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    match cmd {
        CertCommand::Issue {
            service_id,
            cn,
            san_dns,
            san_ip,
            csr,
            key_type,
            validity_days,
            profile,
            out: dir,
        } => {
            let csr_pem = csr
                .as_ref()
                .map(|p| {
                    std::fs::read_to_string(p)
                        .map_err(|e| anyhow::anyhow!("cannot read CSR {}: {e}", p.display()))
                })
                .transpose()?;
            let body = vcc_pki_proto::IssueRequest {
                service_id: service_id.clone(),
                common_name: cn,
                san_dns,
                san_ip,
                csr_pem,
                key_type,
                validity_days: Some(validity_days),
                profile,
            };
            let issued = client
                .send_request("/api/certificates/issue", &body)
                .await?;
            let dir = dir.unwrap_or_else(|| Path::new("service_certificates").join(&service_id));
            let written = write_bundle(&dir, &issued)?;
            report_issued(&out, "Certificate issued", &issued, &written);
        }
        CertCommand::Renew {
            service_id,
            out: dir,
        } => {
            let body = vcc_pki_proto::RenewRequest {
                service_id: Some(service_id.clone()),
                ..Default::default()
            };
            let issued = client
                .send_request("/api/certificates/renew", &body)
                .await?;
            let written = match dir {
                Some(dir) => write_bundle(&dir, &issued)?,
                None => Vec::new(),
            };
            report_issued(
                &out,
                "Certificate renewed (same key, new serial)",
                &issued,
                &written,
            );
        }
        CertCommand::Revoke {
            service_id,
            serial,
            reason,
        } => {
            let what = match &serial {
                Some(s) => format!("Revoke certificate {s} of '{service_id}' ({reason})?"),
                None => format!("Revoke EVERY unexpired certificate of '{service_id}' ({reason})?"),
            };
            confirm(g.yes, &what)?;
            let body = vcc_pki_proto::RevokeRequest {
                service_id: serial.is_none().then(|| service_id.clone()),
                serial_number: serial.clone(),
                reason: Some(reason.clone()),
            };
            let result = client
                .send_request("/api/certificates/revoke", &body)
                .await?;
            if out.json() {
                out.print_json(&result);
            } else {
                let revoked = result["revoked"].as_array().cloned().unwrap_or_default();
                out.success(&format!(
                    "Revoked {} certificate(s) ({}); the CRL is being reissued",
                    revoked.len(),
                    text(&result, "reason")
                ));
                for r in revoked {
                    println!("  {}", text(&r, "serial_number"));
                }
            }
        }
        CertCommand::Info { service_id } => {
            let cert = client
                .get(&format!("/api/certificates/{service_id}"))
                .await?;
            if out.json() {
                out.print_json(&cert);
            } else {
                out.heading(&format!("Certificate of {service_id}"));
                out.fields(&[
                    ("Serial", text(&cert, "serial_number")),
                    ("Common name", text(&cert, "common_name")),
                    ("DNS names", text(&cert, "san_dns")),
                    ("IP addresses", text(&cert, "san_ip")),
                    ("Key type", text(&cert, "key_type")),
                    ("Profile", text(&cert, "profile")),
                    ("Not before", text(&cert, "not_before")),
                    ("Not after", text(&cert, "not_after")),
                    ("Days left", text(&cert, "days_until_expiry")),
                    ("Status", out.status(&text(&cert, "status"))),
                    ("SHA-256", text(&cert, "fingerprint_sha256")),
                ]);
            }
        }
        CertCommand::List {
            status,
            service,
            limit,
            cursor,
        } => {
            let mut query = vec![format!("limit={limit}")];
            if let Some(s) = status {
                query.push(format!("status={s}"));
            }
            if let Some(s) = service {
                query.push(format!("service_id={}", urlencode(&s)));
            }
            if let Some(c) = cursor {
                query.push(format!("cursor={}", urlencode(&c)));
            }
            let page = client
                .get(&format!("/api/certificates?{}", query.join("&")))
                .await?;
            if out.json() {
                out.print_json(&page);
                return Ok(());
            }
            let rows = page["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|c| {
                    vec![
                        text(c, "service_id"),
                        text(c, "common_name"),
                        text(c, "serial_number"),
                        out.status(&text(c, "status")),
                        text(c, "days_until_expiry"),
                        text(c, "not_after"),
                    ]
                })
                .collect();
            out.table(
                &[
                    "Service ID",
                    "Common Name",
                    "Serial",
                    "Status",
                    "Days Left",
                    "Not After",
                ],
                rows,
            );
            if let Some(next) = page["next_cursor"].as_str() {
                println!("{}", out.dim(&format!("more: --cursor {next}")));
            }
        }
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Write cert.pem, ca_chain.pem and (if the server made it) key.pem 0600 — the seed's layout.
fn write_bundle(dir: &Path, issued: &Value) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if let Some(key) = issued["private_key_pem"].as_str() {
        let p = dir.join("key.pem");
        write_file(&p, key, 0o600)?;
        written.push(p);
    }
    for (name, field) in [
        ("cert.pem", "certificate_pem"),
        ("ca_chain.pem", "ca_chain_pem"),
    ] {
        let p = dir.join(name);
        write_file(&p, &text(issued, field), 0o644)?;
        written.push(p);
    }
    Ok(written)
}

fn report_issued(out: &Output, msg: &str, issued: &Value, written: &[PathBuf]) {
    if out.json() {
        // The JSON contract carries the files' paths instead of the private key.
        let mut v = issued.clone();
        if let Some(obj) = v.as_object_mut() {
            obj.remove("private_key_pem");
            obj.insert("files".into(), json!(written));
        }
        out.print_json(&v);
        return;
    }
    out.success(msg);
    out.fields(&[
        ("Service", text(issued, "service_id")),
        ("Serial", text(issued, "serial_number")),
        ("DNS names", text(issued, "san_dns")),
        ("IP addresses", text(issued, "san_ip")),
        ("Not after", text(issued, "not_after")),
        ("SHA-256", text(issued, "fingerprint_sha256")),
    ]);
    for p in written {
        println!("  wrote {}", p.display());
    }
}
