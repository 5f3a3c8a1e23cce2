//! Talking to a node: where it is, and submitting a signed transaction
//! until it is finalized.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use plexus_node::rpc::{ChainStatus, DryRun, PlexusApiClient, TxStatus, codes};
use plexus_primitives::{Call, ChainId, Encode, Hash, Keypair, Transaction};

use crate::exit;
use crate::home::Home;

/// The default RPC address of a local node.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:9944";

/// Where the node is.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// The node's JSON-RPC URL [default: `rpc` in $PLEXUS_HOME/config.toml, else http://127.0.0.1:9944]
    #[arg(long, env = "PLEXUS_RPC", hide_env_values = true, global = true)]
    pub rpc: Option<String>,
}

impl RpcArgs {
    /// The URL to use: the flag, else the home's config, else the default.
    pub fn url(&self) -> String {
        if let Some(url) = &self.rpc {
            return url.clone();
        }
        Home::from_env()
            .ok()
            .and_then(|home| std::fs::read_to_string(home.root().join("config.toml")).ok())
            .and_then(|text| text.parse::<toml::Table>().ok())
            .and_then(|t| t.get("rpc").and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_RPC.to_owned())
    }

    /// An HTTP client for the node, checked by asking its status.
    pub async fn connect(&self) -> anyhow::Result<(HttpClient, ChainStatus)> {
        let url = self.url();
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .build(&url)
            .map_err(|e| exit::input(format!("bad RPC URL {url}: {e}")))?;
        let status = client.status().await.map_err(|e| match e {
            // Something listens there but does not answer: starting a node would not help.
            jsonrpsee::core::ClientError::RequestTimeout => anyhow::anyhow!(
                "the node at {url} did not answer within 30 s: it is running but busy or \
                 stuck (its log says which), or what listens there is not a Plexus node"
            ),
            e => anyhow::anyhow!(
                "cannot reach a Plexus node at {url}: {e}\n\
                 start one (`plexus up`, `plexus devnet up` or `plexus node`) or pass --rpc URL"
            ),
        })?;
        Ok((client, status))
    }
}

/// How long without a finalized block a command takes as a sign of a stopped chain:
/// blocks come every second or faster while fewer than a third of the seats are down.
pub const STALLED_AFTER_SECS: u64 = 30;

/// A transaction a command sent, once finalized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// Its hash, which `plexus chain tx` looks up.
    pub transaction: Hash,
    /// The height of the block that carries it.
    pub block: u64,
}

/// Signs `call`, submits it and waits until it is finalized; an applied
/// transaction returns where it landed, a refused or failed one is an
/// error that says why (and whether the fee was paid). A call that a dry run
/// on the node says would fail is not sent.
pub async fn submit(
    client: &HttpClient,
    status: &ChainStatus,
    key: &Keypair,
    call: Call,
) -> anyhow::Result<Sent> {
    let chain_id =
        ChainId::new(status.chain_id.clone()).context("the node reported a bad chain id")?;
    let started = Instant::now();
    let mut stderr = std::io::stderr();
    let interactive = std::io::IsTerminal::is_terminal(&stderr);
    let mut show = |waited: Duration| {
        if interactive {
            let _ = write!(
                stderr,
                "\rwaiting for finalization… {:.1} s",
                waited.as_secs_f64()
            );
            let _ = stderr.flush();
        }
    };
    let result = submit_and_wait(client, &chain_id, status.min_fee, key, call, &mut show).await;
    if interactive {
        let _ = write!(std::io::stderr(), "\r{:40}\r", "");
    }
    match result {
        Ok((height, hash)) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!("finalized in block {height} ({secs:.1} s): transaction {hash}");
            Ok(Sent {
                transaction: hash,
                block: height,
            })
        }
        Err(SubmitError::Refused(why)) => Err(exit::input(why)),
        Err(SubmitError::Timeout(hash)) => {
            // Most often the chain itself has stopped: say so where the node can tell.
            let stopped = match client.status().await {
                Ok(ChainStatus {
                    secs_since_block: Some(secs),
                    ..
                }) if secs >= STALLED_AFTER_SECS => format!(
                    " The node has seen no block for {secs} s: the chain has stopped, as it \
                     does while a third of the validator seats are down."
                ),
                _ => String::new(),
            };
            anyhow::bail!(
                "transaction {hash} not finalized after 60 s, but it may still be: see what \
                 became of it with `plexus chain tx {hash}` before sending it again (the same \
                 command again makes a second transaction once this one is finalized).{stopped}"
            )
        }
        Err(SubmitError::Rpc(e) | SubmitError::NotSent(e)) => Err(anyhow::anyhow!(e)),
    }
}

/// Why a submission did not end in an applied transaction.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Refused by the node at admission, left out of a block, or failed in one
    /// (paying its fee on chains whose rules charge failed calls).
    #[error("{0}")]
    Refused(String),
    /// Accepted but not finalized within a minute.
    #[error("transaction {0} not finalized after 60 s")]
    Timeout(Hash),
    /// The node could not be asked after the transaction was sent: it may have
    /// been taken.
    #[error("{0}")]
    Rpc(String),
    /// The node could not be asked before the transaction was sent: nothing
    /// happened.
    #[error("{0}")]
    NotSent(String),
}

