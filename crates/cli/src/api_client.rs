//! HTTPS client for the admin CLI: finds the server, the token and the trust anchor, and turns
//! every failure into one readable line with the next step.
use anyhow::anyhow;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct Connection {
    pub server: String,
    pub token: Option<String>,
    pub ca_bundle: Option<PathBuf>,
    pub no_verify_ssl: bool,
    pub data_dir: PathBuf,
}

/// A failed call, already phrased for the operator.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " — {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

fn cli_error(message: impl Into<String>, hint: Option<&str>) -> anyhow::Error {
    anyhow::Error::new(CliError {
        message: message.into(),
        hint: hint.map(str::to_string),
    })
}

/// The user's config dir for `bootstrap` (trust anchor and server URL of a remote CA).
pub fn config_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|p| p.join("vcc-pki"))
}

pub struct ApiClient {
    conn: Connection,
    http: reqwest::Client,
}

fn read_pem_certs(path: &Path) -> anyhow::Result<Vec<reqwest::Certificate>> {
    let pem = std::fs::read(path).map_err(|e| {
        cli_error(
            format!("cannot read CA bundle {}: {e}", path.display()),
            None,
        )
    })?;
    reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        cli_error(
            format!("CA bundle {} is not PEM: {e}", path.display()),
            None,
        )
    })
}

/// The PEM files whose certificates the CLI trusts: `--ca-bundle`, else those of the local data dir
/// (root CA, bootstrap self-signed certificate), else what `vcc-pki bootstrap` saved. Empty: the
/// system roots.
pub fn trust_anchor_files(conn: &Connection) -> Vec<PathBuf> {
    if let Some(bundle) = &conn.ca_bundle {
        return vec![bundle.clone()];
    }
    let local: Vec<PathBuf> = [
        conn.data_dir.join("root.crt"),
        conn.data_dir.join("tls").join("self-signed.pem"),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    if !local.is_empty() {
        return local;
    }
    config_dir()
        .map(|d| d.join("ca.pem"))
        .filter(|p| p.exists())
        .into_iter()
        .collect()
}

/// A reqwest builder that trusts what the CLI trusts: `--ca-bundle`, else the local data dir (root
/// CA and the bootstrap self-signed certificate), else what `vcc-pki bootstrap` saved, else the
/// system roots. (`bench` trusts the same files, without the system roots.)
pub fn trusted_builder(conn: &Connection) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if conn.no_verify_ssl {
        return Ok(builder.tls_danger_accept_invalid_certs(true));
    }
    let mut anchors = Vec::new();
    for path in trust_anchor_files(conn) {
        anchors.extend(read_pem_certs(&path)?);
    }
    if !anchors.is_empty() {
        builder = builder.tls_certs_only(anchors);
    }
    Ok(builder)
}

/// `--token`, else <data-dir>/admin.token on the server's host, else what `bootstrap` saved.
pub fn resolve_token(conn: &Connection) -> Option<String> {
    conn.token
        .clone()
        .or_else(|| std::fs::read_to_string(conn.data_dir.join("admin.token")).ok())
        .or_else(|| config_dir().and_then(|d| std::fs::read_to_string(d.join("token")).ok()))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl ApiClient {
    pub fn new(mut conn: Connection) -> anyhow::Result<Self> {
        let builder = trusted_builder(&conn)?.timeout(Duration::from_secs(120));
        conn.token = resolve_token(&conn);
        let http = builder
            .build()
            .map_err(|e| anyhow!("cannot build HTTPS client: {e}"))?;
        Ok(Self { conn, http })
    }

    pub fn token(&self) -> Option<&str> {
        self.conn.token.as_deref()
    }

    pub fn server(&self) -> &str {
        &self.conn.server
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// POST a typed request body (vcc-pki-proto).
    pub async fn send_request(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> anyhow::Result<Value> {
        let body = serde_json::to_value(body).map_err(|e| anyhow!("encoding the request: {e}"))?;
        self.post(path, body).await
    }

    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let resp = self.send(reqwest::Method::GET, path, None).await?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| anyhow!("reading response: {e}"))?;
        if !status.is_success() {
            return Err(problem_error(status.as_u16(), &bytes));
        }
        Ok(bytes.to_vec())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{}", self.conn.server.trim_end_matches('/'), path);
        let mut req = self.http.request(method, &url);
        if let Some(t) = &self.conn.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.map_err(|e| self.transport_error(e))
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| anyhow!("reading response: {e}"))?;
        if !status.is_success() {
            return Err(problem_error(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| anyhow!("server sent invalid JSON: {e}"))
    }

    pub fn transport_error(&self, e: reqwest::Error) -> anyhow::Error {
        let chain = error_chain(&e);
        let server = &self.conn.server;
        if chain.contains("certificate")
            || chain.contains("UnknownIssuer")
            || chain.contains("invalid peer")
            || chain.contains("NotValidForName")
        {
            cli_error(
                format!("TLS trust failure talking to {server}: {}", last_cause(&chain)),
                Some("pass --ca-bundle FILE (the CA's root.crt), or run `vcc-pki bootstrap --server URL --fingerprint SHA256`"),
            )
        } else if e.is_connect()
            || chain.contains("Connection refused")
            || chain.contains("dns error")
        {
            cli_error(
                format!("cannot reach the VCC PKI server at {server}"),
                Some("is it running? start it with `vcc-pki serve`, or point --server / VCC_PKI_SERVER at it"),
            )
        } else if e.is_timeout() {
            cli_error(
                format!("the server at {server} did not answer in time"),
                None,
            )
        } else {
            cli_error(
                format!("request to {server} failed: {}", last_cause(&chain)),
                None,
            )
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn last_cause(chain: &str) -> &str {
    chain.rsplit(": ").next().unwrap_or(chain)
}

fn problem_error(status: u16, body: &[u8]) -> anyhow::Error {
    let problem: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = problem
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let title = problem
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = if detail.is_empty() {
        format!("server refused ({status} {title})")
    } else {
        format!("{detail} ({status})")
    };
    let hint = match status {
        401 => Some("check the admin token: --token, VCC_PKI_TOKEN, or <data-dir>/admin.token on the server's host"),
        403 => Some("this token or certificate is not allowed to do that"),
        503 if problem.get("type").and_then(Value::as_str).is_some_and(|t| t.ends_with("ca-sealed")) => {
            Some("unlock the CA: restart the server with VCC_CA_PASSWORD, or `vcc-pki ca unlock`")
        }
        _ => None,
    };
    cli_error(message, hint)
}
