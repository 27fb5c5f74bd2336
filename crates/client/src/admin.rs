//! The typed admin client of the REST API: each call takes and returns the wire types of
//! `vcc-pki-proto`, so a field the server renames breaks the build of every caller (the bench, the
//! test kit) instead of a `json!` body at run time. Errors keep the server's problem document.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vcc_pki_client::AdminError> {
//! use vcc_pki_client::{AdminClient, ServerTrust};
//! use vcc_pki_proto::CaCreateRequest;
//! let admin = AdminClient::new(
//!     "https://pki.internal:8443",
//!     "vccadm_…",
//!     ServerTrust::PemFile("/var/lib/vcc-pki/root.crt".into()),
//! )?;
//! let root = admin
//!     .create_root(&CaCreateRequest { common_name: "Root".into(), ..Default::default() })
//!     .await?;
//! println!("{}", root.serial_number);
//! # Ok(()) }
//! ```
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use vcc_pki_proto as proto;

/// Which certificate the client accepts from the server.
#[derive(Debug, Clone)]
pub enum ServerTrust {
    /// Certificates chaining to the CA certificates in this PEM file (the root CA).
    PemFile(PathBuf),
    /// Certificates chaining to these PEM certificates.
    Pem(Vec<u8>),
    /// The system's roots.
    System,
    /// Any certificate: only for the server's self-signed bootstrap certificate, before a CA
    /// exists, and only to a loopback address (`localhost`, `127.0.0.0/8`, `::1`: tests,
    /// benchmarks, a server set up on this host); any other URL is refused, since the admin
    /// token would travel to whoever answers.
    AnyBootstrap,
}

/// A failed admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("{}: {}", .0.title, .0.detail)]
    Problem(proto::Problem),
    #[error("HTTP {status}: {body}")]
    Unexpected { status: u16, body: String },
    #[error("the answer does not parse: {0}")]
    Decode(String),
    #[error("{0}")]
    Config(String),
}

impl AdminError {
    /// The HTTP status of a refused call.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Problem(p) => Some(p.status),
            Self::Unexpected { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// An admin (bearer token) client of one server.
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    /// `None`: the public endpoints only (CA info, CRL).
    token: Option<String>,
    http: reqwest::Client,
}

impl AdminClient {
    pub fn new(
        server_url: impl Into<String>,
        token: impl Into<String>,
        trust: ServerTrust,
    ) -> AdminResult<Self> {
        let server_url = server_url.into();
        let http = Self::http_client(&server_url, trust)?;
        Ok(Self::with_http(server_url, token, http))
    }

    /// Without a token: for the public endpoints (CA info, CRL).
    pub fn anonymous(server_url: impl Into<String>, trust: ServerTrust) -> AdminResult<Self> {
        let server_url = server_url.into();
        let http = Self::http_client(&server_url, trust)?;
        let mut client = Self::with_http(server_url, "", http);
        client.token = None;
        Ok(client)
    }

