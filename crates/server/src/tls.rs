//! The server's TLS: a certificate that can be swapped without a restart (self-signed until the
//! intermediate exists, then issued by it), and optional client-certificate authentication whose
//! trust anchors follow the CA.
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use std::sync::{Arc, RwLock};

/// Where the current self-signed bootstrap certificate is published inside the TLS dir.
pub const SELF_SIGNED_FILE: &str = "self-signed.pem";

/// The certificate the server presents, plus when it was issued and expires (for self-renewal).
#[derive(Debug, Clone)]
pub struct ServedCertificate {
    pub key: Arc<CertifiedKey>,
    pub issued_by_ca: bool,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}

#[derive(Debug)]
pub struct TlsState {
    provider: Arc<CryptoProvider>,
    /// Where the CA-issued server certificate and key are kept (dir 0700, key 0600), so that a
    /// sealed restart still serves a certificate clients trust.
    store_dir: Option<std::path::PathBuf>,
    current: RwLock<ServedCertificate>,
    client_verifier: RwLock<Option<Arc<dyn ClientCertVerifier>>>,
}

impl TlsState {
    /// Load the stored CA-issued certificate from `dir` if it is still valid; else start self-signed.
    pub fn load_or_self_signed(
        dir: &std::path::Path,
        dns_names: &[String],
    ) -> anyhow::Result<Arc<Self>> {
        let state = Self::new_self_signed(dns_names)?;
        let mut state =
            Arc::try_unwrap(state).map_err(|_| anyhow::anyhow!("TLS state shared too early"))?;
        state.store_dir = Some(dir.to_path_buf());
        // The bootstrap certificate, for a CLI on this host to trust until the intermediate exists.
        vcc_pki_authority::files::ensure_private_dir(dir)?;
        if let Some(der) = state
            .served()
            .and_then(|s| s.key.cert.first().map(|c| c.to_vec()))
        {
            vcc_pki_authority::files::write_public(
                &dir.join(SELF_SIGNED_FILE),
                vcc_pki_core::certificate_pem(&der).as_bytes(),
            )?;
        }
        let cert = std::fs::read_to_string(dir.join("server.pem"));
        let key = std::fs::read_to_string(dir.join("server.key"));
        if let (Ok(cert), Ok(key)) = (cert, key) {
            match Self::stored_certificate(&state.provider, &cert, &key) {
                Ok(served) => {
                    if let Ok(mut current) = state.current.write() {
                        *current = served;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stored server certificate not usable; starting self-signed")
                }
            }
        }
        Ok(Arc::new(state))
    }

    fn stored_certificate(
        provider: &Arc<CryptoProvider>,
        cert_pem: &str,
        key_pem: &str,
    ) -> anyhow::Result<ServedCertificate> {
        let chain: Vec<CertificateDer<'static>> =
            vcc_pki_core::pem_decode_all(cert_pem, "CERTIFICATE")?
                .into_iter()
                .map(CertificateDer::from)
                .collect();
        let leaf = chain
            .first()
            .ok_or_else(|| anyhow::anyhow!("no certificate"))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf)?;
        let not_after = parsed.validity().not_after.to_datetime();
        if not_after <= time::OffsetDateTime::now_utc() {
            anyhow::bail!("expired");
        }
        let not_before = parsed.validity().not_before.to_datetime();
        let key = vcc_pki_core::pem_decode_all(key_pem, "PRIVATE KEY")?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no key"))?;
        let certified = CertifiedKey::from_der(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            provider,
        )?;
        Ok(ServedCertificate {
            key: Arc::new(certified),
            issued_by_ca: true,
            not_before,
            not_after,
        })
    }

    /// Start with a fresh self-signed certificate (memory only) for localhost and the host's addresses.
    pub fn new_self_signed(dns_names: &[String]) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let bootstrap = vcc_pki_core::profile::server_tls::bootstrap_certificate(
            dns_names,
            time::OffsetDateTime::now_utc(),
        )?;
        let certified = CertifiedKey::from_der(
            vec![CertificateDer::from(bootstrap.certificate_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(bootstrap.key_pkcs8.to_vec())),
            &provider,
        )?;
        Ok(Arc::new(Self {
            provider,
            store_dir: None,
            current: RwLock::new(ServedCertificate {
                key: Arc::new(certified),
                issued_by_ca: false,
                not_before: bootstrap.validity.not_before,
                not_after: bootstrap.validity.not_after,
            }),
            client_verifier: RwLock::new(None),
        }))
    }

