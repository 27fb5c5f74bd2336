//! Two axum services, `billing` and `ledger`, that get certificates from a running VCC PKI and call
//! each other over mTLS, renewing in the background.
//!
//! ```sh
//! vcc-pki quickstart --data-dir ./demo &            # a CA on https://localhost:8443
//! VCC_PKI_URL=https://localhost:8443 VCC_PKI_CA=./demo/root.crt VCC_PKI_TOKEN=$(cat demo/admin.token) \
//!     cargo run -p vcc-pki-client --example mtls_pair
//! ```
use axum::routing::get;
use axum::{Extension, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use vcc_pki_client::{ClientOptions, PkiClient, RenewalPolicy};

fn env(name: &str) -> anyhow::Result<String> {
    std::env::var(name).map_err(|_| anyhow::anyhow!("set {name}"))
}

/// Register `service_id` with the admin token, then enroll with the one-time token it returns:
/// the key is made here and only a CSR travels.
async fn enroll(service_id: &str, storage: &std::path::Path) -> anyhow::Result<PkiClient> {
    let (url, ca, admin) = (
        env("VCC_PKI_URL")?,
        env("VCC_PKI_CA")?,
        env("VCC_PKI_TOKEN")?,
    );
    let options = ClientOptions::new(&url, service_id)
        .ca_bundle(&ca)
        .storage_dir(storage);
    let existing = PkiClient::new(options.clone())?;
    if existing.current_serial().is_some() {
        return Ok(existing);
    }
    let dns = format!("{service_id}.localhost");
    let registrar = PkiClient::new(
        options
            .clone()
            .token(&admin)
            .storage_dir(storage.join("registrar")),
    )?;
    let registered = registrar
        .register_service_allowing(
            service_id,
            &["https://127.0.0.1"],
            &[&dns, "localhost"],
            &["127.0.0.1"],
        )
        .await?;
    let enrollment = registered["enrollment_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no enrollment token"))?;
    let pki = PkiClient::new(options.token(enrollment))?;
    pki.request_certificate(&dns, &["localhost"], &["127.0.0.1"])
        .await?;
    Ok(pki)
}

async fn serve(pki: &PkiClient, name: &'static str) -> anyhow::Result<SocketAddr> {
    let config = axum_server::tls_rustls::RustlsConfig::from_config(pki.server_config()?);
    let app = Router::new().route(
        "/hello",
        get(
            move |Extension(tls): Extension<Arc<axum_server::tls::TlsInfo>>| async move {
                let peer = tls
                    .peer_certificates
                    .first()
                    .and_then(|der| {
                        x509_parser::parse_x509_certificate(der)
                            .ok()
                            .map(|(_, c)| c.subject().to_string())
                    })
                    .unwrap_or_default();
                format!("{name} greets {peer}")
            },
        ),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let server = axum_server::from_tcp_rustls(listener, config)?;
    tokio::spawn(async move { server.serve(app.into_make_service()).await });
    Ok(addr)
}

fn mtls_http(pki: &PkiClient) -> anyhow::Result<reqwest::Client> {
    let config = (*pki.client_config()?).clone();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .build()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let storage = std::env::temp_dir().join("vcc-pki-mtls-pair");
    let billing = enroll("billing", &storage).await?;
    let ledger = enroll("ledger", &storage).await?;
    let _renew_billing = billing.enable_auto_renewal(RenewalPolicy::default());
    let _renew_ledger = ledger.enable_auto_renewal(RenewalPolicy::default());

    let billing_addr = serve(&billing, "billing").await?;
    let ledger_addr = serve(&ledger, "ledger").await?;
    let from_billing = mtls_http(&billing)?
        .get(format!("https://localhost:{}/hello", ledger_addr.port()))
        .send()
        .await?
        .text()
        .await?;
    let from_ledger = mtls_http(&ledger)?
        .get(format!("https://localhost:{}/hello", billing_addr.port()))
        .send()
        .await?
        .text()
        .await?;
    println!("{from_billing}\n{from_ledger}");
    Ok(())
}