    fn http_client(server_url: &str, trust: ServerTrust) -> AdminResult<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10));
        let pem = match trust {
            ServerTrust::PemFile(path) => {
                Some(std::fs::read(&path).map_err(|e| {
                    AdminError::Config(format!("cannot read {}: {e}", path.display()))
                })?)
            }
            ServerTrust::Pem(pem) => Some(pem),
            ServerTrust::System => None,
            ServerTrust::AnyBootstrap => {
                if !is_loopback(server_url) {
                    return Err(AdminError::Config(format!(
                            "{server_url}: an unverified (bootstrap) connection is only made to a loopback address"
                        )));
                }
                builder = builder.tls_danger_accept_invalid_certs(true);
                None
            }
        };
        if let Some(pem) = pem {
            builder = builder.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|e| AdminError::Config(format!("not PEM certificates: {e}")))?,
            );
        }
        Ok(builder.build()?)
    }

    /// Over a client the caller built (its own TLS settings, timeouts, proxies).
    pub fn with_http(
        server_url: impl Into<String>,
        token: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            base: server_url.into().trim_end_matches('/').to_string(),
            token: Some(token.into()),
            http,
        }
    }

    pub fn server_url(&self) -> &str {
        &self.base
    }

    pub async fn create_root(
        &self,
        request: &proto::CaCreateRequest,
    ) -> AdminResult<proto::CaCreated> {
        self.post("/api/ca/root", request).await
    }

    pub async fn create_intermediate(
        &self,
        request: &proto::CaCreateRequest,
    ) -> AdminResult<proto::CaCreated> {
        self.post("/api/ca/intermediate", request).await
    }

    pub async fn ca_info(&self) -> AdminResult<proto::CaInfo> {
        self.get("/api/ca/info").await
    }

    pub async fn issue(
        &self,
        request: &proto::IssueRequest,
    ) -> AdminResult<proto::IssuedCertificate> {
        self.post("/api/certificates/issue", request).await
    }

    pub async fn renew(
        &self,
        request: &proto::RenewRequest,
    ) -> AdminResult<proto::IssuedCertificate> {
        self.post("/api/certificates/renew", request).await
    }

    pub async fn revoke(
        &self,
        request: &proto::RevokeRequest,
    ) -> AdminResult<proto::RevokeResponse> {
        self.post("/api/certificates/revoke", request).await
    }

    /// A service's current certificate.
    pub async fn current_certificate(
        &self,
        service_id: &str,
    ) -> AdminResult<proto::CurrentCertificate> {
        self.get(&format!("/api/certificates/{}", path_segment(service_id)?))
            .await
    }

    pub async fn list_certificates(
        &self,
        query: &proto::CertificateListQuery,
    ) -> AdminResult<proto::CertificateList> {
        let query = serde_urlencoded(query)?;
        self.get(&format!("/api/certificates?{query}")).await
    }

    pub async fn register_service(
        &self,
        request: &proto::RegisterRequest,
    ) -> AdminResult<proto::Registered> {
        self.post("/api/services/register", request).await
    }

    pub async fn service(&self, service_id: &str) -> AdminResult<proto::Service> {
        self.get(&format!("/api/services/{}", path_segment(service_id)?))
            .await
    }

    pub async fn create_token(
        &self,
        request: &proto::CreateTokenRequest,
    ) -> AdminResult<proto::TokenCreated> {
        self.post("/api/tokens", request).await
    }

    pub async fn generate_crl(&self) -> AdminResult<proto::CrlInfo> {
        self.post("/api/crl/generate", &serde_json::json!({})).await
    }

    pub async fn crl_info(&self) -> AdminResult<proto::CrlInfo> {
        self.get("/api/crl/info").await
    }

    pub async fn verify_audit(&self) -> AdminResult<proto::AuditVerification> {
        self.get("/api/audit/verify").await
    }

    /// The health report (free-form: its sections grow with the server).
    pub async fn health(&self) -> AdminResult<serde_json::Value> {
        self.get("/api/health").await
    }

    /// The complete CRL, DER.
    pub async fn crl_der(&self) -> AdminResult<Vec<u8>> {
        let response = self.http.get(format!("{}/crl", self.base)).send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        if status != 200 {
            return Err(refusal(status, &body));
        }
        Ok(body.to_vec())
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> AdminResult<T> {
        let request = self.http.get(format!("{}{path}", self.base));
        self.send(request).await
    }

    async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> AdminResult<T> {
        let request = self.http.post(format!("{}{path}", self.base)).json(body);
        self.send(request).await
    }

    async fn send<T: DeserializeOwned>(&self, request: reqwest::RequestBuilder) -> AdminResult<T> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        if !(200..300).contains(&status) {
            return Err(refusal(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| AdminError::Decode(e.to_string()))
    }
}

/// The problem document of a refused call, else its text.
fn refusal(status: u16, body: &[u8]) -> AdminError {
    match serde_json::from_slice::<proto::Problem>(body) {
        Ok(problem) => AdminError::Problem(problem),
        Err(_) => AdminError::Unexpected {
            status,
            body: String::from_utf8_lossy(body).chars().take(500).collect(),
        },
    }
}

/// One path segment: unreserved characters (RFC 3986) as they are, anything else
/// percent-encoded. Empty, `.` and `..` are refused: URL normalisation would turn them into
/// another path.
fn path_segment(s: &str) -> AdminResult<String> {
    if s.is_empty() || s == "." || s == ".." {
        return Err(AdminError::Config(format!("'{s}' is not a path segment")));
    }
    Ok(percent_encode(s))
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Whether the URL's host is a loopback name or address.
fn is_loopback(server_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(server_url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A query string of a flat serialisable struct (absent fields left out).
fn serde_urlencoded<Q: Serialize>(query: &Q) -> AdminResult<String> {
    let value = serde_json::to_value(query).map_err(|e| AdminError::Decode(e.to_string()))?;
    let serde_json::Value::Object(fields) = value else {
        return Err(AdminError::Decode("a query is a flat object".into()));
    };
    Ok(fields
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(format!("{k}={}", percent_encode(&s))),
            other => Some(format!("{k}={other}")),
        })
        .collect::<Vec<_>>()
        .join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_segments_are_encoded() {
        let q = proto::CertificateListQuery {
            status: Some("revoked".into()),
            limit: Some(5),
            ..Default::default()
        };
        let s = serde_urlencoded(&q).unwrap();
        assert!(s.contains("status=revoked") && s.contains("limit=5"), "{s}");
        assert!(!s.contains("cursor"), "{s}");
        assert_eq!(path_segment("a b/c").unwrap(), "a%20b%2Fc");
        for bad in ["", ".", ".."] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_unverified_connection_goes_to_loopback_only() {
        for url in [
            "https://127.0.0.1:8443",
            "https://localhost:1",
            "https://[::1]:8443",
        ] {
            assert!(is_loopback(url), "{url}");
            assert!(AdminClient::new(url, "t", ServerTrust::AnyBootstrap).is_ok());
        }
        for url in ["https://pki.internal:8443", "https://10.0.0.1", "not a url"] {
            assert!(!is_loopback(url), "{url}");
            assert!(matches!(
                AdminClient::new(url, "t", ServerTrust::AnyBootstrap),
                Err(AdminError::Config(_))
            ));
        }
    }

    #[test]
    fn a_refusal_keeps_the_problem_document() {
        let body = br#"{"type":"urn:vcc-pki:problem:forbidden","title":"Forbidden","status":403,"detail":"no"}"#;
        let e = refusal(403, body);
        assert_eq!(e.status(), Some(403));
        assert!(matches!(e, AdminError::Problem(ref p) if p.detail == "no"));
        let e = refusal(502, b"bad gateway");
        assert!(matches!(e, AdminError::Unexpected { status: 502, .. }));
    }
}
