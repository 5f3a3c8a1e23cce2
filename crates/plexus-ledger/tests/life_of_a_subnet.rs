//! Whole lives of a subnet, driven through transactions and blocks, with
//! every payment checked to the base unit.

#![allow(clippy::expect_used)]

mod common;

use common::{Chain, TOKEN, balance, id, test_economics};
use plexus_ledger::{Economics, LedgerRules, TxError};
use plexus_primitives::{Call, Hyperparameter, NetUid, Work, weights_commit_hash};
use plexus_yuma::{EpochInput, WeightAges, epoch};

const NAMES: &[&str] = &[
    "owner",
    "owner-hot",
    "val-a",
    "val-a-hot",
    "val-b",
    "val-b-hot",
    "miner-1",
    "miner-1-hot",
    "miner-2",
    "miner-2-hot",
    "miner-3",
    "miner-3-hot",
    "newcomer",
    "newcomer-hot",
];
const NET: NetUid = NetUid(1);

fn register(chain: &mut Chain, coldkey: &str, hotkey: &str) {
    chain.ok(
        coldkey,
        Call::Register {
            netuid: NET,
            hotkey: id(hotkey),
            max_burn: balance(100),
        },
    );
}

fn weights(chain: &mut Chain, hotkey: &str, uids: &[u16], w: &[u16]) {
    chain.ok(
        hotkey,
        Call::SetWeights {
            netuid: NET,
            uids: uids.to_vec(),
            weights: w.to_vec(),
            version_key: 0,
        },
    );
}

/// A subnet with the owner (UID 0), two staked validators (UIDs 1, 2) and
/// three miners (UIDs 3-5), past its first epoch so permits are set.
fn populated() -> Chain {
    populated_under(test_economics())
}

/// [`populated`] on a chain of `economics`.
fn populated_under(economics: Economics) -> Chain {
    let mut chain = Chain::new(NAMES, economics);
    let before = chain.balance("owner");
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
    );
    let fee = chain.ledger.state().economics.min_fee.rao();
    assert_eq!(
        before - chain.balance("owner"),
        100 * TOKEN + fee,
        "the first lock costs the minimum"
    );
    for (c, h) in [("val-a", "val-a-hot"), ("val-b", "val-b-hot")] {
        register(&mut chain, c, h);
    }
    for (c, h) in [
        ("miner-1", "miner-1-hot"),
        ("miner-2", "miner-2-hot"),
        ("miner-3", "miner-3-hot"),
    ] {
        register(&mut chain, c, h);
    }
    chain.ok(
        "val-a",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-a-hot"),
            amount: balance(1_000),
            limit_price: None,
        },
    );
    chain.ok(
        "val-b",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-b-hot"),
            amount: balance(500),
            limit_price: None,
        },
    );
    let next = chain.ledger.state().subnets[&NET].last_epoch_block + 10;
    chain.advance_to(next);
    chain
}

#[test]
fn registration_price_rises_then_decays() {
    let mut chain = Chain::new(NAMES, test_economics());
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
    );
    // The quote is the price in the next block: one block of decay from 1 token.
    let price = |c: &Chain| {
        c.ledger
            .state()
            .subnet_info(NET)
            .expect("subnet")
            .registration_price
            .rao()
    };
    let quoted = price(&chain);
    assert_eq!(quoted, TOKEN - TOKEN / 2 / 360);
    let before = chain.balance("miner-1");
    register(&mut chain, "miner-1", "miner-1-hot");
    let fee = chain.ledger.state().economics.min_fee.rao();
    assert_eq!(
        before - chain.balance("miner-1"),
        quoted + fee,
        "the quoted burn plus the fee"
    );
    let raised = quoted * 126 / 100;
    assert_eq!(
        price(&chain),
        raised - raised / 2 / 360,
        "26% dearer after a registration"
    );
    let err = chain.send(
        "miner-2",
        Call::Register {
            netuid: NET,
            hotkey: id("miner-2-hot"),
            max_burn: balance(1),
        },
    );
    assert!(matches!(err, Err(TxError::BurnAboveMax { .. })), "{err:?}");
    let half_life = chain.ledger.state().economics.burn_half_life;
    let registered = chain.ledger.state().subnets[&NET].burn_updated_at;
    chain.advance_to(registered + half_life - 1);
    assert_eq!(price(&chain), raised / 2, "halved after one half-life");
}

