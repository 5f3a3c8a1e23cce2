//! Running a validator for real: commonware's tokio runtime, its storage
//! directory for consensus journals and marshal's archives, and
//! authenticated, encrypted TCP p2p between the genesis validators at known
//! addresses.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use commonware_cryptography::{ChaCha20Poly1305, Signer as _};
use commonware_macros::select;
use commonware_p2p::{Address, AddressableManager, AddressableTrackedPeers, authenticated::lookup};
use commonware_runtime::{
    Clock as _, Metrics as _, Quota, Runner as _, Spawner as _, Supervisor as _, tokio,
};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::ordered::Map;
use plexus_primitives::AccountId;
use tracing::{info, warn};

use super::epochs::{Candidates, EpochSet, PeerSets};
use super::{
    CHANNEL_BACKFILL, CHANNEL_BROADCAST, CHANNEL_CERTIFICATES, CHANNEL_RESOLVER,
    CHANNEL_TRANSACTIONS, CHANNEL_VOTES, Channels, ConsensusError, FinalizedSink, PublicKey,
    ValidatorConfig, max_message_size, private_key, public_key, run_validator_with_peer_sets,
};
use crate::mempool::SharedMempool;

/// Messages per second each peer may send on one channel. Generous: the
/// limit is a guard against floods, not a throughput knob.
const CHANNEL_RATE: NonZeroU32 = NonZeroU32::new(10_000).unwrap();
/// Messages a peer may send on one channel at once. The network sizes each
/// channel's inbound mailbox as one burst from every peer it may track, so
/// this, not the rate, sets the node's memory: with a burst as large as the
/// rate an idle 4-node devnet held ~930 MB per node, mostly empty mailboxes
/// (74 MB with this burst).
const CHANNEL_BURST: NonZeroU32 = NonZeroU32::new(256).unwrap();
/// Transactions per second each peer may gossip: each one costs a signature
/// check (~40 µs), so 1,000/s holds one peer to 4% of a core.
const TRANSACTION_RATE: NonZeroU32 = NonZeroU32::new(1_000).unwrap();
/// Bonded candidates a node makes room for in its peer sets, beyond two
/// validator sets.
const CANDIDATE_ROOM: usize = 8;
/// Peer sets the network retains (see `start_tcp_validator`).
const TRACKED_PEER_SETS: NonZeroUsize = NonZeroUsize::new(2).unwrap();
/// How often the count of connected peers is refreshed.
const PEER_COUNT_INTERVAL: Duration = Duration::from_secs(1);
const P2P_MAILBOX: NonZeroUsize = NonZeroUsize::new(4096).unwrap();

/// A validator on TCP.
#[derive(Clone, Debug)]
pub struct TcpValidatorConfig {
    /// Consensus configuration (genesis, key, limits, timeouts).
    pub validator: ValidatorConfig,
    /// Where to listen for peers.
    pub listen: SocketAddr,
    /// Every validator's consensus key and dialable address (this node's
    /// own entry is ignored; its `listen` is used).
    pub peers: Vec<(AccountId, SocketAddr)>,
    /// Where consensus journals and finalized blocks are kept.
    pub storage_dir: PathBuf,
    /// Tokio worker threads.
    pub worker_threads: usize,
    /// Loopback or LAN networks (devnets): private addresses allowed and
    /// quick redials. Off for public networks.
    pub local: bool,
    /// Where the number of peers connected right now is kept up to date.
    pub connected_peers: Arc<AtomicUsize>,
    /// Where the consensus runtime's metrics are served, if anywhere.
    pub metrics: Option<Arc<crate::metrics::NodeMetrics>>,
}

