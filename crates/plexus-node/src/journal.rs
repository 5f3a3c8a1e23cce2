//! The node's journal of finalized blocks as readers see them: each block with
//! its receipts ([`BlockInfo`]) by height, and its transactions by hash, on
//! disk. What the journal holds outlives restarts and the memory bound of
//! [`crate::store::ChainStore`], which asks it for what memory no longer holds.
//!
//! The journal belongs to readers, not to consensus: a block's outcome is
//! recomputed by re-executing the chain, so a journal that cannot be opened,
//! written or read costs history, never the node. It keeps the last
//! [`JournalPolicy::keep`] heights and prunes older ones whole sections at a
//! time. Writes are synced as soon as the journal has caught up with the chain
//! (and at least every second while it has not); a node stopped before re-executes
//! the blocks since its older saved state on restart and writes them again:
//! the journal skips the blocks it holds, and indexes whatever of their
//! transactions it does not.
//!
//! Memory: the block index takes 16 bytes a height, the transaction index
//! about 30 bytes a transaction; a node of a busy chain bounds both with
//! `journal_blocks` in node.toml.
//!
//! A transaction included twice (the first time uncharged, so its nonce was
//! not used) is found at either height once memory has forgotten both.

use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use commonware_codec::RangeCfg;
use commonware_runtime::buffer::paged::CacheRef;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::archive::{Archive as _, Identifier, MultiArchive as _, prunable};
use commonware_storage::cache::{self, Cache};
use commonware_storage::translator::EightCap;
use commonware_utils::sequence::FixedBytes;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt as _, StreamExt as _};
use plexus_ledger::BlockOutcome;
use plexus_primitives::{Block, Hash};
use thiserror::Error;
use tracing::warn;

use crate::rpc::BlockInfo;
use crate::store::TxLocation;

/// Heights a node keeps in its journal unless told otherwise (`journal_blocks`
/// in node.toml): about 28 hours of an idle chain (a block every 200 ms), some
/// 200 MB of disk at the 390 bytes such a block takes here.
pub const DEFAULT_JOURNAL_KEEP: NonZeroU64 = NonZeroU64::new(500_000).unwrap();

/// Heights per section on disk: the granularity of pruning.
const SECTION: NonZeroU64 = NonZeroU64::new(4_096).unwrap();
const BUFFER: NonZeroUsize = NonZeroUsize::new(64 * 1024).unwrap();
const PAGE_SIZE: NonZeroU16 = NonZeroU16::new(4096).unwrap();
const PAGE_CACHE_PAGES: NonZeroUsize = NonZeroUsize::new(64).unwrap();
/// Largest stored block read back (a block is far smaller; this bounds what a
/// damaged length can make the node allocate).
const MAX_ENTRY_BYTES: usize = 64 << 20;
/// The first byte of every stored block: the form that follows (CBOR of [`BlockInfo`]).
const FORMAT: u8 = 1;
/// How long a write may wait before it is synced.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// No height is ever `u64::MAX`: it stands for "none" in the shared oldest height.
const NONE: u64 = u64::MAX;

/// How much history the journal keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalPolicy {
    /// Most recent heights kept; older ones are pruned a section (4,096
    /// heights) at a time, so up to a section more may stay.
    pub keep: NonZeroU64,
}

impl Default for JournalPolicy {
    fn default() -> Self {
        Self {
            keep: DEFAULT_JOURNAL_KEEP,
        }
    }
}

/// Why the journal could not answer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum JournalError {
    /// Opening, reading or writing its storage failed.
    #[error("the journal's storage: {0}")]
    Storage(String),
    /// A stored block does not read back as one.
    #[error("block {height} in the journal does not read back: {reason}")]
    Damaged {
        /// Its height.
        height: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal stopped after a storage failure (logged when it happened).
    #[error("the journal is closed")]
    Closed,
}