#[test]
fn an_epoch_pays_owner_miners_and_validators_exactly() {
    let mut chain = populated();
    let state = chain.ledger.state();
    let subnet = &state.subnets[&NET];
    assert!(
        subnet.neurons[1].validator_permit && subnet.neurons[2].validator_permit,
        "staked validators hold permits"
    );
    assert!(
        subnet.neurons[0].validator_permit,
        "the owner always holds one"
    );
    assert!(
        !subnet.neurons[3].validator_permit,
        "unstaked miners do not"
    );

    weights(&mut chain, "val-a-hot", &[3, 4, 5], &[1, 2, 3]);
    weights(&mut chain, "val-b-hot", &[3, 4, 5], &[1, 2, 4]);
    let epoch_block = chain.ledger.state().subnets[&NET].last_epoch_block + 10;
    chain.advance_to(epoch_block - 1);

    // The state the epoch will see, and what the epoch alone decides.
    let state = chain.ledger.state().clone();
    let subnet = &state.subnets[&NET];
    let pot = subnet.pending_emission + state.economics.alpha_block_emission;
    let owner_cut = (u128::from(pot) * 11_796 / 65_535) as u64;
    let stake: Vec<u64> = subnet
        .neurons
        .iter()
        .map(|n| state.hotkey_alpha(NET, &n.hotkey))
        .collect();
    let n = subnet.neurons.len();
    let w: Vec<_> = subnet.neurons.iter().map(|x| x.weights.clone()).collect();
    let b: Vec<_> = subnet.neurons.iter().map(|x| x.bonds.clone()).collect();
    let last_update: Vec<u64> = subnet.neurons.iter().map(|x| x.last_update).collect();
    let registered_at: Vec<u64> = subnet.neurons.iter().map(|x| x.registered_at).collect();
    let recent: Vec<bool> = registered_at
        .iter()
        .map(|r| *r > subnet.last_epoch_block)
        .collect();
    let permits: Vec<bool> = subnet.neurons.iter().map(|x| x.validator_permit).collect();
    let expected = epoch(
        &subnet.params.epoch_params(),
        &EpochInput {
            stake: &stake,
            active: &vec![true; n],
            validator_permits: &permits,
            weights: &w,
            bonds: &b,
            recently_registered: &recent,
            weight_ages: Some(WeightAges {
                last_update: &last_update,
                registered_at: &registered_at,
            }),
            owner_uid: Some(0),
            emission: pot - owner_cut,
        },
    )
    .expect("valid epoch input");

    let owner_before = chain.stake(1, "owner-hot", "owner");
    let out = chain.advance_to(epoch_block);
    assert_eq!(out.last().expect("a block").epochs, vec![NET]);
    let after = chain.ledger.state();
    // Each hotkey's stake grew by exactly what the epoch assigned it.
    for (uid, neuron) in after.subnets[&NET].neurons.iter().enumerate() {
        let grown = after.hotkey_alpha(NET, &neuron.hotkey) - stake[uid];
        let mut want = expected.server_emission[uid] + expected.validator_emission[uid];
        if uid == 0 {
            want += owner_cut;
        }
        assert_eq!(grown, want, "uid {uid}");
        assert_eq!(
            neuron.emission,
            expected.server_emission[uid] + expected.validator_emission[uid]
        );
        assert_eq!(neuron.incentive, expected.incentive[uid]);
        assert_eq!(neuron.dividends, expected.dividends[uid]);
    }
    // Miners earn by consensus: miner 3 was weighted most.
    let m = &after.subnets[&NET].neurons;
    assert!(m[5].incentive > m[4].incentive && m[4].incentive > m[3].incentive);
    // Validators earn dividends in proportion to what they put at stake.
    assert!(m[1].dividends > m[2].dividends && m[2].dividends > 0);
    // Nothing is lost: the pot is paid out but for rounding dust, which stays.
    let paid: u64 = expected
        .server_emission
        .iter()
        .chain(&expected.validator_emission)
        .sum::<u64>()
        + owner_cut;
    assert_eq!(after.subnets[&NET].pending_emission, pot - paid);
    assert!(pot - paid < 16, "dust only");
    // The owner's cut is the owner's own stake.
    assert_eq!(
        chain.stake(1, "owner-hot", "owner") - owner_before,
        owner_cut
    );
}

