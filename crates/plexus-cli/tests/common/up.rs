//! `plexus up` running in the background, as a user starts it, on ports of its own.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `plexus up` with its stderr lines forwarded to a channel.
pub struct Up {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Up {
    /// Starts `plexus up` in `home`: gateway on port `ports`, RPC `ports + 1`, p2p
    /// `ports + 3`, metrics `ports + 5`, explorer `ports + 7`; models from the shared
    /// test cache.
    pub fn start(home: &Path, ports: u16) -> Self {
        let port = |offset: u16| (ports + offset).to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_plexus"))
            .args(["up", "--plain"])
            .args(["--gateway", &format!("127.0.0.1:{}", port(0))])
            .args(["--rpc-port", &port(1), "--p2p-port", &port(3)])
            .args(["--metrics-port", &port(5)])
            .args(["--explorer", &format!("127.0.0.1:{}", port(7))])
            .env("PLEXUS_HOME", home)
            .env("PLEXUS_MODELS", plexus_models::testing::test_models_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `needle`; returns it.
    pub fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no line with {needle:?} within {within:?}; plexus up said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Ctrl-C, and the exit status.
    pub fn interrupt(mut self) -> ExitStatus {
        self.stop().expect("plexus up did not stop on Ctrl-C")
    }

    /// Ctrl-C (so `plexus up` stops its children), waiting up to 30 s.
    fn stop(&mut self) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) && self.stop().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
