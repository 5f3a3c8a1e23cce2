//! Chain validators by bond: bonding, the set changing at the epoch
//! boundary (and only there), unbonding paid back at the end of the epoch,
//! and the books counting bonded tokens.

#![allow(clippy::expect_used, clippy::panic)]

mod common;

use common::{Chain, TOKEN, balance, id, test_economics};
use plexus_ledger::{Economics, LedgerRules, TxError, ValidatorSeat};
use plexus_primitives::{AccountId, Balance, Call};

const EPOCH: u64 = 10;
/// The least bond for a seat in these tests, in tokens.
const MIN_BOND: u64 = 10;

/// Bond mechanics, under rules that seat bonds without heartbeats (the last
/// tests here are about heartbeats).
fn economics(max_validators: u16) -> Economics {
    Economics {
        validator_epoch_length: EPOCH,
        max_validators,
        min_validator_bond: balance(MIN_BOND),
        ledger_rules: LedgerRules::FAILED_CALLS_PAY,
        ..test_economics()
    }
}

/// Only bonds whose node sent a heartbeat in the choosing epoch are seated.
fn live_economics(max_validators: u16) -> Economics {
    Economics {
        ledger_rules: LedgerRules::LIVE_SEATS,
        ..economics(max_validators)
    }
}

/// The newest rules: as [`live_economics`], and bonds record the epoch they
/// were made in.
fn fresh_economics(max_validators: u16) -> Economics {
    Economics {
        ledger_rules: LedgerRules::FRESH_BONDS,
        ..economics(max_validators)
    }
}

fn candidates(chain: &Chain) -> Vec<AccountId> {
    plexus_ledger::validators::seat_candidates(chain.ledger.state())
        .iter()
        .map(|v| v.consensus_key)
        .collect()
}

fn bond(key: &str, tokens: u64) -> Call {
    Call::BondValidator {
        consensus_key: id(key),
        address: format!("{key}.example:3000"),
        amount: balance(tokens),
    }
}

fn unbond(key: &str, tokens: u64) -> Call {
    Call::UnbondValidator {
        consensus_key: id(key),
        amount: balance(tokens),
    }
}

fn keys(seats: &[ValidatorSeat]) -> Vec<AccountId> {
    seats.iter().map(|s| s.consensus_key).collect()
}

fn sorted(names: &[&str]) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = names.iter().map(|n| id(n)).collect();
    ids.sort();
    ids
}

#[test]
fn bond_join_at_the_boundary_then_unbond_and_leave() {
    let mut chain = Chain::new(&["alice", "bob", "carol"], economics(2));
    let genesis_set = vec![id("validator-node")];
    let fee = chain.ledger.state().economics.min_fee.rao();
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(
        (sets.epoch, sets.first_height, sets.last_height),
        (0, 0, EPOCH - 1)
    );
    assert_eq!(keys(&sets.current), genesis_set);
    assert_eq!(
        keys(&sets.next),
        genesis_set,
        "no bonds: the set stays as it is"
    );

    // Block 1: alice bonds v-a; the set does not move before the boundary.
    let before = chain.balance("alice");
    chain.ok("alice", bond("v-a", 100));
    assert_eq!(chain.balance("alice"), before - 100 * TOKEN - fee);
    chain.ok("bob", bond("v-b", 300));
    chain.ok("carol", bond("v-c", 200));
    // alice adds to her bond; bob may not touch it.
    chain.ok("alice", bond("v-a", 50));
    assert_eq!(
        chain.send("bob", bond("v-a", 1)),
        Err(TxError::BondOwnedByAnother(id("v-a")))
    );
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(keys(&sets.current), genesis_set);
    assert_eq!(
        keys(&sets.next),
        sorted(&["v-b", "v-c"]),
        "top two bonds by amount"
    );
    let seat = sets
        .next
        .iter()
        .find(|s| s.consensus_key == id("v-b"))
        .expect("v-b seated");
    assert_eq!(seat.bond, balance(300));
    assert_eq!(seat.address.as_deref(), Some("v-b.example:3000"));

    // The boundary: the last block of epoch 0 chooses epoch 1's set.
    chain.advance_to(EPOCH - 2);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        genesis_set
    );
    chain.advance_to(EPOCH - 1);
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(sets.epoch, 1);
    assert_eq!(
        (sets.first_height, sets.last_height),
        (EPOCH, 2 * EPOCH - 1)
    );
    assert_eq!(keys(&sets.current), sorted(&["v-b", "v-c"]));

    // carol unbonds everything mid-epoch: v-c keeps its seat until the
    // boundary, its tokens stay locked until then, and v-a takes its place.
    let carol = chain.balance("carol");
    chain.ok("carol", unbond("v-c", 200));
    assert_eq!(chain.balance("carol"), carol - fee);
    assert_eq!(
        chain.send("carol", unbond("v-c", 1)),
        Err(TxError::InsufficientBond {
            requested: balance(1),
            available: Balance::ZERO
        })
    );
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(keys(&sets.current), sorted(&["v-b", "v-c"]));
    assert_eq!(keys(&sets.next), sorted(&["v-a", "v-b"]));
    chain.advance_to(2 * EPOCH - 2);
    assert_eq!(
        chain.balance("carol"),
        carol - 2 * fee,
        "still locked (the refused unbond cost its fee)"
    );
    chain.advance_to(2 * EPOCH - 1);
    assert_eq!(
        chain.balance("carol"),
        carol - 2 * fee + 200 * TOKEN,
        "paid back"
    );
    assert!(!chain.ledger.state().bonds.contains_key(&id("v-c")));
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        sorted(&["v-a", "v-b"])
    );

    // Everyone leaves: the set never empties, it stays as it was.
    chain.ok("alice", unbond("v-a", 150));
    chain.ok("bob", unbond("v-b", 300));
    chain.advance_to(3 * EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        sorted(&["v-a", "v-b"])
    );
    assert!(chain.ledger.state().bonds.is_empty());
}

