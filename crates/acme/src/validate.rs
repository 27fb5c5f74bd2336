//! Challenge validation: proving control of an identifier (RFC 8555 §8). Failures say which
//! address was tried and what was found.
use crate::dns::DnsResolver;
use crate::problem::{AcmeErrorType, AcmeProblem};
use crate::tls_alpn::TlsAlpnValidator;
use crate::AcmeConfig;
use std::time::Duration;
use vcc_pki_store::AcmeIdentifier;

/// The challenge types offered for a new authorization of `identifier` (RFC 8738: no dns-01
/// for an IP address; RFC 8555 §7.1.3 and Boulder: a wildcard's only through dns-01, since
/// serving a file or a certificate on one host proves nothing about its siblings).
pub(crate) fn challenge_types(
    identifier: &AcmeIdentifier,
    wildcard: bool,
) -> &'static [&'static str] {
    match identifier.kind.as_str() {
        "ip" => &["http-01", "tls-alpn-01"],
        _ if wildcard => &["dns-01"],
        _ => &["http-01", "dns-01", "tls-alpn-01"],
    }
}
/// Most of an http-01 response body read.
const MAX_HTTP_BODY: usize = 8 * 1024;

pub struct Validator {
    http: reqwest::Client,
    dns: DnsResolver,
    tls_alpn: TlsAlpnValidator,
    http_port: u16,
    tls_port: u16,
    timeout: Duration,
}

impl Validator {
    pub fn new(config: &AcmeConfig) -> Result<Self, String> {
        let dns = DnsResolver::new(config.dns_resolver)?;
        let http_port = config.http_port;
        // RFC 8555 §8.3 lets the validator follow redirects; here only to the same host, over
        // http on the validation port or https on 443, at most 10: a redirect cannot point the
        // CA at another internal service and read its answer back in the challenge's error.
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let first_host = attempt
                .previous()
                .first()
                .and_then(|u| u.host_str().map(str::to_string));
            let url = attempt.url().clone();
            let port_ok = match url.scheme() {
                "http" => url.port_or_known_default() == Some(http_port),
                "https" => url.port_or_known_default() == Some(443),
                _ => false,
            };
            if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else if !port_ok || url.host_str().map(str::to_string) != first_host {
                attempt.error(format!(
                    "redirect to {url} refused: only the same host, http on port {http_port} or https on 443"
                ))
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(dns.clone()))
            .redirect(redirects)
            .timeout(config.validation_timeout)
            .user_agent("vcc-pki-acme-validator")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            dns,
            tls_alpn: TlsAlpnValidator::new()?,
            http_port: config.http_port,
            tls_port: config.tls_port,
            timeout: config.validation_timeout,
        })
    }

    pub async fn validate(
        &self,
        challenge_type: &str,
        identifier: &AcmeIdentifier,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), AcmeProblem> {
        match challenge_type {
            "http-01" => self.http_01(identifier, token, key_authorization).await,
            "dns-01" => self.dns_01(identifier, key_authorization).await,
            "tls-alpn-01" => self.tls_alpn_01(identifier, key_authorization).await,
            other => Err(AcmeProblem::malformed(format!(
                "challenge type '{other}' is not supported"
            ))),
        }
    }

    /// RFC 8555 §8.3: GET http://NAME:PORT/.well-known/acme-challenge/TOKEN answers the key authorization.
    async fn http_01(
        &self,
        identifier: &AcmeIdentifier,
        token: &str,
        key_authorization: &str,
    ) -> Result<(), AcmeProblem> {
        let host = match identifier.kind.as_str() {
            "ip" if identifier.value.contains(':') => format!("[{}]", identifier.value),
            _ => identifier.value.clone(),
        };
        let url = format!(
            "http://{host}:{}/.well-known/acme-challenge/{token}",
            self.http_port
        );
        let response = tokio::time::timeout(self.timeout, self.http.get(&url).send())
            .await
            .map_err(|_| {
                AcmeProblem::new(
                    AcmeErrorType::Connection,
                    format!("{url}: no answer within {} s", self.timeout.as_secs()),
                )
            })?
            .map_err(|e| {
                AcmeProblem::new(
                    AcmeErrorType::Connection,
                    format!("{url}: {}", error_chain(&e)),
                )
            })?;
        let status = response.status();
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            AcmeProblem::new(
                AcmeErrorType::Connection,
                format!("{url}: {}", error_chain(&e)),
            )
        })? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_HTTP_BODY {
                break;
            }
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(MAX_HTTP_BODY)]);
        if !status.is_success() {
            return Err(AcmeProblem::unauthorized(format!(
                "{url} answered HTTP {status}: {}",
                excerpt(&text)
            )));
        }
        if text.trim_end() != key_authorization {
            return Err(AcmeProblem::new(
                AcmeErrorType::IncorrectResponse,
                format!(
                    "{url} answered '{}', expected the key authorization '{key_authorization}'",
                    excerpt(&text)
                ),
            ));
        }
        Ok(())
    }
}

impl Validator {
    /// RFC 8737: each address of the identifier in turn until one answers.
    async fn tls_alpn_01(
        &self,
        identifier: &AcmeIdentifier,
        key_authorization: &str,
    ) -> Result<(), AcmeProblem> {
        let addresses = match identifier.kind.as_str() {
            "ip" => vec![identifier
                .value
                .parse()
                .map_err(|_| AcmeProblem::malformed("bad IP identifier"))?],
            _ => self.dns.addresses(&identifier.value).await?,
        };
        let mut last = None;
        for ip in addresses {
            let addr = std::net::SocketAddr::new(ip, self.tls_port);
            match self
                .tls_alpn
                .validate(
                    &identifier.kind,
                    &identifier.value,
                    addr,
                    key_authorization,
                    self.timeout,
                )
                .await
            {
                Ok(()) => return Ok(()),
                // A refused connection: try the next address; anything else is the answer.
                Err(p) if p.error_type() == Some(AcmeErrorType::Connection) => last = Some(p),
                Err(p) => return Err(p),
            }
        }
        Err(last.unwrap_or_else(|| AcmeProblem::new(AcmeErrorType::Dns, "no address to try")))
    }

    /// RFC 8555 §8.4: a TXT record at `_acme-challenge.NAME` holding base64url(SHA-256(key authorization)).
    async fn dns_01(
        &self,
        identifier: &AcmeIdentifier,
        key_authorization: &str,
    ) -> Result<(), AcmeProblem> {
        if identifier.kind != "dns" {
            return Err(AcmeProblem::malformed("dns-01 is for DNS names only"));
        }
        use base64::Engine;
        use sha2::Digest;
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(key_authorization.as_bytes()));
        let name = format!(
            "_acme-challenge.{}",
            identifier.value.trim_start_matches("*.")
        );
        let found = tokio::time::timeout(self.timeout, self.dns.txt(&name))
            .await
            .map_err(|_| {
                AcmeProblem::new(
                    AcmeErrorType::Dns,
                    format!("TXT {name}: no answer within {} s", self.timeout.as_secs()),
                )
            })??;
        if found.iter().any(|txt| txt.trim() == expected) {
            return Ok(());
        }
        Err(AcmeProblem::unauthorized(format!(
            "TXT {name} holds [{}], expected '{expected}'",
            found
                .iter()
                .map(|t| excerpt(t))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

fn excerpt(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(100)
        .collect();
    clean.trim().to_string()
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
