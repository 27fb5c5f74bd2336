//! What each scenario sends. Everything a request needs (CSRs, pre-issued certificates, the OCSP
//! request) is made before the clock starts; during the run a worker only sends bytes and checks
//! the status of the answer.
use super::http::LoadClient;
use super::load::{self, Outcome};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use der::{Decode, Encode};
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vcc_pki_client::AdminClient;
use vcc_pki_core::KeyType;
use x509_ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// POST /api/certificates/issue with a pre-generated CSR (the CSR's signature is checked).
    IssueCsr,
    /// POST /api/certificates/issue without a CSR: the server makes the key (ecdsa-p256).
    IssueKeygen,
    /// POST /api/certificates/renew by serial (admin), same key, of pre-issued certificates.
    Renew,
    /// POST /api/certificates/revoke, each request revoking another pre-issued certificate.
    Revoke,
    /// GET /crl (the current CRL, DER).
    Crl,
    /// POST /ocsp with a pre-built RFC 6960 request for a pre-issued certificate.
    Ocsp,
    /// Complete ACME orders (newOrder → http-01 → finalize → download), with --spawn.
    Acme,
    /// Inventory queries (lists, filters, search, health) over a store filled with
    /// --certificates N; no server.
    Inventory,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::IssueCsr => "issue-csr",
            Self::IssueKeygen => "issue-keygen",
            Self::Renew => "renew",
            Self::Revoke => "revoke",
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
            Self::Acme => "acme",
            Self::Inventory => "inventory",
        }
    }
}

/// Key type the server generates in issue-keygen (the API's default).
pub const KEYGEN_KEY_TYPE: KeyType = KeyType::EcdsaP256;

/// Distinct CSRs (keys) used by issue-csr; workers share them round-robin.
const MAX_CSRS: usize = 64;

enum Kind {
    /// POST the body of index `worker % len`.
    Post(Vec<Bytes>),
    /// POST each body once, in order, shared by all workers, up to the limit (an index).
    PostOnce {
        bodies: Vec<Bytes>,
        next: AtomicUsize,
        limit: AtomicUsize,
    },
    Get,
    Ocsp(Bytes),
}

impl Kind {
    fn post_once(bodies: Vec<Bytes>) -> Self {
        let limit = AtomicUsize::new(bodies.len());
        Self::PostOnce {
            bodies,
            next: AtomicUsize::new(0),
            limit,
        }
    }
}

/// A scenario ready to run: the endpoint, the bodies and what a good answer looks like.
pub struct Plan {
    client: Arc<LoadClient>,
    /// Path of every request, and the full URL for messages.
    path: String,
    url: String,
    auth: Option<HeaderValue>,
    expect: StatusCode,
    kind: Kind,
    /// Facts about the prepared work, for the report.
    pub notes: Vec<(String, String)>,
    /// The HTTP version of the first answer (what ALPN settled on).
    pub version: OnceLock<hyper::Version>,
}

/// The server and the two clients that reach it.
pub struct Target {
    /// Typed admin calls while preparing.
    pub admin: AdminClient,
    /// The load client for `base` (HTTPS).
    pub http: Arc<LoadClient>,
    /// What the load clients trust, and how many workers they serve.
    pub conn: crate::Connection,
    pub workers: usize,
    pub base: String,
}

