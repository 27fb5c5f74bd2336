//! Helpers for the ACME tests: an http-01 responder on a loopback port.
#![allow(dead_code)]
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Tokens {
    answers: Mutex<HashMap<String, String>>,
    hits: AtomicUsize,
}

/// Serves `/.well-known/acme-challenge/{token}` with the key authorizations set by the test.
pub struct Http01Responder {
    pub port: u16,
    tokens: Arc<Tokens>,
}

/// The answer set for a token; one set to `REDIRECT url` answers 302 to that URL.
async fn answer(
    State(tokens): State<Arc<Tokens>>,
    Path(token): Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    tokens.hits.fetch_add(1, Ordering::SeqCst);
    match tokens.answers.lock().unwrap().get(&token) {
        Some(answer) => match answer.strip_prefix("REDIRECT ") {
            Some(url) => (
                StatusCode::FOUND,
                [(axum::http::header::LOCATION, url.to_string())],
            )
                .into_response(),
            None => (StatusCode::OK, answer.clone()).into_response(),
        },
        None => (StatusCode::NOT_FOUND, "no such token").into_response(),
    }
}

impl Http01Responder {
    pub async fn start() -> Self {
        let tokens = Arc::new(Tokens::default());
        let app = Router::new()
            .route("/.well-known/acme-challenge/{token}", get(answer))
            .with_state(tokens.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { port, tokens }
    }

    pub fn set(&self, token: &str, answer: &str) {
        self.tokens
            .answers
            .lock()
            .unwrap()
            .insert(token.to_string(), answer.to_string());
    }

    pub fn hits(&self) -> usize {
        self.tokens.hits.load(Ordering::SeqCst)
    }
}

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

/// What an ACME POST answered.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
    pub fn location(&self) -> String {
        self.header("location")
    }
    /// The problem type's last part (`badNonce` for `urn:ietf:params:acme:error:badNonce`).
    pub fn problem(&self) -> String {
        self.json()["type"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("urn:ietf:params:acme:error:")
            .to_string()
    }
}

/// A hand-driven ACME client with a P-256 key (ES256), to send exactly the requests a test needs,
/// well-formed or not.
pub struct RawAcme {
    pub http: reqwest::Client,
    pub base: String,
    pub key_pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
    pub kid: Option<String>,
}

impl RawAcme {
    pub fn new(http: reqwest::Client, base: &str) -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        Self::with_key(http, base, pkcs8.as_ref().to_vec())
    }

