//! Checkpoints: the state after the first block of a consensus epoch, with that
//! block and the certificate that finalized it, so that a node joining a long
//! chain starts from a recent state rather than re-executing every block since
//! genesis.
//!
//! Every node keeps the newest checkpoint it can vouch for and serves it over
//! RPC; `plexus node --sync-from URL` fetches one and starts from it. What a
//! joining node checks: the state is the one the block's header commits to (its
//! root), the block is of this chain and starts an epoch, the certificate
//! finalizes that very block, and a quorum of the validator set that the state
//! names for the epoch signed it (see [`Checkpoint::verify`]). The set is named
//! by the state under check, so a whole made-up chain would check out too: like
//! checkpoint sync on other chains, the node trusts the node it syncs from,
//! unless it is given the block's hash from a source it trusts (`pin`).
//!
//! An epoch's first block is where the state names the set that signs the
//! blocks after it, so a node started from it needs no earlier state, and the
//! floor of its epoch (the last block of the one before) is the block's parent.

use std::sync::Arc;

use commonware_runtime::{Spawner, Storage};
use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::BoxFuture;

use commonware_codec::{Copying, Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::Epochable as _;
use commonware_consensus::marshal;
use commonware_consensus::simplex::types::Finalization;
use commonware_consensus::types::{Epoch, Height};
use commonware_cryptography::Digestible as _;
use commonware_cryptography::certificate::Verifier as _;
use commonware_parallel::Sequential;
use plexus_ledger::{Ledger, snapshot, validators};
use plexus_primitives::Hash;
use rand_core::CryptoRng;
use thiserror::Error;
use tracing::{debug, warn};

use super::FinalizedSink;
use super::application::off_thread;
use super::epochs::EpochSet;
use super::snapshot::{Newest, Snapshots};
use super::{Scheme, namespace};
use crate::block::{ConsensusBlock, Digest};

/// What an encoded checkpoint starts with (the format's name and version).
const MAGIC: &[u8; 12] = b"plexus-ckpt1";

/// Largest encoded state read (as a saved state's; see [`super::snapshot`]).
const MAX_STATE_BYTES: u64 = 1 << 30;

/// Largest encoded finalization read, whatever set the state names: ed25519
/// certificates are a bitmap and 64 bytes a signer.
const MAX_FINALIZATION_BYTES: u64 = 1 << 20;

/// Largest encoded checkpoint: a block, a certificate and a state.
pub const MAX_CHECKPOINT_BYTES: u64 = MAX_STATE_BYTES + MAX_FINALIZATION_BYTES + (8 << 20);

/// Why a checkpoint cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// The bytes are not a checkpoint this build can read.
    #[error("not a checkpoint this build can read: {0}")]
    Malformed(String),
    /// The state is of another chain.
    #[error("the checkpoint is of chain {theirs}, not {ours}")]
    OtherChain {
        /// This node's chain.
        ours: String,
        /// The checkpoint's.
        theirs: String,
    },
    /// The state's economics, fixed at genesis, are not this chain's genesis'.
    #[error(
        "the checkpoint's economics are not those of this node's genesis: this node's \
         genesis.toml is not the chain's (start it with the genesis the chain was made with)"
    )]
    OtherEconomics,
    /// The block is not the first block of a consensus epoch after genesis.
    #[error("block {0} does not start a consensus epoch")]
    NotAnEpochStart(u64),
    /// The state is not the one after the block.
    #[error("the state is not the one block {0}'s header commits to")]
    StateMismatch(u64),
    /// The block is not the one the node was told to trust.
    #[error("the checkpoint's block is {found}, not the pinned {pinned}")]
    NotPinned {
        /// The hash the node was given.
        pinned: Hash,
        /// The checkpoint block's.
        found: Hash,
    },
    /// The certificate does not finalize the block, or does not verify against
    /// the set the state names.
    #[error("the certificate does not finalize block {0} with its epoch's validators")]
    Certificate(u64),
    /// The checkpoint does not encode (its state does not).
    #[error("cannot encode the checkpoint: {0}")]
    Encode(String),
    /// No checkpoint could be fetched to start from.
    #[error("no checkpoint to start from: {0}")]
    Fetch(String),
    /// The node started from a checkpoint, and neither a saved state nor the
    /// checkpoint it kept reads back.
    #[error(
        "this node started from a checkpoint, and neither its saved states nor the checkpoint it \
         kept read back: start it with --sync-from URL to fetch one again"
    )]
    Lost,
}

