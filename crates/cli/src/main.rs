//! `vcc-pki`: one binary holding the server (`vcc-pki serve`) and the admin CLI.
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "vcc-pki",
    version,
    about = "VCC PKI: a private certificate authority for internal services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTPS server (REST API, CRL, CA distribution).
    #[command(
        after_help = "Example:\n  VCC_CA_PASSWORD='change me please' vcc-pki serve --data-dir ./pki-data --port 8443"
    )]
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Data directory (database, admin token, trust anchor); created 0700.
    #[arg(long, env = "VCC_PKI_DATA_DIR", default_value = "./pki-data")]
    data_dir: PathBuf,
    /// Address to listen on.
    #[arg(long, env = "VCC_PKI_HOST", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, env = "VCC_PKI_PORT", default_value_t = 8443)]
    port: u16,
    /// host:port to listen on; overrides --host and --port.
    #[arg(long, env = "VCC_PKI_LISTEN")]
    listen: Option<String>,
    /// Database URL (default sqlite://<data-dir>/pki.db).
    #[arg(long, env = "VCC_PKI_DATABASE_URL")]
    database_url: Option<String>,
    /// File holding the CA password (else VCC_CA_PASSWORD; without either the CA starts sealed).
    #[arg(long)]
    ca_password_file: Option<PathBuf>,
    /// Extra DNS names for the server's own TLS certificate.
    #[arg(long = "dns-name")]
    dns_names: Vec<String>,
    /// Base URL named in certificates' CRL distribution points and AIA.
    #[arg(long, env = "VCC_PKI_PUBLIC_URL")]
    public_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "VCC_PKI_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VCC_PKI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn serve_config(args: ServeArgs) -> anyhow::Result<vcc_pki_server::config::ServeConfig> {
    let mut config = vcc_pki_server::config::ServeConfig::new(args.data_dir.clone());
    config.host = args.host;
    config.port = args.port;
    if let Some(listen) = args.listen {
        let (host, port) = listen
            .rsplit_once(':')
            .with_context(|| format!("--listen '{listen}' is not host:port"))?;
        config.host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        config.port = port
            .parse()
            .with_context(|| format!("--listen '{listen}': bad port"))?;
    }
    if let Some(url) = args.database_url {
        config.database_url = url;
    }
    config.ca_password = match args.ca_password_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read CA password file {}", path.display()))?;
            Some(Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_string(),
            ))
        }
        None => std::env::var("VCC_CA_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new),
    };
    config.dns_names = args.dns_names;
    config.public_url = args.public_url;
    Ok(config)
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => {
            init_logging(args.log_format == "json");
            serve_config(args).and_then(|config| {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .context("cannot start the async runtime")?
                    .block_on(vcc_pki_server::run(config))
            })
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
