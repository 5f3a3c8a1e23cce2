//! `plexus up`: a whole local network in one command — chain, two subnets (text and
//! embeddings) with miners and a validator on the embedded models, the
//! OpenAI-compatible gateway and the web explorer — resumed by running it again.
//!
//! Everything lives under `$PLEXUS_HOME/network` (the devnet, its wallets, the logs and
//! `up.json`, which lists every process); the models under `$PLEXUS_HOME/models`. One
//! `plexus up` at a time runs a network: it holds `network/up.lock`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use plexus_gateway::CorsOrigin;
use plexus_models::ModelKind;
use plexus_primitives::NetUid;
use serde::Serialize;

use crate::devnet::{self, InitArgs};
use crate::exit;
use crate::home::Home;
use crate::models::{ensure, models_dir_in};
use crate::ports;

/// Progress to stderr that never panics (see [`exit::say`]); the error says stderr is
/// gone.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::exit::say(format_args!($($arg)*))
    };
}

mod banner;
mod launch;
mod setup;
mod watch;

use banner::welcome;
use launch::Launcher;
use setup::{prepare, while_nodes_run};
use watch::watch;

/// The text-generation subnet `plexus up` creates.
pub const TEXT_NETUID: NetUid = NetUid(1);
/// The embeddings subnet `plexus up` creates.
pub const EMBEDDINGS_NETUID: NetUid = NetUid(2);

/// Development wallets and what they do in the local network.
const OWNER: &str = "alice";
const VALIDATOR: &str = "bob";
const MINER_WALLETS: [&str; 4] = ["charlie", "dave", "eve", "ferdie"];

/// Arguments of `plexus up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the gateway serves the OpenAI-compatible API
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub gateway: SocketAddr,
    /// A web origin whose pages may call the gateway from a browser (CORS), e.g.
    /// http://localhost:3000, or * for every page (repeat, or comma-separated) [default:
    /// none]
    #[arg(
        long = "gateway-cors-origin",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<CorsOrigin>,
    /// Chain validators (nodes) of a new network, 1 to 16 [default: 1]
    // Options, not defaults, so that a resumed network can warn that they are ignored.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub validators: Option<u16>,
    /// Text-generation miners, 1 to 3 (at most 4 miners in all)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=3))]
    pub text_miners: u8,
    /// Embedding miners, 0 to 3 (at most 4 miners in all)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub embedding_miners: u8,
    /// First RPC port of a new network (node i serves on BASE+i) [default: 9944]
    #[arg(long, value_name = "BASE")]
    pub rpc_port: Option<u16>,
    /// First p2p port of a new network (node i listens on BASE+i) [default: 30300]
    #[arg(long, value_name = "BASE")]
    pub p2p_port: Option<u16>,
    /// First metrics port of a new network (node i serves on BASE+i) [default: 9615]
    #[arg(long, value_name = "BASE")]
    pub metrics_port: Option<u16>,
    /// The Plexus home holding the network and the models [default: $PLEXUS_HOME, else
    /// ~/.plexus]
    #[arg(long)]
    pub home: Option<PathBuf>,
    /// Print the status once a second as lines instead of one updating line
    #[arg(long)]
    pub plain: bool,
    /// Where the web explorer serves the network's page
    #[arg(long, default_value = plexus_explorer::DEFAULT_LISTEN)]
    pub explorer: SocketAddr,
    /// Do not serve the explorer
    #[arg(long)]
    pub no_explorer: bool,
}

/// One process of the network, as `up.json` lists it.
#[derive(Debug, Serialize)]
struct Process {
    name: String,
    pid: u32,
    log: PathBuf,
    /// What it was started with (none for a node, which `up` does not start again).
    #[serde(skip)]
    args: Vec<String>,
    /// When it was last started.
    #[serde(skip)]
    started: Instant,
    /// How often `up` started it again.
    #[serde(skip)]
    restarts: u32,
}

/// `up.json`: what runs where.
#[derive(Debug, Serialize)]
struct UpFile {
    rpc_url: String,
    gateway_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    explorer_url: Option<String>,
    processes: Vec<Process>,
}

impl UpFile {
    /// Writes it as `up.json` in the network's directory `dir`.
    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        // Whole or not at all: readers (scripts, tests) poll it while it changes.
        let path = dir.join("up.json");
        let temporary = dir.join("up.json.new");
        std::fs::write(&temporary, serde_json::to_string_pretty(self)?)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// What `watch` looks after: the children, what `up.json` says of them, and how to start
/// one again.
struct Network<'a> {
    children: &'a mut Children,
    up: &'a mut UpFile,
    dir: &'a Path,
    launcher: &'a Launcher,
}

/// Children started so far; stopped (politely, then firmly) when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        devnet::stop(&mut self.0);
    }
}

