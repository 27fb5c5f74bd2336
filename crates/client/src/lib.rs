//! Rust client of VCC PKI (SPEC §8): a service gets its certificate (key made here, only a CSR
//! travels), renews it over mTLS in the background, and hands out rustls configurations that pick
//! up the renewed certificate and the latest CRL on the next handshake.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vcc_pki_client::ClientError> {
//! use vcc_pki_client::{ClientOptions, PkiClient, RenewalPolicy};
//! let pki = PkiClient::new(ClientOptions::new("https://pki.internal:8443", "billing")
//!     .token("vccenr_…")
//!     .ca_bundle("/etc/vcc-pki/root.crt"))?;
//! if pki.current_serial().is_none() {
//!     pki.request_certificate("billing.internal", &["billing"], &[]).await?;
//! }
//! let _renewal = pki.enable_auto_renewal(RenewalPolicy::default());
//! let server_tls = pki.server_config()?;   // hand to axum-server / tokio-rustls
//! # Ok(()) }
//! ```
mod admin;
mod error;
mod renewal;
mod storage;
mod tls;

pub use admin::{AdminClient, AdminError, AdminResult, ServerTrust};
pub use error::{ClientError, Result};
pub use renewal::{AutoRenewal, RenewalPolicy};
pub use storage::{Storage, StoredIdentity};
pub use tls::LiveTls;

use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Key algorithm for keys made on the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyAlgorithm {
    #[default]
    EcdsaP256,
    Rsa2048,
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub server_url: String,
    pub service_id: String,
    /// Enrollment token (first certificate) or admin token.
    pub token: Option<String>,
    /// PEM file of the CA to trust for the server; else the stored chain, else the system roots.
    pub ca_bundle: Option<PathBuf>,
    pub storage_dir: PathBuf,
    pub key_algorithm: KeyAlgorithm,
    pub timeout: Duration,
}

impl ClientOptions {
    pub fn new(server_url: impl Into<String>, service_id: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into().trim_end_matches('/').to_string(),
            service_id: service_id.into(),
            token: None,
            ca_bundle: None,
            storage_dir: PathBuf::from("pki_client"),
            key_algorithm: KeyAlgorithm::default(),
            timeout: Duration::from_secs(30),
        }
    }
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }
    pub fn storage_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.storage_dir = dir.into();
        self
    }
    pub fn key_algorithm(mut self, alg: KeyAlgorithm) -> Self {
        self.key_algorithm = alg;
        self
    }
}

/// What the server says about an issued certificate.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CertificateInfo {
    pub service_id: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    pub fingerprint_sha256: String,
    #[serde(default)]
    pub san_dns: Vec<String>,
    #[serde(default)]
    pub san_ip: Vec<String>,
}

struct Inner {
    options: ClientOptions,
    storage: Storage,
    tls: Arc<LiveTls>,
}

/// Handle on one service's PKI identity. Cheap to clone.
#[derive(Clone)]
pub struct PkiClient {
    inner: Arc<Inner>,
}