/// A request to the task that owns the journal's storage.
enum Request {
    Append(Box<BlockInfo>),
    Block {
        height: u64,
        reply: oneshot::Sender<Result<Option<BlockInfo>, JournalError>>,
    },
    Transaction {
        hash: Hash,
        reply: oneshot::Sender<Result<Option<(TxLocation, BlockInfo)>, JournalError>>,
    },
    /// Dropped once every request before it is done.
    Release(Box<dyn Send>),
    /// Answered once every request before it is done and on disk.
    Synced(oneshot::Sender<()>),
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Append(info) => write!(f, "Append({})", info.header.height.0),
            Self::Block { height, .. } => write!(f, "Block({height})"),
            Self::Transaction { hash, .. } => write!(f, "Transaction({hash})"),
            Self::Release(_) => f.write_str("Release"),
            Self::Synced(_) => f.write_str("Synced"),
        }
    }
}

/// A handle on the journal; cheap to clone, usable from any runtime.
#[derive(Clone, Debug)]
pub struct Journal {
    requests: mpsc::UnboundedSender<Request>,
    /// The oldest height held ([`NONE`] for none, or once the journal closed),
    /// kept by the journal's task.
    oldest: Arc<AtomicU64>,
}

type TxKey = FixedBytes<32>;

/// The journal's storage, owned by its task.
struct Stored<E: Storage + Clock + Metrics> {
    blocks: Cache<E, Bytes>,
    /// Each transaction's hash, at its block's height, with its height and index.
    transactions: prunable::Archive<EightCap, E, TxKey, (u64, u32)>,
}

impl Journal {
    /// Opens the journal in `context`'s storage (partitions `{prefix}-journal-…`)
    /// and starts the task that owns it.
    pub async fn open<E>(
        context: E,
        prefix: &str,
        policy: JournalPolicy,
    ) -> Result<Self, JournalError>
    where
        E: Storage + Clock + Metrics + Spawner,
    {
        let partition = |part: &str| format!("{prefix}-journal-{part}");
        let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
        let storage = |e: &dyn std::fmt::Display| JournalError::Storage(e.to_string());
        let blocks = Cache::init(
            context.child("blocks"),
            cache::Config {
                partition: partition("blocks"),
                compression: Some(3),
                codec_config: RangeCfg::from(..=MAX_ENTRY_BYTES),
                items_per_blob: SECTION,
                write_buffer: BUFFER,
                replay_buffer: BUFFER,
                page_cache: page_cache.clone(),
            },
        )
        .await
        .map_err(|e| storage(&e))?;
        let transactions = prunable::Archive::init(
            context.child("transactions"),
            prunable::Config {
                translator: EightCap,
                metadata_partition: partition("tx-metadata"),
                key_partition: partition("tx-keys"),
                key_page_cache: page_cache,
                value_partition: partition("tx-values"),
                compression: None,
                codec_config: ((), ()),
                items_per_section: SECTION,
                key_write_buffer: BUFFER,
                value_write_buffer: BUFFER,
                replay_buffer: BUFFER,
            },
        )
        .await
        .map_err(|e| storage(&e))?;
        let mut stored = Stored {
            blocks,
            transactions,
        };
        // Pruning is not remembered across restarts: prune to what a smaller `keep`
        // (or the heights written since the last prune) leaves.
        if let Some(newest) = stored.newest()
            && newest >= policy.keep.get()
        {
            stored = stored
                .prune(newest + 1 - policy.keep.get())
                .await
                .map_err(JournalError::Storage)?;
        }
        let oldest = Arc::new(AtomicU64::new(stored.blocks.first().unwrap_or(NONE)));
        let (requests, inbox) = mpsc::unbounded();
        let closing = Closing(Arc::clone(&oldest));
        context
            .child("journal")
            .spawn(move |context| serve(context, stored, inbox, closing, policy));
        Ok(Self { requests, oldest })
    }

    /// Writes `block` with what it did unless the journal holds its height
    /// already; returns at once.
    pub fn append(&self, block: &Block, outcome: &BlockOutcome) {
        let info = BlockInfo::from_block(block, outcome);
        // A closed journal has said why when it closed.
        let _ = self
            .requests
            .unbounded_send(Request::Append(Box::new(info)));
    }

    /// Waits until every block appended before is written (or the journal closed).
    pub async fn written(&self) {
        // Its sender dropped, the receiver resolves.
        let (token, done) = oneshot::channel::<()>();
        self.release_when_written(token);
        let _ = done.await;
    }

