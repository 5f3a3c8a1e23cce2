//! Transactions waiting for a block: checked on admission, ordered per
//! account by nonce, bounded in count and bytes.
//!
//! What a transaction must pass to wait here, and what it may evict when the
//! mempool is full, is in `admission`; what goes into a block and what a
//! finalized block removes, in `blocks`.

mod admission;
mod blocks;

pub use admission::Prechecked;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::mpsc;

use plexus_ledger::{Ledger, TxError};
use plexus_primitives::{AccountId, Balance, Call, Hash, SignedTransaction};
use thiserror::Error;

/// Bounds of the mempool.
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions held.
    pub max_transactions: usize,
    /// Most transactions held per sender.
    pub max_per_sender: usize,
    /// Most encoded bytes held.
    pub max_bytes: usize,
    /// Furthest ahead of the account's nonce a transaction may be.
    pub max_nonce_gap: u64,
    /// Blocks a transaction may wait behind a nonce gap (an earlier nonce of
    /// its sender missing) before it is dropped: until the gap fills it cannot
    /// run, so it would hold its place for free.
    pub max_gap_wait: u64,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        Self {
            max_transactions: 50_000,
            max_per_sender: 256,
            max_bytes: 64 << 20,
            max_nonce_gap: 256,
            max_gap_wait: 1_000,
        }
    }
}

/// Why a transaction was not admitted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum MempoolError {
    /// The ledger's admission checks refused it.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The same transaction is already waiting.
    #[error("transaction {0} is already in the mempool")]
    AlreadyKnown(Hash),
    /// Its nonce is too far ahead of the account's.
    #[error("nonce {nonce} is more than {gap} ahead of the account's next nonce {next}")]
    NonceTooFarAhead {
        /// The transaction's nonce.
        nonce: u64,
        /// The account's next nonce.
        next: u64,
        /// The allowed gap.
        gap: u64,
    },
    /// It replaces a waiting transaction (same sender and nonce) without paying enough
    /// more: each replacement is checked and gossiped again, so it must cost something.
    #[error("replacing a waiting transaction needs a fee of at least {needed}, not {fee}")]
    Underpriced {
        /// The fee offered.
        fee: Balance,
        /// The least fee that replaces.
        needed: Balance,
    },
    /// The sender already has too many transactions waiting.
    #[error("sender has {0} transactions waiting already")]
    SenderFull(usize),
    /// The mempool is full and this transaction pays no more than the cheapest waiting.
    #[error("mempool is full")]
    Full,
}

#[derive(Clone, Debug)]
struct Entry {
    tx: SignedTransaction,
    hash: Hash,
    size: usize,
    /// The height of the state it was admitted on.
    admitted: u64,
}

/// The mempool: per sender, transactions by nonce.
#[derive(Debug, Default)]
pub struct Mempool {
    limits: MempoolLimits,
    senders: BTreeMap<AccountId, BTreeMap<u64, Entry>>,
    /// Where each waiting transaction is, by id: asking about one must not scan.
    ids: BTreeSet<Hash>,
    /// Each sender's last-queued transaction by fee, cheapest first: what a richer
    /// newcomer evicts when the mempool is full, found without a scan.
    tails: BTreeSet<(Balance, AccountId)>,
    /// Every sender whose transactions may all wait behind a nonce gap (a superset,
    /// checked against the ledger when evicting), so that a full mempool finds what
    /// to evict first without a scan.
    gapped: BTreeSet<AccountId>,
    count: usize,
    bytes: usize,
    /// Why recent transactions were left out of a block (see [`Mempool::refuse`]),
    /// at most [`REFUSALS_KEPT`], and in which order they came.
    refusals: BTreeMap<Hash, String>,
    refusal_order: VecDeque<Hash>,
}

/// Refusals kept for [`Mempool::refusal`].
const REFUSALS_KEPT: usize = 4096;

impl Mempool {
    /// An empty mempool with these bounds.
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Transactions waiting.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn remove(&mut self, sender: &AccountId, nonce: u64) {
        let tail = self.tail_fee(sender);
        if let Some(queue) = self.senders.get_mut(sender) {
            let head = queue.keys().next() == Some(&nonce);
            if let Some(e) = queue.remove(&nonce) {
                self.count -= 1;
                self.bytes -= e.size;
                self.ids.remove(&e.hash);
            }
            if queue.is_empty() {
                self.senders.remove(sender);
                self.gapped.remove(sender);
            } else if head {
                // What waited behind the first may now wait behind a gap.
                self.gapped.insert(*sender);
            }
        }
        self.retail(sender, tail);
    }

