//! What the node has finalized, indexed for readers: blocks by height,
//! transactions by hash with their outcome, and the ledger after the latest
//! finalized block. Rebuilt from finalized blocks at start-up.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use plexus_ledger::{BlockOutcome, Ledger};
use plexus_primitives::{Block, Hash};
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

#[derive(Debug)]
struct Inner {
    /// Metrics to keep current, if any.
    metrics: Option<Arc<crate::metrics::NodeMetrics>>,
    blocks: BTreeMap<u64, Arc<FinalizedBlock>>,
    transactions: BTreeMap<Hash, TxLocation>,
    ledger: Arc<Ledger>,
}

/// The finalized chain, shared by consensus (writer) and RPC (readers).
#[derive(Clone, Debug)]
pub struct ChainStore {
    inner: Arc<RwLock<Inner>>,
    finalized: broadcast::Sender<Arc<FinalizedBlock>>,
}

impl ChainStore {
    /// A store holding only genesis.
    pub fn new(genesis: Ledger) -> Self {
        let (finalized, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(RwLock::new(Inner {
                blocks: BTreeMap::new(),
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

    /// Records a finalized block and the ledger after it, and tells subscribers.
    pub fn finalize(&self, block: Block, outcome: BlockOutcome, ledger: Arc<Ledger>) {
        let height = block.header.height.0;
        let entry = Arc::new(FinalizedBlock { block, outcome });
        {
            let mut inner = self.write();
            for (index, tx) in entry.block.transactions.iter().enumerate() {
                inner
                    .transactions
                    .insert(tx.hash(), TxLocation { height, index });
            }
            inner.blocks.insert(height, entry.clone());
            inner.ledger = ledger;
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

    /// A finalized block by height.
    pub fn block(&self, height: u64) -> Option<Arc<FinalizedBlock>> {
        self.read().blocks.get(&height).cloned()
    }

    /// Where a finalized transaction is, with its block.
    pub fn transaction(&self, hash: &Hash) -> Option<(TxLocation, Arc<FinalizedBlock>)> {
        let inner = self.read();
        let location = inner.transactions.get(hash)?.clone();
        let block = inner.blocks.get(&location.height)?.clone();
        Some((location, block))
    }

    /// New finalized blocks from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FinalizedBlock>> {
        self.finalized.subscribe()
    }
}

impl crate::consensus::FinalizedSink for ChainStore {
    fn finalized(&mut self, block: crate::consensus::Finalized) {
        // After a restart consensus replays the chain from height 1; a block
        // already held is not recorded twice.
        if self.block(block.block.header.height.0).is_some() {
            return;
        }
        if let Some(m) = &self.read().metrics {
            let micros = u64::try_from(block.execution.as_micros()).unwrap_or(u64::MAX);
            m.block_execution_micros
                .fetch_add(micros, std::sync::atomic::Ordering::Relaxed);
        }
        self.finalize(block.block, block.outcome, block.ledger);
    }
}
