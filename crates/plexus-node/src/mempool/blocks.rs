//! The mempool's side of blocks: what goes into the next one, and what a
//! finalized one used up or left unable to run.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, btree_map};
use std::iter::Peekable;

use plexus_ledger::{Ledger, TxError, validators};
use plexus_primitives::{AccountId, Call, SignedTransaction};

use super::{Entry, Mempool};

/// A sender's next transaction, as block building ranks it.
#[derive(Clone, Copy, Debug)]
struct Head {
    fee: u64,
    size: usize,
    /// Transactions of this sender already in the block.
    taken: usize,
    /// The sender's place in key order.
    sender: usize,
}

impl Head {
    /// The head of `run` if it is the nonce wanted next (a gap ends a run).
    fn of(
        run: &mut Peekable<btree_map::Range<'_, u64, Entry>>,
        want: u64,
        sender: usize,
        taken: usize,
    ) -> Option<Self> {
        let &(&nonce, e) = run.peek()?;
        (nonce == want).then_some(Self {
            fee: e.tx.tx.fee.rao(),
            size: e.size,
            taken,
            sender,
        })
    }
}

impl Ord for Head {
    /// Highest fee per byte first (compared exactly, by cross-multiplying), then
    /// the sender with the fewest already taken, then key order.
    fn cmp(&self, other: &Self) -> Ordering {
        let rate = |h: &Self, by: &Self| u128::from(h.fee) * by.size as u128;
        rate(self, other)
            .cmp(&rate(other, self))
            .then(other.taken.cmp(&self.taken))
            .then(other.sender.cmp(&self.sender))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl Mempool {
    /// Up to `max_transactions` (and `max_bytes`) transactions that can go
    /// into the next block in order: for each sender, the run of consecutive
    /// nonces starting at its next nonce in `ledger`. Among senders, the next
    /// transaction paying the most per byte goes first, and at equal rates
    /// senders take turns, so that neither big cheap transactions nor one busy
    /// account can crowd out the rest. Heartbeats at their key's next nonce go
    /// first of all: one missing its epoch costs a running validator its seat,
    /// so a flood of paying senders must not push it out of the epoch's blocks.
    pub fn select(
        &self,
        ledger: &Ledger,
        max_transactions: usize,
        max_bytes: usize,
    ) -> Vec<SignedTransaction> {
        let mut runs: Vec<(Peekable<btree_map::Range<'_, u64, Entry>>, u64)> = Vec::new();
        let mut heads = BinaryHeap::new();
        let (mut out, mut bytes) = (Vec::new(), 0usize);
        for (index, (sender, queue)) in self.senders.iter().enumerate() {
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
            if let Some(head) = Head::of(&mut run, want, index, 0) {
                heads.push(head);
            }
            runs.push((run, want));
        }
        while out.len() < max_transactions
            && let Some(head) = heads.pop()
        {
            let (run, want) = &mut runs[head.sender];
            let Some((_, e)) = run.next() else {
                continue;
            };
            // A full block ends this sender's run; smaller ones may still fit.
            if bytes + e.size > max_bytes {
                continue;
            }
            out.push(e.tx.clone());
            bytes += e.size;
            *want += 1;
            if let Some(next) = Head::of(run, *want, head.sender, head.taken + 1) {
                heads.push(next);
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
            self.regap(&sender, account.nonce);
        }
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
}

#[cfg(test)]
mod tests {
    use plexus_ledger::{LedgerRules, Signatures};
    use plexus_primitives::Encode as _;

    use super::super::testing::*;
    use super::super::*;
    use super::*;

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
    fn blocks_fill_by_fee_per_byte() {
        let ledger = ledger();
        let mut pool = Mempool::new(MempoolLimits::default());
        // Key 1's transactions are big and pay the usual fee, key 2's small at the same
        // fee, key 3's small paying ten times as much.
        for nonce in 0..3 {
            pool.insert(weights(1, nonce, FEE, 200), &ledger).unwrap();
        }
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        pool.insert(tx(2, 1, FEE), &ledger).unwrap();
        pool.insert(tx(3, 0, 10 * FEE), &ledger).unwrap();
        let picked = |pool: &Mempool, max_bytes| -> Vec<(u8, u64)> {
            pool.select(&ledger, usize::MAX, max_bytes)
                .iter()
                .map(|t| {
                    let from = (1..=3).find(|i| key(*i).account_id() == t.tx.signer);
                    (from.unwrap(), t.tx.nonce)
                })
                .collect()
        };
        assert_eq!(
            picked(&pool, usize::MAX),
            [(3, 0), (2, 0), (2, 1), (1, 0), (1, 1), (1, 2)]
        );
        // With room for the small ones alone, the big cheap ones wait for the next block.
        let small = tx(3, 0, 10 * FEE).encode().len();
        assert_eq!(picked(&pool, 3 * small), [(3, 0), (2, 0), (2, 1)]);
        // Paying more per byte, big ones go first.
        pool.insert(weights(1, 0, 100 * FEE, 200), &ledger).unwrap();
        assert_eq!(picked(&pool, usize::MAX)[0], (1, 0));
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
    fn a_transaction_whose_call_fails_in_a_block_leaves_the_mempool() {
        for rules in [LedgerRules::LATEST, LedgerRules::ORIGINAL] {
            let ledger = ledger_under(rules);
            let mut pool = Mempool::new(MempoolLimits::default());
            // Passes admission (fee, nonce) but the call fails: nothing to unstake.
            let unstake = Call::RemoveStake {
                netuid: plexus_primitives::NetUid(1),
                hotkey: key(2).account_id(),
                alpha: 1,
                limit_price: None,
            };
            let failing = signed(1, 0, FEE, unstake);
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
        let drain = transfer(1, 0, FEE, 2, held - FEE - 1);
        let mut next = ledger.clone();
        let out = next.apply_block(1, &[drain], Signatures::Verify).unwrap();
        assert!(out.receipts[0].result.is_ok());
        pool.prune(&next);
        assert!(pool.is_empty());
        let why = pool.refusal(&waiting.hash()).unwrap();
        assert!(why.contains("insufficient balance"), "{why}");
    }
}
