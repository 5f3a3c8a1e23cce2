//! Transactions waiting for a block: checked on admission, ordered per
//! account by nonce, bounded in count and bytes.

use std::collections::{BTreeMap, VecDeque, btree_map};
use std::iter::Peekable;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::mpsc;

use plexus_ledger::{Ledger, TxError, validators};
use plexus_primitives::{AccountId, Balance, Call, Encode, Hash, SignedTransaction};
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

    /// Admits a transaction that passes the ledger's checks against the
    /// current state. A transaction with the nonce of one already waiting
    /// replaces it only if it pays a higher fee.
    pub fn insert(&mut self, tx: SignedTransaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        ledger.precheck(&tx)?;
        let hash = tx.hash();
        let signer = tx.tx.signer;
        let nonce = tx.tx.nonce;
        let next = ledger.state().account(&signer).nonce;
        if nonce > next + self.limits.max_nonce_gap {
            return Err(MempoolError::NonceTooFarAhead {
                nonce,
                next,
                gap: self.limits.max_nonce_gap,
            });
        }
        let size = tx.encode().len();
        let entry = Entry {
            tx,
            hash,
            size,
            admitted: ledger.height(),
        };
        let tx = &entry.tx;
        let queue = self.senders.get(&signer);
        if let Some(existing) = queue.and_then(|q| q.get(&nonce)) {
            if existing.hash == hash {
                return Err(MempoolError::AlreadyKnown(hash));
            }
            if tx.tx.fee <= existing.tx.tx.fee {
                return Err(MempoolError::Invalid(TxError::BadNonce {
                    expected: nonce + 1,
                    got: nonce,
                }));
            }
            // A replacement must fit the byte bound too: a bigger one would grow the
            // mempool past it one fee bump at a time.
            let bytes = self.bytes - existing.size + size;
            if bytes > self.limits.max_bytes {
                return Err(MempoolError::Full);
            }
            self.bytes = bytes;
            if let Some(queue) = self.senders.get_mut(&signer) {
                queue.insert(nonce, entry);
            }
            return Ok(hash);
        }
        let queued = queue.map_or(0, BTreeMap::len);
        if queued >= self.limits.max_per_sender {
            return Err(MempoolError::SenderFull(queued));
        }
        // A heartbeat (admitted only for a bonded key, one per epoch) at its key's
        // next nonce, with nothing else from the key waiting, is taken even when
        // full: it pays no fee, so it could evict nothing, and a mempool filled
        // with junk must not cost running validators their seats. At most one
        // per bond.
        let heartbeat =
            matches!(tx.tx.call, Call::Heartbeat { .. }) && nonce == next && queued == 0;
        // When full, only a transaction that can run once its sender's earlier
        // ones have makes room: one behind a nonce gap never pays its fee, so its
        // fee must not buy it a place. It first evicts what waits behind a gap,
        // whatever its fee, then cheaper transactions, until it fits by count
        // and by bytes.
        let ready = queue.map_or(0, |q| q.range(next..nonce).count()) as u64 == nonce - next;
        while !heartbeat
            && (self.count >= self.limits.max_transactions
                || self.bytes + size > self.limits.max_bytes)
        {
            if !(ready
                && (self.evict_gapped(ledger, &signer)
                    || self.evict_cheaper_than(tx.tx.fee, &signer)))
            {
                return Err(MempoolError::Full);
            }
        }
        self.senders.entry(signer).or_default().insert(nonce, entry);
        self.count += 1;
        self.bytes += size;
        Ok(hash)
    }

    /// Drops the last queued transaction of a sender (not `except`) whose
    /// transactions all wait behind a nonce gap, if there is one.
    fn evict_gapped(&mut self, ledger: &Ledger, except: &AccountId) -> bool {
        let state = ledger.state();
        let victim = self
            .senders
            .iter()
            .filter(|(sender, _)| *sender != except)
            .find_map(|(sender, q)| {
                let first = *q.keys().next()?;
                let last = *q.keys().next_back()?;
                (first > state.account(sender).nonce).then_some((*sender, last))
            });
        match victim {
            Some((sender, nonce)) => {
                self.remove(&sender, nonce);
                true
            }
            None => false,
        }
    }

    /// Drops the last queued transaction of the sender whose last one pays
    /// the lowest fee, if that fee is below `fee` (and it is not `except`'s).
    fn evict_cheaper_than(&mut self, fee: Balance, except: &AccountId) -> bool {
        let victim = self
            .senders
            .iter()
            .filter(|(sender, q)| *sender != except && !q.is_empty())
            .filter_map(|(sender, q)| {
                q.iter()
                    .next_back()
                    .map(|(n, e)| (e.tx.tx.fee, *sender, *n))
            })
            .min();
        match victim {
            Some((victim_fee, sender, nonce)) if victim_fee < fee => {
                self.remove(&sender, nonce);
                true
            }
            _ => false,
        }
    }

    fn remove(&mut self, sender: &AccountId, nonce: u64) {
        if let Some(queue) = self.senders.get_mut(sender) {
            if let Some(e) = queue.remove(&nonce) {
                self.count -= 1;
                self.bytes -= e.size;
            }
            if queue.is_empty() {
                self.senders.remove(sender);
            }
        }
    }

    /// Up to `max_transactions` (and `max_bytes`) transactions that can go
    /// into the next block in order: for each sender, the run of consecutive
    /// nonces starting at its next nonce in `ledger`; senders take turns so
    /// that one busy account cannot crowd out the rest. Heartbeats at their
    /// key's next nonce go first: one missing its epoch costs a running
    /// validator its seat, so a flood of paying senders (taking turns in key
    /// order) must not push it out of the epoch's blocks.
    pub fn select(
        &self,
        ledger: &Ledger,
        max_transactions: usize,
        max_bytes: usize,
    ) -> Vec<SignedTransaction> {
        let mut runs: Vec<Peekable<btree_map::Range<'_, u64, Entry>>> = Vec::new();
        let mut expected: Vec<u64> = Vec::new();
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for (sender, queue) in &self.senders {
            let next = ledger.state().account(sender).nonce;
            let mut run = queue.range(next..).peekable();
            let mut want = next;
            if let Some(&(&nonce, e)) = run.peek()
                && nonce == want
                && matches!(e.tx.tx.call, Call::Heartbeat { .. })
                && out.len() < max_transactions
                && bytes + e.size <= max_bytes
            {
                out.push(e.tx.clone());
                bytes += e.size;
                want += 1;
                run.next();
            }
            runs.push(run);
            expected.push(want);
        }
        let mut progressed = true;
        while progressed && out.len() < max_transactions {
            progressed = false;
            for (run, want) in runs.iter_mut().zip(expected.iter_mut()) {
                if out.len() >= max_transactions {
                    break;
                }
                match run.next() {
                    Some((nonce, e)) if *nonce == *want && bytes + e.size <= max_bytes => {
                        out.push(e.tx.clone());
                        bytes += e.size;
                        *want += 1;
                        progressed = true;
                    }
                    // A gap or a full block ends this sender's run.
                    _ => *want = u64::MAX,
                }
            }
        }
        out
    }

    /// Forgets transactions the ledger has used up (nonce below the
    /// account's next), and refuses those that can no longer pay their fee or
    /// are heartbeats no block can take any more (another epoch's, or one the
    /// bond already has): a node that never proposes would otherwise keep
    /// them, and gossip them, until their nonce is used.
    pub fn prune(&mut self, ledger: &Ledger) {
        let state = ledger.state();
        let next = state.height.saturating_add(1);
        let senders: Vec<AccountId> = self.senders.keys().copied().collect();
        for sender in senders {
            let account = state.account(&sender);
            let queue = &self.senders[&sender];
            let stale: Vec<u64> = queue.range(..account.nonce).map(|(n, _)| *n).collect();
            // Past the run of consecutive nonces from the account's next, a
            // transaction waits behind a gap; long enough, and it goes.
            let run = queue
                .range(account.nonce..)
                .zip(account.nonce..)
                .take_while(|((n, _), want)| **n == *want)
                .count();
            let wait = self.limits.max_gap_wait;
            let expired: Vec<SignedTransaction> = queue
                .range(account.nonce..)
                .skip(run)
                .filter(|(_, e)| e.admitted.saturating_add(wait) < state.height)
                .map(|(_, e)| e.tx.clone())
                .collect();
            let doomed: Vec<(SignedTransaction, TxError)> = queue
                .range(account.nonce..)
                .filter_map(|(_, e)| {
                    let tx = &e.tx.tx;
                    let heartbeat = match tx.call {
                        Call::Heartbeat { epoch } => {
                            validators::check_heartbeat(state, &sender, epoch, next).err()
                        }
                        _ => None,
                    };
                    let why = heartbeat.or_else(|| {
                        (tx.fee > account.balance).then_some(TxError::InsufficientBalance {
                            needed: tx.fee,
                            available: account.balance,
                        })
                    });
                    why.map(|why| (e.tx.clone(), why))
                })
                .collect();
            for nonce in stale {
                self.remove(&sender, nonce);
            }
            for (tx, why) in doomed {
                self.refuse(&tx, why.to_string());
            }
            for tx in expired {
                let why = format!(
                    "waited over {wait} blocks behind a nonce gap (nonce {} is missing)",
                    account.nonce.saturating_add(run as u64)
                );
                self.refuse(&tx, why);
            }
        }
    }

    /// Whether any transaction from `sender` is waiting.
    pub fn waits_from(&self, sender: &AccountId) -> bool {
        self.senders.contains_key(sender)
    }

    /// Forgets what a finalized block carried (applied or refused: a refused
    /// transaction has had its turn, and on chains under the original ledger
    /// rules its nonce stays unused), then what the ledger has used up.
    pub fn prune_block(&mut self, transactions: &[SignedTransaction], ledger: &Ledger) {
        for tx in transactions {
            if self.holds(tx) {
                self.remove(&tx.tx.signer, tx.tx.nonce);
            }
        }
        self.prune(ledger);
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
        self.senders
            .values()
            .any(|q| q.values().any(|e| e.hash == *hash))
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
    /// is taken as submitted.
    pub fn submit(&self, tx: SignedTransaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        let hash = match self.lock().insert(tx.clone(), ledger) {
            Ok(hash) => hash,
            Err(MempoolError::AlreadyKnown(hash)) => return Ok(hash),
            Err(e) => return Err(e),
        };
        let mut outbox = self.outbox.lock().unwrap_or_else(PoisonError::into_inner);
        // Full: gossip is behind (or not running), and the transaction waits here.
        let _ = outbox.try_send(tx);
        Ok(hash)
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
    use plexus_ledger::{
        Economics, Genesis, GenesisBalance, GenesisValidator, LedgerRules, Signatures,
    };
    use plexus_primitives::{Call, ChainId, Keypair, Transaction};

    use super::*;

    fn key(i: u8) -> Keypair {
        Keypair::from_seed([i; 32])
    }

    fn ledger() -> Ledger {
        ledger_under(LedgerRules::LATEST)
    }

    fn ledger_under(ledger_rules: LedgerRules) -> Ledger {
        Ledger::from_genesis(&genesis_under(ledger_rules)).unwrap()
    }

    fn genesis_under(ledger_rules: LedgerRules) -> Genesis {
        Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("mempool-test").unwrap(),
            balances: (1..=4)
                .map(|i| GenesisBalance {
                    account: key(i).account_id(),
                    balance: Balance::from_rao(1 << 40),
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: key(9).account_id(),
                address: None,
            }],
            economics: Economics {
                ledger_rules,
                ..Economics::default()
            },
        }
    }

    fn tx(from: u8, nonce: u64, fee: u64) -> SignedTransaction {
        Transaction {
            chain_id: ChainId::new("mempool-test").unwrap(),
            signer: key(from).account_id(),
            nonce,
            fee: Balance::from_rao(fee),
            call: Call::Transfer {
                to: key(4).account_id(),
                amount: Balance::from_rao(1),
            },
        }
        .sign(&key(from))
    }

    const FEE: u64 = 100_000;

    #[test]
    fn selection_follows_nonces_and_takes_turns() {
        let ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits::default());
        for n in [2, 0, 1] {
            pool.insert(tx(1, n, FEE), &ledger).unwrap();
        }
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        pool.insert(tx(3, 1, FEE), &ledger).unwrap(); // a gap: nonce 0 is missing
        let picked: Vec<(AccountId, u64)> = pool
            .select(&ledger, 10, 1 << 20)
            .iter()
            .map(|t| (t.tx.signer, t.tx.nonce))
            .collect();
        let (a, b) = (key(1).account_id(), key(2).account_id());
        // Senders take turns in account order; then the busy one continues.
        let first_round = if a < b {
            [(a, 0), (b, 0)]
        } else {
            [(b, 0), (a, 0)]
        };
        assert_eq!(picked[..2], first_round);
        assert_eq!(picked[2..], [(a, 1), (a, 2)]);
        assert_eq!(
            pool.select(&ledger, 2, 1 << 20).len(),
            2,
            "bounded by count"
        );
        // Every selected transaction applies in order.
        let mut next = ledger.clone();
        let txs = pool.select(&ledger, 10, 1 << 20);
        let out = next.apply_block(1, &txs, Signatures::Trusted).unwrap();
        assert!(out.receipts.iter().all(|r| r.result.is_ok()));
        pool.prune(&next);
        assert_eq!(pool.len(), 1, "only the gapped transaction is left");
    }

    #[test]
    fn submissions_go_to_gossip_and_insertions_do_not() {
        let ledger = ledger();
        let shared = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        // Before gossip asks, a submission waits for it.
        shared.submit(tx(1, 0, FEE), &ledger).unwrap();
        let mut submitted = shared.submitted().unwrap();
        assert!(shared.submitted().is_none(), "taken once");
        shared.submit(tx(1, 1, FEE), &ledger).unwrap();
        shared.lock().insert(tx(2, 0, FEE), &ledger).unwrap();
        // Sent twice: the same transaction, taken as submitted, and gossiped once.
        assert_eq!(
            shared.submit(tx(1, 1, FEE), &ledger),
            Ok(tx(1, 1, FEE).hash())
        );
        assert_eq!(submitted.try_recv().ok(), Some(tx(1, 0, FEE)));
        assert_eq!(submitted.try_recv().ok(), Some(tx(1, 1, FEE)));
        assert!(
            submitted.try_recv().is_err(),
            "only the submissions, once each"
        );
        assert_eq!(shared.lock().len(), 3);

        let pool = shared.lock();
        assert!(pool.holds(&tx(1, 1, FEE)) && pool.holds(&tx(2, 0, FEE)));
        // The same sender and nonce paying another fee is another transaction.
        assert!(!pool.holds(&tx(1, 1, FEE + 1)));
        assert!(!pool.holds(&tx(3, 0, FEE)));
    }

    #[test]
    fn the_byte_bound_holds_for_replacements_and_newcomers() {
        let ledger = ledger();
        let weights = |from: u8, nonce: u64, fee: u64, n: u16| {
            Transaction {
                chain_id: ChainId::new("mempool-test").unwrap(),
                signer: key(from).account_id(),
                nonce,
                fee: Balance::from_rao(fee),
                call: Call::SetWeights {
                    netuid: plexus_primitives::NetUid(1),
                    uids: (0..n).collect(),
                    weights: vec![1; usize::from(n)],
                    version_key: 0,
                },
            }
            .sign(&key(from))
        };
        let small = tx(1, 0, FEE).encode().len();
        let limits = MempoolLimits {
            max_bytes: 2 * small + 16,
            ..MempoolLimits::default()
        };
        let mut pool = Mempool::new(limits);
        pool.insert(tx(1, 0, FEE), &ledger).unwrap();
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        // A bigger replacement paying more must still fit.
        assert_eq!(
            pool.insert(weights(1, 0, 2 * FEE, 64), &ledger),
            Err(MempoolError::Full)
        );
        // A big newcomer paying more pushes out as many cheaper ones as it needs.
        let big = weights(3, 0, 2 * FEE, 16);
        assert!(big.encode().len() > small && big.encode().len() <= 2 * small);
        pool.insert(big.clone(), &ledger).unwrap();
        assert!(pool.holds(&big));
        assert!(pool.bytes <= limits.max_bytes, "{} bytes", pool.bytes);
        assert!(!pool.holds(&tx(1, 0, FEE)) || !pool.holds(&tx(2, 0, FEE)));
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

    #[test]
    fn a_transaction_whose_call_fails_in_a_block_leaves_the_mempool() {
        for rules in [LedgerRules::LATEST, LedgerRules::ORIGINAL] {
            let ledger = ledger_under(rules);
            let mut pool = Mempool::new(MempoolLimits::default());
            // Passes admission (fee, nonce) but the call fails: nothing to unstake.
            let failing = Transaction {
                chain_id: ChainId::new("mempool-test").unwrap(),
                signer: key(1).account_id(),
                nonce: 0,
                fee: Balance::from_rao(FEE),
                call: Call::RemoveStake {
                    netuid: plexus_primitives::NetUid(1),
                    hotkey: key(2).account_id(),
                    alpha: 1,
                    limit_price: None,
                },
            }
            .sign(&key(1));
            pool.insert(failing.clone(), &ledger).unwrap();
            let mut next = ledger.clone();
            let txs = pool.select(&ledger, 10, 1 << 20);
            let out = next.apply_block(1, &txs, Signatures::Trusted).unwrap();
            assert!(out.receipts[0].result.is_err());
            pool.prune(&next);
            if rules.failed_calls_pay() {
                assert!(pool.is_empty(), "it used its nonce");
                assert!(pool.insert(failing, &next).is_err(), "and cannot come back");
            } else {
                assert_eq!(
                    pool.len(),
                    1,
                    "its nonce is unused, so nonce pruning alone keeps it"
                );
                pool.prune_block(&txs, &next);
                assert!(pool.is_empty());
                // The same transaction may be submitted again later.
                pool.insert(failing, &next).unwrap();
            }
        }
    }

    #[test]
    fn what_can_no_longer_pay_its_fee_is_refused() {
        let ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits::default());
        let waiting = tx(1, 1, FEE);
        pool.insert(waiting.clone(), &ledger).unwrap();
        // Nonce 0 sends away all but less than a fee, elsewhere.
        let held = ledger.state().account(&key(1).account_id()).balance.rao();
        let drain = Transaction {
            chain_id: ChainId::new("mempool-test").unwrap(),
            signer: key(1).account_id(),
            nonce: 0,
            fee: Balance::from_rao(FEE),
            call: Call::Transfer {
                to: key(2).account_id(),
                amount: Balance::from_rao(held - FEE - 1),
            },
        }
        .sign(&key(1));
        let mut next = ledger.clone();
        let out = next.apply_block(1, &[drain], Signatures::Verify).unwrap();
        assert!(out.receipts[0].result.is_ok());
        pool.prune(&next);
        assert!(pool.is_empty());
        let why = pool.refusal(&waiting.hash()).unwrap();
        assert!(why.contains("insufficient balance"), "{why}");
    }

    /// The newest rules, with key 9 (the genesis validator) bonded, so its
    /// node owes heartbeats.
    fn bonded_ledger() -> Ledger {
        let economics = Economics::default();
        Ledger::from_genesis(&Genesis {
            bonds: vec![plexus_ledger::GenesisBond {
                consensus_key: key(9).account_id(),
                owner: key(1).account_id(),
                address: "127.0.0.1:3000".into(),
                amount: economics.min_validator_bond,
            }],
            ..genesis_under(LedgerRules::LATEST)
        })
        .unwrap()
    }

    #[test]
    fn a_heartbeat_is_taken_even_when_the_mempool_is_full() {
        let ledger = bonded_ledger();
        let mut pool = Mempool::new(MempoolLimits {
            max_transactions: 1,
            ..MempoolLimits::default()
        });
        pool.insert(tx(1, 0, FEE), &ledger).unwrap();
        assert_eq!(pool.insert(tx(2, 0, FEE), &ledger), Err(MempoolError::Full));
        let beat = crate::consensus::heartbeat::due(&ledger, &key(9)).unwrap();
        pool.insert(beat, &ledger).unwrap();
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn heartbeats_go_first_into_a_block() {
        let ledger = bonded_ledger();
        let mut pool = Mempool::new(MempoolLimits::default());
        for from in 1..=4 {
            for nonce in 0..3 {
                pool.insert(tx(from, nonce, FEE), &ledger).unwrap();
            }
        }
        let beat = crate::consensus::heartbeat::due(&ledger, &key(9)).unwrap();
        pool.insert(beat.clone(), &ledger).unwrap();
        // Room for one: the heartbeat, whichever sender's key sorts first.
        assert_eq!(pool.select(&ledger, 1, usize::MAX), vec![beat.clone()]);
        let all = pool.select(&ledger, usize::MAX, usize::MAX);
        assert_eq!(all.len(), 13);
        assert_eq!(all[0], beat);
        // The others still take turns, each in nonce order.
        let nonces: Vec<u64> = all[1..].iter().map(|t| t.tx.nonce).collect();
        assert_eq!(nonces, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn what_waits_behind_a_nonce_gap_makes_way_then_expires() {
        let mut ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits {
            max_transactions: 2,
            max_gap_wait: 2,
            ..MempoolLimits::default()
        });
        // Nonce 5 of an account at nonce 0: it cannot run, whatever it offers.
        let gapped = tx(1, 5, 100 * FEE);
        pool.insert(gapped.clone(), &ledger).unwrap();
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        // Full: another one behind a gap does not get in, even paying more...
        assert_eq!(
            pool.insert(tx(3, 2, 1_000 * FEE), &ledger),
            Err(MempoolError::Full)
        );
        // ...while one that can run evicts the gapped one, though it pays less.
        pool.insert(tx(3, 0, FEE), &ledger).unwrap();
        assert!(!pool.holds(&gapped) && pool.len() == 2);

        // Behind a gap too long, a transaction goes (its sender is told why).
        let mut pool = Mempool::new(MempoolLimits {
            max_gap_wait: 2,
            ..MempoolLimits::default()
        });
        let waiting = tx(4, 1, FEE);
        pool.insert(waiting.clone(), &ledger).unwrap();
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        for height in 1..=3 {
            ledger
                .apply_block(height, &[], Signatures::Trusted)
                .unwrap();
            pool.prune(&ledger);
            assert_eq!(pool.holds(&waiting), height < 3, "height {height}");
        }
        let why = pool.refusal(&waiting.hash()).unwrap();
        assert!(why.contains("nonce gap (nonce 0 is missing)"), "{why}");
        assert!(
            pool.holds(&tx(2, 0, FEE)),
            "a transaction that can run stays"
        );
    }

    #[test]
    fn duplicates_replacements_and_bounds() {
        let ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits {
            max_transactions: 2,
            max_per_sender: 2,
            ..MempoolLimits::default()
        });
        let first = tx(1, 0, FEE);
        pool.insert(first.clone(), &ledger).unwrap();
        assert_eq!(
            pool.insert(first.clone(), &ledger),
            Err(MempoolError::AlreadyKnown(first.hash()))
        );
        // Same nonce: only a higher fee replaces.
        assert!(pool.insert(tx(1, 0, FEE), &ledger).is_err() || pool.len() == 1);
        let richer = tx(1, 0, FEE * 2);
        pool.insert(richer.clone(), &ledger).unwrap();
        assert!(pool.contains(&richer.hash()) && !pool.contains(&first.hash()));
        assert_eq!(pool.len(), 1);
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        // Full: a cheaper newcomer is refused, a richer one evicts the cheapest.
        assert_eq!(pool.insert(tx(3, 0, FEE), &ledger), Err(MempoolError::Full));
        pool.insert(tx(3, 0, FEE * 3), &ledger).unwrap();
        assert_eq!(pool.len(), 2);
        let far = tx(4, 1_000, FEE);
        assert!(matches!(
            pool.insert(far, &ledger),
            Err(MempoolError::NonceTooFarAhead { .. })
        ));
        let cheap = tx(4, 0, 1);
        assert!(matches!(
            pool.insert(cheap, &ledger),
            Err(MempoolError::Invalid(TxError::FeeTooLow { .. }))
        ));
    }
}
