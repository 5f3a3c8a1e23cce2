//! `plexus node --home DIR`: one chain node from the config and keys in DIR, with the
//! web explorer beside its RPC when asked; `plexus explorer`: the explorer alone, over
//! any node's RPC.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use plexus_explorer::{Explorer, ExplorerConfig};
use plexus_ledger::{Genesis, Ledger};
use plexus_node::config::NodeConfig;
use plexus_node::consensus::{TcpValidatorConfig, ValidatorConfig, start_tcp_validator};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_node::metrics::{self, NodeMetrics};
use plexus_node::rpc::{self, RpcConfig, RpcServer};
use plexus_node::store::ChainStore;

use crate::exit;
use crate::wallet::unlock_keyfile;

/// Structured logs on stderr, filtered by `RUST_LOG` (default: info for
/// Plexus, warn for consensus internals).
pub fn init_logging() {
    // Consensus internals are chatty at info; they speak up at warn.
    const DEFAULT: &str = "info,commonware_consensus=warn,commonware_p2p=warn,commonware_storage=warn,commonware_runtime=warn,commonware_broadcast=warn,commonware_resolver=warn";
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the node until SIGINT or SIGTERM; `explorer` (else `explorer` in node.toml) is
/// where to serve the web explorer over the node's RPC.
pub fn run(home: &Path, explorer: Option<SocketAddr>) -> anyhow::Result<()> {
    init_logging();
    let config = NodeConfig::load(home).map_err(|e| exit::input(e.to_string()))?;
    let text = std::fs::read_to_string(&config.genesis).map_err(|e| {
        exit::input(format!(
            "cannot read the genesis {}: {e}",
            config.genesis.display()
        ))
    })?;
    let genesis = Genesis::parse(&text)
        .map_err(|e| exit::input(format!("{}: {e}", config.genesis.display())))?;
    let ledger = Ledger::from_genesis(&genesis)?;
    let key = unlock_keyfile(&config.key, "the node's consensus key")?;
    if !genesis
        .validators
        .iter()
        .any(|v| v.consensus_key == key.account_id())
    {
        return Err(exit::input(format!(
            "consensus key {} is not a validator in {}",
            key.account_id(),
            config.genesis.display()
        )));
    }

    let metrics = Arc::new(NodeMetrics::default());
    metrics
        .peers
        .store(config.peers.len() as u64, Ordering::Relaxed);
    let store = ChainStore::new(ledger.clone()).with_metrics(metrics.clone());
    let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
    let peers = Arc::new(AtomicUsize::new(config.peers.len()));

    // RPC and metrics live on their own small runtime; consensus runs on
    // commonware's runtime on this thread.
    let services = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the RPC runtime")?;
    let server =
        RpcServer::new(store.clone(), mempool.clone(), peers).with_metrics(metrics.clone());
    let (rpc_addr, rpc_handle) = services
        .block_on(rpc::start(config.rpc, RpcConfig::default(), server))
        .map_err(|e| exit::input(format!("cannot serve RPC on {}: {e}", config.rpc)))?;
    // Held until consensus stops; dropping it stops the explorer.
    let _explorer = match explorer.or(config.explorer) {
        Some(listen) => {
            let rpc_url = format!("http://{}", dialable(rpc_addr));
            let explorer = services
                .block_on(Explorer::start(ExplorerConfig::new(listen, rpc_url)))
                .map_err(|e| exit::input(e.to_string()))?;
            tracing::info!(url = %explorer.url(), "explorer");
            Some(explorer)
        }
        None => None,
    };
    if let Some(addr) = config.metrics {
        let bound = services
            .block_on(metrics::serve(addr, metrics.clone()))
            .map_err(|e| exit::input(format!("cannot serve metrics on {addr}: {e}")))?;
        tracing::info!(%bound, "metrics at /metrics");
    }
    {
        let (mempool, metrics) = (mempool.clone(), metrics.clone());
        services.spawn(async move {
            loop {
                metrics
                    .mempool
                    .store(mempool.lock().len() as u64, Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        });
    }
    tracing::info!(%rpc_addr, p2p = %config.p2p, validator = %key.account_id(), "node starting");

    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    services.spawn(async move {
        crate::signals::shutdown_signal().await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(());
    });
    let stop = async move {
        let _ = stop_rx.await;
    };
    let validator = TcpValidatorConfig {
        validator: ValidatorConfig::new(ledger, key, "plexus"),
        listen: config.p2p,
        peers: config.peers.iter().map(|p| (p.key, p.address)).collect(),
        storage_dir: config.data.clone(),
        worker_threads: 2,
        local: config.p2p.ip().is_loopback() || is_private(&config.p2p),
    };
    let result = start_tcp_validator(validator, mempool, store, stop);
    let _ = rpc_handle.stop();
    services.shutdown_timeout(std::time::Duration::from_secs(2));
    result.context("consensus stopped")
}

/// The address to dial a server listening on `addr` from this machine: loopback for an
/// unspecified (every-interface) address.
fn dialable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// Runs the explorer alone over the node at `rpc_url` until SIGINT or SIGTERM.
pub fn explorer(listen: SocketAddr, rpc_url: &str) -> anyhow::Result<()> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the explorer's runtime")?;
    runtime.block_on(async {
        let explorer = Explorer::start(ExplorerConfig::new(listen, rpc_url))
            .await
            .map_err(|e| exit::input(e.to_string()))?;
        println!("explorer of {rpc_url} at {}", explorer.url());
        crate::signals::shutdown_signal().await;
        drop(explorer);
        Ok(())
    })
}

fn is_private(addr: &std::net::SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_private(),
        std::net::IpAddr::V6(_) => false,
    }
}
