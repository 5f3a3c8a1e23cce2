//! Admission to a full mempool: what one more transaction costs the node when the
//! mempool holds 50,000 transactions from as many senders. A refused transaction costs
//! its sender nothing, so this is what a flood of them costs the node, under the lock
//! that block building and gossip also take. Signatures are checked before (outside
//! the lock), so the measured transactions come prechecked.

#![allow(missing_docs, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisValidator, Ledger};
use plexus_node::mempool::{Mempool, MempoolError, MempoolLimits, Prechecked};
use plexus_primitives::{AccountId, Balance, Call, ChainId, Keypair, Transaction};

const SENDERS: u32 = 50_000;

fn keypair(i: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 9;
    Keypair::from_seed(seed)
}

fn transfer(from: &Keypair, nonce: u64, fee: Balance, to: AccountId) -> Transaction {
    Transaction {
        chain_id: ChainId::new("plexus-bench").expect("id"),
        signer: from.account_id(),
        nonce,
        fee,
        call: Call::Transfer {
            to,
            amount: Balance::from_rao(1),
        },
    }
}

fn full_mempool(c: &mut Criterion) {
    // One more sender than the mempool holds: the last one knocks.
    let keys: Vec<Keypair> = (0..=SENDERS).map(keypair).collect();
    let genesis = Genesis {
        bonds: Vec::new(),
        chain_id: ChainId::new("plexus-bench").expect("id"),
        balances: keys
            .iter()
            .map(|k| GenesisBalance {
                account: k.account_id(),
                balance: Balance::from_rao(1 << 30),
            })
            .collect(),
        validators: vec![GenesisValidator {
            consensus_key: keys[0].account_id(),
            address: None,
        }],
        economics: Economics::default(),
    };
    let ledger = Ledger::from_genesis(&genesis).expect("genesis");
    let fee = Balance::from_rao(ledger.state().economics.min_fee.rao() * 2);
    let to = keys[0].account_id();
    let mut pool = Mempool::new(MempoolLimits {
        max_transactions: SENDERS as usize,
        max_bytes: usize::MAX,
        ..MempoolLimits::default()
    });
    for key in &keys[..SENDERS as usize] {
        let tx = transfer(key, 0, fee, to).sign(key);
        pool.insert(tx, &ledger).expect("room");
    }
    let knocker = &keys[SENDERS as usize];
    // Paying what the cheapest waiting pays: refused, after looking for what it could
    // evict (nothing waits behind a gap, nothing is cheaper).
    let same = transfer(knocker, 0, fee, to).sign(knocker);
    let same = Prechecked::new(same, &ledger).expect("valid");
    c.bench_function("mempool_full_50k/refused", |b| {
        b.iter(|| {
            let refused = pool.insert_prechecked(same.clone(), &ledger);
            assert_eq!(refused, Err(MempoolError::Full));
        });
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = full_mempool
}
criterion_main!(benches);
