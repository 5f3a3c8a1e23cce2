//! `plexus devnet`: a whole N-validator network on this machine.
//!
//! `init` writes one home per node (keys, `node.toml`), the genesis with
//! funded development accounts, wallets for those accounts and
//! `devnet.json` listing every node; `up` starts the nodes as child
//! processes and stops them on Ctrl-C.
//!
//! Development keys are encrypted with a known password (`devnet`, or
//! `PLEXUS_PASSWORD` if set): a devnet is for development, never for value.

use std::fs::{File, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisBond, GenesisValidator};
use plexus_node::config::{NodeConfig, Peer};
use plexus_primitives::{AccountId, Balance, ChainId, Keypair};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::exit;
use crate::home::Home;
use crate::keyfile::{KdfParams, KeyKind, KeySecret, Keyfile};
use crate::ports;

/// The password of devnet keys unless `PLEXUS_PASSWORD` says otherwise.
pub const DEVNET_PASSWORD: &str = "devnet";

/// What each genesis validator of a devnet has bonded (owned by `alice`).
pub const GENESIS_BOND: Balance = Balance::from_rao(10_000 * Balance::UNIT.rao());

/// Development accounts funded at genesis, each with a wallet of that name.
pub const DEV_ACCOUNTS: [&str; 6] = ["alice", "bob", "charlie", "dave", "eve", "ferdie"];

/// The file in a network directory that a running `plexus up` or `plexus devnet up`
/// holds locked; it names that process (its id, then the command).
pub const LOCK_FILE: &str = "up.lock";

/// `plexus devnet ...`
#[derive(Debug, Subcommand)]
pub enum DevnetCommand {
    /// Write a ready N-validator loopback network into a directory.
    Init(InitArgs),
    /// Start every node of a devnet (writing one first if needed); Ctrl-C stops them all.
    Up(UpArgs),
}

/// Arguments of `plexus devnet init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Number of chain validators (nodes), 1 to 64
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub validators: u16,
    /// Directory to write the devnet into
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
    /// First p2p port; node i listens on BASE+i
    #[arg(long, default_value_t = 30300, value_name = "BASE")]
    pub p2p_port: u16,
    /// First RPC port; node i serves on BASE+i
    #[arg(long, default_value_t = 9944, value_name = "BASE")]
    pub rpc_port: u16,
    /// First metrics port; node i serves on BASE+i
    #[arg(long, default_value_t = 9615, value_name = "BASE")]
    pub metrics_port: u16,
    /// Blocks per consensus epoch (8 or more, so that each node's heartbeat lands within
    /// it): bonds change the validator set only at epoch boundaries
    #[arg(long, default_value_t = Economics::default().validator_epoch_length,
          value_parser = clap::value_parser!(u64).range(8..))]
    pub epoch_length: u64,
    /// Replace an existing devnet in DIR
    #[arg(long)]
    pub force: bool,
    /// Also fund this many load-test accounts (`bench-0`, `bench-1`, …), without wallets
    #[arg(long, default_value_t = 0, hide = true)]
    pub load_accounts: u32,
}

/// Arguments of `plexus devnet up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// The devnet directory; a new 4-validator devnet is written there first
    /// if it holds none
    #[arg(long, default_value = "devnet")]
    pub dir: PathBuf,
}

/// One node of a devnet, as `devnet.json` lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetNode {
    /// Its name.
    pub name: String,
    /// Its home directory.
    pub home: PathBuf,
    /// Its consensus key.
    pub consensus_key: AccountId,
    /// Its p2p address.
    pub p2p: String,
    /// Its JSON-RPC URL.
    pub rpc_url: String,
    /// Its metrics URL.
    pub metrics_url: String,
}

/// `devnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetFile {
    /// The chain's id.
    pub chain_id: String,
    /// The nodes.
    pub nodes: Vec<DevnetNode>,
    /// Funded development accounts: name → address.
    pub accounts: Vec<(String, AccountId)>,
}