#[test]
fn ties_go_to_the_smaller_key_and_refusals_change_no_seat() {
    let mut chain = Chain::new(&["alice", "bob", "carol"], economics(1));
    chain.ok("alice", bond("v-a", 100));
    chain.ok("bob", bond("v-b", 100));
    let expected = sorted(&["v-a", "v-b"])[0];
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().next),
        vec![expected]
    );

    // Each refusal pays its fee, so the one about carol's balance comes first.
    let refusals = [
        (
            "carol",
            bond("v-c", 1_000_000),
            TxError::InsufficientBalance {
                needed: balance(1_000_000),
                available: Balance::from_rao(
                    chain.balance("carol") - chain.ledger.state().economics.min_fee.rao(),
                ),
            },
        ),
        (
            "carol",
            Call::BondValidator {
                consensus_key: id("v-c"),
                address: String::new(),
                amount: balance(1),
            },
            TxError::InvalidValidatorAddress,
        ),
        (
            "carol",
            Call::BondValidator {
                consensus_key: id("v-c"),
                address: "x".repeat(65),
                amount: balance(1),
            },
            TxError::InvalidValidatorAddress,
        ),
        (
            "carol",
            Call::BondValidator {
                consensus_key: AccountId([0; 32]),
                address: "x.example:1".into(),
                amount: balance(1),
            },
            TxError::InvalidConsensusKey(AccountId([0; 32])),
        ),
        ("carol", bond("v-c", 0), TxError::ZeroAmount),
        ("carol", unbond("v-c", 1), TxError::NoBond(id("v-c"))),
        (
            "carol",
            unbond("v-a", 1),
            TxError::BondOwnedByAnother(id("v-a")),
        ),
        ("alice", unbond("v-a", 0), TxError::ZeroAmount),
    ];
    for (who, call, expected) in refusals {
        assert_eq!(chain.send(who, call), Err(expected));
    }
}