#[test]
fn unstaking_returns_tokens_through_the_pool() {
    let mut chain = populated();
    let alpha = chain.stake(1, "val-b-hot", "val-b");
    let before = chain.balance("val-b");
    let quote = chain.ledger.state().subnets[&NET]
        .pool
        .quote_sell(alpha / 2, plexus_ledger::pool::FeeRate(33), None)
        .expect("quote");
    chain.ok(
        "val-b",
        Call::RemoveStake {
            netuid: NET,
            hotkey: id("val-b-hot"),
            alpha: alpha / 2,
            limit_price: None,
        },
    );
    let fee = chain.ledger.state().economics.min_fee.rao();
    assert_eq!(chain.balance("val-b") + fee - before, quote.amount_out);
    assert_eq!(chain.stake(1, "val-b-hot", "val-b"), alpha - alpha / 2);
    let err = chain.send(
        "val-b",
        Call::RemoveStake {
            netuid: NET,
            hotkey: id("val-b-hot"),
            alpha,
            limit_price: None,
        },
    );
    assert_eq!(
        err,
        Err(TxError::InsufficientStake {
            requested: alpha,
            available: alpha - alpha / 2
        })
    );
}

#[test]
fn a_listed_stake_is_worth_what_unstaking_it_pays() {
    let mut chain = populated();
    let alpha = chain.stake(1, "val-b-hot", "val-b");
    let listed = chain
        .ledger
        .state()
        .stakes_of(&id("val-b"))
        .into_iter()
        .find(|s| s.netuid == NET && s.hotkey == id("val-b-hot"))
        .expect("val-b's stake is listed");
    assert_eq!(listed.alpha, alpha);
    let price = chain.ledger.state().subnets[&NET]
        .pool
        .price()
        .expect("price")
        .0;
    let before = chain.balance("val-b");
    chain.ok(
        "val-b",
        Call::RemoveStake {
            netuid: NET,
            hotkey: id("val-b-hot"),
            alpha,
            limit_price: None,
        },
    );
    let fee = chain.ledger.state().economics.min_fee.rao();
    assert_eq!(chain.balance("val-b") + fee - before, listed.value.rao());
    // Not the price times the alpha, which ignores the slippage of selling it all.
    assert!(listed.value.rao() < (u128::from(alpha) * u128::from(price) / 1_000_000_000) as u64);
}

/// Fills [`populated`]'s subnet to a limit of eight UIDs with extra-1 and extra-2 (UIDs 6
/// and 7), has both validators weigh everyone but UID 7, and goes on to the first epoch
/// after UID 7's immunity: UID 7 is then the one a registration replaces.
fn full_with_uid_7_unpaid(chain: &mut Chain) {
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MaxAllowedUids(8),
        },
    );
    for (c, h) in [("miner-1", "extra-1"), ("miner-2", "extra-2")] {
        register(chain, c, h);
    }
    assert_eq!(chain.ledger.state().subnets[&NET].neurons.len(), 8);
    weights(chain, "val-a-hot", &[3, 4, 5, 6], &[4, 3, 2, 1]);
    weights(chain, "val-b-hot", &[3, 4, 5, 6], &[4, 3, 2, 1]);
    let immune_until = chain.ledger.state().subnets[&NET].neurons[7].registered_at + 20;
    let epoch_after =
        chain.ledger.state().subnets[&NET].last_epoch_block + 10 * (immune_until / 10 + 1);
    chain.advance_to(epoch_after.max(immune_until));
}

#[test]
fn a_full_subnet_replaces_its_lowest_emission_uid() {
    let mut chain = populated();
    full_with_uid_7_unpaid(&mut chain);
    let state = chain.ledger.state();
    assert_eq!(state.subnets[&NET].neurons[7].emission, 0);
    assert_eq!(
        state.subnets[&NET].prune_candidate(state.height + 1),
        Some(7)
    );

    register(&mut chain, "newcomer", "newcomer-hot");
    let subnet = &chain.ledger.state().subnets[&NET];
    assert_eq!(subnet.neurons.len(), 8, "still full");
    assert_eq!(subnet.neurons[7].hotkey, id("newcomer-hot"));
    assert_eq!(subnet.neurons[7].registered_at, chain.ledger.height());
    assert!(
        subnet.uid_of(&id("extra-2")).is_none(),
        "the pruned hotkey is gone"
    );
    // While everyone else is immune, a full subnet refuses.
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::ImmunityPeriod(10_000),
        },
    );
    let err = chain.send(
        "newcomer",
        Call::Register {
            netuid: NET,
            hotkey: id("late-hot"),
            max_burn: balance(100),
        },
    );
    assert_eq!(err, Err(TxError::SubnetFull(NET)));
}

