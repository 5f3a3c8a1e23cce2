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
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use plexus_models::ModelKind;
use plexus_primitives::{Balance, Call, Hyperparameter, NetUid};
use plexus_subnets::{Chain, ChainError};
use serde::Serialize;

use crate::devnet::{self, InitArgs, dev_keypair};
use crate::exit;
use crate::home::Home;
use crate::models::{MODELS_ENV, ensure, models_dir_in};
use crate::rpc_chain::RpcChain;

/// Progress to stderr that never panics (see [`exit::say`]); the error says stderr is
/// gone.
macro_rules! say {
    ($($arg:tt)*) => {
        exit::say(format_args!($($arg)*))
    };
}

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
    /// First p2p port of a new network [default: 30300]
    #[arg(long, value_name = "BASE")]
    pub p2p_port: Option<u16>,
    /// First metrics port of a new network [default: 9615]
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
    // Absolute, for the `export` line that points other shells at it.
    let dir = dir.canonicalize().unwrap_or(dir);
    let models = models_dir_in(&home);
    for kind in ModelKind::ALL {
        ensure(&models, kind)?;
    }
    let models = models.canonicalize().unwrap_or(models);
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
        let _ = say!("creating a network in {}\n", dir.display());
        devnet::init_quiet(&InitArgs {
            validators: args.validators.unwrap_or(1),
            dir: dir.clone(),
            p2p_port: args.p2p_port.unwrap_or(30300),
            rpc_port: args.rpc_port.unwrap_or(9944),
            metrics_port: args.metrics_port.unwrap_or(9615),
            epoch_length: plexus_ledger::Economics::default().validator_epoch_length,
            force: false,
            load_accounts: 0,
        })?
    };
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
    runtime.block_on(prepare(&rpc, &args))?;
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

    let spawn = |name: &str, args: &[String]| -> anyhow::Result<(Child, Process)> {
        let log = logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .env(crate::home::HOME_ENV, &dir)
            .env(crate::wallet::PASSWORD_ENV, devnet::password().as_str())
            .env(MODELS_ENV, &models)
            // Each model process computes on one thread (fastest on small machines) and
            // candle must be told so before it starts.
            .envs(plexus_models::thread_environment(1))
            .env(
                crate::signals::EXIT_WITH_PARENT_ENV,
                crate::signals::exit_with_me(),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let process = Process {
            name: name.to_owned(),
            pid: child.id(),
            log,
        };
        Ok((child, process))
    };
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    let mut wallets = MINER_WALLETS.iter();
    let roles = (0..args.text_miners)
        .map(|_| ("text", TEXT_NETUID))
        .chain((0..args.embedding_miners).map(|_| ("embeddings", EMBEDDINGS_NETUID)));
    for (work, netuid) in roles {
        let wallet = wallets
            .next()
            .context("no development wallet left for a miner")?;
        let netuid = netuid.0.to_string();
        let (child, process) = spawn(
            &format!("miner-{work}-{wallet}"),
            &owned(&[
                "miner", "run", "--netuid", &netuid, "--work", work, "--wallet", wallet, "--rpc",
                &rpc,
            ]),
        )?;
        children.0.push(child);
        processes.push(process);
    }
    let mut validator = owned(&[
        "validator",
        "run",
        "--wallet",
        VALIDATOR,
        "--netuid",
        "1",
        "--work",
        "text",
    ]);
    if args.embedding_miners > 0 {
        validator.extend(owned(&["--netuid", "2", "--work", "embeddings"]));
    }
    validator.extend(owned(&[
        "--gateway",
        &args.gateway.to_string(),
        "--rpc",
        &rpc,
    ]));
    let (child, process) = spawn("validator", &validator)?;
    children.0.push(child);
    processes.push(process);

    let gateway_url = format!("http://{}/v1", args.gateway);
    let up = UpFile {
        rpc_url: rpc.clone(),
        gateway_url: gateway_url.clone(),
        explorer_url: explorer.as_ref().map(plexus_explorer::Explorer::url),
        processes,
    };
    std::fs::write(dir.join("up.json"), serde_json::to_string_pretty(&up)?)?;
    // A closed stdout (`plexus up | head`) ends the run here, the network stopped, and
    // `exit::report` keeps quiet about the broken pipe.
    std::io::stdout()
        .lock()
        .write_all(welcome(&up, &dir, &models, file.nodes.len()).as_bytes())?;
    runtime.block_on(watch(&rpc, &args, &mut children, &up.processes, started))?;
    let _ = say!("\nstopping…\n");
    drop(explorer);
    drop(children);
    let _ = say!("stopped; `plexus up` resumes this network\n");
    Ok(())
}

