//! The load generator's HTTP client: hyper's connection API over rustls, without a pool.
//!
//! With HTTP/1.1 every worker owns one keep-alive connection (opened on its first request, opened
//! again after an error); with `--http2 N` the workers share N connections, worker `w` sending on
//! connection `w % N`. A general-purpose client (reqwest) spends most of its time per request on its
//! pool, URL parsing and middleware: the load generator runs on the cores it measures, so what it
//! costs per request is taken from the server.
use crate::Connection;
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST};
use hyper::{Method, Request, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A request gets this long, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
enum Sender {
    Http1(Arc<tokio::sync::Mutex<http1::SendRequest<Full<Bytes>>>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// One base URL (`https://host:port` or `http://host:port`) and the connections to it.
pub struct LoadClient {
    /// scheme://authority, for HTTP/2's `:scheme` and `:authority`.
    origin: String,
    /// The base URL's path (without a trailing `/`), put before every request's path.
    prefix: String,
    host_header: HeaderValue,
    address: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    http2: bool,
    /// One per worker (HTTP/1.1) or per connection (HTTP/2); `None` until opened or after an error.
    slots: Vec<Mutex<Option<Sender>>>,
    /// Sent with every request (a dashboard session), if set.
    cookie: Option<HeaderValue>,
}

/// What came back.
pub struct Answer {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            // Locked means in use by its worker, hence open.
            Self::Http1(s) => s.try_lock().is_ok_and(|s| s.is_closed()),
            Self::Http2(s) => s.is_closed(),
        }
    }
}

impl LoadClient {
    /// `base` is `https://host:port` (trusting what the CLI trusts for `conn`) or `http://host:port`.
    /// `http2`: that many HTTP/2 connections (ALPN h2); otherwise one HTTP/1.1 connection per worker.
    pub fn new(
        base: &str,
        conn: &Connection,
        workers: usize,
        http2: Option<usize>,
    ) -> anyhow::Result<Self> {
        let uri: Uri = base.parse().with_context(|| format!("server URL {base}"))?;
        let host = uri
            .host()
            .context("the server URL has no host")?
            .to_string();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => bail!("server URL {base}: http:// or https:// expected"),
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .context("the server URL has no host")?
            .as_str()
            .to_string();
        let tls = if https {
            let config = tls_config(conn, http2.is_some())?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| anyhow!("server name {host}: {e}"))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        let slots = http2.unwrap_or(workers).max(1);
        Ok(Self {
            origin: format!("{}://{authority}", if https { "https" } else { "http" }),
            host_header: HeaderValue::from_str(&authority)
                .map_err(|_| anyhow!("server URL {base}: not a valid Host"))?,
            prefix: uri.path().trim_end_matches('/').to_string(),
            // `host` keeps an IPv6 address's brackets, as a socket address string needs.
            address: format!("{host}:{port}"),
            tls,
            http2: http2.is_some(),
            slots: (0..slots).map(|_| Mutex::new(None)).collect(),
            cookie: None,
        })
    }

    /// Send `cookie` (`name=value`) with every request from now on.
    pub fn set_cookie(&mut self, cookie: HeaderValue) {
        self.cookie = Some(cookie);
    }

    /// Send one request for `worker`; `Err` is a readable transport error.
    pub async fn send(
        &self,
        worker: usize,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        auth: Option<&HeaderValue>,
        body: Bytes,
    ) -> Result<Answer, String> {
        let slot = &self.slots[worker % self.slots.len()];
        let attempt = async {
            let sender = self.sender(slot).await?;
            let uri = if self.http2 {
                format!("{}{}{path}", self.origin, self.prefix)
            } else {
                format!("{}{path}", self.prefix)
            };
            let mut request = Request::builder().method(method).uri(uri);
            if !self.http2 {
                request = request.header(HOST, self.host_header.clone());
            }
            if let Some(ct) = content_type {
                request = request.header(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
            if let Some(a) = auth {
                request = request.header(AUTHORIZATION, a.clone());
            }
            if let Some(c) = &self.cookie {
                request = request.header(COOKIE, c.clone());
            }
            let request = request
                .body(Full::new(body))
                .map_err(|e| format!("building the request: {e}"))?;
            let response = match &sender {
                Sender::Http1(s) => {
                    let mut s = s.lock().await;
                    s.ready().await.map_err(|e| innermost(&e))?;
                    s.send_request(request).await
                }
                Sender::Http2(s) => {
                    let mut s = s.clone();
                    s.ready().await.map_err(|e| innermost(&e))?;
                    s.send_request(request).await
                }
            }
            .map_err(|e| innermost(&e))?;
            let status = response.status();
            let version = response.version();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {}", innermost(&e)))?
                .to_bytes();
            Ok(Answer {
                status,
                version,
                headers,
                body,
            })
        };
        let result = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {} s", REQUEST_TIMEOUT.as_secs())),
        };
        if result.is_err() {
            // The connection may be unusable: the next request opens a new one.
            if let Ok(mut s) = slot.lock() {
                *s = None;
            }
        }
        result
    }

    /// The slot's connection, or a new one if it has none or the server closed it (an idle
    /// keep-alive connection times out; nothing was sent on it, so opening another is safe).
    async fn sender(&self, slot: &Mutex<Option<Sender>>) -> Result<Sender, String> {
        if let Some(s) = slot
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .filter(|s| !s.is_closed())
        {
            return Ok(s);
        }
        let opened = self.connect().await?;
        if let Ok(mut s) = slot.lock() {
            // Another worker on the same HTTP/2 slot may have opened one meanwhile: keep it.
            if let Some(current) = s.as_ref().filter(|c| !c.is_closed()) {
                return Ok(current.clone());
            }
            *s = Some(opened.clone());
        }
        Ok(opened)
    }

    async fn connect(&self) -> Result<Sender, String> {
        let tcp = TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("connect {}: {e}", self.address))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.address))?;
                self.handshake(TokioIo::new(tls)).await
            }
            None => self.handshake(TokioIo::new(tcp)).await,
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>) -> Result<Sender, String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if self.http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("HTTP/2 handshake: {}", innermost(&e)))?;
            tokio::spawn(connection);
            Ok(Sender::Http2(sender))
        } else {
            let (sender, connection) = http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 handshake: {}", innermost(&e)))?;
            tokio::spawn(connection);
            Ok(Sender::Http1(Arc::new(tokio::sync::Mutex::new(sender))))
        }
    }
}

/// rustls trusting exactly what the CLI trusts; ALPN h2 or http/1.1.
fn tls_config(conn: &Connection, http2: bool) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for path in &conn.trust_anchors {
        for der in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading {}", path.display()))?
        {
            let der = der.with_context(|| format!("a certificate in {}", path.display()))?;
            roots
                .add(der)
                .with_context(|| format!("a certificate in {}", path.display()))?;
        }
    }
    if roots.is_empty() {
        bail!("no CA to trust the server with: --ca-bundle, or --data-dir of the server's host");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// The innermost cause of an error, which is the informative part.
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}
