//! The Plexus explorer: a web page over a node's public RPC, with its assets embedded in the binary.
//!
//! People judge a network by what they can see of it, so the explorer shows
//! the chain head, validators, subnets with their pools, each subnet's
//! metagraph with charts of incentive and emission over recent epochs,
//! recent blocks and transactions, and accounts. It is its own crate (and
//! not part of `plexus-node`) because it is only a client of the node's
//! public RPC: any node can be explored from anywhere, and nothing here can
//! change the chain.
//!
//! What it serves (see [`server`]):
//! - the page itself, plain HTML, CSS and JavaScript embedded with
//!   `include_str!` ([`assets`]): no build step, no framework, nothing
//!   fetched from anywhere but the explorer and the node;
//! - `POST /rpc`, a same-origin JSON-RPC proxy forwarding only the node's
//!   read-only methods ([`proxy`]);
//! - `GET /config.json`, where the page finds the node's WebSocket, on
//!   which it subscribes to finalized blocks for the live head;
//! - `GET /api/history/{netuid}`, the per-UID incentive and emission of the
//!   subnet's last epochs, which the node does not keep and the explorer
//!   samples itself ([`history`]).

pub mod assets;
pub mod budget;
pub mod history;
pub mod proxy;
pub mod server;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonrpsee_http_client::HttpClientBuilder;
use thiserror::Error;
use tokio::task::JoinHandle;

pub use history::{EpochSample, History, SharedHistory};
pub use proxy::{READ_METHODS, allowed};

/// The address `plexus up` serves the explorer on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8081";

/// The largest answer the explorer takes from its node: the node's own bound.
fn max_node_answer_bytes() -> u32 {
    plexus_node::rpc::RpcConfig::default().max_response_bytes
}

/// Where the explorer listens, which node it reads, and its bounds.
#[derive(Clone, Debug)]
pub struct ExplorerConfig {
    /// The address to serve the page on.
    pub listen: SocketAddr,
    /// The node's JSON-RPC URL (`http://` or `https://`); its WebSocket is
    /// the same address with `ws://` or `wss://`.
    pub rpc_url: String,
    /// Epochs of incentive and emission kept per subnet for the charts.
    pub history_epochs: usize,
    /// How often the history looks for new epochs.
    pub poll_interval: Duration,
    /// Largest `POST /rpc` body, bytes.
    pub max_request_bytes: usize,
    /// Most calls in one `POST /rpc` batch.
    pub max_batch: usize,
    /// Most calls in flight to the node at once; the rest wait their turn.
    pub max_in_flight: usize,
    /// Most `POST /rpc` requests waiting or in flight; more are refused (503).
    pub max_pending: usize,
    /// Longest wait for one answer from the node.
    pub request_timeout: Duration,
    /// Bytes of node answers held at once across all `POST /rpc` requests, until sent
    /// (see [`budget`]).
    pub max_answer_bytes: usize,
}

impl ExplorerConfig {
    /// Serves on `listen` over the node at `rpc_url`, with default bounds.
    pub fn new(listen: SocketAddr, rpc_url: impl Into<String>) -> Self {
        Self {
            listen,
            rpc_url: rpc_url.into(),
            history_epochs: 32,
            poll_interval: Duration::from_secs(2),
            // The largest read call is a few hundred bytes; a batch of them fits.
            max_request_bytes: 64 * 1024,
            max_batch: 32,
            max_in_flight: 16,
            max_pending: 256,
            request_timeout: Duration::from_secs(15),
            // Four of the largest answers the node sends.
            max_answer_bytes: 4 * max_node_answer_bytes() as usize,
        }
    }
}

/// Why the explorer could not start.
#[derive(Debug, Error)]
pub enum ExplorerError {
    /// The node's RPC URL is not an `http(s)://` URL the client accepts.
    #[error("the node's RPC URL {url} is not usable: {message}")]
    BadRpcUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot serve the explorer on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running explorer; dropping it stops it.
#[derive(Debug)]
pub struct Explorer {
    addr: SocketAddr,
    history: SharedHistory,
    server: JoinHandle<()>,
    poller: JoinHandle<()>,
}

impl Explorer {
    /// Binds `config.listen` and starts serving (and sampling the history)
    /// on the current Tokio runtime. The node need not be up yet: the page
    /// and the history retry until it answers.
    pub async fn start(config: ExplorerConfig) -> Result<Self, ExplorerError> {
        let bad_url = |message: String| ExplorerError::BadRpcUrl {
            url: config.rpc_url.clone(),
            message,
        };
        let ws_url = server::ws_url_of(&config.rpc_url)
            .ok_or_else(|| bad_url("expected http://HOST:PORT or https://HOST:PORT".to_owned()))?;
        // The page dials the node's WebSocket itself, so every visitor would be
        // handed the URL.
        if server::has_credentials(&config.rpc_url) {
            return Err(bad_url(
                "it holds credentials (user:password@), which every visitor of the page \
                 would be given: use a node URL without them"
                    .to_owned(),
            ));
        }
        let client = HttpClientBuilder::default()
            .request_timeout(config.request_timeout)
            .max_concurrent_requests(config.max_in_flight.max(1))
            // Metagraphs of big subnets are the largest answers; the node sends
            // none larger than its own bound, and neither do we take one.
            .max_response_size(max_node_answer_bytes())
            .build(&config.rpc_url)
            .map_err(|e| bad_url(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ExplorerError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ExplorerError::Listen {
                addr: config.listen,
                source,
            })?;
        let history: SharedHistory = Arc::new(RwLock::new(History::new(config.history_epochs)));
        let poller = tokio::spawn(history::poll(
            client.clone(),
            history.clone(),
            config.poll_interval,
        ));
        let state = server::AppState {
            client,
            history: history.clone(),
            ws_url,
            limits: proxy::ProxyLimits {
                max_batch: config.max_batch.max(1),
            },
            pending: Arc::new(tokio::sync::Semaphore::new(config.max_pending.max(1))),
            answers: budget::AnswerBudget::new(config.max_answer_bytes),
        };
        let app = server::router(state, config.max_request_bytes);
        let server = tokio::spawn(async move {
            // Bounded like the other public endpoints (see `plexus_serve`). HTTP/1
            // only: browsers speak HTTP/2 over TLS alone, which the explorer does not serve.
            let limits = plexus_serve::ConnectionLimits {
                http2: false,
                ..plexus_serve::ConnectionLimits::default()
            };
            let forever = std::future::pending::<()>();
            let service = move |_| app.clone();
            if let Err(e) = plexus_serve::serve_bounded(listener, service, limits, forever).await {
                tracing::error!(error = %e, "the explorer stopped serving");
            }
        });
        Ok(Self {
            addr,
            history,
            server,
            poller,
        })
    }

    /// The address it serves on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The epochs sampled so far.
    pub fn history(&self) -> SharedHistory {
        self.history.clone()
    }
}

impl Drop for Explorer {
    fn drop(&mut self) {
        self.server.abort();
        self.poller.abort();
    }
}
