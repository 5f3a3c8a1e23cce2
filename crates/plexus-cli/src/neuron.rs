//! `plexus miner run` and `plexus validator run`: a neuron of a text or embeddings
//! subnet, from the wallet's keys, against a node's RPC.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use plexus_gateway::{Gateway, GatewayConfig, Service};
use plexus_models::{ComputeOptions, EmbeddingModel, ModelKind, TextModel};
use plexus_primitives::{Balance, Keypair, NetUid};
use plexus_subnets::embed::{
    EMBEDDED_EMBEDDING_MODEL, EmbeddedEmbeddings, EmbeddingSubnet, embed_routes,
};
use plexus_subnets::text::{
    EMBEDDED_TEXT_MODEL, EmbeddedText, TextJudgeConfig, TextSubnet, text_routes,
};
use plexus_subnets::{Chain, MinerConfig, Upstream, Validator, ValidatorConfig, start_miner};
use plexus_wire::{Client, ClientConfig, Handler};

use crate::chain::KeyArgs;
use crate::client::RpcArgs;
use crate::exit;
use crate::models::{ensure, models_dir};
use crate::rpc_chain::RpcChain;
use crate::wallet::{unlock_coldkey, unlock_hotkey};

/// The kind of work a subnet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Work {
    /// Chat completions (SmolLM2)
    Text,
    /// Sentence embeddings (all-MiniLM-L6-v2)
    Embeddings,
}

/// `plexus miner ...`
#[derive(Debug, Subcommand)]
pub enum MinerCommand {
    /// Register the hotkey if needed, announce the axon and serve until Ctrl-C.
    Run(MinerArgs),
}

/// `plexus validator ...`
#[derive(Debug, Subcommand)]
pub enum ValidatorCommand {
    /// Register the hotkey if needed, challenge miners and set weights until Ctrl-C.
    Run(ValidatorArgs),
}

/// What every neuron needs.
#[derive(Debug, Args)]
pub struct NeuronArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// Most tokens to burn if the hotkey must register
    #[arg(long, default_value = "10")]
    max_burn: Balance,
    /// Compute threads for the model
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Arguments of `plexus miner run`.
#[derive(Debug, Args)]
pub struct MinerArgs {
    #[command(flatten)]
    neuron: NeuronArgs,
    /// The subnet
    #[arg(long)]
    netuid: u16,
    /// The subnet's kind of work
    #[arg(long, value_enum, default_value = "text")]
    work: Work,
    /// `embedded` runs the model in this process; a URL forwards to an OpenAI-compatible
    /// server (http://host:port or https://host)
    #[arg(long, default_value = "embedded")]
    backend: String,
    /// The model name to ask an upstream backend for [default: the subnet's model,
    /// smollm2-135m-instruct or all-minilm-l6-v2]
    #[arg(long)]
    upstream_model: Option<String>,
    /// API key an upstream backend requires, sent as a bearer token (better given in the
    /// environment: other users can read command lines)
    #[arg(long, env = "PLEXUS_UPSTREAM_API_KEY", hide_env_values = true)]
    upstream_api_key: Option<String>,
    /// Where the axon listens
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The IP announced on chain [default: the listen IP]
    #[arg(long)]
    announce_ip: Option<IpAddr>,
}

/// Arguments of `plexus validator run`.
#[derive(Debug, Args)]
pub struct ValidatorArgs {
    #[command(flatten)]
    neuron: NeuronArgs,
    /// The subnet; repeat to validate several (each with its --work, in order)
    #[arg(long, required = true)]
    netuid: Vec<u16>,
    /// Each subnet's kind of work, in the order of --netuid [default: text]
    #[arg(long, value_enum)]
    work: Vec<Work>,
    /// Serve the OpenAI-compatible API on this address, e.g. 127.0.0.1:8080
    #[arg(long)]
    gateway: Option<SocketAddr>,
    /// API keys the gateway accepts (repeat, or comma-separated); open when none
    #[arg(long = "api-key", env = "PLEXUS_API_KEYS", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// Gateway requests a minute per API key
    #[arg(long, default_value_t = 600)]
    requests_per_minute: u32,
    /// Fraction of gateway answers re-checked with the model
    #[arg(long, default_value_t = 0.1)]
    spot_check: f64,
    /// Seconds between challenge rounds
    #[arg(long, default_value_t = 5.0)]
    round_interval: f64,
    /// Miners challenged per round
    #[arg(long, default_value_t = 16)]
    sample: usize,
    /// Tokens asked of text miners per challenge
    #[arg(long, default_value_t = 16)]
    max_tokens: u32,
    /// Seconds a miner has for its whole answer (a stream included)
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

fn keys(keys: &KeyArgs) -> anyhow::Result<(Keypair, Keypair)> {
    let hotkey = unlock_hotkey(&keys.wallet, &keys.hotkey)?;
    let coldkey = unlock_coldkey(&keys.wallet)?;
    Ok((hotkey, coldkey))
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| exit::input(format!("--{flag} must be a positive number of seconds")))
}