impl Target {
    fn auth(&self) -> anyhow::Result<Option<HeaderValue>> {
        self.conn
            .token
            .as_deref()
            .map(|t| {
                HeaderValue::from_str(&format!("Bearer {t}"))
                    .map_err(|_| anyhow!("the admin token has characters a header cannot carry"))
            })
            .transpose()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn issue_body(service: &str, cn: &str, csr_pem: Option<&str>) -> vcc_pki_proto::IssueRequest {
    vcc_pki_proto::IssueRequest {
        service_id: service.into(),
        common_name: cn.into(),
        san_dns: vec![cn.into()],
        csr_pem: csr_pem.map(str::to_string),
        ..Default::default()
    }
}

/// A request body, encoded once before the load starts.
fn to_bytes(body: &impl serde::Serialize) -> anyhow::Result<Bytes> {
    serde_json::to_vec(body)
        .map(Bytes::from)
        .context("encoding a request body")
}

/// A CSR for `cn` (CN and one DNS SAN) with a fresh key of `key_type`.
fn make_csr(key_type: KeyType, cn: &str) -> anyhow::Result<String> {
    let key = key_type.generate().map_err(|e| anyhow!("{e}"))?;
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()])
        .map_err(|e| anyhow!("CSR names: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| anyhow!("building a CSR: {e}"))
}

/// `n` CSRs, generated on all cores (RSA keys take a while).
fn make_csrs(key_type: KeyType, n: usize) -> anyhow::Result<Vec<(String, String)>> {
    let cores = super::floor::cores();
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        let cn = format!("bench-{i}.bench.internal");
                        let csr = make_csr(key_type, &cn)?;
                        out.lock()
                            .map_err(|_| anyhow!("lock poisoned"))?
                            .push((cn, csr));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow!("CSR thread panicked"))??;
        }
        Ok(())
    })?;
    out.into_inner().map_err(|_| anyhow!("lock poisoned"))
}

