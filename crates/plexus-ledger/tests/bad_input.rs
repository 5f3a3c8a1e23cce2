//! Every kind of malformed or unauthorised transaction is refused with its
//! typed error. One whose envelope fails changes nothing: the state after a
//! block holding it is the state after the same block without it. One whose
//! call fails changes only its signer's balance, by the fee, and its nonce.

#![allow(clippy::expect_used)]

mod common;

use common::{Chain, TOKEN, balance, id, key, test_economics, with_fee_paid};
use plexus_ledger::{Economics, Ledger, LedgerRules, Receipt, Signatures, TxError};
use plexus_primitives::{
    AxonInfo, AxonProtocol, Balance, Call, ChainId, Hash, Hyperparameter, NetUid,
    SignedTransaction, Transaction,
};

const NAMES: &[&str] = &[
    "owner",
    "owner-hot",
    "val",
    "val-hot",
    "miner",
    "miner-hot",
    "stranger",
    "stranger-hot",
    "poor",
];
const NET: NetUid = NetUid(1);

/// A subnet with a staked validator (UID 1, with permit) and a miner (UID 2).
fn chain() -> Chain {
    chain_under(test_economics())
}

/// [`chain`] on a chain of `economics` (but for its one-subnet limit).
fn chain_under(mut economics: Economics) -> Chain {
    economics.subnet_limit = 1;
    let mut chain = Chain::new(NAMES, economics);
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
    );
    chain.ok(
        "val",
        Call::Register {
            netuid: NET,
            hotkey: id("val-hot"),
            max_burn: balance(10),
        },
    );
    chain.ok(
        "miner",
        Call::Register {
            netuid: NET,
            hotkey: id("miner-hot"),
            max_burn: balance(10),
        },
    );
    chain.ok(
        "val",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-hot"),
            amount: balance(100),
            limit_price: None,
        },
    );
    chain.advance_to(11);
    // Empty the "poor" account but for a little more than one fee.
    let fee = chain.ledger.state().economics.min_fee.rao();
    let keep = fee + 5;
    let all = chain.balance("poor") - keep - fee;
    chain.ok(
        "poor",
        Call::Transfer {
            to: id("stranger"),
            amount: Balance::from_rao(all),
        },
    );
    chain
}

/// Applies `tx` in a block and checks it was refused with `want` and changed
/// nothing compared with an empty block, not even its fee or nonce: what a
/// transaction whose envelope fails does (and, under the original rules, one
/// whose call fails).
fn refused(chain: &Chain, tx: SignedTransaction, want: TxError) {
    // A dry run foretells it, but for a nonce still to come: the mempool (and so a
    // dry run) waits for those, where a block refuses them.
    let later_nonce = matches!(want, TxError::BadNonce { expected, got } if got > expected);
    if !later_nonce {
        assert_eq!(chain.ledger.dry_run(&tx), Err(want.clone()), "dry run");
    }
    let (with, without, receipt) = with_and_without(&chain.ledger, tx);
    assert_eq!(receipt.result, Err(want));
    assert!(!receipt.charged);
    assert_eq!(
        with.state(),
        without.state(),
        "a refused transaction changed the state"
    );
    assert_eq!(with.state_root(), without.state_root());
}

/// Applies `tx` in a block and checks its call failed with `want` and that
/// it changed nothing compared with an empty block but its fee, burned, and
/// its nonce, used.
fn call_refused(chain: &Chain, who: &str, call: Call, want: TxError) {
    let tx = chain.tx(who, call);
    let (fee, signer) = (tx.tx.fee, tx.tx.signer);
    assert_eq!(chain.ledger.dry_run(&tx), Err(want.clone()), "dry run");
    let (with, without, receipt) = with_and_without(&chain.ledger, tx);
    assert_eq!(receipt.result, Err(want));
    assert!(receipt.charged, "a failed call pays its fee");
    let charged = with_fee_paid(without.state(), &signer, fee);
    assert_eq!(
        with.state(),
        &charged,
        "a failed call changed more than its fee and nonce"
    );
    assert_eq!(with.state_root(), Ledger::from_state(charged).state_root());
}