#[test]
fn genesis_refuses_bad_validator_parameters() {
    use plexus_ledger::{Genesis, GenesisError, GenesisValidator};
    use plexus_primitives::ChainId;
    let validator = |name: &str| GenesisValidator {
        consensus_key: id(name),
        address: None,
    };
    let genesis = |economics: Economics, validators: Vec<GenesisValidator>| Genesis {
        bonds: Vec::new(),
        chain_id: ChainId::new("plexus-test").expect("chain id"),
        balances: Vec::new(),
        validators,
        economics,
    };
    assert!(matches!(
        genesis(economics(4), vec![validator("a"), validator("a")]).validate(),
        Err(GenesisError::DuplicateValidator(_))
    ));
    let mut e = economics(4);
    e.validator_epoch_length = 1;
    assert!(matches!(
        genesis(e, vec![validator("a")]).validate(),
        Err(GenesisError::InvalidEconomics(_))
    ));
    assert!(matches!(
        genesis(economics(0), vec![validator("a")]).validate(),
        Err(GenesisError::InvalidEconomics(_))
    ));
    // Where seats need heartbeats, an epoch must leave them time to land.
    let short = |ledger_rules| Economics {
        validator_epoch_length: 7,
        ledger_rules,
        ..economics(4)
    };
    assert!(matches!(
        genesis(short(LedgerRules::LIVE_SEATS), vec![validator("a")]).validate(),
        Err(GenesisError::InvalidEconomics(why)) if why.contains("heartbeats")
    ));
    assert!(
        genesis(short(LedgerRules::FAILED_CALLS_PAY), vec![validator("a")])
            .validate()
            .is_ok()
    );
}

#[test]
fn bonds_are_in_the_state_root() {
    let mut a = Chain::new(&["alice"], economics(4));
    let mut b = Chain::new(&["alice"], economics(4));
    let ra = {
        a.ok("alice", bond("v-a", 10));
        a.ledger.state_root()
    };
    let rb = {
        b.ok("alice", bond("v-b", 10));
        b.ledger.state_root()
    };
    assert_ne!(ra, rb);
    let key = plexus_ledger::commitment::bond_key(&id("v-a"));
    let (value, proof) = plexus_ledger::commitment::prove(a.ledger.state(), &key).expect("proof");
    let value = value.expect("bond leaf");
    assert!(proof.verify_member(&ra, &key, &value).is_ok());

    // Under FRESH_BONDS the leaf also holds the epoch the bond was made in and
    // the heartbeat as an option: 8 + 1 bytes more than a bond with no
    // heartbeat under older rules.
    let mut fresh = Chain::new(&["alice"], fresh_economics(4));
    fresh.ok("alice", bond("v-a", 10));
    let root = fresh.ledger.state_root();
    let (fresh_value, proof) =
        plexus_ledger::commitment::prove(fresh.ledger.state(), &key).expect("proof");
    let fresh_value = fresh_value.expect("bond leaf");
    assert!(proof.verify_member(&root, &key, &fresh_value).is_ok());
    assert_eq!(fresh_value.len(), value.len() + 9);
    assert!(fresh_value.starts_with(&value));
}

/// A genesis whose two validators are bonded from the start, owned by alice.
#[test]
fn a_seat_needs_the_minimum_bond() {
    let mut chain = Chain::new(&["alice", "bob"], economics(4));
    let before = chain.balance("alice");
    assert_eq!(
        chain.send("alice", bond("v-a", MIN_BOND - 1)),
        Err(TxError::BondBelowMinimum {
            min: balance(MIN_BOND),
            bond: balance(MIN_BOND - 1),
        })
    );
    let fee = chain.ledger.state().economics.min_fee.rao();
    assert_eq!(
        chain.balance("alice"),
        before - fee,
        "a refusal costs its fee and nothing more"
    );
    assert!(chain.ledger.state().bonds.is_empty());

    chain.ok("alice", bond("v-a", MIN_BOND));
    chain.ok("bob", bond("v-b", 2 * MIN_BOND));
    // A top-up counts the bond as a whole.
    chain.ok("alice", bond("v-a", 1));
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().next),
        sorted(&["v-a", "v-b"])
    );
    // Unbonding below the minimum is allowed, but the rest no longer earns a seat.
    chain.ok("alice", unbond("v-a", 2));
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().next),
        vec![id("v-b")]
    );
    chain.advance_to(EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-b")]
    );
}

fn bonded_genesis() -> plexus_ledger::Genesis {
    use plexus_ledger::{Genesis, GenesisBalance, GenesisBond, GenesisValidator};
    let names = ["v-1", "v-2"];
    Genesis {
        chain_id: plexus_primitives::ChainId::new("plexus-test").expect("chain id"),
        balances: ["alice", "bob"]
            .iter()
            .map(|n| GenesisBalance {
                account: id(n),
                balance: balance(10_000),
            })
            .collect(),
        validators: names
            .iter()
            .map(|n| GenesisValidator {
                consensus_key: id(n),
                address: Some(format!("{n}.example:3000")),
            })
            .collect(),
        bonds: names
            .iter()
            .map(|n| GenesisBond {
                consensus_key: id(n),
                owner: id("alice"),
                address: format!("{n}.example:3000"),
                amount: balance(500),
            })
            .collect(),
        economics: economics(4),
    }
}

