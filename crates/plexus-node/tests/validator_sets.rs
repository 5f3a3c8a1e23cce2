//! Deterministic simulation of a validator-set change: four genesis
//! validators; a fifth node bonds during epoch 0 (submitting the bond to its
//! own node, a peer of the validators as one listed in their node.toml is,
//! whose gossip carries it to the proposers) and follows the chain as a
//! non-validator, while one genesis validator bonds and unbonds again, and
//! the largest bond of all goes to a key no node runs. At the boundary the
//! fifth joins (its own simplex engine for epoch 1, seated because its node
//! sent a heartbeat), the unbonded one leaves and the dead key takes no seat; the chain keeps finalizing across the boundary
//! and every validator agrees on blocks and state roots. Several seeds,
//! twice per seed, with identical results. A second scenario restarts
//! validators in epoch 1 from saved states: one saved at epoch 0's last block,
//! one saved inside epoch 1.

#![allow(clippy::unwrap_used, clippy::panic)] // helpers of a test fail loudly

mod common;

use common::{Recorder, channels, timeouts, wait_for};
use std::time::Duration;

use commonware_p2p::simulated::{self, Link, Network};
use commonware_runtime::{
    Clock as _, Handle, Runner as _, Spawner as _, Storage as _, Supervisor as _, deterministic,
};
use commonware_utils::NZUsize;
use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisValidator, Ledger};
use plexus_node::consensus::checkpoint::{
    Checkpoint, CheckpointError, CheckpointSource, Published,
};
use plexus_node::consensus::{
    self, PublicKey, SnapshotPolicy, ValidatorConfig, epochs::ManagedPeers,
    run_validator_with_peer_sets,
};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_primitives::{AccountId, Balance, Call, ChainId, Hash, Keypair, Transaction};

/// Nodes: 0..4 are the genesis validators, 4 joins at epoch 1.
const NODES: usize = 5;
const GENESIS_VALIDATORS: usize = 4;
const JOINER: usize = 4;
const LEAVER: usize = 0;
/// A key bonded for, that no node runs.
const DEAD: usize = 5;
const EPOCH: u64 = 16;
const SEEDS: [u64; 3] = [3, 11, 29];

fn node_key(i: usize) -> Keypair {
    Keypair::from_seed([30 + i as u8; 32])
}

fn chain_id() -> ChainId {
    ChainId::new("plexus-sets").unwrap()
}

fn address(i: usize) -> String {
    format!("10.0.0.{i}:3000")
}

fn genesis() -> Ledger {
    let genesis = Genesis {
        bonds: Vec::new(),
        chain_id: chain_id(),
        // Every node's key is also its operator's account.
        balances: (0..NODES)
            .map(|i| GenesisBalance {
                account: node_key(i).account_id(),
                balance: Balance::from_rao(1_000 * Balance::UNIT.rao()),
            })
            .collect(),
        validators: (0..GENESIS_VALIDATORS)
            .map(|i| GenesisValidator {
                consensus_key: node_key(i).account_id(),
                address: Some(address(i)),
            })
            .collect(),
        economics: Economics {
            validator_epoch_length: EPOCH,
            max_validators: 4,
            min_validator_bond: Balance::from_rao(100 * Balance::UNIT.rao()),
            ..Economics::default()
        },
    };
    Ledger::from_genesis(&genesis).unwrap()
}

/// Nodes 1..=4 bond; node 0 bonds and then unbonds everything.
fn bonds(ledger: &Ledger) -> Vec<plexus_primitives::SignedTransaction> {
    let fee = ledger.state().economics.min_fee;
    let tx = |i: usize, nonce: u64, call: Call| {
        Transaction {
            chain_id: chain_id(),
            signer: node_key(i).account_id(),
            nonce,
            fee,
            call,
        }
        .sign(&node_key(i))
    };
    let bond = |i: usize| Call::BondValidator {
        consensus_key: node_key(i).account_id(),
        address: address(i),
        amount: Balance::from_rao((100 + i as u64) * Balance::UNIT.rao()),
    };
    let mut txs: Vec<_> = (0..NODES).map(|i| tx(i, 0, bond(i))).collect();
    // The largest bond of all, for a key no node runs: it sends no heartbeat, so
    // it takes no seat (else node 1 would lose its seat to a dead one).
    txs.push(tx(
        1,
        1,
        Call::BondValidator {
            consensus_key: node_key(DEAD).account_id(),
            address: address(DEAD),
            amount: Balance::from_rao(200 * Balance::UNIT.rao()),
        },
    ));
    txs.push(tx(
        LEAVER,
        1,
        Call::UnbondValidator {
            consensus_key: node_key(LEAVER).account_id(),
            amount: Balance::from_rao(100 * Balance::UNIT.rao()),
        },
    ));
    txs
}