/// The ledger after a block holding only `tx`, after an empty block instead,
/// and `tx`'s receipt.
fn with_and_without(ledger: &Ledger, tx: SignedTransaction) -> (Ledger, Ledger, Receipt) {
    let mut with = ledger.clone();
    let mut without = ledger.clone();
    let height = ledger.height() + 1;
    let mut out = with
        .apply_block(height, &[tx], Signatures::Verify)
        .expect("height");
    without
        .apply_block(height, &[], Signatures::Verify)
        .expect("height");
    (with, without, out.receipts.remove(0))
}

/// Under the original rules a failed call changes nothing at all: chains begun
/// under them replay as they were made.
#[test]
fn original_rules_charge_nothing_for_a_failed_call() {
    let mut economics = test_economics();
    economics.ledger_rules = LedgerRules::ORIGINAL;
    let chain = Chain::new(NAMES, economics);
    let tx = chain.tx(
        "val",
        Call::Transfer {
            to: id("miner"),
            amount: Balance::ZERO,
        },
    );
    refused(&chain, tx, TxError::ZeroAmount);
}

#[test]
fn envelope_errors() {
    let chain = chain();
    // Signed by someone else.
    let mut tx = chain.tx(
        "val",
        Call::Transfer {
            to: id("miner"),
            amount: balance(1),
        },
    );
    tx.tx.signer = id("stranger");
    refused(&chain, tx, TxError::BadSignature);
    // Another chain.
    let tx = Transaction {
        chain_id: ChainId::new("other-chain").expect("id"),
        ..chain
            .tx(
                "val",
                Call::Transfer {
                    to: id("miner"),
                    amount: balance(1),
                },
            )
            .tx
    }
    .sign(&key("val"));
    refused(
        &chain,
        tx,
        TxError::WrongChain {
            expected: "plexus-test".into(),
            got: "other-chain".into(),
        },
    );
    // A replayed (old) nonce and a future one.
    let current = chain.ledger.state().account(&id("val")).nonce;
    for nonce in [current - 1, current + 1] {
        let tx = Transaction {
            nonce,
            ..chain
                .tx(
                    "val",
                    Call::Transfer {
                        to: id("miner"),
                        amount: balance(1),
                    },
                )
                .tx
        }
        .sign(&key("val"));
        refused(
            &chain,
            tx,
            TxError::BadNonce {
                expected: current,
                got: nonce,
            },
        );
    }
    // A fee below the minimum.
    let min = chain.ledger.state().economics.min_fee;
    let tx = Transaction {
        fee: Balance::from_rao(min.rao() - 1),
        ..chain
            .tx(
                "val",
                Call::Transfer {
                    to: id("miner"),
                    amount: balance(1),
                },
            )
            .tx
    }
    .sign(&key("val"));
    refused(
        &chain,
        tx,
        TxError::FeeTooLow {
            min,
            got: Balance::from_rao(min.rao() - 1),
        },
    );
    // An account that cannot pay the fee at all.
    let tx = chain.tx(
        "nobody",
        Call::Transfer {
            to: id("miner"),
            amount: balance(1),
        },
    );
    refused(
        &chain,
        tx,
        TxError::InsufficientBalance {
            needed: min,
            available: Balance::ZERO,
        },
    );
}

#[test]
fn balance_errors() {
    let chain = chain();
    let fee = chain.ledger.state().economics.min_fee.rao();
    call_refused(
        &chain,
        "val",
        Call::Transfer {
            to: id("miner"),
            amount: Balance::ZERO,
        },
        TxError::ZeroAmount,
    );
    call_refused(
        &chain,
        "poor",
        Call::Transfer {
            to: id("miner"),
            amount: Balance::from_rao(6),
        },
        TxError::InsufficientBalance {
            needed: Balance::from_rao(6),
            available: Balance::from_rao(5),
        },
    );
    let _ = fee;
}

