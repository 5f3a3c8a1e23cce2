//! BFT consensus: commonware's simplex engine ordering [`ConsensusBlock`]s,
//! marshal delivering finalized blocks in order (and fetching what a node
//! missed), and the application that builds and checks blocks with
//! [`crate::execution`].
//!
//! Everything commonware-specific lives in this module so that the next
//! commonware release changes one place: the rest of the node sees
//! [`run_validator`], [`ValidatorConfig`], [`Channels`] and the
//! [`Finalized`] blocks handed to a [`FinalizedSink`].
//!
//! All async work runs on the commonware runtime passed in (no bare
//! `tokio::spawn`, no wall clock), so under the deterministic runtime a seed
//! fixes the whole run.
//!
//! # Validator sets
//!
//! Consensus keys are ed25519 public keys, which is what our [`AccountId`]s
//! are. The genesis validators sign epoch 0; from then on the ledger picks
//! each epoch's set from validator bonds at the previous epoch's last block
//! (see `plexus_ledger::validators`), and the node runs one simplex engine
//! per epoch while marshal delivers blocks across epochs (see
//! [`run_validator_with_peer_sets`] and [`epochs`]).

mod application;
pub mod checkpoint;
mod engine;
pub mod epochs;
mod follow;
mod gossip;
pub mod heartbeat;
pub mod snapshot;
mod start;
mod tcp;

use std::sync::Arc;
use std::time::Duration;

use commonware_codec::{Copying, DecodeExt as _};
use commonware_cryptography::{Signer as _, ed25519};
use commonware_utils::ordered::Set;
use plexus_ledger::{BlockOutcome, Ledger};
use plexus_primitives::{AccountId, Block, ChainId, Hash, Keypair};
use thiserror::Error;

use crate::block::ConsensusBlock;
use crate::execution::BlockLimits;

pub use engine::{
    Channels, max_message_size, run_validator, run_validator_with_peer_sets, simplex_partition,
};
pub use snapshot::SnapshotPolicy;
pub use tcp::{TcpValidatorConfig, start_tcp_validator};

/// The simplex signing scheme for an ed25519 validator set.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// A validator's identity on the consensus network.
pub type PublicKey = ed25519::PublicKey;

/// p2p channel of consensus votes.
pub const CHANNEL_VOTES: u64 = 0;
/// p2p channel of consensus certificates.
pub const CHANNEL_CERTIFICATES: u64 = 1;
/// p2p channel on which consensus fetches missing certificates.
pub const CHANNEL_RESOLVER: u64 = 2;
/// p2p channel on which marshal fetches missing blocks.
pub const CHANNEL_BACKFILL: u64 = 3;
/// p2p channel on which proposers broadcast blocks.
pub const CHANNEL_BROADCAST: u64 = 4;
/// p2p channel on which nodes send peers the transactions submitted to them.
pub const CHANNEL_TRANSACTIONS: u64 = 5;

/// Why a validator could not start.
#[derive(Debug, Error)]
pub enum ConsensusError {
    /// A genesis consensus key is not a valid ed25519 public key.
    #[error("validator key {0} is not a valid ed25519 public key")]
    BadValidatorKey(AccountId),
    /// This node's key is not in the validator set.
    #[error("this node's key {0} is not a genesis validator")]
    NotAValidator(AccountId),
    /// The genesis cannot be turned into a ledger.
    #[error("bad genesis: {0}")]
    Genesis(String),
    /// Storage could not be opened or read.
    #[error("storage: {0}")]
    Storage(String),
    /// Replaying the stored finalized chain gave another state than its
    /// headers claim (the stored chain or this build's execution is wrong).
    #[error("replaying finalized block {height} failed: {reason}")]
    Replay {
        /// The height that failed.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The p2p network could not be set up.
    #[error("network: {0}")]
    Network(String),
    /// The checkpoint to start from cannot be used.
    // Transparent: its message says it is about a checkpoint, and a chain of errors
    // (`{:#}`) would otherwise print it twice.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
}

/// Consensus timing. Every honest validator should use the same values.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// How long to wait for the leader's proposal.
    pub leader: Duration,
    /// How long to wait for a notarized proposal to certify (must exceed
    /// `leader`).
    pub certification: Duration,
    /// How often to rebroadcast a timeout vote.
    pub retry: Duration,
    /// How long to wait before skipping a silent leader's remaining views
    /// (must exceed `certification` and `retry`).
    pub skip: Duration,
    /// How long a fetch from one peer may take.
    pub fetch: Duration,
    /// How long a proposer with nothing to include waits for a transaction before
    /// proposing an empty block (must stay well under `leader`). Keeps an idle chain
    /// from finalizing hundreds of empty blocks a second; a transaction that arrives
    /// meanwhile is proposed at once.
    pub idle_block: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(1),
            certification: Duration::from_secs(2),
            retry: Duration::from_secs(5),
            skip: Duration::from_secs(10),
            fetch: Duration::from_secs(2),
            idle_block: Duration::from_millis(200),
        }
    }
}

