//! Caps on concurrent connections (issue 16): per listener and per source address, so that one
//! client (or one flood) holding connections open cannot take every file descriptor and stop the
//! others. A connection over a cap is closed as soon as it is accepted, before TLS; the rest of
//! the listener is not affected. And an idle timeout: a connection that moves no byte either way
//! for [`Caps::idle`] is closed (HTTP/1.1 keep-alive, HTTP/2, a TLS handshake never finished, a
//! client gone silent). An acceptor in front of TLS, for every listener.
use axum_server::accept::Accept;
use std::collections::HashMap;
use std::future::{ready, Future, Ready};
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub const REFUSED_METRIC: &str = "vcc_pki_connections_refused_total";

/// How many connections a listener takes at once, and from one source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: usize,
    pub per_source: usize,
    /// A connection with no byte read or written for this long is closed.
    pub idle: std::time::Duration,
}

#[derive(Debug)]
struct Open {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// The connections a listener holds.
#[derive(Debug)]
pub struct ConnectionCap {
    listener: &'static str,
    caps: Caps,
    open: Mutex<Open>,
}

/// Held by an open connection; gives its place back when dropped.
#[derive(Debug)]
pub struct Admitted {
    cap: Arc<ConnectionCap>,
    source: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Ok(mut open) = self.cap.open.lock() {
            open.total = open.total.saturating_sub(1);
            if let Some(n) = open.by_source.get_mut(&self.source) {
                *n -= 1;
                if *n == 0 {
                    open.by_source.remove(&self.source);
                }
            }
        }
    }
}

impl ConnectionCap {
    pub fn new(listener: &'static str, caps: Caps) -> Arc<Self> {
        Arc::new(Self {
            listener,
            caps,
            open: Mutex::new(Open {
                total: 0,
                by_source: HashMap::new(),
            }),
        })
    }

    /// A place for a connection from `source` (an IPv6 host counts as its /64), or why not.
    pub fn admit(self: &Arc<Self>, source: IpAddr) -> Result<Admitted, &'static str> {
        let source = source_key(source);
        let mut open = self.open.lock().map_err(|_| "lock poisoned")?;
        if open.total >= self.caps.total {
            return Err("listener");
        }
        let from_source = open.by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.caps.per_source {
            return Err("source");
        }
        open.total += 1;
        *open.by_source.entry(source).or_default() += 1;
        Ok(Admitted {
            cap: self.clone(),
            source,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().map(|o| o.total).unwrap_or(0)
    }
}

/// The address a source is counted under: IPv4 as is (also IPv4-mapped IPv6), IPv6 by its /64,
/// the range one host or subscriber holds.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::V6(std::net::Ipv6Addr::from(octets))
            }
        },
    }
}

/// The acceptor that applies a [`ConnectionCap`] to each accepted TCP connection.
#[derive(Debug, Clone)]
pub struct CappedAcceptor {
    cap: Arc<ConnectionCap>,
}

impl CappedAcceptor {
    pub fn new(cap: Arc<ConnectionCap>) -> Self {
        Self { cap }
    }
}

impl<S> Accept<TcpStream, S> for CappedAcceptor {
    type Stream = Capped;
    type Service = S;
    type Future = Ready<io::Result<(Capped, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let source = match stream.peer_addr() {
            Ok(addr) => addr.ip(),
            Err(e) => return ready(Err(e)),
        };
        ready(match self.cap.admit(source) {
            Ok(admitted) => Ok((
                Capped {
                    stream,
                    _admitted: admitted,
                    idle: self.cap.caps.idle,
                    deadline: Box::pin(tokio::time::sleep(self.cap.caps.idle)),
                },
                service,
            )),
            Err(which) => {
                metrics::counter!(REFUSED_METRIC, "listener" => self.cap.listener, "cap" => which)
                    .increment(1);
                tracing::debug!(listener = self.cap.listener, cap = which, %source, "connection refused: over the cap");
                Err(io::Error::other("over the connection cap"))
            }
        })
    }
}

/// A TCP connection holding its place under the cap, closed when idle.
#[derive(Debug)]
pub struct Capped {
    stream: TcpStream,
    _admitted: Admitted,
    idle: std::time::Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Capped {
    fn moved(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(result)
            }
            // Waiting for the peer: the idle deadline decides how long.
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle connection closed",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        written
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        written
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_listener_and_per_source_and_places_come_back() {
        let cap = ConnectionCap::new(
            "https",
            Caps {
                total: 3,
                per_source: 2,
                idle: std::time::Duration::from_secs(60),
            },
        );
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = cap.admit(a).unwrap();
        let _a2 = cap.admit(a).unwrap();
        assert_eq!(cap.admit(a).err(), Some("source"));
        let _b1 = cap.admit(b).unwrap();
        assert_eq!(cap.admit(b).err(), Some("listener"));
        drop(a1);
        assert_eq!(cap.open(), 2);
        assert!(cap.admit(a).is_ok());
        // One IPv6 host's addresses share its /64's places.
        let wide = ConnectionCap::new(
            "https",
            Caps {
                total: 10,
                per_source: 1,
                idle: std::time::Duration::from_secs(60),
            },
        );
        let _first = wide.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert_eq!(
            wide.admit("2001:db8::2".parse().unwrap()).err(),
            Some("source")
        );
        assert!(wide.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
