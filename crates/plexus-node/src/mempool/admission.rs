//! Admission: what a transaction must pass to wait here, and what it may
//! evict when the mempool is full.

use std::collections::BTreeMap;

use plexus_ledger::{Ledger, TxError};
use plexus_primitives::{AccountId, Balance, Call, Encode, Hash, SignedTransaction};

use super::{Entry, Mempool, MempoolError};

/// A transaction that has passed the ledger's checks (its signature among them)
/// against a state: what the mempool admits. Checked before the mempool is
/// locked, so that signature checks do not hold up block building.
#[derive(Clone, Debug)]
pub struct Prechecked(SignedTransaction);

impl Prechecked {
    /// Runs the ledger's admission checks on `tx` against `ledger`.
    pub fn new(tx: SignedTransaction, ledger: &Ledger) -> Result<Self, TxError> {
        ledger.precheck(&tx)?;
        Ok(Self(tx))
    }
}

impl Mempool {
    /// Admits a transaction that passes the ledger's checks against the
    /// current state (see [`insert_prechecked`](Self::insert_prechecked)).
    pub fn insert(&mut self, tx: SignedTransaction, ledger: &Ledger) -> Result<Hash, MempoolError> {
        self.insert_prechecked(Prechecked::new(tx, ledger)?, ledger)
    }