/// A finalized block that starts a consensus epoch, its finalization, and the
/// state after it.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    block: ConsensusBlock,
    finalization: Finalization<Scheme, Digest>,
    ledger: Arc<Ledger>,
}

impl Checkpoint {
    /// The checkpoint of `block`, finalized by `finalization`, with the state
    /// after it; `None` unless the three go together and `block` starts an epoch.
    pub(super) fn new(
        block: ConsensusBlock,
        finalization: Finalization<Scheme, Digest>,
        ledger: Arc<Ledger>,
    ) -> Option<Self> {
        let checkpoint = Self {
            block,
            finalization,
            ledger,
        };
        checkpoint.check().ok().map(|()| checkpoint)
    }

    /// The block's height.
    pub fn height(&self) -> u64 {
        self.block.number()
    }

    /// The block's hash.
    pub fn hash(&self) -> Hash {
        self.block.hash()
    }

    /// The state after the block.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// The block.
    pub(super) fn block(&self) -> &ConsensusBlock {
        &self.block
    }

    /// The certificate that finalized the block.
    pub(super) fn finalization(&self) -> &Finalization<Scheme, Digest> {
        &self.finalization
    }

    /// The last block of the epoch before: the floor the block's epoch starts from.
    pub(super) fn floor(&self) -> Digest {
        commonware_consensus::Block::parent(&self.block)
    }

    /// `MAGIC`, then the block, the finalization and the state, each after its
    /// length (8 bytes, big-endian).
    pub fn encode(&self) -> Result<Vec<u8>, CheckpointError> {
        let state =
            snapshot::encode(&self.ledger).map_err(|e| CheckpointError::Encode(e.to_string()))?;
        let parts = [
            self.block.encode().to_vec(),
            self.finalization.encode().to_vec(),
            state,
        ];
        let mut bytes = MAGIC.to_vec();
        for part in parts {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(&part);
        }
        Ok(bytes)
    }

    /// Reads a checkpoint of the chain that starts at `genesis`, fetched from
    /// elsewhere, and checks all but its certificate's signatures (see
    /// [`Self::verify`]): that the state is this chain's and the one after the
    /// block, that the block starts an epoch (and is `pin`, if given), and that
    /// the certificate is for it.
    pub fn decode(
        bytes: &[u8],
        genesis: &Ledger,
        pin: Option<Hash>,
    ) -> Result<Self, CheckpointError> {
        let malformed = |what: &str| CheckpointError::Malformed(what.to_string());
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| malformed("it does not start as a checkpoint does"))?;
        let (block, rest) = part(rest, plexus_primitives::MAX_BLOCK_SIZE as u64 + 8)?;
        let (finalization, rest) = part(rest, MAX_FINALIZATION_BYTES)?;
        let (state, rest) = part(rest, MAX_STATE_BYTES)?;
        if !rest.is_empty() {
            return Err(malformed("bytes after the state"));
        }
        let block = ConsensusBlock::decode(Copying(block))
            .map_err(|e| CheckpointError::Malformed(format!("block: {e}")))?;
        // Checked before the state is read: a pinned node refuses any other at once.
        if let Some(pinned) = pin
            && pinned != block.hash()
        {
            return Err(CheckpointError::NotPinned {
                pinned,
                found: block.hash(),
            });
        }
        let ledger =
            snapshot::decode(state).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let (ours, theirs) = (&genesis.state().chain_id, &ledger.state().chain_id);
        if ours != theirs {
            return Err(CheckpointError::OtherChain {
                ours: ours.to_string(),
                theirs: theirs.to_string(),
            });
        }
        // The epoch length among them: the node's epochs follow its genesis.
        if ledger.state().economics != genesis.state().economics {
            return Err(CheckpointError::OtherEconomics);
        }
        let set = EpochSet::of(&ledger).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let scheme = Scheme::verifier(&namespace(ours), set.keys);
        let finalization = Finalization::<Scheme, Digest>::decode_cfg(
            Copying(finalization),
            &scheme.certificate_codec_config(),
        )
        .map_err(|e| CheckpointError::Malformed(format!("certificate: {e}")))?;
        let checkpoint = Self {
            block,
            finalization,
            ledger: Arc::new(ledger),
        };
        checkpoint.check()?;
        Ok(checkpoint)
    }

    /// Checks the certificate's signatures against the validator set the state
    /// names for the block's epoch; returns that set.
    pub fn verify(&self, rng: &mut impl CryptoRng) -> Result<EpochSet, CheckpointError> {
        let height = self.height();
        let set =
            EpochSet::of(&self.ledger).map_err(|e| CheckpointError::Malformed(e.to_string()))?;
        let scheme = Scheme::verifier(&namespace(&self.ledger.state().chain_id), set.keys.clone());
        if self.finalization.verify(rng, &scheme, &Sequential) {
            Ok(set)
        } else {
            Err(CheckpointError::Certificate(height))
        }
    }

    /// What holds between the parts, signatures aside: see [`Self::decode`].
    fn check(&self) -> Result<(), CheckpointError> {
        let height = self.height();
        let state = self.ledger.state();
        let length = state.economics.validator_epoch_length;
        if !validators::is_epoch_start(height, length)
            || state.validator_epoch() != validators::epoch_of(height, length)
        {
            return Err(CheckpointError::NotAnEpochStart(height));
        }
        if self.ledger.height() != height
            || self.block.header().state_root != self.ledger.state_root()
        {
            return Err(CheckpointError::StateMismatch(height));
        }
        if self.finalization.proposal.payload != self.block.digest()
            || self.finalization.epoch() != Epoch::new(validators::epoch_of(height, length))
        {
            return Err(CheckpointError::Certificate(height));
        }
        Ok(())
    }
}

