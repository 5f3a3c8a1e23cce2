//! Deterministic simulations of a 4-validator chain: commonware's
//! deterministic runtime and simulated network, real signed transfers fed
//! into every validator's mempool. Each scenario runs under several seeds,
//! twice per seed, and both runs must agree exactly (finalized roots and the
//! runtime's audit of every event).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers of a test fail loudly

mod common;

use common::{Context, Net, Recorder, Registered, SimChannels, channels, timeouts, wait_for};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use commonware_consensus::simplex::{elector::RoundRobin, mocks};
use commonware_consensus::types::Epoch;
use commonware_cryptography::Blake3;
use commonware_p2p::simulated::{self, Link, Network};
use commonware_p2p::utils::mux::{Muxer, SubReceiver, SubSender};
use commonware_runtime::{
    Clock as _, Handle, Runner as _, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZUsize, Probability, probability};
use plexus_ledger::{Genesis, GenesisBalance, GenesisValidator, Ledger, Signatures};
use plexus_node::consensus::{
    self, PublicKey, SnapshotPolicy, Tamper, ValidatorConfig, run_validator,
};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_primitives::{
    AccountId, Balance, Block, Call, ChainId, Hash, Keypair, SignedTransaction, Transaction,
    transactions_root,
};

const VALIDATORS: usize = 4;
const USERS: usize = 4;
/// Transfers each user signs: half fed at the start, half later.
const TXS_PER_USER: u64 = 6;
const SEEDS: [u64; 3] = [1, 7, 42];

#[derive(Clone, Copy, Debug)]
enum Fault {
    None,
    /// Validator 3 crashes once the chain reaches height 3.
    Crash,
    /// Validator 3 is cut off at height 3, healed after 3 more blocks.
    Partition,
    /// Validator 3 is cut off at height 3, healed 40 blocks later: further
    /// behind than a node replays at once to verify a proposal, it must catch
    /// up and go on with the others.
    LongPartition,
    /// Validator 3 crashes at height 3 and restarts (same storage) 4 blocks
    /// later: it replays its stored finalized chain, then catches up.
    Restart,
    /// As [`Fault::Restart`], with validator 3 saving its state every two
    /// heights: it starts again from a saved state rather than genesis.
    RestartFromSavedState,
    /// Every link drops 25% of messages.
    Loss,
    /// Validator 0 equivocates: as leader it proposes two blocks, one to a
    /// victim and one to the rest (commonware's Byzantine mock).
    Equivocator,
    /// Validator 0 answers every vote with conflicting notarize and
    /// finalize votes for random payloads (commonware's Byzantine mock).
    Conflicter,
    /// Validator 0 runs the real node, but every block it proposes is invalid
    /// in one of [`Lie`]'s ways, in turn.
    InvalidProposer,
}

/// How the invalid proposer's blocks lie. Each is internally consistent
/// where it can be (roots recomputed), so only the check it aims at can
/// catch it.
#[derive(Clone, Copy, Debug)]
enum Lie {
    /// Adds a transfer of the bystander's whole balance to the proposer,
    /// "signed" with the proposer's own key.
    ForgedSignature,
    /// Adds a genuinely signed transaction from an account that cannot pay
    /// its fee (the proposer's consensus key holds nothing).
    PaysNoFee,
    /// Claims a state root execution does not give.
    FalseStateRoot,
}

const LIES: [Lie; 3] = [Lie::ForgedSignature, Lie::PaysNoFee, Lie::FalseStateRoot];

fn validator_key(i: usize) -> Keypair {
    Keypair::from_seed([10 + i as u8; 32])
}

fn user_key(i: usize) -> Keypair {
    Keypair::from_seed([100 + i as u8; 32])
}

/// A funded account that never signs anything.
fn bystander() -> Keypair {
    Keypair::from_seed([200; 32])
}

fn chain_id() -> ChainId {
    ChainId::new("plexus-sim").unwrap()
}

const START_BALANCE: u64 = 1_000;

fn genesis() -> Ledger {
    let genesis = Genesis {
        bonds: Vec::new(),
        chain_id: chain_id(),
        balances: (0..USERS)
            .map(user_key)
            .chain([bystander()])
            .map(|key| GenesisBalance {
                account: key.account_id(),
                balance: Balance::from_rao(START_BALANCE * Balance::UNIT.rao()),
            })
            .collect(),
        validators: (0..VALIDATORS)
            .map(|i| GenesisValidator {
                consensus_key: validator_key(i).account_id(),
                address: None,
            })
            .collect(),
        economics: Default::default(),
    };
    Ledger::from_genesis(&genesis).unwrap()
}

