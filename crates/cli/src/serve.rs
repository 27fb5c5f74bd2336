//! `vcc-pki serve`: flags beat environment beat the TOML file (`--config`) beat defaults.
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Args, Default)]
pub struct ServeArgs {
    /// TOML file with any of: data_dir, host, port, database_url, ca_password_file, dns_names, public_url, http_port, crl_shards, ui_idle_timeout, log_format, metrics_listen, database_wait, tidy_after, max_connections, max_connections_per_source, idle_timeout.
    #[arg(long, env = "VCC_PKI_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (database, admin token, trust anchor); created 0700. [default: ./pki-data]
    #[arg(long, env = "VCC_PKI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on. [default: 127.0.0.1]
    #[arg(long, env = "VCC_PKI_HOST")]
    host: Option<String>,
    /// Port to listen on (0 picks a free one and prints it). [default: 8443]
    #[arg(long, env = "VCC_PKI_PORT")]
    port: Option<u16>,
    /// host:port to listen on; overrides --host and --port.
    #[arg(long, env = "VCC_PKI_LISTEN")]
    listen: Option<String>,
    /// Database URL. [default: sqlite://<data-dir>/pki.db]
    #[arg(long, env = "VCC_PKI_DATABASE_URL")]
    database_url: Option<String>,
    /// File holding the CA password (else VCC_CA_PASSWORD; without either the CA starts sealed).
    #[arg(long, env = "VCC_CA_PASSWORD_FILE")]
    ca_password_file: Option<PathBuf>,
    /// Extra DNS names for the server's own TLS certificate.
    #[arg(long = "dns-name")]
    dns_names: Vec<String>,
    /// Base URL named in certificates' AIA ({URL}/ocsp, {URL}/ca/intermediate.crt) and CRL
    /// distribution point ({URL}/crl), e.g. http://pki.internal:8080.
    #[arg(long, env = "VCC_PKI_PUBLIC_URL")]
    public_url: Option<String>,
    /// Also listen on this port over plain HTTP, serving only /ocsp, /crl and /ca/*.crt
    /// (0 picks a free port and prints it).
    #[arg(long, env = "VCC_PKI_HTTP_PORT")]
    http_port: Option<u16>,
    /// CRL shards new certificates are spread over when --public-url is set; each certificate's
    /// CRL distribution point names its shard ({URL}/crl/{shard}). 0: one CRL. [default: 16]
    #[arg(long, env = "VCC_PKI_CRL_SHARDS", value_parser = clap::value_parser!(u32).range(0..=4096))]
    crl_shards: Option<u32>,
    /// Sign a dashboard session out after this long without a request (e.g. 15m, 1h). [default: 15m]
    #[arg(long, env = "VCC_PKI_UI_IDLE_TIMEOUT")]
    ui_idle_timeout: Option<String>,
    /// Log format: text or json. [default: text]
    #[arg(long, env = "VCC_PKI_LOG_FORMAT")]
    log_format: Option<String>,
    /// Also serve /metrics (Prometheus, no authentication), /healthz and /readyz over plain
    /// HTTP on this host:port, e.g. 127.0.0.1:9443 (a private scrape network only).
    #[arg(long, env = "VCC_PKI_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// How long start-up waits for a PostgreSQL server that does not answer yet (e.g. 30s, 5m;
    /// 0: fail at once). [default: 2m]
    #[arg(long, env = "VCC_PKI_DATABASE_WAIT")]
    database_wait: Option<String>,
    /// Tidy what has been dead for longer than this (e.g. 90d): expired certificates lose their
    /// DER (rows stay), old CRLs, expired ACME orders; hourly, audited. [default: off]
    #[arg(long, env = "VCC_PKI_TIDY_AFTER")]
    tidy_after: Option<String>,
    /// Connections each listener takes at once; more are closed as soon as accepted. Keep it
    /// below the process's file-descriptor limit. [default: 1024]
    #[arg(long, env = "VCC_PKI_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Connections one source address may hold on a listener at once. [default: 256]
    #[arg(long, env = "VCC_PKI_MAX_CONNECTIONS_PER_SOURCE")]
    max_connections_per_source: Option<usize>,
    /// Close a connection that moves no byte for this long (keep-alive, HTTP/2, unfinished TLS
    /// handshakes), e.g. 60s, 5m; keep it above the 30 s request timeout, or slow requests may
    /// be cut off. [default: 60s]
    #[arg(long, env = "VCC_PKI_IDLE_TIMEOUT")]
    idle_timeout: Option<String>,
    /// Port ACME http-01 validation connects to on the identifier's host. [default: 80]
    #[arg(long, env = "VCC_PKI_ACME_HTTP_PORT")]
    acme_http_port: Option<u16>,
    /// Port ACME tls-alpn-01 validation connects to on the identifier's host. [default: 443]
    #[arg(long, env = "VCC_PKI_ACME_TLS_PORT")]
    acme_tls_port: Option<u16>,
    /// DNS suffixes ACME may issue for (repeatable; default: every name that validates).
    #[arg(long = "acme-allow-dns")]
    acme_allow_dns: Vec<String>,
    /// IP ranges (ADDR/PREFIX) ACME may issue for (repeatable).
    #[arg(long = "acme-allow-ip")]
    acme_allow_ip: Vec<String>,
    /// New ACME accounts per source address per hour. [default: 50]
    #[arg(long)]
    acme_new_accounts_per_hour: Option<u32>,
    /// New ACME orders per account per hour (ARI replacements not counted). [default: 300]
    #[arg(long)]
    acme_new_orders_per_hour: Option<u32>,
    /// Failed ACME validations per account per hour. [default: 60]
    #[arg(long)]
    acme_failed_validations_per_hour: Option<u32>,
    /// ACME newAccount requires an External Account Binding (keys from `vcc-pki acme eab create`).
    #[arg(long, env = "VCC_PKI_ACME_EAB_REQUIRED")]
    acme_eab_required: bool,
    /// DNS server (HOST:PORT) that ACME validation resolves names and reads dns-01 TXT records
    /// through. [default: the system resolver]
    #[arg(long, env = "VCC_PKI_ACME_DNS_RESOLVER")]
    acme_dns_resolver: Option<String>,
    /// How long a new ACME order (and its new authorizations) may stay unfinished: 7d, 12h, 30m
    /// or seconds. [default: 7d]
    #[arg(long, value_parser = crate::commands::acme::parse_duration)]
    acme_order_lifetime: Option<i64>,
    /// How long a valid ACME authorization is reused by the same account's new orders.
    /// [default: 30d]
    #[arg(long, value_parser = crate::commands::acme::parse_duration)]
    acme_authorization_reuse: Option<i64>,
    /// Longest one ACME challenge validation may take. [default: 10s]
    #[arg(long, value_parser = crate::commands::acme::parse_duration)]
    acme_validation_timeout: Option<i64>,
    /// ACME issues wildcard identifiers (`*.example.com`), validated over dns-01 only.
    #[arg(long, env = "VCC_PKI_ACME_ALLOW_WILDCARDS")]
    acme_allow_wildcards: bool,
}