/// The part at the start of `bytes` (after its 8-byte length, at most `max`),
/// and what follows it.
fn part(bytes: &[u8], max: u64) -> Result<(&[u8], &[u8]), CheckpointError> {
    let (length, rest) = bytes
        .split_at_checked(8)
        .ok_or_else(|| CheckpointError::Malformed("cut short".into()))?;
    let length = u64::from_be_bytes(length.try_into().unwrap_or_default());
    if length > max {
        return Err(CheckpointError::Malformed(format!(
            "a part of {length} bytes, over the {max} read"
        )));
    }
    rest.split_at_checked(length as usize)
        .ok_or_else(|| CheckpointError::Malformed("cut short".into()))
}

/// Publishes each epoch's first block, with the state after it and the
/// certificate marshal stored for it, as the node's checkpoint (see
/// [`super::checkpoint`]), and keeps it for the next start. Only the newest
/// epoch start waiting is published; a block finalized without a certificate of
/// its own (fetched as an ancestor) leaves the previous checkpoint in place.
pub(super) async fn publish<E, K>(
    context: E,
    kept: Snapshots<E>,
    epoch_starts: Newest<(ConsensusBlock, Arc<Ledger>)>,
    mut woken: mpsc::Receiver<()>,
    marshal: marshal::core::Mailbox<Scheme, marshal::standard::Standard<ConsensusBlock>>,
    mut sink: K,
) where
    E: Storage + Spawner,
    K: FinalizedSink,
{
    while woken.next().await.is_some() {
        let Some((block, ledger)) = epoch_starts.take() else {
            continue;
        };
        let height = block.number();
        let Some(finalization) = marshal.get_finalization(Height::new(height)).await else {
            debug!(height, "no certificate stored for the epoch's first block");
            continue;
        };
        // Checking the state's root and encoding the state take a while: off the
        // async workers.
        let publish = move || {
            let checkpoint = Checkpoint::new(block, finalization, ledger)
                .ok_or(CheckpointError::Certificate(height))?;
            Published::of(&checkpoint)
        };
        match off_thread(&context, publish).await {
            Some(Ok(published)) => {
                if let Err(why) = kept.keep_served_checkpoint(&published.bytes).await {
                    warn!(height, %why, "the checkpoint is not kept: after a restart it is served again only from the next epoch");
                }
                debug!(
                    height,
                    bytes = published.bytes.len(),
                    "checkpoint published"
                );
                sink.checkpoint_published(Arc::new(published));
            }
            Some(Err(e)) => warn!(height, error = %e, "no checkpoint of the epoch's first block"),
            None => return,
        }
    }
}

/// The checkpoint in `bytes` (one this node kept), decoded off the async workers.
pub(super) async fn decode_kept<E: Spawner>(
    context: &E,
    bytes: Arc<[u8]>,
    genesis: &Ledger,
) -> Result<Checkpoint, CheckpointError> {
    let genesis = genesis.clone();
    off_thread(context, move || Checkpoint::decode(&bytes, &genesis, None))
        .await
        .unwrap_or_else(|| Err(CheckpointError::Malformed("shutting down".into())))
}