/// User `i` pays user `i + 1` one token per transaction (a ring, so every
/// balance ends where it began, less fees).
fn transfers(
    ledger: &Ledger,
    nonces: std::ops::Range<u64>,
) -> Vec<plexus_primitives::SignedTransaction> {
    let fee = ledger.state().economics.min_fee;
    let mut txs = Vec::new();
    for nonce in nonces {
        for i in 0..USERS {
            let tx = Transaction {
                chain_id: chain_id(),
                signer: user_key(i).account_id(),
                nonce,
                fee,
                call: Call::Transfer {
                    to: user_key((i + 1) % USERS).account_id(),
                    amount: Balance::UNIT,
                },
            };
            txs.push(tx.sign(&user_key(i)));
        }
    }
    txs
}

fn feed(mempools: &[SharedMempool], ledger: &Ledger, nonces: std::ops::Range<u64>) {
    for tx in transfers(ledger, nonces) {
        for mempool in mempools {
            mempool.lock().insert(tx.clone(), ledger).unwrap();
        }
    }
}

fn link(success_rate: Probability) -> Link {
    Link {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(5),
        success_rate,
    }
}

async fn connect(oracle: &Net, keys: &[PublicKey], who: Option<usize>, link: Link, on: bool) {
    for (a, ka) in keys.iter().enumerate() {
        for (b, kb) in keys.iter().enumerate() {
            if a == b || who.is_some_and(|w| w != a && w != b) {
                continue;
            }
            if on {
                oracle
                    .add_link(ka.clone(), kb.clone(), link.clone())
                    .await
                    .unwrap();
            } else {
                oracle.remove_link(ka.clone(), kb.clone()).await.unwrap();
            }
        }
    }
}

/// A transaction from `signer` at its next nonce on `parent`, with the
/// minimum fee.
fn transaction(parent: &Ledger, signer: AccountId, call: Call) -> Transaction {
    Transaction {
        chain_id: chain_id(),
        signer,
        nonce: parent.state().account(&signer).nonce,
        fee: parent.state().economics.min_fee,
        call,
    }
}

/// What validator `i` does to each block it proposes: lies in turn (by
/// view), counting how often it told each.
fn invalid_proposer(i: usize, told: Arc<[AtomicU64; 3]>) -> Tamper {
    Tamper(Arc::new(move |parent: &Ledger, mut block: Block| {
        let me = validator_key(i);
        let which = (block.header.view % 3) as usize;
        let extra: Option<SignedTransaction> = match LIES[which] {
            Lie::ForgedSignature => {
                let victim = bystander().account_id();
                let amount = parent.state().account(&victim).balance;
                let call = Call::Transfer {
                    to: me.account_id(),
                    amount: amount
                        .checked_sub(parent.state().economics.min_fee)
                        .unwrap(),
                };
                let mut forged = transaction(parent, me.account_id(), call).sign(&me);
                forged.tx.signer = victim;
                forged.tx.nonce = parent.state().account(&victim).nonce;
                Some(forged)
            }
            Lie::PaysNoFee => {
                let call = Call::Transfer {
                    to: user_key(0).account_id(),
                    amount: Balance::UNIT,
                };
                Some(transaction(parent, me.account_id(), call).sign(&me))
            }
            Lie::FalseStateRoot => None,
        };
        if let Some(tx) = extra {
            block.transactions.push(tx);
            let mut after = parent.clone();
            let outcome = after
                .apply_block(
                    block.header.height.0,
                    &block.transactions,
                    Signatures::Trusted,
                )
                .unwrap();
            block.header.state_root = outcome.state_root;
            block.header.transactions_root = transactions_root(&block.transactions);
        } else {
            block.header.state_root = Hash::of(block.header.state_root.as_bytes());
        }
        told[which].fetch_add(1, Ordering::Relaxed);
        block
    }))
}

