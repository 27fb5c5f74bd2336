//! The Rust client against the real server: enrollment with a client-made key, mTLS between two
//! services with hot certificate swap, revocation-aware verification, background renewal.
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vcc_pki_client::{ClientError, ClientOptions, PkiClient, RenewalPolicy};
use vcc_pki_testkit::*;

async fn enroll(server: &TestServer, service_id: &str) -> PkiClient {
    let dns = format!("{service_id}.internal");
    let (s, reg) = server
        .admin("POST", "/api/services/register", Some(json!({"service_id": service_id, "service_name": service_id, "allowed_dns": [dns], "allowed_ip": ["127.0.0.1"]})))
        .await;
    assert_eq!(s, 201, "{reg}");
    let token = reg["enrollment_token"].as_str().unwrap();
    let options = ClientOptions::new(&server.url, service_id)
        .token(token)
        .ca_bundle(server.data_dir().join("root.crt"))
        .storage_dir(server.dir.path().join("pki_client"));
    let pki = PkiClient::new(options).unwrap();
    let info = pki
        .request_certificate(&dns, &[], &["127.0.0.1"])
        .await
        .unwrap();
    assert_eq!(Some(info.serial_number.clone()), pki.current_serial());
    pki
}

/// A TLS server on `config` that answers each connection with the peer's subject and closes.
async fn tls_echo_server(config: Arc<rustls::ServerConfig>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first().cloned())
                        .map(|der| {
                            x509_parser::parse_x509_certificate(&der)
                                .map(|(_, c)| c.subject().to_string())
                                .unwrap_or_default()
                        })
                        .unwrap_or_default();
                    let _ = tls.write_all(peer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    addr
}

/// Connect with `config`; returns (server certificate serial, what the server said about us).
async fn handshake(
    config: Arc<rustls::ClientConfig>,
    addr: std::net::SocketAddr,
    name: &str,
) -> Result<(String, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let server_name = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let serial = {
        let der = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        cert.raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .trim_start_matches("00")
            .to_string()
    };
    let mut said = String::new();
    tls.read_to_string(&mut said)
        .await
        .map_err(|e| e.to_string())?;
    if said.is_empty() {
        return Err("server closed without answering (client certificate refused)".into());
    }
    Ok((serial, said))
}

#[tokio::test]
async fn two_services_mtls_with_hot_renewal_and_revocation() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let billing = enroll(&server, "billing").await;
    let ledger = enroll(&server, "ledger").await;

    // Files as the seed client kept them, the key 0600.
    let key = billing.storage().key_path();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(billing.storage().cert_path().exists() && billing.storage().ca_chain_path().exists());

    let addr = tls_echo_server(billing.server_config().unwrap()).await;
    // A fresh config per handshake: a reused one would resume the TLS session and not see a new certificate.
    let ledger_tls = || ledger.client_config().unwrap();
    let (serial1, said) = handshake(ledger_tls(), addr, "billing.internal")
        .await
        .unwrap();
    assert_eq!(Some(serial1.clone()), billing.current_serial());
    assert!(said.contains("ledger.internal"), "server saw {said}");

    // A client without a certificate is refused by the mTLS server config.
    let anonymous = PkiClient::new(
        ClientOptions::new(&server.url, "nobody").storage_dir(server.dir.path().join("empty")),
    )
    .unwrap();
    anonymous
        .live_tls()
        .set_trust(&server.root_pem(), None)
        .unwrap();
    assert!(
        handshake(anonymous.client_config().unwrap(), addr, "billing.internal")
            .await
            .is_err()
    );

    // Forced renewal: same server object, no restart, the next handshake shows the new serial.
    let before_key = std::fs::read_to_string(&key).unwrap();
    let renewed = billing.renew_certificate().await.unwrap();
    assert_ne!(renewed.serial_number, serial1);
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        before_key,
        "renewal changed the key"
    );
    let (serial2, _) = handshake(ledger_tls(), addr, "billing.internal")
        .await
        .unwrap();
    assert_eq!(serial2, renewed.serial_number);

    // Server-side info over mTLS.
    let info = billing.get_certificate_info().await.unwrap();
    assert_eq!(info["serial_number"], renewed.serial_number.as_str());

    // Revocation-aware: once billing has the CRL listing ledger's certificate, ledger is refused.
    let (s, _) = server
        .admin(
            "POST",
            "/api/certificates/revoke",
            Some(json!({"service_id": "ledger", "reason": "keyCompromise"})),
        )
        .await;
    assert_eq!(s, 200);
    let mut refused = false;
    for _ in 0..50 {
        billing.refresh_revocation().await.unwrap();
        if handshake(ledger_tls(), addr, "billing.internal")
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        refused,
        "revoked client certificate still accepted after CRL refresh"
    );
    // And the revoked service can no longer renew.
    assert!(matches!(
        ledger.renew_certificate().await,
        Err(ClientError::Auth { .. })
    ));
}

#[tokio::test]
async fn auto_renewal_renews_when_due_and_stops() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let svc = enroll(&server, "svc").await;
    let first = svc.current_serial().unwrap();
    let addr = tls_echo_server(svc.server_config().unwrap()).await;
    let peer = enroll(&server, "peer").await;

    // Not due: a 365-day certificate with the default threshold is left alone.
    let idle = svc.enable_auto_renewal(RenewalPolicy {
        check_interval: Duration::from_millis(100),
        ..Default::default()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(idle.renewals(), 0);
    assert_eq!(svc.current_serial().unwrap(), first);
    idle.stop().await;

    // Due (threshold longer than the lifetime): renewed in the background, and served at once.
    let policy = RenewalPolicy {
        check_interval: Duration::from_millis(200),
        threshold: Some(Duration::from_secs(400 * 86400)),
        initial_backoff: Duration::from_millis(100),
    };
    let mut renewal = svc.enable_auto_renewal(policy);
    tokio::time::timeout(Duration::from_secs(20), renewal.wait_for_renewals(2))
        .await
        .expect("no background renewal");
    assert!(renewal.is_running());
    let now = svc.current_serial().unwrap();
    assert_ne!(now, first);
    renewal.stop().await;
    let stopped_at = svc.current_serial().unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        svc.current_serial().unwrap(),
        stopped_at,
        "renewal continued after stop"
    );
    let (served, _) = handshake(peer.client_config().unwrap(), addr, "svc.internal")
        .await
        .unwrap();
    assert_eq!(served, stopped_at);
}

#[tokio::test]
async fn errors_are_typed() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let options = ClientOptions::new(&server.url, "x")
        .token("vccenr_wrong")
        .ca_bundle(server.data_dir().join("root.crt"))
        .storage_dir(server.dir.path().join("c"));
    let pki = PkiClient::new(options.clone()).unwrap();
    assert!(matches!(
        pki.request_certificate("x.internal", &[], &[]).await,
        Err(ClientError::Auth { status: 401, .. })
    ));
    assert!(matches!(
        pki.renew_certificate().await,
        Err(ClientError::NoCertificate(_))
    ));
    let mut gone = options;
    gone.server_url = "https://127.0.0.1:9".into();
    let pki = PkiClient::new(gone).unwrap();
    assert!(matches!(
        pki.request_certificate("x.internal", &[], &[]).await,
        Err(ClientError::Connection { .. })
    ));
}
