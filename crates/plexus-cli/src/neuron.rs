//! `plexus miner run` and `plexus validator run`: a neuron of a text or embeddings
//! subnet, from the wallet's keys, against a node's RPC.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use plexus_gateway::{CorsOrigin, Gateway, GatewayConfig, Service};
use plexus_models::{ComputeOptions, EmbeddingModel, ModelKind, TextModel};
use plexus_primitives::{Balance, Keypair, NetUid, Work};
use plexus_subnets::embed::{
    EMBEDDED_EMBEDDING_MODEL, EmbeddedEmbeddings, EmbeddingSubnet, embed_routes,
};
use plexus_subnets::text::{
    EMBEDDED_TEXT_MODEL, EmbeddedText, MAX_COMPLETION_TOKENS, TextJudgeConfig, TextSubnet,
    text_routes,
};
use plexus_subnets::{
    Chain, ChainError, MinerConfig, Upstream, Validator, ValidatorConfig, start_miner,
};
use plexus_wire::{AddressKind, AxonScope, Client, ClientConfig, Handler};

use crate::chain::KeyArgs;
use crate::client::RpcArgs;
use crate::exit;
use crate::models::{ensure, models_dir};
use crate::rpc_chain::RpcChain;
use crate::wallet::{unlock_coldkey, unlock_hotkey};

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
    /// At most this many tokens to burn if the hotkey must register
    #[arg(long, allow_negative_numbers = true, default_value = "10")]
    max_burn: Balance,
    /// Compute threads for the model (at least 1)
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
    /// The subnet's kind of work, text (SmolLM2 chat) or embeddings (MiniLM) [default:
    /// what the subnet records on chain, else text]
    #[arg(long)]
    work: Option<Work>,
    /// `embedded` runs the model in this process; a URL forwards to an OpenAI-compatible
    /// server (http://host:port or https://host; text miners use its /v1/chat/completions
    /// and /v1/completions)
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
    /// The subnet; repeat to validate several
    #[arg(long, required = true)]
    netuid: Vec<u16>,
    /// Each subnet's kind of work, text or embeddings: none, or one per --netuid in the
    /// same order [default: what each subnet records on chain; a lone subnet that records
    /// none is text]
    #[arg(long)]
    work: Vec<Work>,
    /// Serve the OpenAI-compatible API on this address, e.g. 127.0.0.1:8080
    #[arg(long)]
    gateway: Option<SocketAddr>,
    /// API keys the gateway accepts (repeat, or comma-separated); open when none
    #[arg(
        long = "api-key",
        env = "PLEXUS_API_KEYS",
        value_delimiter = ',',
        value_name = "KEY",
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Gateway requests a minute per API key, or per peer address when open (this machine
    /// is not limited); an embeddings request counts one per 64 texts
    #[arg(long, default_value_t = 600)]
    requests_per_minute: u32,
    /// A reverse proxy on this machine (nginx, Caddy) fronts the gateway: limit an open
    /// gateway's requests from loopback that carry X-Forwarded-For as the address the
    /// proxy appended
    #[arg(long)]
    gateway_behind_proxy: bool,
    /// A web origin whose pages may call the gateway from a browser (CORS), e.g.
    /// http://localhost:3000, or * for every page (repeat, or comma-separated) [default:
    /// none]
    #[arg(
        long = "gateway-cors-origin",
        env = "PLEXUS_GATEWAY_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN",
        // Else clap's help shows `PLEXUS_GATEWAY_CORS_ORIGINS=` even when it is unset.
        hide_env_values = true
    )]
    cors_origins: Vec<CorsOrigin>,
    /// Fraction of gateway answers re-checked with the model
    #[arg(long, default_value_t = 0.1)]
    spot_check: f64,
    /// Seconds between challenge rounds
    #[arg(long, default_value_t = 5.0)]
    round_interval: f64,
    /// Miners challenged per round (at least 1)
    #[arg(long, default_value_t = 16)]
    sample: usize,
    /// Tokens asked of text miners per challenge (1 to 1024, as the gateway allows)
    #[arg(long, default_value_t = 16)]
    max_tokens: u32,
    /// Seconds a miner has for its whole answer (a stream included)
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Which miners' addresses to call: public (an open network: anyone may register a
    /// miner, and one announced at a private or loopback address could point this
    /// validator at services on its own network or machine), private (also private
    /// networks' addresses: a network within one organisation) or all (also this
    /// machine's loopback: a network on one machine, as `plexus up` runs)
    #[arg(long, default_value_t = AxonScope::Public, value_name = "public|private|all")]
    axon_scope: AxonScope,
}

