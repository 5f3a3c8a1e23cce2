//! `plexus bench chain`: finalized transfers per second and finality
//! latency on a 4-node devnet on loopback, measured end to end through the
//! nodes' JSON-RPC (submission over HTTP, finality seen over WebSocket).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use jsonrpsee_http_client::HttpClientBuilder;
use jsonrpsee_ws_client::WsClientBuilder;
use plexus_node::rpc::PlexusApiClient;
use plexus_primitives::{AccountId, Balance, Call, ChainId, Encode, Hash, Transaction};
use serde::Serialize;

use crate::client::block_on;
use crate::devnet::{self, InitArgs, dev_keypair};

/// `plexus bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Finalized transfers per second and finality latency on a local devnet.
    Chain(ChainArgs),
    /// The validator-to-miner protocol on loopback, all checks on: sequential,
    /// 64 concurrent clients, and a 64-wide fan-out (the reference's scenarios).
    Wire(WireArgs),
    /// The embedded models: text tokens per second and verification cost, embeddings per
    /// second (fetches the models first if missing).
    Models(ModelArgs),
    /// What the OpenAI-compatible gateway adds over calling a miner directly (loopback, a constant
    /// embedding miner).
    Gateway(GatewayArgs),
}

/// Arguments of `plexus bench gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Requests per path
    #[arg(long, default_value_t = 2_000)]
    pub requests: usize,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plexus bench models`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Tokens generated per text run
    #[arg(long, default_value_t = 32)]
    pub tokens: usize,
    /// Runs of each measurement (the best is reported)
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Compute threads
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plexus bench wire`.
#[derive(Debug, Args)]
pub struct WireArgs {
    /// Use cleartext HTTP/2 instead of HTTP/1.1
    #[arg(long)]
    pub http2: bool,
    /// Print `{"sequential": {...}, "concurrent": {...}, "fanout": {...}}`
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `plexus bench chain`.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Chain validators (nodes) to start
    #[arg(long, default_value_t = 4)]
    pub validators: u16,
    /// Sending accounts
    #[arg(long, default_value_t = 400)]
    pub accounts: u32,
    /// Transfers per account
    #[arg(long, default_value_t = 20)]
    pub per_account: u32,
    /// First port to use (p2p, RPC and metrics ports follow)
    #[arg(long, default_value_t = 31_000)]
    pub base_port: u16,
    /// Blocks per consensus epoch (8 or more): short epochs show whether every
    /// validator's heartbeat still lands in each epoch under the load
    #[arg(long, default_value_t = plexus_ledger::Economics::default().validator_epoch_length,
          value_parser = clap::value_parser!(u64).range(8..))]
    pub epoch_length: u64,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// The measured figures.
#[derive(Debug, Serialize)]
pub struct ChainReport {
    /// Transfers submitted and finalized.
    pub transactions: usize,
    /// From the first submission to the last finalization.
    pub seconds: f64,
    /// Finalized transfers per second.
    pub tps: f64,
    /// Median submission-to-finalization latency.
    pub p50_ms: f64,
    /// 99th percentile of it.
    pub p99_ms: f64,
    /// Blocks that carried them.
    pub blocks: usize,
    /// Consensus epochs whose every block the bench saw finalized.
    pub epochs: u64,
    /// Over those epochs, the bonded validators' heartbeats no block of the
    /// epoch carried (each would cost its node its seat at the epoch's end).
    pub heartbeats_missed: u64,
}

