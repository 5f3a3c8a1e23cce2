//! The RPC server: reads the finalized chain, admits transactions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonrpsee::core::middleware::RpcServiceBuilder;
use jsonrpsee::core::{SubscriptionResult, async_trait};
use jsonrpsee::server::{
    BatchRequestConfig, Methods, PendingSubscriptionSink, PingConfig, ServerBuilder, ServerConfig,
    ServerHandle, SubscriptionMessage,
};
use jsonrpsee::types::ErrorObjectOwned;
use plexus_ledger::{
    Account, CommitInfo, NeuronInfo, PoolInfo, StakeInfo, SubnetInfo, SubnetParams, ValidatorSets,
    WeightsInfo,
};
use plexus_ledger::{TxError, commitment};
use plexus_primitives::{AccountId, CodecError, Hash, MerkleTree, NetUid, SignedTransaction};
use tokio::sync::broadcast::error::RecvError;

use super::PlexusApiServer;
use plexus_serve::{ConnectionLimits, serve_bounded};

use super::CHECKPOINT_CHUNK;
use super::limit::{PeerBuckets, RateLimit};
use super::types::{BlockInfo, ChainStatus, CheckpointInfo, DryRun, TxStatus, ValueProof};
use crate::mempool::{MempoolError, SharedMempool};
use crate::store::ChainStore;

/// Error codes beyond JSON-RPC's own.
pub mod codes {
    /// The request's parameters are malformed (JSON-RPC's invalid params).
    pub const INVALID_PARAMS: i32 = -32602;
    /// The transaction was refused; the message says why.
    pub const TX_REFUSED: i32 = 1;
    /// The thing asked for does not exist.
    pub const NOT_FOUND: i32 = 2;
    /// The node could not build a proof.
    pub const PROOF_FAILED: i32 = 3;
    /// The node's journal of older blocks could not answer (see
    /// [`crate::journal`]); the message says why.
    pub const JOURNAL_FAILED: i32 = 4;
    /// The node failed at what it was asked; the message says why.
    pub const INTERNAL: i32 = -32603;
    /// The node is catching up with the chain and cannot answer this yet.
    pub const CATCHING_UP: i32 = 5;
    /// The transaction's nonce is taken: the signer's account has moved past it, or
    /// another transaction waits at it (a replacement must pay more). Sign again at the
    /// account's next nonce once that one is finalized.
    pub const NONCE_TAKEN: i32 = 6;
    /// This very transaction already waits (it was sent on to peers again). Signatures are
    /// deterministic, so a second identical transaction (same signer, nonce, fee and call)
    /// is this one: to make a second, sign it at the next nonce once this one is finalized.
    pub const ALREADY_KNOWN: i32 = 7;
}

/// A mempool's refusal, with the code that says what a wallet can do about it.
fn refused(e: &MempoolError) -> ErrorObjectOwned {
    let code = match e {
        MempoolError::AlreadyKnown(_) => codes::ALREADY_KNOWN,
        MempoolError::Underpriced { .. } | MempoolError::Invalid(TxError::BadNonce { .. }) => {
            codes::NONCE_TAKEN
        }
        _ => codes::TX_REFUSED,
    };
    error(code, e.to_string())
}

/// The signed transaction in `tx_hex` (its canonical encoding in hex, `0x` or not).
fn decode_transaction(tx_hex: &str) -> Result<SignedTransaction, ErrorObjectOwned> {
    let bytes = hex::decode(tx_hex.trim_start_matches("0x")).map_err(|e| {
        error(
            codes::INVALID_PARAMS,
            format!("transaction is not hex: {e}"),
        )
    })?;
    SignedTransaction::decode_network(&bytes).map_err(|e| {
        // A wallet newer than the node sends calls the node cannot read.
        let hint = match e {
            CodecError::UnknownTag { .. } => format!(
                " (this node runs plexus {}, which may be older than the wallet's build)",
                env!("CARGO_PKG_VERSION")
            ),
            _ => String::new(),
        };
        error(
            codes::INVALID_PARAMS,
            format!("transaction does not decode: {e}{hint}"),
        )
    })
}

fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn not_found(what: String) -> ErrorObjectOwned {
    error(codes::NOT_FOUND, what)
}

/// Limits of the server.
#[derive(Clone, Copy, Debug)]
pub struct RpcConfig {
    /// Largest request body, bytes.
    pub max_request_bytes: u32,
    /// Largest response body, bytes.
    pub max_response_bytes: u32,
    /// Most simultaneous connections (WebSockets included), loopback aside.
    pub max_connections: u32,
    /// Most simultaneous connections (WebSockets included) from one peer (an IPv4 address
    /// or an IPv6 /64).
    pub max_connections_per_peer: u32,
    /// Most subscriptions per connection.
    pub max_subscriptions_per_connection: u32,
    /// Most calls per second from one peer, over all its connections (bursts up to one
    /// second's worth); each call of a batch counts.
    pub requests_per_second: u32,
    /// Whether loopback (this machine: `plexus up`, the bench, a local explorer) is held to
    /// `requests_per_second` and the connection caps too, as one peer (default false).
    pub limit_loopback: bool,
    /// Whether a reverse proxy on this machine fronts the RPC: a call from loopback that
    /// carries `X-Forwarded-For` is then limited as the address the proxy appended
    /// (default false: only for a proxy that appends to the header, or sets it, rather
    /// than passing on what its client wrote).
    pub behind_proxy: bool,
    /// Most calls in one batch.
    pub max_batch: u32,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            max_request_bytes: 1 << 20,
            max_response_bytes: 32 << 20,
            max_connections: 256,
            max_connections_per_peer: 32,
            max_subscriptions_per_connection: 16,
            requests_per_second: 500,
            limit_loopback: false,
            behind_proxy: false,
            max_batch: 64,
        }
    }
}

/// What the RPC methods read and write.
#[derive(Clone, Debug)]
pub struct RpcServer {
    store: ChainStore,
    mempool: SharedMempool,
    peers: Arc<AtomicUsize>,
    metrics: Option<Arc<crate::metrics::NodeMetrics>>,
    /// The state tree of the newest height a proof was asked at: building it reads every
    /// leaf, so it is built once per height (off the async workers) and shared.
    proofs: Arc<tokio::sync::Mutex<Option<ProofTree>>>,
    /// Checkpoint chunks being served: each is megabytes of hex, so only a few at once.
    chunks: Arc<tokio::sync::Semaphore>,
    /// Dry runs under way: each copies the whole state, so one at a time (the turn is
    /// held by the copy itself, which outlives a caller that hung up).
    dry_runs: Arc<tokio::sync::Semaphore>,
}

/// Checkpoint chunks served at once; a call past them is refused as rate limited.
const CHUNKS_AT_ONCE: usize = 2;

/// How long a dry run waits for its turn (they run one at a time) before it is refused
/// as rate limited.
const DRY_RUN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A state tree and the height it is the state of.
type ProofTree = (u64, Arc<MerkleTree>);