#[test]
fn genesis_bonds_keep_the_genesis_validators_seated_when_others_bond() {
    let mut chain = Chain {
        ledger: plexus_ledger::Ledger::from_genesis(&bonded_genesis()).expect("valid genesis"),
    };
    // Genesis bonds are issued tokens, counted in the books.
    let state = chain.ledger.state();
    assert!(state.check_books().is_ok());
    assert_eq!(
        u128::from(state.totals.issued),
        2 * 10_000 * u128::from(TOKEN) + state.bonded()
    );
    assert_eq!(state.bonded(), 2 * 500 * u128::from(TOKEN));

    // bob bonds a third key: the next set is all three, not bob's alone.
    chain.ok("bob", bond("v-3", 100));
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().next),
        sorted(&["v-1", "v-2", "v-3"])
    );
    // alice owns the genesis bonds: she may unbond one, bob may not.
    assert_eq!(
        chain.send("bob", unbond("v-1", 1)),
        Err(TxError::BondOwnedByAnother(id("v-1")))
    );
    let before = chain.balance("alice");
    chain.ok("alice", unbond("v-2", 500));
    let fee = chain.ledger.state().economics.min_fee.rao();
    chain.advance_to(EPOCH - 1);
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(keys(&sets.current), sorted(&["v-1", "v-3"]));
    assert_eq!(chain.balance("alice"), before - fee + 500 * TOKEN);
    assert!(chain.ledger.state().check_books().is_ok());
}

#[test]
fn genesis_refuses_bad_bonds() {
    use plexus_ledger::GenesisError;
    let refused = |change: &dyn Fn(&mut plexus_ledger::Genesis)| {
        let mut genesis = bonded_genesis();
        change(&mut genesis);
        genesis.validate()
    };
    assert!(refused(&|_| {}).is_ok());
    assert!(matches!(
        refused(&|g| g.bonds[1].consensus_key = g.bonds[0].consensus_key),
        Err(GenesisError::InvalidBond(_, "bonded twice"))
    ));
    assert!(matches!(
        refused(&|g| g.bonds[0].amount = Balance::ZERO),
        Err(GenesisError::InvalidBond(_, "zero amount"))
    ));
    assert!(matches!(
        refused(&|g| g.bonds[0].amount = balance(MIN_BOND - 1)),
        Err(GenesisError::InvalidBond(
            _,
            "below the economics' min_validator_bond"
        ))
    ));
    assert!(matches!(
        refused(&|g| g.bonds[0].address.clear()),
        Err(GenesisError::InvalidBond(_, _))
    ));
    assert!(matches!(
        refused(&|g| g.bonds[0].amount = g.economics.supply_cap),
        Err(GenesisError::AboveSupplyCap)
    ));
    assert!(matches!(
        refused(&|g| g.bonds[0].consensus_key = AccountId([0; 32])),
        Err(GenesisError::InvalidConsensusKey(_))
    ));
    assert!(matches!(
        refused(&|g| g.validators[0].consensus_key = AccountId([0; 32])),
        Err(GenesisError::InvalidConsensusKey(_))
    ));
}