impl PkiClient {
    /// Create the client and load a certificate stored by an earlier run, if any.
    pub fn new(options: ClientOptions) -> Result<Self> {
        let storage = Storage::new(&options.storage_dir, &options.service_id);
        let tls = LiveTls::new();
        if let Some(stored) = storage.load() {
            tls.set_identity(
                &stored.certificate_pem,
                &stored.ca_chain_pem,
                &stored.key_pem,
            )?;
            tls.set_trust(&stored.ca_chain_pem, None)?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                storage,
                tls,
            }),
        })
    }

    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    pub fn live_tls(&self) -> Arc<LiveTls> {
        self.inner.tls.clone()
    }

    /// Serial of the stored certificate (lower-case hex), if any.
    pub fn current_serial(&self) -> Option<String> {
        let stored = self.inner.storage.load()?;
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(stored.certificate_pem.as_bytes())
                .ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        Some(serial_hex(cert.raw_serial()))
    }

    /// (not_before, not_after) of the stored certificate.
    pub fn current_validity(&self) -> Option<(time::OffsetDateTime, time::OffsetDateTime)> {
        let stored = self.inner.storage.load()?;
        let der =
            rustls::pki_types::CertificateDer::from_pem_slice(stored.certificate_pem.as_bytes())
                .ok()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        Some((
            cert.validity().not_before.to_datetime(),
            cert.validity().not_after.to_datetime(),
        ))
    }

    /// Make a key here, send a CSR with the token, store the result (key 0600) and install it.
    pub async fn request_certificate(
        &self,
        common_name: &str,
        san_dns: &[&str],
        san_ip: &[&str],
    ) -> Result<CertificateInfo> {
        let key = match self.inner.options.key_algorithm {
            KeyAlgorithm::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeyAlgorithm::Rsa2048 => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
        }
        .map_err(|e| ClientError::Certificate(format!("key generation: {e}")))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| ClientError::Certificate(e.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let csr = params
            .serialize_request(&key)
            .and_then(|c| c.pem())
            .map_err(|e| ClientError::Certificate(e.to_string()))?;
        let body = serde_json::to_value(vcc_pki_proto::IssueRequest {
            service_id: self.inner.options.service_id.clone(),
            common_name: common_name.to_string(),
            san_dns: san_dns.iter().map(|s| s.to_string()).collect(),
            san_ip: san_ip.iter().map(|s| s.to_string()).collect(),
            csr_pem: Some(csr),
            ..Default::default()
        })
        .map_err(|e| ClientError::Certificate(e.to_string()))?;
        let token = self
            .inner
            .options
            .token
            .clone()
            .ok_or_else(|| ClientError::Auth {
                status: 401,
                detail: "request_certificate needs an enrollment or admin token".into(),
            })?;
        let issued = self
            .call(
                reqwest::Method::POST,
                "/api/certificates/issue",
                Some(body),
                Some(&token),
                false,
            )
            .await?;
        self.store_issued(&issued, Zeroizing::new(key.serialize_pem()))
    }

    /// Renew over mTLS with the current certificate: same key, new serial. Installed on success.
    pub async fn renew_certificate(&self) -> Result<CertificateInfo> {
        let stored = self
            .inner
            .storage
            .load()
            .ok_or_else(|| ClientError::NoCertificate(self.inner.options.service_id.clone()))?;
        let issued = self
            .call(
                reqwest::Method::POST,
                "/api/certificates/renew",
                None,
                None,
                true,
            )
            .await?;
        self.store_issued(&issued, stored.key_pem)
    }

    /// The server's record of the current certificate (status, days left, …), over mTLS.
    pub async fn get_certificate_info(&self) -> Result<Value> {
        let path = format!("/api/certificates/{}", self.inner.options.service_id);
        self.call(reqwest::Method::GET, &path, None, None, true)
            .await
    }

    /// Register the service (with an admin token; returns its enrollment token) or, once it has a
    /// certificate, update its own name and endpoints over mTLS.
    pub async fn register_service(&self, service_name: &str, endpoints: &[&str]) -> Result<Value> {
        self.register_service_allowing(service_name, endpoints, &[], &[])
            .await
    }

    /// As `register_service`, naming the DNS names and IPs the service may get (admin token only).
    pub async fn register_service_allowing(
        &self,
        service_name: &str,
        endpoints: &[&str],
        allowed_dns: &[&str],
        allowed_ip: &[&str],
    ) -> Result<Value> {
        let body = serde_json::to_value(vcc_pki_proto::RegisterRequest {
            service_id: self.inner.options.service_id.clone(),
            service_name: service_name.to_string(),
            endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
            allowed_dns: allowed_dns.iter().map(|s| s.to_string()).collect(),
            allowed_ip: allowed_ip.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
        .map_err(|e| ClientError::Certificate(e.to_string()))?;
        if self.inner.tls.has_identity() {
            self.call(
                reqwest::Method::POST,
                "/api/services/register",
                Some(body),
                None,
                true,
            )
            .await
        } else {
            let token = self.inner.options.token.clone();
            self.call(
                reqwest::Method::POST,
                "/api/services/register",
                Some(body),
                token.as_deref(),
                false,
            )
            .await
        }
    }

    /// Fetch the CA chain and the latest CRL and use them to verify peers from now on.
    pub async fn refresh_revocation(&self) -> Result<()> {
        let stored = self
            .inner
            .storage
            .load()
            .ok_or_else(|| ClientError::NoCertificate(self.inner.options.service_id.clone()))?;
        let crl = self.get_bytes("/crl").await?;
        self.inner
            .tls
            .set_trust(&stored.ca_chain_pem, Some(vec![crl]))
    }

    /// rustls server config for mTLS (client certificates required, checked against the CA and CRL).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        Ok(Arc::new(self.inner.tls.server_config()?))
    }

    /// rustls client config for mTLS (presents the service certificate, verifies the server).
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>> {
        Ok(Arc::new(self.inner.tls.client_config()?))
    }

    /// Start background renewal; it stops when the returned handle is dropped or stopped.
    pub fn enable_auto_renewal(&self, policy: RenewalPolicy) -> AutoRenewal {
        renewal::spawn(self.clone(), policy)
    }

    fn store_issued(&self, issued: &Value, key_pem: Zeroizing<String>) -> Result<CertificateInfo> {
        let text = |k: &str| issued.get(k).and_then(Value::as_str).map(str::to_string);
        let identity = StoredIdentity {
            certificate_pem: text("certificate_pem")
                .ok_or_else(|| ClientError::Certificate("response has no certificate".into()))?,
            key_pem,
            ca_chain_pem: text("ca_chain_pem")
                .ok_or_else(|| ClientError::Certificate("response has no CA chain".into()))?,
        };
        // Install first: a certificate that does not match the key is refused before anything is written.
        self.inner.tls.set_identity(
            &identity.certificate_pem,
            &identity.ca_chain_pem,
            &identity.key_pem,
        )?;
        self.inner.storage.save(&identity)?;
        self.inner.tls.set_trust(&identity.ca_chain_pem, None)?;
        serde_json::from_value(issued.clone())
            .map_err(|e| ClientError::Certificate(format!("unexpected response: {e}")))
    }

    fn http(&self, mtls: bool) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().timeout(self.inner.options.timeout);
        let anchors = match &self.inner.options.ca_bundle {
            Some(path) => Some(std::fs::read(path)?),
            None => self
                .inner
                .storage
                .load()
                .map(|s| s.ca_chain_pem.into_bytes()),
        };
        if let Some(pem) = anchors {
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ClientError::Certificate(e.to_string()))?;
            builder = builder.tls_certs_only(certs);
        }
        if mtls {
            let stored =
                self.inner.storage.load().ok_or_else(|| {
                    ClientError::NoCertificate(self.inner.options.service_id.clone())
                })?;
            let identity = reqwest::Identity::from_pem(
                format!("{}{}", stored.certificate_pem, stored.key_pem.as_str()).as_bytes(),
            )
            .map_err(|e| ClientError::Certificate(e.to_string()))?;
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|e| ClientError::Certificate(e.to_string()))
    }

    async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let url = format!("{}{}", self.inner.options.server_url, path);
        let resp = self
            .http(false)?
            .get(&url)
            .send()
            .await
            .map_err(|e| connection(&url, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| connection(&url, e))?;
        if status >= 400 {
            return Err(problem(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        mtls: bool,
    ) -> Result<Value> {
        let url = format!("{}{}", self.inner.options.server_url, path);
        let mut req = self.http(mtls)?.request(method, &url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| connection(&url, e))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| connection(&url, e))?;
        if status >= 400 {
            return Err(problem(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Server {
            status,
            detail: format!("invalid JSON: {e}"),
        })
    }
}

fn connection(url: &str, e: reqwest::Error) -> ClientError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    ClientError::Connection {
        url: url.to_string(),
        detail,
    }
}

fn problem(status: u16, body: &[u8]) -> ClientError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = v
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match status {
        401 | 403 => ClientError::Auth { status, detail },
        404 => ClientError::NotFound(detail),
        _ => ClientError::Server { status, detail },
    }
}

fn serial_hex(raw: &[u8]) -> String {
    let trimmed: Vec<u8> = raw.iter().copied().skip_while(|b| *b == 0).collect();
    trimmed.iter().map(|b| format!("{b:02x}")).collect()
}

use rustls::pki_types::pem::PemObject;