    /// Swap in a certificate issued by the CA (chain = intermediate + root PEM).
    pub fn install(
        &self,
        cert_pem: &str,
        chain_pem: &str,
        key_pkcs8: &[u8],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> anyhow::Result<()> {
        let mut chain: Vec<CertificateDer<'static>> = Vec::new();
        for der in vcc_pki_core::pem_decode_all(cert_pem, "CERTIFICATE")?
            .into_iter()
            .chain(
                vcc_pki_core::pem_decode_all(chain_pem, "CERTIFICATE")?
                    .into_iter()
                    .take(1),
            )
        {
            chain.push(CertificateDer::from(der));
        }
        let chain_pem: String = chain
            .iter()
            .map(|c| vcc_pki_core::certificate_pem(c))
            .collect();
        let certified = CertifiedKey::from_der(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec())),
            &self.provider,
        )?;
        if let Some(dir) = &self.store_dir {
            vcc_pki_authority::files::ensure_private_dir(dir)?;
            let key_pem =
                zeroize::Zeroizing::new(vcc_pki_core::pem_encode("PRIVATE KEY", key_pkcs8));
            vcc_pki_authority::files::write_secret(&dir.join("server.key"), key_pem.as_bytes())?;
            vcc_pki_authority::files::write_public(&dir.join("server.pem"), chain_pem.as_bytes())?;
        }
        let mut current = self
            .current
            .write()
            .map_err(|_| anyhow::anyhow!("TLS lock poisoned"))?;
        *current = ServedCertificate {
            key: Arc::new(certified),
            issued_by_ca: true,
            not_before,
            not_after,
        };
        Ok(())
    }

    pub fn served(&self) -> Option<ServedCertificate> {
        self.current.read().ok().map(|c| c.clone())
    }

    /// Trust these CA certificates (DER) for client certificates; empty turns client auth off.
    pub fn set_client_trust(&self, ca_ders: &[Vec<u8>]) {
        let verifier = if ca_ders.is_empty() {
            None
        } else {
            let mut roots = RootCertStore::empty();
            for der in ca_ders {
                if let Err(e) = roots.add(CertificateDer::from(der.clone())) {
                    tracing::warn!(error = %e, "CA certificate not usable as a client trust anchor");
                }
            }
            match WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .allow_unauthenticated()
            .build()
            {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!(error = %e, "client certificate verifier not built");
                    None
                }
            }
        };
        if let Ok(mut slot) = self.client_verifier.write() {
            *slot = verifier;
        }
    }

    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(DynamicClientVerifier(self.clone())))
            .with_cert_resolver(Arc::new(SwappableCert(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    fn verifier(&self) -> Option<Arc<dyn ClientCertVerifier>> {
        self.client_verifier.read().ok().and_then(|v| v.clone())
    }
}

#[derive(Debug)]
struct SwappableCert(Arc<TlsState>);

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current.read().ok().map(|c| c.key.clone())
    }
}

/// Delegates to a webpki verifier for the current CA; offers client auth only once a CA exists.
/// A client certificate is optional at the TLS layer; the API decides what it may do.
#[derive(Debug)]
struct DynamicClientVerifier(Arc<TlsState>);

impl ClientCertVerifier for DynamicClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.verifier().is_some()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.0.verifier() {
            Some(v) => v.verify_client_cert(end_entity, intermediates, now),
            None => Err(rustls::Error::General(
                "client certificates are not accepted yet".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
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

impl vcc_pki_authority::ServerTls for TlsState {
    fn install(
        &self,
        certificate_pem: &str,
        chain_pem: &str,
        key_pkcs8: &[u8],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Result<(), String> {
        TlsState::install(
            self,
            certificate_pem,
            chain_pem,
            key_pkcs8,
            not_before,
            not_after,
        )
        .map_err(|e| format!("{e:#}"))
    }

    fn set_client_trust(&self, ca_ders: &[Vec<u8>]) {
        TlsState::set_client_trust(self, ca_ders)
    }

    fn served_serial(&self) -> Option<vcc_pki_core::Serial> {
        let s = TlsState::served(self)?;
        let der = s.key.cert.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        Some(vcc_pki_core::Serial::from_bytes(cert.raw_serial()))
    }

    fn served(&self) -> Option<vcc_pki_authority::ServedValidity> {
        let s = TlsState::served(self)?;
        Some(vcc_pki_authority::ServedValidity {
            issued_by_ca: s.issued_by_ca,
            not_before: s.not_before,
            not_after: s.not_after,
        })
    }
}