    pub fn with_key(http: reqwest::Client, base: &str, pkcs8: Vec<u8>) -> Self {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        Self {
            http,
            base: base.to_string(),
            key_pkcs8: pkcs8,
            key,
            kid: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/acme/{path}", self.base)
    }

    pub fn jwk(&self) -> Value {
        let point = self.key.public_key().as_ref();
        json!({"kty": "EC", "crv": "P-256", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])})
    }

    pub async fn nonce(&self) -> String {
        let r = self.http.head(self.url("new-nonce")).send().await.unwrap();
        r.headers()["replay-nonce"].to_str().unwrap().to_string()
    }

    /// A flattened JWS over `payload` (None: POST-as-GET), with `jwk` or the account's `kid`.
    pub fn jws(&self, url: &str, payload: Option<&Value>, nonce: &str, use_jwk: bool) -> String {
        let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
        if use_jwk || self.kid.is_none() {
            protected["jwk"] = self.jwk();
        } else {
            protected["kid"] = json!(self.kid.clone().unwrap());
        }
        let protected = B64.encode(protected.to_string());
        let payload = payload
            .map(|p| B64.encode(p.to_string()))
            .unwrap_or_default();
        let signature = self
            .key
            .sign(
                &SystemRandom::new(),
                format!("{protected}.{payload}").as_bytes(),
            )
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": B64.encode(signature.as_ref())})
            .to_string()
    }

    pub async fn send(&self, url: &str, body: String, content_type: &str) -> Answer {
        let r = self
            .http
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Answer {
            status,
            headers,
            text,
        }
    }

    /// POST `payload` (None: POST-as-GET) to `url`, signed with the account's kid if it has one.
    pub async fn post(&self, url: &str, payload: Option<Value>) -> Answer {
        let nonce = self.nonce().await;
        let body = self.jws(url, payload.as_ref(), &nonce, false);
        self.send(url, body, "application/jose+json").await
    }

    /// POST signed with the jwk (newAccount, revokeCert by certificate key).
    pub async fn post_jwk(&self, url: &str, payload: Value) -> Answer {
        let nonce = self.nonce().await;
        let body = self.jws(url, Some(&payload), &nonce, true);
        self.send(url, body, "application/jose+json").await
    }

    pub async fn new_account(&mut self) -> Answer {
        let answer = self
            .post_jwk(
                &self.url("new-account"),
                json!({"termsOfServiceAgreed": true}),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text);
        self.kid = Some(answer.location());
        answer
    }

    pub fn thumbprint(&self) -> String {
        use sha2::Digest;
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        B64.encode(sha2::Sha256::digest(canonical.as_bytes()))
    }

    /// Order `identifiers`, answer each http-01 challenge through `responder`, wait until ready.
    /// Returns the order URL and its JSON.
    pub async fn ready_order(
        &self,
        identifiers: Value,
        responder: &Http01Responder,
    ) -> (String, Value) {
        let created = self
            .post(
                &self.url("new-order"),
                Some(json!({"identifiers": identifiers})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let order_url = created.location();
        for authz_url in created.json()["authorizations"].as_array().unwrap() {
            let authz = self.post(authz_url.as_str().unwrap(), None).await.json();
            if authz["status"] == "valid" {
                continue;
            }
            let challenge = authz["challenges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "http-01")
                .unwrap()
                .clone();
            let token = challenge["token"].as_str().unwrap();
            responder.set(token, &format!("{token}.{}", self.thumbprint()));
            let started = self
                .post(challenge["url"].as_str().unwrap(), Some(json!({})))
                .await;
            assert_eq!(started.status, 200, "{}", started.text);
        }
        for _ in 0..100 {
            let order = self.post(&order_url, None).await.json();
            if order["status"] != "pending" {
                return (order_url, order);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("order {order_url} stayed pending");
    }

    /// Finalize a ready order with `csr_der`; the finalize answer.
    pub async fn finalize(&self, order: &Value, csr_der: &[u8]) -> Answer {
        self.post(
            order["finalize"].as_str().unwrap(),
            Some(json!({"csr": B64.encode(csr_der)})),
        )
        .await
    }

    /// Poll an order until it is valid and download its chain.
    pub async fn certificate(&self, order_url: &str) -> String {
        for _ in 0..100 {
            let order = self.post(order_url, None).await.json();
            if order["status"] == "valid" {
                let chain = self
                    .post(order["certificate"].as_str().unwrap(), None)
                    .await;
                assert_eq!(chain.status, 200, "{}", chain.text);
                assert_eq!(
                    chain.header("content-type"),
                    "application/pem-certificate-chain"
                );
                return chain.text;
            }
            assert_eq!(order["status"], "processing", "{order}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("order {order_url} never became valid");
    }
}

/// A CSR (DER) for `names` with a new P-256 key; the key as PKCS#8 DER.
pub fn csr_for(names: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params.serialize_request(&key).unwrap();
    (csr.der().to_vec(), key.serialize_der())
}

/// The DER of the first certificate of a PEM chain.
pub fn leaf_der(chain: &str) -> Vec<u8> {
    let first = chain.split("-----END CERTIFICATE-----").next().unwrap();
    let body: String = first
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// Debian's `pebble-challtestsrv` as the DNS server validation asks: A queries answer 127.0.0.1,
/// TXT and CNAME records are set through its management API. Stopped on drop.
pub struct ChallTestSrv {
    pub dns: std::net::SocketAddr,
    management: String,
    child: std::process::Child,
}

impl ChallTestSrv {
    pub fn start() -> Self {
        let dns_port = vcc_pki_testkit::free_port();
        let management_port = vcc_pki_testkit::free_port();
        let child = std::process::Command::new("pebble-challtestsrv")
            .args([
                "-dns01",
                &format!("127.0.0.1:{dns_port}"),
                "-management",
                &format!("127.0.0.1:{management_port}"),
                "-defaultIPv6",
                "",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("pebble-challtestsrv (Debian package pebble) is installed");
        let management = format!("http://127.0.0.1:{management_port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", management_port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            dns: format!("127.0.0.1:{dns_port}").parse().unwrap(),
            management,
            child,
        }
    }

    async fn call(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/{path}", self.management))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "challtestsrv {path}: {}",
            r.status()
        );
    }

    /// The management API's base URL (`/set-txt`, `/clear-txt`, `/set-cname`).
    pub fn management_url(&self) -> String {
        self.management.clone()
    }

    pub async fn set_txt(&self, host: &str, value: &str) {
        self.call(
            "set-txt",
            json!({"host": format!("{host}."), "value": value}),
        )
        .await;
    }

    pub async fn set_cname(&self, host: &str, target: &str) {
        self.call(
            "set-cname",
            json!({"host": format!("{host}."), "target": format!("{target}.")}),
        )
        .await;
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tls-alpn-01 responder (RFC 8737) on a loopback port: for each name set, a self-signed
/// certificate with the acmeIdentifier extension, chosen by SNI, on ALPN `acme-tls/1` only.
pub struct TlsAlpnResponder {
    pub port: u16,
    certs: Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>,
}

#[derive(Debug)]
struct BySni(Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name()?.to_string();
        self.0.lock().unwrap().get(&name).cloned()
    }
}

impl TlsAlpnResponder {
    pub async fn start() -> Self {
        let certs: Arc<Mutex<HashMap<String, Arc<rustls::sign::CertifiedKey>>>> =
            Default::default();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni(certs.clone())));
        config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // The validator only needs the handshake.
                    if let Ok(mut tls) = acceptor.accept(tcp).await {
                        use tokio::io::AsyncWriteExt;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Self { port, certs }
    }

    /// Answer for `sni` (a DNS name, or an IP's reverse name) with a certificate naming `san`.
    pub fn set(&self, sni: &str, san: &str, key_authorization: &str) {
        use sha2::Digest;
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![san.to_string()]).unwrap();
        let digest = sha2::Sha256::digest(key_authorization.as_bytes());
        params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(&digest)];
        let cert = params.self_signed(&key).unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let signing_key = provider
            .key_provider
            .load_private_key(rustls_pki_types::PrivateKeyDer::Pkcs8(
                key.serialize_der().into(),
            ))
            .unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![cert.der().clone()], signing_key);
        self.certs
            .lock()
            .unwrap()
            .insert(sni.to_string(), Arc::new(certified));
    }
}

/// A new instant-acme account (ES256) on `server`, trusting its root.
pub async fn instant_account(server: &vcc_pki_testkit::TestServer) -> instant_acme::Account {
    let root = vcc_pki_testkit::write(server.dir.path(), "acme-root.pem", server.root_pem());
    let (account, _credentials) = instant_acme::Account::builder_with_root(&root)
        .unwrap()
        .create(
            &instant_acme::NewAccount {
                contact: &["mailto:ops@example.com"],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            format!("{}/acme/directory", server.url),
            None,
        )
        .await
        .expect("new account");
    account
}
