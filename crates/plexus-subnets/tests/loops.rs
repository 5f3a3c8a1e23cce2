//! The miner and validator loops against a real ledger and real wire servers on
//! loopback, with a tiny subnet (add two numbers) whose answers are easy to judge: honest
//! miners earn, a miner that lies and one that is down earn nothing.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{LedgerChain, TOKEN, id, key};
use plexus_ledger::SubnetParams;
use plexus_primitives::{AxonInfo, Balance, Call, Hyperparameter, NetUid};
use plexus_subnets::{
    ChainError, Evaluation, MinerConfig, Observation, RunningMiner, Subnet, Validator,
    ValidatorConfig, Verdict, start_miner,
};
use plexus_wire::{AxonScope, Client, Reply, Routes, Target};
use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

const NET: NetUid = NetUid(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Sum {
    a: u32,
    b: u32,
}

/// The validator's side of the sum subnet; it notes every challenge it sends, and if
/// `fails`, fails to judge every answer (as when a validator's own model fails).
#[derive(Default)]
struct SumSubnet {
    asked: Mutex<Vec<Sum>>,
    fails: bool,
    /// When set, each evaluation waits for a permit: a round as slow as the test likes.
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

impl Subnet for SumSubnet {
    type Challenge = Sum;

    fn name(&self) -> &str {
        "sum"
    }

    fn challenge(&self, rng: &mut StdRng) -> Sum {
        Sum {
            a: rng.gen_range(0..1_000_000),
            b: rng.gen_range(0..1_000_000),
        }
    }

    async fn evaluate(&self, client: &Client, target: &Target, c: &Sum) -> Evaluation {
        self.asked.lock().unwrap().push(*c);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fails {
            return Evaluation::unjudged("validator model: out of memory");
        }
        match client.call_json::<_, u64>(target, "sum", c).await {
            Ok((sum, _proof)) if sum == u64::from(c.a) + u64::from(c.b) => Evaluation::correct(1.0),
            Ok((sum, _)) => Evaluation::wrong(format!("{} + {} is not {sum}", c.a, c.b)),
            Err(e) => Evaluation::unavailable(e.to_string()),
        }
    }
}

/// A miner's routes: honest, or off by `lie`.
fn sum_routes(lie: u64) -> Routes {
    Routes::new()
        .route("sum", move |req| async move {
            let c: Sum = req.json()?;
            Reply::json(&(u64::from(c.a) + u64::from(c.b) + lie))
        })
        .unwrap()
}

fn params() -> SubnetParams {
    SubnetParams {
        tempo: 10,
        weights_rate_limit: 0,
        immunity_period: 100,
        max_allowed_uids: 16,
        min_burn: Balance::from_rao(TOKEN / 10),
        serving_rate_limit: 0,
        ..SubnetParams::default()
    }
}

const NAMES: &[&str] = &["owner", "val", "honest-1", "honest-2", "liar", "down"];

/// Miners serving in the background until the returned sender is dropped.
struct Miners {
    addrs: Vec<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Miners {
    async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            t.await.unwrap();
        }
    }
}

fn serve(miners: Vec<RunningMiner<LedgerChain>>) -> Miners {
    let (stop, watch) = tokio::sync::watch::channel(false);
    let addrs = miners.iter().map(RunningMiner::addr).collect();
    let tasks = miners
        .into_iter()
        .map(|m| {
            let mut watch = watch.clone();
            tokio::spawn(async move {
                m.serve(async move {
                    let _ = watch.wait_for(|stop| *stop).await;
                })
                .await
                .unwrap();
            })
        })
        .collect();
    Miners { addrs, stop, tasks }
}

/// Waits until the miner at `addr` admits the validator (its metagraph caught up).
async fn admitted(v: &Validator<LedgerChain, SumSubnet>, addr: SocketAddr, hotkey: &str) {
    let target = Target {
        addr,
        hotkey: id(hotkey),
        netuid: NET,
    };
    let start = Instant::now();
    while let Err(e) = v
        .client()
        .call_json::<_, u64>(&target, "sum", &Sum { a: 1, b: 2 })
        .await
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "never admitted: {e}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// [`network`]'s miners in the order it starts them, and whether each adds one to its sums.
const MINERS: [(&str, u64); 4] = [("honest-1", 0), ("honest-2", 0), ("liar", 1), ("down", 0)];

/// Waits until every serving miner answers `v`. Each reads the validator's registration on
/// its own sync, so one admitting it says nothing of the others: a round sent before that
/// would find an honest miner refusing it.
async fn all_admitted(v: &Validator<LedgerChain, SumSubnet>, miners: &Miners) {
    for (addr, (name, _)) in miners.addrs.iter().zip(MINERS) {
        admitted(v, *addr, &format!("{name}-hot")).await;
    }
}

async fn network(chain: &Arc<LedgerChain>) -> Vec<RunningMiner<LedgerChain>> {
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: Balance::from_rao(1_000 * TOKEN),
        },
    );
    let mut miners = Vec::new();
    for (name, lie) in MINERS {
        let mut config = MinerConfig::new(NET, SocketAddr::from(([127, 0, 0, 1], 0)));
        config.sync_interval = Duration::from_millis(20);
        let miner = start_miner(
            Arc::clone(chain),
            key(&format!("{name}-hot")),
            Some(key(name)),
            config,
            sum_routes(lie),
        )
        .await
        .unwrap();
        miners.push(miner);
    }
    miners
}