#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    chains: Vec<Vec<(u64, Hash, Hash, AccountId)>>,
    /// How long each restarted node took to reach the height the others had
    /// when it started again (simulated time).
    catch_ups: Vec<Duration>,
    audit: String,
}

/// A validator stopped once the chain reaches `at` and started again from its
/// storage once the others are `away` blocks further, having saved its state
/// every `every` heights; it must start from a saved state at a height in `from`.
#[derive(Clone, Debug)]
struct Restart {
    node: usize,
    every: u64,
    at: u64,
    away: u64,
    from: std::ops::RangeInclusive<u64>,
}

/// Node `i`'s configuration, its storage partitions named after `prefix`.
fn node_config(
    ledger: &Ledger,
    i: usize,
    prefix: String,
    snapshots: SnapshotPolicy,
) -> ValidatorConfig {
    let mut config = ValidatorConfig::new(ledger.clone(), node_key(i), prefix);
    config.timeouts = timeouts();
    config.snapshots = snapshots;
    config
}

/// Starts the node of `config`'s key as its own task.
fn start(
    context: &deterministic::Context,
    oracle: &simulated::Oracle<PublicKey, deterministic::Context>,
    config: ValidatorConfig,
    channels: common::SimChannels,
    mempool: &SharedMempool,
    recorder: &Recorder,
) -> Handle<()> {
    let key = consensus::public_key(&config.key.account_id()).unwrap();
    let (manager, blocker) = (oracle.manager(), oracle.control(key));
    let tracker = ManagedPeers::new(oracle.manager());
    let (pool, sink) = (mempool.clone(), recorder.clone());
    context
        .child("node")
        .with_attribute("prefix", config.partition_prefix.clone())
        .spawn(move |ctx| async move {
            run_validator_with_peer_sets(
                ctx, config, channels, manager, blocker, tracker, pool, sink,
            )
            .await
            .unwrap();
        })
}

fn simulate(seed: u64, target: u64) -> Outcome {
    simulate_with(seed, target, &[])
}

/// The five nodes running, the bonds submitted, every pair of nodes linked.
struct Sim {
    oracle: simulated::Oracle<PublicKey, deterministic::Context>,
    ledger: Ledger,
    keys: Vec<PublicKey>,
    recorders: Vec<Recorder>,
    mempools: Vec<SharedMempool>,
    handles: Vec<Handle<()>>,
}

/// Starts the five nodes, node `i` saving states as `policy(i)` says.
async fn launch(context: &deterministic::Context, policy: impl Fn(usize) -> SnapshotPolicy) -> Sim {
    let ledger = genesis();
    let keys: Vec<PublicKey> = (0..NODES)
        .map(|i| consensus::public_key(&node_key(i).account_id()).unwrap())
        .collect();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: consensus::max_message_size(NODES as u32),
            max_peers_per_set: NZUsize!(2 * NODES),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(2),
        },
        keys.clone(),
    )
    .await;
    network.start();

    let mut recorders = Vec::new();
    let mut mempools = Vec::new();
    let mut handles = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let channels = channels(&oracle, key).await;
        let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        let recorder = Recorder::default();
        let config = node_config(&ledger, i, format!("n{i}"), policy(i));
        handles.push(start(
            context, &oracle, config, channels, &mempool, &recorder,
        ));
        recorders.push(recorder);
        mempools.push(mempool);
    }
    let link = Link {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        success_rate: commonware_utils::probability!(1.0),
    };
    for a in &keys {
        for b in &keys {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .unwrap();
            }
        }
    }

    // The joiner's bond is submitted to the joiner's own node alone, which
    // proposes nothing in epoch 0: it reaches the validators by gossip.
    for tx in bonds(&ledger) {
        if tx.tx.signer == node_key(JOINER).account_id() {
            mempools[JOINER].submit(tx, &ledger).unwrap();
            continue;
        }
        for mempool in &mempools {
            mempool.lock().insert(tx.clone(), &ledger).unwrap();
        }
    }
    Sim {
        oracle,
        ledger,
        keys,
        recorders,
        mempools,
        handles,
    }
}