#[test]
fn commit_reveal_hides_weights_until_the_reveal_epoch() {
    let mut chain = populated();
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::CommitReveal(true),
        },
    );
    let (uids, w, salt) = (vec![3u16, 4, 5], vec![10u16, 20, 30], b"pepper".to_vec());
    let err = chain.send(
        "val-a-hot",
        Call::SetWeights {
            netuid: NET,
            uids: uids.clone(),
            weights: w.clone(),
            version_key: 0,
        },
    );
    assert_eq!(err, Err(TxError::CommitRevealEnabled(NET)));
    let hash = weights_commit_hash(&id("val-a-hot"), NET, &uids, &w, &salt, 0);
    chain.ok(
        "val-a-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: hash,
        },
    );
    let commits = chain.ledger.state().pending_commits(NET).expect("subnet");
    assert_eq!(commits.len(), 1);
    let reveal = Call::RevealWeights {
        netuid: NET,
        uids: uids.clone(),
        weights: w.clone(),
        salt: salt.clone(),
        version_key: 0,
    };
    let epoch_now = chain.ledger.state().subnets[&NET].epoch_index;
    assert_eq!(
        chain.send("val-a-hot", reveal.clone()),
        Err(TxError::RevealTooEarly {
            reveal_epoch: epoch_now + 1,
            epoch: epoch_now
        })
    );
    assert!(
        chain.ledger.state().subnets[&NET].neurons[1]
            .weights
            .is_empty(),
        "nothing visible yet"
    );
    let wrong = Call::RevealWeights {
        netuid: NET,
        uids: uids.clone(),
        weights: vec![30, 20, 10],
        salt: salt.clone(),
        version_key: 0,
    };
    let next_epoch = chain.ledger.state().subnets[&NET].last_epoch_block + 10;
    chain.advance_to(next_epoch);
    assert_eq!(
        chain.send("val-a-hot", wrong),
        Err(TxError::NoMatchingCommit)
    );
    chain.ok("val-a-hot", reveal.clone());
    let row = &chain.ledger.state().subnets[&NET].neurons[1].weights;
    assert_eq!(row, &vec![(3, 21_845), (4, 43_690), (5, 65_535)]);
    assert_eq!(
        chain.send("val-a-hot", reveal),
        Err(TxError::NoMatchingCommit),
        "a reveal is used once"
    );

    // A commit not revealed in its epoch expires.
    let hash = weights_commit_hash(&id("val-b-hot"), NET, &uids, &w, &salt, 0);
    chain.ok(
        "val-b-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: hash,
        },
    );
    let two_epochs = chain.ledger.state().subnets[&NET].last_epoch_block + 20;
    chain.advance_to(two_epochs);
    assert!(
        chain
            .ledger
            .state()
            .pending_commits(NET)
            .expect("subnet")
            .is_empty(),
        "expired commits are dropped"
    );
}

#[test]
fn the_owner_records_the_subnets_kind_of_work_once() {
    let mut chain = Chain::new(NAMES, test_economics());
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: balance(1_000),
        },
    );
    let work = |c: &Chain| c.ledger.state().subnet_info(NET).expect("subnet").work;
    assert_eq!(work(&chain), None, "a new subnet records no kind of work");
    let set = |w| Call::SetSubnetWork {
        netuid: NET,
        work: w,
    };
    assert_eq!(
        chain.send("miner-1", set(Work::Text)),
        Err(TxError::NotSubnetOwner(NET))
    );
    assert_eq!(
        chain.send(
            "owner",
            Call::SetSubnetWork {
                netuid: NetUid(9),
                work: Work::Text
            }
        ),
        Err(TxError::UnknownSubnet(NetUid(9)))
    );
    chain.ok("owner", set(Work::Text));
    assert_eq!(work(&chain), Some(Work::Text));
    // Again the same is harmless; another kind would strand the miners who came for text.
    chain.ok("owner", set(Work::Text));
    assert_eq!(
        chain.send("owner", set(Work::Embeddings)),
        Err(TxError::WorkAlreadySet {
            netuid: NET,
            work: Work::Text
        })
    );
    assert_eq!(work(&chain), Some(Work::Text));
}

