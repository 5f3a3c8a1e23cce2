//! Random transaction sequences: the books always balance to the base unit
//! (issued = balances + pool reserves + burned; per subnet, alpha issued =
//! pool + stake + pot), a refused call changes nothing but its fee and
//! nonce, and the same blocks always give the same state roots.
//!
//! Validator bonds are in the mix too: the books count bonded and unbonding
//! tokens, and the validator set only ever changes at an epoch's last block
//! and is never empty.

#![allow(clippy::expect_used)]

mod common;

use common::{Chain, TOKEN, id, test_economics, with_fee_paid};
use plexus_ledger::Signatures;
use plexus_primitives::{Balance, Call, Hash, Hyperparameter, NetUid};
use proptest::prelude::*;

const COLD: [&str; 4] = ["c0", "c1", "c2", "c3"];
const HOT: [&str; 6] = ["h0", "h1", "h2", "h3", "h4", "h5"];
const VALIDATOR_KEYS: [&str; 3] = ["v0", "v1", "v2"];

#[derive(Clone, Debug)]
enum Action {
    Transfer {
        from: usize,
        to: usize,
        tokens: u64,
    },
    CreateSubnet {
        who: usize,
        hot: usize,
    },
    Register {
        who: usize,
        hot: usize,
        net: u16,
    },
    AddStake {
        who: usize,
        hot: usize,
        net: u16,
        tokens: u64,
    },
    RemoveStake {
        who: usize,
        hot: usize,
        net: u16,
        permille: u64,
    },
    SetWeights {
        hot: usize,
        net: u16,
        targets: Vec<(u16, u16)>,
    },
    SetTake {
        who: usize,
        hot: usize,
        take: u16,
    },
    Tempo {
        who: usize,
        net: u16,
        tempo: u16,
    },
    Commit {
        hot: usize,
        net: u16,
    },
    Advance {
        blocks: u64,
    },
    Bond {
        who: usize,
        key: usize,
        tokens: u64,
    },
    Unbond {
        who: usize,
        key: usize,
        permille: u64,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let who = 0..COLD.len();
    let hot = 0..HOT.len();
    prop_oneof![
        (who.clone(), 0..COLD.len() + 2, 0u64..20_000)
            .prop_map(|(from, to, tokens)| Action::Transfer { from, to, tokens }),
        (who.clone(), hot.clone()).prop_map(|(who, hot)| Action::CreateSubnet { who, hot }),
        (who.clone(), hot.clone(), 1u16..4).prop_map(|(who, hot, net)| Action::Register {
            who,
            hot,
            net
        }),
        (who.clone(), hot.clone(), 1u16..4, 0u64..3_000).prop_map(|(who, hot, net, tokens)| {
            Action::AddStake {
                who,
                hot,
                net,
                tokens,
            }
        }),
        (who.clone(), hot.clone(), 1u16..4, 0u64..=1_000).prop_map(|(who, hot, net, permille)| {
            Action::RemoveStake {
                who,
                hot,
                net,
                permille,
            }
        }),
        (
            hot.clone(),
            1u16..4,
            prop::collection::vec((0u16..8, any::<u16>()), 0..6)
        )
            .prop_map(|(hot, net, targets)| Action::SetWeights { hot, net, targets }),
        (who.clone(), hot.clone(), any::<u16>()).prop_map(|(who, hot, take)| Action::SetTake {
            who,
            hot,
            take
        }),
        (who.clone(), 1u16..4, 0u16..40).prop_map(|(who, net, tempo)| Action::Tempo {
            who,
            net,
            tempo
        }),
        (hot.clone(), 1u16..4).prop_map(|(hot, net)| Action::Commit { hot, net }),
        (1u64..25).prop_map(|blocks| Action::Advance { blocks }),
        (who.clone(), 0..VALIDATOR_KEYS.len(), 0u64..3_000)
            .prop_map(|(who, key, tokens)| { Action::Bond { who, key, tokens } }),
        (who.clone(), 0..VALIDATOR_KEYS.len(), 0u64..=1_000)
            .prop_map(|(who, key, permille)| Action::Unbond { who, key, permille }),
    ]
}

fn call_for(chain: &Chain, action: &Action) -> Option<(&'static str, Call)> {
    let names = |i: usize| if i < COLD.len() { COLD[i] } else { "outsider" };
    Some(match action {
        Action::Transfer { from, to, tokens } => (
            COLD[*from],
            Call::Transfer {
                to: id(names(*to)),
                amount: Balance::from_rao(tokens * TOKEN / 10),
            },
        ),
        Action::CreateSubnet { who, hot } => (
            COLD[*who],
            Call::CreateSubnet {
                owner_hotkey: id(HOT[*hot]),
                max_lock: Balance::from_rao(5_000 * TOKEN),
            },
        ),
        Action::Register { who, hot, net } => (
            COLD[*who],
            Call::Register {
                netuid: NetUid(*net),
                hotkey: id(HOT[*hot]),
                max_burn: Balance::from_rao(50 * TOKEN),
            },
        ),
        Action::AddStake {
            who,
            hot,
            net,
            tokens,
        } => (
            COLD[*who],
            Call::AddStake {
                netuid: NetUid(*net),
                hotkey: id(HOT[*hot]),
                amount: Balance::from_rao(tokens * TOKEN / 10),
                limit_price: None,
            },
        ),
        Action::RemoveStake {
            who,
            hot,
            net,
            permille,
        } => {
            let held = chain.stake(*net, HOT[*hot], COLD[*who]);
            let alpha = held * permille / 1_000;
            (
                COLD[*who],
                Call::RemoveStake {
                    netuid: NetUid(*net),
                    hotkey: id(HOT[*hot]),
                    alpha,
                    limit_price: None,
                },
            )
        }
        Action::SetWeights { hot, net, targets } => (
            HOT[*hot],
            Call::SetWeights {
                netuid: NetUid(*net),
                uids: targets.iter().map(|t| t.0).collect(),
                weights: targets.iter().map(|t| t.1).collect(),
                version_key: 0,
            },
        ),
        Action::SetTake { who, hot, take } => (
            COLD[*who],
            Call::SetTake {
                hotkey: id(HOT[*hot]),
                take: *take,
            },
        ),
        Action::Tempo { who, net, tempo } => (
            COLD[*who],
            Call::SetHyperparameter {
                netuid: NetUid(*net),
                param: Hyperparameter::Tempo(*tempo),
            },
        ),
        Action::Commit { hot, net } => (
            HOT[*hot],
            Call::CommitWeights {
                netuid: NetUid(*net),
                commit: Hash::of(&[*hot as u8]),
            },
        ),
        Action::Bond { who, key, tokens } => (
            COLD[*who],
            Call::BondValidator {
                consensus_key: id(VALIDATOR_KEYS[*key]),
                address: format!("{}:3000", VALIDATOR_KEYS[*key]),
                amount: Balance::from_rao(tokens * TOKEN / 10),
            },
        ),
        Action::Unbond { who, key, permille } => {
            let bonded = chain
                .ledger
                .state()
                .bonds
                .get(&id(VALIDATOR_KEYS[*key]))
                .map_or(0, |b| b.amount.rao());
            (
                COLD[*who],
                Call::UnbondValidator {
                    consensus_key: id(VALIDATOR_KEYS[*key]),
                    amount: Balance::from_rao(bonded * permille / 1_000),
                },
            )
        }
        Action::Advance { .. } => return None,
    })
}

fn economics() -> plexus_ledger::Economics {
    let mut e = test_economics();
    e.subnet_limit = 3;
    e.subnet_defaults.max_allowed_uids = 8;
    e.subnet_defaults.immunity_period = 5;
    e.validator_epoch_length = 8;
    e.max_validators = 2;
    e
}

/// Runs the actions, checking after each block that the books balance (the
/// harness does) and that a refused call only paid its fee. Returns the
/// state root after every block.
fn run(actions: &[Action]) -> Vec<Hash> {
    let names: Vec<&str> = COLD.iter().chain(HOT.iter()).copied().collect();
    let mut chain = Chain::new(&names, economics());
    let mut roots = Vec::new();
    let mut set = chain.ledger.state().validators.clone();
    let mut check_set = |chain: &Chain| {
        let state = chain.ledger.state();
        assert!(!state.validators.is_empty(), "empty validator set");
        assert!(state.validators.len() <= 2, "more than max_validators");
        if state.validators != set {
            assert_eq!(
                (state.height + 1) % 7,
                0,
                "the set changed at block {}, not an epoch's last",
                state.height
            );
            set = state.validators.clone();
        }
    };
    for action in actions {
        match call_for(&chain, action) {
            None => {
                if let Action::Advance { blocks } = action {
                    let to = chain.ledger.height() + blocks;
                    while chain.ledger.height() < to {
                        let out = chain.block(Vec::new());
                        check_set(&chain);
                        roots.push(out.state_root);
                    }
                }
            }
            Some((who, call)) => {
                let tx = chain.tx(who, call);
                let (signer, fee) = (tx.tx.signer, tx.tx.fee);
                let mut without = chain.ledger.clone();
                let out = chain.block(vec![tx]);
                if out.receipts[0].result.is_err() {
                    without
                        .apply_block(out.height, &[], Signatures::Verify)
                        .expect("height");
                    // Every transaction here has a valid envelope, so a refused
                    // call pays its fee and uses its nonce, and does nothing else.
                    assert!(out.receipts[0].charged);
                    assert_eq!(
                        chain.ledger.state(),
                        &with_fee_paid(without.state(), &signer, fee),
                        "refused {action:?} changed more than its fee and nonce"
                    );
                }
                check_set(&chain);
                roots.push(out.state_root);
            }
        }
    }
    // Whatever state the actions left, a node that saves it reads back the same one.
    let saved = plexus_ledger::snapshot::encode(&chain.ledger).expect("encodes");
    let read = plexus_ledger::snapshot::decode(&saved).expect("reads back");
    assert_eq!(read, chain.ledger, "the saved state reads back otherwise");
    roots
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn books_balance_refusals_only_pay_and_replays_agree(
        actions in prop::collection::vec(action(), 1..60),
    ) {
        let first = run(&actions);
        let second = run(&actions);
        prop_assert_eq!(first, second);
    }
}

#[test]
fn a_long_busy_life_keeps_the_books() {
    // A fixed, busy script: three subnets, many registrations, stake moving
    // in and out, weights and many epochs.
    let mut actions = Vec::new();
    for who in 0..3 {
        actions.push(Action::CreateSubnet { who, hot: who });
    }
    for round in 0..6u16 {
        for hot in 0..6 {
            let net = 1 + (hot as u16 + round) % 3;
            actions.push(Action::Register {
                who: hot % 4,
                hot,
                net,
            });
            actions.push(Action::AddStake {
                who: hot % 4,
                hot,
                net,
                tokens: 100 + 37 * u64::from(round),
            });
            actions.push(Action::SetWeights {
                hot,
                net,
                targets: vec![(0, 1), (1, 2), (2, 3), (3, 4)],
            });
        }
        actions.push(Action::Bond {
            who: usize::from(round) % 3,
            key: usize::from(round) % 3,
            tokens: 50 + u64::from(round),
        });
        actions.push(Action::Unbond {
            who: usize::from(round + 2) % 3,
            key: usize::from(round + 2) % 3,
            permille: 500,
        });
        actions.push(Action::Advance { blocks: 11 });
        for hot in 0..6 {
            actions.push(Action::RemoveStake {
                who: hot % 4,
                hot,
                net: 1 + hot as u16 % 3,
                permille: 300,
            });
        }
    }
    let roots = run(&actions);
    assert!(roots.len() > 100);
}