#[test]
fn subnet_errors() {
    let chain = chain();
    call_refused(
        &chain,
        "stranger",
        Call::CreateSubnet {
            owner_hotkey: id("stranger-hot"),
            max_lock: balance(1_000),
        },
        TxError::SubnetLimitReached(1),
    );
    call_refused(
        &chain,
        "stranger",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::Tempo(20),
        },
        TxError::NotSubnetOwner(NET),
    );
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NetUid(9),
            param: Hyperparameter::Tempo(20),
        },
        TxError::UnknownSubnet(NetUid(9)),
    );
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::Tempo(1),
        },
        TxError::HyperparameterOutOfBounds {
            name: "tempo",
            value: "1".into(),
            min: "10".into(),
            max: "50400".into(),
        },
    );
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::AlphaLow(60_000),
        },
        TxError::InconsistentHyperparameters("alpha_low exceeds alpha_high"),
    );
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MaxAllowedUids(2),
        },
        TxError::HyperparameterOutOfBounds {
            name: "max_allowed_uids",
            value: "2".into(),
            min: "8".into(),
            max: "4096".into(),
        },
    );
    // Token amounts are reported in tokens, as `plexus subnet set --value` takes them.
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MaxBurn(Balance::from_rao(2_000 * Balance::UNIT.rao())),
        },
        TxError::HyperparameterOutOfBounds {
            name: "max_burn",
            value: "2000 tokens".into(),
            min: "0.000000001 tokens".into(),
            max: "1000 tokens".into(),
        },
    );
}

#[test]
fn shrinking_below_the_registered_uids_is_refused() {
    let mut chain = chain();
    for i in 0..6 {
        let hotkey = id(&format!("stranger-hot-{i}"));
        chain.ok(
            "stranger",
            Call::Register {
                netuid: NET,
                hotkey,
                max_burn: balance(100),
            },
        );
    }
    call_refused(
        &chain,
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MaxAllowedUids(8),
        },
        TxError::BelowRegistered {
            requested: 8,
            registered: 9,
        },
    );
}

#[test]
fn subnet_creation_errors() {
    let mut economics = test_economics();
    economics.subnet_limit = 4;
    let mut chain = Chain::new(NAMES, economics);
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
    );
    call_refused(
        &chain,
        "stranger",
        Call::CreateSubnet {
            owner_hotkey: id("stranger-hot"),
            max_lock: balance(150),
        },
        TxError::LockAboveMax {
            price: Balance::from_rao(200 * TOKEN - 100 * TOKEN / 14_400),
            max: balance(150),
        },
    );
    call_refused(
        &chain,
        "stranger",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
        TxError::HotkeyOwnedByAnother(id("owner-hot")),
    );
}

#[test]
fn registration_and_axon_errors() {
    let chain = chain();
    call_refused(
        &chain,
        "val",
        Call::Register {
            netuid: NET,
            hotkey: id("val-hot"),
            max_burn: balance(10),
        },
        TxError::AlreadyRegistered(NET),
    );
    call_refused(
        &chain,
        "stranger",
        Call::Register {
            netuid: NET,
            hotkey: id("miner-hot"),
            max_burn: balance(10),
        },
        TxError::HotkeyOwnedByAnother(id("miner-hot")),
    );
    call_refused(
        &chain,
        "stranger",
        Call::Register {
            netuid: NetUid(7),
            hotkey: id("stranger-hot"),
            max_burn: balance(10),
        },
        TxError::UnknownSubnet(NetUid(7)),
    );
    let price = chain
        .ledger
        .state()
        .subnet_info(NET)
        .expect("subnet")
        .registration_price;
    call_refused(
        &chain,
        "poor",
        Call::Register {
            netuid: NET,
            hotkey: id("poor-hot"),
            max_burn: balance(10),
        },
        TxError::InsufficientBalance {
            needed: price,
            available: Balance::from_rao(5),
        },
    );
    let axon = AxonInfo {
        ip: "127.0.0.1".parse().expect("ip"),
        port: 8091,
        protocol: AxonProtocol::Http,
        version: 1,
    };
    call_refused(
        &chain,
        "stranger",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("miner-hot"),
            axon,
        },
        TxError::HotkeyOwnedByAnother(id("miner-hot")),
    );
    call_refused(
        &chain,
        "stranger-hot",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("stranger-hot"),
            axon,
        },
        TxError::NotRegistered {
            netuid: NET,
            hotkey: id("stranger-hot"),
        },
    );
    let mut served = chain;
    served.ok(
        "miner-hot",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("miner-hot"),
            axon,
        },
    );
    let next_block = served.ledger.height() + 50;
    call_refused(
        &served,
        "miner-hot",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("miner-hot"),
            axon,
        },
        TxError::RateLimited {
            action: "serving an axon",
            next_block,
        },
    );
}