impl RpcServer {
    /// Serves `store`, admitting transactions into `mempool`; `peers` is kept
    /// up to date by the p2p layer.
    pub fn new(store: ChainStore, mempool: SharedMempool, peers: Arc<AtomicUsize>) -> Self {
        Self {
            store,
            mempool,
            peers,
            metrics: None,
            proofs: Arc::default(),
            chunks: Arc::new(tokio::sync::Semaphore::new(CHUNKS_AT_ONCE)),
            dry_runs: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// Counts served calls in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::NodeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    fn subnet_or_404<T>(value: Option<T>, netuid: u16) -> Result<T, ErrorObjectOwned> {
        value.ok_or_else(|| not_found(format!("subnet {netuid} does not exist")))
    }
}

/// Starts serving HTTP and WebSocket on `addr` (the same port serves both), within
/// `config`'s bounds: connections overall and per peer (see [`plexus_serve`]), a deadline
/// for each request's headers, and each peer's calls per second.
pub async fn start(
    addr: SocketAddr,
    config: RpcConfig,
    server: RpcServer,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let settings = ServerConfig::builder()
        .max_request_body_size(config.max_request_bytes)
        .max_response_body_size(config.max_response_bytes)
        // Its guard counts every HTTP request in flight and every WebSocket, loopback's
        // too, which our own caps leave unbounded: room for them beyond the caps.
        .max_connections(config.max_connections.saturating_mul(4))
        .max_subscriptions_per_connection(config.max_subscriptions_per_connection)
        .set_batch_request_config(BatchRequestConfig::Limit(config.max_batch))
        // A WebSocket whose client stops answering pings is closed (30 s pings, 40 s to
        // answer): it would otherwise hold its place under the caps for ever.
        .enable_ws_ping(PingConfig::new())
        .build();
    let buckets = Arc::new(PeerBuckets::new(
        config.requests_per_second,
        config.limit_loopback,
    ));
    let counter = server.metrics.clone();
    let middleware = RpcServiceBuilder::new()
        .layer_fn(move |service| RateLimit::new(service, buckets.clone(), counter.clone()));
    let builder = ServerBuilder::default()
        .set_config(settings)
        .set_rpc_middleware(middleware)
        .to_service_builder();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let methods = Methods::from(server.into_rpc());
    let (stop_handle, handle) = jsonrpsee::server::stop_channel();
    let limits = ConnectionLimits {
        max_connections: config.max_connections as usize,
        max_connections_per_peer: config.max_connections_per_peer as usize,
        bound_loopback: config.limit_loopback,
        forwarded_for: config.behind_proxy,
        // Its clients speak HTTP/1 and WebSocket.
        http2: false,
        ..ConnectionLimits::default()
    };
    let stop = stop_handle.clone().shutdown();
    let service = move |_| builder.clone().build(methods.clone(), stop_handle.clone());
    tokio::spawn(async move {
        if let Err(e) = serve_bounded(listener, service, limits, stop).await {
            tracing::error!(error = %e, "the RPC server stopped");
        }
    });
    Ok((local, handle))
}

#[async_trait]
impl PlexusApiServer for RpcServer {
    async fn status(&self) -> Result<ChainStatus, ErrorObjectOwned> {
        let ledger = self.store.ledger();
        let state = ledger.state();
        Ok(ChainStatus {
            chain_id: state.chain_id.to_string(),
            height: ledger.height(),
            finalized_height: ledger.height(),
            state_root: self
                .store
                .block(ledger.height())
                .map_or_else(|| ledger.state_root(), |b| b.outcome.state_root),
            validators: state.validators.iter().map(|v| v.consensus_key).collect(),
            peers: self.peers.load(Ordering::Relaxed),
            mempool: self.mempool.lock().len(),
            min_fee: state.economics.min_fee,
            ledger_rules: Some(state.economics.ledger_rules.0),
            catching_up: self.store.is_catching_up(),
            checkpoint: self.store.checkpoint().map(|c| CheckpointInfo::of(&c)),
            secs_since_block: self.store.since_last_block().map(|d| d.as_secs()),
        })
    }

    async fn checkpoint(&self) -> Result<CheckpointInfo, ErrorObjectOwned> {
        self.store
            .checkpoint()
            .map(|c| CheckpointInfo::of(&c))
            .ok_or_else(|| {
                not_found(
                    "this node serves no checkpoint yet: one comes with the first block of each \
                     consensus epoch it finalizes"
                        .into(),
                )
            })
    }

    async fn checkpoint_chunk(&self, height: u64, offset: u64) -> Result<String, ErrorObjectOwned> {
        let served = match self.store.checkpoint() {
            Some(served) if served.height == height => served,
            Some(served) => {
                return Err(not_found(format!(
                    "this node serves no checkpoint at {height}: its checkpoint is at {}",
                    served.height
                )));
            }
            None => return Err(not_found("this node serves no checkpoint yet".into())),
        };
        let _turn = self.chunks.try_acquire().map_err(|_| {
            error(
                super::RATE_LIMITED,
                "serving other checkpoint fetches: try again shortly",
            )
        })?;
        let bytes = &served.bytes;
        let start = usize::try_from(offset)
            .ok()
            .filter(|start| *start <= bytes.len())
            .ok_or_else(|| {
                error(
                    codes::INVALID_PARAMS,
                    format!(
                        "offset {offset} is past the checkpoint's {} bytes",
                        bytes.len()
                    ),
                )
            })?;
        let end = bytes.len().min(start + CHECKPOINT_CHUNK as usize);
        Ok(hex::encode(&bytes[start..end]))
    }

