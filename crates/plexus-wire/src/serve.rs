//! Serving HTTP with the bounds a public endpoint needs and `axum::serve` does
//! not set: a cap on open connections, and a deadline for each request's
//! headers. Without them a client trickling bytes holds a connection, and a
//! file descriptor, for as long as it likes, and enough such clients take the
//! server down. A miner's axon and a validator's gateway both face the internet.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Bounds on the connections of one server.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once; past it, new ones wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (HTTP/1).
    pub header_timeout: Duration,
    /// How long open requests may take to finish once the server stops.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `stop` completes, then
/// lets open requests finish (up to `limits.drain_timeout`). HTTP/1 and
/// HTTP/2 (prior knowledge) are both served.
pub async fn serve_bounded(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
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
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors or an aborted handshake: wait a little and go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Small request/response exchanges: Nagle's algorithm would only add delay.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            // hyper's header deadline starts once it has read enough to tell the HTTP
            // version: a client that sends nothing at all is cut off here instead.
            let mut first = [0u8; 1];
            if !matches!(
                tokio::time::timeout(header_timeout, stream.peek(&mut first)).await,
                Ok(Ok(1))
            ) {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            // A failed connection is the client's problem: nothing to report here.
            let _ = watcher.watch(connection.into_owned()).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(limits.drain_timeout, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn started(
        limits: ConnectionLimits,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve_bounded(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    async fn get(addr: std::net::SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }

    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_cut_off() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(200),
            ..ConnectionLimits::default()
        };
        let (addr, _stop) = started(limits).await;
        assert!(get(addr).await.ends_with("ok"));
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server still holds the connection");
    }

    #[tokio::test]
    async fn a_client_that_sends_nothing_is_cut_off() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(200),
            ..ConnectionLimits::default()
        };
        let (addr, _stop) = started(limits).await;
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server still holds the connection");
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_for_a_free_one() {
        let limits = ConnectionLimits {
            max_connections: 1,
            header_timeout: Duration::from_millis(300),
            ..ConnectionLimits::default()
        };
        let (addr, _stop) = started(limits).await;
        // One idle connection holds the only slot until its header deadline.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"G").await.unwrap();
        let started_at = std::time::Instant::now();
        assert!(get(addr).await.ends_with("ok"));
        assert!(
            started_at.elapsed() >= Duration::from_millis(200),
            "served before the slot was free"
        );
    }
}