/// What a validator needs besides its network.
#[derive(Clone, Debug)]
pub struct ValidatorConfig {
    /// The chain's genesis ledger; its validators are the consensus set.
    pub genesis: Ledger,
    /// This validator's consensus key (its public key must be one of the
    /// genesis validators' consensus keys).
    pub key: Keypair,
    /// Prefix of every storage partition this validator opens (ASCII
    /// letters, digits, `-` and `_` only); distinct per validator where
    /// several share one storage (tests).
    pub partition_prefix: String,
    /// How much a proposal may carry.
    pub limits: BlockLimits,
    /// Consensus timing.
    pub timeouts: Timeouts,
    /// How often the ledger's state is saved, so that a restart re-executes only
    /// the blocks since.
    pub snapshots: SnapshotPolicy,
    /// How much history the journal of finalized blocks keeps for readers;
    /// `None` keeps none on disk (see [`crate::journal`]).
    pub journal: Option<crate::journal::JournalPolicy>,
    /// Where to get the checkpoint to start from if this node's storage holds no
    /// chain yet (see [`checkpoint`]); not asked otherwise.
    pub checkpoint: Option<checkpoint::CheckpointSource>,
    /// Rewrites every block this validator proposes (see [`Tamper`]).
    #[cfg(feature = "byzantine")]
    pub tamper: Option<Tamper>,
}

/// Rewrites the block a proposer built honestly, given the parent's
/// post-state, before it is proposed: how a test makes a validator propose
/// invalid blocks. Only with the `byzantine` feature, which only this crate's
/// tests enable. The rewritten block is not executed or kept here: honest
/// validators reject it, and so would this one.
#[cfg(feature = "byzantine")]
#[derive(Clone)]
pub struct Tamper(pub Arc<TamperFn>);

/// The function inside a [`Tamper`].
#[cfg(feature = "byzantine")]
pub type TamperFn = dyn Fn(&Ledger, Block) -> Block + Send + Sync;

#[cfg(feature = "byzantine")]
impl std::fmt::Debug for Tamper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tamper")
    }
}

impl ValidatorConfig {
    /// A configuration with default limits and timeouts.
    pub fn new(genesis: Ledger, key: Keypair, partition_prefix: impl Into<String>) -> Self {
        Self {
            genesis,
            key,
            partition_prefix: partition_prefix.into(),
            limits: BlockLimits::default(),
            timeouts: Timeouts::default(),
            snapshots: SnapshotPolicy::default(),
            journal: Some(crate::journal::JournalPolicy::default()),
            checkpoint: None,
            #[cfg(feature = "byzantine")]
            tamper: None,
        }
    }

    /// The chain's id.
    pub fn chain_id(&self) -> ChainId {
        self.genesis.state().chain_id.clone()
    }
}

/// A finalized block, executed: handed to the rest of the node.
#[derive(Clone, Debug)]
pub struct Finalized {
    /// The block.
    pub block: Block,
    /// Its hash (the header's).
    pub hash: Hash,
    /// What executing it did: receipts, emission, epochs, state root.
    pub outcome: BlockOutcome,
    /// The ledger after it (shared with the executor: cheap to hand out).
    pub ledger: Arc<Ledger>,
    /// How long this node took to execute it.
    pub execution: Duration,
    /// The length of its encoding.
    pub encoded_len: usize,
}