/// The TOML file's keys: the same names as the flags.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    listen: Option<String>,
    database_url: Option<String>,
    ca_password_file: Option<PathBuf>,
    #[serde(default)]
    dns_names: Vec<String>,
    public_url: Option<String>,
    http_port: Option<u16>,
    crl_shards: Option<u32>,
    ui_idle_timeout: Option<String>,
    log_format: Option<String>,
    metrics_listen: Option<String>,
    database_wait: Option<String>,
    tidy_after: Option<String>,
    max_connections: Option<usize>,
    max_connections_per_source: Option<usize>,
    idle_timeout: Option<String>,
    #[serde(default)]
    acme: AcmeFileConfig,
}

/// `[acme]` of the TOML file.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AcmeFileConfig {
    http_port: Option<u16>,
    #[serde(default)]
    allow_dns: Vec<String>,
    #[serde(default)]
    allow_ip: Vec<String>,
    new_accounts_per_hour: Option<u32>,
    new_orders_per_hour: Option<u32>,
    failed_validations_per_hour: Option<u32>,
    eab_required: Option<bool>,
    tls_port: Option<u16>,
    dns_resolver: Option<String>,
    website: Option<String>,
    terms_of_service: Option<String>,
    #[serde(default)]
    caa_identities: Vec<String>,
    allow_wildcards: Option<bool>,
    order_lifetime: Option<String>,
    authorization_reuse: Option<String>,
    validation_timeout: Option<String>,
    /// `[acme.profiles.NAME]`.
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, vcc_pki_acme::ProfileSettings>,
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

