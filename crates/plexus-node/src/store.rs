//! What the node has finalized, indexed for readers: the recent blocks by
//! height, their transactions by hash with their outcome, and the ledger
//! after the latest finalized block.
//!
//! Memory is bounded by [`History`]: the oldest blocks (and their
//! transactions) are forgotten first. Once the node's [`Journal`] is attached
//! (the node writes every finalized block to it), what memory no longer holds
//! is read back from disk: receipts then outlive the memory bound and
//! restarts, back to the journal's own bound
//! ([`crate::journal::JournalPolicy`]).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use plexus_ledger::{BlockOutcome, Ledger};
use plexus_primitives::{Block, Encode as _, Hash};
use tokio::sync::broadcast;

use crate::consensus::checkpoint::Published;
use crate::journal::{Journal, JournalError};
use crate::rpc::{BlockInfo, TxInfo};

/// Where a transaction ended up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Height of the block holding it.
    pub height: u64,
    /// Its index in the block.
    pub index: usize,
}

/// One finalized block with what it did.
#[derive(Clone, Debug)]
pub struct FinalizedBlock {
    /// The block.
    pub block: Block,
    /// Receipts, emission, epochs and the post-state root.
    pub outcome: BlockOutcome,
}

/// How much recent history a [`ChainStore`] keeps for readers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct History {
    /// Most blocks kept.
    pub blocks: usize,
    /// Most bytes kept, about: the blocks' encoded sizes plus an estimate of
    /// what their receipts and index entries take (see [`kept_size`]).
    pub bytes: usize,
    /// Fewest blocks kept, whatever their size: a client waiting for its
    /// transaction polls for the receipt, which must outlast a few blocks
    /// even when they are full.
    pub least: usize,
}

impl Default for History {
    /// About five and a half hours of an idle chain's blocks (one every
    /// 200 ms), or 256 MiB, but always the last 32 blocks (about 6 s).
    fn default() -> Self {
        Self {
            blocks: 100_000,
            bytes: 256 << 20,
            least: 32,
        }
    }
}

/// What keeping a block of `encoded_len` bytes and `transactions` costs in
/// memory, about: its encoding, plus the outcome, the map entries and, per
/// transaction, a receipt and an index entry.
pub fn kept_size(encoded_len: usize, transactions: usize) -> usize {
    const PER_BLOCK: usize = 512;
    const PER_TRANSACTION: usize = 192;
    encoded_len + PER_BLOCK + PER_TRANSACTION * transactions
}

/// A block kept for readers.
#[derive(Debug)]
struct Kept {
    block: Arc<FinalizedBlock>,
    /// Its [`kept_size`].
    size: usize,
    /// Its transactions' hashes, as indexed.
    hashes: Vec<Hash>,
}

#[derive(Debug)]
struct Inner {
    /// Metrics to keep current, if any.
    metrics: Option<Arc<crate::metrics::NodeMetrics>>,
    /// Recent blocks by height.
    blocks: BTreeMap<u64, Kept>,
    /// The sizes of `blocks`, summed.
    bytes: usize,
    history: History,
    transactions: BTreeMap<Hash, TxLocation>,
    ledger: Arc<Ledger>,
    /// Where every block is written too, once attached.
    journal: Option<Journal>,
    /// Whether the node is catching up with the chain.
    catching_up: bool,
    /// The newest checkpoint this node serves to joining nodes.
    checkpoint: Option<Arc<Published>>,
    /// When this node last finalized a block, by its own clock: for people asking
    /// whether the chain moves, never for anything the chain computes.
    last_block_at: Option<std::time::Instant>,
}

impl Inner {
    /// Forgets the oldest blocks until what is kept fits `history`.
    fn forget_old(&mut self) {
        let least = self.history.least.max(1);
        while self.blocks.len() > self.history.blocks.max(least)
            || (self.bytes > self.history.bytes && self.blocks.len() > least)
        {
            let Some((height, kept)) = self.blocks.pop_first() else {
                return;
            };
            self.bytes -= kept.size;
            for hash in &kept.hashes {
                // Only if this block is where it is indexed: a later block cannot
                // hold the same transaction (its nonce is used), but be exact.
                if self
                    .transactions
                    .get(hash)
                    .is_some_and(|at| at.height == height)
                {
                    self.transactions.remove(hash);
                }
            }
        }
    }
}

/// `read`, with a closed journal (it said why when it closed) holding nothing.
fn open_or_none<T>(read: Result<Option<T>, JournalError>) -> Result<Option<T>, JournalError> {
    match read {
        Err(JournalError::Closed) => Ok(None),
        read => read,
    }
}

