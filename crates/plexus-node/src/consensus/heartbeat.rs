//! A bonded node's heartbeat: under ledger rules that seat only live
//! validators (`plexus_ledger::LedgerRules::LIVE_SEATS`), a bond counts toward
//! the next set only if its node said it runs during the epoch that chooses
//! the set. Only the running node holds the consensus key, so the heartbeat
//! is a free transaction signed by it, sent once per epoch.

use plexus_ledger::Ledger;
use plexus_primitives::{Balance, Call, Keypair, SignedTransaction, Transaction};

/// The heartbeat `key`'s node owes on the chain after `ledger`, if any: its
/// key is bonded, the chain's rules take heartbeats, and the bond has none for
/// the next block's epoch.
pub fn due(ledger: &Ledger, key: &Keypair) -> Option<SignedTransaction> {
    due_at(ledger, key, ledger.state().account(&key.account_id()).nonce)
}

/// [`due`], signed at `nonce`: past the key's own transactions still waiting
/// in the mempool (`Mempool::next_nonce`), so that they do not hold it back.
pub fn due_at(ledger: &Ledger, key: &Keypair, nonce: u64) -> Option<SignedTransaction> {
    let state = ledger.state();
    if !state.economics.ledger_rules.seats_need_heartbeats() {
        return None;
    }
    let me = key.account_id();
    let epoch = state.validator_epoch();
    let bond = state.bonds.get(&me)?;
    if bond.heartbeat == Some(epoch) {
        return None;
    }
    let tx = Transaction {
        chain_id: state.chain_id.clone(),
        signer: me,
        nonce,
        fee: Balance::ZERO,
        call: Call::Heartbeat { epoch },
    };
    Some(tx.sign(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisBond, GenesisValidator};
    use plexus_ledger::{LedgerRules, Signatures};
    use plexus_primitives::ChainId;

    fn key(i: u8) -> Keypair {
        Keypair::from_seed([i; 32])
    }

    fn ledger(ledger_rules: LedgerRules) -> Ledger {
        let economics = Economics {
            validator_epoch_length: 8,
            ledger_rules,
            ..Economics::default()
        };
        Ledger::from_genesis(&Genesis {
            chain_id: ChainId::new("heartbeat-test").unwrap(),
            balances: vec![GenesisBalance {
                account: key(1).account_id(),
                balance: Balance::UNIT,
            }],
            validators: vec![GenesisValidator {
                consensus_key: key(9).account_id(),
                address: None,
            }],
            bonds: vec![GenesisBond {
                consensus_key: key(9).account_id(),
                owner: key(1).account_id(),
                address: "127.0.0.1:3000".into(),
                amount: economics.min_validator_bond,
            }],
            economics,
        })
        .unwrap()
    }

    #[test]
    fn a_bonded_node_beats_once_per_epoch() {
        let mut ledger = ledger(LedgerRules::LATEST);
        assert!(due(&ledger, &key(2)).is_none(), "not bonded");
        let beat = due(&ledger, &key(9)).unwrap();
        assert_eq!(beat.tx.call, Call::Heartbeat { epoch: 0 });
        ledger.precheck(&beat).unwrap();
        let out = ledger
            .apply_block(1, std::slice::from_ref(&beat), Signatures::Verify)
            .unwrap();
        assert_eq!(out.receipts[0].result, Ok(()));
        assert!(due(&ledger, &key(9)).is_none(), "epoch 0 has its heartbeat");
        for height in 2..=7 {
            ledger.apply_block(height, &[], Signatures::Verify).unwrap();
        }
        // The next block is epoch 1's first: another heartbeat is owed.
        let next = due(&ledger, &key(9)).unwrap();
        assert_eq!(next.tx.call, Call::Heartbeat { epoch: 1 });
        assert_eq!(next.tx.nonce, 1);
    }

    #[test]
    fn a_heartbeat_no_block_took_in_its_epoch_makes_way_for_the_next() {
        use crate::mempool::{Mempool, MempoolLimits};
        let mut ledger = ledger(LedgerRules::LATEST);
        let mut pool = Mempool::new(MempoolLimits::default());
        let stale = due(&ledger, &key(9)).unwrap();
        pool.insert(stale.clone(), &ledger).unwrap();
        for height in 1..=7 {
            ledger.apply_block(height, &[], Signatures::Verify).unwrap();
            pool.prune(&ledger);
        }
        // Epoch 1 is next: epoch 0's heartbeat can never be included now.
        assert!(!pool.holds_heartbeat(&key(9).account_id()));
        let why = pool.refusal(&stale.hash()).unwrap();
        assert!(why.contains("epoch 0 in a block of epoch 1"), "{why}");
        let next = due(&ledger, &key(9)).unwrap();
        assert_eq!(next.tx.nonce, stale.tx.nonce, "the same nonce, unused");
        pool.insert(next, &ledger).unwrap();
    }

    #[test]
    fn a_heartbeat_goes_after_the_keys_own_waiting_transactions() {
        use crate::mempool::{Mempool, MempoolLimits};
        // The consensus key holds tokens and has a transfer waiting: its heartbeat
        // takes the nonce after it instead of waiting for it to land.
        let mut genesis = ledger(LedgerRules::LATEST).state().clone();
        genesis
            .accounts
            .entry(key(9).account_id())
            .or_default()
            .balance = Balance::UNIT;
        genesis
            .accounts
            .entry(key(1).account_id())
            .or_default()
            .balance = Balance::ZERO;
        let ledger = Ledger::from_state(genesis);
        let me = key(9).account_id();
        let transfer = Transaction {
            chain_id: ledger.state().chain_id.clone(),
            signer: me,
            nonce: 0,
            fee: ledger.state().economics.min_fee,
            call: Call::Transfer {
                to: key(1).account_id(),
                amount: Balance::from_rao(1),
            },
        }
        .sign(&key(9));
        let mut pool = Mempool::new(MempoolLimits::default());
        pool.insert(transfer, &ledger).unwrap();
        assert!(!pool.holds_heartbeat(&me));
        let nonce = pool.next_nonce(&me, 0);
        assert_eq!(nonce, 1);
        let beat = due_at(&ledger, &key(9), nonce).unwrap();
        pool.insert(beat, &ledger).unwrap();
        assert!(pool.holds_heartbeat(&me));
        let block = pool.select(&ledger, usize::MAX, usize::MAX);
        let mut next = ledger.clone();
        let out = next.apply_block(1, &block, Signatures::Verify).unwrap();
        assert_eq!(out.receipts.len(), 2);
        assert!(
            out.receipts.iter().all(|r| r.result.is_ok()),
            "{:?}",
            out.receipts
        );
        assert_eq!(next.state().bonds[&me].heartbeat, Some(0));
    }

    #[test]
    fn no_heartbeat_where_the_rules_take_none() {
        assert!(due(&ledger(LedgerRules::FAILED_CALLS_PAY), &key(9)).is_none());
    }
}