#[test]
fn only_bonds_whose_nodes_send_heartbeats_are_seated() {
    let mut chain = Chain::new(&["alice", "bob"], live_economics(4));
    chain.ok("alice", bond("v-a", 100));
    chain.ok("bob", bond("v-b", 100));
    let next = |chain: &Chain| keys(&chain.ledger.state().validator_sets().next);
    // Bonded, but no node has said it runs: the set would stay as it is. Both are
    // candidates, whose nodes validators let follow the chain so they can say so.
    assert_eq!(next(&chain), vec![id("validator-node")]);
    let candidates: Vec<AccountId> =
        plexus_ledger::validators::seat_candidates(chain.ledger.state())
            .iter()
            .map(|v| v.consensus_key)
            .collect();
    assert_eq!(candidates, sorted(&["v-a", "v-b"]));

    let receipt = chain.beat("v-a");
    assert_eq!((receipt.result, receipt.charged), (Ok(()), true));
    assert_eq!(next(&chain), vec![id("v-a")]);
    assert_eq!(
        chain.ledger.state().validator_sets().next[0].heartbeat,
        Some(0)
    );
    assert_eq!(chain.balance("v-a"), 0, "a heartbeat is free");

    // Heartbeats that fail are refused outright: they pay no fee, so no block may
    // carry them.
    let nonce = |chain: &Chain, who: &str| chain.ledger.state().account(&id(who)).nonce;
    let before = nonce(&chain, "v-a");
    let twice = chain.beat("v-a");
    assert_eq!(twice.result, Err(TxError::HeartbeatAlreadySent(id("v-a"))));
    assert!(!twice.charged);
    assert_eq!(nonce(&chain, "v-a"), before);
    let unbonded = chain.beat("v-c");
    assert_eq!(unbonded.result, Err(TxError::NoBond(id("v-c"))));
    assert!(!unbonded.charged);
    let other_epoch = chain.heartbeat_tx("v-b", 1);
    let receipt = chain.block(vec![other_epoch]).receipts.remove(0);
    assert_eq!(
        receipt.result,
        Err(TxError::HeartbeatWrongEpoch {
            expected: 0,
            got: 1
        })
    );
    assert!(!receipt.charged);
    // The mempool's admission says the same.
    let again = chain.heartbeat_tx("v-a", 0);
    assert_eq!(
        chain.ledger.precheck(&again),
        Err(TxError::HeartbeatAlreadySent(id("v-a")))
    );

    chain.advance_to(EPOCH - 1);
    let sets = chain.ledger.state().validator_sets();
    assert_eq!(keys(&sets.current), vec![id("v-a")]);

    // In epoch 1 only v-b's node beats: v-a's stopped, and its seat goes to v-b.
    assert_eq!(chain.beat("v-b").result, Ok(()));
    chain.advance_to(2 * EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-b")]
    );
    // No heartbeat at all in epoch 2: no bond counts, and the set stays.
    chain.advance_to(3 * EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-b")]
    );
}

#[test]
fn bonds_whose_nodes_do_not_run_cannot_crowd_running_ones_out_of_the_candidates() {
    // One seat, so two candidates. v-small's node runs; no node holds the
    // whales' keys.
    let mut chain = Chain::new(&["alice", "whale"], live_economics(1));
    chain.ok("alice", bond("v-small", 20));
    assert_eq!(chain.beat("v-small").result, Ok(()));
    chain.ok("whale", bond("v-whale-1", 1_000));
    chain.ok("whale", bond("v-whale-2", 900));
    assert_eq!(candidates(&chain), sorted(&["v-small", "v-whale-1"]));
    // RPC shows the same candidates, with their bonds and heartbeats.
    let shown = chain.ledger.state().validator_sets().candidates;
    assert_eq!(keys(&shown), candidates(&chain));
    assert!(
        shown
            .iter()
            .any(|c| c.heartbeat == Some(0) && c.bond == balance(20))
    );
    chain.advance_to(EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-small")]
    );

    // A heartbeat counts for the epoch it was sent in and the next, so a node
    // that beats at any point of each epoch stays a candidate throughout.
    chain.advance_to(2 * EPOCH - 2);
    assert_eq!(candidates(&chain), sorted(&["v-small", "v-whale-1"]));
    assert_eq!(chain.beat("v-small").result, Ok(()));
    chain.advance_to(3 * EPOCH - 2);
    assert_eq!(candidates(&chain), sorted(&["v-small", "v-whale-1"]));
    // It stops: two epochs without a heartbeat, and it ranks by size alone.
    chain.advance_to(3 * EPOCH);
    assert_eq!(candidates(&chain), sorted(&["v-whale-1", "v-whale-2"]));
    // Under rules that take no heartbeats, the largest bonds.
    let mut old = Chain::new(&["alice", "whale"], economics(1));
    old.ok("alice", bond("v-small", 20));
    old.ok("whale", bond("v-whale-1", 1_000));
    old.ok("whale", bond("v-whale-2", 900));
    assert_eq!(candidates(&old), sorted(&["v-whale-1", "v-whale-2"]));
}

