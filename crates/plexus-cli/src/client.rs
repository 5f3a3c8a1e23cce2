//! Talking to a node: where it is, and submitting a signed transaction
//! until it is finalized.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use plexus_node::rpc::{ChainStatus, PlexusApiClient, TxStatus};
use plexus_primitives::{Call, ChainId, Encode, Hash, Keypair, Transaction};

use crate::exit;
use crate::home::Home;

/// The default RPC address of a local node.
pub const DEFAULT_RPC: &str = "http://127.0.0.1:9944";

/// Where the node is.
#[derive(Debug, Clone, Args)]
pub struct RpcArgs {
    /// The node's JSON-RPC URL [default: `rpc` in $PLEXUS_HOME/config.toml, else http://127.0.0.1:9944]
    #[arg(long, env = "PLEXUS_RPC", global = true)]
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
        let status = client.status().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach a Plexus node at {url}: {e}\n\
                 start one (`plexus devnet up` or `plexus node`) or pass --rpc URL"
            )
        })?;
        Ok((client, status))
    }
}

/// Signs `call`, submits it and waits until it is finalized; an applied
/// transaction returns its block height, a refused one is an error that
/// says why.
pub async fn submit(
    client: &HttpClient,
    status: &ChainStatus,
    key: &Keypair,
    call: Call,
) -> anyhow::Result<u64> {
    let signer = key.account_id();
    let account = client
        .account(signer)
        .await
        .context("reading the signer's account")?;
    let chain_id =
        ChainId::new(status.chain_id.clone()).context("the node reported a bad chain id")?;
    let tx = Transaction {
        chain_id,
        signer,
        nonce: account.nonce,
        fee: status.min_fee,
        call,
    }
    .sign(key);
    let hash: Hash = client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .map_err(|e| {
            exit::input(format!(
                "the node refused the transaction: {}",
                rpc_message(&e)
            ))
        })?;
    wait_final(client, hash).await
}

/// Polls until the transaction is in a finalized block, showing the wait
/// on a terminal.
async fn wait_final(client: &HttpClient, hash: Hash) -> anyhow::Result<u64> {
    let started = Instant::now();
    let mut stderr = std::io::stderr();
    let interactive = std::io::IsTerminal::is_terminal(&stderr);
    let clear = |stderr: &mut std::io::Stderr| {
        if interactive {
            let _ = write!(stderr, "\r{:40}\r", "");
        }
    };
    loop {
        let status = client
            .transaction_status(hash)
            .await
            .context("asking the transaction's status")?;
        match status {
            TxStatus::Included {
                height,
                error: None,
                ..
            } => {
                clear(&mut stderr);
                let secs = started.elapsed().as_secs_f64();
                let _ = writeln!(stderr, "finalized in block {height} ({secs:.1} s)");
                return Ok(height);
            }
            TxStatus::Included {
                height,
                error: Some(why),
                ..
            } => {
                clear(&mut stderr);
                return Err(exit::input(format!(
                    "transaction {hash} was refused in block {height}: {why}"
                )));
            }
            TxStatus::Pending | TxStatus::Unknown => {}
        }
        if started.elapsed() > Duration::from_secs(60) {
            clear(&mut stderr);
            anyhow::bail!(
                "transaction {hash} not finalized after 60 s; check it later with its hash"
            );
        }
        if interactive {
            let secs = started.elapsed().as_secs_f64();
            let _ = write!(stderr, "\rwaiting for finalization… {secs:.1} s");
            let _ = stderr.flush();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