fn keys(keys: &KeyArgs) -> anyhow::Result<(Keypair, Keypair)> {
    let hotkey = unlock_hotkey(&keys.wallet, &keys.hotkey)?;
    let coldkey = unlock_coldkey(&keys.wallet)?;
    Ok((hotkey, coldkey))
}

/// The compute threads asked for, refused when zero (a model cannot run on none).
fn compute_threads(args: &NeuronArgs) -> anyhow::Result<usize> {
    match args.threads {
        0 => Err(exit::input("--threads must be at least 1")),
        n => Ok(n),
    }
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
    let threads = compute_threads(&args.neuron)?;
    // The URL is checked before the node is asked which model it should serve.
    let upstream = match args.backend.as_str() {
        "embedded" => None,
        url => {
            let up = Upstream::new(url, "", Duration::from_secs(60))
                .map_err(|e| exit::input(e.to_string()))?;
            Some(match &args.upstream_api_key {
                Some(key) => up.with_api_key(key.clone()),
                None => up,
            })
        }
    };
    let runtime = runtime()?;
    let netuid = NetUid(args.netuid);
    let (chain, recorded) = runtime.block_on(connect(&rpc, &[netuid]))?;
    let recorded = recorded.first().copied().flatten();
    let work = subnet_work(netuid, recorded, args.work, true)?;
    if recorded.is_none() && args.work.is_none() {
        eprintln!(
            "note: subnet {netuid} records no kind of work, so this miner serves text; give \
             --work to choose (its owner can record it: `plexus subnet set --param work`)"
        );
    }
    let upstream = upstream.map(|up| {
        up.with_model(args.upstream_model.as_deref().unwrap_or(match work {
            Work::Text => EMBEDDED_TEXT_MODEL,
            Work::Embeddings => EMBEDDED_EMBEDDING_MODEL,
        }))
    });
    let (hotkey, coldkey) = keys(&args.neuron.keys)?;
    if upstream.is_some()
        && let Some(warning) = runtime.block_on(probe_upstream(&args.backend))
    {
        eprintln!("warning: {warning}");
    }
    let routes = match (work, upstream) {
        (Work::Text, Some(up)) => text_routes(Arc::new(up)),
        (Work::Embeddings, Some(up)) => embed_routes(Arc::new(up)),
        (Work::Text, None) => text_routes(Arc::new(EmbeddedText::new(load_text(threads)?))),
        (Work::Embeddings, None) => {
            embed_routes(Arc::new(EmbeddedEmbeddings::new(load_embeddings(threads)?)))
        }
    }?;
    runtime.block_on(serve_miner(args, work, chain, hotkey, coldkey, routes))
}

/// Connects to the node, checks that every subnet in `netuids` exists and reads the kind
/// of work each records: done before keys are unlocked and models loaded, which are slow
/// and would be wasted on a stopped node or a mistyped netuid.
async fn connect(
    rpc: &RpcArgs,
    netuids: &[NetUid],
) -> anyhow::Result<(Arc<RpcChain>, Vec<Option<Work>>)> {
    let chain = RpcChain::connect(&rpc.url()).await?;
    let mut works = Vec::with_capacity(netuids.len());
    for netuid in netuids {
        let info = chain.subnet(*netuid).await.map_err(|e| match e {
            ChainError::NoSubnet(_) => {
                exit::input(format!("{e} (`plexus subnet list` shows those that do)"))
            }
            e => anyhow::Error::new(e).context(format!("reading subnet {netuid}")),
        })?;
        works.push(info.work);
    }
    Ok((Arc::new(chain), works))
}

