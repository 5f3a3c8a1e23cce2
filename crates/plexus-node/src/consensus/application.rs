//! The application marshal drives: builds blocks from the mempool, verifies
//! peers' blocks by re-executing them, and applies finalized blocks.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use commonware_actor::Feedback;
use commonware_consensus::{
    Heightable as _, Reporter, marshal::Update, marshal::ancestry::Ancestry,
    simplex::types::Context,
};
use commonware_cryptography::{Digested, Digestible as _};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::Acknowledgement;
use futures::StreamExt as _;
use plexus_ledger::Ledger;
use plexus_primitives::{AccountId, ChainId, Keypair};
use tracing::{debug, error, warn};

use super::{Finalized, FinalizedSink, PublicKey, Scheme, account_id};
use crate::block::{ConsensusBlock, Digest};
use crate::execution::{self, BlockLimits, Executed, Executor, SignatureCheck};
use crate::mempool::SharedMempool;

/// State shared by every clone of the application and the finalizer.
#[derive(Clone, Debug)]
pub(super) struct Shared {
    executor: Arc<Mutex<Executor>>,
    /// The finalized height at which long walks were last given up, and how many
    /// in a row were given up there.
    waited: Arc<Mutex<(u64, u32)>>,
}

impl Shared {
    pub(super) fn new(executor: Executor) -> Self {
        Self {
            executor: Arc::new(Mutex::new(executor)),
            waited: Arc::default(),
        }
    }

    /// Whether a walk too long to replay may give up and wait for finalized
    /// blocks, with this node finalized up to `height`: yes while that height
    /// moves, and for [`PATIENCE`] walks after it last moved.
    fn may_wait(&self, height: u64) -> bool {
        let mut waited = self.waited.lock().unwrap_or_else(PoisonError::into_inner);
        if waited.0 != height {
            *waited = (height, 0);
        }
        waited.1 = waited.1.saturating_add(1);
        waited.1 <= PATIENCE
    }