#[test]
fn staking_errors() {
    let chain = chain();
    call_refused(
        &chain,
        "stranger",
        Call::AddStake {
            netuid: NET,
            hotkey: id("stranger-hot"),
            amount: balance(1),
            limit_price: None,
        },
        TxError::NotRegistered {
            netuid: NET,
            hotkey: id("stranger-hot"),
        },
    );
    call_refused(
        &chain,
        "stranger",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-hot"),
            amount: Balance::ZERO,
            limit_price: None,
        },
        TxError::ZeroAmount,
    );
    call_refused(
        &chain,
        "poor",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-hot"),
            amount: balance(1),
            limit_price: None,
        },
        TxError::InsufficientBalance {
            needed: balance(1),
            available: Balance::from_rao(5),
        },
    );
    let refused_price = chain.ledger.state().subnets[&NET]
        .pool
        .quote_buy(
            balance(100).rao(),
            plexus_ledger::pool::FeeRate(33),
            Some(plexus_ledger::pool::Price(1)),
        )
        .expect_err("a limit of 1 rao per alpha is below any price");
    call_refused(
        &chain,
        "stranger",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-hot"),
            amount: balance(100),
            limit_price: Some(1),
        },
        TxError::Pool(refused_price),
    );
    call_refused(
        &chain,
        "stranger",
        Call::RemoveStake {
            netuid: NET,
            hotkey: id("val-hot"),
            alpha: 1,
            limit_price: None,
        },
        TxError::InsufficientStake {
            requested: 1,
            available: 0,
        },
    );
    call_refused(
        &chain,
        "stranger",
        Call::SetTake {
            hotkey: id("val-hot"),
            take: 100,
        },
        TxError::HotkeyOwnedByAnother(id("val-hot")),
    );
    call_refused(
        &chain,
        "val",
        Call::SetTake {
            hotkey: id("val-hot"),
            take: 20_000,
        },
        TxError::TakeAboveMax {
            take: 20_000,
            max: 11_796,
        },
    );
}

fn set_take(take: u16) -> Call {
    Call::SetTake {
        hotkey: id("val-hot"),
        take,
    }
}

#[test]
fn raising_the_take_waits_after_any_change() {
    let mut chain = chain_under(Economics {
        take_rate_limit: 20,
        default_take_u16: 5_000,
        ..test_economics()
    });
    // The take set at the hotkey's first use (registration) counts as a change.
    let first_use = chain.ledger.state().subnets[&NET].neurons[1].registered_at;
    let waits_until = |from: u64| TxError::RateLimited {
        action: "raising the take",
        next_block: from + 20,
    };
    call_refused(&chain, "val", set_take(6_000), waits_until(first_use));
    // Lowering is always allowed, and starts the wait again: stakers drawn by a low
    // take see a rise coming rather than meet it at the next epoch.
    chain.ok("val", set_take(1_000));
    let lowered = chain.ledger.height();
    call_refused(&chain, "val", set_take(2_000), waits_until(lowered));
    chain.advance_to(lowered + 19);
    chain.ok("val", set_take(2_000));
    let raised = chain.ledger.height();
    assert_eq!(raised, lowered + 20);
    call_refused(&chain, "val", set_take(3_000), waits_until(raised));
    chain.ok("val", set_take(500));
}