/// Runs `scenario` under `seed` on the five nodes, launched saving states as
/// nodes do by default.
fn with_sim(seed: u64, scenario: impl AsyncFnOnce(deterministic::Context, Sim)) {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(config).start(|context| async move {
        let sim = launch(&context, |_| SnapshotPolicy::default()).await;
        scenario(context, sim).await;
    });
}

fn simulate_with(seed: u64, target: u64, restarts: &[Restart]) -> Outcome {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(config).start(|context| async move {
        let policy = |i: usize| match restarts.iter().find(|r| r.node == i) {
            Some(r) => SnapshotPolicy {
                every: std::num::NonZeroU64::new(r.every).unwrap(),
            },
            None => SnapshotPolicy::default(),
        };
        let Sim {
            oracle,
            ledger,
            keys,
            mut recorders,
            mempools,
            mut handles,
        } = launch(&context, policy).await;

        // Each restarted node's recorder after its restart.
        let mut restarted = Vec::new();
        let mut catch_ups = Vec::new();
        for restart in restarts {
            let i = restart.node;
            wait_for(&context, &[&recorders[i]], restart.at).await;
            handles[i].abort();
            let stopped = recorders[i].height();
            let others: Vec<Recorder> = (0..NODES)
                .filter(|n| *n != LEAVER && *n != i)
                .map(|n| recorders[n].clone())
                .collect();
            let others: Vec<&Recorder> = others.iter().collect();
            wait_for(&context, &others, stopped + restart.away).await;
            let stayed = others.iter().map(|r| r.height()).max().unwrap_or(0);
            let restarted_at = context.current();
            let recorder = Recorder::default();
            let channels = channels(&oracle, &keys[i]).await;
            let config = node_config(&ledger, i, format!("n{i}"), policy(i));
            handles[i] = start(&context, &oracle, config, channels, &mempools[i], &recorder);
            // Caught up before the next one stops: two of four down would halt the chain.
            wait_for(&context, &[&recorder], stayed).await;
            catch_ups.push(context.current().duration_since(restarted_at).unwrap());
            recorders[i] = recorder.clone();
            restarted.push((restart, recorder, stayed));
        }
        // The stayers that ran throughout.
        let stayers: Vec<&Recorder> = (0..NODES)
            .filter(|n| *n != LEAVER && restarts.iter().all(|r| r.node != *n))
            .map(|n| &recorders[n])
            .collect();
        wait_for(&context, &stayers, target).await;
        for (restart, recorder, stayed) in &restarted {
            wait_for(&context, &[recorder], target).await;
            // Started from a saved state: re-executed from the block after it, and on
            // the others' chain from there.
            let resumed = recorder.chain();
            let saved = resumed[0].0 - 1;
            assert!(
                restart.from.contains(&saved),
                "{restart:?} started at {saved}"
            );
            assert_eq!(saved % restart.every, 0, "{restart:?}");
            let ours = stayers[0].chain();
            assert_eq!(
                resumed[..(target - saved) as usize],
                ours[saved as usize..target as usize],
                "{restart:?}"
            );
            // Still seated, it proposes again in the epoch it restarted into (its
            // engine is back in that epoch's consensus, not only following it).
            let end = (stayed / EPOCH + 1) * EPOCH - 1;
            let me = node_key(restart.node).account_id();
            let proposed: Vec<u64> = ours
                .iter()
                .filter(|c| c.0 > *stayed && c.0 <= end && c.3 == me)
                .map(|c| c.0)
                .collect();
            // (Away a whole epoch, it sent no heartbeat and lost its seat.)
            assert!(
                restart.away >= EPOCH || !proposed.is_empty(),
                "{restart:?}: no block of its between {stayed} and {end}"
            );
        }
        let chains: Vec<_> = stayers
            .iter()
            .map(|r| {
                r.chain()
                    .into_iter()
                    .take(target as usize)
                    .collect::<Vec<_>>()
            })
            .collect();
        check(&chains, &stayers, &recorders[LEAVER], target);
        // In the target's epoch, the consensus journals of epochs two or more
        // back are pruned; the previous epoch's is kept. (A node away for a
        // whole epoch sent no heartbeats, lost its seat, and runs no engine.)
        let newest = target / EPOCH;
        let seated = |i: &usize| restarts.iter().all(|r| r.node != *i || r.away < EPOCH);
        for i in (0..NODES).filter(|i| *i != LEAVER && *i != JOINER && seated(i)) {
            let journal = |epoch| consensus::simplex_partition(&format!("n{i}"), epoch);
            for old in 0..newest - 1 {
                let pruned = context.scan(&journal(old)).await;
                assert!(
                    pruned.is_err() || pruned.is_ok_and(|b| b.is_empty()),
                    "node {i}, epoch {old}"
                );
            }
            assert!(
                !context.scan(&journal(newest - 1)).await.unwrap().is_empty(),
                "node {i}"
            );
        }
        Outcome {
            chains,
            catch_ups,
            audit: context.auditor().state(),
        }
    })
}