/// Issue `n` certificates (server-made P-256 keys) with `concurrency` workers; their serials and
/// certificate PEMs.
pub async fn preissue(
    target: &Target,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<(String, String)>> {
    let bodies = (0..n)
        .map(|i| {
            let cn = format!("pre-{i}.bench.internal");
            to_bytes(&issue_body(&format!("bench-pre-{}", i % 64), &cn, None))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let path = "/api/certificates/issue";
    let plan = Arc::new(Plan {
        client: target.http.clone(),
        path: path.into(),
        url: target.url(path),
        auth: target.auth()?,
        expect: StatusCode::CREATED,
        kind: Kind::post_once(bodies),
        notes: Vec::new(),
        version: OnceLock::new(),
    });
    let issued = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let (p, out) = (plan.clone(), issued.clone());
    let result = load::run(
        concurrency.min(n.max(1)),
        Duration::from_secs(3600),
        move |w, i| {
            let (p, out) = (p.clone(), out.clone());
            async move {
                match p.send(w, i).await {
                    Ok(Some(bytes)) => {
                        let v: Value = match serde_json::from_slice(&bytes) {
                            Ok(v) => v,
                            Err(e) => {
                                return Outcome::Err(format!("issue answer is not JSON: {e}"))
                            }
                        };
                        let serial = v["serial_number"].as_str().unwrap_or_default().to_string();
                        let pem = v["certificate_pem"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string();
                        match out.lock() {
                            Ok(mut o) => o.push((serial, pem)),
                            Err(_) => return Outcome::Err("lock poisoned".into()),
                        }
                        Outcome::Ok
                    }
                    Ok(None) => Outcome::Exhausted,
                    Err(e) => Outcome::Err(e),
                }
            }
        },
    )
    .await?;
    if let Some(e) = result.error_messages.first() {
        bail!("pre-issuing certificates failed: {}", e.message);
    }
    let issued = issued.lock().map_err(|_| anyhow!("lock poisoned"))?.clone();
    if issued.len() < n {
        bail!("pre-issued only {} of {n} certificates", issued.len());
    }
    Ok(issued)
}

/// Options that shape the prepared work.
pub struct PlanOptions {
    pub concurrency: usize,
    pub csr_key: KeyType,
    /// Certificates pre-issued for revoke (each revoked once).
    pub pool: usize,
    /// ocsp, crl: the plain-HTTP base URL to load instead of HTTPS.
    pub plain_http_base: Option<String>,
}

pub async fn prepare(scenario: Scenario, target: &Target, o: &PlanOptions) -> anyhow::Result<Plan> {
    let auth = target.auth()?;
    let mut notes = Vec::new();
    let (path, expect, kind) = match scenario {
        Scenario::Acme => bail!("the acme scenario runs in its own module (acme.rs)"),
        Scenario::Inventory => {
            bail!("the inventory scenario runs in its own module (inventory.rs)")
        }
        Scenario::IssueCsr => {
            let n = o.concurrency.clamp(1, MAX_CSRS);
            let key = o.csr_key;
            let csrs = tokio::task::spawn_blocking(move || make_csrs(key, n))
                .await
                .map_err(|e| anyhow!("CSR generation: {e}"))??;
            notes.push((
                "CSRs".into(),
                format!("{n} × {} (made before the clock)", key.as_str()),
            ));
            let bodies = csrs
                .iter()
                .enumerate()
                .map(|(i, (cn, pem))| to_bytes(&issue_body(&format!("bench-{i}"), cn, Some(pem))))
                .collect::<anyhow::Result<_>>()?;
            (
                "/api/certificates/issue",
                StatusCode::CREATED,
                Kind::Post(bodies),
            )
        }
        Scenario::IssueKeygen => {
            let bodies = (0..o.concurrency.clamp(1, MAX_CSRS))
                .map(|i| {
                    let cn = format!("bench-{i}.bench.internal");
                    to_bytes(&issue_body(&format!("bench-{i}"), &cn, None))
                })
                .collect::<anyhow::Result<_>>()?;
            notes.push(("Server-made keys".into(), KEYGEN_KEY_TYPE.as_str().into()));
            (
                "/api/certificates/issue",
                StatusCode::CREATED,
                Kind::Post(bodies),
            )
        }
        Scenario::Renew => {
            let n = o.concurrency.clamp(1, MAX_CSRS);
            let certs = preissue(target, n, o.concurrency).await?;
            notes.push((
                "Pre-issued".into(),
                format!("{n} certificates, each renewed repeatedly"),
            ));
            let bodies = certs
                .iter()
                .map(|(serial, _)| {
                    to_bytes(&vcc_pki_proto::RenewRequest {
                        serial_number: Some(serial.clone()),
                        ..Default::default()
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            (
                "/api/certificates/renew",
                StatusCode::CREATED,
                Kind::Post(bodies),
            )
        }
        Scenario::Revoke => {
            let certs = preissue(target, o.pool, o.concurrency).await?;
            notes.push((
                "Pre-issued".into(),
                format!("{} certificates, each revoked once (--pool)", o.pool),
            ));
            let bodies = certs
                .iter()
                .map(|(serial, _)| {
                    to_bytes(&vcc_pki_proto::RevokeRequest {
                        serial_number: Some(serial.clone()),
                        reason: Some("superseded".into()),
                        ..Default::default()
                    })
                })
                .collect::<anyhow::Result<_>>()?;
            (
                "/api/certificates/revoke",
                StatusCode::OK,
                Kind::post_once(bodies),
            )
        }
        Scenario::Crl => {
            if target.admin.crl_der().await.is_err() {
                target
                    .admin
                    .generate_crl()
                    .await
                    .context("no CRL yet, and generating one failed")?;
            }
            let crl = target.admin.crl_der().await.context("GET /crl")?;
            notes.push(("CRL size".into(), format!("{} bytes", crl.len())));
            ("/crl", StatusCode::OK, Kind::Get)
        }
        Scenario::Ocsp => {
            let info = target.admin.ca_info().await?;
            let issuer_pem = info
                .intermediate
                .map(|i| i.certificate_pem)
                .context("the server has no intermediate CA")?;
            let certs = preissue(target, 1, 1).await?;
            let (serial, leaf_pem) = certs.first().context("no certificate pre-issued")?;
            let request = ocsp_request(&issuer_pem, leaf_pem)?;
            notes.push((
                "OCSP request".into(),
                format!("{} bytes, serial {serial}, SHA-1 CertID", request.len()),
            ));
            ("/ocsp", StatusCode::OK, Kind::Ocsp(Bytes::from(request)))
        }
    };
    let (client, url) = match &o.plain_http_base {
        Some(base) => (
            Arc::new(LoadClient::new(base, &target.conn, target.workers, None)?),
            format!("{base}{path}"),
        ),
        None => (target.http.clone(), target.url(path)),
    };
    Ok(Plan {
        client,
        path: path.into(),
        url,
        auth,
        expect,
        kind,
        notes,
        version: OnceLock::new(),
    })
}

/// A DER OCSPRequest (RFC 6960 §4.1.1) for one certificate, CertID hashed with SHA-1 as RFC 5019
/// clients send it.
pub fn ocsp_request(issuer_pem: &str, leaf_pem: &str) -> anyhow::Result<Vec<u8>> {
    let der_of = |pem: &str, what: &str| -> anyhow::Result<x509_cert::Certificate> {
        let der = vcc_pki_core::pem_decode_all(pem, "CERTIFICATE")
            .ok()
            .and_then(|v| v.into_iter().next())
            .with_context(|| format!("the {what} certificate is not PEM"))?;
        x509_cert::Certificate::from_der(&der).map_err(|e| anyhow!("the {what} certificate: {e}"))
    };
    let issuer = der_of(issuer_pem, "intermediate")?;
    let leaf = der_of(leaf_pem, "pre-issued")?;
    let request = x509_ocsp::Request::from_cert::<sha1::Sha1>(&issuer, &leaf)
        .map_err(|e| anyhow!("OCSP CertID: {e}"))?;
    x509_ocsp::builder::OcspRequestBuilder::default()
        .with_request(request)
        .build()
        .to_der()
        .map_err(|e| anyhow!("encoding the OCSP request: {e}"))
}

/// The OCSP responseStatus of a DER OCSPResponse, and for a successful one the first cert status.
pub fn ocsp_status(der: &[u8]) -> Result<(OcspResponseStatus, Option<CertStatus>), String> {
    let resp = OcspResponse::from_der(der).map_err(|e| format!("not an OCSPResponse: {e}"))?;
    let status = resp.response_status;
    let cert_status = match resp.response_bytes {
        Some(bytes) => {
            let basic = BasicOcspResponse::from_der(bytes.response.as_bytes())
                .map_err(|e| format!("not a BasicOCSPResponse: {e}"))?;
            basic
                .tbs_response_data
                .responses
                .first()
                .map(|r| r.cert_status)
        }
        None => None,
    };
    Ok((status, cert_status))
}

impl Plan {
    /// For pools used once (revoke): allow `len / divisor` requests in total, counted from the
    /// start of the pool (the warm-up takes a share, the measured run gets the rest).
    pub fn limit_pool(&self, divisor: usize) {
        if let Kind::PostOnce { bodies, limit, .. } = &self.kind {
            limit.store(bodies.len() / divisor.max(1), Ordering::Relaxed);
        }
    }

    /// One request. `Ok(None)` when there is nothing left to send; `Ok(Some(body))` on the
    /// expected status; `Err(message)` otherwise.
    async fn send(&self, worker: usize, _iteration: u64) -> Result<Option<Bytes>, String> {
        const JSON: Option<&str> = Some("application/json");
        let (method, content_type, body) = match &self.kind {
            Kind::Post(bodies) => (Method::POST, JSON, bodies[worker % bodies.len()].clone()),
            Kind::PostOnce {
                bodies,
                next,
                limit,
            } => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                match bodies.get(i) {
                    Some(b) if i < limit.load(Ordering::Relaxed) => (Method::POST, JSON, b.clone()),
                    _ => {
                        // Give the index back so a later phase with a higher limit can use it.
                        next.fetch_sub(1, Ordering::Relaxed);
                        return Ok(None);
                    }
                }
            }
            Kind::Get => (Method::GET, None, Bytes::new()),
            Kind::Ocsp(body) => (Method::POST, Some("application/ocsp-request"), body.clone()),
        };
        let answer = self
            .client
            .send(
                worker,
                method,
                &self.path,
                content_type,
                self.auth.as_ref(),
                body,
            )
            .await?;
        if self.version.get().is_none() {
            let _ = self.version.set(answer.version);
        }
        if answer.status != self.expect {
            return Err(http_message(answer.status, &answer.body));
        }
        Ok(Some(answer.body))
    }

    /// One request of the run: the status must match and an OCSP answer must be `successful`.
    pub async fn execute(&self, worker: usize, iteration: u64) -> Outcome {
        match self.send(worker, iteration).await {
            Ok(None) => Outcome::Exhausted,
            Ok(Some(body)) => match &self.kind {
                Kind::Ocsp(_) => match OcspResponse::from_der(&body) {
                    Ok(r) if r.response_status == OcspResponseStatus::Successful => Outcome::Ok,
                    Ok(r) => Outcome::Err(format!("OCSP responseStatus {:?}", r.response_status)),
                    Err(e) => Outcome::Err(format!("not an OCSPResponse: {e}")),
                },
                _ => Outcome::Ok,
            },
            Err(e) => Outcome::Err(e),
        }
    }

    /// One request before the clock starts, checked in full, so a misconfigured run fails with a
    /// clear message instead of a page of error counts.
    pub async fn probe(&self, scenario: Scenario) -> anyhow::Result<()> {
        if let (Scenario::Ocsp, Kind::Ocsp(body)) = (scenario, &self.kind) {
            let resp = self
                .client
                .send(
                    0,
                    Method::POST,
                    &self.path,
                    Some("application/ocsp-request"),
                    self.auth.as_ref(),
                    body.clone(),
                )
                .await
                .map_err(|e| anyhow!("POST {}: {e}", self.url))?;
            if resp.status == StatusCode::NOT_FOUND {
                bail!(
                    "server has no /ocsp endpoint (POST {} answered 404); nothing was measured",
                    self.url
                );
            }
            let (status, body) = (resp.status, resp.body);
            if status != StatusCode::OK {
                bail!("OCSP probe: {}", http_message(status, &body));
            }
            return match ocsp_status(&body).map_err(|e| anyhow!("OCSP probe: {e}"))? {
                (OcspResponseStatus::Successful, Some(CertStatus::Good(_))) => Ok(()),
                (s, c) => bail!(
                    "OCSP probe: expected successful/good for a fresh certificate, got {s:?}/{c:?}"
                ),
            };
        }
        match self.execute(0, 0).await {
            Outcome::Ok => Ok(()),
            Outcome::Err(e) => bail!("probe request to {} failed: {e}", self.url),
            Outcome::Exhausted => bail!("nothing to send: the prepared pool is empty"),
        }
    }
}

/// "HTTP 409: detail" from a problem+json answer, else the status alone.
fn http_message(status: StatusCode, body: &[u8]) -> String {
    let detail = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_string));
    match detail {
        Some(d) => format!("HTTP {}: {d}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The request is RFC 6960 as OpenSSL reads it, and a response OpenSSL's responder signs
    /// for it decodes to successful/good.
    #[test]
    fn ocsp_request_and_response_match_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
        let ca_key = KeyType::EcdsaP256.generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Bench Test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let leaf_key = KeyType::EcdsaP256.generate().unwrap();
        let mut leaf_params = rcgen::CertificateParams::new(vec!["leaf.test".into()]).unwrap();
        leaf_params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x4a, 0x11]));
        let leaf = leaf_params.signed_by(&leaf_key, &ca).unwrap();

        let request = ocsp_request(&ca.pem(), &leaf.pem()).unwrap();
        std::fs::write(p("req.der"), &request).unwrap();
        std::fs::write(p("ca.pem"), ca.pem()).unwrap();
        std::fs::write(p("ca.key"), ca.key().serialize_pem()).unwrap();
        // openssl ca's index: status, expiry, revocation date, serial, file, subject.
        std::fs::write(
            p("index.txt"),
            "V\t491231235959Z\t\t4A11\tunknown\t/CN=leaf.test\n",
        )
        .unwrap();
        let text = Command::new("openssl")
            .args(["ocsp", "-reqin", &p("req.der"), "-req_text"])
            .output()
            .expect("openssl installed");
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("Serial Number: 4A11"), "{text}");
        assert!(text.contains("Hash Algorithm: sha1"), "{text}");
        let out = Command::new("openssl")
            .args([
                "ocsp",
                "-index",
                &p("index.txt"),
                "-CA",
                &p("ca.pem"),
                "-rsigner",
                &p("ca.pem"),
            ])
            .args([
                "-rkey",
                &p("ca.key"),
                "-reqin",
                &p("req.der"),
                "-respout",
                &p("resp.der"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let resp = std::fs::read(p("resp.der")).unwrap();
        let (status, cert) = ocsp_status(&resp).unwrap();
        assert_eq!(status, OcspResponseStatus::Successful);
        assert!(matches!(cert, Some(CertStatus::Good(_))), "{cert:?}");
    }
}