pub fn config(args: ServeArgs) -> anyhow::Result<(vcc_pki_server::config::ServeConfig, String)> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("./pki-data"));
    let mut config = vcc_pki_server::config::ServeConfig::new(data_dir);
    config.host = args
        .host
        .or(file.host)
        .unwrap_or_else(|| "127.0.0.1".into());
    config.port = args.port.or(file.port).unwrap_or(8443);
    if let Some(listen) = args.listen.or(file.listen) {
        let (host, port) = listen
            .rsplit_once(':')
            .with_context(|| format!("listen '{listen}' is not host:port"))?;
        config.host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        config.port = port
            .parse()
            .with_context(|| format!("listen '{listen}': bad port"))?;
    }
    if let Some(url) = args.database_url.or(file.database_url) {
        config.database_url = url;
    }
    config.ca_password = match args.ca_password_file.or(file.ca_password_file) {
        Some(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read CA password file {}", path.display()))?,
            );
            Some(Zeroizing::new(
                text.trim_end_matches(['\r', '\n']).to_string(),
            ))
        }
        None => std::env::var("VCC_CA_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new),
    };
    // Read once; keep it out of /proc/<pid>/environ from here on (still single-threaded here).
    std::env::remove_var("VCC_CA_PASSWORD");
    config.dns_names = if args.dns_names.is_empty() {
        file.dns_names
    } else {
        args.dns_names
    };
    config.public_url = args
        .public_url
        .or(file.public_url)
        .map(|u| checked_public_url(&u))
        .transpose()?;
    config.http_port = args.http_port.or(file.http_port);
    if let Some(shards) = args.crl_shards.or(file.crl_shards) {
        anyhow::ensure!(shards <= 4096, "crl_shards must be between 0 and 4096");
        config.crl_shards = shards;
    }
    if let Some(idle) = args.ui_idle_timeout.or(file.ui_idle_timeout) {
        let idle = crate::commands::acme::parse_duration(&idle)
            .map_err(|e| anyhow::anyhow!("ui_idle_timeout: {e}"))?;
        anyhow::ensure!(
            (1..=86_400).contains(&idle),
            "ui_idle_timeout must be between 1s and 24h"
        );
        config.ui_idle_timeout = std::time::Duration::from_secs(idle as u64);
    }
    if let Some(wait) = args.database_wait.or(file.database_wait) {
        let secs = if wait.trim() == "0" {
            0
        } else {
            crate::commands::acme::parse_duration(&wait)
                .map_err(|e| anyhow::anyhow!("database_wait: {e}"))?
        };
        anyhow::ensure!(
            (0..=3600).contains(&secs),
            "database_wait must be between 0 and 1h"
        );
        config.database_wait = std::time::Duration::from_secs(secs as u64);
    }
    if let Some(n) = args.max_connections.or(file.max_connections) {
        anyhow::ensure!(n >= 1, "max_connections must be at least 1");
        config.connection_caps.total = n;
    }
    if let Some(n) = args
        .max_connections_per_source
        .or(file.max_connections_per_source)
    {
        anyhow::ensure!(n >= 1, "max_connections_per_source must be at least 1");
        config.connection_caps.per_source = n;
    }
    if let Some(idle) = args.idle_timeout.or(file.idle_timeout) {
        let secs = crate::commands::acme::parse_duration(&idle)
            .map_err(|e| anyhow::anyhow!("idle_timeout: {e}"))?;
        anyhow::ensure!(
            (1..=3600).contains(&secs),
            "idle_timeout must be between 1s and 1h"
        );
        config.connection_caps.idle = std::time::Duration::from_secs(secs as u64);
    }
    if let Some(after) = args.tidy_after.or(file.tidy_after) {
        let secs = crate::commands::acme::parse_duration(&after)
            .map_err(|e| anyhow::anyhow!("tidy_after: {e}"))?;
        anyhow::ensure!(
            secs >= 86_400,
            "tidy_after must be at least 1d: certificates are kept that long after they expire"
        );
        config.tidy_after = Some(std::time::Duration::from_secs(secs as u64));
    }
    if let Some(listen) = args.metrics_listen.or(file.metrics_listen) {
        config.metrics_listen = Some(listen.parse().with_context(|| {
            format!("--metrics-listen '{listen}' is not IP:PORT (e.g. 127.0.0.1:9443)")
        })?);
    }
    if let Some(port) = args.acme_http_port.or(file.acme.http_port) {
        config.acme.http_port = port;
    }
    if let Some(port) = args.acme_tls_port.or(file.acme.tls_port) {
        config.acme.tls_port = port;
    }
    if let Some(resolver) = args.acme_dns_resolver.or(file.acme.dns_resolver) {
        config.acme.dns_resolver = Some(resolver.parse().with_context(|| {
            format!("--acme-dns-resolver '{resolver}' is not IP:PORT (e.g. 127.0.0.1:8053)")
        })?);
    }
    config.acme.eab_required = args.acme_eab_required || file.acme.eab_required.unwrap_or(false);
    config.acme.allow_wildcards =
        args.acme_allow_wildcards || file.acme.allow_wildcards.unwrap_or(false);
    config.acme.profiles = file.acme.profiles.into_iter().collect();
    let seconds = |flag: Option<i64>, key: Option<&str>, name: &str, range: (i64, i64)| {
        let value = match (flag, key) {
            (Some(s), _) => Some(s),
            (None, Some(text)) => Some(
                crate::commands::acme::parse_duration(text)
                    .map_err(|e| anyhow::anyhow!("[acme] {name}: {e}"))?,
            ),
            (None, None) => None,
        };
        if let Some(s) = value {
            anyhow::ensure!(
                (range.0..=range.1).contains(&s),
                "--acme-{}: between {} and {} seconds",
                name.replace('_', "-"),
                range.0,
                range.1
            );
        }
        anyhow::Ok(value)
    };
    if let Some(s) = seconds(
        args.acme_order_lifetime,
        file.acme.order_lifetime.as_deref(),
        "order_lifetime",
        (60, 30 * 86_400),
    )? {
        config.acme.order_lifetime = time::Duration::seconds(s);
    }
    if let Some(s) = seconds(
        args.acme_authorization_reuse,
        file.acme.authorization_reuse.as_deref(),
        "authorization_reuse",
        (1, 398 * 86_400),
    )? {
        config.acme.authorization_reuse = time::Duration::seconds(s);
    }
    if let Some(s) = seconds(
        args.acme_validation_timeout,
        file.acme.validation_timeout.as_deref(),
        "validation_timeout",
        (1, 120),
    )? {
        config.acme.validation_timeout = std::time::Duration::from_secs(s.unsigned_abs());
    }
    // A bad profile stops here, before the data directory or the database is touched.
    vcc_pki_acme::AcmeProfile::offered(config.acme.validity_days, &config.acme.profiles)
        .map_err(anyhow::Error::msg)?;
    config.acme.allow_dns = if args.acme_allow_dns.is_empty() {
        file.acme.allow_dns
    } else {
        args.acme_allow_dns
    };
    config.acme.allow_ip = if args.acme_allow_ip.is_empty() {
        file.acme.allow_ip
    } else {
        args.acme_allow_ip
    };
    for range in &config.acme.allow_ip {
        vcc_pki_authority::parse_cidr(range)
            .map_err(|e| anyhow::anyhow!("--acme-allow-ip '{range}': {e}"))?;
    }
    let limits = &mut config.acme.rate_limits;
    if let Some(n) = args
        .acme_new_accounts_per_hour
        .or(file.acme.new_accounts_per_hour)
    {
        limits.accounts_per_address = n;
    }
    if let Some(n) = args
        .acme_new_orders_per_hour
        .or(file.acme.new_orders_per_hour)
    {
        limits.orders_per_account = n;
    }
    if let Some(n) = args
        .acme_failed_validations_per_hour
        .or(file.acme.failed_validations_per_hour)
    {
        limits.failed_validations_per_account = n;
    }
    config.acme.website = file.acme.website;
    config.acme.terms_of_service = file.acme.terms_of_service;
    config.acme.caa_identities = file.acme.caa_identities;
    let log_format = args
        .log_format
        .or(file.log_format)
        .unwrap_or_else(|| "text".into());
    anyhow::ensure!(
        log_format == "text" || log_format == "json",
        "--log-format '{log_format}': expected text or json"
    );
    Ok((config, log_format))
}

