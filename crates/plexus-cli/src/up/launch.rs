//! Starting the network's miners and its validator as child processes of `plexus up`, and
//! starting one again when it dies: a local network should outlive a miner that crashed
//! or was killed, as it would under a service manager.

use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::Process;
use crate::devnet;
use crate::models::MODELS_ENV;

/// A process that dies sooner than this after it started is not started again: it would
/// only die again (a port taken, a model it cannot load), and its log says why.
pub(super) const RESTART_IF_UP_FOR: Duration = Duration::from_secs(60);

/// Restarts of one process in one run of `plexus up`: past them it is left down (a miner
/// that dies on every long prompt, say), its log grown by as many runs.
pub(super) const MOST_RESTARTS: u32 = 5;

/// How long after a death the process is started again: a Ctrl-C reaches the children as
/// well as `plexus up`, which must stop rather than restart them.
pub(super) const RESTART_AFTER: Duration = Duration::from_secs(3);

/// What becomes of a process of the network that died.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum AfterDeath {
    /// A node: `up` does not start one again (the chain's own restart rules apply).
    Reported,
    /// It ran a while: started again after [`RESTART_AFTER`].
    StartedAgain,
    /// It died within [`RESTART_IF_UP_FOR`] of starting: it would only die again.
    LeftDown,
    /// It was started again [`MOST_RESTARTS`] times already.
    DiedTooOften,
}

impl AfterDeath {
    /// What becomes of `process`, dead `up_for` after it was last started.
    pub(super) fn of(process: &Process, up_for: Duration) -> Self {
        if process.args.is_empty() {
            Self::Reported
        } else if up_for < RESTART_IF_UP_FOR {
            Self::LeftDown
        } else if process.restarts >= MOST_RESTARTS {
            Self::DiedTooOften
        } else {
            Self::StartedAgain
        }
    }
}

/// How `plexus up` starts a miner or the validator: this executable with the network's
/// home, the development password and the models, logging to `logs/NAME.log`.
pub(super) struct Launcher {
    /// This executable, as it was when `up` started: a rebuild meanwhile does not
    /// change what the network runs.
    pub(super) exe: PathBuf,
    /// Where the logs go.
    pub(super) logs: PathBuf,
    /// The network's home (`PLEXUS_HOME` of the children).
    pub(super) home: PathBuf,
    /// The models' directory.
    pub(super) models: PathBuf,
}

impl Launcher {
    /// Starts `name` with `args`; its log is written afresh, or added to when it is
    /// `again` (the lines that tell why it died stay above).
    pub(super) fn start(
        &self,
        name: &str,
        args: &[String],
        again: bool,
    ) -> anyhow::Result<(Child, Process)> {
        let log = self.logs.join(format!("{name}.log"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(again)
            .truncate(!again)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let child = devnet::child_command(&self.exe, &devnet::password(), out)?
            .args(args)
            .env(crate::home::HOME_ENV, &self.home)
            .env(MODELS_ENV, &self.models)
            // Each model process computes on one thread (fastest on small machines) and
            // candle must be told so before it starts.
            .envs(plexus_models::thread_environment(1))
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let process = Process {
            name: name.to_owned(),
            pid: child.id(),
            log,
            args: args.to_vec(),
            started: Instant::now(),
            restarts: 0,
        };
        Ok((child, process))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miners_and_the_validator_that_ran_a_while_are_started_again_and_nodes_are_not() {
        let process = |args: &[&str]| Process {
            name: "p".into(),
            pid: 1,
            log: PathBuf::from("p.log"),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            started: Instant::now(),
            restarts: 0,
        };
        let mut miner = process(&["miner", "run", "--netuid", "1"]);
        let node = process(&[]);
        let a_while = RESTART_IF_UP_FOR;
        assert_eq!(AfterDeath::of(&miner, a_while), AfterDeath::StartedAgain);
        let at_once = RESTART_IF_UP_FOR - Duration::from_secs(1);
        assert_eq!(AfterDeath::of(&miner, at_once), AfterDeath::LeftDown);
        assert_eq!(AfterDeath::of(&node, a_while), AfterDeath::Reported);
        // Started again as often as it may be: left down.
        miner.restarts = MOST_RESTARTS - 1;
        assert_eq!(AfterDeath::of(&miner, a_while), AfterDeath::StartedAgain);
        miner.restarts = MOST_RESTARTS;
        assert_eq!(AfterDeath::of(&miner, a_while), AfterDeath::DiedTooOften);
    }
}
