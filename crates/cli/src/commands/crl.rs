use crate::output::text;
use crate::GlobalArgs;
use clap::Subcommand;
use serde_json::json;

#[derive(Subcommand)]
pub enum CrlCommand {
    /// Issue a new CRL now.
    #[command(after_help = "Example:\n  vcc-pki crl generate")]
    Generate,
    /// Number, this/next update and entries of the current CRL.
    #[command(after_help = "Example:\n  vcc-pki crl info --output json")]
    Info,
}

pub async fn run(cmd: CrlCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    let info = match cmd {
        CrlCommand::Generate => client.post("/api/crl/generate", json!({})).await?,
        CrlCommand::Info => client.get("/api/crl/info").await?,
    };
    if out.json() {
        out.print_json(&info);
        return Ok(());
    }
    out.success(&format!("CRL #{}", text(&info, "crl_number")));
    out.fields(&[
        ("This update", text(&info, "this_update")),
        ("Next update", text(&info, "next_update")),
        ("Entries", text(&info, "revoked_count")),
        ("SHA-256", text(&info, "fingerprint_sha256")),
        (
            "URL",
            format!(
                "{}{}",
                client.server().trim_end_matches('/'),
                text(&info, "crl_url")
            ),
        ),
    ]);
    Ok(())
}
