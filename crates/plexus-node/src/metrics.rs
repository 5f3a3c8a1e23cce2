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
    /// Time spent executing finalized blocks since start, in microseconds.
    pub block_execution_micros: AtomicU64,
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
        // A summary without quantiles: mean = sum / count.
        let micros = self.block_execution_micros.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP plexus_block_execution_seconds Time executing finalized blocks.\n\
             # TYPE plexus_block_execution_seconds summary\n\
             plexus_block_execution_seconds_sum {}\n\
             plexus_block_execution_seconds_count {}",
            micros as f64 / 1e6,
            self.blocks_finalized.load(Ordering::Relaxed)
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_metric_with_its_value() {
        let m = NodeMetrics::default();
        m.finalized_height.store(42, Ordering::Relaxed);
        m.blocks_finalized.store(4, Ordering::Relaxed);
        m.block_execution_micros.store(2_500, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("\nplexus_finalized_height 42\n"), "{text}");
        assert!(text.contains("# TYPE plexus_block_execution_seconds summary"));
        assert!(
            text.contains("plexus_block_execution_seconds_sum 0.0025\n"),
            "{text}"
        );
        assert!(
            text.contains("plexus_block_execution_seconds_count 4"),
            "{text}"
        );
        // Every sample line is `name value` with a numeric value.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.split_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