/// Runs a bench.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    let args = match cmd {
        BenchCommand::Chain(args) => args,
        BenchCommand::Wire(args) => return wire(&args),
        BenchCommand::Models(args) => return models(&args),
        BenchCommand::Gateway(args) => return gateway(&args),
    };
    let dir = std::env::temp_dir().join(format!("plexus-bench-{}", std::process::id()));
    let init = InitArgs {
        validators: args.validators,
        dir: dir.clone(),
        p2p_port: args.base_port,
        rpc_port: args.base_port + 100,
        metrics_port: args.base_port + 200,
        epoch_length: args.epoch_length,
        force: true,
        load_accounts: args.accounts,
    };
    let file = devnet::init_quiet(&init)?;
    let mut children = devnet::spawn_nodes(&file)?;
    let result = block_on(measure(&file, &args));
    devnet::stop(&mut children);
    let _ = std::fs::remove_dir_all(&dir);
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} transfers finalized in {:.2} s: {:.0} tx/s; finality p50 {:.0} ms, p99 {:.0} ms ({} blocks)",
            report.transactions,
            report.seconds,
            report.tps,
            report.p50_ms,
            report.p99_ms,
            report.blocks
        );
        if report.epochs > 0 {
            println!(
                "{} epochs of {} blocks seen whole; heartbeats missed in them: {}",
                report.epochs, args.epoch_length, report.heartbeats_missed
            );
        }
    }
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn measure(file: &devnet::DevnetFile, args: &ChainArgs) -> anyhow::Result<ChainReport> {
    let clients = file
        .nodes
        .iter()
        .map(|n| {
            HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(30))
                .build(&n.rpc_url)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // Wait for the chain to run.
    let start = Instant::now();
    loop {
        if let Ok(s) = clients[0].status().await
            && s.finalized_height >= 2
        {
            break;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "the devnet did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = clients[0].status().await?;
    let chain_id = ChainId::new(status.chain_id.clone())?;
    let to = dev_keypair("alice").account_id();

    // Sign everything first, so the measurement is the chain's, not ours.
    let mut batches = Vec::new();
    for a in 0..args.accounts {
        let key = dev_keypair(&format!("bench-{a}"));
        let txs: Vec<(Hash, String)> = (0..args.per_account)
            .map(|nonce| {
                let tx = Transaction {
                    chain_id: chain_id.clone(),
                    signer: key.account_id(),
                    nonce: u64::from(nonce),
                    fee: status.min_fee,
                    call: Call::Transfer {
                        to,
                        amount: Balance::from_rao(1_000),
                    },
                }
                .sign(&key);
                (tx.hash(), hex::encode(tx.encode()))
            })
            .collect();
        batches.push(txs);
    }

    let ours: BTreeSet<Hash> = batches.iter().flatten().map(|(h, _)| *h).collect();
    let ws_url = file.nodes[0].rpc_url.replacen("http://", "ws://", 1);
    let ws = WsClientBuilder::default()
        .build(&ws_url)
        .await
        .context("subscribing to finalized blocks")?;
    let mut finalized = ws.subscribe_finalized().await?;
    let total = (args.accounts * args.per_account) as usize;
    let mut submitted: BTreeMap<Hash, Instant> = BTreeMap::new();
    let t0 = Instant::now();
    // Each account's transfers go to one node, in nonce order.
    let mut sends = Vec::new();
    for (a, txs) in batches.into_iter().enumerate() {
        let client = clients[a % clients.len()].clone();
        sends.push(async move {
            let mut times = Vec::with_capacity(txs.len());
            for (hash, hex) in txs {
                let at = Instant::now();
                client
                    .submit_transaction(hex)
                    .await
                    .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
                times.push((hash, at));
            }
            anyhow::Ok(times)
        });
    }
    let mut seen: BTreeMap<Hash, Instant> = BTreeMap::new();
    let mut blocks = 0usize;
    // Heartbeat senders by the epoch of the block carrying them, and the
    // heights seen: only epochs whose every block was seen are judged (the
    // subscription skips blocks for a subscriber that lags).
    let mut beats: BTreeMap<u64, BTreeSet<AccountId>> = BTreeMap::new();
    let mut heights: BTreeSet<u64> = BTreeSet::new();
    let submit_all = futures::future::try_join_all(sends);
    tokio::pin!(submit_all);
    let mut submissions_done = false;
    let deadline = Instant::now() + Duration::from_secs(180);
    while seen.len() < total {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {total} transfers finalized within 180 s",
            seen.len()
        );
        tokio::select! {
            done = &mut submit_all, if !submissions_done => {
                for (hash, at) in done?.into_iter().flatten() {
                    submitted.insert(hash, at);
                }
                submissions_done = true;
            }
            block = finalized.next() => {
                let Some(Ok(block)) = block else { anyhow::bail!("the finalized-block subscription ended") };
                let now = Instant::now();
                let height = block.header.height.0;
                heights.insert(height);
                if block.transactions.iter().any(|tx| ours.contains(&tx.hash)) {
                    blocks += 1;
                }
                for tx in &block.transactions {
                    if ours.contains(&tx.hash) {
                        seen.insert(tx.hash, now);
                    }
                    if matches!(tx.call, Call::Heartbeat { .. }) {
                        beats
                            .entry(height / args.epoch_length)
                            .or_default()
                            .insert(tx.signer);
                    }
                }
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = submitted
        .iter()
        .filter_map(|(h, at)| {
            seen.get(h)
                .map(|f| f.duration_since(*at).as_secs_f64() * 1_000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    // Every devnet validator is bonded, so each owes a heartbeat per epoch.
    let (mut epochs, mut heartbeats_missed) = (0, 0);
    let length = args.epoch_length;
    let first = heights.first().map_or(0, |low| low.div_ceil(length));
    let last = heights.last().map_or(0, |high| (high + 1) / length);
    for epoch in first..last {
        let all_seen = (epoch * length..(epoch + 1) * length).all(|h| heights.contains(&h));
        if all_seen {
            epochs += 1;
            let landed = beats.get(&epoch).map_or(0, BTreeSet::len);
            heartbeats_missed += u64::from(args.validators).saturating_sub(landed as u64);
        }
    }
    Ok(ChainReport {
        transactions: seen.len(),
        seconds: elapsed,
        tps: seen.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        blocks,
        epochs,
        heartbeats_missed,
    })
}

fn wire(args: &WireArgs) -> anyhow::Result<()> {
    let config = plexus_wire::WireBenchConfig {
        http2: args.http2,
        ..Default::default()
    };
    // The validators' side on this thread, the miner on its own (see `bench_loopback`):
    // two processes' worth of threads, as with the reference's axon and dendrite.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(plexus_wire::bench_loopback(config))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let (s, c, f) = (&report.sequential, &report.concurrent, &report.fanout);
        println!(
            "sequential  p50 {:.3} ms  p99 {:.3} ms  {:.0} req/s",
            s.p50_ms, s.p99_ms, s.rps
        );
        println!(
            "concurrent  p50 {:.3} ms  p99 {:.3} ms  {:.0} req/s",
            c.p50_ms, c.p99_ms, c.rps
        );
        println!("fan-out     {:.0} req/s", f.rps);
        if let Some(cpu) = report.cpu {
            println!("CPU per request (miner / validators):");
            for (name, side) in [
                ("sequential", cpu.sequential),
                ("concurrent", cpu.concurrent),
                ("fan-out", cpu.fanout),
            ] {
                println!(
                    "  {name:<10}  {:.3} ms / {:.3} ms",
                    side.miner_ms, side.validators_ms
                );
            }
        }
    }
    Ok(())
}

fn models(args: &ModelArgs) -> anyhow::Result<()> {
    use plexus_models::{ComputeOptions, EmbeddingModel, ModelKind, TextModel};
    let dir = crate::models::models_dir()?;
    let options = ComputeOptions {
        threads: args.threads,
    };
    let text_dir = crate::models::ensure(&dir, ModelKind::Text)?;
    let embed_dir = crate::models::ensure(&dir, ModelKind::Embedding)?;
    let text = TextModel::load_with(&text_dir, &options)?;
    let t = plexus_models::bench_text(&text, args.tokens, args.runs)?;
    drop(text);
    let embed = EmbeddingModel::load_with(&embed_dir, &options)?;
    let e = plexus_models::bench_embed(&embed, 32, args.runs)?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if args.json {
        let value = serde_json::json!({
            "text": {
                "threads": t.threads,
                "prompt_tokens": t.prompt_tokens,
                "tokens": t.tokens,
                "time_to_first_token_ms": ms(t.time_to_first_token),
                "decode_tokens_per_second": t.decode_tokens_per_second,
                "tokens_per_second": t.tokens_per_second,
                "verify_ms": ms(t.score_time),
            },
            "embeddings": {
                "threads": e.threads,
                "one_by_one_per_second": e.one_by_one_per_second,
                "batched_per_second": e.batched_per_second,
                "batch": e.batch,
            },
        });
        println!("{value}");
        return Ok(());
    }
    println!(
        "text        {} tokens after a {}-token prompt, {} thread(s)",
        t.tokens, t.prompt_tokens, t.threads
    );
    println!(
        "            first token {:.0} ms, decoding {:.1} tokens/s, end to end {:.1} tokens/s",
        ms(t.time_to_first_token),
        t.decode_tokens_per_second,
        t.tokens_per_second
    );
    println!(
        "            verifying the answer (recomputing every log-probability): {:.0} ms",
        ms(t.score_time)
    );
    println!(
        "embeddings  {:.0}/s one by one, {:.0}/s in batches of {}",
        e.one_by_one_per_second, e.batched_per_second, e.batch
    );
    Ok(())
}

fn gateway(args: &GatewayArgs) -> anyhow::Result<()> {
    let dir = crate::models::models_dir()?;
    let embed_dir = crate::models::ensure(&dir, plexus_models::ModelKind::Embedding)?;
    let model = std::sync::Arc::new(plexus_models::EmbeddingModel::load(&embed_dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let report = runtime.block_on(plexus_gateway::bench::bench_overhead(
        model,
        args.requests.max(1),
    ))?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let (d, g) = (report.direct, report.gateway);
    println!(
        "{} sequential one-text embedding requests each way",
        report.requests
    );
    println!(
        "direct to the miner   p50 {:.3} ms  p99 {:.3} ms",
        d.p50_ms, d.p99_ms
    );
    println!(
        "through the gateway   p50 {:.3} ms  p99 {:.3} ms",
        g.p50_ms, g.p99_ms
    );
    println!("added by the gateway  p50 {:.3} ms", report.added_p50_ms);
    Ok(())
}