    /// Locks the executor. Its critical sections never panic half-way, so a
    /// poisoned lock still guards consistent data.
    pub(super) fn executor(&self) -> MutexGuard<'_, Executor> {
        self.executor.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Most blocks a proposal or verification executes to reach its parent's state
/// while this node's finalized state moves. Consensus runs a few views ahead of
/// finalization, so a longer walk almost always means this node is catching up:
/// the finalized blocks marshal hands over in order bring its state forward, and a
/// walk that went on would hold a block (up to 4 MiB) and a ledger copy in memory
/// for every height it is behind.
const MAX_REPLAYED_ANCESTORS: usize = 32;

/// Walks given up in a row without this node's finalized state moving, after
/// which a walk goes the whole way. Without it, validators restarted while more
/// than [`MAX_REPLAYED_ANCESTORS`] blocks were notarized and not yet finalized
/// would all wait for a finalization that only their votes could bring.
const PATIENCE: u32 = 32;

/// Why the parent's post-state is not at hand.
#[derive(Debug, PartialEq, Eq)]
enum Missing {
    /// The ancestry ended (shutdown, or data that may arrive later), or reaches
    /// further back than this node replays while it catches up.
    Unavailable,
    /// The ancestry conflicts with the finalized chain or fails to execute:
    /// nothing built on it can ever be valid.
    Invalid,
}

/// Builds and verifies blocks for one validator.
#[derive(Clone)]
pub(super) struct App {
    pub(super) shared: Shared,
    pub(super) chain_id: ChainId,
    pub(super) me: AccountId,
    pub(super) mempool: SharedMempool,
    pub(super) limits: BlockLimits,
    pub(super) idle_block: Duration,
    #[cfg(feature = "byzantine")]
    pub(super) tamper: Option<super::Tamper>,
}

impl App {
    /// The post-state of the first block `ancestry` yields (the parent),
    /// executing any ancestors this node has not executed yet (it missed
    /// their proposals, or is catching up), oldest first.
    async fn parent_state<E: Spawner>(
        &self,
        runtime: &E,
        ancestry: &mut impl Ancestry<ConsensusBlock>,
    ) -> Result<(Digested<ConsensusBlock>, Arc<Executed>), Missing> {
        // Newest first; `walked[known]` is the newest block with a state.
        let mut walked: Vec<Digested<ConsensusBlock>> = Vec::new();
        let (known, mut base) = loop {
            let Some(block) = ancestry.next().await else {
                return Err(Missing::Unavailable);
            };
            let (hash, number) = (block.inner().hash(), block.inner().number());
            walked.push(block);
            let executor = self.shared.executor();
            if let Some(state) = executor.state(&hash) {
                break (walked.len() - 1, state);
            }
            if number <= executor.finalized().0 {
                // Below the finalized tip and unknown: either a fork off the
                // finalized chain, or the tip moved past blocks walked
                // earlier while this walk ran; then start from the newest of
                // those that is now known.
                let newest_known = walked
                    .iter()
                    .enumerate()
                    .find_map(|(i, b)| executor.state(&b.inner().hash()).map(|s| (i, s)));
                match newest_known {
                    Some(found) => break found,
                    None => return Err(Missing::Invalid),
                }
            }
            if walked.len() > MAX_REPLAYED_ANCESTORS && self.shared.may_wait(executor.finalized().0)
            {
                debug!(
                    height = number,
                    "too far behind to replay; waiting for finalized blocks"
                );
                return Err(Missing::Unavailable);
            }
        };
        for block in walked[..known].iter().rev() {
            // Notarized by others but not executed here. Signatures are
            // checked too, so the result is the one a verifier computed.
            let (parent, child) = (base.clone(), block.clone());
            let check = SignatureCheck::NotAdmitted(self.mempool.clone());
            let replayed = off_thread(runtime, move || {
                execution::replay(&parent.ledger, child.inner().block(), check)
            });
            let executed = match replayed.await {
                Some(Ok(executed)) => Arc::new(executed),
                Some(Err(e)) => {
                    warn!(height = block.inner().number(), error = %e, "ancestor does not execute");
                    return Err(Missing::Invalid);
                }
                None => return Err(Missing::Unavailable),
            };
            self.shared
                .executor()
                .insert(block.inner().hash(), executed.clone());
            base = executed;
        }
        match walked.into_iter().next() {
            Some(parent) => Ok((parent, base)),
            None => Err(Missing::Unavailable),
        }
    }
}

/// Runs CPU-heavy execution as its own task, marked blocking so that under
/// tokio it does not stall the async workers (under the deterministic
/// runtime it is scheduled like any task). `None` if the runtime is stopping.
pub(super) async fn off_thread<E: Spawner, T: Send + 'static>(
    runtime: &E,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let task = runtime.child("execute").shared(true);
    task.spawn(move |_| async move { job() }).await.ok()
}

/// How often an idle proposer looks at the mempool again.
const IDLE_POLL: Duration = Duration::from_millis(10);

