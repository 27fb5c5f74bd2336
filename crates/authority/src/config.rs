//! What the authority needs to know of the server's configuration (no listener settings).
use std::path::PathBuf;
use zeroize::Zeroizing;

#[derive(Clone)]
pub struct AuthorityConfig {
    /// Where `root.crt` (the local CLI's trust anchor) is written.
    pub data_dir: PathBuf,
    /// The listen address; an IP address here goes into the server's own TLS certificate.
    pub host: String,
    pub ca_password: Option<Zeroizing<String>>,
    /// Extra DNS names for the server's own TLS certificate.
    pub dns_names: Vec<String>,
    /// Base URL certificates name in AIA and CRL distribution points.
    pub public_url: Option<String>,
    /// CRL shards new certificates are spread over when a public URL is set (0: one CRL).
    pub crl_shards: u32,
}

impl std::fmt::Debug for AuthorityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityConfig")
            .field("data_dir", &self.data_dir)
            .field("host", &self.host)
            .field("ca_password", &self.ca_password.as_ref().map(|_| "[set]"))
            .field("dns_names", &self.dns_names)
            .field("public_url", &self.public_url)
            .field("crl_shards", &self.crl_shards)
            .finish()
    }
}

impl AuthorityConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            host: "127.0.0.1".into(),
            ca_password: None,
            dns_names: Vec::new(),
            public_url: None,
            crl_shards: 16,
        }
    }
}

/// Where the server's own TLS certificate goes once the authority has issued it, and which CA
/// certificates client certificates must chain to. The server's TLS listener implements it.
pub trait ServerTls: Send + Sync {
    /// Serve this certificate (PEM), with the chain (PEM, intermediate first) and its PKCS#8 key.
    fn install(
        &self,
        certificate_pem: &str,
        chain_pem: &str,
        key_pkcs8: &[u8],
        not_before: time::OffsetDateTime,
        not_after: time::OffsetDateTime,
    ) -> Result<(), String>;
    /// Trust these CA certificates (DER) for client certificates; empty turns client auth off.
    fn set_client_trust(&self, ca_ders: &[Vec<u8>]);
    /// The certificate served now: whether the CA issued it, and its validity.
    fn served(&self) -> Option<ServedValidity>;
    /// The serial of the certificate served now, if it can be read.
    fn served_serial(&self) -> Option<vcc_pki_core::Serial> {
        None
    }
}

/// What the authority needs to know of the certificate the server presents.
#[derive(Debug, Clone, Copy)]
pub struct ServedValidity {
    pub issued_by_ca: bool,
    pub not_before: time::OffsetDateTime,
    pub not_after: time::OffsetDateTime,
}
