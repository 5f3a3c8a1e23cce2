//! Serving HTTP on a public port within bounds: connections overall and per peer, and
//! deadlines for a request's headers.
//!
//! `axum::serve` and hyper's own servers set none of these. Without them a client
//! trickling bytes holds a connection, and a file descriptor, for as long as it likes, and
//! one address opening connections can take every slot the server has. A miner's axon, a
//! validator's gateway, a node's RPC and the explorer all face the internet, and all serve
//! through [`serve_bounded`].

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// An error a service may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds on the connections of one server.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// Most connections open at once from one [`Peer`]; past it, new ones from it are
    /// closed as soon as they are accepted. Loopback (this machine) is not bounded per peer.
    pub max_connections_per_peer: usize,
    /// How long a client may take to send a request's headers (HTTP/1).
    pub header_timeout: Duration,
    /// How long open requests may take to finish once the server stops.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 1,024 connections, with no bound per address below that (a validator keeps many
    /// connections to each miner, and consumers share addresses behind NAT); 10 s for
    /// headers and for draining.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_peer: 1024,
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves on `listener` within `limits` until `stop` completes, then lets open requests
/// finish (up to `limits.drain_timeout`). `service` makes the service for each connection
/// from its peer's address. HTTP/1 (with upgrades, for WebSockets) and HTTP/2 (prior
/// knowledge) are both served.
pub async fn serve_bounded<M, S, B>(
    listener: TcpListener,
    mut service: M,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    M: FnMut(SocketAddr) -> S,
    S: tower_service::Service<http::Request<Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let peers = PeerCounts::new(limits.max_connections_per_peer.max(1));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(stop);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of descriptors or an aborted handshake: wait a little and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Dropping the stream closes it: the peer has all the connections it may.
        let counted = match Peer::of(peer) {
            Some(remote) => match peers.admit(remote) {
                Some(counted) => Some(counted),
                None => continue,
            },
            None => None,
        };
        // Small request/response exchanges: Nagle's algorithm would only add delay.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(service(peer));
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            if version_known(&stream, header_timeout).await {
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                // A failed connection is the client's problem: nothing to report here.
                let _ = watcher.watch(connection.into_owned()).await;
            }
            drop((counted, slot));
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await;
    Ok(())
}

/// Who a connection comes from, for bounds per peer: an IPv4 address, or an IPv6 /64
/// (a single host is commonly given a whole /64, so counting its addresses one by one would
/// bound nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer(IpAddr);

impl Peer {
    /// The peer `addr` belongs to; `None` for loopback, which is this machine itself (its
    /// own tools, or a reverse proxy in front of the server, which must then bound its
    /// clients itself).
    pub fn of(addr: SocketAddr) -> Option<Peer> {
        let ip = addr.ip().to_canonical();
        if ip.is_loopback() {
            return None;
        }
        Some(Peer(match ip {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        }))
    }
}

/// Where a connection comes from, as [`Marked`] puts it in every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// This machine (loopback).
    Local,
    /// Another machine.
    Remote(Peer),
}

impl Origin {
    /// The origin of a connection from `addr`.
    pub fn of(addr: SocketAddr) -> Origin {
        Peer::of(addr).map_or(Origin::Local, Origin::Remote)
    }
}

/// A connection's service, with the connection's [`Origin`] put in each request's
/// extensions (for limits per peer further in).
#[derive(Clone, Debug)]
pub struct Marked<S> {
    inner: S,
    origin: Origin,
}

impl<S> Marked<S> {
    /// `inner`, serving a connection from `addr`.
    pub fn new(inner: S, addr: SocketAddr) -> Self {
        Self {
            inner,
            origin: Origin::of(addr),
        }
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for Marked<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.origin);
        self.inner.call(request)
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The first bytes an HTTP/2 client sends (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits, up to `within`, until the client's first bytes tell its HTTP version: a byte
/// that departs from HTTP/2's preface (HTTP/1), or the whole preface. hyper reads them
/// with no deadline (its header deadline starts once it knows the version), so a client
/// that sends nothing, or a few bytes of the preface, would otherwise hold its connection
/// for ever. False if the client sends too little in time, or goes.
async fn version_known(stream: &tokio::net::TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut first = [0u8; HTTP2_PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        if n == HTTP2_PREFACE.len() || first[..n] != HTTP2_PREFACE[..n] {
            return true;
        }
        // Part of the preface: the rest is on its way, or never comes. Peeking returns at
        // once while any byte waits, so look again a little later.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

/// Open connections per peer. Only peers with a connection open have an entry, so the map
/// is no larger than the connection cap.
#[derive(Clone)]
struct PeerCounts {
    open: Arc<Mutex<HashMap<Peer, usize>>>,
    max: usize,
}

/// One counted connection; it is uncounted when dropped.
struct Counted {
    peers: PeerCounts,
    peer: Peer,
}

impl PeerCounts {
    fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max,
        }
    }

    /// Counts a new connection from `peer`, unless it has as many open as it may.
    fn admit(&self, peer: Peer) -> Option<Counted> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(peer).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Counted {
            peers: self.clone(),
            peer,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self
            .peers
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests;