/// How long a submission goes on trying when another process (or task) using the same
/// key took the nonce first: each try waits for the transaction at that nonce to be
/// finalized, then signs at the next.
const NONCE_RACE_FOR: Duration = Duration::from_secs(20);

/// Signs `call` with the account's next nonce, submits it and polls until it
/// is finalized (returning its block's height and its hash), calling `waiting`
/// with the time waited so far. A nonce taken
/// by a concurrent submission from the same key (another miner sharing the
/// coldkey) is retried with a fresh nonce.
pub async fn submit_and_wait(
    client: &HttpClient,
    chain_id: &ChainId,
    fee: plexus_primitives::Balance,
    key: &Keypair,
    call: Call,
    waiting: &mut (dyn FnMut(Duration) + Send),
) -> Result<(u64, Hash), SubmitError> {
    let signer = key.account_id();
    let rpc = |e: jsonrpsee::core::ClientError| SubmitError::Rpc(rpc_message(&e));
    let started = Instant::now();
    let mut attempt: u32 = 0;
    // The nonce the last dry run was for.
    let mut checked = None;
    'attempts: loop {
        attempt += 1;
        let retry = started.elapsed() < NONCE_RACE_FOR;
        let nonce = client
            .account(signer)
            .await
            .map_err(|e| SubmitError::NotSent(rpc_message(&e)))?
            .nonce;
        let tx = Transaction {
            chain_id: chain_id.clone(),
            signer,
            nonce,
            fee,
            call: call.clone(),
        }
        .sign(key);
        let encoded = hex::encode(tx.encode());
        // A call the ledger would refuse is not sent, so its fee is not paid; checked
        // again at each new nonce, since the state moved. No answer (a node of an earlier
        // build, or one busy or catching up) sends it as before, and so does a nonce taken
        // meanwhile (retried below) or a guess (the signer's own transactions waiting
        // before it may change what it meets).
        if checked != Some(nonce) {
            checked = Some(nonce);
            if let Ok(DryRun {
                height,
                error: Some(why),
                waiting: 0,
            }) = client.dry_run(encoded.clone()).await
            {
                return Err(SubmitError::Refused(format!(
                    "{why} (on the chain as of block {height}; the transaction was not sent, \
                     and no fee was paid)"
                )));
            }
        }
        let hash: Hash = match client.submit_transaction(encoded).await {
            Ok(hash) => hash,
            // An error answer is the node's refusal; anything else (a timeout, a reset
            // connection) leaves unknown whether the node took the transaction.
            Err(jsonrpsee::core::ClientError::Call(refusal)) => {
                let why = refusal.message();
                // Another process (or task) of this key sent a transaction at this nonce,
                // or this very one (the same call: signatures are deterministic), that
                // still waits: once it is finalized, the next attempt takes the nonce
                // after it, so that two commands make two transactions.
                let taken = matches!(refusal.code(), codes::NONCE_TAKEN | codes::ALREADY_KNOWN);
                if retry && taken {
                    let backoff = Duration::from_millis(150 * u64::from(attempt));
                    tokio::time::sleep(backoff.min(Duration::from_secs(1))).await;
                    continue;
                }
                let hint = if taken {
                    format!(
                        " (another command signed with this key still waits at nonce \
                         {nonce}; try again once it is finalized)"
                    )
                } else {
                    String::new()
                };
                return Err(SubmitError::Refused(format!(
                    "the node refused the transaction: {why}{hint}"
                )));
            }
            Err(e) => return Err(rpc(e)),
        };
        loop {
            match client.transaction_status(hash).await.map_err(rpc)? {
                TxStatus::Included {
                    height,
                    error: None,
                    ..
                } => return Ok((height, hash)),
                TxStatus::Included {
                    error: Some(why), ..
                } if retry && why.contains("nonce") => continue 'attempts,
                TxStatus::Included {
                    height,
                    error: Some(why),
                    fee_paid,
                    ..
                } => {
                    let paid = if fee_paid { " (its fee was paid)" } else { "" };
                    return Err(SubmitError::Refused(format!(
                        "transaction {hash} failed in block {height}{paid}: {why}"
                    )));
                }
                // Not signed again at another nonce: peers may still hold this one.
                TxStatus::Refused { reason } => {
                    return Err(SubmitError::Refused(format!(
                        "transaction {hash} was refused: {reason}"
                    )));
                }
                // Dropped from the mempool because a transaction with the same
                // nonce was finalized first.
                TxStatus::Unknown
                    if retry && client.account(signer).await.map_err(rpc)?.nonce > nonce =>
                {
                    continue 'attempts;
                }
                TxStatus::Pending | TxStatus::Unknown => {}
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(SubmitError::Timeout(hash));
            }
            waiting(started.elapsed());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The message of an RPC error, without transport noise.
pub fn rpc_message(e: &jsonrpsee::core::ClientError) -> String {
    match e {
        jsonrpsee::core::ClientError::Call(obj) => obj.message().to_owned(),
        other => other.to_string(),
    }
}

/// Runs an async command on a small runtime.
pub fn block_on<T, F: std::future::Future<Output = anyhow::Result<T>>>(f: F) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(f)
}

/// Whether something accepts a TCP connection at `addr` before `deadline`; why not if
/// nothing does. It says nothing about what listens there.
pub async fn accepts_connections(
    addr: impl tokio::net::ToSocketAddrs,
    deadline: tokio::time::Instant,
) -> Result<(), String> {
    match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".to_owned()),
    }
}