/// Starts validator `i` as its own task (abort the handle to crash it).
#[allow(clippy::too_many_arguments)]
fn start(
    context: &Context,
    oracle: &Net,
    ledger: &Ledger,
    i: usize,
    channels: SimChannels,
    mempool: &SharedMempool,
    recorder: &Recorder,
    tamper: Option<Tamper>,
    snapshots: SnapshotPolicy,
) -> Handle<()> {
    let mut config = ValidatorConfig::new(ledger.clone(), validator_key(i), format!("v{i}"));
    config.timeouts = timeouts();
    config.tamper = tamper;
    config.snapshots = snapshots;
    let key = consensus::public_key(&validator_key(i).account_id()).unwrap();
    let (manager, blocker) = (oracle.manager(), oracle.control(key));
    let (pool, sink) = (mempool.clone(), recorder.clone());
    context
        .child("validator")
        .with_attribute("index", i)
        .spawn(move |ctx| async move {
            run_validator(ctx, config, channels, manager, blocker, pool, sink)
                .await
                .unwrap();
        })
}

/// Validator `i`'s saved states under `fault`: every two heights where the
/// fault restarts it from one, else the default.
fn snapshots(fault: Fault, i: usize) -> SnapshotPolicy {
    match fault {
        Fault::RestartFromSavedState if i == VALIDATORS - 1 => SnapshotPolicy {
            every: std::num::NonZeroU64::new(2).unwrap(),
        },
        _ => SnapshotPolicy::default(),
    }
}

/// Epoch 0's sub-channel of a consensus channel (validators run each
/// epoch's engine on its own sub-channel): what a Byzantine mock speaks on.
async fn epoch_zero(
    context: &Context,
    channel: Registered,
) -> (
    SubSender<simulated::Sender<PublicKey, Context>>,
    SubReceiver<PublicKey>,
) {
    let (mux, mut handle) = Muxer::new(context.child("byzantine_mux"), channel.0, channel.1);
    mux.start();
    handle.register(0).await.unwrap()
}

/// The simulated network of the validators, started, and their keys.
async fn network(context: &Context) -> (Net, Vec<PublicKey>) {
    network_of(context, VALIDATORS).await
}

/// The simulated network of `nodes` nodes (the validators first), started, and
/// their keys.
async fn network_of(context: &Context, nodes: usize) -> (Net, Vec<PublicKey>) {
    let keys: Vec<PublicKey> = (0..nodes)
        .map(|i| consensus::public_key(&validator_key(i).account_id()).unwrap())
        .collect();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: consensus::max_message_size(nodes as u32),
            max_peers_per_set: NZUsize!(nodes),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        keys.clone(),
    )
    .await;
    network.start();
    (oracle, keys)
}

/// What a run produced: each honest validator's finalized chain up to the
/// target, and the runtime's audit digest.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    chains: Vec<Vec<(u64, Hash, Hash, AccountId)>>,
    audit: String,
}

