//! `plexus node --home DIR`: one chain node from the config and keys in DIR, with the
//! web explorer beside its RPC when asked; `plexus node init`: a new node's home, to
//! join a running network; `plexus explorer`: the explorer alone, over any node's RPC.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::{Args, Subcommand};
use plexus_explorer::{Explorer, ExplorerConfig};
use plexus_ledger::{Genesis, Ledger};
use plexus_node::config::{NodeConfig, Peer};
use plexus_node::consensus::checkpoint::CheckpointSource;
use plexus_node::consensus::{TcpValidatorConfig, ValidatorConfig, start_tcp_validator};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_node::metrics::{self, NodeMetrics};
use plexus_node::rpc::{self, RpcConfig, RpcServer};
use plexus_node::store::ChainStore;
use plexus_primitives::{AccountId, Hash};

use crate::exit;
use crate::wallet::unlock_keyfile;

/// `plexus node ...`
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NodeArgs {
    #[command(subcommand)]
    command: Option<NodeCommand>,
    /// The node's home (holds node.toml)
    #[arg(long, required = true)]
    home: Option<PathBuf>,
    /// Serve the web explorer over the node's RPC on this address [default: `explorer`
    /// in node.toml, else none]
    #[arg(long)]
    explorer: Option<SocketAddr>,
    /// Start from the checkpoint the node at this JSON-RPC URL serves (the state after
    /// the first block of a recent consensus epoch) rather than executing the chain from
    /// genesis; used only while this node's storage holds no chain. Trusts that node
    /// unless --checkpoint pins the block
    #[arg(long, value_name = "URL")]
    sync_from: Option<String>,
    /// The hash of the checkpoint's block, from a source you trust (`plexus chain status`
    /// on a node of yours shows it): any other is refused
    #[arg(long, value_name = "HASH", requires = "sync_from")]
    checkpoint: Option<Hash>,
}

/// `plexus node init ...`
#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Write a new node's home to join a network: a new consensus key (encrypted with a
    /// password, or PLEXUS_PASSWORD), the network's genesis and node.toml. Then start it
    /// with `plexus node --home DIR` and bond tokens to its key with `plexus chain bond`.
    Init(InitArgs),
}

/// Arguments of `plexus node init`.
#[derive(Debug, Args)]
struct InitArgs {
    /// The new node's home
    #[arg(long)]
    home: PathBuf,
    /// The network's genesis file (copied into the home)
    #[arg(long)]
    genesis: PathBuf,
    /// Where to listen for peers
    #[arg(long, default_value = "0.0.0.0:30300")]
    p2p: SocketAddr,
    /// Where to serve JSON-RPC
    #[arg(long, default_value = "127.0.0.1:9944")]
    rpc_listen: SocketAddr,
    /// Where to serve Prometheus metrics [default: none]
    #[arg(long)]
    metrics: Option<SocketAddr>,
    /// A peer to dial, as CONSENSUS_KEY@HOST:PORT (repeatable) [default: the genesis
    /// validators that announce an address]
    #[arg(long = "peer", value_name = "KEY@ADDR")]
    peers: Vec<String>,
    /// A reverse proxy on this machine (nginx, Caddy) fronts the RPC: limit calls from
    /// loopback that carry X-Forwarded-For as the address the proxy appended (written to
    /// node.toml as rpc_behind_proxy)
    #[arg(long)]
    rpc_behind_proxy: bool,
}

/// Runs `plexus node`.
pub fn node(args: NodeArgs) -> anyhow::Result<()> {
    match (args.command, args.home) {
        (Some(NodeCommand::Init(init_args)), _) => init(&init_args),
        (None, Some(home)) => {
            let sync = args.sync_from.map(|url| SyncFrom {
                url,
                pin: args.checkpoint,
            });
            run(&home, args.explorer, sync)
        }
        (None, None) => Err(exit::input(
            "say which node to run with --home DIR, or write one with `plexus node init`",
        )),
    }
}