impl<E: Spawner + Clock> commonware_consensus::Application<E> for App {
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = ConsensusBlock;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, context): (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
        _: (),
    ) -> Option<Digested<Self::Block>> {
        let (parent, state) = self.parent_state(&runtime, &mut ancestry).await.ok()?;
        let idle_until = runtime.current() + self.idle_block;
        while self.mempool.lock().is_empty() && runtime.current() < idle_until {
            runtime.sleep(IDLE_POLL).await;
        }
        let limits = self.limits.clamped();
        let (mempool, me, view) = (self.mempool.clone(), self.me, context.round.view().get());
        #[cfg(feature = "byzantine")]
        let parent_ledger = state.ledger.clone();
        let built = off_thread(&runtime, move || {
            let transactions =
                mempool
                    .lock()
                    .select(&state.ledger, limits.max_transactions, limits.max_bytes);
            let (block, executed, refused) = execution::build(
                parent.inner().header(),
                &state.ledger,
                transactions,
                me,
                view,
            )?;
            let mut pool = mempool.lock();
            for (tx, why) in refused {
                debug!(hash = %tx.hash(), %why, "left a refused transaction out");
                pool.refuse(&tx, why);
            }
            Ok::<_, execution::BlockRejected>((block, executed))
        });
        let (block, executed) = match built.await? {
            Ok(built) => built,
            Err(e) => {
                // Only a parent at the wrong height gets here: skip the turn.
                error!(error = %e, "cannot build on parent");
                return None;
            }
        };
        debug!(
            height = block.number(),
            txs = block.block().transactions.len(),
            "proposing"
        );
        #[cfg(feature = "byzantine")]
        if let Some(tamper) = &self.tamper {
            let block = ConsensusBlock::new((tamper.0)(&parent_ledger, block.block().clone()));
            let digest = block.digest();
            return Some(Digested::precomputed(block, digest));
        }
        self.shared
            .executor()
            .insert(block.hash(), Arc::new(executed));
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, context): (E, Self::Context),
        mut ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        // Keeping the answer pending (rather than `false`) when data is only
        // missing for now: consensus cancels the request when it moves on.
        let Some(block) = ancestry.next().await else {
            return futures::future::pending().await;
        };
        let header = block.inner().header();
        if header.view != context.round.view().get()
            || header.proposer != account_id(&context.leader)
        {
            warn!(view = header.view, "block names another round or proposer");
            return false;
        }
        let hash = block.inner().hash();
        if self.shared.executor().state(&hash).is_some() {
            // Built or verified here already (our own proposal, or a repeat).
            return true;
        }
        let (parent, state) = match self.parent_state(&runtime, &mut ancestry).await {
            Ok(found) => found,
            Err(Missing::Invalid) => return false,
            Err(Missing::Unavailable) => return futures::future::pending().await,
        };
        let (chain_id, candidate) = (self.chain_id.clone(), block.clone());
        let check = SignatureCheck::NotAdmitted(self.mempool.clone());
        let checked = off_thread(&runtime, move || {
            execution::check_structure(&chain_id, parent.inner().header(), candidate.inner())
                .and_then(|()| execution::replay(&state.ledger, candidate.inner().block(), check))
        });
        match checked.await {
            Some(Ok(executed)) => {
                self.shared.executor().insert(hash, Arc::new(executed));
                true
            }
            Some(Err(e)) => {
                warn!(height = block.inner().number(), error = %e, "rejecting block");
                false
            }
            None => futures::future::pending().await,
        }
    }
}

impl Shared {
    /// Applies the next finalized block: its post-state becomes the
    /// finalized tip. Blocks at or below the tip (delivered again after a
    /// restart) return `Ok(None)`.
    ///
    /// A block no one executed here is replayed trusting its signatures:
    /// finalization means at least one honest validator verified them.
    pub(super) fn finalize(&self, block: &ConsensusBlock) -> Result<Option<Arc<Executed>>, String> {
        let mut executor = self.executor();
        let (tip_height, tip_hash) = executor.finalized();
        let (hash, height) = (block.hash(), block.number());
        if height <= tip_height {
            return Ok(None);
        }
        if height != tip_height + 1 || block.header().parent != tip_hash {
            return Err(format!(
                "finalized block {height} does not extend the finalized tip {tip_height}"
            ));
        }
        let executed = match executor.state(&hash) {
            Some(executed) => executed,
            None => {
                let base = executor
                    .finalized_state()
                    .ok_or_else(|| "finalized state missing".to_string())?;
                Arc::new(
                    execution::replay(&base.ledger, block.block(), SignatureCheck::None)
                        .map_err(|e| e.to_string())?,
                )
            }
        };
        executor.finalize(hash, executed.clone());
        Ok(Some(executed))
    }
}

/// Receives marshal's finalized blocks in height order, applies them, prunes
/// the mempool and hands them to the node's sink.
#[derive(Clone)]
pub(super) struct Finalizer<K> {
    pub(super) shared: Shared,
    pub(super) mempool: SharedMempool,
    pub(super) sink: K,
    /// Where the post-state and digest of each epoch's last block go: the
    /// next epoch starts from them.
    pub(super) boundaries: futures::channel::mpsc::UnboundedSender<(Arc<Ledger>, Digest)>,
    /// Blocks per consensus epoch.
    pub(super) epoch_length: u64,
    /// Where the bonded candidates go whenever they change (see
    /// [`super::epochs::Candidates`]): the p2p network lets them connect.
    pub(super) candidates: futures::channel::mpsc::UnboundedSender<super::epochs::Candidates>,
    /// The candidates last sent.
    pub(super) last_candidates: super::epochs::Candidates,
    /// This node's consensus key, which signs its heartbeats.
    pub(super) key: Keypair,
    /// Where states due to be saved go.
    pub(super) snapshots: super::snapshot::Due,
    /// Where every finalized block is written for readers, if the journal opened.
    pub(super) journal: Option<crate::journal::Journal>,
    /// Where each epoch's first block goes with the state after it: the node
    /// publishes it as a checkpoint once it has its certificate (see
    /// [`super::checkpoint`]).
    pub(super) epoch_starts: super::snapshot::Newest<(ConsensusBlock, Arc<Ledger>)>,
}

