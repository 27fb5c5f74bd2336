//! rustls configurations whose certificate, trust anchors and CRL can change under them: a renewal
//! or a new CRL takes effect on the next handshake, with no restart and no new config object.
use crate::error::{ClientError, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use std::sync::{Arc, RwLock};

struct Trust {
    server_verifier: Arc<dyn ServerCertVerifier>,
    client_verifier: Arc<dyn ClientCertVerifier>,
}

/// The service's live TLS identity and its view of the CA (roots + latest CRL).
pub struct LiveTls {
    provider: Arc<CryptoProvider>,
    identity: RwLock<Option<Arc<CertifiedKey>>>,
    trust: RwLock<Option<Trust>>,
    /// The latest CRLs (DER), kept across trust rebuilds.
    crls: RwLock<Vec<Vec<u8>>>,
}

impl std::fmt::Debug for LiveTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveTls")
    }
}

fn tls_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Certificate(e.to_string())
}

impl LiveTls {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            identity: RwLock::new(None),
            trust: RwLock::new(None),
            crls: RwLock::new(Vec::new()),
        })
    }

    /// Install a certificate (leaf PEM), its chain (intermediate then root) and key.
    pub fn set_identity(&self, cert_pem: &str, chain_pem: &str, key_pem: &str) -> Result<()> {
        let mut chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                .collect::<std::result::Result<_, _>>()
                .map_err(tls_err)?;
        // Send the intermediate too, never the root.
        let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<std::result::Result<_, _>>()
            .map_err(tls_err)?;
        if let Some(intermediate) = ca.first() {
            if ca.len() > 1 {
                chain.push(intermediate.clone());
            }
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(tls_err)?;
        let certified = CertifiedKey::from_der(chain, key, &self.provider)?;
        *self
            .identity
            .write()
            .map_err(|_| tls_err("lock poisoned"))? = Some(Arc::new(certified));
        Ok(())
    }

    /// Trust the CA's root (last certificate of `chain_pem`) and check peers against `crls` (DER;
    /// `None` keeps the CRLs already known).
    pub fn set_trust(&self, chain_pem: &str, crls: Option<Vec<Vec<u8>>>) -> Result<()> {
        let crls = match crls {
            Some(new) => {
                *self.crls.write().map_err(|_| tls_err("lock poisoned"))? = new.clone();
                new
            }
            None => self
                .crls
                .read()
                .map_err(|_| tls_err("lock poisoned"))?
                .clone(),
        };
        let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<std::result::Result<_, _>>()
            .map_err(tls_err)?;
        let root = ca.last().ok_or_else(|| tls_err("CA chain is empty"))?;
        let mut roots = RootCertStore::empty();
        roots.add(root.clone())?;
        let roots = Arc::new(roots);
        let crls: Vec<CertificateRevocationListDer<'static>> = crls
            .into_iter()
            .map(CertificateRevocationListDer::from)
            .collect();
        let server_verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots.clone(),
            self.provider.clone(),
        )
        .with_crls(crls.clone())
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(tls_err)?;
        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots, self.provider.clone())
                .with_crls(crls)
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .build()
                .map_err(tls_err)?;
        *self.trust.write().map_err(|_| tls_err("lock poisoned"))? = Some(Trust {
            server_verifier,
            client_verifier,
        });
        Ok(())
    }

    pub fn has_identity(&self) -> bool {
        self.identity.read().map(|i| i.is_some()).unwrap_or(false)
    }

    fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.identity.read().ok().and_then(|i| i.clone())
    }

    fn server_verifier(&self) -> Option<Arc<dyn ServerCertVerifier>> {
        self.trust
            .read()
            .ok()
            .and_then(|t| t.as_ref().map(|t| t.server_verifier.clone()))
    }

    fn client_verifier(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        self.trust
            .read()
            .ok()
            .and_then(|t| t.as_ref().map(|t| t.client_verifier.clone()))
    }

    /// Server side of mTLS: presents the current certificate, requires a client certificate from the CA.
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(LiveClientVerifier(self.clone())))
            .with_cert_resolver(Arc::new(LiveServerCert(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Client side of mTLS: verifies servers against the CA (and CRL), presents the current certificate.
    pub fn client_config(self: &Arc<Self>) -> Result<ClientConfig> {
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LiveServerVerifier(self.clone())))
            .with_client_cert_resolver(Arc::new(LiveClientCert(self.clone()))))
    }
}

#[derive(Debug)]
struct LiveServerCert(Arc<LiveTls>);
impl ResolvesServerCert for LiveServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current()
    }
}

#[derive(Debug)]
struct LiveClientCert(Arc<LiveTls>);
impl ResolvesClientCert for LiveClientCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.current()
    }
    fn has_certs(&self) -> bool {
        self.0.has_identity()
    }
}

fn no_trust() -> rustls::Error {
    rustls::Error::General("no CA trust configured yet (request a certificate first)".into())
}

#[derive(Debug)]
struct LiveServerVerifier(Arc<LiveTls>);
impl ServerCertVerifier for LiveServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        self.0
            .server_verifier()
            .ok_or_else(no_trust)?
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.0.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.0.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(Debug)]
struct LiveClientVerifier(Arc<LiveTls>);
impl ClientCertVerifier for LiveClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.0
            .client_verifier()
            .ok_or_else(no_trust)?
            .verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            m,
            c,
            d,
            &self.0.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.0.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
