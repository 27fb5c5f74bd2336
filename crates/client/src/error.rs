use thiserror::Error;

/// Everything that can go wrong talking to VCC PKI, one variant per thing a caller reacts to.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the VCC PKI server at {url}: {detail}")]
    Connection { url: String, detail: String },
    #[error("not authorised ({status}): {detail}")]
    Auth { status: u16, detail: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("server refused ({status}): {detail}")]
    Server { status: u16, detail: String },
    #[error("certificate problem: {0}")]
    Certificate(String),
    #[error("no certificate stored yet for service '{0}': call request_certificate first")]
    NoCertificate(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

pub type Result<T> = std::result::Result<T, ClientError>;