    /// Waits until every block appended before is written and on disk (or the
    /// journal closed): a saved state must not get ahead of the journal, since
    /// a restart re-executes, and writes again, only the blocks after it.
    pub async fn synced(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.unbounded_send(Request::Synced(reply)).is_ok() {
            let _ = done.await;
        }
    }

    /// Drops `token` once every block appended before is written, or at once if
    /// the journal has closed; returns at once. Whatever `token` does when
    /// dropped (say, let the next finalized block come) waits for the journal
    /// without this caller waiting. It is dropped even if the journal stops
    /// before getting to it.
    pub fn release_when_written(&self, token: impl Send + 'static) {
        // Refused by a closed journal, the request (and `token`) drops here.
        let _ = self
            .requests
            .unbounded_send(Request::Release(Box::new(token)));
    }

    /// The block at `height`, if the journal holds it.
    pub async fn block(&self, height: u64) -> Result<Option<BlockInfo>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .unbounded_send(Request::Block { height, reply })
            .map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Closed)?
    }

    /// Where the transaction `hash` is, with its block, if the journal holds it.
    pub async fn transaction(
        &self,
        hash: Hash,
    ) -> Result<Option<(TxLocation, BlockInfo)>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .unbounded_send(Request::Transaction { hash, reply })
            .map_err(|_| JournalError::Closed)?;
        answer.await.map_err(|_| JournalError::Closed)?
    }

    /// The oldest height the journal holds; `None` once it closed.
    pub fn oldest(&self) -> Option<u64> {
        Some(self.oldest.load(Ordering::Relaxed)).filter(|height| *height != NONE)
    }
}

/// Tells handles the journal holds nothing any more when its task ends,
/// whether it stopped on a failure or was aborted with the node.
struct Closing(Arc<AtomicU64>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.store(NONE, Ordering::Relaxed);
    }
}

/// `info` as stored.
fn encode(info: &BlockInfo) -> Result<Bytes, String> {
    let mut bytes = vec![FORMAT];
    ciborium::into_writer(info, &mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(format!("{} bytes, over {MAX_ENTRY_BYTES}", bytes.len()));
    }
    Ok(Bytes::from(bytes))
}

/// A stored block read back.
fn decode(height: u64, bytes: &[u8]) -> Result<BlockInfo, JournalError> {
    let damaged = |reason: String| JournalError::Damaged { height, reason };
    match bytes.split_first() {
        Some((&FORMAT, rest)) => {
            let info: BlockInfo =
                ciborium::from_reader(rest).map_err(|e| damaged(e.to_string()))?;
            if info.header.height.0 != height {
                return Err(damaged(format!("it holds block {}", info.header.height.0)));
            }
            Ok(info)
        }
        Some((format, _)) => Err(damaged(format!("unknown form {format}"))),
        None => Err(damaged("empty".into())),
    }
}

impl<E: Storage + Clock + Metrics> Stored<E> {
    /// The newest height held.
    fn newest(&self) -> Option<u64> {
        let mut from = self.blocks.first()?;
        loop {
            match self.blocks.next_gap(from) {
                (Some(end), Some(next)) if next > end => from = next,
                (Some(end), _) => return Some(end),
                (None, Some(next)) => from = next,
                (None, None) => return None,
            }
        }
    }

    async fn block(&self, height: u64) -> Result<Option<BlockInfo>, JournalError> {
        let read = self.blocks.get(height).await;
        match read.map_err(|e| JournalError::Storage(e.to_string()))? {
            Some(bytes) => decode(height, &bytes).map(Some),
            None => Ok(None),
        }
    }

    async fn transaction(
        &self,
        hash: Hash,
    ) -> Result<Option<(TxLocation, BlockInfo)>, JournalError> {
        let key = TxKey::new(*hash.as_bytes());
        let found = self
            .transactions
            .get(Identifier::Key(&key))
            .await
            .map_err(|e| JournalError::Storage(e.to_string()))?;
        let Some((height, index)) = found else {
            return Ok(None);
        };
        let Some(info) = self.block(height).await? else {
            return Ok(None);
        };
        let index = index as usize;
        if info
            .transactions
            .get(index)
            .is_none_or(|tx| tx.hash != hash)
        {
            return Err(JournalError::Damaged {
                height,
                reason: format!("transaction {index} is not {hash}"),
            });
        }
        Ok(Some((TxLocation { height, index }, info)))
    }

