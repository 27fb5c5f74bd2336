//! A request whose body never finishes gets a 408 problem document when the request timeout
//! (30 s) passes, over HTTP/1.1 and over HTTP/2 (issue 18 item 3), not a reset; nothing is stored.
//! Raw clients (rustls, and the h2 crate) send a head that announces 2 000 bytes and then 4.
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vcc_pki_testkit::*;

/// Certificates issued to services (not the server's own, issued in the background).
fn issued(server: &TestServer) -> i64 {
    server
        .sql("SELECT COUNT(*) FROM certificates WHERE service_id NOT IN ('vcc-pki-server', 'vcc-pki-ocsp')")
        .parse()
        .unwrap()
}

fn tls_config(server: &TestServer, alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(server.root_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

async fn connect(
    server: &TestServer,
    alpn: &[u8],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let addr: std::net::SocketAddr = server.url.trim_start_matches("https://").parse().unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(tls_config(server, alpn))
        .connect(name, tcp)
        .await
        .unwrap()
}

const BODY_START: &[u8] = b"{\"se";

/// HTTP/1.1: the head, 4 bytes of the body, then silence; returns what the server sent.
async fn stalled_http1(server: &TestServer) -> (Duration, String) {
    let mut tls = connect(server, b"http/1.1").await;
    let head = format!(
        "POST /api/certificates/issue HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n",
        server.token
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(BODY_START).await.unwrap();
    tls.flush().await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), tls.read_to_end(&mut answer)).await;
    (
        started.elapsed(),
        String::from_utf8_lossy(&answer).to_string(),
    )
}

/// HTTP/2: the same on one stream; returns (waited, status, content type, body).
async fn stalled_http2(server: &TestServer) -> (Duration, u16, String, String) {
    let tls = connect(server, b"h2").await;
    let (mut client, connection) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(connection);
    let request = http::Request::post(format!("{}/api/certificates/issue", server.url))
        .header("authorization", format!("Bearer {}", server.token))
        .header("content-type", "application/json")
        .header("content-length", "2000")
        .body(())
        .unwrap();
    let (response, mut send) = client.send_request(request, false).unwrap();
    send.send_data(bytes::Bytes::from_static(BODY_START), false)
        .unwrap();
    let started = Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(60), response)
        .await
        .expect("no answer within 60 s")
        .expect("the stream was reset instead of answered");
    let waited = started.elapsed();
    let status = response.status().as_u16();
    let ctype = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the answer's body was cut off by a reset");
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (
        waited,
        status,
        ctype,
        String::from_utf8_lossy(&text).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_gets_a_408_problem_over_http1_and_http2() {
    let server = TestServer::start(Some(PASSWORD));
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let certificates = issued(&server);
    // Both at once: each waits out the 30 s timeout.
    let ((waited1, answer1), (waited2, status2, ctype2, body2)) =
        tokio::join!(stalled_http1(&server), stalled_http2(&server));

    assert!(answer1.starts_with("HTTP/1.1 408"), "{answer1}");
    assert!(
        answer1
            .to_lowercase()
            .contains("content-type: application/problem+json"),
        "{answer1}"
    );
    assert!(
        answer1.contains("urn:vcc-pki:problem:request-timeout"),
        "{answer1}"
    );
    assert_eq!(status2, 408, "{body2}");
    assert_eq!(ctype2, "application/problem+json");
    assert!(
        body2.contains("urn:vcc-pki:problem:request-timeout"),
        "{body2}"
    );
    for waited in [waited1, waited2] {
        assert!(
            waited >= Duration::from_secs(25) && waited < Duration::from_secs(45),
            "answered after {waited:?}, not at the 30 s request timeout"
        );
    }
    assert_eq!(issued(&server), certificates, "nothing is stored");
}
