//! Block execution: 5,000 transfers, 1,000 set-weights on a 256-UID subnet,
//! and an epoch block with 32 subnets of 256 UIDs. Signatures are checked
//! separately (the node verifies them once, on admission).

#![allow(missing_docs, clippy::expect_used)]

use std::collections::BTreeMap;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use plexus_ledger::pool::Pool;
use plexus_ledger::{
    Economics, Genesis, GenesisBalance, GenesisValidator, HotkeyStake, Ledger, Neuron, Signatures,
    State, Subnet, SubnetParams,
};
use plexus_primitives::{
    AccountId, Balance, Call, ChainId, Keypair, NetUid, SignedTransaction, Transaction,
};

const TOKEN: u64 = 1_000_000_000;

fn keypair(i: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 7;
    Keypair::from_seed(seed)
}

fn genesis(accounts: &[AccountId]) -> Genesis {
    Genesis {
        bonds: Vec::new(),
        chain_id: ChainId::new("plexus-bench").expect("id"),
        balances: accounts
            .iter()
            .map(|a| GenesisBalance {
                account: *a,
                balance: Balance::from_rao(1_000 * TOKEN),
            })
            .collect(),
        validators: vec![GenesisValidator {
            consensus_key: accounts[0],
            address: None,
        }],
        economics: Economics::default(),
    }
}

fn sign(chain: &ChainId, key: &Keypair, nonce: u64, call: Call) -> SignedTransaction {
    Transaction {
        chain_id: chain.clone(),
        signer: key.account_id(),
        nonce,
        fee: Economics::default().min_fee,
        call,
    }
    .sign(key)
}

/// 5,000 accounts each sending one transfer.
fn transfers() -> (Ledger, Vec<SignedTransaction>) {
    let keys: Vec<Keypair> = (0..5_000).map(keypair).collect();
    let ids: Vec<AccountId> = keys.iter().map(Keypair::account_id).collect();
    let ledger = Ledger::from_genesis(&genesis(&ids)).expect("genesis");
    let chain = ledger.state().chain_id.clone();
    let txs = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            sign(
                &chain,
                k,
                0,
                Call::Transfer {
                    to: ids[(i * 7 + 1) % ids.len()],
                    amount: Balance::from_rao(TOKEN),
                },
            )
        })
        .collect();
    (ledger, txs)
}

/// A neuron with stake, a permit and a full weights row.
fn neuron(hotkey: AccountId, uid: usize, n: usize, validator: bool) -> Neuron {
    let mut neuron = Neuron::new(hotkey, hotkey, 0);
    neuron.validator_permit = validator;
    if validator {
        neuron.weights = (0..n as u16)
            .filter(|j| *j as usize != uid)
            .map(|j| (j, 1 + (j * 37 + uid as u16) % 65_000))
            .collect();
        neuron.last_update = 1;
    }
    neuron
}

