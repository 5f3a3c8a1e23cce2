//! Where a node starts: the chain its storage holds and the oldest saved
//! state that chain vouches for, or, for a node whose storage holds no chain
//! yet, a checkpoint; then the stored blocks after that state, executed again.

use std::sync::Arc;

use commonware_consensus::{marshal::Start, simplex::types::Finalization, types::Epoch};
use commonware_cryptography::{Digested, Digestible as _, certificate::Verifier as _};
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::{Archive as _, Identifier, immutable};
use plexus_ledger::Ledger;
use rand_core::CryptoRng;
use tracing::{info, warn};

use super::application::{Finalizer, JOURNAL_BACKLOG, Shared};
use super::checkpoint::{self, Checkpoint, CheckpointError, Published};
use super::engine::archive_config;
use super::epochs::{EpochSchemes, EpochSet};
use super::snapshot::{self, Snapshots};
use super::{ConsensusError, FinalizedSink, PublicKey, Scheme, ValidatorConfig};
use crate::block::{ConsensusBlock, Digest};
use crate::execution::Executor;

/// Marshal's archive of finalization certificates by height.
pub(super) type Finalizations<E> = immutable::Archive<E, Digest, Finalization<Scheme, Digest>>;
/// Marshal's archive of finalized blocks by height.
pub(super) type Blocks<E> = immutable::Archive<E, Digest, Arc<ConsensusBlock>>;

/// A node's storage, opened, and where its chain starts on this run.
pub(super) struct Opened<E: Storage + Clock + Metrics> {
    /// Marshal's finalization certificates.
    pub(super) finalizations: Finalizations<E>,
    /// Marshal's finalized blocks.
    pub(super) blocks: Blocks<E>,
    /// The node's saved states (and the checkpoint it serves).
    pub(super) snapshots: Snapshots<E>,
    /// The saved state the node starts from; `None` for genesis.
    pub(super) restored: Option<Restored>,
    /// Where marshal starts: genesis, or a checkpoint's block.
    pub(super) start: Start<Scheme, Digest, Digested<ConsensusBlock>>,
    /// Whether the storage holds the chain from genesis (a node that started
    /// from a checkpoint holds no block before it).
    pub(super) from_genesis: bool,
}