fn check(
    chains: &[Vec<(u64, Hash, Hash, AccountId)>],
    stayers: &[&Recorder],
    leaver: &Recorder,
    target: u64,
) {
    for chain in chains {
        let heights: Vec<u64> = chain.iter().map(|c| c.0).collect();
        assert_eq!(heights, (1..=target).collect::<Vec<_>>());
        assert_eq!(chain, &chains[0], "nodes disagree");
    }
    // The leaver agrees on everything it finalized.
    let left = leaver.chain();
    assert!(
        left.len() >= (EPOCH - 1) as usize,
        "the leaver finalized epoch 0"
    );
    for (mine, theirs) in left.iter().zip(&chains[0]) {
        assert_eq!(mine, theirs, "the leaver disagrees");
    }
    let joiner = node_key(JOINER).account_id();
    let leaving = node_key(LEAVER).account_id();
    for recorder in stayers {
        let boundary = recorder.ledger_at(EPOCH - 1);
        let set: Vec<AccountId> = boundary
            .state()
            .validators
            .iter()
            .map(|v| v.consensus_key)
            .collect();
        assert!(set.contains(&joiner), "the joiner is in epoch 1's set");
        assert!(
            !set.contains(&leaving),
            "the leaver is out of epoch 1's set"
        );
        assert!(
            !set.contains(&node_key(DEAD).account_id()),
            "a bond whose node never ran took a seat"
        );
        assert_eq!(set.len(), 4);
        let before = recorder.ledger_at(EPOCH - 2);
        assert!(
            before
                .state()
                .validators
                .iter()
                .any(|v| v.consensus_key == leaving),
            "the set changes only at the boundary"
        );
        // Every seated node sent its heartbeat again in epoch 1, after the switch
        // to epoch 1's engine: the same four keep their seats for epoch 2.
        let second: Vec<AccountId> = recorder
            .ledger_at(2 * EPOCH - 1)
            .state()
            .validators
            .iter()
            .map(|v| v.consensus_key)
            .collect();
        assert_eq!(second, set, "epoch 2's set");
        let last = recorder.ledger_at(target);
        assert_eq!(last.state_root(), chains[0][target as usize - 1].2);
        assert!(last.state().check_books().is_ok());
    }
    // Epoch 0 blocks come from genesis validators only; after the boundary
    // the joiner proposes and the leaver does not.
    let chain = &chains[0];
    assert!(chain.iter().filter(|c| c.0 < EPOCH).all(|c| c.3 != joiner));
    let after: Vec<&AccountId> = chain
        .iter()
        .filter(|c| c.0 >= EPOCH)
        .map(|c| &c.3)
        .collect();
    assert!(
        after.iter().all(|p| **p != leaving),
        "the leaver proposed after leaving"
    );
    assert!(after.contains(&&joiner), "the joiner never proposed");
}

/// Validators restarted in epoch 1 from saved states rejoin its engine: one whose
/// older saved state is inside epoch 1, then one whose older saved state is epoch
/// 0's last block (the floor of epoch 1 is then that very block).
#[test]
fn validators_restarted_from_saved_states_rejoin_their_epoch() {
    let restarts = [
        Restart {
            node: 2,
            every: 4,
            at: EPOCH + 9,
            away: 2,
            from: EPOCH..=EPOCH + 8,
        },
        Restart {
            node: 1,
            every: EPOCH - 1,
            at: 2 * (EPOCH - 1) + 1,
            away: 2,
            from: EPOCH - 1..=EPOCH - 1,
        },
    ];
    simulate_with(SEEDS[0], 2 * EPOCH + 4, &restarts);
}