/// The kind of work a neuron does on `netuid`: what the chain records, which `--work` may
/// repeat but not contradict; else `--work`; else text, if `alone` (one subnet, as
/// before subnets recorded their work).
fn subnet_work(
    netuid: NetUid,
    recorded: Option<Work>,
    asked: Option<Work>,
    alone: bool,
) -> anyhow::Result<Work> {
    match (recorded, asked) {
        (Some(recorded), Some(asked)) if recorded != asked => Err(exit::input(format!(
            "subnet {netuid} trades {recorded} work, not {asked}: leave --work out, or pick \
             a subnet that trades {asked} (`plexus subnet list`)"
        ))),
        (Some(work), _) | (None, Some(work)) => Ok(work),
        (None, None) if alone => Ok(Work::Text),
        (None, None) => Err(exit::input(format!(
            "subnet {netuid} records no kind of work: give one --work per --netuid, in order \
             (its owner can record it with `plexus subnet set --param work`)"
        ))),
    }
}

/// How long the start-up check of an upstream backend waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The gateway's nonce lanes: after the validators' (the client default, 0..256), below
/// the 1,024 miners accept.
const GATEWAY_FIRST_LANE: u16 = 256;
/// How many requests the gateway may have in flight to miners at once.
const GATEWAY_LANES: u16 = 512;

/// Whether something accepts connections at the upstream `url` (already validated by
/// [`Upstream::new`]): a warning when nothing does, not an error, since an upstream may
/// well start after its miner.
async fn probe_upstream(url: &str) -> Option<String> {
    let addr = upstream_address(url)?;
    let deadline = tokio::time::Instant::now() + PROBE_TIMEOUT;
    let why = crate::client::accepts_connections(&*addr, deadline)
        .await
        .err()?;
    Some(format!(
        "nothing answers at the backend {addr} ({why}); the miner serves anyway, and its \
         answers fail until the backend is up"
    ))
}

/// The `host:port` an `http://` or `https://` URL connects to (the scheme's port when it
/// names none); credentials in the URL are left out, so the result can be printed.
fn upstream_address(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // A colon inside an IPv6 literal's brackets is not a port separator.
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.contains(']'));
    if host.is_empty() {
        return None;
    }
    Some(match (has_port, scheme.eq_ignore_ascii_case("https")) {
        (true, _) => host.to_owned(),
        (false, true) => format!("{host}:443"),
        (false, false) => format!("{host}:80"),
    })
}

async fn serve_miner(
    args: MinerArgs,
    work: Work,
    chain: Arc<RpcChain>,
    hotkey: Keypair,
    coldkey: Keypair,
    handler: impl Handler,
) -> anyhow::Result<()> {
    let mut config = MinerConfig::new(NetUid(args.netuid), args.listen);
    config.announce_ip = args.announce_ip;
    config.max_burn = args.neuron.max_burn;
    let miner = start_miner(chain, hotkey, Some(coldkey), config, handler)
        .await
        .map_err(|e| exit::input(e.to_string()))?;
    eprintln!(
        "miner: UID {} on subnet {} ({work}), axon {}; Ctrl-C stops",
        miner.uid(),
        args.netuid,
        miner.addr()
    );
    match AddressKind::of(miner.addr().ip()) {
        AddressKind::Loopback => eprintln!(
            "note: the axon is announced at this machine's loopback, so only validators on \
             this machine that call all addresses (--axon-scope all, as plexus up runs them) \
             reach it; on a network, serve with --listen 0.0.0.0:PORT --announce-ip \
             THIS_MACHINES_IP"
        ),
        AddressKind::Private => eprintln!(
            "note: the axon is announced at a private-network address, which validators \
             call only with --axon-scope private or all (a network within one organisation)"
        ),
        AddressKind::Unusable => eprintln!(
            "warning: the axon is announced at {}, an address no miner serves from, so no \
             validator calls it; give --announce-ip THIS_MACHINES_IP",
            miner.addr().ip()
        ),
        AddressKind::Public => {}
    }
    miner.serve(crate::signals::shutdown_signal()).await?;
    Ok(())
}

