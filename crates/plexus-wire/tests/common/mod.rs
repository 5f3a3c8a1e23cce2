//! A miner with counting routes, registered validators, and ways to send raw requests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt as _, stream};
use plexus_primitives::{ChainId, Keypair, NetUid};
use plexus_wire::{
    AxonScope, Client, ClientConfig, HandlerError, NeuronInfo, Reply, RequestHeaders,
    RequestParams, Routes, RunningServer, Server, ServerConfig, StaticMetagraph, Target,
    WireRequest, unix_nanos,
};
use serde_json::json;

pub const NETUID: NetUid = NetUid(7);
pub const MIN_STAKE: u64 = 1_000;

pub fn chain() -> ChainId {
    ChainId::new("plexus-test").unwrap()
}

/// A client's settings for calling the miners of these tests, all on loopback.
pub fn config() -> ClientConfig {
    ClientConfig {
        axon_scope: AxonScope::All,
        ..ClientConfig::new(chain())
    }
}

pub fn key(n: u8) -> Keypair {
    Keypair::from_seed([n; 32])
}

/// Validator 1 has enough stake, validator 2 too little, validator 3 is not registered.
pub const STAKED: u8 = 1;
pub const POOR: u8 = 2;
pub const STRANGER: u8 = 3;
pub const MINER: u8 = 100;

pub struct Miner {
    pub server: RunningServer,
    pub target: Target,
    /// Handler invocations, all routes together.
    pub calls: Arc<AtomicUsize>,
    /// Handlers running right now, and the most seen at once.
    pub running: Arc<AtomicUsize>,
    pub peak: Arc<AtomicUsize>,
    pub metagraph: Arc<StaticMetagraph>,
}

impl Miner {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

struct Gauge(Arc<AtomicUsize>);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn routes(calls: &Arc<AtomicUsize>, running: &Arc<AtomicUsize>, peak: &Arc<AtomicUsize>) -> Routes {
    let count = {
        let (calls, running, peak) = (calls.clone(), running.clone(), peak.clone());
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            Gauge(running.clone())
        }
    };
    let (c1, c2, c3, c4) = (count.clone(), count.clone(), count.clone(), count);
    Routes::new()
        .route("AddInts", move |req: WireRequest| {
            let gauge = c1();
            async move {
                let _gauge = gauge;
                let v: serde_json::Value = req.json()?;
                let sum = v["a"].as_i64().unwrap_or(0) + v["b"].as_i64().unwrap_or(0);
                Reply::json(
                    &json!({ "result": sum, "caller": req.caller, "stake": req.neuron.stake }),
                )
            }
        })
        .unwrap()
        .route("Slow", move |req: WireRequest| {
            let gauge = c2();
            async move {
                let _gauge = gauge;
                let ms: u64 = req.json()?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Reply::json(&ms)
            }
        })
        .unwrap()
        .route("Tokens", move |req: WireRequest| {
            let _gauge = c3();
            async move {
                // A negative count is the handler failing after |n| tokens.
                let n: i64 = req.json()?;
                let tokens =
                    (0..n.unsigned_abs()).map(|i| Ok(json!({ "token": format!("tok{i}") })));
                let failure = (n < 0).then(|| Err(HandlerError::new(503, "backend went away")));
                Ok(Reply::stream(stream::iter(tokens.chain(failure))))
            }
        })
        .unwrap()
        .route("LateTokens", move |req: WireRequest| {
            async move {
                // `tokens` tokens, the first after `wait_ms`: a long prompt's answer.
                let v: serde_json::Value = req.json()?;
                let wait = Duration::from_millis(v["wait_ms"].as_u64().unwrap_or(0));
                let n = v["tokens"].as_u64().unwrap_or(0);
                let tokens = stream::once(tokio::time::sleep(wait)).flat_map(move |()| {
                    stream::iter((0..n).map(|i| Ok(json!({ "token": format!("tok{i}") }))))
                });
                Ok(Reply::stream(tokens))
            }
        })
        .unwrap()
        .route("Fail", move |_req: WireRequest| {
            let _gauge = c4();
            async move { Err(HandlerError::new(422, "cannot do that")) }
        })
        .unwrap()
}

/// Starts a miner on loopback; `tune` adjusts the default config.
pub async fn start_miner(tune: impl FnOnce(&mut ServerConfig)) -> Miner {
    let metagraph = Arc::new(StaticMetagraph::new());
    let info = |stake| NeuronInfo {
        stake,
        validator_permit: true,
    };
    metagraph.insert(NETUID, key(STAKED).account_id(), info(MIN_STAKE * 10));
    metagraph.insert(NETUID, key(POOR).account_id(), info(MIN_STAKE - 1));
    for n in 10..20 {
        metagraph.insert(NETUID, key(n).account_id(), info(MIN_STAKE * u64::from(n)));
    }
    let mut config = ServerConfig::new(chain(), NETUID);
    config.min_stake = MIN_STAKE;
    tune(&mut config);
    let calls = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handler = routes(&calls, &running, &peak);
    let server = Server::new(key(MINER), config, handler, metagraph.clone())
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let target = Target {
        addr: server.local_addr(),
        hotkey: key(MINER).account_id(),
        netuid: NETUID,
    };
    Miner {
        server,
        target,
        calls,
        running,
        peak,
        metagraph,
    }
}

pub fn client(n: u8) -> Client {
    Client::new(key(n), config())
}

pub fn body(value: serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&value).unwrap())
}

/// Headers for `route` and `body` signed by validator `n`, nonce now, lane 0.
pub fn signed(n: u8, target: &Target, route: &str, body: &[u8]) -> RequestHeaders {
    let params = RequestParams {
        callee: target.hotkey,
        netuid: target.netuid,
        nonce: unix_nanos(),
        lane: 0,
        route,
    };
    RequestHeaders::sign(&key(n), &chain(), params, body)
}
