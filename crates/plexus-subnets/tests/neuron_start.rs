//! How a neuron starts: a miner checks what can fail locally (its port) before paying to
//! register, and a validator's log lines name the subnet they are about, since one
//! process may validate several.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::fmt::{Debug, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{LedgerChain, TOKEN, id, key};
use plexus_ledger::SubnetParams;
use plexus_primitives::{AxonInfo, AxonProtocol, Balance, Call, NetUid};
use plexus_subnets::{
    Evaluation, MinerConfig, MinerError, RegistrationError, Subnet, Validator, ValidatorConfig,
    start_miner,
};
use plexus_wire::{AxonScope, Client, Reply, Routes, Target};
use rand::rngs::StdRng;
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, span};

const NET: NetUid = NetUid(1);

fn chain() -> Arc<LedgerChain> {
    chain_with(SubnetParams {
        tempo: 10,
        ..SubnetParams::default()
    })
}

/// A chain with subnet 1 on `params`.
fn chain_with(params: SubnetParams) -> Arc<LedgerChain> {
    let chain = Arc::new(LedgerChain::new(&["owner", "miner", "val"], params));
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: Balance::from_rao(1_000 * TOKEN),
        },
    );
    chain
}

/// A route that answers 0: these tests are about what happens around serving.
fn zero_routes() -> Routes {
    Routes::new()
        .route("echo", |_req| async move { Reply::json(&0u8) })
        .unwrap()
}

#[tokio::test]
async fn a_miner_whose_port_is_taken_registers_nothing() {
    let chain = chain();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = MinerConfig::new(NET, taken.local_addr().unwrap());
    let routes = zero_routes();
    let result = start_miner(
        Arc::clone(&chain),
        key("miner-hot"),
        Some(key("miner")),
        config,
        routes,
    )
    .await;
    assert!(
        matches!(result, Err(MinerError::Server(_))),
        "{:?}",
        result.map(|m| m.addr())
    );
    // No burn paid: the hotkey is not on the subnet.
    assert!(
        chain
            .metagraph_now(NET)
            .iter()
            .all(|n| n.hotkey != id("miner-hot")),
        "registered although the axon could not listen"
    );
}

#[tokio::test]
async fn a_registration_price_above_the_max_burn_is_refused_before_paying() {
    let chain = chain();
    let before = chain.balance("miner");
    let mut config = MinerConfig::new(NET, "127.0.0.1:0".parse().unwrap());
    config.max_burn = Balance::from_rao(1);
    let result = start_miner(
        Arc::clone(&chain),
        key("miner-hot"),
        Some(key("miner")),
        config,
        zero_routes(),
    )
    .await;
    let Err(MinerError::Registration(RegistrationError::PriceAboveMax { price, .. })) = result
    else {
        panic!("{:?}", result.map(|m| m.addr()))
    };
    assert!(price > Balance::from_rao(1));
    // A registration the chain refuses would have paid its fee.
    assert_eq!(chain.balance("miner"), before, "nothing was sent");
}

/// A subnet with no miners to ask: rounds are empty, but still logged.
struct Quiet;

impl Subnet for Quiet {
    type Challenge = ();

    fn name(&self) -> &str {
        "quiet"
    }

    fn challenge(&self, _rng: &mut StdRng) {}

    async fn evaluate(&self, _client: &Client, _target: &Target, _c: &()) -> Evaluation {
        Evaluation::unavailable("never asked")
    }
}

/// Keeps every event as one line of `name=value` pairs.
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = String::new();
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

// One thread: the capturing subscriber is this thread's default, and the validator must
// log on it.
#[tokio::test(flavor = "current_thread")]
async fn a_validators_round_lines_name_the_subnet() {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&lines)));
    let chain = chain();
    let mut config = ValidatorConfig::new(NET);
    config.axon_scope = AxonScope::All;
    config.round_interval = Duration::from_millis(20);
    let v = Validator::new(
        Arc::clone(&chain),
        Arc::new(Quiet),
        key("val-hot"),
        Some(key("val")),
        config,
    );
    v.run(tokio::time::sleep(Duration::from_millis(300)))
        .await
        .unwrap();
    let lines = lines.lock().unwrap();
    let rounds: Vec<&String> = lines.iter().filter(|l| l.contains("round done")).collect();
    assert!(!rounds.is_empty(), "no round logged: {lines:?}");
    for line in rounds {
        assert!(line.contains("netuid=1 "), "{line}");
        assert!(line.contains("subnet=\"quiet\""), "{line}");
    }
}

/// Where the chain says the test miner's hotkey serves.
fn axon_on_chain(chain: &LedgerChain) -> Option<std::net::SocketAddr> {
    chain
        .metagraph_now(NET)
        .iter()
        .find(|n| n.hotkey == id("miner-hot"))
        .and_then(|n| n.axon)
        .map(|a| std::net::SocketAddr::new(a.ip, a.port))
}

/// Waits (up to 10 s) for the chain to say the test miner serves at `addr`.
async fn wait_for_axon(chain: &LedgerChain, addr: std::net::SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while axon_on_chain(chain) != Some(addr) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the axon stayed at {:?}",
            axon_on_chain(chain)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Another process announced the miner's hotkey elsewhere (an old run, a copy of the keys):
/// the miner puts its own axon back, so validators call the process that serves.
#[tokio::test]
async fn a_miner_takes_its_axon_back_from_another_address() {
    let chain = chain_with(SubnetParams {
        serving_rate_limit: 0,
        ..SubnetParams::default()
    });
    let mut config = MinerConfig::new(NET, "127.0.0.1:0".parse().unwrap());
    config.sync_interval = Duration::from_millis(20);
    let routes = zero_routes();
    let miner = start_miner(
        Arc::clone(&chain),
        key("miner-hot"),
        Some(key("miner")),
        config,
        routes,
    )
    .await
    .unwrap();
    let ours = miner.addr();
    assert_eq!(axon_on_chain(&chain), Some(ours));
    let elsewhere: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    chain.ok(
        "miner",
        Call::ServeAxon {
            netuid: NET,
            hotkey: id("miner-hot"),
            axon: AxonInfo {
                ip: elsewhere.ip(),
                port: elsewhere.port(),
                protocol: AxonProtocol::Http,
                version: 1,
            },
        },
    );
    assert_eq!(axon_on_chain(&chain), Some(elsewhere));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(miner.serve(async move {
        let _ = stopped.await;
    }));
    wait_for_axon(&chain, ours).await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}

/// A miner restarted on a new port right after announcing the old one meets the chain's
/// serving rate limit: it serves anyway and announces once the limit allows.
#[tokio::test]
async fn a_restarted_miner_waits_out_the_serving_rate_limit() {
    let chain = chain_with(SubnetParams {
        serving_rate_limit: 20,
        ..SubnetParams::default()
    });
    let start = || {
        let mut config = MinerConfig::new(NET, "127.0.0.1:0".parse().unwrap());
        config.sync_interval = Duration::from_millis(20);
        start_miner(
            Arc::clone(&chain),
            key("miner-hot"),
            Some(key("miner")),
            config,
            zero_routes(),
        )
    };
    let first = start().await.unwrap();
    let old = first.addr();
    drop(first);
    let again = start()
        .await
        .expect("a rate-limited announcement is not fatal");
    let new = again.addr();
    assert_ne!(old, new);
    assert_eq!(axon_on_chain(&chain), Some(old));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(again.serve(async move {
        let _ = stopped.await;
    }));
    chain.advance(25);
    wait_for_axon(&chain, new).await;
    let _ = stop.send(());
    serving.await.unwrap().unwrap();
}