/// `subnets` subnets of 256 UIDs (64 validators each), built directly.
fn big_state(subnets: u16, hotkeys: &[AccountId]) -> State {
    let mut state = State::from_genesis(&genesis(&hotkeys[..1])).expect("genesis");
    let params = SubnetParams {
        tempo: 100,
        weights_rate_limit: 0,
        ..SubnetParams::default()
    };
    for s in 1..=subnets {
        let netuid = NetUid(s);
        let neurons: Vec<Neuron> = (0..256)
            .map(|uid| neuron(hotkeys[uid], uid, 256, uid < 64))
            .collect();
        for (uid, n) in neurons.iter().enumerate().take(64) {
            let mut stake = HotkeyStake::default();
            stake
                .deposit(&n.coldkey, (1_000 + uid as u64) * TOKEN)
                .expect("stake");
            state.stakes.insert((netuid, n.hotkey), stake);
        }
        let staked: u64 = (0..64).map(|uid| (1_000 + uid) * TOKEN).sum();
        state.subnets.insert(
            netuid,
            Subnet {
                netuid,
                owner: hotkeys[0],
                owner_hotkey: hotkeys[0],
                work: None,
                params: params.clone(),
                pool: Pool {
                    tao: 10_000 * TOKEN,
                    alpha: 10_000 * TOKEN,
                },
                locked: Balance::from_rao(10_000 * TOKEN),
                created_at: 0,
                neurons,
                burn: Balance::UNIT,
                burn_updated_at: 0,
                last_epoch_block: 0,
                epoch_index: 0,
                pending_emission: 0,
                alpha_issued: 10_000 * TOKEN + staked,
                commits: BTreeMap::new(),
                moving_price: None,
            },
        );
        state.totals.issued += 10_000 * TOKEN;
    }
    state.check_books().expect("bench state balances");
    state
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger");
    group.sample_size(20);

    let (ledger, txs) = transfers();
    let applied = ledger
        .clone()
        .apply_block(1, &txs, Signatures::Trusted)
        .expect("applies");
    assert!(
        applied.receipts.iter().all(|r| r.result.is_ok()),
        "every transfer applies"
    );
    group.bench_function("block_5000_transfers", |b| {
        b.iter_batched(
            || ledger.clone(),
            |mut l| {
                l.apply_block(1, &txs, Signatures::Trusted)
                    .expect("applies")
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("verify_5000_signatures", |b| {
        b.iter(|| txs.iter().filter(|t| t.verify().is_ok()).count())
    });

    let keys: Vec<Keypair> = (0..256).map(|i| keypair(10_000 + i)).collect();
    let hotkeys: Vec<AccountId> = keys.iter().map(Keypair::account_id).collect();
    let mut one = big_state(1, &hotkeys);
    for h in &hotkeys {
        one.accounts.entry(*h).or_default().balance = Balance::from_rao(100 * TOKEN);
        one.totals.issued += 100 * TOKEN;
    }
    let one = Ledger::from_state(one);
    let chain = one.state().chain_id.clone();
    let weight_txs: Vec<SignedTransaction> = (0..1_000)
        .map(|i| {
            let v = i % 64;
            let uids: Vec<u16> = (0..256u16).filter(|j| usize::from(*j) != v).collect();
            let weights: Vec<u16> = uids
                .iter()
                .map(|j| 1 + (j * 31 + i as u16) % 60_000)
                .collect();
            sign(
                &chain,
                &keys[v],
                (i / 64) as u64,
                Call::SetWeights {
                    netuid: NetUid(1),
                    uids,
                    weights,
                    version_key: 0,
                },
            )
        })
        .collect();
    let applied = one
        .clone()
        .apply_block(1, &weight_txs, Signatures::Trusted)
        .expect("applies");
    assert!(
        applied.receipts.iter().all(|r| r.result.is_ok()),
        "every weights update applies"
    );
    group.bench_function("block_1000_set_weights_256_uids", |b| {
        b.iter_batched(
            || one.clone(),
            |mut l| {
                l.apply_block(1, &weight_txs, Signatures::Trusted)
                    .expect("applies")
            },
            BatchSize::LargeInput,
        )
    });

    let mut many = big_state(32, &hotkeys);
    many.height = 99;
    let many = Ledger::from_state(many);
    group.bench_function("epoch_block_32_subnets_256_uids", |b| {
        b.iter_batched(
            || many.clone(),
            |mut l| {
                let out = l
                    .apply_block(100, &[], Signatures::Trusted)
                    .expect("applies");
                assert_eq!(out.epochs.len(), 32);
                out
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("state_root_32_subnets_256_uids", |b| {
        b.iter(|| many.state_root())
    });

    // The root is rebuilt from every leaf each block: its cost grows with the
    // number of accounts, whatever the block holds.
    let mut crowded = many.state().clone();
    for i in 0..100_000u64 {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&i.to_be_bytes());
        id[8] = 0xa5;
        crowded.accounts.entry(AccountId(id)).or_default().balance = Balance::from_rao(TOKEN);
        crowded.totals.issued += TOKEN;
    }
    crowded.accounts.entry(hotkeys[0]).or_default().balance = Balance::from_rao(100 * TOKEN);
    crowded.totals.issued += 100 * TOKEN;
    let crowded = Ledger::from_state(crowded);
    group.bench_function("state_root_100k_accounts_32_subnets", |b| {
        b.iter(|| crowded.state_root())
    });

    // What a checkpoint costs beyond the root: its state written and read back
    // (a node joining with `--sync-from` reads it, then checks the root).
    let saved = plexus_ledger::snapshot::encode(&crowded).expect("encodes");
    println!(
        "state of 100,000 accounts and 32 subnets: {} bytes",
        saved.len()
    );
    group.bench_function("snapshot_encode_100k_accounts_32_subnets", |b| {
        b.iter(|| plexus_ledger::snapshot::encode(&crowded).expect("encodes"))
    });
    group.bench_function("snapshot_decode_100k_accounts_32_subnets", |b| {
        b.iter(|| plexus_ledger::snapshot::decode(&saved).expect("decodes"))
    });

    // A wallet's dry run (`plexus_dryRun`): the call on a copy of the whole state.
    let transfer = sign(
        &crowded.state().chain_id,
        &keys[0],
        0,
        Call::Transfer {
            to: hotkeys[1],
            amount: Balance::from_rao(TOKEN),
        },
    );
    crowded
        .dry_run(&transfer)
        .expect("the transfer would apply");
    group.bench_function("dry_run_transfer_100k_accounts_32_subnets", |b| {
        b.iter(|| crowded.dry_run(&transfer))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