impl<K: FinalizedSink> Finalizer<K> {
    /// Hands a newly finalized block to the sink and prunes the mempool; `live`
    /// (not replaying stored blocks at start) it also sends the heartbeat this
    /// node owes, if any.
    pub(super) fn deliver(&mut self, block: &ConsensusBlock, executed: &Executed, live: bool) {
        if let Some(journal) = &self.journal {
            journal.append(block.block(), &executed.outcome);
        }
        // The sink first, then the mempool: a transaction is never in
        // neither place while its block is being recorded.
        self.sink.finalized(Finalized {
            block: block.block().clone(),
            hash: block.hash(),
            outcome: executed.outcome.clone(),
            ledger: executed.ledger.clone(),
            execution: executed.took,
            encoded_len: block.encoded().len(),
        });
        let me = self.key.account_id();
        let (waiting, nonce) = {
            let mut pool = self.mempool.lock();
            pool.prune_block(&block.block().transactions, &executed.ledger);
            let next = executed.ledger.state().account(&me).nonce;
            (pool.holds_heartbeat(&me), pool.next_nonce(&me, next))
        };
        // One heartbeat at a time: a stale one is refused by the pruning above. It
        // goes after anything else the key has waiting.
        if live
            && !waiting
            && let Some(beat) = super::heartbeat::due_at(&executed.ledger, &self.key, nonce)
        {
            match self.mempool.submit(beat, &executed.ledger) {
                Ok(hash) => debug!(%hash, height = block.number(), "heartbeat sent"),
                Err(e) => debug!(error = %e, "heartbeat not sent"),
            }
        }
        self.snapshots.offer(&executed.ledger);
        if plexus_ledger::validators::is_epoch_start(block.number(), self.epoch_length) {
            self.epoch_starts
                .put((block.clone(), executed.ledger.clone()));
        }
        if plexus_ledger::validators::is_epoch_end(block.number(), self.epoch_length) {
            // A closed receiver means the node is shutting down.
            let _ = self
                .boundaries
                .unbounded_send((executed.ledger.clone(), block.digest()));
        }
        // Bonds change only through transactions and at epoch ends.
        if !block.block().transactions.is_empty()
            || plexus_ledger::validators::is_epoch_end(block.number(), self.epoch_length)
        {
            let candidates = super::epochs::candidates(&executed.ledger);
            if candidates != self.last_candidates {
                self.last_candidates = candidates.clone();
                // A closed receiver means the node is shutting down.
                let _ = self.candidates.unbounded_send(candidates);
            }
        }
    }
}

/// Finalized blocks delivered between waits for the journal to write them
/// (re-executed at start, or finalized live): what waits to be written stays
/// within this many blocks.
pub(super) const JOURNAL_BACKLOG: u64 = 64;

/// Acknowledges a finalized block to marshal when dropped, however that comes
/// about: a lost acknowledgement would stop marshal, and the node with it.
struct AcknowledgeOnDrop<A: Acknowledgement>(Option<A>);

impl<A: Acknowledgement> Drop for AcknowledgeOnDrop<A> {
    fn drop(&mut self) {
        if let Some(ack) = self.0.take() {
            ack.acknowledge();
        }
    }
}

