//! Driving real `plexus` processes: the binary, a devnet's nodes, JSON output.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub mod up;

/// Ports one test process may use: [`PORT_BAND`] of them from the returned one, below the
/// kernel's ephemeral range (32768 and up on Linux), where outgoing connections and servers
/// bound to port 0 take theirs: a fixed port up there can be taken by another test at any
/// moment. Processes get different bands by their id.
pub fn port_band() -> u16 {
    const FIRST: u32 = 10_000;
    const LAST: u32 = 32_000;
    let bands = (LAST - FIRST) / u32::from(PORT_BAND);
    let base = FIRST + (std::process::id() % bands) * u32::from(PORT_BAND);
    u16::try_from(base).expect("below 32000")
}

/// Width of a [`port_band`]: a devnet of n nodes uses 3n + 2 per extra node.
pub const PORT_BAND: u16 = 32;

pub fn plexus(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(args)
        .env("PLEXUS_HOME", home)
        .env("PLEXUS_PASSWORD", "devnet")
        .output()
        .expect("plexus runs")
}

pub fn json(home: &Path, args: &[&str]) -> Option<Value> {
    let out = plexus(home, args);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

pub struct Devnet {
    pub dir: PathBuf,
    pub rpc: Vec<String>,
    pub nodes: Vec<Option<Child>>,
    base: u16,
}

impl Devnet {
    /// Writes an `n`-node devnet into a fresh temporary directory, on ports unlikely to
    /// collide with another test run on this machine; no node is started.
    pub fn init(tag: &str, n: usize) -> Self {
        Self::init_with(tag, n, &[])
    }

    /// [`Devnet::init`] with more `devnet init` flags.
    pub fn init_with(tag: &str, n: usize, extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("plexus-{tag}-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            3 * n + 2 <= usize::from(PORT_BAND),
            "{n} nodes overflow the port band"
        );
        let base = port_band();
        let p = |offset: usize| (base + offset as u16).to_string();
        let (p2p, rpc, metrics, count) = (p(0), p(n), p(2 * n), n.to_string());
        let mut args = vec![
            "devnet",
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--validators",
            &count,
            "--p2p-port",
            &p2p,
            "--rpc-port",
            &rpc,
            "--metrics-port",
            &metrics,
        ];
        args.extend_from_slice(extra);
        let out = plexus(&dir, &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("devnet.json")).unwrap())
                .unwrap();
        let rpc: Vec<String> = manifest["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["rpc_url"].as_str().unwrap().to_owned())
            .collect();
        Self {
            dir,
            rpc,
            nodes: (0..n).map(|_| None).collect(),
            base,
        }
    }

    /// Two free ports past the devnet's own (p2p, RPC) for the `k`-th node added later.
    pub fn extra_ports(&self, k: usize) -> (u16, u16) {
        let n = self.nodes.len();
        let first = self.base + (3 * n + 2 * k) as u16;
        (first, first + 1)
    }

    /// Counts a node written outside `devnet init` (home `node-{i}`, serving `rpc_url`).
    pub fn add_node(&mut self, rpc_url: String) -> usize {
        self.rpc.push(rpc_url);
        self.nodes.push(None);
        self.nodes.len() - 1
    }

    pub fn start_node(&mut self, i: usize) {
        let home = self.dir.join(format!("node-{i}"));
        let log = std::fs::File::create(home.join("node.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_plexus"))
            .args(["node", "--home", home.to_str().unwrap()])
            .env("PLEXUS_PASSWORD", "devnet")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.nodes[i] = Some(child);
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].take() {
            let _ = child.kill(); // SIGKILL: no clean shutdown
            let _ = child.wait();
        }
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        json(
            &self.dir,
            &["chain", "status", "--json", "--rpc", &self.rpc[i]],
        )
    }

    pub fn finalized(&self, i: usize) -> u64 {
        self.status(i)
            .and_then(|s| s["finalized_height"].as_u64())
            .unwrap_or(0)
    }

    pub fn wait_height(&self, i: usize, height: u64, within: Duration) {
        let start = Instant::now();
        while self.finalized(i) < height {
            if start.elapsed() > within {
                let log = std::fs::read_to_string(self.dir.join(format!("node-{i}/node.log")))
                    .unwrap_or_default();
                let tail: String = log.lines().rev().take(20).collect::<Vec<_>>().join("\n");
                panic!("node {i} did not reach height {height} in {within:?}; log tail:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills node `i`, lets node 0 finalize `blocks` more without it, restarts it and waits
    /// until it has replayed and caught up with node 0 and agrees on the state root there.
    /// Returns the height checked.
    pub fn restart_and_catch_up(&mut self, i: usize, blocks: u64) -> u64 {
        self.kill(i);
        let before = self.finalized(0);
        self.wait_height(0, before + blocks, Duration::from_secs(60));
        self.start_node(i);
        let target = self.finalized(0);
        self.wait_height(i, target, Duration::from_secs(90));
        assert_eq!(self.root_at(i, target), self.root_at(0, target));
        target
    }

    pub fn root_at(&self, i: usize, height: u64) -> String {
        let block = json(
            &self.dir,
            &[
                "chain",
                "block",
                &height.to_string(),
                "--json",
                "--rpc",
                &self.rpc[i],
            ],
        )
        .unwrap_or_else(|| panic!("node {i} has no block {height}"));
        block["header"]["state_root"].as_str().unwrap().to_owned()
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