/// A validator down for six epochs starts again in an epoch the others have long
/// left, where its own engine can finalize nothing: it asks the others for the
/// blocks it missed, more each round while all it asked for comes, and again at
/// once as it enters each epoch. 1.0 s of simulated time here; 3.8 s when a
/// stalled member asked for 8 heights a round and each epoch waited a round.
#[test]
fn a_validator_down_for_epochs_catches_up_within_seconds() {
    const AWAY: u64 = 6 * EPOCH;
    let restarts = [Restart {
        node: 2,
        every: EPOCH,
        at: 2 * EPOCH + 3,
        away: AWAY,
        from: EPOCH..=2 * EPOCH,
    }];
    let outcome = simulate_with(SEEDS[1], 2 * EPOCH + 3 + AWAY + EPOCH, &restarts);
    let took = outcome.catch_ups[0];
    assert!(took < Duration::from_secs(2), "{AWAY} blocks took {took:?}");
}

#[test]
fn a_validator_joins_and_one_leaves_at_the_epoch_boundary() {
    let target = 2 * EPOCH + 4;
    for seed in SEEDS {
        let first = simulate(seed, target);
        let second = simulate(seed, target);
        assert_eq!(first, second, "seed {seed} is not deterministic");
    }
}

/// A node that has been away from a long chain joins it from a checkpoint, with
/// storage of its own: the state after the first block of epoch 3, whose set is
/// no longer the genesis set, published by a validator. Stopped as soon as it
/// has started from it and started again without it, it goes on from what it
/// kept; it re-executes nothing before the checkpoint, follows the chain from
/// there, serves checkpoints itself, and after another restart starts from the
/// checkpoint's state, which it saved. A checkpoint of another block than the
/// pinned one, or with a changed state or certificate, is refused.
#[test]
fn a_node_joins_from_a_checkpoint_and_restarts_from_it() {
    const AT: u64 = 3 * EPOCH;
    let target = 5 * EPOCH;
    with_sim(SEEDS[2], async |context, sim| {
        let Sim {
            oracle,
            ledger,
            keys,
            recorders,
            mempools,
            handles,
        } = sim;
        // The leaver, outside the set since epoch 1, stops; the chain goes on. It
        // bonds again, less than any seated validator: the validators then accept
        // its node as a candidate's, and it takes no seat.
        handles[LEAVER].abort();
        wait_for(&context, &[&recorders[1]], EPOCH + 2).await;
        let rebond = Transaction {
            chain_id: chain_id(),
            signer: node_key(LEAVER).account_id(),
            nonce: 2,
            fee: ledger.state().economics.min_fee,
            call: Call::BondValidator {
                consensus_key: node_key(LEAVER).account_id(),
                address: address(LEAVER),
                amount: Balance::from_rao(100 * Balance::UNIT.rao()),
            },
        }
        .sign(&node_key(LEAVER));
        for mempool in &mempools[1..] {
            mempool.lock().insert(rebond.clone(), &ledger).unwrap();
        }
        let source = &recorders[1];
        while source.checkpoint().is_none_or(|c| c.height < AT) {
            context.sleep(Duration::from_millis(50)).await;
        }
        let published = source.checkpoint().unwrap();
        assert_eq!(
            published.height, AT,
            "one checkpoint per epoch, its first block"
        );
        let hash = source.chain()[AT as usize - 1].1;
        assert_eq!(published.hash, hash);
        let checkpoint = Checkpoint::decode(&published.bytes, &ledger, Some(hash)).unwrap();
        let named = Published::read(published.bytes.clone()).unwrap();
        assert_eq!(
            (named.height, named.hash),
            (AT, hash),
            "named by its block alone"
        );
        let genesis_keys: Vec<AccountId> = ledger
            .state()
            .validators
            .iter()
            .map(|v| v.consensus_key)
            .collect();
        let set = checkpoint.verify(&mut context.child("verify")).unwrap();
        assert!(
            set.keys
                .iter()
                .any(|k| !genesis_keys.contains(&consensus::account_id(k)))
        );

        // Refused: another block pinned, a state changed, a certificate changed.
        wait_for(&context, &[source], AT + 1).await;
        let other = source.chain()[AT as usize].1;
        assert!(matches!(
            Checkpoint::decode(&published.bytes, &ledger, Some(other)),
            Err(CheckpointError::NotPinned { .. })
        ));
        let mut bytes = published.bytes.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(
            Checkpoint::decode(&bytes, &ledger, None).is_err(),
            "state changed"
        );
        let mut bytes = published.bytes.to_vec();
        let certificate_end = certificate_end(&bytes);
        bytes[certificate_end - 1] ^= 1;
        let forged = Checkpoint::decode(&bytes, &ledger, None)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                c.verify(&mut context.child("verify"))
                    .map_err(|e| e.to_string())
            });
        assert!(forged.is_err(), "certificate changed");

        // The leaver joins again from the checkpoint, with fresh storage. It stops
        // once it has started from it, before it finalized anything, and starts
        // again without being given it: from what it kept.
        let join = |source: Option<CheckpointSource>| {
            let mut config = node_config(
                &ledger,
                LEAVER,
                "n0-joined".into(),
                SnapshotPolicy::default(),
            );
            config.checkpoint = source;
            config
        };
        // Started as its own task: a handle is what a restart aborts.
        let rejoin = |source: Option<CheckpointSource>, channels, recorder: &Recorder| {
            start(
                &context,
                &oracle,
                join(source),
                channels,
                &mempools[LEAVER],
                recorder,
            )
        };
        let serves = |r: &Recorder| r.checkpoint().map(|c| c.height);
        let first = Recorder::default();
        let channels_again = channels(&oracle, &keys[LEAVER]).await;
        let handle = rejoin(
            Some(CheckpointSource::ready(checkpoint).unwrap()),
            channels_again,
            &first,
        );
        while serves(&first).is_none() {
            context.sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(
            serves(&first),
            Some(AT),
            "it serves the checkpoint it joined from"
        );
        assert_eq!(first.height(), 0, "stopped before it finalized a block");
        handle.abort();
        let joined = Recorder::default();
        let channels_again = channels(&oracle, &keys[LEAVER]).await;
        let handle = rejoin(None, channels_again, &joined);
        let stayers: Vec<&Recorder> = (1..NODES).map(|n| &recorders[n]).collect();
        wait_for(&context, &stayers, target).await;
        wait_for(&context, &[&joined], target).await;
        assert!(
            serves(&joined) >= Some(target - EPOCH),
            "and each epoch's after"
        );
        let ours = stayers[0].chain();
        let theirs = joined.chain();
        assert_eq!(
            theirs[0].0,
            AT + 1,
            "nothing before the checkpoint executed"
        );
        assert_eq!(
            theirs[..(target - AT) as usize],
            ours[AT as usize..target as usize]
        );
        assert!(joined.ledger_at(target).state().check_books().is_ok());

        // Restarted, with no checkpoint given: from the state it saved.
        handle.abort();
        let restarted = Recorder::default();
        let channels_again = channels(&oracle, &keys[LEAVER]).await;
        let _handle = rejoin(None, channels_again, &restarted);
        wait_for(&context, &stayers, target + EPOCH).await;
        wait_for(&context, &[&restarted], target + EPOCH).await;
        assert!(
            serves(&restarted) >= Some(target - EPOCH),
            "after a restart, the checkpoint it served before"
        );
        let again = restarted.chain();
        assert_eq!(
            again[0].0,
            AT + 1,
            "re-executed from the checkpoint's state"
        );
        let ours = stayers[0].chain();
        let end = target + EPOCH;
        assert_eq!(
            again[..(end - AT) as usize],
            ours[AT as usize..end as usize]
        );
    });
}

