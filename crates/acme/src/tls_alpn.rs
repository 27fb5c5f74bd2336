//! tls-alpn-01 (RFC 8737): a TLS handshake to the identifier on port 443 (`--acme-tls-port`)
//! offering only ALPN `acme-tls/1`; the self-signed certificate presented must name exactly the
//! identifier and carry a critical id-pe-acmeIdentifier holding SHA-256 of the key authorization.
use crate::problem::{AcmeErrorType, AcmeProblem};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const ACME_IDENTIFIER_OID: &str = "1.3.6.1.5.5.7.1.31";

/// The validation certificate is self-signed: its signature proves nothing; its content does.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The connector offers TLS 1.3 only.
        Err(rustls::Error::General(
            "tls-alpn-01 validation uses TLS 1.3".into(),
        ))
    }
    /// The handshake is checked against the certificate's key read directly: webpki would
    /// refuse the certificate itself for its critical acmeIdentifier extension.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let (_, parsed) = X509Certificate::from_der(cert.as_ref())
            .map_err(|_| rustls::Error::General("the certificate does not parse".into()))?;
        let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(parsed.public_key().raw);
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &spki,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub(crate) struct TlsAlpnValidator {
    connector: tokio_rustls::TlsConnector,
}

impl TlsAlpnValidator {
    pub fn new() -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth();
        config.alpn_protocols = vec![ACME_TLS_ALPN.to_vec()];
        Ok(Self {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Validate `identifier` (a DNS name or IP address) at `addr`.
    pub async fn validate(
        &self,
        identifier_kind: &str,
        identifier: &str,
        addr: SocketAddr,
        key_authorization: &str,
        timeout: Duration,
    ) -> Result<(), AcmeProblem> {
        let connection = |detail: String| {
            AcmeProblem::new(
                AcmeErrorType::Connection,
                format!("tls-alpn-01 {addr}: {detail}"),
            )
        };
        let server_name = match identifier_kind {
            // RFC 8738 §6: the SNI of an IP address is its reverse-mapping name.
            "ip" => {
                let ip: IpAddr = identifier
                    .parse()
                    .map_err(|_| AcmeProblem::malformed("bad IP identifier"))?;
                ServerName::try_from(reverse_name(ip)).map_err(|e| connection(e.to_string()))?
            }
            _ => ServerName::try_from(identifier.to_string())
                .map_err(|e| connection(e.to_string()))?,
        };
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| connection(e.to_string()))?;
            self.connector
                .connect(server_name, tcp)
                .await
                .map_err(|e| connection(format!("TLS handshake: {e}")))
        };
        let stream = tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| connection(format!("no handshake within {} s", timeout.as_secs())))??;
        let (_, session) = stream.get_ref();
        if session.alpn_protocol() != Some(ACME_TLS_ALPN) {
            return Err(AcmeProblem::unauthorized(format!(
                "tls-alpn-01 {addr}: the server did not negotiate ALPN acme-tls/1"
            )));
        }
        let certificate = session
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or_else(|| connection("no certificate presented".into()))?;
        check_certificate(
            certificate.as_ref(),
            identifier_kind,
            identifier,
            key_authorization,
        )
        .map_err(|detail| AcmeProblem::unauthorized(format!("tls-alpn-01 {addr}: {detail}")))
    }
}

fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut out = String::new();
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// RFC 8737 §3: one SAN, the identifier; a critical acmeIdentifier with the digest.
fn check_certificate(
    der: &[u8],
    kind: &str,
    identifier: &str,
    key_authorization: &str,
) -> Result<(), String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|_| "the certificate does not parse".to_string())?;
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| match n {
                    GeneralName::DNSName(d) => format!("dns:{}", d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => match b.len() {
                        4 => format!(
                            "ip:{}",
                            IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())
                        ),
                        16 => format!(
                            "ip:{}",
                            IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())
                        ),
                        _ => "ip:?".into(),
                    },
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let wanted = format!("{kind}:{identifier}");
    if names != [wanted.clone()] {
        return Err(format!(
            "the certificate must name exactly {wanted}, it names [{}]",
            names.join(", ")
        ));
    }
    let extension = cert
        .extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == ACME_IDENTIFIER_OID)
        .ok_or_else(|| "the certificate has no acmeIdentifier extension".to_string())?;
    if !extension.critical {
        return Err("the acmeIdentifier extension is not critical".into());
    }
    let expected = Sha256::digest(key_authorization.as_bytes());
    // The extension's value is an OCTET STRING (0x04, 0x20, 32 bytes).
    let value = extension.value;
    let ok =
        value.len() == 34 && value[0] == 0x04 && value[1] == 0x20 && value[2..] == expected[..];
    if !ok {
        return Err("the acmeIdentifier does not hold SHA-256 of the key authorization".into());
    }
    Ok(())
}