impl<K: FinalizedSink> Reporter for Finalizer<K> {
    type Activity = Update<ConsensusBlock>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        if let Update::Block(block, ack) = activity {
            match self.shared.finalize(block.inner()) {
                Ok(Some(executed)) => {
                    self.deliver(block.inner(), &executed, true);
                    match &self.journal {
                        // Marshal hands over the next block once this one is
                        // acknowledged: now and then, only once the journal has
                        // written what it was sent, so that a node catching up
                        // cannot outrun it by more than a bounded backlog.
                        Some(journal) if block.height().get().is_multiple_of(JOURNAL_BACKLOG) => {
                            journal.release_when_written(AcknowledgeOnDrop(Some(ack)));
                        }
                        _ => ack.acknowledge(),
                    }
                }
                Ok(None) => ack.acknowledge(),
                Err(reason) => {
                    // This node's execution disagrees with a finalized block:
                    // going on would serve a wrong state. Dropping the
                    // acknowledgement stops marshal, halting the node.
                    error!(height = block.height().get(), %reason, "cannot apply finalized block");
                }
            }
        }
        Feedback::Ok
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context as TaskContext, Poll};

    use commonware_runtime::{Runner as _, deterministic};
    use futures::Stream;
    use plexus_ledger::{Genesis, GenesisBalance, GenesisValidator};
    use plexus_primitives::Balance;

    use super::*;

    /// Blocks newest first, as marshal walks a parent's ancestry.
    #[derive(Clone)]
    struct Walk(VecDeque<Digested<ConsensusBlock>>);

    impl Stream for Walk {
        type Item = Digested<ConsensusBlock>;

        fn poll_next(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    impl Ancestry<ConsensusBlock> for Walk {
        fn peek(&self) -> Option<&Digested<ConsensusBlock>> {
            self.0.front()
        }
    }

    /// An application at genesis, and the walk from the newest of `length` empty
    /// blocks on it, which it has not executed, down to genesis.
    fn behind_by(length: usize) -> (App, Walk) {
        let proposer = Keypair::from_seed([9; 32]);
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-app").unwrap(),
            balances: vec![GenesisBalance {
                account: Keypair::from_seed([1; 32]).account_id(),
                balance: Balance::UNIT,
            }],
            validators: vec![GenesisValidator {
                consensus_key: proposer.account_id(),
                address: None,
            }],
            economics: plexus_ledger::Economics::default(),
        };
        let mut ledger = Ledger::from_genesis(&genesis).unwrap();
        let first = ConsensusBlock::genesis(genesis.chain_id.clone(), &ledger);
        let app = App {
            shared: Shared::new(Executor::new(&first, ledger.clone())),
            chain_id: genesis.chain_id,
            me: proposer.account_id(),
            mempool: SharedMempool::default(),
            limits: BlockLimits::default(),
            idle_block: Duration::ZERO,
            #[cfg(feature = "byzantine")]
            tamper: None,
        };
        let mut header = first.header().clone();
        let digest = first.digest();
        let mut walk = VecDeque::from([Digested::precomputed(first, digest)]);
        for view in 1..=length as u64 {
            let (block, executed, _) =
                execution::build(&header, &ledger, Vec::new(), proposer.account_id(), view)
                    .unwrap();
            (header, ledger) = (block.header().clone(), Ledger::clone(&executed.ledger));
            let digest = block.digest();
            walk.push_front(Digested::precomputed(block, digest));
        }
        (app, Walk(walk))
    }

    #[test]
    fn a_short_unexecuted_ancestry_is_replayed_and_a_long_one_waits() {
        deterministic::Runner::default().start(|runtime| async move {
            let (app, mut walk) = behind_by(MAX_REPLAYED_ANCESTORS);
            let parent = walk.peek().unwrap().inner().hash();
            let (found, state) = app.parent_state(&runtime, &mut walk).await.unwrap();
            assert_eq!(found.inner().hash(), parent);
            assert_eq!(state.height, MAX_REPLAYED_ANCESTORS as u64);
            assert!(app.shared.executor().state(&parent).is_some());

            // One block more and the walk stops without executing anything...
            let (app, walk) = behind_by(MAX_REPLAYED_ANCESTORS + 1);
            let oldest = walk.0[MAX_REPLAYED_ANCESTORS].inner().hash();
            for _ in 0..PATIENCE {
                let missing = app.parent_state(&runtime, &mut walk.clone()).await.err();
                assert_eq!(missing, Some(Missing::Unavailable));
                assert!(app.shared.executor().state(&oldest).is_none());
            }
            // ...until finalization has stood still for too long: then it goes the
            // whole way, as nothing else would move this node.
            let (_, state) = app.parent_state(&runtime, &mut walk.clone()).await.unwrap();
            assert_eq!(state.height, MAX_REPLAYED_ANCESTORS as u64 + 1);
            assert!(app.shared.executor().state(&oldest).is_some());
        });
    }

    #[test]
    fn walks_wait_again_once_finalization_moves() {
        let (app, _) = behind_by(0);
        assert!((0..PATIENCE).all(|_| app.shared.may_wait(5)));
        assert!(!app.shared.may_wait(5));
        assert!(app.shared.may_wait(6), "finalized blocks arrived");
    }
}