#[test]
fn under_rules_3_only_rises_start_the_take_wait() {
    let mut chain = chain_under(Economics {
        ledger_rules: LedgerRules::FRESH_BONDS,
        take_rate_limit: 20,
        ..test_economics()
    });
    chain.ok("val", set_take(1_000));
    chain.ok("val", set_take(2_000));
    let next_block = chain.ledger.height() + 20;
    call_refused(
        &chain,
        "val",
        set_take(3_000),
        TxError::RateLimited {
            action: "raising the take",
            next_block,
        },
    );
}

#[test]
fn weights_errors() {
    let chain = chain();
    let set = |uids: Vec<u16>, weights: Vec<u16>, version_key: u64| Call::SetWeights {
        netuid: NET,
        uids,
        weights,
        version_key,
    };
    call_refused(
        &chain,
        "stranger-hot",
        set(vec![2], vec![1], 0),
        TxError::NotRegistered {
            netuid: NET,
            hotkey: id("stranger-hot"),
        },
    );
    call_refused(
        &chain,
        "miner-hot",
        set(vec![1], vec![1], 0),
        TxError::NoValidatorPermit,
    );
    call_refused(
        &chain,
        "val-hot",
        set(vec![2, 0], vec![1], 0),
        TxError::WeightsLengthMismatch {
            uids: 2,
            weights: 1,
        },
    );
    call_refused(
        &chain,
        "val-hot",
        set(vec![2, 2], vec![1, 1], 0),
        TxError::DuplicateUid(2),
    );
    call_refused(
        &chain,
        "val-hot",
        set(vec![9], vec![1], 0),
        TxError::UidOutOfRange { uid: 9, n: 3 },
    );
    call_refused(
        &chain,
        "val-hot",
        set(vec![2], vec![0], 0),
        TxError::AllWeightsZero,
    );
    let mut strict = chain.ledger.clone();
    let tx = chain.tx(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::WeightsVersionKey(5),
        },
    );
    strict
        .apply_block(chain.ledger.height() + 1, &[tx], Signatures::Verify)
        .expect("height");
    let strict_chain = common::Chain { ledger: strict };
    call_refused(
        &strict_chain,
        "val-hot",
        set(vec![2], vec![1], 4),
        TxError::VersionKeyTooLow {
            required: 5,
            got: 4,
        },
    );
    let mut min3 = chain.ledger.clone();
    let tx = chain.tx(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MinAllowedWeights(3),
        },
    );
    min3.apply_block(chain.ledger.height() + 1, &[tx], Signatures::Verify)
        .expect("height");
    let min3 = common::Chain { ledger: min3 };
    call_refused(
        &min3,
        "val-hot",
        set(vec![2], vec![1], 0),
        TxError::TooFewWeights { min: 3, got: 1 },
    );
    // Commit-reveal calls on a subnet without it.
    call_refused(
        &chain,
        "val-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: Hash::of(b"x"),
        },
        TxError::CommitRevealDisabled(NET),
    );
    call_refused(
        &chain,
        "val-hot",
        Call::RevealWeights {
            netuid: NET,
            uids: vec![2],
            weights: vec![1],
            salt: vec![],
            version_key: 0,
        },
        TxError::CommitRevealDisabled(NET),
    );
    // Rate limit: with a limit of 5 blocks, a second update is refused.
    let mut limited = chain;
    limited.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::WeightsRateLimit(5),
        },
    );
    limited.ok("val-hot", set(vec![2], vec![1], 0));
    let next_block = limited.ledger.height() + 5;
    call_refused(
        &limited,
        "val-hot",
        set(vec![2], vec![2], 0),
        TxError::RateLimited {
            action: "setting weights",
            next_block,
        },
    );
}

#[test]
fn too_many_commits_are_refused() {
    let mut chain = chain();
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::CommitReveal(true),
        },
    );
    let max = chain.ledger.state().economics.max_pending_commits;
    for i in 0..max {
        chain.ok(
            "val-hot",
            Call::CommitWeights {
                netuid: NET,
                commit: Hash::of(&[i as u8]),
            },
        );
    }
    call_refused(
        &chain,
        "val-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: Hash::of(b"one more"),
        },
        TxError::TooManyCommits(max),
    );
}
