//! What `plexus up` puts on a new chain: the two subnets with their kinds of work, and the
//! validator registered and staked on each.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use plexus_primitives::{Balance, Call, Hyperparameter, Work};
use plexus_subnets::{Chain, ChainError};

use super::{Children, EMBEDDINGS_NETUID, OWNER, Process, TEXT_NETUID, UpArgs, VALIDATOR};
use crate::devnet::dev_keypair;
use crate::exit;
use crate::rpc_chain::RpcChain;

/// Creates the subnets and stakes the validator, unless a previous run did.
pub(super) async fn prepare(rpc: &str, args: &UpArgs) -> anyhow::Result<()> {
    let chain = wait_for_chain(rpc).await?;
    let owner = dev_keypair(OWNER);
    let owner_hotkey = dev_keypair(&format!("{OWNER}-hotkey"));
    let validator = dev_keypair(VALIDATOR);
    let validator_hotkey = dev_keypair(&format!("{VALIDATOR}-hotkey"));
    let mut subnets = vec![(TEXT_NETUID, Work::Text)];
    if args.embedding_miners > 0 {
        subnets.push((EMBEDDINGS_NETUID, Work::Embeddings));
    }
    for (netuid, work) in subnets {
        let existing = chain.subnet(netuid).await;
        if let Err(ChainError::NoSubnet(_)) = existing {
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
        // Miners and the validator read it from the chain. A network made before subnets
        // recorded their work gets it on resume.
        match existing.as_ref().ok().and_then(|info| info.work) {
            Some(recorded) if recorded == work => {}
            Some(recorded) => {
                return Err(exit::input(format!(
                    "subnet {netuid} of this network trades {recorded} work, where `plexus up` \
                     runs {work} miners; start a new network with another PLEXUS_HOME"
                )));
            }
            None => {
                chain
                    .submit(&owner, Call::SetSubnetWork { netuid, work })
                    .await?;
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

/// Runs `setup` while the nodes run: a node that exits meanwhile (a port taken after
/// all, storage it cannot open) ends it with an error naming the node and quoting the
/// end of its log, rather than leaving `setup` to wait for a chain that will not come.
pub(super) async fn while_nodes_run<T>(
    nodes: &mut Children,
    processes: &[Process],
    setup: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut setup = std::pin::pin!(setup);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            result = &mut setup => return result,
            _ = tick.tick() => {}
        }
        for (node, process) in nodes.0.iter_mut().zip(processes) {
            if let Ok(Some(status)) = node.try_wait() {
                return Err(anyhow::anyhow!(
                    "{} exited as the network started ({status}); the end of its log, {}:\n{}",
                    process.name,
                    process.log.display(),
                    log_tail(&process.log, LOG_TAIL_LINES)
                ));
            }
        }
    }
}

/// Lines of a dead node's log that `plexus up` shows.
const LOG_TAIL_LINES: usize = 6;

/// The last `lines` lines of the log at `path` (of its last 16 KiB), indented; what
/// stands in for them when it cannot be read.
fn log_tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const MOST: u64 = 16 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MOST)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => {
            let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            tail.iter().map(|l| format!("  {l}\n")).collect()
        }
        Err(e) => format!("  (cannot read it: {e})\n"),
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    #[tokio::test]
    async fn a_node_that_exits_while_the_network_starts_ends_the_start_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        let out = std::fs::File::create(&log).unwrap();
        let node = Command::new("sh")
            .args([
                "-c",
                "echo starting; echo 'error: cannot serve RPC: in use'; exit 2",
            ])
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut nodes = Children(vec![node]);
        let processes = [Process {
            name: "node-0".into(),
            pid: 0,
            log: log.clone(),
            args: Vec::new(),
            started: std::time::Instant::now(),
            restarts: 0,
        }];
        // A setup that would wait for the chain for good.
        let waiting = std::future::pending::<anyhow::Result<()>>();
        let err = while_nodes_run(&mut nodes, &processes, waiting)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("node-0 exited as the network started"),
            "{err}"
        );
        assert!(err.contains(&log.display().to_string()), "{err}");
        assert!(
            err.ends_with("  starting\n  error: cannot serve RPC: in use\n"),
            "{err}"
        );

        // While the nodes run, the setup's own outcome is what comes back.
        let sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        let mut nodes = Children(vec![sleeper]);
        let done = async { Ok(7) };
        assert_eq!(
            while_nodes_run(&mut nodes, &processes, done).await.unwrap(),
            7
        );
    }
}