/// Loads the embedded model of `work`, fetching it first if it is missing.
fn load_text(threads: usize) -> anyhow::Result<Arc<TextModel>> {
    let dir = ensure(&models_dir()?, ModelKind::Text)?;
    let model = TextModel::load_with(&dir, &ComputeOptions { threads })
        .with_context(|| format!("loading the text model from {}", dir.display()))?;
    Ok(Arc::new(model))
}

fn load_embeddings(threads: usize) -> anyhow::Result<Arc<EmbeddingModel>> {
    let dir = ensure(&models_dir()?, ModelKind::Embedding)?;
    let model = EmbeddingModel::load_with(&dir, &ComputeOptions { threads })
        .with_context(|| format!("loading the embedding model from {}", dir.display()))?;
    Ok(Arc::new(model))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `plexus miner ...`.
pub fn miner(cmd: MinerCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let MinerCommand::Run(args) = cmd;
    crate::node::init_logging();
    // Bad flags are reported before any password is asked for.
    let upstream = match args.backend.as_str() {
        "embedded" => None,
        url => {
            let model = args.upstream_model.as_deref().unwrap_or(match args.work {
                Work::Text => EMBEDDED_TEXT_MODEL,
                Work::Embeddings => EMBEDDED_EMBEDDING_MODEL,
            });
            let up = Upstream::new(url, model, Duration::from_secs(60))
                .map_err(|e| exit::input(e.to_string()))?;
            Some(match &args.upstream_api_key {
                Some(key) => up.with_api_key(key.clone()),
                None => up,
            })
        }
    };
    let (hotkey, coldkey) = keys(&args.neuron.keys)?;
    let runtime = runtime()?;
    let threads = args.neuron.threads;
    let routes = match (args.work, upstream) {
        (Work::Text, Some(up)) => text_routes(Arc::new(up)),
        (Work::Embeddings, Some(up)) => embed_routes(Arc::new(up)),
        (Work::Text, None) => text_routes(Arc::new(EmbeddedText::new(load_text(threads)?))),
        (Work::Embeddings, None) => {
            embed_routes(Arc::new(EmbeddedEmbeddings::new(load_embeddings(threads)?)))
        }
    }?;
    runtime.block_on(serve_miner(args, rpc, hotkey, coldkey, routes))
}

async fn serve_miner(
    args: MinerArgs,
    rpc: RpcArgs,
    hotkey: Keypair,
    coldkey: Keypair,
    handler: impl Handler,
) -> anyhow::Result<()> {
    let chain = Arc::new(RpcChain::connect(&rpc.url()).await?);
    let mut config = MinerConfig::new(NetUid(args.netuid), args.listen);
    config.announce_ip = args.announce_ip;
    config.max_burn = args.neuron.max_burn;
    let miner = start_miner(chain, hotkey, Some(coldkey), config, handler)
        .await
        .map_err(|e| exit::input(e.to_string()))?;
    eprintln!(
        "miner: UID {} on subnet {}, axon {}; Ctrl-C stops",
        miner.uid(),
        args.netuid,
        miner.addr()
    );
    if miner.addr().ip().is_loopback() {
        eprintln!(
            "note: the axon is announced on a loopback address, so only validators on this \
             machine can reach it; on a network, serve with --listen 0.0.0.0:PORT \
             --announce-ip THIS_MACHINES_IP"
        );
    }
    miner.serve(crate::signals::shutdown_signal()).await?;
    Ok(())
}

/// Runs `plexus validator ...`.
pub fn validator(cmd: ValidatorCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let ValidatorCommand::Run(args) = cmd;
    crate::node::init_logging();
    let subnets = pair_subnets(&args.netuid, &args.work)?;
    if !(0.0..=1.0).contains(&args.spot_check) {
        return Err(exit::input("--spot-check must be between 0 and 1"));
    }
    let (hotkey, coldkey) = keys(&args.neuron.keys)?;
    let mut config = ValidatorConfig::new(NetUid(0));
    config.round_interval = seconds("round-interval", args.round_interval)?;
    config.timeout = seconds("timeout", args.timeout)?;
    config.sample_size = args.sample.max(1);
    config.max_burn = args.neuron.max_burn;
    // Pending weight commits outlive a restart here (the salt exists nowhere else).
    config.state_dir = Some(crate::home::Home::from_env()?.root().join("validator"));
    let threads = args.neuron.threads;
    let text = subnets
        .iter()
        .any(|(_, w)| *w == Work::Text)
        .then(|| load_text(threads))
        .transpose()?;
    let embeddings = subnets
        .iter()
        .any(|(_, w)| *w == Work::Embeddings)
        .then(|| load_embeddings(threads))
        .transpose()?;
    let models = Models { text, embeddings };
    runtime()?.block_on(run_validators(
        args, rpc, subnets, models, hotkey, coldkey, config,
    ))
}

/// The embedded models a validator loaded.
struct Models {
    text: Option<Arc<TextModel>>,
    embeddings: Option<Arc<EmbeddingModel>>,
}

/// Pairs each `--netuid` with its `--work` (one `--work`, or none, applies to all).
fn pair_subnets(netuids: &[u16], works: &[Work]) -> anyhow::Result<Vec<(NetUid, Work)>> {
    let works: Vec<Work> = match works.len() {
        0 => vec![Work::Text; netuids.len()],
        1 => vec![works[0]; netuids.len()],
        n if n == netuids.len() => works.to_vec(),
        n => {
            return Err(exit::input(format!(
                "{} --netuid but {n} --work: give one --work per --netuid, in order",
                netuids.len()
            )));
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    for n in netuids {
        if !seen.insert(*n) {
            return Err(exit::input(format!("subnet {n} is given twice")));
        }
    }
    Ok(netuids.iter().map(|n| NetUid(*n)).zip(works).collect())
}

async fn run_validators(
    args: ValidatorArgs,
    rpc: RpcArgs,
    subnets: Vec<(NetUid, Work)>,
    models: Models,
    hotkey: Keypair,
    coldkey: Keypair,
    config: ValidatorConfig,
) -> anyhow::Result<()> {
    let chain = Arc::new(RpcChain::connect(&rpc.url()).await?);
    let mut client_config = ClientConfig::new(chain.chain_id().clone());
    client_config.timeout = config.timeout;
    let client = Client::new(hotkey.clone(), client_config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop_signal = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    let (mut text_service, mut embed_service) = (None, None);
    for (netuid, work) in subnets {
        let config = ValidatorConfig {
            netuid,
            ..config.clone()
        };
        let (key, cold) = (hotkey.clone(), Some(coldkey.clone()));
        match (work, &models.text, &models.embeddings) {
            (Work::Text, Some(model), _) => {
                let judge = TextJudgeConfig {
                    max_tokens: args.max_tokens,
                    deadline: config.timeout,
                    ..TextJudgeConfig::default()
                };
                let subnet = Arc::new(TextSubnet::new(Arc::clone(model), judge));
                let v = Validator::new(Arc::clone(&chain), subnet, key, cold, config)
                    .with_client(client.clone());
                text_service.get_or_insert_with(|| service(netuid, &v, model));
                let stop = stop_signal();
                tasks.spawn(
                    async move { v.run(stop).await.map_err(|e| exit::input(e.to_string())) },
                );
            }
            (Work::Embeddings, _, Some(model)) => {
                let subnet = Arc::new(EmbeddingSubnet::new(Arc::clone(model)));
                let v = Validator::new(Arc::clone(&chain), subnet, key, cold, config)
                    .with_client(client.clone());
                embed_service.get_or_insert_with(|| service(netuid, &v, model));
                let stop = stop_signal();
                tasks.spawn(
                    async move { v.run(stop).await.map_err(|e| exit::input(e.to_string())) },
                );
            }
            _ => anyhow::bail!("the model for subnet {netuid} was not loaded"),
        }
        eprintln!("validator: subnet {netuid} ({work:?})");
    }
    if let Some(addr) = args.gateway {
        let gateway = Gateway::new(
            client,
            text_service,
            embed_service,
            GatewayConfig {
                api_keys: args.api_keys.clone(),
                requests_per_minute: args.requests_per_minute,
                spot_check: args.spot_check,
                ..GatewayConfig::default()
            },
        );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| exit::input(format!("cannot listen on {addr}: {e}")))?;
        eprintln!("gateway: http://{}/v1", listener.local_addr()?);
        let serve = gateway.serve(listener, stop_signal());
        tasks.spawn(async move { serve.await.context("the gateway stopped") });
    }
    eprintln!("Ctrl-C stops");
    tokio::select! {
        () = crate::signals::shutdown_signal() => {}
        Some(done) = tasks.join_next() => {
            // A validator only returns early on an error (registration refused, say).
            done.context("a validator task panicked")??;
        }
    }
    let _ = stop.send(true);
    while let Some(done) = tasks.join_next().await {
        done.context("a validator task panicked")??;
    }
    Ok(())
}

/// What the gateway needs of a subnet's validator.
fn service<C, S, M>(netuid: NetUid, v: &Validator<C, S>, model: &Arc<M>) -> Service<M>
where
    C: plexus_subnets::Chain,
    S: plexus_subnets::Subnet,
{
    Service {
        netuid,
        view: v.view(),
        scores: v.scores(),
        model: Arc::clone(model),
    }
}
