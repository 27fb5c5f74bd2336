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
    /// External Account Binding keys: what an ACME client needs to make an account when the
    /// server requires it (`serve --acme-eab-required`), and the policy bound to it.
    #[command(subcommand)]
    Eab(EabCommand),
    /// ACME accounts, newest first.
    #[command(after_help = "Example:\n  vcc-pki acme accounts --output json")]
    Accounts {
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// ACME orders, newest first.
    #[command(after_help = "Example:\n  vcc-pki acme orders --account 3FzD7I_Ug0NYKBfEIMORVQ")]
    Orders {
        /// Orders of this account only.
        #[arg(long)]
        account: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

#[derive(Subcommand)]
pub enum EabCommand {
    /// Make a key; prints its kid and HMAC key (base64url) once.
    #[command(
        after_help = "Examples:\n  vcc-pki acme eab create --allowed-dns svc.internal --allowed-ip 10.0.0.0/8 --expires-in 7d\n  certbot register --eab-kid KID --eab-hmac-key HMAC_KEY --server https://pki.internal:8443/acme/directory …"
    )]
    Create {
        /// DNS suffixes the accounts made with the key may order (default: any name).
        #[arg(long = "allowed-dns", num_args = 1..)]
        allowed_dns: Vec<String>,
        /// IP ranges (ADDR/PREFIX) the accounts may order (default: any address).
        #[arg(long = "allowed-ip", num_args = 1..)]
        allowed_ip: Vec<String>,
        /// ACME profiles the accounts may order (default: any).
        #[arg(long = "profile", num_args = 1..)]
        profiles: Vec<String>,
        /// Usable for more than one account.
        #[arg(long)]
        reusable: bool,
        /// Unusable after this long: 90d, 12h, 30m or seconds.
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<i64>,
    },
    /// Every key (never the HMAC key).
    #[command(after_help = "Example:\n  vcc-pki acme eab list --output json")]
    List,
    /// Revoke a key: no new account can use it, and the accounts made with it can make no new orders.
    #[command(after_help = "Example:\n  vcc-pki acme eab revoke eab-3kTq…")]
    Revoke { kid: String },
}

/// `90d`, `12h`, `30m`, `45s` or plain seconds, as seconds.
pub(crate) fn parse_duration(text: &str) -> Result<i64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 90d, 12h, 30m or 45s"))?;
    let factor = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(format!("'{text}': unit must be d, h, m or s")),
    };
    n.checked_mul(factor)
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("'{text}' must be a positive duration"))
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
        AcmeCommand::Accounts { limit } => {
            let list = client
                .get(&format!("/api/acme/accounts?limit={limit}"))
                .await?;
            if out.json() {
                out.print_json(&list);
            } else {
                let rows = list["accounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        vec![
                            text(a, "id"),
                            text(a, "status"),
                            a["contact"]
                                .as_array()
                                .map(|c| {
                                    c.iter()
                                        .filter_map(|x| x.as_str())
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                                .unwrap_or_default(),
                            text(a, "eab_kid"),
                            text(a, "created_at"),
                        ]
                    })
                    .collect();
                out.table(
                    &["Account", "Status", "Contact", "EAB key", "Created"],
                    rows,
                );
            }
        }
        AcmeCommand::Orders { account, limit } => {
            let mut path = format!("/api/acme/orders?limit={limit}");
            if let Some(account) = account {
                if !account
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    anyhow::bail!("--account '{account}' is not an ACME account id");
                }
                path.push_str(&format!("&account_id={account}"));
            }
            let list = client.get(&path).await?;
            if out.json() {
                out.print_json(&list);
            } else {
                let rows = list["orders"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        vec![
                            text(o, "id"),
                            text(o, "account_id"),
                            text(o, "status"),
                            o["identifiers"]
                                .as_array()
                                .map(|c| {
                                    c.iter()
                                        .filter_map(|x| x.as_str())
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                })
                                .unwrap_or_default(),
                            text(o, "profile"),
                            text(o, "certificate_serial"),
                            text(o, "created_at"),
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "Order",
                        "Account",
                        "Status",
                        "Identifiers",
                        "Profile",
                        "Serial",
                        "Created",
                    ],
                    rows,
                );
            }
        }
        AcmeCommand::Eab(EabCommand::Create {
            allowed_dns,
            allowed_ip,
            profiles,
            reusable,
            expires_in,
        }) => {
            let request = vcc_pki_proto::EabKeyCreateRequest {
                allowed_dns,
                allowed_ip,
                profiles,
                reusable,
                expires_in_seconds: expires_in,
            };
            let created = client
                .post("/api/acme/eab", serde_json::to_value(&request)?)
                .await?;
            if out.json() {
                out.print_json(&created);
            } else {
                out.success("external account key created (the HMAC key is shown only now)");
                out.fields(&[
                    ("kid", text(&created, "kid")),
                    ("hmac_key", text(&created, "hmac_key")),
                    ("Expires", text(&created, "expires_at")),
                ]);
            }
        }
        AcmeCommand::Eab(EabCommand::List) => {
            let list = client.get("/api/acme/eab").await?;
            if out.json() {
                out.print_json(&list);
            } else {
                for key in list["keys"].as_array().into_iter().flatten() {
                    let state = if !key["revoked_at"].is_null() {
                        "revoked"
                    } else if !key["used_at"].is_null() && key["reusable"] != true {
                        "used"
                    } else {
                        "usable"
                    };
                    println!(
                        "{}  {state}  dns={} ip={} profiles={}",
                        text(key, "kid"),
                        key["allowed_dns"],
                        key["allowed_ip"],
                        key["profiles"]
                    );
                }
            }
        }
        AcmeCommand::Eab(EabCommand::Revoke { kid }) => {
            let revoked = client
                .post(
                    &format!("/api/acme/eab/{kid}/revoke"),
                    serde_json::json!({}),
                )
                .await?;
            if out.json() {
                out.print_json(&revoked);
            } else {
                out.success(&format!("external account key {kid} revoked"));
            }
        }
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