    async fn submit_transaction(&self, tx_hex: String) -> Result<Hash, ErrorObjectOwned> {
        let tx = decode_transaction(&tx_hex)?;
        let ledger = self.store.ledger();
        self.mempool.submit(tx, &ledger).map_err(|e| refused(&e))
    }

    async fn dry_run(&self, tx_hex: String) -> Result<DryRun, ErrorObjectOwned> {
        let tx = decode_transaction(&tx_hex)?;
        // Behind the chain, the node would judge on a state the chain has left.
        if self.store.is_catching_up() {
            return Err(error(
                codes::CATCHING_UP,
                "this node is catching up with the chain: no dry run until it has",
            ));
        }
        let waited = tokio::time::timeout(DRY_RUN_WAIT, self.dry_runs.clone().acquire_owned());
        let turn = waited
            .await
            .map_err(|_| {
                error(
                    super::RATE_LIMITED,
                    "running other dry runs: try again shortly",
                )
            })?
            .map_err(|e| error(codes::INTERNAL, e.to_string()))?;
        let ledger = self.store.ledger();
        let height = ledger.height();
        let signer = tx.tx.signer;
        let next = ledger.state().account(&signer).nonce;
        let waiting = self
            .mempool
            .lock()
            .next_nonce(&signer, next)
            .saturating_sub(next);
        // The copy of the state is a pass over all of it: off the async workers, and the
        // turn held until it is done, even if the caller has gone.
        let outcome = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            ledger.dry_run(&tx)
        })
        .await
        .map_err(|e| error(codes::INTERNAL, format!("the dry run failed: {e}")))?;
        // Answered as `submitTransaction` would be: a taken nonce says nothing of the call.
        if let Err(e @ TxError::BadNonce { .. }) = outcome {
            return Err(refused(&MempoolError::Invalid(e)));
        }
        Ok(DryRun {
            height,
            error: outcome.err().map(|e| e.to_string()),
            waiting,
        })
    }

    async fn transaction_status(&self, hash: Hash) -> Result<TxStatus, ErrorObjectOwned> {
        // Waiting first: the same transaction may have been refused in an
        // earlier block and submitted again.
        if self.mempool.lock().contains(&hash) {
            return Ok(TxStatus::Pending);
        }
        let looked_up = self.store.transaction_info(&hash).await;
        if let Ok(Some((location, tx))) = looked_up {
            return Ok(TxStatus::Included {
                height: location.height,
                index: location.index,
                error: tx.error,
                fee_paid: tx.fee_paid,
            });
        }
        if let Some(reason) = self.mempool.lock().refusal(&hash) {
            return Ok(TxStatus::Refused {
                reason: reason.to_owned(),
            });
        }
        match looked_up {
            // The journal could not say whether an older block holds it.
            Err(e) => Err(error(codes::JOURNAL_FAILED, e.to_string())),
            Ok(_) => Ok(TxStatus::Unknown),
        }
    }

    async fn account(&self, address: AccountId) -> Result<Account, ErrorObjectOwned> {
        Ok(self.store.ledger().state().account(&address))
    }

    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ErrorObjectOwned> {
        Ok(self.store.ledger().state().subnet_infos())
    }

    async fn subnet(&self, netuid: u16) -> Result<SubnetInfo, ErrorObjectOwned> {
        Self::subnet_or_404(
            self.store.ledger().state().subnet_info(NetUid(netuid)),
            netuid,
        )
    }

    async fn hyperparameters(&self, netuid: u16) -> Result<SubnetParams, ErrorObjectOwned> {
        Self::subnet_or_404(
            self.store.ledger().state().hyperparameters(NetUid(netuid)),
            netuid,
        )
    }

    async fn pool(&self, netuid: u16) -> Result<PoolInfo, ErrorObjectOwned> {
        Self::subnet_or_404(
            self.store.ledger().state().pool_info(NetUid(netuid)),
            netuid,
        )
    }

    async fn metagraph(&self, netuid: u16) -> Result<Vec<NeuronInfo>, ErrorObjectOwned> {
        Self::subnet_or_404(
            self.store.ledger().state().metagraph(NetUid(netuid)),
            netuid,
        )
    }

    async fn weights(&self, netuid: u16) -> Result<Vec<WeightsInfo>, ErrorObjectOwned> {
        Self::subnet_or_404(self.store.ledger().state().weights(NetUid(netuid)), netuid)
    }

    async fn stakes(&self, coldkey: AccountId) -> Result<Vec<StakeInfo>, ErrorObjectOwned> {
        Ok(self.store.ledger().state().stakes_of(&coldkey))
    }

    async fn validator_sets(&self) -> Result<ValidatorSets, ErrorObjectOwned> {
        Ok(self.store.ledger().state().validator_sets())
    }

    async fn pending_commits(&self, netuid: u16) -> Result<Vec<CommitInfo>, ErrorObjectOwned> {
        Self::subnet_or_404(
            self.store.ledger().state().pending_commits(NetUid(netuid)),
            netuid,
        )
    }

    async fn block(&self, height: u64) -> Result<BlockInfo, ErrorObjectOwned> {
        let found = self
            .store
            .block_info(height)
            .await
            .map_err(|e| error(codes::JOURNAL_FAILED, e.to_string()))?;
        found.ok_or_else(|| {
            let finalized = self.store.finalized_height();
            not_found(match self.store.oldest_kept() {
                _ if height == 0 || height > finalized => format!(
                    "no finalized block at height {height} (finalized height is {finalized})"
                ),
                Some(oldest) if height >= oldest => format!(
                    "block {height} is not among the blocks this node keeps (its journal \
                     misses it: it was not written while the block was finalized)"
                ),
                Some(oldest) => format!(
                    "block {height} is older than the blocks this node keeps (from {oldest})"
                ),
                None => format!("block {height} is older than the blocks this node keeps"),
            })
        })
    }

    async fn proof(&self, key_hex: String) -> Result<ValueProof, ErrorObjectOwned> {
        let key = hex::decode(key_hex.trim_start_matches("0x"))
            .map_err(|e| error(codes::INVALID_PARAMS, format!("key is not hex: {e}")))?;
        let ledger = self.store.ledger();
        let tree = {
            let mut cached = self.proofs.lock().await;
            let cached_height = cached.as_ref().map(|(height, _)| *height);
            match cached.as_ref() {
                Some((height, tree)) if *height == ledger.height() => Arc::clone(tree),
                _ => {
                    let state = Arc::clone(&ledger);
                    let built =
                        tokio::task::spawn_blocking(move || commitment::tree(state.state()))
                            .await
                            .map_err(|e| error(codes::PROOF_FAILED, e.to_string()))?
                            .map_err(|e| error(codes::PROOF_FAILED, e.to_string()))?;
                    let tree = Arc::new(built);
                    // A request that read the ledger before a newer one was cached must
                    // not replace it: every later request would rebuild.
                    if cached_height.is_none_or(|height| height < ledger.height()) {
                        *cached = Some((ledger.height(), Arc::clone(&tree)));
                    }
                    tree
                }
            }
        };
        let (value, proof) = (tree.get(&key).map(<[u8]>::to_vec), tree.prove(&key));
        Ok(ValueProof {
            height: ledger.height(),
            // The tree's root is the state root; recomputing it would rebuild the tree.
            state_root: tree.root(),
            key: hex::encode(&key),
            value: value.map(hex::encode),
            proof,
        })
    }

    async fn subscribe_finalized(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut blocks = self.store.subscribe();
        let sink = pending.accept().await?;
        loop {
            let block = match blocks.recv().await {
                Ok(block) => block,
                // A slow subscriber skips what it missed rather than stalling the node.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            let info = BlockInfo::from_block(&block.block, &block.outcome);
            let message = SubscriptionMessage::from(serde_json::value::to_raw_value(&info)?);
            if sink.send(message).await.is_err() {
                return Ok(());
            }
        }
    }
}