/// Runs a devnet command.
pub fn run(cmd: DevnetCommand) -> anyhow::Result<()> {
    match cmd {
        DevnetCommand::Init(args) => {
            // `--force` would delete the node homes of a devnet running there.
            let _lock = if args.dir.is_dir() {
                Some(lock(&args.dir, "plexus devnet init")?)
            } else {
                None
            };
            init(&args).map(|_| ())
        }
        DevnetCommand::Up(args) => up(&args),
    }
}

/// The password for devnet keys.
pub fn password() -> Zeroizing<String> {
    Zeroizing::new(
        std::env::var(crate::wallet::PASSWORD_ENV).unwrap_or_else(|_| DEVNET_PASSWORD.to_owned()),
    )
}

/// A development key derived from its name: reproducible, hence public.
pub fn dev_keypair(name: &str) -> Keypair {
    Keypair::from_seed(blake3::derive_key("plexus devnet key v1", name.as_bytes()))
}

/// Writes a keyfile for `key` (cheap KDF: these keys guard nothing of value).
fn write_key(
    path: &Path,
    kind: KeyKind,
    name: &str,
    key: &Keypair,
    password: &str,
) -> anyhow::Result<()> {
    let secret = KeySecret::Seed(Zeroizing::new(*key.secret_seed()));
    Keyfile::seal(
        kind,
        name,
        &secret,
        password.as_bytes(),
        KdfParams::INSECURE_FAST,
    )?
    .write(path, true)
    .with_context(|| format!("writing {}", path.display()))
}

/// Writes the devnet and says how to use it; returns what `devnet.json` says.
pub fn init(args: &InitArgs) -> anyhow::Result<DevnetFile> {
    let file = init_quiet(args)?;
    let dir = args.dir.canonicalize()?;
    println!(
        "devnet of {} written to {}",
        plural(file.nodes.len() as u64, "validator"),
        dir.display()
    );
    for node in &file.nodes {
        println!("  {}  p2p {}  rpc {}", node.name, node.p2p, node.rpc_url);
    }
    println!("funded wallets: {}", DEV_ACCOUNTS.join(", "));
    println!(
        "each validator is bonded {GENESIS_BOND} at genesis (owned by {}); more join with `plexus chain bond`",
        DEV_ACCOUNTS[0]
    );
    println!("start it:  plexus devnet up --dir {}", dir.display());
    println!(
        "use it:    export PLEXUS_HOME={} PLEXUS_PASSWORD={}",
        dir.display(),
        DEVNET_PASSWORD
    );
    println!("           plexus chain status; plexus balance --wallet alice");
    Ok(file)
}