    /// The fee of `sender`'s last-queued transaction, the one eviction takes.
    fn tail_fee(&self, sender: &AccountId) -> Option<Balance> {
        let queue = self.senders.get(sender)?;
        queue.values().next_back().map(|e| e.tx.tx.fee)
    }

    /// Moves `sender` in [`Self::tails`] after its queue changed (its last fee
    /// was `before`).
    fn retail(&mut self, sender: &AccountId, before: Option<Balance>) {
        if let Some(fee) = before {
            self.tails.remove(&(fee, *sender));
        }
        if let Some(fee) = self.tail_fee(sender) {
            self.tails.insert((fee, *sender));
        }
    }

    /// Records in [`Self::gapped`] whether `sender`'s transactions all wait behind a
    /// gap from `next`, the account's next nonce.
    fn regap(&mut self, sender: &AccountId, next: u64) {
        let first = self.senders.get(sender).and_then(|q| q.keys().next());
        match first {
            Some(first) if *first > next => self.gapped.insert(*sender),
            _ => self.gapped.remove(sender),
        };
    }

    /// Whether a heartbeat from `sender` is waiting.
    pub fn holds_heartbeat(&self, sender: &AccountId) -> bool {
        self.senders.get(sender).is_some_and(|queue| {
            queue
                .values()
                .any(|e| matches!(e.tx.tx.call, Call::Heartbeat { .. }))
        })
    }

    /// The nonce `sender`'s next transaction takes: past its run of waiting
    /// transactions with consecutive nonces from `next`, its next nonce on chain.
    pub fn next_nonce(&self, sender: &AccountId, next: u64) -> u64 {
        let run = self.senders.get(sender).map_or(0, |queue| {
            queue
                .range(next..)
                .zip(next..)
                .take_while(|((n, _), want)| **n == *want)
                .count()
        });
        next.saturating_add(run as u64)
    }

    /// Drops a transaction a proposer left out because the ledger would not charge it
    /// (see [`crate::execution::build`]), and remembers why for
    /// [`refusal`](Self::refusal) (submitting it again admits it again: the state may
    /// have changed).
    pub fn refuse(&mut self, tx: &SignedTransaction, why: String) {
        if self.holds(tx) {
            self.remove(&tx.tx.signer, tx.tx.nonce);
        }
        let hash = tx.hash();
        if self.refusals.insert(hash, why).is_none() {
            self.refusal_order.push_back(hash);
        }
        if self.refusal_order.len() > REFUSALS_KEPT
            && let Some(oldest) = self.refusal_order.pop_front()
        {
            self.refusals.remove(&oldest);
        }
    }

    /// Why a proposer here left the transaction `hash` out, if it did lately.
    pub fn refusal(&self, hash: &Hash) -> Option<&str> {
        self.refusals.get(hash).map(String::as_str)
    }

    /// Whether this very transaction is waiting (found by sender and nonce,
    /// without a scan).
    pub fn holds(&self, tx: &SignedTransaction) -> bool {
        self.holds_id(&tx.tx.signer, tx.tx.nonce, &tx.hash())
    }

    /// [`holds`](Self::holds) for a transaction whose id the caller has computed.
    pub fn holds_id(&self, signer: &AccountId, nonce: u64, hash: &Hash) -> bool {
        self.senders
            .get(signer)
            .and_then(|queue| queue.get(&nonce))
            .is_some_and(|entry| entry.hash == *hash)
    }

    /// Whether a transaction is waiting.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.ids.contains(hash)
    }
}

/// Transactions submitted to this node that may wait for gossip (also before
/// gossip starts); past that they are not sent to peers, and wait for this
/// node's own turn to propose.
const SUBMITTED_BACKLOG: usize = 4096;

/// A mempool shared between the RPC server, block building and gossip.
#[derive(Clone, Debug)]
pub struct SharedMempool {
    mempool: Arc<Mutex<Mempool>>,
    /// Where transactions submitted to this node go to be sent to its peers.
    outbox: Arc<Mutex<mpsc::Sender<SignedTransaction>>>,
    /// The other end, until gossip takes it.
    submitted: Arc<Mutex<Option<mpsc::Receiver<SignedTransaction>>>>,
}

impl Default for SharedMempool {
    fn default() -> Self {
        Self::new(Mempool::default())
    }
}