/// Parses `KEY@HOST:PORT`.
fn parse_peer(text: &str) -> anyhow::Result<Peer> {
    let (key, address) = text.split_once('@').ok_or_else(|| {
        exit::input(format!(
            "peer {text:?} is not CONSENSUS_KEY@HOST:PORT (e.g. plx1…@10.0.0.2:30300)"
        ))
    })?;
    let key = key
        .parse::<AccountId>()
        .map_err(|e| exit::input(format!("peer {text:?}: bad consensus key: {e}")))?;
    let address = address
        .parse::<SocketAddr>()
        .map_err(|e| exit::input(format!("peer {text:?}: bad address {address:?}: {e}")))?;
    Ok(Peer { key, address })
}

/// Reads and parses the genesis file at `path`, returning its text too (a new home keeps
/// it byte for byte); both failures are input errors naming the file.
fn read_genesis(path: &Path) -> anyhow::Result<(String, Genesis)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| exit::input(format!("cannot read the genesis {}: {e}", path.display())))?;
    let genesis =
        Genesis::parse(&text).map_err(|e| exit::input(format!("{}: {e}", path.display())))?;
    Ok((text, genesis))
}

/// Writes a new node's home; see [`NodeCommand::Init`].
fn init(args: &InitArgs) -> anyhow::Result<()> {
    let (text, genesis) = read_genesis(&args.genesis)?;
    let mut peers = args
        .peers
        .iter()
        .map(|p| parse_peer(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if peers.is_empty() {
        for v in &genesis.validators {
            if let Some(address) = v.address.as_deref().and_then(|a| a.parse().ok()) {
                peers.push(Peer {
                    key: v.consensus_key,
                    address,
                });
            }
        }
    }
    if peers.is_empty() {
        return Err(exit::input(format!(
            "no genesis validator in {} announces an address; name the peers to dial with --peer KEY@HOST:PORT",
            args.genesis.display()
        )));
    }
    let config_path = args.home.join(plexus_node::config::CONFIG_FILE);
    if config_path.exists() {
        return Err(exit::input(format!(
            "{} already holds a node; start it with `plexus node --home {}`",
            args.home.display(),
            args.home.display()
        )));
    }
    crate::home::create_private_dir(&args.home)?;
    let key = crate::wallet::create_consensus_key(&args.home.join("node-key.json"))?;
    std::fs::write(args.home.join("genesis.toml"), text)
        .with_context(|| format!("writing {}", args.home.join("genesis.toml").display()))?;
    let config = NodeConfig {
        genesis: PathBuf::from("genesis.toml"),
        key: PathBuf::from("node-key.json"),
        data: PathBuf::from("data"),
        p2p: args.p2p,
        rpc: args.rpc_listen,
        metrics: args.metrics,
        explorer: None,
        peers,
        rpc_behind_proxy: args.rpc_behind_proxy,
        journal_blocks: None,
    };
    std::fs::write(&config_path, config.to_toml()?)
        .with_context(|| format!("writing {}", config_path.display()))?;
    println!("node written to {}", args.home.display());
    println!("  consensus key  {key}");
    println!("  p2p            {}", args.p2p);
    println!("  rpc            {}", args.rpc_listen);
    println!("  peers          {}", config.peers.len());
    println!("start it:   plexus node --home {}", args.home.display());
    println!(
        "            (add --sync-from http://A_NODE:9944 to start from its checkpoint, a recent state, rather than from genesis)"
    );
    println!(
        "validate:   plexus chain bond --consensus-key {key} --address PUBLIC_IP:{} --amount TOKENS",
        args.p2p.port()
    );
    println!(
        "            (it joins the validator set at the next consensus epoch if its bond is among the largest)"
    );
    Ok(())
}

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

/// Where a new node fetches the checkpoint it starts from (`--sync-from`).
#[derive(Debug)]
pub struct SyncFrom {
    /// The serving node's JSON-RPC URL.
    url: String,
    /// The block hash the checkpoint must have, if given.
    pin: Option<Hash>,
}

/// Runs the node until SIGINT or SIGTERM; `explorer` (else `explorer` in node.toml) is
/// where to serve the web explorer over the node's RPC, and `sync` where to fetch a
/// checkpoint from if its storage holds no chain yet.
pub fn run(
    home: &Path,
    explorer: Option<SocketAddr>,
    sync: Option<SyncFrom>,
) -> anyhow::Result<()> {
    init_logging();
    let config = NodeConfig::load(home).map_err(|e| exit::input(e.to_string()))?;
    let (_, genesis) = read_genesis(&config.genesis)?;
    let ledger = Ledger::from_genesis(&genesis)?;
    let key = unlock_keyfile(&config.key, "the node's consensus key")?;
    let me = key.account_id();
    let sets = ledger.state().validator_sets();
    if !sets.current.iter().any(|v| v.consensus_key == me) {
        // Not a genesis validator. Validators accept its connections once its bond makes
        // it a candidate for the next set (or if they list it among their peers); from
        // then on it follows the chain, and it signs from the first epoch it is seated in.
        tracing::info!(
            validator = %me,
            "not a genesis validator: peers accept this node once it is bonded (`plexus chain bond --consensus-key {me} --address IP:PORT --amount N`) or listed in their node.toml"
        );
    }

    let metrics = Arc::new(NodeMetrics::default());
    let store = ChainStore::new(ledger.clone()).with_metrics(metrics.clone());
    let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
    // Counted by the p2p network, read by RPC and metrics.
    let peers = Arc::new(AtomicUsize::new(0));

    // RPC and metrics live on their own small runtime; consensus runs on
    // commonware's runtime on this thread.
    let services = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the RPC runtime")?;
    // Asked by the node only if its storage holds no chain yet.
    let checkpoint = sync.map(|sync| {
        let genesis = ledger.clone();
        CheckpointSource::new(move || {
            let (url, genesis, pin) = (sync.url.clone(), genesis.clone(), sync.pin);
            Box::pin(async move {
                tracing::info!(%url, "fetching a checkpoint to start from");
                let (checkpoint, bytes) = crate::sync::fetch(&url, &genesis, pin)
                    .await
                    .map_err(|e| format!("{e:#}"))?;
                tracing::info!(
                    height = checkpoint.height(),
                    block = %checkpoint.hash(),
                    pinned = pin.is_some(),
                    "checkpoint fetched"
                );
                Ok((checkpoint, bytes))
            })
        })
    });
    let rpc_config = RpcConfig {
        behind_proxy: config.rpc_behind_proxy,
        ..RpcConfig::default()
    };
    let server =
        RpcServer::new(store.clone(), mempool.clone(), peers.clone()).with_metrics(metrics.clone());
    let (rpc_addr, rpc_handle) = services
        .block_on(rpc::start(config.rpc, rpc_config, server))
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
        let (mempool, metrics, peers) = (mempool.clone(), metrics.clone(), peers.clone());
        services.spawn(async move {
            loop {
                metrics
                    .mempool
                    .store(mempool.lock().len() as u64, Ordering::Relaxed);
                metrics
                    .peers
                    .store(peers.load(Ordering::Relaxed) as u64, Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
        });
    }
    tracing::info!(%rpc_addr, p2p = %config.p2p, validator = %me, "node starting");

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
        validator: ValidatorConfig {
            journal: config.journal(),
            checkpoint,
            ..ValidatorConfig::new(ledger, key, "plexus")
        },
        listen: config.p2p,
        peers: config.peers.iter().map(|p| (p.key, p.address)).collect(),
        storage_dir: config.data.clone(),
        worker_threads: 2,
        // A node listening on every interface is on a local network if its peers are.
        local: is_local(&config.p2p)
            || (config.p2p.ip().is_unspecified()
                && !config.peers.is_empty()
                && config.peers.iter().all(|p| is_local(&p.address))),
        connected_peers: peers,
        metrics: config.metrics.is_some().then(|| metrics.clone()),
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

/// Loopback or private (LAN) addresses: a devnet or a private network, where the p2p
/// layer must accept private addresses.
fn is_local(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
        std::net::IpAddr::V6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_key_at_address() {
        let key = AccountId([7; 32]);
        let peer = parse_peer(&format!("{key}@10.0.0.2:30300")).unwrap();
        assert_eq!(peer.key, key);
        assert_eq!(peer.address, "10.0.0.2:30300".parse().unwrap());
        for bad in [
            "10.0.0.2:30300".to_owned(),
            format!("{key}@10.0.0.2"),
            format!("{key}@host.example:30300"),
            "plx1nope@10.0.0.2:30300".to_owned(),
        ] {
            let e = parse_peer(&bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }
}
