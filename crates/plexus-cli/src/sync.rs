//! `plexus node --sync-from URL`: fetching the checkpoint a node serves, so that a
//! new node starts from a recent state rather than executing the chain from genesis.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonrpsee::core::ClientError;
use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use plexus_ledger::Ledger;
use plexus_node::consensus::checkpoint::{Checkpoint, Fetched, MAX_CHECKPOINT_BYTES};
use plexus_node::rpc::{CHECKPOINT_CHUNK, CheckpointInfo, PlexusApiClient, RATE_LIMITED, codes};
use plexus_primitives::Hash;

use crate::client::rpc_message;
use crate::exit;

/// Times a fetch starts again because the node moved on to a newer checkpoint.
const ATTEMPTS: usize = 3;

/// Turns a fetch waits in a row while the node serves other fetches, and how long each.
const BUSY_RETRIES: u32 = 120;
const BUSY_WAIT: Duration = Duration::from_millis(500);

/// The checkpoint the node at `url` serves, with its bytes, fetched in chunks with
/// progress on stderr and checked against `genesis` (the block must be `pin`, if
/// given). The certificate's signatures are checked as the node starts from it.
pub async fn fetch(url: &str, genesis: &Ledger, pin: Option<Hash>) -> anyhow::Result<Fetched> {
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(60))
        // A chunk is hex: twice its bytes, and the JSON around them.
        .max_response_size(u32::try_from(2 * CHECKPOINT_CHUNK + (1 << 20)).unwrap_or(u32::MAX))
        .build(url)
        .map_err(|e| exit::input(format!("bad --sync-from URL {url}: {e}")))?;
    let status = client
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach a Plexus node at {url}: {}", rpc_message(&e)))?;
    let ours = genesis.state().chain_id.as_str();
    if status.chain_id != ours {
        return Err(exit::input(format!(
            "{url} serves chain {}, and this node's genesis is of {ours}",
            status.chain_id
        )));
    }
    for attempt in 1..=ATTEMPTS {
        let info = client.checkpoint().await.map_err(|e| match &e {
            ClientError::Call(call) if call.code() == codes::NOT_FOUND => {
                anyhow::anyhow!(
                    "{url} {}: start the node without --sync-from, or sync from another node",
                    call.message().trim_start_matches("this node ")
                )
            }
            // JSON-RPC's "method not found".
            ClientError::Call(call) if call.code() == -32601 => anyhow::anyhow!(
                "{url} runs a build that serves no checkpoints: sync from a node of this build, \
                 or start without --sync-from"
            ),
            _ => anyhow::anyhow!("asking {url} for its checkpoint: {}", rpc_message(&e)),
        })?;
        if let Some(pinned) = pin
            && pinned != info.hash
        {
            return Err(exit::input(format!(
                "{url} serves the checkpoint of block {} (height {}), not the pinned {pinned}",
                info.hash, info.height
            )));
        }
        if info.size > MAX_CHECKPOINT_BYTES {
            anyhow::bail!(
                "{url} serves a checkpoint of {} bytes, over the {MAX_CHECKPOINT_BYTES} read",
                info.size
            );
        }
        let Some(bytes) = download(&client, url, &info).await? else {
            if attempt < ATTEMPTS {
                let _ = crate::exit::say(format_args!(
                    "{url} moved on to a newer checkpoint: fetching that one\n"
                ));
            }
            continue;
        };
        // Reading a large state takes a while: off the async workers.
        let (read, genesis) = (Arc::clone(&bytes), genesis.clone());
        let decoded =
            tokio::task::spawn_blocking(move || Checkpoint::decode(&read, &genesis, pin)).await?;
        let checkpoint = decoded
            .map_err(|e| exit::input(format!("the checkpoint from {url} cannot be used: {e}")))?;
        return Ok((checkpoint, bytes));
    }
    anyhow::bail!("{url} kept moving on to newer checkpoints while this node fetched one")
}

/// The bytes of the checkpoint `info` names, or `None` if the node stopped
/// serving it part-way (it serves a newer one).
async fn download(
    client: &HttpClient,
    url: &str,
    info: &CheckpointInfo,
) -> anyhow::Result<Option<Arc<[u8]>>> {
    let total = usize::try_from(info.size)?;
    // Grown as chunks come rather than sized by what the node says.
    let mut bytes = Vec::new();
    let mut progress = Progress::new(info);
    let mut busy = 0;
    while bytes.len() < total {
        let chunk = match client
            .checkpoint_chunk(info.height, bytes.len() as u64)
            .await
        {
            Ok(chunk) => chunk,
            Err(ClientError::Call(call)) if call.code() == codes::NOT_FOUND => return Ok(None),
            // The node serves a few fetches at a time: wait for a turn.
            Err(ClientError::Call(call)) if call.code() == RATE_LIMITED && busy < BUSY_RETRIES => {
                busy += 1;
                tokio::time::sleep(BUSY_WAIT).await;
                continue;
            }
            Err(e) => anyhow::bail!("fetching the checkpoint from {url}: {}", rpc_message(&e)),
        };
        let chunk = hex::decode(&chunk)
            .map_err(|e| anyhow::anyhow!("{url} sent a checkpoint chunk that is not hex: {e}"))?;
        // Whole chunks but the last: a node cannot stall the fetch a byte at a time.
        let expected = (total - bytes.len()).min(CHECKPOINT_CHUNK as usize);
        if chunk.len() != expected {
            anyhow::bail!(
                "{url} sent {} bytes at offset {} of a {total}-byte checkpoint, not {expected}",
                chunk.len(),
                bytes.len()
            );
        }
        bytes.extend_from_slice(&chunk);
        busy = 0;
        progress.show(bytes.len());
    }
    Ok(Some(bytes.into()))
}