    /// Indexes `info`'s transactions that are not yet, then writes `info` if
    /// its height is not held: appended again after a crash (the two stores
    /// reach the disk independently), a block ends up whole and findable.
    async fn append(mut self, info: &BlockInfo) -> Result<Self, String> {
        let height = info.header.height.0;
        // Only a block appended again can have some of its transactions indexed
        // already: looking each up is for that case (a look-up walks the height's
        // entries, so doing it for every block would be quadratic in its size).
        let again = self
            .transactions
            .has(Identifier::Index(height))
            .await
            .map_err(|e| e.to_string())?;
        for (index, tx) in info.transactions.iter().enumerate() {
            let key = TxKey::new(*tx.hash.as_bytes());
            if again
                && self
                    .transactions
                    .has_at(height, &key)
                    .await
                    .map_err(|e| e.to_string())?
            {
                continue;
            }
            let index = u32::try_from(index).map_err(|e| e.to_string())?;
            self.transactions = self
                .transactions
                .put_multi(height, key, &(height, index))
                .await
                .map_err(|e| e.to_string())?;
        }
        if !self.blocks.has(height) {
            match encode(info) {
                Ok(bytes) => {
                    self.blocks = self
                        .blocks
                        .put(height, bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                // One block the journal cannot hold is one gap, not the end of it.
                Err(e) => warn!(height, error = %e, "block not written to the journal"),
            }
        }
        Ok(self)
    }

    /// Syncs both stores; `None`, having said why, if they cannot be (the
    /// journal then stops).
    async fn durable(self) -> Option<Self> {
        match self.sync().await {
            Ok(store) => Some(store),
            Err(e) => {
                warn!(error = %e, "the journal cannot sync; it stops");
                None
            }
        }
    }

    async fn sync(mut self) -> Result<Self, String> {
        self.transactions = self.transactions.sync().await.map_err(|e| e.to_string())?;
        self.blocks = self.blocks.sync().await.map_err(|e| e.to_string())?;
        Ok(self)
    }

    async fn prune(mut self, below: u64) -> Result<Self, String> {
        self.transactions = self
            .transactions
            .prune(below)
            .await
            .map_err(|e| e.to_string())?;
        self.blocks = self.blocks.prune(below).await.map_err(|e| e.to_string())?;
        Ok(self)
    }
}

/// The journal's task: answers reads, writes appends and prunes; syncs
/// whenever it has caught up with what it was sent, and at least every
/// [`SYNC_EVERY`] while blocks keep coming (a node re-executing its chain).
/// It stops at the first storage failure; readers then get
/// [`JournalError::Closed`].
async fn serve<E: Storage + Clock + Metrics>(
    context: E,
    mut store: Stored<E>,
    mut inbox: mpsc::UnboundedReceiver<Request>,
    closing: Closing,
    policy: JournalPolicy,
) {
    let oldest = &closing.0;
    let mut unsynced = false;
    let mut last_sync = context.current();
    loop {
        let waited = context
            .current()
            .duration_since(last_sync)
            // A clock set back counts as a long wait.
            .unwrap_or(SYNC_EVERY);
        let request = match inbox.next().now_or_never() {
            Some(Some(request)) if !unsynced || waited < SYNC_EVERY => Some(request),
            ready => {
                // Caught up, closed, or writing for a while: make what was written
                // durable.
                if unsynced {
                    let Some(synced) = store.durable().await else {
                        return;
                    };
                    (store, unsynced, last_sync) = (synced, false, context.current());
                }
                match ready {
                    Some(request) => request,
                    None => inbox.next().await,
                }
            }
        };
        // Every handle is gone (the node is stopping), and nothing is left unsynced.
        let Some(request) = request else {
            return;
        };
        match request {
            Request::Block { height, reply } => {
                let _ = reply.send(store.block(height).await);
            }
            Request::Transaction { hash, reply } => {
                let _ = reply.send(store.transaction(hash).await);
            }
            Request::Release(token) => drop(token),
            Request::Synced(reply) => {
                if unsynced {
                    let Some(synced) = store.durable().await else {
                        return;
                    };
                    (store, unsynced, last_sync) = (synced, false, context.current());
                }
                let _ = reply.send(());
            }
            Request::Append(info) => {
                let height = info.header.height.0;
                store = match store.append(&info).await {
                    Ok(store) => store,
                    Err(e) => {
                        warn!(height, error = %e, "the journal cannot write; it stops");
                        return;
                    }
                };
                unsynced = true;
                let keep = policy.keep.get();
                if height >= keep {
                    store = match store.prune(height + 1 - keep).await {
                        Ok(store) => store,
                        Err(e) => {
                            warn!(error = %e, "the journal cannot prune; it stops");
                            return;
                        }
                    };
                }
                oldest.store(store.blocks.first().unwrap_or(NONE), Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use commonware_runtime::{Clock as _, Runner as _, Supervisor as _, deterministic};

    use super::*;
    use crate::mempool::testing::chain;

    /// The journal under `label` of `context`, kept as by default.
    async fn open(context: &deterministic::Context, label: &'static str) -> Journal {
        Journal::open(context.child(label), "n", JournalPolicy::default())
            .await
            .unwrap()
    }

    /// Reads `blocks` back from `journal`, by height and by transaction.
    async fn holds(
        journal: &Journal,
        blocks: &[(Block, BlockOutcome, Arc<plexus_ledger::Ledger>)],
    ) {
        for (height, (block, outcome, _)) in (1..).zip(blocks) {
            let expected = BlockInfo::from_block(block, outcome);
            assert_eq!(
                journal.block(height).await.unwrap().as_ref(),
                Some(&expected)
            );
            let hash = block.transactions[0].hash();
            let (at, info) = journal.transaction(hash).await.unwrap().unwrap();
            assert_eq!((at.height, at.index), (height, 0));
            assert_eq!(info, expected);
        }
        let next = blocks.len() as u64 + 1;
        assert_eq!(journal.block(next).await.unwrap(), None);
        assert_eq!(journal.block(0).await.unwrap(), None);
        let unknown = Hash::of(b"never sent");
        assert_eq!(journal.transaction(unknown).await.unwrap(), None);
        assert_eq!(journal.oldest(), Some(1));
    }

    #[test]
    fn what_was_written_is_read_back_after_the_node_stops() {
        deterministic::Runner::default().start(|context| async move {
            let (_, blocks) = chain(4);
            let journal = open(&context, "first").await;
            assert_eq!(journal.oldest(), None);
            for (block, outcome, _) in &blocks[..3] {
                journal.append(block, outcome);
            }
            // A height written again (a restarted node re-executing) keeps what it holds.
            let mut other = blocks[0].1.clone();
            other.emission += 1;
            journal.append(&blocks[0].0, &other);
            holds(&journal, &blocks[..3]).await;

            // Dropped straight after writing: its task syncs before it stops.
            journal.append(&blocks[3].0, &blocks[3].1);
            drop(journal);
            context.sleep(Duration::from_millis(10)).await;
            let again = open(&context, "second").await;
            holds(&again, &blocks).await;
        });
    }

    #[test]
    fn a_release_comes_after_what_was_appended_before_and_at_once_when_closed() {
        deterministic::Runner::default().start(|context| async move {
            let (_, blocks) = chain(3);
            let journal = open(&context, "journal").await;
            for (block, outcome, _) in &blocks {
                journal.append(block, outcome);
            }
            // The token is a sender: its receiver hears when it is dropped.
            let (token, released) = oneshot::channel::<()>();
            journal.release_when_written(token);
            assert!(released.await.is_err());
            // Read without going through the journal's queue: the blocks were
            // written before the token was dropped.
            assert_eq!(journal.oldest(), Some(1));

            // A closed journal drops the token at once: nothing waits on it.
            let (requests, inbox) = mpsc::unbounded();
            drop(inbox);
            let closed = Journal {
                requests,
                oldest: Arc::new(AtomicU64::new(NONE)),
            };
            let (token, mut released) = oneshot::channel::<()>();
            closed.release_when_written(token);
            assert!(matches!(released.try_recv(), Err(oneshot::Canceled)));
        });
    }

    /// How a journal is left just before the runtime stops without an orderly end.
    #[derive(Clone, Copy)]
    enum BeforeTheCrash {
        /// Waited for `synced` (what a state about to be saved does), then at once.
        Synced,
        /// Waited for `written`, then idle a moment: caught up, it syncs.
        CaughtUp,
    }

    /// Appends three blocks, crashes as `before` says, reopens: all are there.
    fn survives_a_crash(before: BeforeTheCrash) {
        let (_, blocks) = chain(3);
        let (_, checkpoint) = deterministic::Runner::default().start_and_recover(|context| {
            let blocks = blocks.clone();
            async move {
                let journal = open(&context, "journal").await;
                for (block, outcome, _) in &blocks {
                    journal.append(block, outcome);
                }
                match before {
                    BeforeTheCrash::Synced => journal.synced().await,
                    BeforeTheCrash::CaughtUp => {
                        journal.written().await;
                        context.sleep(Duration::from_millis(10)).await;
                    }
                }
                std::mem::forget(journal);
            }
        });
        deterministic::Runner::from(checkpoint).start(|context| async move {
            let journal = open(&context, "journal").await;
            holds(&journal, &blocks).await;
        });
    }

    #[test]
    fn what_was_synced_outlives_a_crash_straight_after() {
        survives_a_crash(BeforeTheCrash::Synced);
    }

    #[test]
    fn what_was_written_outlives_a_crash_once_the_journal_caught_up() {
        survives_a_crash(BeforeTheCrash::CaughtUp);
    }

    #[test]
    fn only_the_last_heights_kept_stay_a_section_at_a_time() {
        deterministic::Runner::default().start(|context| async move {
            let (_, blocks) = chain(1);
            let (block, outcome, _) = blocks[0].clone();
            let tx_at = |height: u64| Hash::of(&height.to_be_bytes());
            let last = SECTION.get() + 20;
            let write = |journal: Journal| {
                let (mut block, mut outcome) = (block.clone(), outcome.clone());
                async move {
                    for height in 1..=last {
                        block.header.height.0 = height;
                        outcome.receipts[0].tx_hash = tx_at(height);
                        journal.append(&block, &outcome);
                    }
                    // Answered after every append before it.
                    journal.written().await;
                }
            };
            let kept_from = |journal: Journal| async move {
                // The last ten are in the second section: the first is gone whole.
                assert_eq!(journal.oldest(), Some(SECTION.get()));
                assert_eq!(journal.block(SECTION.get() - 1).await.unwrap(), None);
                assert_eq!(journal.block(1).await.unwrap(), None);
                assert_eq!(journal.transaction(tx_at(1)).await.unwrap(), None);
                assert!(journal.block(SECTION.get()).await.unwrap().is_some());
                let (at, _) = journal.transaction(tx_at(last)).await.unwrap().unwrap();
                assert_eq!(at.height, last);
            };
            let ten = JournalPolicy {
                keep: NonZeroU64::new(10).unwrap(),
            };
            let journal = Journal::open(context.child("first"), "n", ten)
                .await
                .unwrap();
            write(journal.clone()).await;
            kept_from(journal).await;

            // Kept in full, then opened to keep ten: pruned on opening.
            let journal = Journal::open(context.child("second"), "all", JournalPolicy::default())
                .await
                .unwrap();
            write(journal.clone()).await;
            assert_eq!(journal.oldest(), Some(1));
            drop(journal);
            context.sleep(Duration::from_millis(10)).await;
            let journal = Journal::open(context.child("third"), "all", ten)
                .await
                .unwrap();
            kept_from(journal).await;
        });
    }

    #[test]
    fn a_stored_block_reads_back_only_whole_and_at_its_height() {
        let (_, blocks) = chain(1);
        let info = BlockInfo::from_block(&blocks[0].0, &blocks[0].1);
        let bytes = encode(&info).unwrap();
        assert_eq!(decode(1, &bytes).unwrap(), info);
        assert!(matches!(
            decode(2, &bytes),
            Err(JournalError::Damaged { height: 2, .. })
        ));
        assert!(decode(1, &bytes[..bytes.len() - 3]).is_err());
        assert!(decode(1, &[]).is_err());
        let mut other_form = bytes.to_vec();
        other_form[0] = FORMAT + 1;
        assert!(decode(1, &other_form).is_err());
    }
}