/// The finalized chain, shared by consensus (writer) and RPC (readers).
#[derive(Clone, Debug)]
pub struct ChainStore {
    inner: Arc<RwLock<Inner>>,
    finalized: broadcast::Sender<Arc<FinalizedBlock>>,
}

impl ChainStore {
    /// A store holding only genesis, keeping the [`History::default`].
    pub fn new(genesis: Ledger) -> Self {
        let (finalized, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(RwLock::new(Inner {
                blocks: BTreeMap::new(),
                bytes: 0,
                history: History::default(),
                transactions: BTreeMap::new(),
                ledger: Arc::new(genesis),
                metrics: None,
                journal: None,
                catching_up: false,
                checkpoint: None,
                last_block_at: None,
            })),
            finalized,
        }
    }

    /// Keeps `metrics` current as blocks finalize.
    pub fn with_metrics(self, metrics: Arc<crate::metrics::NodeMetrics>) -> Self {
        self.write().metrics = Some(metrics);
        self
    }

    /// Keeps `history` rather than the default.
    pub fn with_history(self, history: History) -> Self {
        {
            let mut inner = self.write();
            inner.history = history;
            inner.forget_old();
        }
        self
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a finalized block and the ledger after it, forgets the oldest
    /// blocks beyond the [`History`] kept, and tells subscribers.
    pub fn finalize(&self, block: Block, outcome: BlockOutcome, ledger: Arc<Ledger>) {
        let encoded_len = block.encode().len();
        self.record(block, outcome, ledger, encoded_len);
    }

    /// [`Self::finalize`], for a block whose encoded length is known.
    fn record(&self, block: Block, outcome: BlockOutcome, ledger: Arc<Ledger>, encoded_len: usize) {
        let height = block.header.height.0;
        let size = kept_size(encoded_len, block.transactions.len());
        let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
        let entry = Arc::new(FinalizedBlock { block, outcome });
        {
            let mut inner = self.write();
            inner.last_block_at = Some(std::time::Instant::now());
            for (index, hash) in hashes.iter().enumerate() {
                inner
                    .transactions
                    .insert(*hash, TxLocation { height, index });
            }
            let kept = Kept {
                block: entry.clone(),
                size,
                hashes,
            };
            if let Some(replaced) = inner.blocks.insert(height, kept) {
                inner.bytes -= replaced.size;
            }
            inner.bytes += size;
            inner.ledger = ledger;
            inner.forget_old();
            if let Some(m) = &inner.metrics {
                use std::sync::atomic::Ordering::Relaxed;
                m.finalized_height.store(height, Relaxed);
                m.height.store(height, Relaxed);
                m.blocks_finalized.fetch_add(1, Relaxed);
                m.transactions_finalized
                    .fetch_add(entry.block.transactions.len() as u64, Relaxed);
            }
        }
        // No subscriber is not an error.
        let _ = self.finalized.send(entry);
    }

    /// Whether the node is catching up with the chain (see
    /// [`crate::consensus::FinalizedSink::catching_up`]): its heights lag the
    /// chain's until it stops.
    pub fn is_catching_up(&self) -> bool {
        self.read().catching_up
    }

    /// The newest checkpoint this node serves (see
    /// [`crate::consensus::checkpoint`]), once an epoch has started since it started.
    pub fn checkpoint(&self) -> Option<Arc<Published>> {
        self.read().checkpoint.clone()
    }

    /// How long ago this node last finalized a block (by its own clock), if it has since
    /// it started.
    pub fn since_last_block(&self) -> Option<std::time::Duration> {
        self.read().last_block_at.map(|at| at.elapsed())
    }

    /// The ledger after the latest finalized block.
    pub fn ledger(&self) -> Arc<Ledger> {
        self.read().ledger.clone()
    }

    /// Height of the latest finalized block (0 = genesis).
    pub fn finalized_height(&self) -> u64 {
        self.read().ledger.height()
    }

    /// A finalized block by height, if it is among those kept in memory.
    pub fn block(&self, height: u64) -> Option<Arc<FinalizedBlock>> {
        self.read()
            .blocks
            .get(&height)
            .map(|kept| kept.block.clone())
    }

    /// The height of the oldest block kept, in memory or in the journal, if any.
    pub fn oldest_kept(&self) -> Option<u64> {
        let inner = self.read();
        let in_memory = inner.blocks.first_key_value().map(|(height, _)| *height);
        let on_disk = inner.journal.as_ref().and_then(Journal::oldest);
        in_memory.into_iter().chain(on_disk).min()
    }

    /// Reads back from `journal` what memory no longer holds.
    pub fn attach(&self, journal: Journal) {
        self.write().journal = Some(journal);
    }

    /// A finalized block as readers see it: from memory if kept there, else
    /// from the journal.
    pub async fn block_info(&self, height: u64) -> Result<Option<BlockInfo>, JournalError> {
        let journal = {
            let inner = self.read();
            if let Some(kept) = inner.blocks.get(&height) {
                return Ok(Some(BlockInfo::from_block(
                    &kept.block.block,
                    &kept.block.outcome,
                )));
            }
            // Memory holds every height from its oldest to the finalized one: the
            // journal is asked only for what lies before.
            let below = inner
                .blocks
                .first_key_value()
                .map_or(inner.ledger.height() + 1, |(oldest, _)| *oldest);
            match &inner.journal {
                Some(journal) if (1..below).contains(&height) => journal.clone(),
                _ => return Ok(None),
            }
        };
        open_or_none(journal.block(height).await)
    }

    /// Where a finalized transaction is, with its block, if that block is kept in memory.
    pub fn transaction(&self, hash: &Hash) -> Option<(TxLocation, Arc<FinalizedBlock>)> {
        let inner = self.read();
        let location = inner.transactions.get(hash)?.clone();
        let kept = inner.blocks.get(&location.height)?;
        Some((location, kept.block.clone()))
    }

    /// New finalized blocks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedBlock>> {
        self.finalized.subscribe()
    }