/// Where an encoded checkpoint's certificate ends: after the magic, the block
/// and the certificate, each after its 8-byte length.
fn certificate_end(bytes: &[u8]) -> usize {
    let length = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
    let block = 12;
    let certificate = block + 8 + length(block);
    certificate + 8 + length(certificate)
}

/// A seated validator that lost its storage comes back from a checkpoint of the
/// epoch it is seated in. It may have voted in that epoch before, and voting
/// again in a view it voted in would be equivocation, so it follows the rest of
/// the epoch without signing (the three others finalize), and signs again from
/// the next: it proposes blocks there.
#[test]
fn a_validator_restored_from_a_checkpoint_signs_from_the_next_epoch() {
    const AT: u64 = 3 * EPOCH;
    const NODE: usize = 2;
    with_sim(SEEDS[0], async |context, sim| {
        let (oracle, ledger, recorders) = (&sim.oracle, &sim.ledger, &sim.recorders);
        let source = &recorders[1];
        wait_for(&context, &[source], AT + 2).await;
        let published = source.checkpoint().unwrap();
        assert_eq!(published.height, AT);
        let checkpoint = Checkpoint::decode(&published.bytes, ledger, None).unwrap();

        // Its disk is lost: it starts again with storage of its own.
        sim.handles[NODE].abort();
        let restarted_at = recorders[1].height();
        let mut config = node_config(
            ledger,
            NODE,
            "n2-restored".into(),
            SnapshotPolicy::default(),
        );
        config.checkpoint = Some(CheckpointSource::ready(checkpoint).unwrap());
        let restored = Recorder::default();
        let _handle = start(
            &context,
            oracle,
            config,
            channels(oracle, &sim.keys[NODE]).await,
            &sim.mempools[NODE],
            &restored,
        );
        let end = 5 * EPOCH;
        let stayers: Vec<&Recorder> = [1, 3, 4].iter().map(|n| &recorders[*n]).collect();
        wait_for(&context, &stayers, end).await;
        wait_for(&context, &[&restored], end).await;

        let me = node_key(NODE).account_id();
        let chain = stayers[0].chain();
        let proposed = |heights: std::ops::RangeInclusive<u64>| {
            chain
                .iter()
                .filter(|c| heights.contains(&c.0) && c.3 == me)
                .count()
        };
        assert_eq!(
            proposed(restarted_at + 1..=4 * EPOCH - 1),
            0,
            "signed in its epoch"
        );
        assert!(
            proposed(4 * EPOCH..=end) > 0,
            "did not sign in the next epoch"
        );
        assert_eq!(restored.chain()[..], chain[AT as usize..end as usize]);
    });
}

