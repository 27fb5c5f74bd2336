//! `vcc-pki config example`: a TOML file with every option `serve --config` takes, each with
//! what it does and its default. Lines starting `# key =` are defaults left commented out; the
//! uncommented ones are what a production install usually sets. A test uncomments every line
//! and parses the result with the same code `serve` uses, so no key here can drift.

pub const EXAMPLE: &str = r#"# VCC PKI server configuration: vcc-pki serve --config /etc/vcc-pki/config.toml
# Precedence: command-line flags, then environment (VCC_PKI_*), then this file, then the defaults.
# Unknown keys are an error. Durations: 90d, 12h, 30m, 45s or plain seconds.

# Database, admin token, trust anchors, TLS state; created 0700.
data_dir = "/var/lib/vcc-pki"

# HTTPS listener (REST API, ACME, dashboard, OCSP, CRL). `listen` overrides host and port.
host = "0.0.0.0"
# port = 8443
# listen = "0.0.0.0:8443"

# sqlite://DATA_DIR/pki.db when unset; postgres://user:password@host/db for replicas (docs/HA.md).
# Prefer VCC_PKI_DATABASE_URL in the environment (or a credential) to a password in this file.
# database_url = "postgres://vcc@db.internal/vcc_pki"
# How long start-up waits for a PostgreSQL server that does not answer yet ("0": fail at once).
# database_wait = "2m"
# Tidy what has been dead this long (hourly, audited): expired certificates lose their DER (the
# rows, serials and audit rows stay), old CRLs, expired ACME orders, expired enrollment tokens.
# tidy_after = "90d"

# Connections each listener (HTTPS, plain HTTP, metrics: at most 64) takes at once, and from one
# source address; more are closed as soon as accepted. Keep below the file-descriptor limit.
# max_connections = 1024
# max_connections_per_source = 256
# A connection that moves no byte this long is closed (keep-alive, HTTP/2, unfinished handshakes).
# idle_timeout = "60s"

# The CA password, read from a file (systemd: LoadCredential). Else VCC_CA_PASSWORD; without
# either the CA starts sealed and an admin unlocks it (POST /api/ca/unlock).
ca_password_file = "/run/credentials/vcc-pki.service/ca-password"

# Extra DNS names for the server's own TLS certificate.
dns_names = ["pki.internal"]

# Base URL certificates name in AIA ({URL}/ocsp, {URL}/ca/intermediate.crt) and CRL distribution
# points ({URL}/crl/{shard}); relying parties fetch these over plain HTTP.
public_url = "http://pki.internal"
# Plain-HTTP listener serving only /ocsp, /crl, /ca/*.crt and the probes.
http_port = 80
# CRL shards new certificates are spread over when public_url is set (0: one CRL).
# crl_shards = 16

# A dashboard session ends after this long without a request (1s to 24h).
# ui_idle_timeout = "15m"

# Log format on stderr: text or json (one line per request; level from VCC_PKI_LOG).
log_format = "json"
# Prometheus /metrics (no authentication), /healthz and /readyz over plain HTTP: bind it to a
# private network or loopback.
metrics_listen = "127.0.0.1:9443"

[acme]
# Ports ACME validation connects to on the identifier's host.
# http_port = 80
# tls_port = 443
# DNS server (IP:PORT) every validation resolves names and dns-01 TXT records through.
# dns_resolver = "10.0.0.53:53"
# What ACME may issue: DNS suffixes and IP ranges (default: every name that validates).
allow_dns = ["internal"]
# allow_ip = ["10.0.0.0/8"]
# newAccount needs an External Account Binding (keys from `vcc-pki acme eab create`).
# eab_required = false
# Issue *.name identifiers, validated over dns-01 only.
# allow_wildcards = false
# Rate limits.
# new_accounts_per_hour = 50
# new_orders_per_hour = 300
# failed_validations_per_hour = 60
# Lifetimes: an unfinished order; reuse of a valid authorization; one validation.
# order_lifetime = "7d"
# authorization_reuse = "30d"
# validation_timeout = "10s"
# Directory meta.
# website = "https://wiki.internal/pki"
# terms_of_service = "https://wiki.internal/pki/terms"
# caa_identities = ["pki.internal"]

# One table per extra ACME profile (clients ask for it by name; the built-ins are classic and
# tlsserver).
# [acme.profiles.shortlived]
# description = "7-day certificates for workloads that renew daily"
# certificate = "server"        # server, client, server_client or tlsserver
# validity_days = 7
# identifiers = ["dns"]         # dns, ip
# max_names = 10
# common_name = false
"#;

/// Every line of the example with its leading `# ` removed where that leaves a `key = value` or
/// a table header: the file with every option set.
#[cfg(test)]
pub fn every_option_set() -> String {
    EXAMPLE
        .lines()
        .map(|line| {
            let rest = line.strip_prefix("# ").unwrap_or(line);
            let key_value = rest.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            });
            if line.starts_with("# ") && (key_value || rest.starts_with("[acme.")) {
                rest.split("  #")
                    .next()
                    .unwrap_or(rest)
                    .trim_end()
                    .to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