/// Validator A commits weights for UIDs 3 and 4 (salt `salt`), and the chain goes on to
/// the next epoch; returns its block.
fn commit_and_go_to_the_next_epoch(chain: &mut Chain) -> u64 {
    let hash = weights_commit_hash(&id("val-a-hot"), NET, &[3, 4], &[1, 1], b"salt", 0);
    chain.ok(
        "val-a-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: hash,
        },
    );
    let next_epoch = chain.ledger.state().subnets[&NET].last_epoch_block + 10;
    chain.advance_to(next_epoch);
    next_epoch
}

/// A newcomer takes UID 7 while validator A's standing weights name it (set for the hotkey
/// before it); then A commits new weights. Returns the chain at the next epoch.
fn a_commit_after_a_newcomer(rules: LedgerRules) -> Chain {
    let mut chain = populated_under(Economics {
        ledger_rules: rules,
        ..test_economics()
    });
    full_with_uid_7_unpaid(&mut chain);
    // A's weights name UID 7, still extra-2's, which is then pruned for the newcomer.
    weights(&mut chain, "val-a-hot", &[3, 4, 5, 6, 7], &[1, 1, 1, 1, 4]);
    register(&mut chain, "newcomer", "newcomer-hot");
    assert_eq!(
        chain.ledger.state().subnets[&NET].neurons[7].hotkey,
        id("newcomer-hot")
    );
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::CommitReveal(true),
        },
    );
    commit_and_go_to_the_next_epoch(&mut chain);
    chain
}

#[test]
fn weights_count_from_when_they_were_decided() {
    // Under the rules before, the commit renewed the standing weights' date, so they
    // counted for the newcomer they were never meant for.
    let before = a_commit_after_a_newcomer(LedgerRules::FRESH_BONDS);
    assert!(before.ledger.state().subnets[&NET].neurons[7].incentive > 0);

    let mut chain = a_commit_after_a_newcomer(LedgerRules::SLOW_CHANGES);
    let subnet = &chain.ledger.state().subnets[&NET];
    let (a, newcomer) = (&subnet.neurons[1], &subnet.neurons[7]);
    assert_eq!(
        newcomer.incentive, 0,
        "A's weight on UID 7 predates the newcomer"
    );
    assert!(a.weights_at.is_some_and(|at| at < newcomer.registered_at));
    let committed_at = subnet.commits[&id("val-a-hot")][0].block;

    // Revealed, the weights date from the commit, not the reveal: a UID registered in
    // between would not count them either.
    chain.ok(
        "val-a-hot",
        Call::RevealWeights {
            netuid: NET,
            uids: vec![3, 4],
            weights: vec![1, 1],
            salt: b"salt".to_vec(),
            version_key: 0,
        },
    );
    let a = &chain.ledger.state().subnets[&NET].neurons[1];
    assert_eq!(a.weights, vec![(3, 65_535), (4, 65_535)]);
    assert_eq!(a.weights_at, Some(committed_at));
    assert_eq!(
        a.last_update,
        chain.ledger.height(),
        "active from the reveal"
    );
}

/// Two subnets a few blocks old; then, if `buy`, val-b buys 5,000 TAO of subnet 2's
/// alpha, far above one TAO per alpha (else the block passes without it). Returns subnet
/// 2's share of the next block's emission, in parts per million.
fn emission_share_after(rules: LedgerRules, buy: bool) -> u128 {
    let mut chain = Chain::new(
        NAMES,
        Economics {
            ledger_rules: rules,
            ..test_economics()
        },
    );
    for (coldkey, hotkey) in [("owner", "owner-hot"), ("val-a", "val-a-hot")] {
        chain.ok(
            coldkey,
            Call::CreateSubnet {
                owner_hotkey: id(hotkey),
                max_lock: balance(1_000),
            },
        );
    }
    let two = NetUid(2);
    let height = chain.ledger.height();
    chain.advance_to(height + 10);
    let purchase = Call::AddStake {
        netuid: two,
        hotkey: id("val-a-hot"),
        amount: balance(5_000),
        limit_price: None,
    };
    match buy {
        true => chain.ok("val-b", purchase),
        false => {
            let height = chain.ledger.height();
            chain.advance_to(height + 1);
        }
    }
    let price = chain.ledger.state().subnets[&two]
        .pool
        .price()
        .expect("price");
    assert_eq!(price.0 > 100 * TOKEN, buy, "{price}");
    // Each subnet's TAO injected by one empty block.
    let tao = |c: &Chain, n: NetUid| c.ledger.state().subnets[&n].pool.tao;
    let before = [tao(&chain, NET), tao(&chain, two)];
    let height = chain.ledger.height();
    chain.advance_to(height + 1);
    let (one, two) = (tao(&chain, NET) - before[0], tao(&chain, two) - before[1]);
    u128::from(two) * 1_000_000 / u128::from(one + two)
}