/// A checkpoint as a node serves it: its height and block hash, and its encoding.
#[derive(Clone, Debug)]
pub struct Published {
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub hash: Hash,
    /// [`Checkpoint::encode`]'s bytes.
    pub bytes: Arc<[u8]>,
}

impl Published {
    /// `checkpoint`, encoded.
    pub fn of(checkpoint: &Checkpoint) -> Result<Self, CheckpointError> {
        Ok(Self {
            height: checkpoint.height(),
            hash: checkpoint.hash(),
            bytes: checkpoint.encode()?.into(),
        })
    }

    /// The checkpoint encoded in `bytes`, named by its block alone: what a node
    /// serves again after a restart, without reading the state (a node's own
    /// file; [`Checkpoint::decode`] reads and checks all of it).
    pub fn read(bytes: Arc<[u8]>) -> Result<Self, CheckpointError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or_else(|| CheckpointError::Malformed("not a checkpoint".into()))?;
        let (block, _) = part(rest, plexus_primitives::MAX_BLOCK_SIZE as u64 + 8)?;
        let block = ConsensusBlock::decode(Copying(block))
            .map_err(|e| CheckpointError::Malformed(format!("block: {e}")))?;
        Ok(Self {
            height: block.number(),
            hash: block.hash(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::testing::ledger;

    /// `MAGIC`, then parts of the given lengths (their bytes zero).
    fn framed(lengths: &[u64]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for length in lengths {
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes.resize(bytes.len() + *length as usize, 0);
        }
        bytes
    }

    fn malformed(bytes: &[u8]) -> bool {
        matches!(
            Checkpoint::decode(bytes, &ledger(), None),
            Err(CheckpointError::Malformed(_))
        )
    }

    #[test]
    fn what_is_not_a_checkpoint_is_refused_before_anything_is_allocated() {
        assert!(malformed(b""), "empty");
        assert!(malformed(b"plexus-ckpt0"), "another format");
        assert!(malformed(&framed(&[4])), "cut short after the block");
        // A length past what is read, whatever follows: refused from the length alone.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(malformed(&huge));
        let mut big_state = framed(&[4, 4]);
        big_state.extend_from_slice(&(MAX_STATE_BYTES + 1).to_be_bytes());
        assert!(malformed(&big_state));
        // Well framed, but the parts are not a block, a certificate and a state.
        assert!(malformed(&framed(&[4, 4, 4])));
        let mut trailing = framed(&[4, 4, 4]);
        trailing.push(0);
        assert!(malformed(&trailing));
    }

    #[test]
    fn parts_are_read_by_their_length() {
        let bytes = [0, 0, 0, 0, 0, 0, 0, 2, 7, 8, 9];
        assert_eq!(part(&bytes, 2), Ok((&[7, 8][..], &[9][..])));
        assert!(part(&bytes, 1).is_err(), "over the most read");
        assert!(part(&bytes[..9], 2).is_err(), "cut short");
    }
}

/// Where a node whose storage holds no chain gets the checkpoint it starts from
/// (`plexus node --sync-from`): asked at most once a start, and only then. It
/// gives the checkpoint decoded and the bytes it was read from.
#[derive(Clone)]
pub struct CheckpointSource(Arc<SourceFn>);

/// A checkpoint and its encoding.
pub type Fetched = (Checkpoint, Arc<[u8]>);

/// What a [`CheckpointSource`] calls.
type SourceFn = dyn Fn() -> BoxFuture<'static, Result<Fetched, String>> + Send + Sync;

impl CheckpointSource {
    /// A source that calls `fetch` (which reads and decodes a checkpoint, or says why not).
    pub fn new(
        fetch: impl Fn() -> BoxFuture<'static, Result<Fetched, String>> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(fetch))
    }

    /// A source of a checkpoint already in hand.
    pub fn ready(checkpoint: Checkpoint) -> Result<Self, CheckpointError> {
        let bytes: Arc<[u8]> = checkpoint.encode()?.into();
        Ok(Self::new(move || {
            let fetched = (checkpoint.clone(), Arc::clone(&bytes));
            Box::pin(async move { Ok(fetched) })
        }))
    }

    /// The checkpoint, fetched.
    pub(super) async fn fetch(&self) -> Result<Fetched, CheckpointError> {
        (self.0)().await.map_err(CheckpointError::Fetch)
    }
}

impl std::fmt::Debug for CheckpointSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointSource")
    }
}