fn validator(chain: &Arc<LedgerChain>) -> Validator<LedgerChain, SumSubnet> {
    validator_keeping_state(chain, None)
}

fn validator_keeping_state(
    chain: &Arc<LedgerChain>,
    state_dir: Option<std::path::PathBuf>,
) -> Validator<LedgerChain, SumSubnet> {
    validator_judging(chain, state_dir, Arc::default())
}

fn validator_judging(
    chain: &Arc<LedgerChain>,
    state_dir: Option<std::path::PathBuf>,
    subnet: Arc<SumSubnet>,
) -> Validator<LedgerChain, SumSubnet> {
    let mut config = ValidatorConfig::new(NET);
    config.axon_scope = AxonScope::All;
    config.weights_interval = Some(0);
    config.state_dir = state_dir;
    Validator::new(
        Arc::clone(chain),
        subnet,
        key("val-hot"),
        Some(key("val")),
        config,
    )
}

/// Registers the validator's hotkey, staking nothing.
fn register_validator(chain: &LedgerChain) {
    chain.ok(
        "val",
        Call::Register {
            netuid: NET,
            hotkey: id("val-hot"),
            max_burn: Balance::from_rao(100 * TOKEN),
        },
    );
}

/// Registers and stakes the validator, and waits for the epoch that gives it a permit.
async fn permit(chain: &LedgerChain, v: &mut Validator<LedgerChain, SumSubnet>) {
    assert_eq!(v.submit_weights().await, Ok(None), "not registered yet");
    register_validator(chain);
    chain.ok(
        "val",
        Call::AddStake {
            netuid: NET,
            hotkey: id("val-hot"),
            amount: Balance::from_rao(500 * TOKEN),
            limit_price: None,
        },
    );
    chain.next_epoch(NET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_miners_earn_and_liars_do_not() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = network(&chain).await;
    let uid = |name: &str| {
        chain
            .metagraph_now(NET)
            .iter()
            .find(|n| n.hotkey == id(&format!("{name}-hot")))
            .unwrap()
            .uid
    };
    let (h1, h2, liar, down) = (uid("honest-1"), uid("honest-2"), uid("liar"), uid("down"));
    // Every miner announced the address it really serves on.
    for (miner, neuron) in miners.iter().zip(chain.metagraph_now(NET).iter().skip(1)) {
        let axon = neuron.axon.expect("announced");
        assert_eq!(SocketAddr::new(axon.ip, axon.port), miner.addr());
    }
    // One miner goes down after announcing.
    let mut miners = miners;
    let dead = miners.pop().unwrap();
    dead.serve(async {}).await.unwrap();
    let miners = serve(miners);

    let subnet = Arc::new(SumSubnet::default());
    let mut v = validator_judging(&chain, None, Arc::clone(&subnet));
    permit(&chain, &mut v).await;
    all_admitted(&v, &miners).await;
    subnet.asked.lock().unwrap().clear();
    let seen = v.round().await.unwrap();
    assert_eq!(seen.len(), 4, "every serving miner is challenged: {seen:?}");
    // Each with its own challenge: no miner can pass on another's answer.
    let asked = std::mem::take(&mut *subnet.asked.lock().unwrap());
    assert_eq!(asked.len(), 4, "{asked:?}");
    assert!(
        asked
            .iter()
            .enumerate()
            .all(|(i, c)| !asked[..i].contains(c)),
        "{asked:?}"
    );
    let verdict = |u: u16| seen.iter().find(|o| o.uid == u).unwrap().evaluation.clone();
    assert_eq!(verdict(h1).verdict, Verdict::Correct);
    assert_eq!(verdict(h2).verdict, Verdict::Correct);
    assert!(
        matches!(verdict(liar).verdict, Verdict::Wrong(_)),
        "{seen:?}"
    );
    assert!(
        matches!(verdict(down).verdict, Verdict::Unavailable(_)),
        "{seen:?}"
    );

    let height = v
        .submit_weights()
        .await
        .unwrap()
        .expect("weights submitted");
    let graph = chain.metagraph_now(NET);
    let me = graph.iter().find(|n| n.hotkey == id("val-hot")).unwrap();
    assert_eq!(me.last_update, height);

    // After the epoch, the honest miners share the incentive and the others get none.
    chain.next_epoch(NET);
    let graph = chain.metagraph_now(NET);
    let incentive = |u: u16| graph[usize::from(u)].incentive;
    assert!(
        incentive(h1) > 30_000 && incentive(h2) > 30_000,
        "{graph:?}"
    );
    assert_eq!(incentive(liar), 0);
    assert_eq!(incentive(down), 0);
    assert!(graph[usize::from(h1)].emission > 0);

    let scores = v.scores();
    assert!(scores.lock().unwrap().get(h1).is_some());

    // The owner raises the subnet's stake threshold above the validator's stake: once the
    // miners' next sync reads it, they refuse the validator without restarting.
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::MinStake(Balance::from_rao(100_000 * TOKEN)),
        },
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = v.round().await.unwrap();
    let serving: Vec<&Observation> = seen.iter().filter(|o| o.uid != down).collect();
    assert_eq!(serving.len(), 3, "{seen:?}");
    assert!(
        serving.iter().all(|o| matches!(
            &o.evaluation.verdict,
            Verdict::Unavailable(why) if why.contains("stake_below_threshold")
        )),
        "{seen:?}"
    );

    // A miner that re-announces its axon where no miner serves (link-local, where clouds
    // keep their metadata service) is not called, and is scored as unavailable: it does
    // not keep the score it had. (The stopped miner: a running one would announce its
    // real address again at its next sync.)
    let axon = chain.metagraph_now(NET)[usize::from(down)].axon.unwrap();
    let metadata = AxonInfo {
        ip: "169.254.169.254".parse().unwrap(),
        ..axon
    };
    chain.ok(
        "down-hot",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("down-hot"),
            axon: metadata,
        },
    );
    let seen = v.round().await.unwrap();
    let down_seen = seen.iter().find(|o| o.uid == down).map(|o| &o.evaluation);
    assert!(
        down_seen.is_some_and(|e| e.score == 0.0
            && matches!(&e.verdict, Verdict::Unavailable(why)
                if why.contains("169.254.169.254 is an address no miner serves from"))),
        "{seen:?}"
    );

    // A validator of an open network (the default scope) calls none of these miners on
    // loopback, and says why each is unavailable.
    let mut open = Validator::new(
        Arc::clone(&chain),
        Arc::new(SumSubnet::default()),
        key("val-hot"),
        None,
        ValidatorConfig::new(NET),
    );
    let seen = open.round().await.unwrap();
    assert_eq!(seen.len(), 4, "{seen:?}");
    let loopback = seen.iter().filter(|o| {
        matches!(&o.evaluation.verdict, Verdict::Unavailable(why)
            if why.contains("is this machine's loopback, which a validator calling public \
                             addresses does not call"))
    });
    assert_eq!(loopback.count(), 3, "{seen:?}");
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validators_own_failure_to_judge_leaves_miners_scores_alone() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    let failing = Arc::new(SumSubnet {
        fails: true,
        ..SumSubnet::default()
    });
    let mut v = validator_judging(&chain, None, failing);
    permit(&chain, &mut v).await;
    all_admitted(&v, &miners).await;
    let seen = v.round().await.unwrap();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen.iter()
            .all(|o| matches!(o.evaluation.verdict, Verdict::Unjudged(_)) && !o.evaluation.counts()),
        "{seen:?}"
    );
    let scores = v.scores();
    let scored = seen
        .iter()
        .filter(|o| scores.lock().unwrap().get(o.uid).is_some())
        .count();
    assert_eq!(scored, 0, "no miner scored");
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miners_serve_only_validators_once_the_subnet_gives_permits() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    let mut v = validator(&chain);
    register_validator(&chain);
    // Before the subnet's first epoch no one holds a permit: a registered caller is served.
    all_admitted(&v, &miners).await;
    // The epoch gives permits to the owner and the largest stakes, not to this validator,
    // which staked nothing.
    chain.next_epoch(NET);
    let graph = chain.metagraph_now(NET);
    assert!(graph.iter().any(|n| n.validator_permit), "{graph:?}");
    let me = graph.iter().find(|n| n.hotkey == id("val-hot")).unwrap();
    assert!(!me.validator_permit);
    // From their next sync the miners refuse it: a hotkey without a permit (a miner
    // passing its own challenge on, say) cannot have them do its work.
    let target = Target {
        addr: miners.addrs[0],
        hotkey: id("honest-1-hot"),
        netuid: NET,
    };
    let start = Instant::now();
    loop {
        match v
            .client()
            .call_json::<_, u64>(&target, "sum", &Sum { a: 1, b: 2 })
            .await
        {
            Err(e) if e.to_string().contains("no_validator_permit") => break,
            other => assert!(
                start.elapsed() < Duration::from_secs(10),
                "still served: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The validator reads the same and asks no one, rather than score every miner zero.
    let seen = v.round().await.unwrap();
    assert!(seen.is_empty(), "{seen:?}");
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_runs_as_a_task_and_stops_when_told() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    let v = validator(&chain);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(v.run(async move {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    while !chain
        .metagraph_now(NET)
        .iter()
        .any(|n| n.hotkey == id("val-hot"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the validator never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    miners.stop().await;
}

/// A subnet asking for commit-reveal, its serving miners, and a permitted validator that
/// keeps its pending reveal under the returned directory.
async fn commit_reveal_network(
    tag: &str,
) -> (
    Arc<LedgerChain>,
    Miners,
    std::path::PathBuf,
    Validator<LedgerChain, SumSubnet>,
) {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::CommitReveal(true),
        },
    );
    let state = std::env::temp_dir().join(format!("plexus-{tag}-{}", std::process::id()));
    let mut v = validator_keeping_state(&chain, Some(state.clone()));
    permit(&chain, &mut v).await;
    (chain, miners, state, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_rate_limit_weights_are_set_once_a_tempo_unless_told_otherwise() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    let mut config = ValidatorConfig::new(NET);
    config.axon_scope = AxonScope::All;
    let mut v = Validator::new(
        Arc::clone(&chain),
        Arc::<SumSubnet>::default(),
        key("val-hot"),
        Some(key("val")),
        config,
    );
    permit(&chain, &mut v).await;
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    let set = v.submit_weights().await.unwrap().expect("weights set");
    // The next submission would go in the block after the chain's head.
    let tempo = u64::from(params().tempo);
    for _ in 1..tempo - 1 {
        chain.advance(1);
        assert_eq!(v.submit_weights().await, Ok(None), "{set}: too soon");
    }
    chain.advance(1);
    assert!(v.submit_weights().await.unwrap().is_some(), "a tempo later");

    // An activity cutoff shorter than two tempos brings them closer: twice within it.
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::ActivityCutoff(10),
        },
    );
    chain.next_epoch(NET);
    let mut next_set = async || {
        for _ in 0..=tempo {
            if let Some(height) = v.submit_weights().await.unwrap() {
                return height;
            }
            chain.advance(1);
        }
        panic!("no weights set within a tempo");
    };
    let (first, second) = (next_set().await, next_set().await);
    assert_eq!(second - first, 5, "half the cutoff");
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_commit_is_not_sent_again_every_round() {
    let (chain, miners, state, mut v) = commit_reveal_network("refused").await;
    chain.advance(40);
    chain.ok(
        "owner",
        Call::SetHyperparameter {
            netuid: NET,
            param: Hyperparameter::WeightsRateLimit(25),
        },
    );
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    v.submit_weights()
        .await
        .unwrap()
        .expect("a commit was made");
    // The process restarts without its reveal file. The chain counts the commit it
    // holds towards the rate limit, which the validator cannot see, and refuses another.
    drop(v);
    std::fs::remove_dir_all(&state).unwrap();
    let mut v = validator_keeping_state(&chain, Some(state.clone()));
    v.round().await.unwrap();
    let refused = v.submit_weights().await.unwrap_err();
    assert!(
        matches!(&refused, ChainError::Refused(why) if why.contains("rate")),
        "{refused}"
    );
    // Its fee is paid: the next try waits a weights interval, not the next round.
    assert_eq!(v.submit_weights().await, Ok(None));
    let _ = std::fs::remove_dir_all(&state);
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_go_through_commit_reveal_when_the_subnet_asks() {
    let (chain, miners, state, mut v) = commit_reveal_network("loops").await;
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    let me = |g: &[plexus_ledger::NeuronInfo]| {
        g.iter()
            .find(|n| n.hotkey == id("val-hot"))
            .unwrap()
            .last_update
    };
    let standing = me(&chain.metagraph_now(NET));
    let committed = v
        .submit_weights()
        .await
        .unwrap()
        .expect("a commit was made");
    assert!(committed > standing);
    // The chain dates weights by their decision: a commit is not an update of the weights
    // standing (it counts as one for the rate limit only).
    assert_eq!(me(&chain.metagraph_now(NET)), standing);
    // Nothing is revealed (or re-committed) before the commit matures.
    assert_eq!(v.submit_weights().await, Ok(None));
    assert_eq!(me(&chain.metagraph_now(NET)), standing);
    // The validator restarts before the reveal epoch: the new process reveals the commit
    // the old one made, and commits nothing new meanwhile.
    drop(v);
    let mut v = validator_keeping_state(&chain, Some(state.clone()));
    v.round().await.unwrap();
    assert_eq!(v.submit_weights().await, Ok(None));
    assert_eq!(me(&chain.metagraph_now(NET)), standing);
    chain.next_epoch(NET);
    let revealed = v
        .submit_weights()
        .await
        .unwrap()
        .expect("revealed in the next epoch");
    assert_eq!(me(&chain.metagraph_now(NET)), revealed);
    chain.next_epoch(NET);
    let graph = chain.metagraph_now(NET);
    let paid = graph.iter().filter(|n| n.incentive > 0).count();
    assert_eq!(
        paid, 3,
        "the three answering miners of four are paid: {graph:?}"
    );
    let left: Vec<_> = std::fs::read_dir(&state).unwrap().collect();
    assert!(
        left.is_empty(),
        "a revealed commit leaves no file: {left:?}"
    );
    let _ = std::fs::remove_dir_all(&state);
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_cannot_be_on_chain_is_forgotten_and_one_that_may_be_is_kept() {
    let (chain, miners, state, mut v) = commit_reveal_network("commit").await;
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    let files = || std::fs::read_dir(&state).map_or(0, |d| d.count());

    // Never sent: nothing is on chain, so nothing is kept, and the next try commits.
    chain.fail_next_submit(ChainError::NotSent("node down".into()));
    assert!(matches!(
        v.submit_weights().await,
        Err(ChainError::NotSent(_))
    ));
    assert_eq!(files(), 0);
    // Refused: the same.
    chain.fail_next_submit(ChainError::Refused("too many commits".into()));
    assert!(matches!(
        v.submit_weights().await,
        Err(ChainError::Refused(_))
    ));
    assert_eq!(files(), 0);
    // The answer was lost: the commit may be on chain, so its salt is kept and nothing
    // new is committed until its reveal is due.
    chain.fail_next_submit(ChainError::Unreachable("connection reset".into()));
    assert!(matches!(
        v.submit_weights().await,
        Err(ChainError::Unreachable(_))
    ));
    assert_eq!(files(), 1);
    assert_eq!(v.submit_weights().await, Ok(None));
    let _ = std::fs::remove_dir_all(&state);
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_validator_registers_again() {
    // Room for the owner and one more, none immune: a newcomer prunes the validator.
    let params = SubnetParams {
        max_allowed_uids: 2,
        immunity_period: 0,
        ..params()
    };
    let chain = Arc::new(LedgerChain::new(NAMES, params));
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: Balance::from_rao(1_000 * TOKEN),
        },
    );
    let mut config = ValidatorConfig::new(NET);
    config.round_interval = Duration::from_millis(50);
    let v = Validator::new(
        Arc::clone(&chain),
        Arc::<SumSubnet>::default(),
        key("val-hot"),
        Some(key("val")),
        config,
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(v.run(async move {
        let _ = stopped.await;
    }));
    let registered = || {
        chain
            .metagraph_now(NET)
            .iter()
            .any(|n| n.hotkey == id("val-hot"))
    };
    until("the validator never registered", registered).await;
    chain.ok(
        "owner",
        Call::Register {
            netuid: NET,
            hotkey: id("newcomer"),
            max_burn: Balance::from_rao(100 * TOKEN),
        },
    );
    assert!(!registered(), "the newcomer took the validator's UID");
    until("the pruned validator never came back", registered).await;
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Waits until `done`, failing with `what` after 10 s.
async fn until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reveal_for_an_epoch_the_chain_cannot_have_set_does_not_hold_back_weights() {
    // A commit on one chain, its reveal file kept...
    let (_, old_miners, old_state, mut old) = commit_reveal_network("reset-old").await;
    all_admitted(&old, &old_miners).await;
    old.round().await.unwrap();
    assert!(matches!(old.submit_weights().await, Ok(Some(_))));
    let file = std::fs::read_dir(&old_state)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let mut pending: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    // ...then the devnet is reset and has run far less: a file written before chains
    // were recorded, for an epoch the new chain is nowhere near.
    pending["reveal_epoch"] = 10_000.into();
    pending.as_object_mut().unwrap().remove("chain_id");
    let (chain, miners, state, _) = commit_reveal_network("reset-new").await;
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join(file.file_name()), pending.to_string()).unwrap();
    let mut v = validator_keeping_state(&chain, Some(state.clone()));
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    assert!(
        matches!(v.submit_weights().await, Ok(Some(_))),
        "the stale reveal held back a new commit"
    );
    for dir in [old_state, state] {
        let _ = std::fs::remove_dir_all(dir);
    }
    old_miners.stop().await;
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_are_set_when_due_even_during_a_long_round() {
    let chain = Arc::new(LedgerChain::new(NAMES, params()));
    let miners = serve(network(&chain).await);
    // Answers wait for the gate's permits: plenty for the first round.
    let gate = Arc::new(tokio::sync::Semaphore::new(1_000));
    let subnet = Arc::new(SumSubnet {
        gate: Some(Arc::clone(&gate)),
        ..SumSubnet::default()
    });
    let mut v = validator_judging(&chain, None, Arc::clone(&subnet));
    permit(&chain, &mut v).await;
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    let first = v.submit_weights().await.unwrap().expect("weights set");
    // From here every answer waits for the test: the next round hangs, past any
    // activity cutoff, as behind miners busy with a long prompt.
    let left = u32::try_from(gate.available_permits()).unwrap();
    gate.try_acquire_many(left).unwrap().forget();
    let asked = subnet.asked.lock().unwrap().len();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(v.run(async move {
        let _ = stopped.await;
    }));
    until("no round started", || {
        subnet.asked.lock().unwrap().len() > asked
    })
    .await;
    let updated = || {
        chain
            .metagraph_now(NET)
            .iter()
            .find(|n| n.hotkey == id("val-hot"))
            .is_some_and(|n| n.last_update > first)
    };
    until("the weights waited for the round", updated).await;
    gate.add_permits(1_000);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    miners.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_is_revealed_in_its_epoch_even_during_a_long_round() {
    let (chain, miners, state, mut v) = commit_reveal_network("slow-round").await;
    all_admitted(&v, &miners).await;
    v.round().await.unwrap();
    let committed = v
        .submit_weights()
        .await
        .unwrap()
        .expect("a commit was made");
    drop(v);
    // The next run's rounds hang on their miners' answers until the test lets them go.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let subnet = Arc::new(SumSubnet {
        gate: Some(Arc::clone(&gate)),
        ..SumSubnet::default()
    });
    let v = validator_judging(&chain, Some(state.clone()), Arc::clone(&subnet));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(v.run(async move {
        let _ = stopped.await;
    }));
    until("no round started", || {
        !subnet.asked.lock().unwrap().is_empty()
    })
    .await;
    chain.next_epoch(NET);
    let updated = || {
        chain
            .metagraph_now(NET)
            .iter()
            .find(|n| n.hotkey == id("val-hot"))
            .is_some_and(|n| n.last_update > committed)
    };
    until("the reveal waited for the round", updated).await;
    gate.add_permits(1_000);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&state);
    miners.stop().await;
}
