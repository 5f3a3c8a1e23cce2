//! Prometheus metrics: a few counters and gauges of the node's own, then
//! those the consensus runtime keeps (p2p, marshal, its resolver, simplex),
//! served as text on `/metrics`. The node's own are atomics, and the runtime's
//! registry is read under its own lock, so a scrape never blocks the node.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use plexus_serve::{ConnectionLimits, RequestBody, serve_bounded};
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
    /// 1 while the node catches up with the chain, else 0.
    pub catching_up: AtomicU64,
    /// The consensus runtime's own metrics, once it runs.
    engine: OnceLock<EngineExposition>,
}

/// How to read the consensus runtime's metrics (its text exposition).
struct EngineExposition(Box<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for EngineExposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineExposition")
    }
}

impl NodeMetrics {
    /// Serves, after the node's own, the metrics `encode` gives: the consensus
    /// runtime's text exposition. Only the first call counts.
    pub fn attach_engine(&self, encode: impl Fn() -> String + Send + Sync + 'static) {
        let _ = self.engine.set(EngineExposition(Box::new(encode)));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &str, &AtomicU64); 8] = [
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
                "plexus_catching_up",
                "gauge",
                "1 while the node fetches blocks it is behind on, else 0.",
                &self.catching_up,
            ),
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
        if let Some(engine) = self.engine.get() {
            out.push_str(&text_format((engine.0)()));
        }
        out
    }
}

/// OpenMetrics (what the consensus runtime writes) in the text format this
/// endpoint serves: a counter family `x` has samples `x_total`, which the text
/// format types only if its `# HELP` and `# TYPE` lines name `x_total`; and
/// the closing `# EOF` ends nothing here.
fn text_format(openmetrics: String) -> String {
    let counters: std::collections::BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .filter(|name| !name.ends_with("_total"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 8 * counters.len());
    for line in openmetrics.lines().filter(|l| *l != "# EOF") {
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(described.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Serves `/metrics` on `addr` until the runtime stops; returns the bound address.
/// Through the same bounded accept loop as every other port: a scraper needs one
/// connection, so a few are allowed, each held to deadlines.
pub async fn serve(addr: SocketAddr, metrics: Arc<NodeMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let limits = ConnectionLimits {
        max_connections: 64,
        max_connections_per_peer: 8,
        http2: false,
        ..ConnectionLimits::default()
    };
    let exposition = Exposition(metrics);
    tokio::spawn(async move {
        let service = move |_| exposition.clone();
        if let Err(e) = serve_bounded(listener, service, limits, std::future::pending()).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    Ok(local)
}

/// The `/metrics` endpoint as a service.
#[derive(Clone, Debug)]
struct Exposition(Arc<NodeMetrics>);

impl tower_service::Service<Request<RequestBody>> for Exposition {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        let (status, body) =
            if request.method() == Method::GET && request.uri().path() == "/metrics" {
                (StatusCode::OK, self.0.render())
            } else {
                (StatusCode::NOT_FOUND, "try GET /metrics\n".to_owned())
            };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        );
        ready(Ok(response))
    }
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

    #[test]
    fn counters_of_the_runtime_are_typed_in_the_text_format() {
        let openmetrics = "# HELP p2p_sent Messages sent.\n# TYPE p2p_sent counter\n\
                           p2p_sent_total{peer=\"a\"} 3\n\
                           # HELP p2p_open Open connections.\n# TYPE p2p_open gauge\n\
                           p2p_open 2\n# EOF\n";
        assert_eq!(
            text_format(openmetrics.to_owned()),
            "# HELP p2p_sent_total Messages sent.\n# TYPE p2p_sent_total counter\n\
             p2p_sent_total{peer=\"a\"} 3\n\
             # HELP p2p_open Open connections.\n# TYPE p2p_open gauge\n\
             p2p_open 2\n"
        );
    }

    #[test]
    fn the_consensus_runtimes_metrics_follow_the_nodes_own() {
        let m = NodeMetrics::default();
        m.attach_engine(|| {
            "# HELP p2p_connections Connected peers.\n# TYPE p2p_connections gauge\n\
             p2p_connections 3\n# EOF\n"
                .to_owned()
        });
        let text = m.render();
        let own = text.find("plexus_finalized_height").unwrap();
        let engine = text.find("\np2p_connections 3\n").unwrap();
        assert!(own < engine, "{text}");
        assert!(!text.contains("# EOF"), "{text}");
        // The first runtime attached is the one served.
        m.attach_engine(|| "other 1\n".to_owned());
        assert!(!m.render().contains("other"));
    }

    #[tokio::test]
    async fn serves_metrics_and_nothing_else() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

        let metrics = Arc::new(NodeMetrics::default());
        metrics.finalized_height.store(7, Ordering::Relaxed);
        let addr = serve("127.0.0.1:0".parse().unwrap(), metrics)
            .await
            .unwrap();
        let get = |path: &'static str| async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut reply = String::new();
            stream.read_to_string(&mut reply).await.unwrap();
            reply
        };
        let reply = get("/metrics").await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("\nplexus_finalized_height 7\n"), "{reply}");
        assert!(get("/").await.starts_with("HTTP/1.1 404"));
    }
}