#[test]
fn buying_a_pool_up_does_not_buy_its_subnet_the_emission() {
    // Under the rules before, the purchase took nearly all of the next block's emission.
    let bought = emission_share_after(LedgerRules::FRESH_BONDS, true);
    assert!(bought > 990_000, "{bought} ppm");
    // Now emission follows moving prices capped at one TAO per alpha: the purchase
    // changes nothing.
    let bought = emission_share_after(LedgerRules::SLOW_CHANGES, true);
    let not = emission_share_after(LedgerRules::SLOW_CHANGES, false);
    assert!(not > 100_000 && not < 900_000, "{not} ppm");
    assert_eq!(bought, not);
}

#[test]
fn a_validator_whose_weights_are_committed_is_active_until_the_reveal() {
    let mut chain = populated();
    for param in [
        Hyperparameter::CommitReveal(true),
        Hyperparameter::ActivityCutoff(15),
    ] {
        chain.ok("owner", Call::SetHyperparameter { netuid: NET, param });
    }
    // Both validators' last updates (their registrations) are now past the cutoff.
    let height = chain.ledger.height();
    chain.advance_to(height + 20);
    let next_epoch = commit_and_go_to_the_next_epoch(&mut chain);
    let subnet = &chain.ledger.state().subnets[&NET];
    assert!(subnet.neurons[1].last_update + 15 < next_epoch);
    // A's commit, not its standing weights' date, shows it at work; B did nothing.
    assert!(subnet.neurons[1].active, "val-a committed");
    assert!(!subnet.neurons[2].active, "val-b did not");
}

/// A node saves its ledger and reads it back after a restart: the state read back
/// must be the whole state (weights, pending commits, stake, moving prices), or the
/// node would compute other roots than its peers from then on.
#[test]
fn a_saved_state_reads_back_whole_and_goes_on_alike() {
    let mut chain = populated();
    weights(&mut chain, "val-a-hot", &[2, 3, 4], &[1, 2, 3]);
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::CommitReveal(true),
        },
    );
    let hash = weights_commit_hash(&id("val-b-hot"), NET, &[3], &[7], b"salt", 0);
    chain.ok(
        "val-b-hot",
        Call::CommitWeights {
            netuid: NET,
            commit: hash,
        },
    );
    let saved = plexus_ledger::snapshot::encode(&chain.ledger).expect("encodes");
    let read = plexus_ledger::snapshot::decode(&saved).expect("reads back");
    assert_eq!(read, chain.ledger);
    assert_eq!(read.state_root(), chain.ledger.state_root());

    // Both go on through an epoch and get the same roots.
    let mut restarted = Chain { ledger: read };
    let until = chain.ledger.state().subnets[&NET].last_epoch_block + 12;
    let roots = |outcomes: Vec<plexus_ledger::BlockOutcome>| -> Vec<_> {
        outcomes.into_iter().map(|o| o.state_root).collect()
    };
    assert_eq!(
        roots(restarted.advance_to(until)),
        roots(chain.advance_to(until))
    );

    assert!(plexus_ledger::snapshot::decode(&saved[..saved.len() - 1]).is_err());

    // A subnet's id is committed as its key: a state whose subnet says otherwise has
    // the same root, so reading it back refuses it.
    let mut state = chain.ledger.state().clone();
    state.subnets.get_mut(&NET).expect("the subnet").netuid = NetUid(NET.0 + 1);
    let doctored = plexus_ledger::Ledger::from_state(state);
    assert_eq!(doctored.state_root(), chain.ledger.state_root());
    let saved = plexus_ledger::snapshot::encode(&doctored).expect("encodes");
    assert!(plexus_ledger::snapshot::decode(&saved).is_err());
}
