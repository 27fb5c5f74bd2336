//! 2 000 idle or trickling connections do not stop `/api/health` (issue 18 item 3): with the
//! default caps (1 024 per listener, 256 per source), 1 000 silent connections to the HTTPS
//! listener and 1 000 to the plain-HTTP listener that send a request header one byte every 300 ms,
//! from eight sources each; meanwhile fresh HTTPS clients from another address get
//! `/api/health` answered within 1 s. Its own test binary: no other test's load shares the server.
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use vcc_pki_testkit::*;

const PER_LISTENER: usize = 1000;
const SOURCES: usize = 8;

async fn connect_from(local: &str, to: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(format!("{local}:0").parse().ok()?).ok()?;
    tokio::time::timeout(Duration::from_secs(5), socket.connect(to))
        .await
        .ok()?
        .ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_or_trickling_connections_leave_health_answering_within_a_second() {
    let http_port = free_port();
    let server = TestServer::start_with(
        Some(PASSWORD),
        vec!["--http-port".into(), http_port.to_string()],
    );
    server.create_ca("ecdsa-p256", "ecdsa-p256").await;
    let https: SocketAddr = server.url.trim_start_matches("https://").parse().unwrap();
    let http: SocketAddr = format!("127.0.0.1:{http_port}").parse().unwrap();

    let started = Instant::now();
    // Silent: TCP only, no TLS handshake.
    let mut silent = Vec::new();
    for i in 0..PER_LISTENER {
        let local = format!("127.0.1.{}", 10 + i % SOURCES);
        silent.push(tokio::spawn(
            async move { connect_from(&local, https).await },
        ));
    }
    let mut silent_open = Vec::new();
    for task in silent {
        if let Some(stream) = task.await.unwrap() {
            silent_open.push(stream);
        }
    }
    // Trickling: a request line and headers, one byte every 300 ms, never finished.
    let mut trickling = Vec::new();
    for i in 0..PER_LISTENER {
        let local = format!("127.0.2.{}", 10 + i % SOURCES);
        trickling.push(tokio::spawn(async move {
            let mut stream = connect_from(&local, http).await?;
            let request = b"GET /crl HTTP/1.1\r\nHost: ca.internal\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
            let mut sent = 0;
            for byte in request.iter().cycle().take(60) {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                sent += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Some(sent)
        }));
    }
    let opened = started.elapsed();
    assert!(
        silent_open.len() >= PER_LISTENER * 9 / 10,
        "only {} of {PER_LISTENER} HTTPS connections were accepted",
        silent_open.len()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // While they are held: fresh clients (a new TCP connection and TLS handshake each).
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let client = server.client();
        let t = Instant::now();
        let status = client
            .get(format!("{}/api/health", server.url))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16());
        latencies.push(t.elapsed());
        assert_eq!(
            status.ok(),
            Some(200),
            "health did not answer under the flood"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    latencies.sort();
    let worst = *latencies.last().unwrap();
    eprintln!(
        "{} silent HTTPS and {PER_LISTENER} trickling plain-HTTP connections opened in {opened:?}; /api/health p50 {:?}, max {worst:?}",
        silent_open.len(),
        latencies[latencies.len() / 2],
    );
    assert!(
        worst < Duration::from_secs(1),
        "/api/health took {worst:?} under 2 000 held connections"
    );
    // The flood was still there while health was asked: the trickling clients were still sending.
    let still_sending = trickling.iter().filter(|t| !t.is_finished()).count();
    assert!(
        still_sending >= PER_LISTENER / 2,
        "the trickling connections ended before the measurement ({still_sending} left)"
    );
    for t in trickling {
        t.abort();
    }
}