#[test]
fn rules_without_heartbeats_refuse_them_outright() {
    let mut chain = Chain::new(&["alice"], economics(4));
    chain.ok("alice", bond("v-a", 100));
    // Free or paid, a heartbeat is not even a transaction there: no block may
    // carry one, so nodes of builds that predate heartbeats can follow.
    let receipt = chain.beat("v-a");
    assert_eq!(receipt.result, Err(TxError::HeartbeatsNotInUse));
    assert!(!receipt.charged);
    let paid = chain.tx("alice", Call::Heartbeat { epoch: 0 });
    assert_eq!(
        chain.ledger.precheck(&paid),
        Err(TxError::HeartbeatsNotInUse)
    );
    let receipt = chain.block(vec![paid]).receipts.remove(0);
    assert_eq!(
        (receipt.result, receipt.charged),
        (Err(TxError::HeartbeatsNotInUse), false)
    );
    chain.advance_to(EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-a")],
        "seated without a heartbeat"
    );
}

#[test]
fn a_new_bond_is_a_candidate_before_older_bonds_whose_nodes_never_ran() {
    // One seat, so two candidates. No node holds the whales' keys; they bond
    // in epoch 0.
    let run = |economics: Economics| {
        let mut chain = Chain::new(&["alice", "whale"], economics);
        chain.ok("whale", bond("v-whale-1", 1_000));
        chain.ok("whale", bond("v-whale-2", 900));
        assert_eq!(candidates(&chain), sorted(&["v-whale-1", "v-whale-2"]));
        // A small bond made in epoch 1: its node cannot have sent a heartbeat
        // yet, and validators accept only candidates' connections.
        chain.advance_to(EPOCH);
        chain.ok("alice", bond("v-small", 20));
        chain
    };
    let mut chain = run(fresh_economics(1));
    assert_eq!(
        chain.ledger.state().bonds[&id("v-small")].bonded_in,
        Some(1)
    );
    assert_eq!(candidates(&chain), sorted(&["v-small", "v-whale-1"]));
    // The validator sets the RPC serves show the epochs they rank by.
    for seat in chain.ledger.state().validator_sets().candidates {
        let made_in = if seat.consensus_key == id("v-small") {
            1
        } else {
            0
        };
        assert_eq!(seat.bonded_in, Some(made_in));
    }
    // In rank order, which a node with room for only some candidates keeps:
    // the newest first.
    let ranked: Vec<AccountId> =
        plexus_ledger::validators::ranked_seat_candidates(chain.ledger.state())
            .iter()
            .map(|v| v.consensus_key)
            .collect();
    assert_eq!(ranked, vec![id("v-small"), id("v-whale-1")]);
    // Its node follows the chain, beats, and is seated at the boundary.
    assert_eq!(chain.beat("v-small").result, Ok(()));
    chain.advance_to(2 * EPOCH - 1);
    assert_eq!(
        keys(&chain.ledger.state().validator_sets().current),
        vec![id("v-small")]
    );

    // Under LIVE_SEATS the whales outrank it by size, and it never gets in.
    let chain = run(live_economics(1));
    assert_eq!(chain.ledger.state().bonds[&id("v-small")].bonded_in, None);
    assert_eq!(candidates(&chain), sorted(&["v-whale-1", "v-whale-2"]));
    let sets = chain.ledger.state().validator_sets();
    assert!(sets.candidates.iter().all(|c| c.bonded_in.is_none()));
}

#[test]
fn chains_under_rules_2_replay_to_the_roots_they_had() {
    // Bonds, a top-up, heartbeats and an epoch's end under LIVE_SEATS, whose
    // bond leaves take no epoch: the root is the one the build before
    // FRESH_BONDS (daeaa05) computed for the same blocks.
    let mut chain = Chain::new(&["alice", "whale"], live_economics(2));
    chain.ok("alice", bond("v-a", 20));
    chain.ok("whale", bond("v-b", 30));
    assert_eq!(chain.beat("v-a").result, Ok(()));
    chain.advance_to(EPOCH + 2);
    chain.ok("whale", bond("v-b", 5));
    assert_eq!(chain.beat("v-a").result, Ok(()));
    assert_eq!(chain.ledger.state().bonds[&id("v-a")].bonded_in, None);
    assert_eq!(
        chain.ledger.state_root().to_string(),
        "ae539ff1ac9c690f44d52550459f300a4948d42194cf0dab82aaa6282b1873a0"
    );
}
