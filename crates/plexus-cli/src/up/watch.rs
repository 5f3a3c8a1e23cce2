//! The live status line of `plexus up`, and the first question it asks the gateway.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use plexus_subnets::Chain;

use super::launch::{AfterDeath, RESTART_AFTER, RESTART_IF_UP_FOR};
use super::{Network, Process, TEXT_NETUID, UpArgs};
use crate::devnet;
use crate::rpc_chain::RpcChain;

/// Shows live status until Ctrl-C, or until stderr's reader is gone (a broken-pipe
/// error, which `exit::report` keeps quiet about). A child that dies is reported once;
/// the rest of the network carries on. A miner or the validator that dies after running
/// a while is started again (see [`super::launch`]); a node is not.
pub(super) async fn watch(
    rpc: &str,
    args: &UpArgs,
    network: Network<'_>,
    started: Instant,
) -> anyhow::Result<()> {
    let Network {
        children,
        up,
        dir,
        launcher,
    } = network;
    let chain = RpcChain::connect(rpc).await?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !args.plain;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut first_answered = false;
    // Once the gateway has answered, its silence means it is down, not starting.
    let mut gateway_seen = false;
    let mut exited = Vec::new();
    // The processes to start again, and when.
    let mut restarts: Vec<(usize, Instant)> = Vec::new();
    let stop = crate::signals::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            () = &mut stop => return Ok(()),
            _ = tick.tick() => {}
        }
        let lead = if interactive { "\n" } else { "" };
        for (i, child) in children.0.iter_mut().enumerate() {
            if exited.contains(&i) {
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                // A gateway fails over a dead miner: say so once, with where to look.
                exited.push(i);
                let Some(p) = up.processes.get(i) else {
                    continue;
                };
                let (name, log) = (&p.name, p.log.display());
                match AfterDeath::of(p, p.started.elapsed()) {
                    AfterDeath::StartedAgain => {
                        restarts.push((i, Instant::now() + RESTART_AFTER));
                        say!(
                            "{lead}{name} exited ({status}); starting it again (its log: {log})\n"
                        )?;
                    }
                    AfterDeath::Reported => {
                        say!("{lead}{name} exited ({status}); its log: {log}\n")?
                    }
                    AfterDeath::DiedTooOften => say!(
                        "{lead}{name} exited ({status}), started again {} times already, and \
                         is left down; its log: {log}\n",
                        p.restarts
                    )?,
                    AfterDeath::LeftDown => say!(
                        "{lead}{name} exited ({status}) within {} s of starting, and is not \
                         started again; its log: {log}\n",
                        RESTART_IF_UP_FOR.as_secs()
                    )?,
                }
            }
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = restarts.iter().partition(|(_, at)| *at <= now);
        restarts = later;
        for (i, _) in due {
            let (Some(p), Some(slot)) = (up.processes.get_mut(i), children.0.get_mut(i)) else {
                continue;
            };
            match launcher.start(&p.name, &p.args, true) {
                Ok((child, process)) => {
                    *slot = child;
                    let restarts = p.restarts + 1;
                    *p = Process {
                        restarts,
                        ..process
                    };
                    exited.retain(|e| *e != i);
                    // `up.json` names its new process id.
                    if let Err(e) = up.write(dir) {
                        say!("{lead}{e:#}\n")?;
                    }
                }
                Err(e) => say!("{lead}{e:#}\n")?,
            }
        }
        let processes = &up.processes;
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
                let message =
                    format!("ready: first answer through the gateway {secs:.1} s after start");
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
pub(super) fn miners_running(processes: &[Process], exited: &[usize], work: &str) -> String {
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
