//! What the node's unit tests share: keys, a funded genesis, transfers, a
//! short chain.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use plexus_ledger::{
    BlockOutcome, Economics, Genesis, GenesisBalance, GenesisValidator, Ledger, LedgerRules,
};
use plexus_primitives::{
    Balance, Block, BlockHeader, Call, ChainId, Keypair, SignedTransaction, Transaction,
};

use crate::consensus::genesis_block;
use crate::execution;

pub(crate) fn key(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

pub(crate) fn ledger() -> Ledger {
    ledger_under(LedgerRules::LATEST)
}

pub(crate) fn ledger_under(ledger_rules: LedgerRules) -> Ledger {
    Ledger::from_genesis(&genesis_under(ledger_rules)).unwrap()
}

pub(crate) fn genesis_under(ledger_rules: LedgerRules) -> Genesis {
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

/// `call` from key `from`, signed, on the test chain.
pub(crate) fn signed(from: u8, nonce: u64, fee: u64, call: Call) -> SignedTransaction {
    Transaction {
        chain_id: ChainId::new("mempool-test").unwrap(),
        signer: key(from).account_id(),
        nonce,
        fee: Balance::from_rao(fee),
        call,
    }
    .sign(&key(from))
}

/// A transfer of `amount` rao from key `from` to key `to`.
pub(crate) fn transfer(from: u8, nonce: u64, fee: u64, to: u8, amount: u64) -> SignedTransaction {
    let call = Call::Transfer {
        to: key(to).account_id(),
        amount: Balance::from_rao(amount),
    };
    signed(from, nonce, fee, call)
}

/// A transfer of one rao to key 4.
pub(crate) fn tx(from: u8, nonce: u64, fee: u64) -> SignedTransaction {
    transfer(from, nonce, fee, 4, 1)
}

/// A set-weights transaction of `n` weights: bigger than a transfer.
pub(crate) fn weights(from: u8, nonce: u64, fee: u64, n: u16) -> SignedTransaction {
    let call = Call::SetWeights {
        netuid: plexus_primitives::NetUid(1),
        uids: (0..n).collect(),
        weights: vec![1; usize::from(n)],
        version_key: 0,
    };
    signed(from, nonce, fee, call)
}

/// The newest rules, with key 9 (the genesis validator) bonded, so its
/// node owes heartbeats.
pub(crate) fn bonded_ledger() -> Ledger {
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

/// The fee the tests pay (above the minimum).
pub(super) const FEE: u64 = 100_000;

/// `count` blocks on the test chain, each with one transfer from key 1.
pub(crate) fn chain(count: u64) -> (Ledger, Vec<(Block, BlockOutcome, Arc<Ledger>)>) {
    let genesis = ledger();
    let (mut header, mut state): (BlockHeader, Ledger) =
        (genesis_block(&genesis).header().clone(), genesis.clone());
    let mut blocks = Vec::new();
    for nonce in 0..count {
        let tx = transfer(1, nonce, 1_000_000, 2, 5);
        let (block, executed, refused) =
            execution::build(&header, &state, vec![tx], key(9).account_id(), nonce + 1).unwrap();
        assert!(refused.is_empty());
        header = block.header().clone();
        state = Ledger::clone(&executed.ledger);
        blocks.push((block.block().clone(), executed.outcome, executed.ledger));
    }
    (genesis, blocks)
}