/// Two of the four seated validators come back from a checkpoint in the same
/// epoch: without their votes the other two cannot finalize, so holding back
/// for the whole epoch would stop the chain for good. They sign in it once a
/// minute has passed, and the chain goes on. Restarted again in that epoch,
/// they sign at once: their consensus journals of it record what they signed.
#[test]
fn validators_restored_from_a_checkpoint_sign_after_a_wait_if_the_chain_needs_them() {
    const AT: u64 = 3 * EPOCH;
    with_sim(SEEDS[1], async |context, sim| {
        let source = &sim.recorders[1];
        wait_for(&context, &[source], AT + 2).await;
        let published = source.checkpoint().unwrap();
        let checkpoint = Checkpoint::decode(&published.bytes, &sim.ledger, None).unwrap();
        let stopped = source.height();
        let config = |node: usize, source: Option<CheckpointSource>| {
            let mut config = node_config(
                &sim.ledger,
                node,
                format!("n{node}-restored"),
                SnapshotPolicy::default(),
            );
            config.checkpoint = source;
            config
        };
        let mut handles = Vec::new();
        for node in [2, 3] {
            sim.handles[node].abort();
            let source = CheckpointSource::ready(checkpoint.clone()).unwrap();
            handles.push(start(
                &context,
                &sim.oracle,
                config(node, Some(source)),
                channels(&sim.oracle, &sim.keys[node]).await,
                &sim.mempools[node],
                &Recorder::default(),
            ));
        }
        let came_back = context.current();
        let resumed = stopped + 2;
        wait_for(&context, &[source], resumed).await;
        let waited = context.current().duration_since(came_back).unwrap();
        assert!(
            waited >= Duration::from_secs(60),
            "finalized past {stopped} after {waited:?}: they did not wait"
        );
        assert!(
            waited < Duration::from_secs(90),
            "the chain stayed stopped: {waited:?}"
        );

        // Both restarted again in that epoch: their journals of it say what they
        // signed since, so they sign at once.
        assert!(resumed + 4 < 4 * EPOCH, "still epoch 3");
        for (node, handle) in [2, 3].into_iter().zip(handles) {
            handle.abort();
            start(
                &context,
                &sim.oracle,
                config(node, None),
                channels(&sim.oracle, &sim.keys[node]).await,
                &sim.mempools[node],
                &Recorder::default(),
            );
        }
        let again = context.current();
        wait_for(&context, &[source], resumed + 4).await;
        let waited = context.current().duration_since(again).unwrap();
        assert!(
            waited < Duration::from_secs(20),
            "they waited again: {waited:?}"
        );
    });
}
