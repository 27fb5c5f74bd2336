//! Connection caps (issue 16): per listener and per source address, closed as soon as accepted.
//! Its own test binary, so that no other test's load (the flood in abuse.rs) delays the server's
//! accept loop.
use std::time::Duration;
use vcc_pki_testkit::*;

fn client_from(server: &TestServer, local: &str) -> reqwest::Client {
    let root = reqwest::Certificate::from_pem(server.root_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([root])
        .local_address(local.parse::<std::net::IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An idle TCP connection to the HTTPS listener from `local`, held open.
async fn hold_from(server: &TestServer, local: &str) -> tokio::net::TcpStream {
    let addr: std::net::SocketAddr = server.url.trim_start_matches("https://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    // The server admits connections in tasks of their own: let it take this one before the next
    // is opened, so that "the 5th" is the one over the cap.
    tokio::time::sleep(Duration::from_millis(150)).await;
    stream
}

/// Whether the server closed `stream` at once instead of waiting for a TLS handshake (which it
/// gives up on after 10 s: the window is shorter than that).
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(7), stream.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

async fn health_from(server: &TestServer, local: &str) -> Option<u16> {
    let r = client_from(server, local)
        .get(format!("{}/api/health", server.url))
        .send()
        .await
        .ok()?;
    Some(r.status().as_u16())
}

#[tokio::test]
async fn connections_are_capped_per_source_and_per_listener() {
    let server = TestServer::start_with(
        Some(PASSWORD),
        vec![
            "--max-connections".into(),
            "10".into(),
            "--max-connections-per-source".into(),
            "4".into(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // One source holds its 4; its 5th is closed at once, and others still get answers.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(hold_from(&server, "127.0.0.3").await);
    }
    let mut fifth = hold_from(&server, "127.0.0.3").await;
    assert!(
        closed_by_server(&mut fifth).await,
        "a 5th connection from one source was kept"
    );
    assert_eq!(health_from(&server, "127.0.0.1").await, Some(200));
    // Fill the listener (10) from two more sources: the next connection from anywhere is closed.
    for local in ["127.0.0.4", "127.0.0.5"] {
        for _ in 0..3 {
            held.push(hold_from(&server, local).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(held.len(), 10);
    let mut over = hold_from(&server, "127.0.0.6").await;
    assert!(
        closed_by_server(&mut over).await,
        "an 11th connection was kept"
    );
    // Places come back when connections close.
    held.truncate(5);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(health_from(&server, "127.0.0.1").await, Some(200));
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = scrape_metrics(&server).await;
    for cap in ["source", "listener"] {
        assert!(
            metric_sample(
                &text,
                "vcc_pki_connections_refused_total",
                &[("listener", "https"), ("cap", cap)]
            ) >= 1.0,
            "{cap}"
        );
    }
}

/// Seconds until the server closes `stream` (reads until EOF or error), at most `limit`.
async fn closed_after(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Duration> {
    use tokio::io::AsyncReadExt;
    let started = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(
            limit.saturating_sub(started.elapsed()),
            stream.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn idle_connections_are_closed_on_every_listener() {
    let port = free_port();
    let server = TestServer::start_with(
        Some(PASSWORD),
        vec![
            "--idle-timeout".into(),
            "2s".into(),
            "--http-port".into(),
            port.to_string(),
        ],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    // HTTPS: a connection that never starts its TLS handshake.
    let mut silent = hold_from(&server, "127.0.0.7").await;
    let took = closed_after(&mut silent, Duration::from_secs(8)).await;
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(6)),
        "HTTPS kept a silent connection: {took:?}"
    );
    // Plain HTTP: a keep-alive connection after one answered request.
    use tokio::io::AsyncWriteExt;
    let mut kept = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let took = closed_after(&mut kept, Duration::from_secs(8)).await;
    assert!(
        took.is_some_and(|t| t >= Duration::from_secs(1) && t < Duration::from_secs(6)),
        "plain HTTP kept an idle keep-alive connection: {took:?}"
    );
    // A client that keeps talking keeps being answered: five requests a second apart.
    let client = client_from(&server, "127.0.0.8");
    for _ in 0..5 {
        assert_eq!(
            client
                .get(format!("{}/healthz", server.url))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
}
