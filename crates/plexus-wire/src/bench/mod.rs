//! The loopback benchmark behind `plexus bench wire`: the three scenarios of the reference
//! baseline (../shared/reference/baselines.md), with the same add-two-integers handler and
//! every server check on.
//!
//! "All checks on" means: every caller is registered with stake above a non-zero threshold,
//! every request is signed, hashed and nonce-checked, every answer signed and verified, the
//! rate limiter and the stake-priority admission run on every request. The rate limit is set
//! high enough that it never refuses here: the benchmark measures the cost of the checks,
//! not a refusal.

mod cpu;

pub use cpu::{CpuPerRequest, ScenarioCpu};

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_primitives::{ChainId, ChainIdError, Keypair, NetUid};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::client::{Call, Client, ClientConfig, ClientError, Target};
use crate::handler::{HandlerError, Reply, Routes, WireRequest};
use crate::message::RouteError;
use crate::metagraph::{NeuronInfo, StaticMetagraph};
use crate::rate::RateLimit;
use crate::scope::AxonScope;
use crate::server::{Server, ServerConfig, ServerError};
use cpu::{CpuTime, MINER_THREAD};

/// The route of the benchmark handler.
pub const ADD_ROUTE: &str = "AddInts";

/// The sizes of the three scenarios; the defaults are the reference's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireBenchConfig {
    /// Sequential requests from one client (500).
    pub sequential: usize,
    /// Requests in the concurrent scenario (1,000).
    pub concurrent_requests: usize,
    /// Concurrent clients, each its own validator hotkey (64).
    pub concurrent_clients: usize,
    /// Requests per fan-out round from one client (64).
    pub fanout_width: usize,
    /// Fan-out rounds (16).
    pub fanout_rounds: usize,
    /// Untimed requests before the sequential scenario (20).
    pub warmup: usize,
    /// Use cleartext HTTP/2 instead of HTTP/1.1 (false).
    pub http2: bool,
    /// Worker threads of the miner's own runtime (1).
    pub server_threads: usize,
}

impl Default for WireBenchConfig {
    fn default() -> Self {
        Self {
            sequential: 500,
            concurrent_requests: 1000,
            concurrent_clients: 64,
            fanout_width: 64,
            fanout_rounds: 16,
            warmup: 20,
            http2: false,
            server_threads: 1,
        }
    }
}

/// Latency percentiles and throughput of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Median request latency, milliseconds.
    pub p50_ms: f64,
    /// 99th-percentile request latency, milliseconds.
    pub p99_ms: f64,
    /// Requests per second over the scenario's wall time.
    pub rps: f64,
}

/// Throughput of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThroughputStats {
    /// Requests per second over the scenario's wall time.
    pub rps: f64,
}

/// What `plexus bench wire --json` prints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireBenchReport {
    /// 500 requests one after another from one client.
    pub sequential: LatencyStats,
    /// 1,000 requests from 64 concurrent clients.
    pub concurrent: LatencyStats,
    /// One client fanning out 64 at a time.
    pub fanout: ThroughputStats,
    /// CPU per request on each side, where the platform reports it per thread (Linux). Not
    /// part of the JSON report, whose shape is fixed.
    #[serde(skip)]
    pub cpu: Option<ScenarioCpu>,
}