fn simulate(seed: u64, fault: Fault, target: u64) -> Outcome {
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(300)));
    deterministic::Runner::new(config).start(|context| async move {
        let ledger = genesis();
        let (oracle, keys) = network(&context).await;

        let rate = if matches!(fault, Fault::Loss) {
            probability!(0.75)
        } else {
            probability!(1.0)
        };
        let byzantine = matches!(fault, Fault::Equivocator | Fault::Conflicter).then_some(0);
        let told: Arc<[AtomicU64; 3]> = Arc::default();
        let mut recorders = Vec::new();
        let mut mempools = Vec::new();
        let mut handles: Vec<Option<Handle<()>>> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let channels = channels(&oracle, key).await;
            if byzantine == Some(i) && matches!(fault, Fault::Conflicter) {
                let scheme = consensus::signing_scheme(&ledger, &validator_key(i)).unwrap();
                let conflicter = mocks::conflicter::Conflicter::<_, _, Blake3>::new(
                    context.child("byzantine"),
                    mocks::conflicter::Config { scheme },
                );
                conflicter.start(epoch_zero(&context, channels.votes).await);
                handles.push(None);
                continue;
            }
            if byzantine == Some(i) {
                let scheme = consensus::signing_scheme(&ledger, &validator_key(i)).unwrap();
                let equivocator = mocks::equivocator::Equivocator::<_, _, _, Blake3>::new(
                    context.child("byzantine"),
                    mocks::equivocator::Config {
                        scheme,
                        elector: RoundRobin::<commonware_cryptography::sha256::Sha256>::default(),
                        epoch: Epoch::zero(),
                        relay: Arc::new(mocks::relay::Relay::new()),
                    },
                );
                equivocator.start(
                    epoch_zero(&context, channels.votes).await,
                    epoch_zero(&context, channels.certificates).await,
                );
                handles.push(None);
                continue;
            }
            let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
            let recorder = Recorder::default();
            let tamper = (i == 0 && matches!(fault, Fault::InvalidProposer))
                .then(|| invalid_proposer(i, told.clone()));
            let handle = start(
                &context,
                &oracle,
                &ledger,
                i,
                channels,
                &mempool,
                &recorder,
                tamper,
                snapshots(fault, i),
            );
            handles.push(Some(handle));
            recorders.push((i, recorder));
            mempools.push(mempool);
        }
        feed(&mempools, &ledger, 0..TXS_PER_USER / 2);
        connect(&oracle, &keys, None, link(rate), true).await;

        let victim = VALIDATORS - 1;
        let all: Vec<&Recorder> = recorders.iter().map(|(_, r)| r).collect();
        let others: Vec<&Recorder> = recorders
            .iter()
            .filter(|(i, _)| *i != victim)
            .map(|(_, r)| r)
            .collect();
        wait_for(&context, &all, 3).await;
        feed(&mempools, &ledger, TXS_PER_USER / 2..TXS_PER_USER);
        let mut live = all.clone();
        let restarted = Recorder::default();
        match fault {
            Fault::Restart | Fault::RestartFromSavedState => {
                if matches!(fault, Fault::RestartFromSavedState) {
                    // Saved states at 2 and 4.
                    wait_for(&context, &[all[victim]], 5).await;
                }
                handles[victim].take().unwrap().abort();
                let stopped = all[victim].height();
                wait_for(&context, &others, stopped + 4).await;
                let channels = channels(&oracle, &keys[victim]).await;
                let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
                let handle = start(
                    &context,
                    &oracle,
                    &ledger,
                    victim,
                    channels,
                    &mempool,
                    &restarted,
                    None,
                    snapshots(fault, victim),
                );
                handles[victim] = Some(handle);
                live[victim] = &restarted;
            }
            Fault::Crash => {
                handles[victim].take().unwrap().abort();
                live = others.clone();
            }
            Fault::Partition | Fault::LongPartition => {
                connect(&oracle, &keys, Some(victim), link(rate), false).await;
                let stuck = all[victim].height();
                let away = if matches!(fault, Fault::Partition) {
                    4
                } else {
                    40
                };
                wait_for(&context, &others, stuck + away).await;
                assert!(
                    all[victim].height() <= stuck + 1,
                    "a partitioned node cannot finalize"
                );
                connect(&oracle, &keys, Some(victim), link(rate), true).await;
            }
            Fault::None
            | Fault::Loss
            | Fault::Equivocator
            | Fault::Conflicter
            | Fault::InvalidProposer => {}
        }
        wait_for(&context, &live, target).await;
        let mut chains: Vec<_> = live
            .iter()
            .map(|r| {
                r.chain()
                    .into_iter()
                    .take_while(|(height, ..)| *height <= target)
                    .collect::<Vec<_>>()
            })
            .collect();
        if matches!(fault, Fault::RestartFromSavedState) {
            // It re-executed only the blocks after a saved state, and they are the
            // others' blocks.
            let resumed = chains.remove(victim);
            let first = resumed[0].0;
            assert!(first > 1, "started from genesis, not a saved state");
            assert_eq!(resumed[..], chains[0][first as usize - 1..]);
            // What it did not re-execute, its journal still holds from before the
            // restart, as another validator finalized it: each block with its
            // receipts, and each of its transactions by hash.
            let journal = restarted.journal().expect("the node opened its journal");
            let mut transactions = 0;
            for height in 1..first {
                let block = journal.block(height).await.unwrap().expect("kept");
                assert_eq!(Some(&block), all[0].block_info(height).as_ref());
                for (index, tx) in block.transactions.iter().enumerate() {
                    let (at, _) = journal
                        .transaction(tx.hash)
                        .await
                        .unwrap()
                        .expect("indexed");
                    assert_eq!((at.height, at.index), (height, index));
                    transactions += 1;
                }
            }
            assert!(transactions > 0, "no transaction before the saved state");
            assert_eq!(journal.oldest(), Some(1));
        }
        check(&chains, &live, target);
        if matches!(fault, Fault::InvalidProposer) {
            let liar = validator_key(0).account_id();
            assert!(
                chains[0]
                    .iter()
                    .all(|(_, _, _, proposer)| *proposer != liar),
                "an invalid block was finalized"
            );
            for (lie, count) in LIES.iter().zip(told.iter()) {
                assert!(count.load(Ordering::Relaxed) > 0, "{lie:?} was never told");
            }
        }
        Outcome {
            chains,
            audit: context.auditor().state(),
        }
    })
}