/// Opens a node's archives and saved states and decides where its chain starts:
/// the oldest saved state the stored chain vouches for, else (with no chain
/// stored) the checkpoint it kept or the one it is told to fetch, else
/// genesis. The scheme of a checkpoint's epoch is registered in `schemes`, so
/// that marshal can check the checkpoint's certificate, and the checkpoint
/// the node serves is handed to `sink`.
pub(super) async fn open<E, K>(
    context: &E,
    config: &ValidatorConfig,
    genesis: &ConsensusBlock,
    public_key: &PublicKey,
    schemes: &EpochSchemes,
    page_cache: &CacheRef,
    sink: &mut K,
) -> Result<Opened<E>, ConsensusError>
where
    E: Clock + Spawner + Storage + Metrics + CryptoRng,
    K: FinalizedSink,
{
    let prefix = &config.partition_prefix;
    // Marshal's durable archives: finalization certificates and finalized
    // blocks by height. They outlive restarts (under tokio, files in the
    // runtime's storage directory).
    let mut finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            prefix,
            "finalizations",
            page_cache.clone(),
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    let mut blocks: Blocks<E> = immutable::Archive::init(
        context.child("blocks"),
        archive_config(prefix, "blocks", page_cache.clone(), ()),
    )
    .await
    .map_err(|e| ConsensusError::Storage(e.to_string()))?;

    if let Some(stored) = blocks
        .get(Identifier::Index(0))
        .await
        .map_err(|e| ConsensusError::Storage(e.to_string()))?
        && stored.digest() != genesis.digest()
    {
        return Err(ConsensusError::Storage(
            "this node's storage holds a chain of another genesis: give the node a data \
             directory of its own for this genesis"
                .into(),
        ));
    }
    let snapshots = Snapshots::new(context.child("snapshots"), prefix);
    let mut restored = restore(
        &blocks,
        snapshots.saved().await,
        &config.genesis,
        genesis.digest(),
    )
    .await?;
    let mut start = Start::Genesis(Digested::precomputed(genesis.clone(), genesis.digest()));
    // What this node serves as its checkpoint, if it kept one (its block alone read).
    let mut kept = match snapshots
        .served_checkpoint()
        .await
        .map(|bytes| Published::read(bytes.into()))
    {
        Some(Ok(published)) => Some(published),
        Some(Err(e)) => {
            warn!(error = %e, "ignoring the checkpoint kept");
            None
        }
        None => None,
    };
    // A node that started from a checkpoint holds no genesis block.
    let from_genesis = blocks
        .has(Identifier::Index(0))
        .await
        .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    let register = |ledger: &Ledger| -> Result<(), ConsensusError> {
        let set = EpochSet::of(ledger)?;
        let scheme = set.scheme(&config.chain_id(), &config.key)?;
        schemes.register(Epoch::new(set.epoch), scheme, set.contains(public_key));
        Ok(())
    };
    match &restored {
        _ if from_genesis => {
            if config.checkpoint.is_some() {
                info!("this node holds the chain from genesis: it needs no checkpoint");
            }
        }
        // Stopped while starting from the checkpoint it kept: marshal may not have
        // taken it as its floor yet (if it has, it ignores it again). A later state
        // came from blocks marshal delivered past that floor, and marshal goes on
        // from there by itself.
        Some(r) if kept.as_ref().is_some_and(|k| k.height == r.ledger.height()) => {
            let at = Identifier::Index(r.ledger.height());
            let finalization = finalizations
                .get(at)
                .await
                .map_err(|e| ConsensusError::Storage(e.to_string()))?;
            if let Some(finalization) = finalization {
                // An epoch's first block: the state after it names its own epoch's set.
                register(&r.ledger)?;
                start = Start::Floor(finalization);
            }
        }
        Some(_) => {}
        None => {
            // The checkpoint it kept, if it stopped while starting from one; else a
            // fetched one, if it was told where from.
            let fetched = match (kept.take(), &config.checkpoint) {
                (Some(published), _) => {
                    let bytes = Arc::clone(&published.bytes);
                    let checkpoint =
                        checkpoint::decode_kept(context, published.bytes, &config.genesis).await?;
                    Some((checkpoint, bytes))
                }
                (None, Some(source)) => Some(source.fetch().await?),
                (None, None) if blocks.last_index().is_some() => {
                    return Err(CheckpointError::Lost.into());
                }
                (None, None) => None,
            };
            if let Some((checkpoint, bytes)) = fetched {
                checkpoint.verify(&mut context.child("checkpoint"))?;
                register(checkpoint.ledger())?;
                let (r, f, b) = start_from(
                    &checkpoint,
                    &bytes,
                    config.snapshots,
                    &snapshots,
                    finalizations,
                    blocks,
                )
                .await?;
                (finalizations, blocks) = (f, b);
                start = Start::Floor(checkpoint.finalization().clone());
                kept = Some(Published {
                    height: checkpoint.height(),
                    hash: checkpoint.hash(),
                    bytes,
                });
                restored = Some(r);
            }
        }
    }
    if let Some(published) = kept {
        info!(height = published.height, block = %published.hash, "serving a checkpoint");
        sink.checkpoint_published(Arc::new(published));
    }
    Ok(Opened {
        finalizations,
        blocks,
        snapshots,
        restored,
        start,
        from_genesis,
    })
}

