//! What the RPC answers, as JSON.

use plexus_primitives::{AccountId, Block, BlockHeader, Call, Hash, Proof};
use serde::{Deserialize, Serialize};

/// Chain status: heights, validators, peers, mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// The chain's id.
    pub chain_id: String,
    /// Highest block this node has executed (blocks run on finalization,
    /// so today it equals `finalized_height`).
    pub height: u64,
    /// Highest finalized block.
    pub finalized_height: u64,
    /// State root after the finalized block.
    pub state_root: Hash,
    /// Chain validators' consensus keys.
    pub validators: Vec<AccountId>,
    /// Connected peers.
    pub peers: usize,
    /// Transactions waiting.
    pub mempool: usize,
    /// The least fee a transaction must carry.
    pub min_fee: plexus_primitives::Balance,
    /// The version of the ledger's rules the chain follows (see
    /// `plexus_ledger::LedgerRules`); `None` from nodes that predate it.
    #[serde(default)]
    pub ledger_rules: Option<u16>,
    /// Whether this node is catching up with the chain: fetching blocks it is
    /// behind on, so its heights lag the chain's. `false` from nodes that
    /// predate it.
    #[serde(default)]
    pub catching_up: bool,
    /// The checkpoint this node serves to nodes joining the chain, if it has
    /// one yet (see `plexus_checkpoint`). `None` from nodes that predate it.
    #[serde(default)]
    pub checkpoint: Option<CheckpointInfo>,
    /// Seconds since this node last finalized a block, by its own clock (not part of the
    /// chain): a chain that has stopped shows here. `None` before its first block since
    /// it started, and from nodes that predate it.
    #[serde(default)]
    pub secs_since_block: Option<u64>,
}

/// A checkpoint a node serves: the state after the first block of a consensus
/// epoch, with the block and its finalization certificate. A node joining the
/// chain fetches it in chunks (`plexus_checkpointChunk`) and starts from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// The block's height.
    pub height: u64,
    /// The block's hash: what a joining node can pin, from a source it trusts.
    pub hash: Hash,
    /// The encoded checkpoint's length in bytes.
    pub size: u64,
}

impl CheckpointInfo {
    /// What a node says of the checkpoint it serves.
    pub fn of(published: &crate::consensus::checkpoint::Published) -> Self {
        Self {
            height: published.height,
            hash: published.hash,
            size: published.bytes.len() as u64,
        }
    }
}

/// What would become of a transaction in the next block (`plexus_dryRun`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// The finalized height whose state it ran on.
    pub height: u64,
    /// Why it would fail; `None` if it would succeed.
    pub error: Option<String>,
    /// The signer's transactions waiting in this node's mempool at the nonces before
    /// it: their outcome may change what it meets, so with any the answer is a guess.
    #[serde(default)]
    pub waiting: u64,
}

/// A finalized block with its transactions' outcomes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// The header's hash.
    pub hash: Hash,
    /// The header.
    pub header: BlockHeader,
    /// Its transactions, in order.
    pub transactions: Vec<TxInfo>,
    /// Tokens emitted into the pools by this block.
    pub emission: u64,
    /// Subnets whose epoch ran in this block.
    pub epochs: Vec<u16>,
}

/// A transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxInfo {
    /// Its hash.
    pub hash: Hash,
    /// Its signer.
    pub signer: AccountId,
    /// Its nonce.
    pub nonce: u64,
    /// What it asked for.
    pub call: Call,
    /// `None` if applied, else why its call failed.
    pub error: Option<String>,
    /// Whether it paid its fee and used its nonce (always when applied; when
    /// its call failed, on chains whose rules charge failed calls).
    #[serde(default)]
    pub fee_paid: bool,
}

impl TxInfo {
    /// `tx` as readers see it, given its receipt.
    pub fn from_receipt(
        tx: &plexus_primitives::SignedTransaction,
        receipt: &plexus_ledger::Receipt,
    ) -> Self {
        Self {
            hash: receipt.tx_hash,
            signer: tx.tx.signer,
            nonce: tx.tx.nonce,
            call: tx.tx.call.clone(),
            error: receipt.result.as_ref().err().map(ToString::to_string),
            fee_paid: receipt.charged,
        }
    }
}

/// The fate of a submitted transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// Waiting in this node's mempool.
    Pending,
    /// In a finalized block.
    Included {
        /// The block's height.
        height: u64,
        /// Index within the block.
        index: usize,
        /// `None` if applied, else why its call failed.
        error: Option<String>,
        /// Whether it paid its fee and used its nonce (see [`TxInfo::fee_paid`]).
        #[serde(default)]
        fee_paid: bool,
    },
    /// Left out of a block by this node, as a proposer, because the ledger
    /// would not charge it (its nonce, or the funds for its fee, no longer
    /// held; on chains under the original rules, also a failed call); it is no
    /// longer waiting here (submitting it again admits it again).
    Refused {
        /// Why.
        reason: String,
    },
    /// Not known to this node.
    Unknown,
}

/// A state value with its proof against a finalized header's state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueProof {
    /// The height whose post-state the proof is against.
    pub height: u64,
    /// That state's root (the header's `state_root`).
    pub state_root: Hash,
    /// The key, hex.
    pub key: String,
    /// The value, hex, or `None` if absent.
    pub value: Option<String>,
    /// Membership or absence proof.
    pub proof: Proof,
}

impl BlockInfo {
    /// The JSON view of a finalized block.
    pub fn from_block(block: &Block, outcome: &plexus_ledger::BlockOutcome) -> Self {
        Self {
            hash: block.header.hash(),
            header: block.header.clone(),
            transactions: block
                .transactions
                .iter()
                .zip(&outcome.receipts)
                .map(|(tx, receipt)| TxInfo::from_receipt(tx, receipt))
                .collect(),
            emission: outcome.emission,
            epochs: outcome.epochs.iter().map(|n| n.0).collect(),
        }
    }
}