/// Honest validators agree on every finalized block and state root, heights
/// run 1..=target without gaps, and every transfer was applied once.
fn check(chains: &[Vec<(u64, Hash, Hash, AccountId)>], live: &[&Recorder], target: u64) {
    for chain in chains {
        let heights: Vec<u64> = chain.iter().map(|(h, _, _, _)| *h).collect();
        assert_eq!(heights, (1..=target).collect::<Vec<_>>());
        assert_eq!(chain, &chains[0], "validators disagree");
    }
    let fee = genesis().state().economics.min_fee.rao();
    for recorder in live {
        let ledger = recorder.ledger_at(target);
        assert_eq!(ledger.state_root(), chains[0][target as usize - 1].2);
        let untouched = ledger.state().account(&bystander().account_id());
        assert_eq!(
            (untouched.nonce, untouched.balance.rao()),
            (0, START_BALANCE * Balance::UNIT.rao()),
            "the bystander's account moved"
        );
        for i in 0..USERS {
            let account: AccountId = user_key(i).account_id();
            let state = ledger.state().account(&account);
            assert_eq!(
                state.nonce, TXS_PER_USER,
                "user {i} transfers not all applied"
            );
            let expected = START_BALANCE * Balance::UNIT.rao() - TXS_PER_USER * fee;
            assert_eq!(state.balance.rao(), expected, "user {i} balance");
        }
    }
}

fn scenario(fault: Fault, target: u64) {
    for seed in SEEDS {
        let first = simulate(seed, fault, target);
        let second = simulate(seed, fault, target);
        assert_eq!(first, second, "seed {seed} is not deterministic");
    }
}

#[test]
fn all_honest() {
    scenario(Fault::None, 12);
}

#[test]
fn one_crashed() {
    scenario(Fault::Crash, 12);
}

#[test]
fn one_partitioned_then_healed() {
    scenario(Fault::Partition, 14);
}

#[test]
fn one_partitioned_far_behind_then_healed() {
    scenario(Fault::LongPartition, 50);
}

#[test]
fn one_restarted_from_storage() {
    scenario(Fault::Restart, 12);
}

#[test]
fn one_restarted_from_a_saved_state() {
    scenario(Fault::RestartFromSavedState, 14);
}

#[test]
fn lossy_links() {
    scenario(Fault::Loss, 10);
}

#[test]
fn one_equivocator() {
    scenario(Fault::Equivocator, 10);
}

#[test]
fn one_conflicting_voter() {
    scenario(Fault::Conflicter, 10);
}

#[test]
fn one_invalid_proposer() {
    scenario(Fault::InvalidProposer, 12);
}

/// A node whose storage holds the chain of another genesis (same chain id, other
/// balances) stops with an error that says so, rather than executing on a
/// stranger's blocks or panicking in marshal.
#[test]
fn storage_of_another_genesis_is_refused() {
    deterministic::Runner::default().start(|context| async move {
        let (oracle, keys) = network(&context).await;
        let recorder = Recorder::default();
        let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        let first = start(
            &context,
            &oracle,
            &genesis(),
            0,
            channels(&oracle, &keys[0]).await,
            &mempool,
            &recorder,
            None,
            SnapshotPolicy::default(),
        );
        // Long enough for marshal to store the genesis block.
        context.sleep(Duration::from_secs(5)).await;
        first.abort();

        let mut other = genesis().state().clone();
        other
            .accounts
            .entry(bystander().account_id())
            .or_default()
            .balance = Balance::UNIT;
        let config = ValidatorConfig::new(Ledger::from_state(other), validator_key(0), "v0");
        let (manager, blocker) = (oracle.manager(), oracle.control(keys[0].clone()));
        let channels = channels(&oracle, &keys[0]).await;
        let refused = run_validator(
            context.child("again"),
            config,
            channels,
            manager,
            blocker,
            mempool,
            recorder,
        )
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("another genesis"), "{refused}");
    });
}

