//! `vcc-pki acme …`: the admin side of the ACME server (SPEC §9).
use crate::output::text;
use crate::GlobalArgs;
use clap::{Args, Subcommand};
use vcc_pki_proto::RenewalWindowMoveRequest;

#[derive(Subcommand)]
pub enum AcmeCommand {
    /// ACME Renewal Information (RFC 9773): the renewal windows ARI clients follow.
    #[command(subcommand)]
    Ari(AriCommand),
}

#[derive(Subcommand)]
pub enum AriCommand {
    /// Pull the renewal windows of chosen certificates to now: ARI clients (certbot 5,
    /// lego, Caddy) renew them at their next check.
    #[command(
        after_help = "Examples:\n  vcc-pki acme ari move --serial 4f2a…e1\n  vcc-pki acme ari move --issued-before 2026-12-01T00:00:00Z --explanation https://status.internal/incident-42"
    )]
    Move(MoveArgs),
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "selection")]
pub struct Selection {
    /// Certificates by serial (hex).
    #[arg(long = "serial", num_args = 1..)]
    serials: Vec<String>,
    /// Every certificate of a service (an ACME account's are `acme-<account id>`).
    #[arg(long)]
    service: Option<String>,
    /// Certificates whose notBefore is earlier than this RFC 3339 time.
    #[arg(long)]
    issued_before: Option<String>,
    /// Every active certificate.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
pub struct MoveArgs {
    #[command(flatten)]
    selection: Selection,
    /// A page explaining why (shown to clients as explanationURL).
    #[arg(long)]
    explanation: Option<String>,
}

pub async fn run(cmd: AcmeCommand, g: &GlobalArgs) -> anyhow::Result<()> {
    let out = g.output();
    let client = g.client()?;
    match cmd {
        AcmeCommand::Ari(AriCommand::Move(args)) => {
            let request = RenewalWindowMoveRequest {
                serial_numbers: args.selection.serials,
                service_id: args.selection.service,
                issued_before: args.selection.issued_before,
                all: args.selection.all,
                explanation_url: args.explanation,
            };
            let moved = client
                .post(
                    "/api/acme/renewal-windows/move",
                    serde_json::to_value(&request)?,
                )
                .await?;
            if out.json() {
                out.print_json(&moved);
            } else {
                out.success(&format!(
                    "renewal windows moved to now for {} certificate(s)",
                    text(&moved, "moved")
                ));
            }
        }
    }
    Ok(())
}
