use super::confirm;
use crate::output::text;
use crate::GlobalArgs;
use anyhow::bail;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum HealthCommand {
    /// Server, database, CA and key expiry.
    #[command(after_help = "Example:\n  vcc-pki health check")]
    Check,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 1 if a row was edited or removed.
    #[command(after_help = "Example:\n  vcc-pki audit verify")]
    Verify,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token (shown once): an admin token, or a read-only auditor token.
    #[command(
        after_help = "Examples:\n  vcc-pki token create --name ci-pipeline\n  vcc-pki token create --name security-review --role auditor"
    )]
    Create {
        #[arg(long)]
        name: String,
        /// admin: every operation; auditor: every read, no change (refused with 403 and audited).
        #[arg(long, default_value = "admin", value_parser = ["admin", "auditor"])]
        role: String,
    },
    /// List API tokens and their roles (never their values).
    #[command(after_help = "Example:\n  vcc-pki token list")]
    List,
    /// Revoke an API token by id.
    #[command(after_help = "Example:\n  vcc-pki token revoke 3 --yes")]
    Revoke { id: i64 },
}

pub async fn health(cmd: HealthCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let HealthCommand::Check = cmd;
    let out = g.output();
    let client = g.client()?;
    let h = client.get("/api/health").await?;
    if out.json() {
        out.print_json(&h);
    } else {
        let ca = &h["ca"];
        out.heading(&format!("VCC PKI at {}", client.server()));
        out.fields(&[
            ("Server", out.status(&text(&h, "status"))),
            ("Version", text(&h, "version")),
            ("Database", out.status(&text(&h["database"], "status"))),
            (
                "Root CA",
                if ca["root"].as_bool() == Some(true) {
                    format!("present, {} days left", text(ca, "root_days_until_expiry"))
                } else {
                    "missing".into()
                },
            ),
            (
                "Intermediate CA",
                if ca["intermediate"].as_bool() == Some(true) {
                    format!(
                        "present, {} days left",
                        text(ca, "intermediate_days_until_expiry")
                    )
                } else {
                    "missing".into()
                },
            ),
            (
                "CA keys",
                if ca["sealed"].as_bool() == Some(true) {
                    out.status("sealed")
                } else {
                    out.status("ok")
                },
            ),
            (
                "Certificates",
                format!(
                    "{} active, {} revoked",
                    text(&h["statistics"], "certificates_active"),
                    text(&h["statistics"], "certificates_revoked")
                ),
            ),
        ]);
    }
    if h["status"] != "healthy" {
        bail!("server is unhealthy");
    }
    Ok(())
}

pub async fn audit(cmd: AuditCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let AuditCommand::Verify = cmd;
    let out = g.output();
    let v = g.client()?.get("/api/audit/verify").await?;
    if out.json() {
        out.print_json(&v);
    }
    if let Some(failure) = v["anchor_failure"].as_str() {
        bail!(
            "audit log does not match its anchors: {failure} ({} rows, chain {})",
            text(&v, "rows"),
            if v["first_broken_id"].is_null() {
                "recomputes"
            } else {
                "broken"
            }
        );
    }
    if v["intact"].as_bool() != Some(true) {
        bail!(
            "audit chain BROKEN at row {} ({} rows checked)",
            text(&v, "first_broken_id"),
            text(&v, "rows")
        );
    }
    out.success(&format!(
        "audit chain intact: {} rows, head {}; {} anchors match (newest row {})",
        text(&v, "rows"),
        text(&v, "head_hash"),
        text(&v, "anchors_checked"),
        text(&v, "anchored_row")
    ));
    Ok(())
}

pub async fn token(cmd: TokenCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    match cmd {
        TokenCommand::Create { name, role } => {
            let t = client
                .post("/api/tokens", json!({"name": name, "role": role}))
                .await?;
            if out.json() {
                out.print_json(&t);
            } else {
                out.success(&format!(
                    "{role} token '{name}' created (id {}); it is shown once:",
                    text(&t, "id")
                ));
                println!("{}", text(&t, "token"));
            }
        }
        TokenCommand::List => {
            let list = client.get("/api/tokens").await?;
            if out.json() {
                out.print_json(&list);
                return Ok(());
            }
            let rows = list["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    let status = if t["revoked_at"].is_null() {
                        out.status("active")
                    } else {
                        out.status("revoked")
                    };
                    vec![
                        text(t, "id"),
                        text(t, "name"),
                        text(t, "role"),
                        status,
                        text(t, "created_at"),
                    ]
                })
                .collect();
            out.table(&["ID", "Name", "Role", "Status", "Created"], rows);
        }
        TokenCommand::Revoke { id } => {
            confirm(
                g.yes,
                &format!("Revoke token {id}? Anything using it loses access"),
            )?;
            let r = client
                .post(&format!("/api/tokens/{id}/revoke"), json!({}))
                .await?;
            if out.json() {
                out.print_json(&r);
            } else {
                out.success(&format!("token {id} revoked"));
            }
        }
    }
    Ok(())
}