/// Writes the devnet without printing; returns what `devnet.json` says.
pub fn init_quiet(args: &InitArgs) -> anyhow::Result<DevnetFile> {
    let dir = &args.dir;
    let manifest = dir.join("devnet.json");
    if manifest.exists() && !args.force {
        return Err(exit::input(format!(
            "{} already holds a devnet; start it with `plexus devnet up --dir {}` or pass --force to replace it",
            dir.display(),
            dir.display()
        )));
    }
    // Checked before anything is written: a half-made devnet would be refused as one
    // that already exists.
    let last = args.validators.saturating_sub(1);
    for (flag, base) in [
        ("--p2p-port", args.p2p_port),
        ("--rpc-port", args.rpc_port),
        ("--metrics-port", args.metrics_port),
    ] {
        if base.checked_add(last).is_none() {
            return Err(exit::input(format!(
                "{flag} {base} with {} validators runs past port 65535 (each validator takes \
                 the next port); choose a lower one",
                args.validators
            )));
        }
    }
    if args.force && dir.exists() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("node-"))
            {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let password = password();
    let n = usize::from(args.validators);
    let port = |base: u16, i: usize| -> anyhow::Result<u16> {
        base.checked_add(i as u16)
            .ok_or_else(|| exit::input("ports run past 65535; choose lower base ports"))
    };

    // Validators.
    let node_keys: Vec<Keypair> = (0..n).map(|i| dev_keypair(&format!("node-{i}"))).collect();
    let p2p: Vec<String> = (0..n)
        .map(|i| Ok(format!("127.0.0.1:{}", port(args.p2p_port, i)?)))
        .collect::<anyhow::Result<_>>()?;

    // Development accounts with wallets in the devnet's own home.
    let home = Home::at(&dir);
    let mut accounts = Vec::new();
    let mut balances = Vec::new();
    for name in DEV_ACCOUNTS {
        let cold = dev_keypair(name);
        let hot = dev_keypair(&format!("{name}-hotkey"));
        let wallet = home.wallet(name)?;
        wallet.create_dirs()?;
        write_key(
            &wallet.coldkey_path(),
            KeyKind::Coldkey,
            "coldkey",
            &cold,
            &password,
        )?;
        write_key(
            &wallet.hotkey_path("default")?,
            KeyKind::Hotkey,
            "default",
            &hot,
            &password,
        )?;
        balances.push(GenesisBalance {
            account: cold.account_id(),
            balance: Balance::from_rao(1_000_000 * Balance::UNIT.rao()),
        });
        balances.push(GenesisBalance {
            account: hot.account_id(),
            balance: Balance::from_rao(1_000 * Balance::UNIT.rao()),
        });
        accounts.push((name.to_owned(), cold.account_id()));
    }
    for i in 0..args.load_accounts {
        let key = dev_keypair(&format!("bench-{i}"));
        balances.push(GenesisBalance {
            account: key.account_id(),
            balance: Balance::from_rao(1_000 * Balance::UNIT.rao()),
        });
    }
    // The genesis validators are bonded from the start, owned by the first development
    // account, so that a node bonded later joins them instead of replacing them.
    let owner = dev_keypair(DEV_ACCOUNTS[0]).account_id();
    let bonds = node_keys
        .iter()
        .zip(&p2p)
        .map(|(k, a)| GenesisBond {
            consensus_key: k.account_id(),
            owner,
            address: a.clone(),
            amount: GENESIS_BOND,
        })
        .collect();
    let genesis = Genesis {
        chain_id: ChainId::new("plexus-devnet")?,
        bonds,
        balances,
        validators: node_keys
            .iter()
            .zip(&p2p)
            .map(|(k, a)| GenesisValidator {
                consensus_key: k.account_id(),
                address: Some(a.clone()),
            })
            .collect(),
        economics: Economics {
            validator_epoch_length: args.epoch_length,
            ..Economics::default()
        },
    };
    std::fs::write(dir.join("genesis.toml"), genesis.to_toml()?)?;

    let mut nodes = Vec::new();
    for (i, key) in node_keys.iter().enumerate() {
        let node_home = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&node_home)?;
        write_key(
            &node_home.join("node-key.json"),
            KeyKind::Hotkey,
            "consensus",
            key,
            &password,
        )?;
        let rpc = format!("127.0.0.1:{}", port(args.rpc_port, i)?);
        let metrics = format!("127.0.0.1:{}", port(args.metrics_port, i)?);
        let config = NodeConfig {
            genesis: PathBuf::from("../genesis.toml"),
            key: PathBuf::from("node-key.json"),
            data: PathBuf::from("data"),
            p2p: p2p[i].parse()?,
            rpc: rpc.parse()?,
            metrics: Some(metrics.parse()?),
            explorer: None,
            peers: node_keys
                .iter()
                .zip(&p2p)
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (k, a))| {
                    Ok(Peer {
                        key: k.account_id(),
                        address: a.parse()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            rpc_behind_proxy: false,
            journal_blocks: None,
        };
        std::fs::write(
            node_home.join(plexus_node::config::CONFIG_FILE),
            config.to_toml()?,
        )?;
        nodes.push(DevnetNode {
            name: format!("node-{i}"),
            home: node_home,
            consensus_key: key.account_id(),
            p2p: p2p[i].clone(),
            rpc_url: format!("http://{rpc}"),
            metrics_url: format!("http://{metrics}/metrics"),
        });
    }
    std::fs::write(
        dir.join("config.toml"),
        format!("rpc = \"{}\"\n", nodes[0].rpc_url),
    )?;
    let file = DevnetFile {
        chain_id: "plexus-devnet".into(),
        nodes,
        accounts,
    };
    std::fs::write(&manifest, serde_json::to_string_pretty(&file)?)?;
    Ok(file)
}

/// `n` and `noun`, plural unless `n` is 1: "1 validator", "4 validators".
pub fn plural(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Locks the network directory `dir` (creating it) for this process, `command`, until
/// the returned file is dropped or the process dies, however it dies. A second `up` on
/// the same directory would truncate the first one's logs, start nodes on ports already
/// taken and announce the same miners elsewhere: it is refused, naming the holder.
pub fn lock(dir: &Path, command: &str) -> anyhow::Result<File> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let path = dir.join(LOCK_FILE);
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let mut lines = holder.lines();
            let pid = lines.next().and_then(|l| l.trim().parse::<u32>().ok());
            let by = match (pid, lines.next().filter(|c| !c.trim().is_empty())) {
                (Some(pid), Some(command)) => format!("`{}` (pid {pid})", command.trim()),
                (Some(pid), None) => format!("another process (pid {pid})"),
                _ => "another process".to_owned(),
            };
            return Err(exit::input(format!(
                "{by} is already running the network in {}; stop it first (Ctrl-C), or \
                 choose another directory",
                dir.display()
            )));
        }
        Err(TryLockError::Error(e)) => {
            return Err(anyhow::Error::new(e).context(format!("locking {}", path.display())));
        }
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}\n{command}", std::process::id()))
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(file)
}

