//! `vcc-pki`: one binary holding the server (`vcc-pki serve`) and the admin CLI (SPEC §2–§3).
mod api_client;
mod commands;
mod output;
mod serve;

use api_client::{ApiClient, Connection};
use clap::{Args, Parser, Subcommand};
use output::{Format, Output};
use std::path::PathBuf;

const EXAMPLES: &str = "Examples:
  vcc-pki serve                                   # start the CA server (data in ./pki-data)
  vcc-pki ca init-root --cn 'VCC Root CA' --country DE --org 'VCC GmbH'
  vcc-pki cert issue veritas-backend --cn veritas-backend.vcc.local --san-dns veritas-backend localhost
  vcc-pki cert list --status expiring --output json";

#[derive(Parser)]
#[command(name = "vcc-pki", version, about = "VCC PKI: a private certificate authority for internal services", after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
pub struct GlobalArgs {
    /// Server URL [default: what `bootstrap` saved, else https://localhost:8443].
    #[arg(long, global = true, env = "VCC_PKI_SERVER")]
    server: Option<String>,
    /// Admin token (default: <data-dir>/admin.token on the server's host).
    #[arg(long, global = true, env = "VCC_PKI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of CA certificates to trust for the server (default: <data-dir>/root.crt).
    #[arg(long, global = true, env = "VCC_PKI_CA_BUNDLE")]
    ca_bundle: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (testing only).
    #[arg(long, global = true)]
    no_verify_ssl: bool,
    /// CA password, for commands that create or unlock CA keys.
    #[arg(long, global = true, env = "VCC_CA_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Answer yes to confirmation prompts.
    #[arg(long, short = 'y', global = true)]
    yes: bool,
    /// No colours (also NO_COLOR).
    #[arg(long, global = true)]
    no_color: bool,
    /// The server's data dir, where the local CLI finds the admin token and trust anchor.
    #[arg(
        long,
        global = true,
        env = "VCC_PKI_DATA_DIR",
        default_value = "./pki-data"
    )]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTPS server (REST API, CRL, CA distribution).
    #[command(
        after_help = "Example:\n  VCC_CA_PASSWORD='a long passphrase' vcc-pki serve --data-dir ./pki-data --port 8443"
    )]
    Serve(Box<serve::ServeArgs>),
    /// Root and Intermediate CA.
    #[command(subcommand)]
    Ca(commands::ca::CaCommand),
    /// The offline root: make it, sign issuing CAs and its CRL, on a machine with no server.
    #[command(subcommand)]
    Ceremony(commands::ceremony::CeremonyCommand),
    /// Service certificates: issue, renew, revoke, inspect.
    #[command(subcommand)]
    Cert(commands::cert::CertCommand),
    /// The service registry.
    #[command(subcommand)]
    Service(commands::service::ServiceCommand),
    /// Certificate revocation lists.
    #[command(subcommand)]
    Crl(commands::crl::CrlCommand),
    /// Server health.
    #[command(subcommand)]
    Health(commands::system::HealthCommand),
    /// The store: statistics, backup, restore, verify.
    #[command(subcommand)]
    Db(commands::db::DbCommand),
    /// The audit trail.
    #[command(subcommand)]
    Audit(commands::system::AuditCommand),
    /// Admin API tokens.
    #[command(subcommand)]
    Token(commands::system::TokenCommand),
    /// The ACME server's admin side (renewal windows).
    #[command(subcommand)]
    Acme(commands::acme::AcmeCommand),
    /// Trust a remote server by its root CA fingerprint and remember it.
    #[command(
        after_help = "Example:\n  vcc-pki bootstrap --server https://pki.internal:8443 --fingerprint 3f9a…e1 --token vccadm_…"
    )]
    Bootstrap(commands::bootstrap::BootstrapArgs),
    /// Start a server with a ready Root and Intermediate CA, to try VCC PKI in one command.
    #[command(after_help = "Example:\n  vcc-pki quickstart --data-dir ./demo-pki")]
    Quickstart(commands::quickstart::QuickstartArgs),
    #[cfg(feature = "bench")]
    /// Revocation at scale: fill the store with many revoked certificates, measure revoke latency,
    /// CRL build time and peak memory.
    #[command(
        after_help = "Example:\n  vcc-pki bench-revocation --revoked 1000000 --revocations 1000"
    )]
    BenchRevocation(vcc_pki_bench::revocation::RevocationBenchArgs),
    /// Load-test the server (issue, renew, revoke, CRL, OCSP) against this machine's crypto floor.
    #[cfg(feature = "bench")]
    Bench(vcc_pki_bench::BenchArgs),
    /// Configuration files for `serve --config`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Shell completions.
    #[command(
        after_help = "Example:\n  vcc-pki completions bash > /etc/bash_completion.d/vcc-pki"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(clap::Subcommand)]
