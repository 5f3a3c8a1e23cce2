//! What the node has finalized, indexed for readers: the recent blocks by
//! height, their transactions by hash with their outcome, and the ledger
//! after the latest finalized block.
//!
//! Memory is bounded by [`History`]: the oldest blocks (and their
//! transactions) are forgotten first. The blocks themselves stay in the
//! consensus archive for peers that catch up; what readers lose is the
//! receipts. After a restart the store holds the blocks re-executed since the
//! saved state the node started from (see `crate::consensus::snapshot`): up
//! to two snapshot intervals of them, within the same bounds.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use plexus_ledger::{BlockOutcome, Ledger};
use plexus_primitives::{Block, Encode as _, Hash};
use tokio::sync::broadcast;

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

    /// The ledger after the latest finalized block.
    pub fn ledger(&self) -> Arc<Ledger> {
        self.read().ledger.clone()
    }

    /// Height of the latest finalized block (0 = genesis).
    pub fn finalized_height(&self) -> u64 {
        self.read().ledger.height()
    }

    /// A finalized block by height, if it is among those kept.
    pub fn block(&self, height: u64) -> Option<Arc<FinalizedBlock>> {
        self.read()
            .blocks
            .get(&height)
            .map(|kept| kept.block.clone())
    }

    /// The height of the oldest block kept, if any.
    pub fn oldest_kept(&self) -> Option<u64> {
        self.read()
            .blocks
            .first_key_value()
            .map(|(height, _)| *height)
    }

    /// Where a finalized transaction is, with its block, if that block is kept.
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
}

impl crate::consensus::FinalizedSink for ChainStore {
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

    use plexus_primitives::BlockHeader;

    use super::*;
    use crate::consensus::{FinalizedSink as _, genesis_block};
    use crate::execution;
    use crate::mempool::testing::{key, ledger, transfer};

    /// `count` blocks on the test chain, each with one transfer from key 1.
    fn chain(count: u64) -> (Ledger, Vec<(Block, BlockOutcome, Arc<Ledger>)>) {
        let genesis = ledger();
        let (mut header, mut state): (BlockHeader, Ledger) =
            (genesis_block(&genesis).header().clone(), genesis.clone());
        let mut blocks = Vec::new();
        for nonce in 0..count {
            let tx = transfer(1, nonce, 1_000_000, 2, 5);
            let (block, executed, refused) =
                execution::build(&header, &state, vec![tx], key(9).account_id(), nonce + 1)
                    .unwrap();
            assert!(refused.is_empty());
            header = block.header().clone();
            state = Ledger::clone(&executed.ledger);
            blocks.push((block.block().clone(), executed.outcome, executed.ledger));
        }
        (genesis, blocks)
    }

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
}