/// Reads `devnet.json`.
pub fn load(dir: &Path) -> anyhow::Result<DevnetFile> {
    let path = dir.join("devnet.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        exit::input(format!(
            "no devnet in {} ({e}); create one with `plexus devnet init --dir {}`",
            dir.display(),
            dir.display()
        ))
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a devnet manifest", path.display()))
}

/// Starts every node as a child process, logging to `<home>/node.log`.
pub fn spawn_nodes(file: &DevnetFile) -> anyhow::Result<Vec<Child>> {
    let exe = std::env::current_exe().context("finding the plexus executable")?;
    let password = password();
    let mut children = Vec::new();
    for node in &file.nodes {
        let log = std::fs::File::create(node.home.join("node.log"))?;
        let child = child_command(&exe, &password, log)?
            .arg("node")
            .arg("--home")
            .arg(&node.home)
            .spawn()
            .with_context(|| format!("starting {}", node.name))?;
        children.push(child);
    }
    Ok(children)
}

/// A command running `exe` as a child of a local network: with the development
/// `password`, stopping when this process does, its output into `log`.
pub fn child_command(exe: &Path, password: &str, log: File) -> anyhow::Result<Command> {
    let mut command = Command::new(exe);
    command
        .env(crate::wallet::PASSWORD_ENV, password)
        .env(
            crate::signals::EXIT_WITH_PARENT_ENV,
            crate::signals::exit_with_me(),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(command)
}

/// Stops children: a polite signal first, then a kill after a grace period. Children
/// that already exited are left alone, silently.
pub fn stop(children: &mut [Child]) {
    terminate_running(children);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    for child in children.iter_mut() {
        while std::time::Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends SIGTERM (which lets a node shut down cleanly) to the children still running;
/// returns their ids. A child whose exit was already collected is skipped: its id may
/// belong to another process by now. One not collected yet keeps its id (as a zombie)
/// until it is, even if it just exited, so the signal cannot reach a stranger.
fn terminate_running(children: &mut [Child]) -> Vec<u32> {
    let mut signalled = Vec::new();
    for child in children.iter_mut() {
        if !matches!(child.try_wait(), Ok(None)) {
            continue;
        }
        let pid = child.id();
        // A zombie is not an error worth printing: `kill` stays quiet.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        signalled.push(pid);
    }
    signalled
}

fn up(args: &UpArgs) -> anyhow::Result<()> {
    // Held until the nodes are stopped.
    let _lock = lock(&args.dir, "plexus devnet up")?;
    if !args.dir.join("devnet.json").exists() {
        let init_args = InitArgs {
            validators: 4,
            dir: args.dir.clone(),
            p2p_port: 30300,
            rpc_port: 9944,
            metrics_port: 9615,
            epoch_length: plexus_ledger::Economics::default().validator_epoch_length,
            force: false,
            load_accounts: 0,
        };
        // Before the devnet is written: its addresses are fixed from then on.
        ports::check(
            &ports::of_new(&init_args),
            "write the devnet with other first ports before starting it \
             (`plexus devnet init --dir DIR --rpc-port BASE --p2p-port BASE --metrics-port BASE`)",
        )?;
        println!("no devnet in {} yet: writing one", args.dir.display());
        init(&init_args)?;
        println!();
    }
    let file = load(&args.dir)?;
    ports::check(
        &ports::of_nodes(&file),
        "start this devnet once it is free (its addresses are fixed in devnet.json; \
         `plexus devnet init --force` writes it again, with other ports and an empty chain)",
    )?;
    let mut children = spawn_nodes(&file)?;
    println!(
        "{} of {} running (logs in each node's home, node.log):",
        plural(children.len() as u64, "node"),
        file.chain_id
    );
    for node in &file.nodes {
        println!(
            "  {}  rpc {}  metrics {}",
            node.name, node.rpc_url, node.metrics_url
        );
    }
    println!("Ctrl-C stops them all.");
    let outcome = crate::client::block_on(async {
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut exited = vec![false; children.len()];
        loop {
            tokio::select! {
                _ = interrupt.recv() => return Ok(()),
                _ = terminate.recv() => return Ok(()),
                _ = tick.tick() => {}
            }
            // A node that dies is said once, with where to look; the others go on.
            for ((child, node), exited) in children.iter_mut().zip(&file.nodes).zip(&mut exited) {
                if !*exited && let Ok(Some(status)) = child.try_wait() {
                    *exited = true;
                    let log = node.home.join("node.log");
                    println!(
                        "{} exited ({status}); its log: {}\n  start it again from another \
                         shell (the others go on): PLEXUS_PASSWORD={DEVNET_PASSWORD} plexus \
                         node --home {} >> {} 2>&1",
                        node.name,
                        log.display(),
                        node.home.display(),
                        log.display()
                    );
                }
            }
            if exited.iter().all(|e| *e) {
                return Err(anyhow::anyhow!("every node of the devnet exited"));
            }
        }
    });
    println!("stopping…");
    stop(&mut children);
    outcome
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn only_children_still_running_are_signalled() {
        let exited = Command::new("true").spawn().unwrap();
        let running = Command::new("sleep").arg("30").spawn().unwrap();
        let mut children = vec![exited, running];
        // Collected, as `plexus up` does when it reports a dead child: its id is free.
        let _ = children[0].wait().unwrap();
        let running_pid = children[1].id();
        assert_eq!(terminate_running(&mut children), vec![running_pid]);
        let status = children[1].wait().unwrap();
        assert_eq!(status.signal(), Some(15), "SIGTERM stopped it: {status}");
        // Everything has exited now: nothing left to signal, and stop() returns at once.
        assert!(terminate_running(&mut children).is_empty());
        let started = std::time::Instant::now();
        stop(&mut children);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn ports_past_the_last_are_refused_before_anything_is_written() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("devnet");
        let args = InitArgs {
            validators: 4,
            dir: dir.clone(),
            p2p_port: 30300,
            rpc_port: 65534,
            metrics_port: 9615,
            epoch_length: 100,
            force: false,
            load_accounts: 0,
        };
        let err = init_quiet(&args).unwrap_err().to_string();
        assert!(err.contains("--rpc-port 65534 with 4 validators"), "{err}");
        assert!(!dir.exists(), "nothing written");
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1u8, "validator"), "1 validator");
        assert_eq!(plural(0u8, "validator"), "0 validators");
        assert_eq!(plural(4u8, "node"), "4 nodes");
    }

    #[test]
    fn a_second_lock_on_a_directory_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "plexus up").unwrap();
        let err = lock(dir.path(), "plexus devnet up").unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains(&format!("`plexus up` (pid {})", std::process::id())),
            "{message}"
        );
        assert!(
            message.contains("already running the network in"),
            "{message}"
        );
        drop(first);
        let _again = lock(dir.path(), "plexus devnet up").unwrap();
    }
}