/// Runs `plexus validator ...`.
pub fn validator(cmd: ValidatorCommand, rpc: RpcArgs) -> anyhow::Result<()> {
    let ValidatorCommand::Run(args) = cmd;
    crate::node::init_logging();
    // Bad flags are reported before any password is asked for.
    let threads = compute_threads(&args.neuron)?;
    let asked = pair_subnets(&args.netuid, &args.work)?;
    if !(0.0..=1.0).contains(&args.spot_check) {
        return Err(exit::input("--spot-check must be between 0 and 1"));
    }
    if args.sample == 0 {
        return Err(exit::input("--sample must be at least 1"));
    }
    // Miners refuse a challenge out of this range, so every one would be scored wrong.
    if !(1..=MAX_COMPLETION_TOKENS).contains(&args.max_tokens) {
        return Err(exit::input(format!(
            "--max-tokens must be 1 to {MAX_COMPLETION_TOKENS}"
        )));
    }
    let mut config = ValidatorConfig::new(NetUid(0));
    config.round_interval = seconds("round-interval", args.round_interval)?;
    config.timeout = seconds("timeout", args.timeout)?;
    config.sample_size = args.sample;
    config.max_burn = args.neuron.max_burn;
    config.axon_scope = args.axon_scope;
    // Pending weight commits outlive a restart here (the salt exists nowhere else).
    config.state_dir = Some(crate::home::Home::from_env()?.root().join("validator"));
    let runtime = runtime()?;
    let netuids: Vec<NetUid> = asked.iter().map(|(n, _)| *n).collect();
    let (chain, recorded) = runtime.block_on(connect(&rpc, &netuids))?;
    let alone = asked.len() == 1;
    let subnets = asked
        .into_iter()
        .zip(recorded)
        .map(|((netuid, asked), recorded)| {
            subnet_work(netuid, recorded, asked, alone).map(|work| (netuid, work))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (hotkey, coldkey) = keys(&args.neuron.keys)?;
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
    runtime.block_on(run_validators(
        args, chain, subnets, models, hotkey, coldkey, config,
    ))
}

/// The embedded models a validator loaded.
struct Models {
    text: Option<Arc<TextModel>>,
    embeddings: Option<Arc<EmbeddingModel>>,
}

/// Pairs each `--netuid` with its `--work`, in order, if any are given: all or none, since
/// with some a missing one cannot be told from a misplaced one (`--netuid 1 --work text
/// --netuid 2` would run subnet 2 as text).
fn pair_subnets(netuids: &[u16], works: &[Work]) -> anyhow::Result<Vec<(NetUid, Option<Work>)>> {
    // A repeated subnet is the more precise complaint, so it comes first.
    let mut seen = std::collections::BTreeSet::new();
    for n in netuids {
        if !seen.insert(*n) {
            return Err(exit::input(format!("subnet {n} is given twice")));
        }
    }
    let works: Vec<Option<Work>> = match (netuids.len(), works.len()) {
        (subnets, 0) => vec![None; subnets],
        (subnets, n) if n == subnets => works.iter().copied().map(Some).collect(),
        (subnets, n) => {
            return Err(exit::input(format!(
                "{subnets} --netuid but {n} --work: give one --work per --netuid, in the same \
                 order, or none to use what each subnet records on chain"
            )));
        }
    };
    Ok(netuids.iter().map(|n| NetUid(*n)).zip(works).collect())
}

async fn run_validators(
    mut args: ValidatorArgs,
    chain: Arc<RpcChain>,
    subnets: Vec<(NetUid, Work)>,
    models: Models,
    hotkey: Keypair,
    coldkey: Keypair,
    config: ValidatorConfig,
) -> anyhow::Result<()> {
    let mut client_config = ClientConfig::new(chain.chain_id().clone());
    client_config.timeout = config.timeout;
    client_config.axon_scope = config.axon_scope;
    let client = Client::new(hotkey.clone(), client_config.clone());
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
        eprintln!("validator: subnet {netuid} ({work})");
    }
    if let Some(addr) = args.gateway {
        // Its own client, on nonce lanes the validators' client does not use: consumers
        // keeping many requests in flight must not make the validators' challenges wait
        // for a lane (and time out on miners that did nothing wrong).
        let mut gateway_config = client_config;
        gateway_config.first_lane = GATEWAY_FIRST_LANE;
        gateway_config.lanes = GATEWAY_LANES;
        if args.api_keys.is_empty() && args.cors_origins.contains(&CorsOrigin::Any) {
            eprintln!(
                "gateway: open to every web page (--gateway-cors-origin '*') and without API \
                 keys: any site a visitor of this machine's network opens may use it, each \
                 within --requests-per-minute"
            );
        }
        let gateway = Gateway::new(
            Client::new(hotkey.clone(), gateway_config),
            text_service,
            embed_service,
            GatewayConfig {
                // Moved, not copied: only the gateway's hashes of them stay.
                api_keys: std::mem::take(&mut args.api_keys),
                requests_per_minute: args.requests_per_minute,
                behind_proxy: args.gateway_behind_proxy,
                spot_check: args.spot_check,
                cors_origins: std::mem::take(&mut args.cors_origins),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_address_is_host_and_port() {
        let cases = [
            ("http://127.0.0.1:1", "127.0.0.1:1"),
            ("http://localhost:8000/v1", "localhost:8000"),
            ("https://api.example.com/v1", "api.example.com:443"),
            ("http://api.example.com", "api.example.com:80"),
            ("http://[::1]/v1", "[::1]:80"),
            ("http://[::1]:8000", "[::1]:8000"),
            ("http://user:secret@host:9000/v1", "host:9000"),
        ];
        for (url, addr) in cases {
            assert_eq!(upstream_address(url).as_deref(), Some(addr), "{url}");
        }
    }

    #[test]
    fn several_subnets_take_one_work_each_or_none() {
        let pairs = pair_subnets(&[1, 2], &[Work::Text, Work::Embeddings]).unwrap();
        assert_eq!(
            pairs,
            vec![
                (NetUid(1), Some(Work::Text)),
                (NetUid(2), Some(Work::Embeddings))
            ]
        );
        assert_eq!(
            pair_subnets(&[1, 2], &[]).unwrap(),
            vec![(NetUid(1), None), (NetUid(2), None)]
        );
        assert!(pair_subnets(&[1, 2], &[Work::Text]).is_err());
    }

    #[test]
    fn the_chains_record_of_work_wins_and_may_not_be_contradicted() {
        let (net, text, embeddings) = (NetUid(4), Some(Work::Text), Some(Work::Embeddings));
        assert_eq!(subnet_work(net, text, None, false).unwrap(), Work::Text);
        assert_eq!(subnet_work(net, text, text, false).unwrap(), Work::Text);
        let why = subnet_work(net, text, embeddings, true)
            .unwrap_err()
            .to_string();
        assert!(
            why.contains("subnet 4 trades text work, not embeddings"),
            "{why}"
        );
        // Nothing recorded: --work says, and a lone subnet is text as it always was.
        assert_eq!(
            subnet_work(net, None, embeddings, false).unwrap(),
            Work::Embeddings
        );
        assert_eq!(subnet_work(net, None, None, true).unwrap(), Work::Text);
        let why = subnet_work(net, None, None, false).unwrap_err().to_string();
        assert!(why.contains("records no kind of work"), "{why}");
    }
}