impl SharedMempool {
    /// Wraps a mempool.
    pub fn new(mempool: Mempool) -> Self {
        let (outbox, submitted) = mpsc::channel(SUBMITTED_BACKLOG);
        Self {
            mempool: Arc::new(Mutex::new(mempool)),
            outbox: Arc::new(Mutex::new(outbox)),
            submitted: Arc::new(Mutex::new(Some(submitted))),
        }
    }

    /// Locks it; a panic elsewhere while holding it does not poison it for good.
    pub fn lock(&self) -> MutexGuard<'_, Mempool> {
        self.mempool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a transaction submitted to this node (through its RPC) and
    /// hands it to gossip, so that whichever validator proposes next can
    /// include it. One already waiting (sent twice, or gossiped here first)
    /// is handed to gossip again, since gossip gives up on a transaction after
    /// some resends and sending it again is how its sender gets it moving, and
    /// is answered [`MempoolError::AlreadyKnown`]: signatures are deterministic,
    /// so two wallets that mean two identical transfers sign the same bytes at
    /// the same nonce, and the second must learn that its transaction is not new.
    pub fn submit(&self, tx: SignedTransaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        let checked = Prechecked::new(tx.clone(), ledger)?;
        let admitted = self.lock().insert_prechecked(checked, ledger);
        if let Ok(_) | Err(MempoolError::AlreadyKnown(_)) = admitted {
            let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
            // Full: gossip is behind (or not running), and the transaction waits here.
            let _ = outbox.try_send(tx);
        }
        admitted
    }

    /// The transactions [`submit`](Self::submit)ted to this node, from its start, for
    /// gossip; `None` once taken.
    pub fn submitted(&self) -> Option<mpsc::Receiver<SignedTransaction>> {
        self.submitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn submissions_go_to_gossip_each_time_and_insertions_do_not() {
        let ledger = ledger();
        let shared = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        // Before gossip asks, a submission waits for it.
        shared.submit(tx(1, 0, FEE), &ledger).unwrap();
        let mut submitted = shared.submitted().unwrap();
        assert!(shared.submitted().is_none(), "taken once");
        shared.submit(tx(1, 1, FEE), &ledger).unwrap();
        shared.lock().insert(tx(2, 0, FEE), &ledger).unwrap();
        // Sent twice: the same transaction, gossiped again, and its sender told it is
        // not new.
        assert_eq!(
            shared.submit(tx(1, 1, FEE), &ledger),
            Err(MempoolError::AlreadyKnown(tx(1, 1, FEE).hash()))
        );
        // So is one gossiped here first.
        assert_eq!(
            shared.submit(tx(2, 0, FEE), &ledger),
            Err(MempoolError::AlreadyKnown(tx(2, 0, FEE).hash()))
        );
        assert_eq!(submitted.try_recv().ok(), Some(tx(1, 0, FEE)));
        assert_eq!(submitted.try_recv().ok(), Some(tx(1, 1, FEE)));
        assert_eq!(submitted.try_recv().ok(), Some(tx(1, 1, FEE)));
        assert_eq!(submitted.try_recv().ok(), Some(tx(2, 0, FEE)));
        assert!(
            submitted.try_recv().is_err(),
            "only the submissions, each time"
        );
        assert_eq!(shared.lock().len(), 3);

        let pool = shared.lock();
        assert!(pool.holds(&tx(1, 1, FEE)) && pool.holds(&tx(2, 0, FEE)));
        // The same sender and nonce paying another fee is another transaction.
        assert!(!pool.holds(&tx(1, 1, FEE + 1)));
        assert!(!pool.holds(&tx(3, 0, FEE)));
    }

    #[test]
    fn a_refused_transaction_leaves_with_its_reason_and_may_come_back() {
        let ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits::default());
        let tx = tx(1, 0, FEE);
        pool.insert(tx.clone(), &ledger).unwrap();
        assert_eq!(pool.refusal(&tx.hash()), None);
        pool.refuse(&tx, "amount must be positive".into());
        assert!(!pool.holds(&tx) && pool.is_empty());
        assert_eq!(pool.refusal(&tx.hash()), Some("amount must be positive"));
        // Submitted again, it waits again (the state may have changed since).
        pool.insert(tx.clone(), &ledger).unwrap();
        assert!(pool.holds(&tx));
        // Only the newest refusals are kept.
        for n in 0..REFUSALS_KEPT as u64 {
            pool.refuse(&self::tx(2, n, FEE), "no".into());
        }
        assert_eq!(pool.refusal(&tx.hash()), None);
        assert_eq!(pool.refusal(&self::tx(2, 1, FEE).hash()), Some("no"));
    }
}