enum ConfigCommand {
    /// Print a commented TOML file with every option `serve --config` takes.
    #[command(after_help = "Example:\n  vcc-pki config example > /etc/vcc-pki/config.toml")]
    Example,
}

impl GlobalArgs {
    /// --server / VCC_PKI_SERVER, else the server `bootstrap` remembered, else the local default.
    pub fn server(&self) -> String {
        self.server
            .clone()
            .or_else(|| {
                api_client::config_dir()
                    .and_then(|d| std::fs::read_to_string(d.join("server")).ok())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            })
            .unwrap_or_else(|| "https://localhost:8443".to_string())
    }

    pub fn client(&self) -> anyhow::Result<ApiClient> {
        ApiClient::new(Connection {
            server: self.server(),
            token: self.token.clone(),
            ca_bundle: self.ca_bundle.clone(),
            no_verify_ssl: self.no_verify_ssl,
            data_dir: self.data_dir.clone(),
        })
    }

    pub fn output(&self) -> Output {
        Output::new(self.output, self.no_color)
    }
}

fn main() {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // A CLI command piped into `head` ends quietly when the pipe closes, as Unix tools do,
        // instead of panicking on a failed print. The server keeps SIGPIPE ignored (sockets).
        // SAFETY: restoring a signal's default disposition before any thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let out = cli.global.output();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "vcc-pki",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Quickstart(args) => commands::quickstart::run(args, &cli.global),
        Command::Config(ConfigCommand::Example) => {
            print!("{}", commands::config_example::EXAMPLE);
            Ok(())
        }
        #[cfg(feature = "bench")]
        Command::BenchRevocation(args) => commands::bench::revocation(args, &out),
        #[cfg(feature = "bench")]
        Command::Bench(args) => commands::bench::load(args, &cli.global),
        command => runtime().and_then(|rt| rt.block_on(dispatch(command, &cli.global))),
    };
    if let Err(e) = result {
        let line = format!("{e:#}");
        if out.color {
            eprintln!("\x1b[31m✗ {line}\x1b[0m");
        } else {
            eprintln!("error: {line}");
        }
        std::process::exit(1);
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn dispatch(command: Command, global: &GlobalArgs) -> anyhow::Result<()> {
    match command {
        Command::Ca(c) => commands::ca::run(c, global).await,
        Command::Cert(c) => commands::cert::run(c, global).await,
        Command::Service(c) => commands::service::run(c, global).await,
        Command::Crl(c) => commands::crl::run(c, global).await,
        Command::Health(c) => commands::system::health(c, global).await,
        Command::Db(c) => commands::db::db(c, global).await,
        Command::Audit(c) => commands::system::audit(c, global).await,
        Command::Token(c) => commands::system::token(c, global).await,
        Command::Acme(c) => commands::acme::run(c, global).await,
        Command::Bootstrap(a) => commands::bootstrap::run(a, global).await,
        Command::Ceremony(c) => commands::ceremony::run(c, global),
        Command::Serve(_)
        | Command::Completions { .. }
        | Command::Quickstart(_)
        | Command::Config(_) => Ok(()),
        #[cfg(feature = "bench")]
        Command::BenchRevocation(_) | Command::Bench(_) => Ok(()),
    }
}