/// Why the benchmark could not run to the end.
#[derive(Debug, Error)]
pub enum WireBenchError {
    /// The server failed to start.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A request failed: with every caller legitimate, any failure is a bug.
    #[error("request failed: {0}")]
    Call(#[from] ClientError),
    /// The handler answered a wrong sum.
    #[error("wrong answer: expected {expected}, got {got}")]
    WrongAnswer {
        /// The right sum.
        expected: i64,
        /// The answer received.
        got: i64,
    },
    /// A client task panicked.
    #[error("client task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Building the setup failed (never with the built-in names).
    #[error("setup: {0}")]
    Setup(String),
}

impl From<ChainIdError> for WireBenchError {
    fn from(e: ChainIdError) -> Self {
        Self::Setup(e.to_string())
    }
}

impl From<RouteError> for WireBenchError {
    fn from(e: RouteError) -> Self {
        Self::Setup(e.to_string())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct AddInts {
    a: i64,
    b: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sum {
    result: i64,
}

/// The benchmark's handler: adds two integers.
pub fn add_ints_routes() -> Result<Routes, RouteError> {
    Routes::new().route(ADD_ROUTE, |request: WireRequest| async move {
        let AddInts { a, b } = request.json()?;
        let result = a
            .checked_add(b)
            .ok_or_else(|| HandlerError::bad_request("overflow"))?;
        Reply::json(&Sum { result })
    })
}

/// Starts a server on 127.0.0.1 with every check on, on a runtime of its own
/// (`server_threads` workers), runs the three scenarios against it from clients on the
/// caller's runtime, and stops it.
pub async fn bench_loopback(config: WireBenchConfig) -> Result<WireBenchReport, WireBenchError> {
    let chain_id = ChainId::new("plexus-bench")?;
    let netuid = NetUid(1);
    let miner = Keypair::from_seed([0xb0; 32]);
    let validators: Vec<Keypair> = (0..config.concurrent_clients.max(1))
        .map(|i| {
            let mut seed = [0xb1; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            Keypair::from_seed(seed)
        })
        .collect();

    let metagraph = Arc::new(StaticMetagraph::new());
    for v in &validators {
        let info = NeuronInfo {
            stake: 1_000_000,
            validator_permit: true,
        };
        metagraph.insert(netuid, v.account_id(), info);
    }
    let mut server_config = ServerConfig::new(chain_id.clone(), netuid);
    server_config.min_stake = 1_000;
    server_config.rate_limit = Some(RateLimit {
        per_second: 1e9,
        burst: u32::MAX,
    });
    // The miner runs on its own threads, as it would in its own process: sharing the
    // clients' runtime makes each request hop between worker threads twice more.
    let server_runtime = MinerRuntime(Some(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.server_threads.max(1))
            .thread_name(MINER_THREAD)
            .enable_all()
            .build()
            .map_err(|e| WireBenchError::Setup(format!("starting the miner's runtime: {e}")))?,
    ));
    let routes = add_ints_routes()?;
    let server = server_runtime
        .handle()?
        .spawn(
            Server::new(miner.clone(), server_config, routes, metagraph)
                .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
        )
        .await
        .map_err(|e| WireBenchError::Setup(format!("the miner's runtime: {e}")))??;
    let target = Target {
        addr: server.local_addr(),
        hotkey: miner.account_id(),
        netuid,
    };
    let mut client_config = ClientConfig::new(chain_id);
    // The miner is on this machine.
    client_config.axon_scope = AxonScope::All;
    client_config.http2 = config.http2;
    let clients: Vec<Client> = validators
        .into_iter()
        .map(|v| Client::new(v, client_config.clone()))
        .collect();

    let report = run_scenarios(&config, &clients, target).await;
    let stopped = server_runtime.handle()?.spawn(server.shutdown()).await;
    drop(server_runtime);
    stopped.map_err(|e| WireBenchError::Setup(format!("the miner's runtime: {e}")))??;
    report
}

/// The miner's runtime, shut down without blocking when dropped: this happens inside
/// the clients' async context, where dropping a runtime outright panics.
struct MinerRuntime(Option<tokio::runtime::Runtime>);

impl MinerRuntime {
    fn handle(&self) -> Result<&tokio::runtime::Handle, WireBenchError> {
        self.0
            .as_ref()
            .map(|r| r.handle())
            .ok_or_else(|| WireBenchError::Setup("the miner's runtime is gone".into()))
    }
}

impl Drop for MinerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

async fn run_scenarios(
    config: &WireBenchConfig,
    clients: &[Client],
    target: Target,
) -> Result<WireBenchReport, WireBenchError> {
    let Some(first) = clients.first() else {
        return Err(WireBenchError::Setup("no clients".into()));
    };

    for i in 0..config.warmup {
        add(first, &target, i as i64, 1).await?;
    }
    let mut latencies = Vec::with_capacity(config.sequential);
    let cpu_start = CpuTime::now();
    let start = Instant::now();
    for i in 0..config.sequential {
        let t = Instant::now();
        add(first, &target, i as i64, 2).await?;
        latencies.push(t.elapsed());
    }
    let sequential = latency_stats(latencies, start.elapsed());
    let sequential_cpu = cpu_per_request(cpu_start, config.sequential);

    for client in clients {
        add(client, &target, 0, 0).await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let total = config.concurrent_requests;
    let cpu_start = CpuTime::now();
    let start = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, next) = (client.clone(), Arc::clone(&next));
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok::<_, WireBenchError>(latencies);
                    }
                    let t = Instant::now();
                    add(&client, &target, i as i64, 3).await?;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let concurrent = latency_stats(latencies, start.elapsed());
    let concurrent_cpu = cpu_per_request(cpu_start, total);

    let mut busy = Duration::ZERO;
    let mut count = 0usize;
    let cpu_start = CpuTime::now();
    for round in 0..config.fanout_rounds {
        let body = Bytes::from(
            serde_json::to_vec(&AddInts {
                a: round as i64,
                b: 4,
            })
            .map_err(|e| WireBenchError::Setup(e.to_string()))?,
        );
        let calls = (0..config.fanout_width).map(|_| Call {
            target,
            route: ADD_ROUTE.to_owned(),
            body: body.clone(),
        });
        let t = Instant::now();
        let results = first.call_many(calls, config.fanout_width).await;
        busy += t.elapsed();
        for result in results {
            check_sum(&result?, round as i64 + 4)?;
            count += 1;
        }
    }
    let fanout = ThroughputStats {
        rps: per_second(count, busy),
    };
    let cpu = match (
        sequential_cpu,
        concurrent_cpu,
        cpu_per_request(cpu_start, count),
    ) {
        (Some(sequential), Some(concurrent), Some(fanout)) => Some(ScenarioCpu {
            sequential,
            concurrent,
            fanout,
        }),
        _ => None,
    };

    Ok(WireBenchReport {
        sequential,
        concurrent,
        fanout,
        cpu,
    })
}

/// CPU per request since `start`, if the platform reports it.
fn cpu_per_request(start: Option<CpuTime>, requests: usize) -> Option<CpuPerRequest> {
    Some(CpuTime::now()?.per_request_since(start?, requests))
}

async fn add(client: &Client, target: &Target, a: i64, b: i64) -> Result<(), WireBenchError> {
    let body =
        serde_json::to_vec(&AddInts { a, b }).map_err(|e| WireBenchError::Setup(e.to_string()))?;
    let response = client.call(target, ADD_ROUTE, Bytes::from(body)).await?;
    check_sum(&response, a + b)
}

fn check_sum(response: &crate::SignedResponse, expected: i64) -> Result<(), WireBenchError> {
    let Sum { result } = response.json()?;
    if result == expected {
        Ok(())
    } else {
        Err(WireBenchError::WrongAnswer {
            expected,
            got: result,
        })
    }
}

fn latency_stats(mut latencies: Vec<Duration>, wall: Duration) -> LatencyStats {
    latencies.sort_unstable();
    LatencyStats {
        p50_ms: percentile_ms(&latencies, 0.50),
        p99_ms: percentile_ms(&latencies, 0.99),
        rps: per_second(latencies.len(), wall),
    }
}

/// The reference script's percentile: the sorted sample at `round(q * (n - 1))`.
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[index.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn per_second(count: usize, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_the_reference_rule() {
        let xs: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&xs, 0.5), 51.0);
        assert_eq!(percentile_ms(&xs, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_bench_runs_and_serializes_as_specified() {
        let config = WireBenchConfig {
            sequential: 10,
            concurrent_requests: 20,
            concurrent_clients: 4,
            fanout_width: 4,
            fanout_rounds: 2,
            warmup: 2,
            http2: false,
            server_threads: 1,
        };
        let report = bench_loopback(config).await.unwrap();
        assert!(report.sequential.rps > 0.0 && report.fanout.rps > 0.0);
        if cfg!(target_os = "linux") {
            // Both sides sign and verify, so both spend CPU on every request.
            let cpu = report.cpu.unwrap();
            for side in [cpu.sequential, cpu.concurrent, cpu.fanout] {
                assert!(side.miner_ms > 0.0 && side.validators_ms > 0.0, "{cpu:?}");
            }
        }
        let json = serde_json::to_value(report).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&json), ["concurrent", "fanout", "sequential"]);
        assert_eq!(keys(&json["sequential"]), ["p50_ms", "p99_ms", "rps"]);
        assert_eq!(keys(&json["concurrent"]), ["p50_ms", "p99_ms", "rps"]);
        assert_eq!(keys(&json["fanout"]), ["rps"]);
    }
}
