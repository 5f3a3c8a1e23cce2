//! Serving HTTP on a public port within bounds: connections overall and per peer, and
//! deadlines for slow, idle and stalled clients.
//!
//! `axum::serve` and hyper's own servers set none of these but a header deadline. Without
//! them a client trickling bytes, idling, or not reading holds a connection, and a file
//! descriptor, for as long as it likes, and one address opening connections can take every
//! slot the server has. A miner's axon, a
//! validator's gateway, a node's RPC and the explorer all face the internet, and all serve
//! through [`serve_bounded`].

mod body;
mod connection;
mod peer;
mod places;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

pub use body::{BodyTimeout, RequestBody};
use connection::{ClientStream, Connection, Hold};
pub use peer::{Origin, Peer};
use places::Places;

/// The longest a connection closing gracefully may take to finish its requests: a long
/// stream goes on, but a client that keeps a stream open by never reading it does not.
const MOST_GRACE: Duration = Duration::from_secs(600);

/// An error a service may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Bounds on the connections of one server.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once. Past it, a new connection from a peer holding at
    /// least two fewer than the peer holding the most takes the place of that peer's newest
    /// connection, which is closed (its requests under way get the header deadline to
    /// finish); other new ones are closed as soon as they are accepted. A WebSocket
    /// upgraded from a connection keeps its place; chosen to make room, it is cut at once
    /// (a WebSocket has no graceful close at this layer).
    pub max_connections: usize,
    /// Most connections open at once from one [`Peer`], those closing to make room for
    /// others included; past it, new ones from it are closed as soon as they are accepted.
    pub max_connections_per_peer: usize,
    /// Whether loopback (this machine) is held to the two bounds above, as one peer. When
    /// not, this machine's own tools are never turned away, however many connections
    /// others hold.
    pub bound_loopback: bool,
    /// Whether a request from loopback that carries `X-Forwarded-For` comes from the
    /// address that header ends with. Set it when a reverse proxy on this machine fronts
    /// the server and appends each client's address to the header (nginx:
    /// `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`, Caddy by default),
    /// so that limits per peer further in apply to the proxy's clients. A forwarded
    /// request is never this machine's: one whose last address is missing, malformed or
    /// loopback counts as [`Peer::UNNAMED`]. The connection caps still count the proxy's
    /// connections as this machine's: the proxy bounds those itself.
    pub forwarded_for: bool,
    /// How long a new connection may take to send its first request, and an HTTP/1 client
    /// a request's headers. hyper also holds an HTTP/1 connection's wait for its next
    /// request to it, so an idle HTTP/1 connection closes after this long.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive in full after its headers; past it,
    /// reading the body fails with [`BodyTimeout`] (axum's extractors answer 400; a
    /// handler may answer otherwise) and an HTTP/1 connection closes.
    pub body_timeout: Duration,
    /// How long an HTTP/2 connection may go without a new request before it is closed
    /// (requests under way finish first, for up to ten minutes).
    pub idle_timeout: Duration,
    /// Whether cleartext HTTP/2 (prior knowledge) is served besides HTTP/1. Its streams
    /// are held to 16 at once per connection, and a peer that stops answering pings is
    /// cut off.
    pub http2: bool,
    /// How long a write to a client may wait for it to read.
    pub write_timeout: Duration,
    /// How long open requests may take to finish once the server stops.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// 1,024 connections, 256 from one peer (a validator keeps many connections to each
    /// miner; consumers share addresses behind NAT), loopback not bounded, no proxy
    /// trusted; 10 s for a first request and for headers, 30 s for a body, 90 s idle for
    /// HTTP/2, HTTP/2 served, 30 s for a stalled write, 10 s to drain.
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_connections_per_peer: 256,
            bound_loopback: false,
            forwarded_for: false,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            http2: true,
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves on `listener` within `limits` until `stop` completes, then waits for open
/// connections to finish their requests for up to `limits.drain_timeout` and closes any
/// left (a WebSocket taken over by its handler lives on with the handler). `service` makes
/// the service for each connection from its peer's address; every request it sees carries
/// its [`Origin`] in its extensions, and its body in a [`RequestBody`] held to
/// `limits.body_timeout`. HTTP/1 (with upgrades, for WebSockets) and HTTP/2 (prior
/// knowledge, if `limits.http2`) are served.
pub async fn serve_bounded<M, S, B>(
    listener: TcpListener,
    service: M,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    M: FnMut(SocketAddr) -> S,
    S: tower_service::Service<http::Request<RequestBody>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with_origins(listener, service, limits, stop, Origin::of).await
}