/// Where finalized blocks go, in height order, each exactly once per run.
///
/// Called on the consensus task: keep it quick (hand the block to a channel
/// or a cache). After a restart, the node starts from a saved state (see
/// [`snapshot`]) or genesis, and the blocks finalized after it are delivered
/// again while the node rebuilds its ledger, so a sink that persists must
/// ignore heights it already holds.
pub trait FinalizedSink: Clone + Send + 'static {
    /// Receives the next finalized block.
    fn finalized(&mut self, block: Finalized);

    /// The node starts from a saved state: `ledger` is the state after the
    /// finalized block at its height, and the blocks after it follow. Called
    /// before any of them; by default ignored.
    fn restored(&mut self, ledger: Arc<Ledger>) {
        let _ = ledger;
    }

    /// The node keeps a journal of its finalized blocks on disk (see
    /// [`crate::journal`]), which it writes itself: the sink may read older
    /// blocks back from it. Called before any block is handed over; by
    /// default ignored.
    fn journal(&mut self, journal: crate::journal::Journal) {
        let _ = journal;
    }

    /// The saved state the node started from turned out not to go on: what was
    /// handed over since [`Self::restored`] is void, the node starts again from
    /// `genesis`, and the blocks from height 1 follow. By default ignored.
    fn rewound(&mut self, genesis: Arc<Ledger>) {
        let _ = genesis;
    }

    /// The node started (`true`) or stopped catching up with the chain: it is
    /// fetching, many a second, blocks it is behind on. By default ignored.
    fn catching_up(&mut self, catching_up: bool) {
        let _ = catching_up;
    }

    /// The newest checkpoint this node can serve to nodes joining the chain (see
    /// [`checkpoint`]): one per epoch, once its first block is finalized. By
    /// default ignored.
    fn checkpoint_published(&mut self, checkpoint: Arc<checkpoint::Published>) {
        let _ = checkpoint;
    }
}

impl FinalizedSink for futures::channel::mpsc::UnboundedSender<Finalized> {
    fn finalized(&mut self, block: Finalized) {
        // A closed receiver means the node is shutting down; nothing to do.
        let _ = self.unbounded_send(block);
    }
}

impl FinalizedSink for std::sync::mpsc::Sender<Finalized> {
    fn finalized(&mut self, block: Finalized) {
        let _ = self.send(block);
    }
}

/// The consensus public key of an account id (they are the same 32 bytes).
pub fn public_key(account: &AccountId) -> Result<PublicKey, ConsensusError> {
    PublicKey::decode(Copying(&account.0[..]))
        .map_err(|_| ConsensusError::BadValidatorKey(*account))
}

/// The account id of a consensus public key.
pub fn account_id(key: &PublicKey) -> AccountId {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(key.as_ref());
    AccountId(bytes)
}

/// Commonware's private key for our keypair (same 32-byte seed).
pub fn private_key(key: &Keypair) -> Result<ed25519::PrivateKey, ConsensusError> {
    let seed = key.secret_seed();
    let private = ed25519::PrivateKey::decode(Copying(&seed[..]))
        .map_err(|_| ConsensusError::BadValidatorKey(key.account_id()))?;
    // Both libraries derive the public key from the seed per RFC 8032; check
    // rather than assume.
    if account_id(&private.public_key()) != key.account_id() {
        return Err(ConsensusError::BadValidatorKey(key.account_id()));
    }
    Ok(private)
}

/// The genesis validator set, as consensus orders it.
pub fn validator_set(genesis: &Ledger) -> Result<Set<PublicKey>, ConsensusError> {
    let keys = genesis
        .state()
        .validators
        .iter()
        .map(|v| public_key(&v.consensus_key))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Set::from_iter_dedup(keys))
}

/// The namespace every consensus signature is bound to: one chain's votes
/// never count on another.
pub fn namespace(chain_id: &ChainId) -> Vec<u8> {
    let mut namespace = b"plexus-consensus/".to_vec();
    namespace.extend_from_slice(chain_id.as_str().as_bytes());
    namespace
}

/// The signing scheme of `key` in the genesis validator set.
pub fn signing_scheme(genesis: &Ledger, key: &Keypair) -> Result<Scheme, ConsensusError> {
    let set = validator_set(genesis)?;
    let namespace = namespace(&genesis.state().chain_id);
    Scheme::signer(&namespace, set, private_key(key)?)
        .ok_or(ConsensusError::NotAValidator(key.account_id()))
}

/// The genesis block every validator of this genesis starts from.
pub fn genesis_block(genesis: &Ledger) -> ConsensusBlock {
    ConsensusBlock::genesis(genesis.state().chain_id.clone(), genesis)
}