/// Runs a validator until `stop` resolves or the engine halts, blocking the
/// calling thread (run it on its own thread; the RPC server can live on
/// another runtime: the mempool and the sink are thread-safe).
///
/// The storage directory holds the consensus journal and marshal's archives;
/// after a restart the validator re-executes the stored finalized blocks
/// from genesis to rebuild its ledger (handing them to `sink` again), then
/// fetches what it missed from its peers and resumes.
pub fn start_tcp_validator<K: FinalizedSink>(
    config: TcpValidatorConfig,
    mempool: SharedMempool,
    sink: K,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsensusError> {
    let signer = private_key(&config.validator.key)?;
    let me = signer.public_key();
    let mut addresses = Vec::with_capacity(config.peers.len() + 1);
    addresses.push((me.clone(), Address::from(config.listen)));
    for (account, address) in &config.peers {
        let key = public_key(account)?;
        if key != me {
            addresses.push((key, Address::from(*address)));
        }
    }
    let known: BTreeMap<PublicKey, SocketAddr> = addresses
        .iter()
        .filter_map(|(k, a)| match a {
            Address::Symmetric(socket) => Some((k.clone(), *socket)),
            _ => None,
        })
        .collect();
    let peers = Map::from_iter_dedup(addresses);
    let max_validators = usize::from(config.validator.genesis.state().economics.max_validators);
    // Room in one tracked peer set for two validator sets (the current epoch's
    // and the previous one), each as large as the larger of the configured
    // peers and the genesis set, plus a few bonded candidates. The network
    // sizes its buffers by this bound (times the sets it retains), so it is
    // not taken from `max_validators` outright: peers past it are left out
    // with a warning.
    let genesis_set = config.validator.genesis.state().validators.len();
    let per_set = peers.len().max(genesis_set + 1);
    let participants = NonZeroUsize::new(2 * per_set + CANDIDATE_ROOM).unwrap_or(NonZeroUsize::MIN);
    let chain_id = config.validator.chain_id();
    let mut namespace = b"plexus-p2p/".to_vec();
    namespace.extend_from_slice(chain_id.as_str().as_bytes());
    let handshake = Cups::<_, ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let message_size =
        max_message_size(u32::try_from(peers.len().max(max_validators)).unwrap_or(u32::MAX));
    let p2p = if config.local {
        lookup::Config::local
    } else {
        lookup::Config::recommended
    };
    let mut p2p = p2p(
        handshake,
        &namespace,
        config.listen,
        participants,
        message_size,
        P2P_MAILBOX,
    );
    // Each tracked set already holds the current and the previous validator set;
    // the newest two are enough (a third and fourth would only cost memory).
    p2p.tracked_peer_sets = TRACKED_PEER_SETS;

    let runtime = tokio::Config::new()
        .with_worker_threads(config.worker_threads.max(1))
        .with_storage_directory(config.storage_dir.clone())
        .with_catch_panics(false);
    tokio::Runner::new(runtime).start(|context| async move {
        let (mut network, mut oracle) = lookup::Network::new(context.child("p2p"), p2p);
        let _ = oracle.track(0, peers);
        let quota = Quota::per_second(CHANNEL_RATE).allow_burst(CHANNEL_BURST);
        let channels = Channels {
            votes: network.register(CHANNEL_VOTES, quota),
            certificates: network.register(CHANNEL_CERTIFICATES, quota),
            resolver: network.register(CHANNEL_RESOLVER, quota),
            backfill: network.register(CHANNEL_BACKFILL, quota),
            broadcast: network.register(CHANNEL_BROADCAST, quota),
            transactions: network.register(
                CHANNEL_TRANSACTIONS,
                Quota::per_second(TRANSACTION_RATE).allow_burst(CHANNEL_BURST),
            ),
        };
        let mut network = network.start();
        info!(listen = %config.listen, "p2p started");
        if let Some(metrics) = &config.metrics {
            let registry = context.child("metrics");
            metrics.attach_engine(move || registry.encode());
        }
        let connected = config.connected_peers.clone();
        context
            .child("peer_count")
            .spawn(move |context| async move {
                loop {
                    connected.store(connected_peers(&context.encode()), Ordering::Relaxed);
                    context.sleep(PEER_COUNT_INTERVAL).await;
                }
            });
        let tracker = AddressedPeers {
            oracle: oracle.clone(),
            me,
            known,
            max: participants.get().saturating_sub(1),
            next_id: 1,
        };
        let validator = run_validator_with_peer_sets(
            context.child("validator"),
            config.validator,
            channels,
            oracle.clone(),
            oracle,
            tracker,
            mempool,
            sink,
        );
        let result = select! {
            result = validator => result,
            _ = stop => Ok(()),
            _ = &mut network => Err(ConsensusError::Network("p2p stopped".into())),
        };
        // Let every actor sync its storage before the runtime drops them.
        let _ = context.stop(0, Some(Duration::from_secs(10))).await;
        result
    })
}

/// The peers connected right now, from the p2p tracker's `connected` gauge
/// family (one series per connected peer) in the runtime's metrics.
fn connected_peers(metrics: &str) -> usize {
    metrics
        .lines()
        .filter(|line| line.starts_with("p2p_tracker_directory_connected{"))
        .count()
}

/// Tracks peer sets on the TCP network: validators of the current and
/// previous sets as primary peers, the configured peers and bonded
/// candidates outside the sets as secondary peers (they may connect and
/// follow the chain), each at the address its bond announces (`ip:port`),
/// else at the address configured for it. At most `max` peers besides this
/// node (the network's bound per set): the current set first, then the
/// previous set, the configured peers (the operator's own choice) and the
/// candidates in rank order, as many as fit.
struct AddressedPeers<M> {
    oracle: M,
    me: PublicKey,
    known: BTreeMap<PublicKey, SocketAddr>,
    max: usize,
    /// The id of the next peer set (the configured peers were tracked at 0).
    next_id: u64,
}

impl<M: AddressableManager<PublicKey = PublicKey>> PeerSets for AddressedPeers<M> {
    fn track(&mut self, current: &EpochSet, previous: Option<&EpochSet>, candidates: &Candidates) {
        let id = self.next_id;
        self.next_id += 1;
        let mut primary: Vec<(PublicKey, Address)> = Vec::new();
        let mut secondary: Vec<(PublicKey, Address)> = Vec::new();
        let configured = self.known.keys().map(|k| (k.clone(), None));
        let sets = std::iter::once(current).chain(previous);
        let validators = sets.flat_map(|s| s.addresses.iter().cloned());
        let everyone = validators
            .map(|peer| (peer, true))
            .chain(configured.map(|peer| (peer, false)))
            .chain(candidates.iter().cloned().map(|peer| (peer, false)));
        for ((key, announced), is_validator) in everyone {
            let listed = |list: &Vec<(PublicKey, Address)>| list.iter().any(|(k, _)| *k == key);
            if key == self.me || listed(&primary) || listed(&secondary) {
                continue;
            }
            if primary.len() + secondary.len() == self.max {
                warn!(id, peer = %key, "peer set full: not tracking this peer");
                continue;
            }
            let address = announced
                .as_deref()
                .and_then(|a| a.parse::<SocketAddr>().ok())
                .or_else(|| self.known.get(&key).copied());
            match address {
                Some(address) if is_validator => primary.push((key, Address::from(address))),
                Some(address) => secondary.push((key, Address::from(address))),
                None => warn!(id, peer = %key, "no address for peer"),
            }
        }
        if let Some(me) = self.known.get(&self.me) {
            primary.push((self.me.clone(), Address::from(*me)));
        }
        let peers = AddressableTrackedPeers::new(
            Map::from_iter_dedup(primary),
            Map::from_iter_dedup(secondary),
        );
        let _ = self.oracle.track(id, peers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Finalized;
    use crate::mempool::Mempool;
    use futures::FutureExt as _;
    use plexus_ledger::{Genesis, GenesisValidator, Ledger};
    use plexus_primitives::{ChainId, Keypair};
    use std::sync::mpsc;

    fn free_port() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    /// Four validators on loopback TCP finalize blocks and agree on them.
    #[test]
    fn four_validators_on_loopback_finalize() {
        let keys: Vec<Keypair> = (0..4u8).map(|i| Keypair::from_seed([50 + i; 32])).collect();
        let genesis = Ledger::from_genesis(&Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-tcp-test").unwrap(),
            balances: Vec::new(),
            validators: keys
                .iter()
                .map(|k| GenesisValidator {
                    consensus_key: k.account_id(),
                    address: None,
                })
                .collect(),
            economics: Default::default(),
        })
        .unwrap();
        let addresses: Vec<SocketAddr> = keys.iter().map(|_| free_port()).collect();
        let peers: Vec<(AccountId, SocketAddr)> = keys
            .iter()
            .map(|k| k.account_id())
            .zip(addresses.iter().copied())
            .collect();
        let root = std::env::temp_dir().join(format!("plexus-tcp-test-{}", std::process::id()));
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        let mut receivers = Vec::new();
        let mut counts = Vec::new();
        // Node 0 serves its consensus runtime's metrics with its own.
        let metrics = Arc::new(crate::metrics::NodeMetrics::default());
        for (i, key) in keys.iter().enumerate() {
            let connected_peers = Arc::new(AtomicUsize::new(0));
            counts.push(connected_peers.clone());
            let config = TcpValidatorConfig {
                validator: ValidatorConfig::new(genesis.clone(), key.clone(), "validator"),
                listen: addresses[i],
                peers: peers.clone(),
                storage_dir: root.join(format!("v{i}")),
                worker_threads: 1,
                local: true,
                connected_peers,
                metrics: (i == 0).then(|| metrics.clone()),
            };
            let (sink, receiver) = mpsc::channel::<Finalized>();
            let (stop, stopped) = futures::channel::oneshot::channel::<()>();
            let mempool = SharedMempool::new(Mempool::default());
            threads.push(std::thread::spawn(move || {
                start_tcp_validator(config, mempool, sink, stopped.map(|_| ()))
            }));
            stops.push(stop);
            receivers.push(receiver);
        }
        let mut roots = Vec::new();
        for receiver in &receivers {
            let mut chain = Vec::new();
            while chain.len() < 3 {
                let f = receiver.recv_timeout(Duration::from_secs(60)).unwrap();
                chain.push((f.block.header.height.0, f.hash));
            }
            roots.push(chain);
        }
        // Each counts the other three as connected.
        let start = std::time::Instant::now();
        while counts.iter().any(|c| c.load(Ordering::Relaxed) != 3)
            && start.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let connected: Vec<usize> = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let exposition = metrics.render();
        for stop in stops {
            let _ = stop.send(());
        }
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
        let _ = std::fs::remove_dir_all(&root);
        assert!(roots.iter().all(|chain| *chain == roots[0]), "{roots:?}");
        assert_eq!(connected, vec![3; 4], "peers counted as connected");
        assert!(
            exposition
                .lines()
                .any(|l| l.starts_with("validator_backfill_resolver_fetch_pending ")),
            "{exposition}"
        );
        assert_eq!(
            roots[0].iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }
}