/// The fetch's progress: one line kept up to date on a terminal, else a line a
/// few times over a long fetch.
struct Progress {
    interactive: bool,
    started: Instant,
    shown: Instant,
    height: u64,
    total: usize,
}

impl Progress {
    fn new(info: &CheckpointInfo) -> Self {
        let now = Instant::now();
        Self {
            interactive: std::io::stderr().is_terminal(),
            started: now,
            shown: now,
            height: info.height,
            total: usize::try_from(info.size).unwrap_or(usize::MAX),
        }
    }

    fn show(&mut self, received: usize) {
        let done = received >= self.total;
        let every = if self.interactive { 0.2 } else { 10.0 };
        if !done && self.shown.elapsed().as_secs_f64() < every {
            return;
        }
        self.shown = Instant::now();
        let line = format!(
            "checkpoint at height {}: {} of {} in {:.1} s",
            self.height,
            size(received as u64),
            size(self.total as u64),
            self.started.elapsed().as_secs_f64()
        );
        let end = if done { "\n" } else { "" };
        // Progress is a courtesy: a closed stderr does not stop the fetch.
        let _ = if self.interactive {
            crate::exit::say(format_args!("\r{line}{end}"))
        } else {
            crate::exit::say(format_args!("{line}\n"))
        };
    }
}

/// `bytes` for people: kB under a megabyte, MB over.
pub fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1_000.0)
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use plexus_ledger::Genesis;
    use plexus_node::consensus::FinalizedSink as _;
    use plexus_node::consensus::checkpoint::Published;
    use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
    use plexus_node::rpc::{self, RpcConfig, RpcServer};
    use plexus_node::store::ChainStore;

    use super::*;

    /// A real checkpoint (the fuzz target's seed: epoch 5 of a devnet with 100-block
    /// epochs) and the genesis of its chain.
    const CHECKPOINT: &[u8] =
        include_bytes!("../../../fuzz/seeds/decode_checkpoint/devnet-epoch-5");
    const GENESIS: &str = include_str!("../../../fuzz/fuzz_targets/common/devnet-genesis.toml");

    fn genesis() -> Ledger {
        Ledger::from_genesis(&Genesis::parse(GENESIS).unwrap()).unwrap()
    }

    /// A node of `genesis`'s chain serving `bytes` as its checkpoint; its RPC URL.
    async fn serving(genesis: Ledger, bytes: &[u8]) -> (String, jsonrpsee::server::ServerHandle) {
        let mut store = ChainStore::new(genesis);
        store.checkpoint_published(Arc::new(Published::read(bytes.into()).unwrap()));
        let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        let server = RpcServer::new(store, mempool, Arc::new(AtomicUsize::new(0)));
        let listen = "127.0.0.1:0".parse().unwrap();
        let (addr, handle) = rpc::start(listen, RpcConfig::default(), server)
            .await
            .unwrap();
        (format!("http://{addr}"), handle)
    }

    #[tokio::test]
    async fn a_checkpoint_is_fetched_and_checked_before_the_node_starts_from_it() {
        let (url, _node) = serving(genesis(), CHECKPOINT).await;
        let (checkpoint, bytes) = fetch(&url, &genesis(), None).await.unwrap();
        assert_eq!(checkpoint.height(), 500);
        assert_eq!(&bytes[..], CHECKPOINT, "the bytes as served, to be kept");
        let pinned = fetch(&url, &genesis(), Some(checkpoint.hash()))
            .await
            .unwrap();
        assert_eq!(pinned.0.hash(), checkpoint.hash());

        // Another block pinned: refused before anything is downloaded.
        let other = Hash::of(b"another block");
        let refused = fetch(&url, &genesis(), Some(other)).await.unwrap_err();
        assert!(
            format!("{refused:#}").contains("not the pinned"),
            "{refused:#}"
        );
    }

    #[tokio::test]
    async fn a_node_of_another_chain_or_a_changed_state_is_refused() {
        let mut changed = CHECKPOINT.to_vec();
        *changed.last_mut().unwrap() ^= 1;
        let (url, _node) = serving(genesis(), &changed).await;
        let refused = fetch(&url, &genesis(), None).await.unwrap_err();
        assert!(
            format!("{refused:#}").contains("cannot be used"),
            "{refused:#}"
        );

        let mut other = Genesis::parse(GENESIS).unwrap();
        other.chain_id = plexus_primitives::ChainId::new("another-chain").unwrap();
        let other = Ledger::from_genesis(&other).unwrap();
        let (url, _node) = serving(other, CHECKPOINT).await;
        let refused = fetch(&url, &genesis(), None).await.unwrap_err();
        assert!(
            format!("{refused:#}").contains("serves chain another-chain"),
            "{refused:#}"
        );
    }
}
