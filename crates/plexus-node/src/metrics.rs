//! Prometheus metrics: a few counters and gauges, served as text on
//! `/metrics`. The endpoint reads atomics only, so it never blocks the node.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The node's metrics.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    /// Highest finalized height.
    pub finalized_height: AtomicU64,
    /// Highest height seen.
    pub height: AtomicU64,
    /// Transactions in the mempool.
    pub mempool: AtomicU64,
    /// Peers configured.
    pub peers: AtomicU64,
    /// Finalized blocks delivered since start (replays included).
    pub blocks_finalized: AtomicU64,
    /// Transactions in those blocks.
    pub transactions_finalized: AtomicU64,
    /// JSON-RPC calls served.
    pub rpc_requests: AtomicU64,
}

impl NodeMetrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &str, &AtomicU64); 7] = [
            (
                "plexus_finalized_height",
                "gauge",
                "Highest finalized block height.",
                &self.finalized_height,
            ),
            (
                "plexus_height",
                "gauge",
                "Highest block height seen.",
                &self.height,
            ),
            (
                "plexus_mempool_transactions",
                "gauge",
                "Transactions waiting in the mempool.",
                &self.mempool,
            ),
            ("plexus_peers", "gauge", "Peers configured.", &self.peers),
            (
                "plexus_blocks_finalized_total",
                "counter",
                "Finalized blocks delivered since start.",
                &self.blocks_finalized,
            ),
            (
                "plexus_transactions_finalized_total",
                "counter",
                "Transactions in finalized blocks since start.",
                &self.transactions_finalized,
            ),
            (
                "plexus_rpc_requests_total",
                "counter",
                "JSON-RPC calls served.",
                &self.rpc_requests,
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

/// Serves `/metrics` on `addr` until the runtime stops; returns the bound address.
pub async fn serve(addr: SocketAddr, metrics: Arc<NodeMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let metrics = metrics.clone();
            tokio::spawn(async move {
                // Requests are tiny; read what arrives and answer once.
                let mut buf = [0u8; 1024];
                let n = stream.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]);
                let (status, body) = if request.starts_with("GET /metrics") {
                    ("200 OK", metrics.render())
                } else {
                    ("404 Not Found", "try /metrics\n".to_owned())
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(local)
}
