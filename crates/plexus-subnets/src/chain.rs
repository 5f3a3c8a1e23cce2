//! What the SDK needs from the chain, behind a trait.
//!
//! Miners and validators read the subnet and submit signed calls; how they reach a node
//! (JSON-RPC in the `plexus` binary, a ledger in memory in tests) is the implementor's
//! business. Every method reads *finalized* state, so two processes asking at the same
//! height see the same answer.

use std::future::Future;

use plexus_ledger::{NeuronInfo, SubnetInfo, SubnetParams};
use plexus_primitives::{Call, ChainId, Keypair, NetUid};
use thiserror::Error;

/// The chain as the SDK sees it.
pub trait Chain: Send + Sync + 'static {
    /// The chain's id, for signing wire messages and transactions.
    fn chain_id(&self) -> &ChainId;

    /// The finalized height.
    fn height(&self) -> impl Future<Output = Result<u64, ChainError>> + Send;

    /// The subnet's summary (tempo, epoch index, registration price), or
    /// [`ChainError::NoSubnet`].
    fn subnet(&self, netuid: NetUid)
    -> impl Future<Output = Result<SubnetInfo, ChainError>> + Send;

    /// The subnet's hyperparameters.
    fn hyperparameters(
        &self,
        netuid: NetUid,
    ) -> impl Future<Output = Result<SubnetParams, ChainError>> + Send;

    /// The subnet's neurons, by UID.
    fn metagraph(
        &self,
        netuid: NetUid,
    ) -> impl Future<Output = Result<Vec<NeuronInfo>, ChainError>> + Send;

    /// Signs `call` with `signer`, submits it and waits until it is finalized; returns the
    /// block height, or [`ChainError::Refused`] with the ledger's reason.
    fn submit(
        &self,
        signer: &Keypair,
        call: Call,
    ) -> impl Future<Output = Result<u64, ChainError>> + Send;
}

/// Why a chain request failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// The node could not be reached or answered garbage; worth retrying. For a
    /// submission, the transaction may still have been taken.
    #[error("chain unreachable: {0}")]
    Unreachable(String),
    /// A submission failed before the transaction was sent: nothing happened.
    #[error("transaction not sent: {0}")]
    NotSent(String),
    /// The subnet does not exist.
    #[error("subnet {0} does not exist")]
    NoSubnet(NetUid),
    /// The node or the ledger refused the transaction; the reason is the ledger's. A
    /// call that failed in its block is refused too, though it paid its fee and used
    /// its nonce (on chains whose rules charge failed calls).
    #[error("transaction refused: {0}")]
    Refused(String),
    /// The transaction was accepted but not finalized in time.
    #[error("transaction not finalized in time")]
    Timeout,
}