/// Runs `plexus up`.
pub fn run(args: UpArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let miners = usize::from(args.text_miners) + usize::from(args.embedding_miners);
    if miners > MINER_WALLETS.len() {
        return Err(exit::input(format!(
            "{miners} miners asked for; a local network has {} development wallets for miners \
             (lower --text-miners or --embedding-miners)",
            MINER_WALLETS.len()
        )));
    }
    let home = match &args.home {
        Some(dir) => Home::at(dir),
        None => Home::from_env()?,
    };
    // The banner's `export` points other commands at the network directory itself; an
    // `up` from that shell would make a network inside the running one.
    if home.root().join("devnet.json").is_file() {
        return Err(exit::input(format!(
            "{} is a network's own directory (PLEXUS_HOME from `plexus up`'s export line?); \
             run `plexus up` with the home above it: PLEXUS_HOME={}",
            home.root().display(),
            home.root()
                .parent()
                .map_or_else(|| "~/.plexus".to_owned(), |p| p.display().to_string())
        )));
    }
    let dir = home.root().join("network");
    // Before anything touches the network (or the models): a second `up` would break
    // the one running. Held until everything is stopped.
    let _lock = devnet::lock(&dir, "plexus up")?;
    // With the nodes' addresses, those of this run's own servers.
    let with_servers = |nodes: ports::Listeners| {
        let listeners = ports::and(nodes, "the gateway", args.gateway);
        if args.no_explorer {
            listeners
        } else {
            ports::and(listeners, "the explorer", args.explorer)
        }
    };
    // Absolute, for the `export` line that points other shells at it.
    let dir = dir.canonicalize().unwrap_or(dir);
    let file = if dir.join("devnet.json").exists() {
        let _ = say!("resuming the network in {}\n", dir.display());
        let file = devnet::load(&dir)?;
        let ignored: Vec<&str> = [
            ("--validators", args.validators.is_some()),
            ("--rpc-port", args.rpc_port.is_some()),
            ("--p2p-port", args.p2p_port.is_some()),
            ("--metrics-port", args.metrics_port.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect();
        ports::check(
            &with_servers(ports::of_nodes(&file)),
            "choose others for the gateway and the explorer with --gateway ADDR and --explorer \
             ADDR (or --no-explorer); the nodes' are fixed when a network is made (another \
             --home makes a new network, where --rpc-port, --p2p-port and --metrics-port \
             choose them)",
        )?;
        if !ignored.is_empty() {
            let _ = say!(
                "warning: {} only shape{} a new network; the one in {} keeps its {} and \
                 its RPC at {} (another --home makes a new one)\n",
                ignored.join(", "),
                if ignored.len() == 1 { "s" } else { "" },
                dir.display(),
                devnet::plural(file.nodes.len() as u64, "node"),
                file.nodes.first().map_or("?", |n| n.rpc_url.as_str()),
            );
        }
        file
    } else {
        let init = InitArgs {
            validators: args.validators.unwrap_or(1),
            dir: dir.clone(),
            p2p_port: args.p2p_port.unwrap_or(30300),
            rpc_port: args.rpc_port.unwrap_or(9944),
            metrics_port: args.metrics_port.unwrap_or(9615),
            epoch_length: plexus_ledger::Economics::default().validator_epoch_length,
            force: false,
            load_accounts: 0,
        };
        // Before the network is written: its addresses are fixed from then on.
        ports::check(
            &with_servers(ports::of_new(&init)),
            "choose others with --gateway ADDR, --explorer ADDR (or --no-explorer), or the \
             nodes' first ports with --rpc-port, --p2p-port and --metrics-port",
        )?;
        let _ = say!("creating a network in {}\n", dir.display());
        devnet::init_quiet(&init)?
    };
    // After the ports are known to be free: a fetch takes minutes.
    let models = models_dir_in(&home);
    for kind in ModelKind::ALL {
        ensure(&models, kind)?;
    }
    let models = models.canonicalize().unwrap_or(models);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut children = Children(devnet::spawn_nodes(&file)?);
    let mut processes: Vec<Process> = file
        .nodes
        .iter()
        .zip(&children.0)
        .map(|(n, c)| Process {
            name: n.name.clone(),
            pid: c.id(),
            log: n.home.join("node.log"),
            args: Vec::new(),
            started: Instant::now(),
            restarts: 0,
        })
        .collect();
    let rpc = file
        .nodes
        .first()
        .context("the network lists no node")?
        .rpc_url
        .clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(while_nodes_run(
        &mut children,
        &processes,
        prepare(&rpc, &args),
    ))?;
    // The explorer lives in this process, on its runtime, for as long as the network.
    let explorer = if args.no_explorer {
        None
    } else {
        let config = plexus_explorer::ExplorerConfig::new(args.explorer, rpc.clone());
        match runtime.block_on(plexus_explorer::Explorer::start(config)) {
            Ok(explorer) => Some(explorer),
            // The network is useful without its page: say why and carry on.
            Err(e) => {
                let _ = say!("no explorer: {e} (choose another address with --explorer ADDR)\n");
                None
            }
        }
    };

    let launcher = Launcher {
        exe: std::env::current_exe().context("finding the plexus executable")?,
        logs: logs.clone(),
        home: dir.clone(),
        models: models.clone(),
    };
    let spawn = |name: &str, args: &[String]| launcher.start(name, args, false);
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let mut wallets = MINER_WALLETS.iter();
    let roles = (0..args.text_miners)
        .map(|_| ("text", TEXT_NETUID))
        .chain((0..args.embedding_miners).map(|_| ("embeddings", EMBEDDINGS_NETUID)));
    // Miners and the validator read each subnet's kind of work from the chain.
    for (work, netuid) in roles {
        let wallet = wallets
            .next()
            .context("no development wallet left for a miner")?;
        let netuid = netuid.0.to_string();
        let (child, process) = spawn(
            &format!("miner-{work}-{wallet}"),
            &owned(&[
                "miner", "run", "--netuid", &netuid, "--wallet", wallet, "--rpc", &rpc,
            ]),
        )?;
        children.0.push(child);
        processes.push(process);
    }
    let text = TEXT_NETUID.0.to_string();
    let mut validator = owned(&["validator", "run", "--wallet", VALIDATOR, "--netuid", &text]);
    if args.embedding_miners > 0 {
        validator.extend(owned(&["--netuid", &EMBEDDINGS_NETUID.0.to_string()]));
    }
    // Every miner of this network listens on this machine's loopback.
    validator.extend(owned(&[
        "--gateway",
        &args.gateway.to_string(),
        "--rpc",
        &rpc,
        "--axon-scope",
        "all",
    ]));
    for origin in &args.cors_origins {
        validator.extend(owned(&["--gateway-cors-origin", &origin.to_string()]));
    }
    let (child, process) = spawn("validator", &validator)?;
    children.0.push(child);
    processes.push(process);

    let gateway_url = format!("http://{}/v1", args.gateway);
    let mut up = UpFile {
        rpc_url: rpc.clone(),
        gateway_url: gateway_url.clone(),
        explorer_url: explorer.as_ref().map(plexus_explorer::Explorer::url),
        processes,
    };
    up.write(&dir)?;
    // A closed stdout (`plexus up | head`) ends the run here, the network stopped, and
    // `exit::report` keeps quiet about the broken pipe.
    std::io::stdout()
        .lock()
        .write_all(welcome(&up, &dir, &models, file.nodes.len()).as_bytes())?;
    let network = Network {
        children: &mut children,
        up: &mut up,
        dir: &dir,
        launcher: &launcher,
    };
    runtime.block_on(watch(&rpc, &args, network, started))?;
    let _ = say!("\nstopping…\n");
    drop(explorer);
    drop(children);
    let _ = say!("stopped; `plexus up` resumes this network\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::banner::shell_quote;
    use super::watch::miners_running;
    use super::*;

    fn process(name: &str) -> Process {
        Process {
            name: name.to_owned(),
            pid: 1,
            log: PathBuf::from(format!("{name}.log")),
            args: Vec::new(),
            started: Instant::now(),
            restarts: 0,
        }
    }

    #[test]
    fn dead_miners_are_not_counted_as_running() {
        let processes: Vec<Process> = [
            "node-0",
            "miner-text-charlie",
            "miner-text-dave",
            "miner-embeddings-eve",
            "validator",
        ]
        .into_iter()
        .map(process)
        .collect();
        assert_eq!(miners_running(&processes, &[], "text"), "text 2 of 2");
        assert_eq!(miners_running(&processes, &[0, 2], "text"), "text 1 of 2");
        assert_eq!(
            miners_running(&processes, &[3], "embeddings"),
            "embeddings 0 of 1"
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell_quote(Path::new("/home/a/.plexus")), "/home/a/.plexus");
        assert_eq!(shell_quote(Path::new("/tmp/my net")), "'/tmp/my net'");
        assert_eq!(shell_quote(Path::new("/tmp/it's")), r"'/tmp/it'\''s'");
    }

    #[test]
    fn the_banner_says_how_to_use_the_network_and_where_the_logs_are() {
        let up = UpFile {
            rpc_url: "http://127.0.0.1:9950".into(),
            gateway_url: "http://127.0.0.1:8080/v1".into(),
            explorer_url: None,
            processes: vec![process("node-0"), process("validator")],
        };
        let text = welcome(&up, Path::new("/h/network"), Path::new("/h/models"), 1);
        assert!(
            text.contains("PLEXUS_HOME=/h/network") && text.contains("PLEXUS_MODELS=/h/models"),
            "{text}"
        );
        assert!(text.contains("/h/network/node-0/node.log"), "{text}");
        assert!(text.contains("plexus chain status"), "{text}");
    }
}
