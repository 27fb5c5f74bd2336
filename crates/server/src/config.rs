//! Server configuration (SPEC §2). The CLI fills it from flags, environment and a TOML file.
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct ServeConfig {
    pub data_dir: PathBuf,
    pub host: String,
    /// 0 picks a free port; the bound address is printed on stdout.
    pub port: u16,
    pub database_url: String,
    pub ca_password: Option<Zeroizing<String>>,
    /// Extra DNS names for the server's own TLS certificate.
    pub dns_names: Vec<String>,
    /// Base URL certificates name in AIA and CRL distribution points.
    pub public_url: Option<String>,
    /// Port of the plain-HTTP listener serving only /ocsp, /crl and /ca/*.crt (0 picks a free
    /// port and prints it); None: no plain-HTTP listener.
    pub http_port: Option<u16>,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Longest a request may take, seconds.
    pub request_timeout_secs: u64,
    /// CRL shards new certificates are spread over when a public URL is set (0: one CRL).
    pub crl_shards: u32,
    /// ACME (SPEC §9): validation ports, lifetimes, directory meta.
    pub acme: vcc_pki_acme::AcmeConfig,
    /// A dashboard session ends after this long without a request (SPEC §11).
    pub ui_idle_timeout: std::time::Duration,
    /// Plain-HTTP listener for /metrics, /healthz and /readyz (SPEC §10), if set.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long start-up waits for a PostgreSQL server that does not answer yet.
    pub database_wait: std::time::Duration,
    /// Connections each listener takes at once, in all and from one source address.
    pub connection_caps: crate::connections::Caps,
    /// Tidy (SPEC §10) what has been dead this long; `None`: off.
    pub tidy_after: Option<std::time::Duration>,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("data_dir", &self.data_dir)
            .field("host", &self.host)
            .field("port", &self.port)
            .field(
                "database_url",
                &vcc_pki_store::redacted_url(&self.database_url),
            )
            .field("ca_password", &self.ca_password.as_ref().map(|_| "[set]"))
            .field("dns_names", &self.dns_names)
            .field("public_url", &self.public_url)
            .field("http_port", &self.http_port)
            .field("crl_shards", &self.crl_shards)
            .field("acme", &self.acme)
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

impl ServeConfig {
    /// The part of the configuration the authority needs.
    pub fn authority(&self) -> vcc_pki_authority::AuthorityConfig {
        vcc_pki_authority::AuthorityConfig {
            data_dir: self.data_dir.clone(),
            host: self.host.clone(),
            ca_password: self.ca_password.clone(),
            dns_names: self.dns_names.clone(),
            public_url: self.public_url.clone(),
            crl_shards: self.crl_shards,
        }
    }

    pub fn new(data_dir: PathBuf) -> Self {
        let database_url = format!("sqlite://{}", data_dir.join("pki.db").display());
        Self {
            data_dir,
            host: "127.0.0.1".into(),
            port: 8443,
            database_url,
            ca_password: None,
            dns_names: Vec::new(),
            public_url: None,
            http_port: None,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 30,
            crl_shards: 16,
            acme: vcc_pki_acme::AcmeConfig::default(),
            ui_idle_timeout: std::time::Duration::from_secs(15 * 60),
            metrics_listen: None,
            database_wait: vcc_pki_store::DEFAULT_DATABASE_WAIT,
            tidy_after: None,
            connection_caps: crate::connections::Caps {
                total: 1024,
                per_source: 256,
                idle: std::time::Duration::from_secs(60),
            },
        }
    }
}