/// [`serve_bounded`], with each connection's origin told by `origin_of` (tests stand in
/// other peers for loopback addresses).
async fn serve_with_origins<M, S, B>(
    listener: TcpListener,
    mut service: M,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send,
    origin_of: fn(SocketAddr) -> Origin,
) -> std::io::Result<()>
where
    M: FnMut(SocketAddr) -> S,
    S: tower_service::Service<http::Request<RequestBody>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let places = Places::new(limits.max_connections, limits.max_connections_per_peer);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(16)
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    // Every connection task holds a receiver: the sender learns when the last one ends.
    let (stopping, stopped) = watch::channel(false);
    // The connections' tasks, cut at the end of the drain; finished ones are reaped as
    // new connections come.
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(stop);
    loop {
        let (stream, addr) = tokio::select! {
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
        let origin = origin_of(addr);
        let hold = if origin == Origin::Local && !limits.bound_loopback {
            Hold::default()
        } else {
            // Dropping the stream closes it: the server, or the peer, is full.
            let Some(place) = places.admit(origin) else {
                continue;
            };
            Hold::bounded(place)
        };
        let hold = Arc::new(hold);
        let signals = hold.signals();
        // Small request/response exchanges: Nagle's algorithm would only add delay.
        let _ = stream.set_nodelay(true);
        let requests = Arc::new(Notify::new());
        let service = TowerToHyperService::new(Connection {
            inner: service(addr),
            origin,
            forwarded_for: limits.forwarded_for,
            hold: Arc::clone(&hold),
            requests: Arc::clone(&requests),
            body_timeout: limits.body_timeout,
        });
        let (builder, mut stopped) = (builder.clone(), stopped.clone());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            // However the task ends (done, upgraded, or cut at the end of the drain).
            let _settled = Settled(hold);
            let spoke_http2 = Arc::new(AtomicBool::new(false));
            let io = TokioIo::new(ClientStream::new(
                stream,
                limits.write_timeout,
                limits.http2,
                Arc::clone(&spoke_http2),
                signals.clone(),
            ));
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(connection);
            // Dropped if its first request does not come within the header deadline:
            // hyper reads the first bytes, which tell the HTTP version, with no deadline
            // of its own, and an HTTP/2 client that sent the preface alone would not even
            // finish a graceful close. Closed gracefully (requests under way finish) when
            // the server stops, and for HTTP/2 once it has gone the idle deadline without
            // a new request. HTTP/1 is not: hyper's header deadline already closes it
            // when idle, and closing it here would end keep-alive in the middle of a long
            // answer. Asked to make room for another peer, it closes the same way, but
            // with no more than the header deadline to finish. A failed connection is the
            // client's problem: nothing to report.
            let mut asked = false;
            let mut grace = MOST_GRACE;
            let signals = signals.as_deref();
            let cut_off = cut(signals);
            tokio::pin!(cut_off);
            loop {
                let idle_for = match asked {
                    true => limits.idle_timeout,
                    false => limits.header_timeout,
                };
                tokio::select! {
                    // A request that has come is seen before a signal to close.
                    biased;
                    _ = connection.as_mut() => return,
                    () = requests.notified() => asked = true,
                    () = tokio::time::sleep(idle_for),
                        if !asked || spoke_http2.load(Ordering::Relaxed) => break,
                    _ = stopped.changed() => break,
                    () = told(signals.map(|s| &s.close)) => {
                        grace = limits.header_timeout;
                        break;
                    }
                    () = &mut cut_off => return,
                }
            }
            if asked {
                connection.as_mut().graceful_shutdown();
                tokio::select! {
                    _ = tokio::time::timeout(grace, connection) => {}
                    () = &mut cut_off => {}
                }
            }
        });
    }
    drop(listener);
    drop(stopped);
    let _ = stopping.send(true);
    let _ = tokio::time::timeout(limits.drain_timeout, stopping.closed()).await;
    tasks.abort_all();
    Ok(())
}

/// Marks a connection's place as settled when its task ends: whatever still holds the
/// place then (a WebSocket) can no longer be closed gracefully, only cut.
struct Settled(Arc<Hold>);

impl Drop for Settled {
    fn drop(&mut self) {
        // Held elsewhere only by what was upgraded from the connection; otherwise the
        // place goes when this guard does, and settling it first would count it open
        // for a moment.
        if Arc::strong_count(&self.0) > 1 {
            self.0.settle();
        }
    }
}

/// Completes when `signal` is given; never if there is none (a connection that holds no
/// place under the caps).
async fn told(signal: Option<&Notify>) {
    match signal {
        Some(signal) => signal.notified().await,
        None => std::future::pending().await,
    }
}

/// Completes when the connection is cut; never if it holds no place under the caps.
async fn cut(signals: Option<&places::Signals>) {
    match signals {
        Some(signals) => signals.cut.given().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