    /// Admits a transaction checked against `ledger`, if its sender can pay its
    /// fee on top of those of its transactions already waiting. A transaction
    /// with the nonce of one already waiting replaces it only if it pays at
    /// least a tenth more.
    pub fn insert_prechecked(
        &mut self,
        tx: Prechecked,
        ledger: &Ledger,
    ) -> Result<Hash, MempoolError> {
        let Prechecked(tx) = tx;
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
        // Every waiting transaction of a sender pays its fee from one balance: one
        // fee's worth must not hold a sender's whole share of the mempool.
        let available = ledger.state().account(&signer).balance;
        let needed = queue
            .into_iter()
            .flat_map(|q| q.range(next..))
            .filter(|(n, _)| **n != nonce)
            .fold(tx.tx.fee, |sum, (_, e)| sum.saturating_add(e.tx.tx.fee));
        if needed > available {
            return Err(MempoolError::Invalid(TxError::InsufficientBalance {
                needed,
                available,
            }));
        }
        if let Some(existing) = queue.and_then(|q| q.get(&nonce)) {
            if existing.hash == hash {
                return Err(MempoolError::AlreadyKnown(hash));
            }
            let old = existing.tx.tx.fee;
            let needed = old.saturating_add(Balance::from_rao((old.rao() / 10).max(1)));
            if tx.tx.fee < needed {
                return Err(MempoolError::Underpriced {
                    fee: tx.tx.fee,
                    needed,
                });
            }
            // A replacement must fit the byte bound too: a bigger one would grow the
            // mempool past it one fee bump at a time.
            let bytes = self.bytes - existing.size + size;
            if bytes > self.limits.max_bytes {
                return Err(MempoolError::Full);
            }
            self.bytes = bytes;
            let tail = self.tail_fee(&signer);
            if let Some(queue) = self.senders.get_mut(&signer)
                && let Some(replaced) = queue.insert(nonce, entry)
            {
                self.ids.remove(&replaced.hash);
            }
            self.retail(&signer, tail);
            self.ids.insert(hash);
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
        let tail = self.tail_fee(&signer);
        self.senders.entry(signer).or_default().insert(nonce, entry);
        self.retail(&signer, tail);
        self.regap(&signer, next);
        self.ids.insert(hash);
        self.count += 1;
        self.bytes += size;
        Ok(hash)
    }

    /// Drops the last queued transaction of a sender (not `except`) whose
    /// transactions all wait behind a nonce gap, if there is one. Senders that are
    /// no longer gapped leave the index as they are met, once each.
    fn evict_gapped(&mut self, ledger: &Ledger, except: &AccountId) -> bool {
        let state = ledger.state();
        let mut closed = Vec::new();
        let mut victim = None;
        for sender in self.gapped.iter().filter(|s| *s != except) {
            let queue = self.senders.get(sender);
            let first = queue.and_then(|q| q.keys().next());
            match first {
                Some(first) if *first > state.account(sender).nonce => {
                    victim = queue
                        .and_then(|q| q.keys().next_back())
                        .map(|n| (*sender, *n));
                    break;
                }
                _ => closed.push(*sender),
            }
        }
        for sender in closed {
            self.gapped.remove(&sender);
        }
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
        let victim = self.tails.iter().find(|(_, sender)| sender != except);
        let Some(&(victim_fee, sender)) = victim else {
            return false;
        };
        let last = self.senders.get(&sender).and_then(|q| q.keys().next_back());
        match last {
            Some(&nonce) if victim_fee < fee => {
                self.remove(&sender, nonce);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use plexus_ledger::Signatures;
    use proptest::prelude::*;

    use super::super::testing::*;
    use super::super::*;
    use super::*;

    impl Mempool {
        /// Checks the eviction indexes against the queues they index.
        fn assert_indexes(&self, ledger: &Ledger) {
            let tails: BTreeSet<(Balance, AccountId)> = self
                .senders
                .iter()
                .filter_map(|(s, q)| q.values().next_back().map(|e| (e.tx.tx.fee, *s)))
                .collect();
            assert_eq!(self.tails, tails);
            for (sender, queue) in &self.senders {
                let first = *queue.keys().next().unwrap();
                if first > ledger.state().account(sender).nonce {
                    assert!(self.gapped.contains(sender), "gapped {sender} not indexed");
                }
            }
        }
    }

    /// What a fuzzed run of the mempool does.
    #[derive(Debug, Clone)]
    enum Step {
        /// A transfer from key 1 to 4 at a nonce, paying a number of `FEE`s.
        Submit(u8, u64, u64),
        /// A block of what the mempool offers, finalized.
        Finalize,
        /// A proposer leaves out a key's first waiting transaction.
        Refuse(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u8..=4, 0u64..6, 1u64..6).prop_map(|(k, n, f)| Step::Submit(k, n, f)),
            1 => Just(Step::Finalize),
            1 => (1u8..=4).prop_map(Step::Refuse),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// However transactions come, replace, evict and leave in blocks, the
        /// indexes that eviction reads match the queues, and the bounds hold.
        #[test]
        fn eviction_indexes_follow_the_queues(steps in prop::collection::vec(step(), 1..60)) {
            let mut ledger = ledger();
            let limits = MempoolLimits { max_transactions: 5, ..MempoolLimits::default() };
            let mut pool = Mempool::new(limits);
            for step in steps {
                match step {
                    Step::Submit(from, nonce, fees) => {
                        let _ = pool.insert(tx(from, nonce, fees * FEE), &ledger);
                    }
                    Step::Finalize => {
                        let txs = pool.select(&ledger, 3, usize::MAX);
                        let height = ledger.height() + 1;
                        ledger.apply_block(height, &txs, Signatures::Verify).unwrap();
                        pool.prune_block(&txs, &ledger);
                    }
                    Step::Refuse(from) => {
                        let queue = pool.senders.get(&key(from).account_id());
                        if let Some(first) = queue.and_then(|q| q.values().next()) {
                            let tx = first.tx.clone();
                            pool.refuse(&tx, "left out".into());
                        }
                    }
                }
                pool.assert_indexes(&ledger);
                prop_assert!(pool.len() <= 5);
            }
        }
    }

    #[test]
    fn the_byte_bound_holds_for_replacements_and_newcomers() {
        let ledger = ledger();
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
    fn a_sender_queues_no_more_fees_than_it_holds() {
        let mut ledger = ledger();
        let fund = transfer(1, 0, FEE, 5, 2 * FEE + FEE / 2);
        let out = ledger.apply_block(1, &[fund], Signatures::Verify).unwrap();
        assert!(out.receipts[0].result.is_ok());
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.insert(tx(5, 0, FEE), &ledger).unwrap();
        pool.insert(tx(5, 1, FEE), &ledger).unwrap();
        // A third fee is more than the account holds, though each alone is not.
        assert!(matches!(
            pool.insert(tx(5, 2, FEE), &ledger),
            Err(MempoolError::Invalid(TxError::InsufficientBalance { .. }))
        ));
        // A replacement's fee takes the place of the one it replaces.
        pool.insert(tx(5, 1, FEE + FEE / 2), &ledger).unwrap();
        assert!(matches!(
            pool.insert(tx(5, 1, 2 * FEE), &ledger),
            Err(MempoolError::Invalid(TxError::InsufficientBalance { .. }))
        ));
        assert_eq!(pool.len(), 2);
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
        // At least a tenth more: each replacement is checked and gossiped again.
        assert_eq!(
            pool.insert(tx(1, 0, FEE + FEE / 10 - 1), &ledger),
            Err(MempoolError::Underpriced {
                fee: Balance::from_rao(FEE + FEE / 10 - 1),
                needed: Balance::from_rao(FEE + FEE / 10),
            })
        );
        let richer = tx(1, 0, FEE * 2);
        pool.insert(richer.clone(), &ledger).unwrap();
        assert!(pool.contains(&richer.hash()) && !pool.contains(&first.hash()));
        assert_eq!(pool.len(), 1);
        pool.insert(tx(2, 0, FEE), &ledger).unwrap();
        // Full: a cheaper newcomer is refused, a richer one evicts the cheapest.
        assert_eq!(pool.insert(tx(3, 0, FEE), &ledger), Err(MempoolError::Full));
        pool.insert(tx(3, 0, FEE * 3), &ledger).unwrap();
        assert_eq!(pool.len(), 2);
        assert!(
            !pool.contains(&tx(2, 0, FEE).hash()),
            "the evicted one is gone"
        );
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