/// The banner: where everything is, how to point other commands at it, how to try it.
fn welcome(up: &UpFile, dir: &Path, models: &Path, nodes: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(s, "Plexus is up.");
    let _ = writeln!(s, "  chain RPC   {}", up.rpc_url);
    let _ = writeln!(s, "  gateway     {}  (OpenAI-compatible)", up.gateway_url);
    if let Some(url) = &up.explorer_url {
        let _ = writeln!(s, "  explorer    {url}  (open it in a browser)");
    }
    let node_log = if nodes == 1 {
        "node-0/node.log"
    } else {
        "node-*/node.log"
    };
    let _ = writeln!(
        s,
        "  processes   {} (logs in {}, the nodes' in {})",
        up.processes.len(),
        dir.join("logs").display(),
        dir.join(node_log).display()
    );
    let _ = writeln!(s);
    // Other commands find the network (its config.toml names the RPC, its wallets) and
    // the models already fetched only through these.
    let password = match std::env::var(crate::wallet::PASSWORD_ENV) {
        Ok(p) if p != devnet::DEVNET_PASSWORD => String::new(),
        _ => format!(
            " {}={}",
            crate::wallet::PASSWORD_ENV,
            devnet::DEVNET_PASSWORD
        ),
    };
    let _ = writeln!(s, "Use it from another shell:");
    let _ = writeln!(
        s,
        "  export {}={}{password} {MODELS_ENV}={}",
        crate::home::HOME_ENV,
        shell_quote(dir),
        shell_quote(models)
    );
    if password.is_empty() {
        let _ = writeln!(
            s,
            "  export {}=<the one set for this plexus up>",
            crate::wallet::PASSWORD_ENV
        );
    }
    let _ = writeln!(s, "  plexus chain status; plexus balance --wallet {OWNER}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Try it:");
    let _ = writeln!(
        s,
        "  curl {}/chat/completions -H 'Content-Type: application/json' \\\n    \
         -d '{{\"model\": \"smollm2-135m-instruct\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is the capital of France?\"}}], \"max_tokens\": 32}}'",
        up.gateway_url
    );
    let _ = writeln!(
        s,
        "  python3 -c \"from openai import OpenAI; c = OpenAI(base_url='{}', api_key='none'); \
         print(c.chat.completions.create(model='smollm2-135m-instruct', \
         messages=[{{'role': 'user', 'content': 'Hi!'}}]).choices[0].message.content)\"",
        up.gateway_url
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Ctrl-C stops everything.");
    s
}

/// `path` as one shell word: as it is when that is safe, else in single quotes.
fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@,%=".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Creates the subnets and stakes the validator, unless a previous run did.
async fn prepare(rpc: &str, args: &UpArgs) -> anyhow::Result<()> {
    let chain = wait_for_chain(rpc).await?;
    let owner = dev_keypair(OWNER);
    let owner_hotkey = dev_keypair(&format!("{OWNER}-hotkey"));
    let validator = dev_keypair(VALIDATOR);
    let validator_hotkey = dev_keypair(&format!("{VALIDATOR}-hotkey"));
    let mut subnets = vec![TEXT_NETUID];
    if args.embedding_miners > 0 {
        subnets.push(EMBEDDINGS_NETUID);
    }
    for netuid in subnets {
        if let Err(ChainError::NoSubnet(_)) = chain.subnet(netuid).await {
            let _ = say!("creating subnet {netuid}\n");
            let call = Call::CreateSubnet {
                owner_hotkey: owner_hotkey.account_id(),
                max_lock: Balance::from_rao(100_000 * Balance::UNIT.rao()),
            };
            chain.submit(&owner, call).await?;
            // A short tempo and rate limit so a local network pays within a minute. The
            // activity cutoff shrinks with them (the default, 5,000 blocks, is 100 such
            // tempos): the owner's and miners' hotkeys hold validator permits and pile up
            // alpha without ever setting weights, and while they count as active their
            // stake outweighs the validator's within half an hour, consensus falls to
            // zero and the miners stop being paid.
            for param in [
                Hyperparameter::Tempo(50),
                Hyperparameter::WeightsRateLimit(10),
                Hyperparameter::ImmunityPeriod(1_000),
                Hyperparameter::ActivityCutoff(200),
            ] {
                let call = Call::SetHyperparameter { netuid, param };
                chain.submit(&owner, call).await?;
            }
        }
        let graph = chain.metagraph(netuid).await?;
        if !graph
            .iter()
            .any(|n| n.hotkey == validator_hotkey.account_id())
        {
            let _ = say!("registering and staking the validator on subnet {netuid}\n");
            let hotkey = validator_hotkey.account_id();
            let max_burn = Balance::from_rao(100 * Balance::UNIT.rao());
            chain
                .submit(
                    &validator,
                    Call::Register {
                        netuid,
                        hotkey,
                        max_burn,
                    },
                )
                .await?;
            let amount = Balance::from_rao(1_000 * Balance::UNIT.rao());
            let call = Call::AddStake {
                netuid,
                hotkey,
                amount,
                limit_price: None,
            };
            chain.submit(&validator, call).await?;
        }
    }
    Ok(())
}

/// Connects to the first node once it answers and has finalized a block.
async fn wait_for_chain(rpc: &str) -> anyhow::Result<RpcChain> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(chain) = RpcChain::connect(rpc).await
            && chain.height().await.is_ok_and(|h| h >= 1)
        {
            return Ok(chain);
        }
        if Instant::now() > deadline {
            return Err(exit::input(format!(
                "the chain at {rpc} did not start within a minute; see the nodes' node.log"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Shows live status until Ctrl-C, or until stderr's reader is gone (a broken-pipe
/// error, which `exit::report` keeps quiet about). A child that dies is reported once;
/// the rest of the network carries on.
async fn watch(
    rpc: &str,
    args: &UpArgs,
    children: &mut Children,
    processes: &[Process],
    started: Instant,
) -> anyhow::Result<()> {
    let chain = RpcChain::connect(rpc).await?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.plain;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut first_answered = false;
    // Once the gateway has answered, its silence means it is down, not starting.
    let mut gateway_seen = false;
    let mut exited = Vec::new();
    let stop = crate::signals::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            _ = tick.tick() => {}
        }
        for (i, child) in children.0.iter_mut().enumerate() {
            if exited.contains(&i) {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // A gateway fails over a dead miner: say so once, with where to look.
                exited.push(i);
                let (name, log) = processes.get(i).map_or(("a process", String::new()), |p| {
                    (p.name.as_str(), format!("; its log: {}", p.log.display()))
                });
                let lead = if interactive { "\n" } else { "" };
                say!("{lead}{name} exited ({status}){log}\n")?;
            }
        }
        let height = chain.height().await.unwrap_or(0);
        let served = http_json(args.gateway, "GET", "/health", None)
            .await
            .and_then(|(_, v)| v["served"].as_u64());
        // A text miner on chain (announced, if perhaps by an earlier run) before asking.
        if !first_answered
            && served.is_some()
            && chain
                .metagraph(TEXT_NETUID)
                .await
                .is_ok_and(|g| g.iter().any(|n| n.axon.is_some()))
        {
            // The first real question through the gateway: the moment the network works.
            let question = serde_json::json!({
                "model": plexus_subnets::text::EMBEDDED_TEXT_MODEL,
                "messages": [{"role": "user", "content": "Say hello."}],
                "max_tokens": 8,
            });
            if let Some((200, _)) =
                http_json(args.gateway, "POST", "/v1/chat/completions", Some(question)).await
            {
                first_answered = true;
                let secs = started.elapsed().as_secs_f64();
                let message = format!("first answer through the gateway {secs:.1} s after start");
                if interactive {
                    // Over the status line, all of it.
                    say!("\r{message:<100}\n")?;
                } else {
                    say!("{message}\n")?;
                }
            }
        }
        let mut line = format!("height {height} | miners running: ");
        line.push_str(&miners_running(processes, &exited, "text"));
        if args.embedding_miners > 0 {
            line.push_str(", ");
            line.push_str(&miners_running(processes, &exited, "embeddings"));
        }
        gateway_seen |= served.is_some();
        line.push_str(" | gateway ");
        line.push_str(&match served {
            Some(n) => format!("{} served", devnet::plural(n, "request")),
            None if gateway_seen => "down".to_owned(),
            None => "starting".to_owned(),
        });
        if interactive {
            say!("\r{line:<100}")?;
        } else if args.plain {
            say!("{line}\n")?;
        }
    }
}

/// How many of this run's miners doing `work` are still running, of how many started:
/// "text 2 of 2". The chain cannot tell: a dead miner's axon stays announced.
fn miners_running(processes: &[Process], exited: &[usize], work: &str) -> String {
    let prefix = format!("miner-{work}-");
    let (mut running, mut all) = (0, 0);
    for (i, p) in processes.iter().enumerate() {
        if p.name.starts_with(&prefix) {
            all += 1;
            if !exited.contains(&i) {
                running += 1;
            }
        }
    }
    format!("{work} {running} of {all}")
}

/// A minimal HTTP/1.0 JSON exchange with the local gateway: status and body, or `None` if
/// it is not answering yet.
async fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Option<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, serde_json::from_str(body).ok()?))
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(name: &str) -> Process {
        Process {
            name: name.to_owned(),
            pid: 1,
            log: PathBuf::from(format!("{name}.log")),
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