    /// Where a finalized transaction is, with what became of it: from memory
    /// if its block is kept there, else from the journal.
    pub async fn transaction_info(
        &self,
        hash: &Hash,
    ) -> Result<Option<(TxLocation, TxInfo)>, JournalError> {
        if let Some((location, kept)) = self.transaction(hash) {
            let tx = kept.block.transactions.get(location.index);
            let receipt = kept.outcome.receipts.get(location.index);
            if let (Some(tx), Some(receipt)) = (tx, receipt) {
                return Ok(Some((location, TxInfo::from_receipt(tx, receipt))));
            }
        }
        let journal = self.read().journal.clone();
        let Some(journal) = journal else {
            return Ok(None);
        };
        let found = open_or_none(journal.transaction(*hash).await)?;
        Ok(found.and_then(|(location, block)| {
            let tx = block.transactions.into_iter().nth(location.index)?;
            Some((location, tx))
        }))
    }
}

impl crate::consensus::FinalizedSink for ChainStore {
    fn journal(&mut self, journal: Journal) {
        self.attach(journal);
    }

    fn catching_up(&mut self, catching_up: bool) {
        let mut inner = self.write();
        inner.catching_up = catching_up;
        if let Some(m) = &inner.metrics {
            m.catching_up
                .store(u64::from(catching_up), std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn finalized(&mut self, block: crate::consensus::Finalized) {
        // A block at or below the finalized height (delivered again after a
        // restart) is not recorded twice.
        if block.block.header.height.0 <= self.finalized_height() {
            return;
        }
        if let Some(m) = &self.read().metrics {
            let micros = u64::try_from(block.execution.as_micros()).unwrap_or(u64::MAX);
            m.block_execution_micros
                .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
        }
        self.record(block.block, block.outcome, block.ledger, block.encoded_len);
    }

    fn checkpoint_published(&mut self, checkpoint: Arc<Published>) {
        let mut inner = self.write();
        if inner
            .checkpoint
            .as_ref()
            .is_none_or(|served| served.height < checkpoint.height)
        {
            inner.checkpoint = Some(checkpoint);
        }
    }

    fn rewound(&mut self, genesis: Arc<Ledger>) {
        let mut inner = self.write();
        inner.blocks.clear();
        inner.transactions.clear();
        inner.bytes = 0;
        inner.ledger = genesis;
    }

    fn restored(&mut self, ledger: Arc<Ledger>) {
        // Readers see the saved state at once, rather than genesis until the first
        // block after it is re-executed.
        let mut inner = self.write();
        if ledger.height() > inner.ledger.height() {
            if let Some(m) = &inner.metrics {
                use std::sync::atomic::Ordering::Relaxed;
                m.finalized_height.store(ledger.height(), Relaxed);
                m.height.store(ledger.height(), Relaxed);
            }
            inner.ledger = ledger;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::consensus::FinalizedSink as _;
    use crate::mempool::testing::{chain, ledger};

    #[test]
    fn the_oldest_blocks_and_their_transactions_are_forgotten_first() {
        let (genesis, blocks) = chain(6);
        let size = kept_size(blocks[0].0.encode().len(), 1);
        // Room for four blocks by count, and three by bytes.
        let store = ChainStore::new(genesis).with_history(History {
            blocks: 4,
            bytes: 3 * size + size / 2,
            least: 1,
        });
        let hashes: Vec<Hash> = blocks.iter().map(|b| b.0.transactions[0].hash()).collect();
        for (block, outcome, ledger) in blocks {
            store.finalize(block, outcome, ledger);
        }
        assert_eq!(store.finalized_height(), 6);
        assert_eq!(store.oldest_kept(), Some(4));
        assert!(store.block(3).is_none() && store.block(4).is_some());
        assert!(store.transaction(&hashes[2]).is_none());
        let (at, block) = store.transaction(&hashes[3]).unwrap();
        assert_eq!((at.height, at.index), (4, 0));
        assert_eq!(block.outcome.receipts.len(), 1);
        assert_eq!(
            store.read().transactions.len(),
            3,
            "forgotten transactions leave the index"
        );

        // A smaller count forgets more at once.
        let store = store.with_history(History {
            blocks: 1,
            bytes: usize::MAX,
            least: 1,
        });
        assert_eq!(store.oldest_kept(), Some(6));
        assert_eq!(store.read().transactions.len(), 1);

        // However large the blocks, the fewest kept stay.
        let store = store.with_history(History {
            blocks: 10,
            bytes: 0,
            least: 3,
        });
        let (genesis, blocks) = chain(6);
        let store = ChainStore::new(genesis).with_history(store.read().history);
        for (block, outcome, ledger) in blocks {
            store.finalize(block, outcome, ledger);
        }
        assert_eq!(store.oldest_kept(), Some(4));
    }

    #[test]
    fn a_block_delivered_again_after_a_restart_is_recorded_once() {
        let (genesis, blocks) = chain(2);
        let mut store = ChainStore::new(genesis);
        let mut finalized = store.subscribe();
        for _ in 0..2 {
            for (block, outcome, ledger) in &blocks {
                store.finalized(crate::consensus::Finalized {
                    hash: block.hash(),
                    block: block.clone(),
                    outcome: outcome.clone(),
                    ledger: ledger.clone(),
                    execution: std::time::Duration::ZERO,
                    encoded_len: block.encode().len(),
                });
            }
        }
        let heights: Vec<u64> = std::iter::from_fn(|| finalized.try_recv().ok())
            .map(|b| b.block.header.height.0)
            .collect();
        assert_eq!(heights, [1, 2]);
        assert_eq!(store.read().transactions.len(), 2);

        // Rewound to genesis (a saved state that did not go on), the same heights
        // are taken again.
        store.rewound(Arc::new(ledger()));
        assert_eq!((store.finalized_height(), store.oldest_kept()), (0, None));
        assert!(store.read().transactions.is_empty());
        let (block, outcome, ledger) = blocks[0].clone();
        store.finalize(block, outcome, ledger);
        assert_eq!(store.oldest_kept(), Some(1));
    }

    #[test]
    fn what_memory_forgot_is_read_back_from_the_journal() {
        use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

        use crate::journal::JournalPolicy;

        deterministic::Runner::default().start(|context| async move {
            let (genesis, blocks) = chain(4);
            let infos: Vec<BlockInfo> = blocks
                .iter()
                .map(|(block, outcome, _)| BlockInfo::from_block(block, outcome))
                .collect();
            let hashes: Vec<Hash> = blocks.iter().map(|b| b.0.transactions[0].hash()).collect();
            let journal = Journal::open(context.child("journal"), "s", JournalPolicy::default())
                .await
                .unwrap();
            let mut store = ChainStore::new(genesis).with_history(History {
                blocks: 1,
                bytes: usize::MAX,
                least: 1,
            });
            // Without a journal, what memory forgot is gone.
            for (block, outcome, ledger) in blocks.iter().take(2).cloned() {
                journal.append(&block, &outcome);
                store.finalize(block, outcome, ledger);
            }
            assert_eq!(store.block_info(1).await.unwrap(), None);
            assert_eq!(store.oldest_kept(), Some(2));

            store.journal(journal.clone());
            for (block, outcome, ledger) in blocks.iter().skip(2).cloned() {
                journal.append(&block, &outcome);
                store.finalize(block, outcome, ledger);
            }
            assert!(store.block(3).is_none(), "memory holds only the last block");
            for (height, info) in (1..).zip(&infos) {
                assert_eq!(store.block_info(height).await.unwrap().as_ref(), Some(info));
            }
            assert_eq!(store.block_info(5).await.unwrap(), None);
            assert_eq!(store.oldest_kept(), Some(1));
            for (height, hash) in (1..).zip(&hashes) {
                let (at, tx) = store.transaction_info(hash).await.unwrap().unwrap();
                assert_eq!((at.height, at.index), (height, 0));
                assert_eq!(tx, infos[height as usize - 1].transactions[0]);
            }
        });
    }
}