/// Starts node `i` on its own task with an empty mempool, honest and saving
/// its state as by default.
async fn start_honest(
    context: &Context,
    oracle: &Net,
    ledger: &Ledger,
    keys: &[PublicKey],
    i: usize,
    recorder: &Recorder,
) -> Handle<()> {
    let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
    let channels = channels(oracle, &keys[i]).await;
    start(
        context,
        oracle,
        ledger,
        i,
        channels,
        &mempool,
        recorder,
        None,
        SnapshotPolicy::default(),
    )
}

/// A node outside the validator set, started once the chain is hundreds of
/// blocks long, catches up within seconds: it asks the validators for more
/// heights each round in which all it asked for came. (Asking for 8 a round,
/// as it did, it took 9.6 s of simulated time here; now 1.6 s.)
#[test]
fn a_node_started_far_behind_catches_up_within_seconds() {
    const BEHIND: u64 = 300;
    deterministic::Runner::default().start(|context| async move {
        let ledger = genesis();
        let (oracle, keys) = network_of(&context, VALIDATORS + 1).await;
        let mut validators = Vec::new();
        for i in 0..VALIDATORS {
            let recorder = Recorder::default();
            start_honest(&context, &oracle, &ledger, &keys, i, &recorder).await;
            validators.push(recorder);
        }
        connect(&oracle, &keys, None, link(probability!(1.0)), true).await;
        let all: Vec<&Recorder> = validators.iter().collect();
        wait_for(&context, &all, BEHIND).await;

        // Not among the genesis validators: it follows the chain.
        let follower = Recorder::default();
        let started = context.current();
        start_honest(&context, &oracle, &ledger, &keys, VALIDATORS, &follower).await;
        let head = validators[0].height();
        wait_for(&context, &[&follower], head).await;
        let took = context.current().duration_since(started).unwrap();
        assert!(
            took < Duration::from_secs(4),
            "{head} blocks took {took:?} to catch up"
        );
        // It said it was catching up, and, at the head a round later, that it
        // stopped.
        context.sleep(Duration::from_secs(1)).await;
        assert_eq!(follower.catching_up(), [true, false]);
        assert!(validators[0].catching_up().is_empty());
        let ours = follower.chain();
        assert_eq!(
            ours[..head as usize],
            validators[0].chain()[..head as usize]
        );
    });
}

/// A validator stopped while the others finalize hundreds of blocks, in the
/// same epoch, starts again from its storage and catches up within seconds
/// (1.2 s of simulated time here): its engine learns of the newest blocks from
/// the others, and marshal fetches the heights in between.
#[test]
fn a_validator_restarted_far_behind_catches_up_within_seconds() {
    const AWAY: u64 = 300;
    deterministic::Runner::default().start(|context| async move {
        let ledger = genesis();
        let (oracle, keys) = network(&context).await;
        let mut recorders = Vec::new();
        let mut handles = Vec::new();
        for i in 0..VALIDATORS {
            let recorder = Recorder::default();
            handles.push(start_honest(&context, &oracle, &ledger, &keys, i, &recorder).await);
            recorders.push(recorder);
        }
        connect(&oracle, &keys, None, link(probability!(1.0)), true).await;
        let all: Vec<&Recorder> = recorders.iter().collect();
        wait_for(&context, &all, 5).await;

        let victim = VALIDATORS - 1;
        handles[victim].abort();
        let stopped = recorders[victim].height();
        let others: Vec<&Recorder> = recorders[..victim].iter().collect();
        wait_for(&context, &others, stopped + AWAY).await;
        let head = others.iter().map(|r| r.height()).max().unwrap();

        let restarted = Recorder::default();
        let started = context.current();
        start_honest(&context, &oracle, &ledger, &keys, victim, &restarted).await;
        wait_for(&context, &[&restarted], head).await;
        let took = context.current().duration_since(started).unwrap();
        assert!(
            took < Duration::from_secs(3),
            "{AWAY} blocks took {took:?} to catch up"
        );
        let ours = restarted.chain();
        let theirs = recorders[0].chain();
        assert_eq!(ours[..head as usize], theirs[..head as usize]);
    });
}