impl<E: Clock + Spawner + Storage + Metrics> Opened<E> {
    /// Executes the stored finalized blocks after the state the node starts
    /// from, handing each to `finalizer`, and returns the executor at the
    /// stored chain's tip. States fall due to `due` as blocks execute.
    pub(super) async fn replay<K: FinalizedSink>(
        &mut self,
        finalizer: &mut Finalizer<K>,
        due: &snapshot::Due,
        genesis: &ConsensusBlock,
        genesis_ledger: &Ledger,
    ) -> Result<Shared, ConsensusError> {
        loop {
            let from = match &self.restored {
                Some(r) => {
                    let height = r.ledger.height();
                    info!(height, "starting from a saved state");
                    finalizer.shared = Shared::new(Executor::new(&r.block, Arc::clone(&r.ledger)));
                    finalizer.sink.restored(Arc::clone(&r.ledger));
                    height
                }
                None => 0,
            };
            let shared = finalizer.shared.clone();
            match replay_finalized(&self.blocks, from, &shared, finalizer).await {
                Ok(replayed) => {
                    if replayed > from {
                        info!(
                            height = replayed,
                            from, "re-executed stored finalized blocks"
                        );
                    }
                    return Ok(shared);
                }
                // A saved state that the chain's root vouches for, from which the stored
                // blocks still do not execute, is not this build's to read after all:
                // genesis is the one start left. (Blocks handed over twice are ignored.)
                // Nothing of that pass is kept: neither the states it would have saved, nor
                // the saved states, nor what the sink was handed.
                // A node that started from a checkpoint has no genesis to fall back to.
                Err(e @ ConsensusError::Replay { .. })
                    if self.restored.is_some() && self.from_genesis =>
                {
                    warn!(error = %e, "the saved state does not go on; re-executing from genesis");
                    self.restored = None;
                    self.snapshots.clear().await;
                    due.forget();
                    finalizer.shared = Shared::new(Executor::new(genesis, genesis_ledger.clone()));
                    finalizer.sink.rewound(Arc::new(genesis_ledger.clone()));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Finalized heights between two progress lines of a long replay.
const REPLAY_PROGRESS_EVERY: u64 = 10_000;

/// A saved state a restart starts from, checked against the stored chain.
pub(super) struct Restored {
    /// The finalized block the state is after.
    pub(super) block: Arc<ConsensusBlock>,
    /// The state after it (shared by the executor, the sink and the epoch entry:
    /// one copy of a state that may be large).
    pub(super) ledger: Arc<Ledger>,
    /// The last block of the epoch before the state's next block: the floor
    /// of the epoch the node enters.
    pub(super) floor: Digest,
}

/// The oldest of `saved` that the stored chain vouches for: its root is the
/// one the finalized block at its height commits to. The older one is
/// preferred so that a restart hands the sink at least one interval of recent
/// blocks (see [`super::snapshot`]).
async fn restore<A>(
    archive: &A,
    saved: Vec<Ledger>,
    genesis: &Ledger,
    genesis_digest: Digest,
) -> Result<Option<Restored>, ConsensusError>
where
    A: commonware_storage::archive::Archive<Value = Arc<ConsensusBlock>>,
{
    let block_at = |height: u64| async move {
        archive
            .get(Identifier::Index(height))
            .await
            .map_err(|e| ConsensusError::Storage(e.to_string()))
    };
    for ledger in saved {
        let height = ledger.height();
        if ledger.state().chain_id != genesis.state().chain_id {
            warn!(height, "ignoring a saved state of another chain");
            continue;
        }
        let Some(block) = block_at(height).await? else {
            warn!(height, "ignoring a saved state past the stored chain");
            continue;
        };
        if block.header().state_root != ledger.state_root() {
            warn!(
                height,
                "ignoring a saved state the stored chain does not commit to"
            );
            continue;
        }
        let epoch = ledger.state().validator_epoch();
        let length = genesis.state().economics.validator_epoch_length.max(2);
        // The floor is the last block of the epoch before; a node started from a
        // checkpoint stores only the epoch's first block, whose parent it is.
        let floor = match epoch {
            0 => genesis_digest,
            _ => match block_at(epoch * length - 1).await? {
                Some(boundary) => boundary.digest(),
                None => match block_at(epoch * length).await? {
                    Some(first) => commonware_consensus::Block::parent(first.as_ref()),
                    None => {
                        warn!(
                            height,
                            "ignoring a saved state whose epoch start is not stored"
                        );
                        continue;
                    }
                },
            },
        };
        return Ok(Some(Restored {
            block,
            ledger: Arc::new(ledger),
            floor,
        }));
    }
    Ok(None)
}

/// Rebuilds the ledger after a restart by executing the stored finalized
/// blocks after `from` (the height the executor starts at), handing each to
/// the sink again. Marshal then delivers only what is newer.
async fn replay_finalized<A, K>(
    archive: &A,
    from: u64,
    shared: &Shared,
    finalizer: &mut Finalizer<K>,
) -> Result<u64, ConsensusError>
where
    A: commonware_storage::archive::Archive<Value = Arc<ConsensusBlock>>,
    K: FinalizedSink,
{
    let last = archive.last_index().unwrap_or(0);
    if last > from + REPLAY_PROGRESS_EVERY {
        info!(from, to = last, "re-executing stored finalized blocks");
    }
    let mut height = from + 1;
    loop {
        let stored = archive
            .get(Identifier::Index(height))
            .await
            .map_err(|e| ConsensusError::Storage(e.to_string()))?;
        let Some(block) = stored else {
            return Ok(height - 1);
        };
        let executed = shared
            .finalize(&block)
            .map_err(|reason| ConsensusError::Replay { height, reason })?;
        if let Some(executed) = executed {
            finalizer.deliver(&block, &executed, false);
        }
        // Re-execution outruns the journal's writes: wait for them now and then,
        // so that what waits to be written stays bounded.
        if height.is_multiple_of(JOURNAL_BACKLOG)
            && let Some(journal) = &finalizer.journal
        {
            journal.written().await;
        }
        if height.is_multiple_of(REPLAY_PROGRESS_EVERY) {
            info!(height, of = last, "re-executing stored finalized blocks");
        }
        height += 1;
    }
}

/// Starts a node whose storage holds no chain from `checkpoint` (encoded as
/// `bytes`), its certificate checked, and returns the state to start from. In
/// this order, so that a restart at any point finds what it needs: the
/// checkpoint is kept (the next start takes it up again, and serves it: a node
/// that joined this way helps the next), its block and certificate are archived
/// as marshal archives finalized ones, and its state is saved (a restart starts
/// from it as from any saved state).
async fn start_from<E, F, B>(
    checkpoint: &Checkpoint,
    bytes: &[u8],
    policy: snapshot::SnapshotPolicy,
    snapshots: &Snapshots<E>,
    finalizations: F,
    blocks: B,
) -> Result<(Restored, F, B), ConsensusError>
where
    E: Storage,
    F: commonware_storage::archive::Archive<Key = Digest, Value = Finalization<Scheme, Digest>>,
    B: commonware_storage::archive::Archive<Key = Digest, Value = Arc<ConsensusBlock>>,
{
    let height = checkpoint.height();
    info!(height, block = %checkpoint.hash(), "starting from a checkpoint");
    let failed = |what: &str, why: String| {
        ConsensusError::Storage(format!("starting from the checkpoint, {what}: {why}"))
    };
    snapshots
        .keep_served_checkpoint(bytes)
        .await
        .map_err(|why| failed("keeping it", why))?;
    let block = Arc::new(checkpoint.block().clone());
    let digest = block.digest();
    let archived = |e: commonware_storage::archive::Error| failed("archiving it", e.to_string());
    let finalizations = finalizations
        .put_sync(height, digest, checkpoint.finalization())
        .await
        .map_err(archived)?;
    let blocks = blocks
        .put_sync(height, digest, &block)
        .await
        .map_err(archived)?;
    snapshots
        .save_now(policy, checkpoint.ledger())
        .await
        .map_err(|why| failed("saving its state", why))?;
    let restored = Restored {
        block,
        ledger: Arc::clone(checkpoint.ledger()),
        floor: checkpoint.floor(),
    };
    Ok((restored, finalizations, blocks))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};
    use plexus_primitives::{Balance, ChainId};

    use super::*;
    use crate::consensus::engine::{PAGE_CACHE_PAGES, PAGE_SIZE};
    use crate::consensus::genesis_block;
    use crate::execution;
    use crate::mempool::testing::{self, key};

    #[test]
    fn a_restart_trusts_only_a_saved_state_the_stored_chain_commits_to() {
        deterministic::Runner::default().start(|context| async move {
            let mut genesis = testing::genesis_under(plexus_ledger::LedgerRules::LATEST);
            genesis.economics.validator_epoch_length = 8;
            let genesis = Ledger::from_genesis(&genesis).unwrap();
            let first = genesis_block(&genesis);
            let mut archive = immutable::Archive::init(
                context.child("blocks"),
                archive_config(
                    "t",
                    "blocks",
                    CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES),
                    (),
                ),
            )
            .await
            .unwrap();
            // Blocks 1 to 9 stored, and the state after each.
            let (mut header, mut state) = (first.header().clone(), genesis.clone());
            let mut states = vec![genesis.clone()];
            for view in 1..=9 {
                let (block, executed, _) =
                    execution::build(&header, &state, Vec::new(), key(9).account_id(), view)
                        .unwrap();
                (header, state) = (block.header().clone(), Ledger::clone(&executed.ledger));
                archive = archive
                    .put_sync(view, block.digest(), &Arc::new(block))
                    .await
                    .unwrap();
                states.push(state.clone());
            }
            let restore = |saved: Vec<Ledger>| restore(&archive, saved, &genesis, first.digest());

            let restored = restore(vec![states[2].clone(), states[3].clone()]).await;
            let restored = restored.unwrap().unwrap();
            assert_eq!(
                *restored.ledger, states[2],
                "the first that checks out is taken"
            );
            assert_eq!(restored.block.number(), 2);
            assert_eq!(restored.floor, first.digest(), "still in the first epoch");

            // A state the chain does not commit to (changed here, as a damaged or
            // doctored file would be) is passed over for the next one...
            let mut doctored = states[2].state().clone();
            doctored
                .accounts
                .entry(key(1).account_id())
                .or_default()
                .balance = Balance::UNIT;
            let saved = vec![Ledger::from_state(doctored), states[3].clone()];
            assert_eq!(*restore(saved).await.unwrap().unwrap().ledger, states[3]);

            // The epoch a later state enters starts after the last block of the one
            // before (7): the floor its consensus engine starts from.
            let boundary = archive.get(Identifier::Index(7)).await.unwrap().unwrap();
            for height in [7, 9] {
                let restored = restore(vec![states[height].clone()])
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(restored.floor, boundary.digest(), "state after {height}");
            }

            // ...and one past the stored chain, or of another chain, leaves genesis.
            let mut ahead = states[9].state().clone();
            ahead.height = 10;
            let mut other = states[3].state().clone();
            other.chain_id = ChainId::new("another").unwrap();
            let saved = vec![Ledger::from_state(ahead), Ledger::from_state(other)];
            assert!(restore(saved).await.unwrap().is_none());
        });
    }
}