/// `--public-url`: an absolute http(s) URL without query or fragment; a trailing `/` is dropped.
fn checked_public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .with_context(|| format!("--public-url '{url}' must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty()
        || trimmed.contains(['?', '#', ' '])
        || !trimmed.is_ascii()
        || trimmed.chars().any(|c| c.is_ascii_control())
    {
        anyhow::bail!(
            "--public-url '{url}' is not a usable URL (expected e.g. http://pki.internal:8080)"
        );
    }
    Ok(trimmed.to_string())
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let (config, log_format) = config(args)?;
    init_logging(log_format == "json");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(vcc_pki_server::run(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<vcc_pki_server::config::ServeConfig> {
        let dir = tempfile::tempdir()?;
        let password = dir.path().join("ca-password");
        std::fs::write(&password, "example password\n")?;
        let text = text.replace(
            "/run/credentials/vcc-pki.service/ca-password",
            password.to_str().unwrap_or_default(),
        );
        let file = dir.path().join("config.toml");
        std::fs::write(&file, text)?;
        let args = ServeArgs {
            config: Some(file),
            ..Default::default()
        };
        Ok(config(args)?.0)
    }

    #[test]
    fn the_example_configuration_parses_as_printed_and_with_every_option_set() {
        let printed = parse(crate::commands::config_example::EXAMPLE).unwrap();
        assert_eq!(
            printed.metrics_listen,
            Some("127.0.0.1:9443".parse().unwrap())
        );
        assert_eq!(printed.acme.allow_dns, ["internal"]);
        assert_eq!(
            printed.ca_password.as_deref().map(|p| p.as_str()),
            Some("example password")
        );
        let every = crate::commands::config_example::every_option_set();
        assert!(every.contains("\n[acme.profiles.shortlived]\n"), "{every}");
        let all = parse(&every).unwrap();
        assert_eq!(all.database_url, "postgres://vcc@db.internal/vcc_pki");
        assert_eq!(all.database_wait, std::time::Duration::from_secs(120));
        assert_eq!(
            all.tidy_after,
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        assert_eq!(all.acme.allow_ip, ["10.0.0.0/8"]);
        assert_eq!(
            all.acme.validation_timeout,
            std::time::Duration::from_secs(10)
        );
        assert!(all
            .acme
            .profiles
            .iter()
            .any(|(name, _)| name == "shortlived"));
        // Every option the file format knows is in the example (deny_unknown_fields checks the
        // other direction): each key of FileConfig and [acme] appears as `key =`.
        for key in [
            "data_dir",
            "host",
            "port",
            "listen",
            "database_url",
            "database_wait",
            "tidy_after",
            "max_connections",
            "max_connections_per_source",
            "idle_timeout",
            "ca_password_file",
            "dns_names",
            "public_url",
            "http_port",
            "crl_shards",
            "ui_idle_timeout",
            "log_format",
            "metrics_listen",
            "http_port",
            "tls_port",
            "dns_resolver",
            "allow_dns",
            "allow_ip",
            "eab_required",
            "allow_wildcards",
            "new_accounts_per_hour",
            "new_orders_per_hour",
            "failed_validations_per_hour",
            "order_lifetime",
            "authorization_reuse",
            "validation_timeout",
            "website",
            "terms_of_service",
            "caa_identities",
        ] {
            assert!(
                every.contains(&format!("\n{key} = ")),
                "{key} missing from the example"
            );
        }
        // A typo is refused, not ignored.
        assert!(parse(&format!("{every}\nmetrics_listn = \"x\"\n")).is_err());
    }
}
