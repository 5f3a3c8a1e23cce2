//! JSON-RPC 2.0 over HTTP and WebSocket: the node's public interface.
//!
//! One trait defines the methods; jsonrpsee derives the server side (which
//! the `server` module implements) and a typed client (`PlexusApiClient`), used by the
//! CLI over HTTP and by subscribers over WebSocket.

mod limit;
mod server;
mod types;

use jsonrpsee::core::SubscriptionResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use plexus_ledger::{
    Account, CommitInfo, NeuronInfo, PoolInfo, StakeInfo, SubnetInfo, SubnetParams, ValidatorSets,
    WeightsInfo,
};
use plexus_primitives::{AccountId, Hash};

pub use limit::RATE_LIMITED;
pub use server::{RpcConfig, RpcServer, codes, start};
pub use types::{BlockInfo, ChainStatus, CheckpointInfo, DryRun, TxInfo, TxStatus, ValueProof};

/// Most bytes of a checkpoint one `plexus_checkpointChunk` answers (hex doubles
/// them on the wire, within the server's response limit).
pub const CHECKPOINT_CHUNK: u64 = 4 << 20;

/// The Plexus node API (methods are `plexus_<name>`).
#[rpc(server, client, namespace = "plexus")]
pub trait PlexusApi {
    /// Heights, state root, validators, peers and mempool size.
    #[method(name = "status")]
    async fn status(&self) -> Result<ChainStatus, ErrorObjectOwned>;

    /// Admits a signed transaction (hex of its canonical encoding) to the
    /// mempool; returns its hash. Follow it with `transactionStatus`. A refusal's
    /// code says what to do: `NONCE_TAKEN` and `ALREADY_KNOWN` (see [`codes`])
    /// ask for the account's next nonce, the others for a change to the transaction.
    #[method(name = "submitTransaction")]
    async fn submit_transaction(&self, tx_hex: String) -> Result<Hash, ErrorObjectOwned>;

    /// What would become of a signed transaction (hex, as `submitTransaction`
    /// takes it) as the first of the next block, on a copy of the finalized
    /// state: a wallet learns that a call would fail before paying its fee.
    /// Nothing is admitted or changed. A node runs one at a time (each copies
    /// the state); a call that waits 2 s for its turn is refused as rate limited,
    /// and one to a node catching up with the chain is refused too, as is one whose
    /// nonce is taken (`NONCE_TAKEN`, as `submitTransaction` answers it).
    #[method(name = "dryRun")]
    async fn dry_run(&self, tx_hex: String) -> Result<DryRun, ErrorObjectOwned>;

    /// Pending, included (with its outcome), refused by this node as a proposer, or unknown.
    #[method(name = "transactionStatus")]
    async fn transaction_status(&self, hash: Hash) -> Result<TxStatus, ErrorObjectOwned>;

    /// An account's balance and next nonce.
    #[method(name = "account")]
    async fn account(&self, address: AccountId) -> Result<Account, ErrorObjectOwned>;

    /// Every subnet.
    #[method(name = "subnets")]
    async fn subnets(&self) -> Result<Vec<SubnetInfo>, ErrorObjectOwned>;

    /// One subnet.
    #[method(name = "subnet")]
    async fn subnet(&self, netuid: u16) -> Result<SubnetInfo, ErrorObjectOwned>;

    /// A subnet's hyperparameters.
    #[method(name = "hyperparameters")]
    async fn hyperparameters(&self, netuid: u16) -> Result<SubnetParams, ErrorObjectOwned>;

    /// A subnet's pool.
    #[method(name = "pool")]
    async fn pool(&self, netuid: u16) -> Result<PoolInfo, ErrorObjectOwned>;

    /// A subnet's metagraph.
    #[method(name = "metagraph")]
    async fn metagraph(&self, netuid: u16) -> Result<Vec<NeuronInfo>, ErrorObjectOwned>;

    /// The weights each neuron of a subnet has set.
    #[method(name = "weights")]
    async fn weights(&self, netuid: u16) -> Result<Vec<WeightsInfo>, ErrorObjectOwned>;

    /// A coldkey's stake positions.
    #[method(name = "stakes")]
    async fn stakes(&self, coldkey: AccountId) -> Result<Vec<StakeInfo>, ErrorObjectOwned>;

    /// A subnet's pending weight commits.
    #[method(name = "pendingCommits")]
    async fn pending_commits(&self, netuid: u16) -> Result<Vec<CommitInfo>, ErrorObjectOwned>;

    /// The chain validators: the current consensus epoch's set and the set
    /// the bonds would choose if the epoch ended now.
    #[method(name = "validatorSets")]
    async fn validator_sets(&self) -> Result<ValidatorSets, ErrorObjectOwned>;

    /// A finalized block by height.
    #[method(name = "block")]
    async fn block(&self, height: u64) -> Result<BlockInfo, ErrorObjectOwned>;

    /// A state value (key in hex) with its proof against the latest
    /// finalized header's state root.
    #[method(name = "proof")]
    async fn proof(&self, key_hex: String) -> Result<ValueProof, ErrorObjectOwned>;

    /// The checkpoint this node serves to nodes joining the chain: the state
    /// after the first block of the newest consensus epoch it holds a
    /// certificate for.
    #[method(name = "checkpoint")]
    async fn checkpoint(&self) -> Result<CheckpointInfo, ErrorObjectOwned>;

    /// Up to [`CHECKPOINT_CHUNK`] bytes (hex) of the encoded checkpoint at
    /// `height`, from `offset`; not found once the node serves a newer one.
    #[method(name = "checkpointChunk")]
    async fn checkpoint_chunk(&self, height: u64, offset: u64) -> Result<String, ErrorObjectOwned>;

    /// Each newly finalized block.
    #[subscription(name = "subscribeFinalized" => "finalized", unsubscribe = "unsubscribeFinalized", item = BlockInfo)]
    async fn subscribe_finalized(&self) -> SubscriptionResult;
}
