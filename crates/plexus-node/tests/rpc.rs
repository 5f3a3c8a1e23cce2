//! The JSON-RPC server as a client sees it, over real HTTP and WebSocket on
//! loopback. Consensus is stood in for by finalizing blocks by hand from
//! the mempool (the consensus tests live in `simulation.rs`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use jsonrpsee_http_client::{HttpClient, HttpClientBuilder};
use jsonrpsee_ws_client::WsClientBuilder;
use plexus_ledger::commitment::account_key;
use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisValidator, Ledger, Signatures};
use plexus_node::journal::{Journal, JournalPolicy};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_node::rpc::{self, PlexusApiClient, RpcConfig, RpcServer, TxStatus};
use plexus_node::store::{ChainStore, History};
use plexus_primitives::{
    AccountId, Balance, Block, BlockHeader, BlockHeight, Call, ChainId, Encode, Hash, Keypair,
    SignedTransaction, Transaction, transactions_root,
};

fn key(i: u8) -> Keypair {
    Keypair::from_seed([i; 32])
}

struct Node {
    store: ChainStore,
    mempool: SharedMempool,
    /// Where finalized blocks are written too, as consensus writes them.
    journal: Option<Journal>,
    url: String,
    ws: String,
    _handle: jsonrpsee::server::ServerHandle,
}

impl Node {
    async fn start() -> Self {
        Self::start_with(RpcConfig {
            max_request_bytes: 64 * 1024,
            ..RpcConfig::default()
        })
        .await
    }

    async fn start_with(config: RpcConfig) -> Self {
        Self::start_keeping(config, History::default(), None).await
    }

    /// A node keeping `history` in memory, and its blocks in `journal` if any.
    async fn start_keeping(config: RpcConfig, history: History, journal: Option<Journal>) -> Self {
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-rpc-test").unwrap(),
            balances: (1..=3)
                .map(|i| GenesisBalance {
                    account: key(i).account_id(),
                    balance: Balance::from_rao(1_000_000_000_000),
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: key(9).account_id(),
                address: None,
            }],
            economics: Economics::default(),
        };
        let store = ChainStore::new(Ledger::from_genesis(&genesis).unwrap()).with_history(history);
        if let Some(journal) = &journal {
            store.attach(journal.clone());
        }
        let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        let server = RpcServer::new(
            store.clone(),
            mempool.clone(),
            Arc::new(AtomicUsize::new(3)),
        );
        let (addr, handle) = rpc::start("127.0.0.1:0".parse().unwrap(), config, server)
            .await
            .unwrap();
        Self {
            store,
            mempool,
            journal,
            url: format!("http://{addr}"),
            ws: format!("ws://{addr}"),
            _handle: handle,
        }
    }

    /// Finalizes one block from the mempool, as consensus would.
    fn finalize_block(&self) {
        let ledger = self.store.ledger();
        let txs = self.mempool.lock().select(&ledger, 1_000, 1 << 20);
        let mut next = (*ledger).clone();
        let height = next.height() + 1;
        let outcome = next.apply_block(height, &txs, Signatures::Trusted).unwrap();
        let header = BlockHeader {
            chain_id: next.state().chain_id.clone(),
            height: BlockHeight(height),
            parent: Hash::ZERO,
            state_root: outcome.state_root,
            transactions_root: transactions_root(&txs),
            proposer: key(9).account_id(),
            view: height,
        };
        let block = Block {
            header,
            transactions: txs,
        };
        let carried = block.transactions.clone();
        if let Some(journal) = &self.journal {
            journal.append(&block, &outcome);
        }
        self.store.finalize(block, outcome, Arc::new(next.clone()));
        self.mempool.lock().prune_block(&carried, &next);
    }
}

fn transfer(from: u8, nonce: u64, to: AccountId, chain: &str) -> SignedTransaction {
    Transaction {
        chain_id: ChainId::new(chain).unwrap(),
        signer: key(from).account_id(),
        nonce,
        fee: Economics::default().min_fee,
        call: Call::Transfer {
            to,
            amount: Balance::from_rao(5_000_000_000),
        },
    }
    .sign(&key(from))
}

#[tokio::test]
async fn status_says_while_the_node_catches_up() {
    use plexus_node::consensus::FinalizedSink as _;

    let node = Node::start().await;
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    assert!(!client.status().await.unwrap().catching_up);
    let mut sink = node.store.clone();
    sink.catching_up(true);
    assert!(client.status().await.unwrap().catching_up);
    sink.catching_up(false);
    assert!(!client.status().await.unwrap().catching_up);
    // How long ago the last block came: unknown before the first since the start.
    assert_eq!(client.status().await.unwrap().secs_since_block, None);
    node.finalize_block();
    let since = client.status().await.unwrap().secs_since_block;
    assert!(since.is_some_and(|s| s < 5), "{since:?}");
}

/// A joining node reads the checkpoint a node serves in chunks, whatever its size,
/// and is told when the node has moved on to a newer one.
#[tokio::test]
async fn a_checkpoint_is_served_in_chunks_until_a_newer_one_replaces_it() {
    use plexus_node::consensus::FinalizedSink as _;
    use plexus_node::consensus::checkpoint::Published;

    let node = Node::start().await;
    let client = HttpClientBuilder::default()
        .max_response_size(32 << 20)
        .build(&node.url)
        .unwrap();
    let none = client.checkpoint().await.unwrap_err().to_string();
    assert!(none.contains("no checkpoint yet"), "{none}");
    assert_eq!(client.status().await.unwrap().checkpoint, None);

    // Two and a half chunks of bytes that differ along their length.
    let size = 5 * rpc::CHECKPOINT_CHUNK / 2;
    let bytes: Arc<[u8]> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let mut sink = node.store.clone();
    let served = |height: u64, bytes: &Arc<[u8]>| {
        Arc::new(Published {
            height,
            hash: Hash::of(&height.to_be_bytes()),
            bytes: bytes.clone(),
        })
    };
    sink.checkpoint_published(served(200, &bytes));
    let info = client.checkpoint().await.unwrap();
    assert_eq!((info.height, info.size), (200, size));
    assert_eq!(client.status().await.unwrap().checkpoint, Some(info));
    let mut fetched = Vec::new();
    while (fetched.len() as u64) < size {
        let chunk = client
            .checkpoint_chunk(200, fetched.len() as u64)
            .await
            .unwrap();
        fetched.extend(hex::decode(chunk).unwrap());
    }
    assert_eq!(fetched, bytes[..]);
    assert_eq!(
        client.checkpoint_chunk(200, size).await.unwrap(),
        "",
        "the end"
    );
    let past = client.checkpoint_chunk(200, size + 1).await.unwrap_err();
    assert!(past.to_string().contains("past the checkpoint"), "{past}");

    // An older one does not replace it; a newer one does, and the old is gone.
    sink.checkpoint_published(served(100, &bytes));
    assert_eq!(client.checkpoint().await.unwrap().height, 200);
    sink.checkpoint_published(served(300, &bytes));
    assert_eq!(client.checkpoint().await.unwrap().height, 300);
    let gone = client
        .checkpoint_chunk(200, 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(gone.contains("its checkpoint is at 300"), "{gone}");
}

#[tokio::test]
async fn a_transaction_is_admitted_then_finalized_and_proven() {
    let node = Node::start().await;
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    let status = client.status().await.unwrap();
    assert_eq!(
        (status.height, status.finalized_height, status.peers),
        (0, 0, 3)
    );

    let sets = client.validator_sets().await.unwrap();
    assert_eq!((sets.epoch, sets.first_height), (0, 0));
    assert_eq!(sets.current.len(), 1);
    assert_eq!(sets.current[0].consensus_key, key(9).account_id());
    assert_eq!(sets.next, sets.current, "nothing bonded: the set stays");

    let to = key(3).account_id();
    let tx = transfer(1, 0, to, "plexus-rpc-test");
    let hash = client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap();
    assert_eq!(hash, tx.hash());
    assert_eq!(
        client.transaction_status(hash).await.unwrap(),
        TxStatus::Pending
    );
    assert_eq!(client.status().await.unwrap().mempool, 1);
    // Sent again (or to a node it was gossiped to): still the one transaction, and the
    // sender is told so (a wallet that broadcasts to several nodes takes it as sent).
    match client.submit_transaction(hex::encode(tx.encode())).await {
        Err(jsonrpsee::core::ClientError::Call(e)) => {
            assert_eq!(e.code(), rpc::codes::ALREADY_KNOWN);
        }
        other => panic!("sent twice: {other:?}"),
    }
    assert_eq!(client.status().await.unwrap().mempool, 1);

    node.finalize_block();
    assert_eq!(
        client.transaction_status(hash).await.unwrap(),
        TxStatus::Included {
            height: 1,
            index: 0,
            error: None,
            fee_paid: true,
        }
    );
    let account = client.account(to).await.unwrap();
    assert_eq!(account.balance.rao(), 1_005_000_000_000);
    let block = client.block(1).await.unwrap();
    assert_eq!(block.transactions[0].hash, hash);
    assert!(client.block(2).await.is_err(), "no block 2 yet");

    // The balance proves against the finalized header's state root.
    assert_account_proven(&client, to, 1, block.header.state_root).await;

    // After the next block the proof is of the new state (the node keeps one tree per
    // height for proofs, so it must not serve the last height's).
    let again = transfer(1, 1, to, "plexus-rpc-test");
    client
        .submit_transaction(hex::encode(again.encode()))
        .await
        .unwrap();
    node.finalize_block();
    let header = client.block(2).await.unwrap().header;
    assert_account_proven(&client, to, 2, header.state_root).await;
}

/// `account`'s balance and nonce, as the RPC reports them, come with a proof at `height`
/// against `state_root`.
async fn assert_account_proven(
    client: &HttpClient,
    account: AccountId,
    height: u64,
    state_root: Hash,
) {
    let state = client.account(account).await.unwrap();
    let proof = client
        .proof(hex::encode(account_key(&account)))
        .await
        .unwrap();
    assert_eq!((proof.height, proof.state_root), (height, state_root));
    let value = hex::decode(proof.value.unwrap()).unwrap();
    let mut expected = state.balance.encode();
    state.nonce.encode_to(&mut expected);
    assert_eq!(value, expected);
    proof
        .proof
        .verify_member(&state_root, &account_key(&account), &value)
        .unwrap();
}

#[tokio::test]
async fn a_transaction_a_proposer_left_out_reports_why() {
    let node = Node::start().await;
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    let tx = transfer(1, 0, key(3).account_id(), "plexus-rpc-test");
    let hash = client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap();
    node.mempool
        .lock()
        .refuse(&tx, "amount must be positive".into());
    assert_eq!(
        client.transaction_status(hash).await.unwrap(),
        TxStatus::Refused {
            reason: "amount must be positive".into()
        }
    );
    assert_eq!(client.status().await.unwrap().mempool, 0);
}

#[tokio::test]
async fn a_failed_call_is_included_and_pays_its_fee() {
    let node = Node::start().await;
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    let from = key(1).account_id();
    let before = client.account(from).await.unwrap().balance;
    let tx = Transaction {
        chain_id: ChainId::new("plexus-rpc-test").unwrap(),
        signer: from,
        nonce: 0,
        fee: Economics::default().min_fee,
        call: Call::Transfer {
            to: key(3).account_id(),
            amount: Balance::from_rao(before.rao()),
        },
    }
    .sign(&key(1));
    // A dry run says so first, and changes nothing: no fee, no nonce, nothing admitted.
    let dry = client.dry_run(hex::encode(tx.encode())).await.unwrap();
    let foretold = dry.error.expect("a dry run foretells the failure");
    assert!(foretold.contains("insufficient balance"), "{foretold}");
    assert_eq!(dry.height, client.status().await.unwrap().finalized_height);
    let unchanged = client.account(from).await.unwrap();
    assert_eq!((unchanged.balance, unchanged.nonce), (before, 0));
    assert_eq!(client.status().await.unwrap().mempool, 0);
    // One that would succeed is foretold as such.
    let affordable = transfer(1, 0, key(3).account_id(), "plexus-rpc-test");
    let dry = client
        .dry_run(hex::encode(affordable.encode()))
        .await
        .unwrap();
    assert_eq!(dry.error, None);
    let hash = client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap();
    // Behind a transaction of its signer still waiting, a dry run says so: what the
    // waiting one does changes what the next meets.
    let next = transfer(1, 1, key(3).account_id(), "plexus-rpc-test");
    let dry = client.dry_run(hex::encode(next.encode())).await.unwrap();
    assert_eq!(dry.waiting, 1);
    node.finalize_block();
    let TxStatus::Included {
        height,
        index,
        error: Some(why),
        fee_paid: true,
    } = client.transaction_status(hash).await.unwrap()
    else {
        panic!("a failed call is included, charged")
    };
    assert!(why.contains("insufficient balance"), "{why}");
    let block = client.block(height).await.unwrap();
    assert!(block.transactions[index].fee_paid);
    assert_eq!(
        block.transactions[index].error.as_deref(),
        Some(why.as_str())
    );
    let after = client.account(from).await.unwrap();
    assert_eq!(
        (after.balance.rao(), after.nonce),
        (before.rao() - Economics::default().min_fee.rao(), 1),
        "its fee was paid and its nonce used"
    );
}

#[tokio::test]
async fn bad_requests_get_errors_and_the_node_keeps_serving() {
    let node = Node::start().await;
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    let refused = |e: jsonrpsee::core::ClientError| match e {
        jsonrpsee::core::ClientError::Call(obj) => (obj.code(), obj.message().to_owned()),
        other => panic!("expected a JSON-RPC error, got {other}"),
    };
    let submit_refused = async |tx: &SignedTransaction| {
        refused(
            client
                .submit_transaction(hex::encode(tx.encode()))
                .await
                .unwrap_err(),
        )
    };
    let (code, _) = refused(client.submit_transaction("zz".into()).await.unwrap_err());
    assert_eq!(code, -32602, "not hex");
    let (code, msg) = refused(client.dry_run("00ff".into()).await.unwrap_err());
    assert_eq!(
        code, -32602,
        "a dry run's transaction does not decode either: {msg}"
    );
    let (code, msg) = refused(client.submit_transaction("00ff".into()).await.unwrap_err());
    assert_eq!(code, -32602, "does not decode: {msg}");
    // A call this build does not know (a newer wallet's): the error says the node may be
    // the older one.
    let tx = transfer(1, 0, key(3).account_id(), "plexus-rpc-test");
    let call = tx.tx.call.encode();
    let mut newer = tx.encode();
    let at = newer
        .windows(call.len())
        .position(|w| w == call.as_slice())
        .unwrap();
    newer[at] = 200;
    let (code, msg) = refused(
        client
            .submit_transaction(hex::encode(newer))
            .await
            .unwrap_err(),
    );
    assert_eq!(code, -32602);
    assert!(
        msg.contains("unknown tag 200 for Call") && msg.contains("older than the wallet"),
        "{msg}"
    );
    let mut forged = transfer(1, 0, key(3).account_id(), "plexus-rpc-test");
    forged.tx.nonce = 7;
    let (code, msg) = submit_refused(&forged).await;
    assert_eq!((code, msg.as_str()), (1, "bad signature"));
    let other_chain = transfer(1, 0, key(3).account_id(), "other-chain");
    let (code, msg) = submit_refused(&other_chain).await;
    assert_eq!(code, 1);
    assert!(msg.contains("other-chain"), "{msg}");
    // A replayed nonce, after the first use is finalized.
    let tx = transfer(2, 0, key(3).account_id(), "plexus-rpc-test");
    client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap();
    node.finalize_block();
    let (code, msg) = submit_refused(&tx).await;
    assert!(
        code == rpc::codes::NONCE_TAKEN && msg.contains("nonce"),
        "{msg}"
    );
    // A dry run answers a taken nonce the same way, whatever the call.
    let (code, _) = refused(client.dry_run(hex::encode(tx.encode())).await.unwrap_err());
    assert_eq!(code, rpc::codes::NONCE_TAKEN);
    // The same transaction sent twice while it waits: the second sender learns it is not
    // a new one (two identical transfers signed at one nonce are one transaction).
    let waiting = transfer(2, 1, key(3).account_id(), "plexus-rpc-test");
    let hash = client
        .submit_transaction(hex::encode(waiting.encode()))
        .await
        .unwrap();
    let (code, msg) = submit_refused(&waiting).await;
    assert_eq!(code, rpc::codes::ALREADY_KNOWN);
    assert!(msg.contains(&hash.to_string()), "{msg}");
    // Another transaction at the nonce of one waiting, without a higher fee: taken too.
    let rival = transfer(2, 1, key(4).account_id(), "plexus-rpc-test");
    let (code, _) = submit_refused(&rival).await;
    assert_eq!(code, rpc::codes::NONCE_TAKEN);
    // Oversized request bodies are refused at the transport.
    let huge = "ab".repeat(100 * 1024);
    assert!(client.submit_transaction(huge).await.is_err());
    let (code, _) = refused(client.subnet(42).await.unwrap_err());
    assert_eq!(code, 2, "unknown subnet");
    // Malformed JSON straight over HTTP gets a JSON-RPC parse error.
    let reply = raw_post(&node.url, "{not json").await;
    assert!(reply.contains("-32700"), "{reply}");
    // Still serving.
    assert_eq!(client.status().await.unwrap().finalized_height, 1);
}

#[tokio::test]
async fn websocket_subscribers_see_each_finalized_block() {
    let node = Node::start().await;
    let ws = WsClientBuilder::default().build(&node.ws).await.unwrap();
    let mut blocks = ws.subscribe_finalized().await.unwrap();
    let client = HttpClientBuilder::default().build(&node.url).unwrap();
    let tx = transfer(1, 0, key(2).account_id(), "plexus-rpc-test");
    client
        .submit_transaction(hex::encode(tx.encode()))
        .await
        .unwrap();
    node.finalize_block();
    node.finalize_block();
    for height in [1, 2] {
        let block = tokio::time::timeout(Duration::from_secs(5), blocks.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(block.header.height.0, height);
    }
}

/// POSTs a raw body and returns the whole HTTP response as text.
async fn raw_post(url: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply
}

/// Whether `status` over `client` was refused for the rate limit.
async fn rate_limited(client: &(impl PlexusApiClient + Sync)) -> bool {
    match client.status().await {
        Ok(_) => false,
        Err(jsonrpsee::core::ClientError::Call(obj)) => {
            assert_eq!(obj.code(), rpc::RATE_LIMITED);
            true
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn a_peer_that_floods_is_rate_limited_on_every_connection() {
    // Loopback limited like any peer, which is the only peer a test can be.
    let node = Node::start_with(RpcConfig {
        requests_per_second: 5,
        limit_loopback: true,
        ..RpcConfig::default()
    })
    .await;
    let ws = WsClientBuilder::default().build(&node.ws).await.unwrap();
    let mut limited = 0;
    for _ in 0..20 {
        limited += usize::from(rate_limited(&ws).await);
    }
    assert!(limited >= 10, "only {limited} of 20 refused");
    // A new connection from the same peer shares its budget: opening connections does
    // not buy more calls.
    let other = WsClientBuilder::default().build(&node.ws).await.unwrap();
    assert!(rate_limited(&other).await);
    // Nor do plain HTTP requests, each of which the server answers on its own.
    let http = HttpClientBuilder::default().build(&node.url).unwrap();
    assert!(matches!(
        http.status().await,
        Err(jsonrpsee::core::ClientError::Call(obj)) if obj.code() == rpc::RATE_LIMITED
    ));
}

#[tokio::test]
async fn this_machines_own_calls_are_not_limited_by_default() {
    let node = Node::start_with(RpcConfig {
        requests_per_second: 5,
        ..RpcConfig::default()
    })
    .await;
    let ws = WsClientBuilder::default().build(&node.ws).await.unwrap();
    for _ in 0..50 {
        assert!(!rate_limited(&ws).await);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let node = Node::start_with(RpcConfig {
        requests_per_second: 5,
        behind_proxy: true,
        ..RpcConfig::default()
    })
    .await;
    // What a proxy on this machine sends on: the address it saw, appended last.
    let through_proxy = |client: &str| {
        let mut headers = jsonrpsee_http_client::HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            format!("10.0.0.1, {client}").parse().unwrap(),
        );
        HttpClientBuilder::default()
            .set_headers(headers)
            .build(&node.url)
            .unwrap()
    };
    let flooder = through_proxy("203.0.113.5");
    let mut limited = 0;
    for _ in 0..20 {
        limited += usize::from(rate_limited(&flooder).await);
    }
    assert!(limited >= 10, "only {limited} of 20 refused");
    assert!(
        !rate_limited(&through_proxy("203.0.113.6")).await,
        "another client has its own budget"
    );
    let own = HttpClientBuilder::default().build(&node.url).unwrap();
    for _ in 0..20 {
        assert!(!rate_limited(&own).await, "this machine's own calls");
    }
}

#[tokio::test]
async fn every_call_of_a_batch_counts_against_the_rate_limit() {
    let node = Node::start_with(RpcConfig {
        requests_per_second: 5,
        limit_loopback: true,
        max_batch: 32,
        ..RpcConfig::default()
    })
    .await;
    let batch = |n: usize| {
        let calls: Vec<String> = (0..n)
            .map(|i| {
                format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"plexus_status","params":[]}}"#)
            })
            .collect();
        format!("[{}]", calls.join(","))
    };
    let reply = raw_post(&node.url, &batch(20)).await;
    let body = &reply[reply.find("\r\n\r\n").unwrap() + 4..];
    let answers: serde_json::Value = serde_json::from_str(body).unwrap();
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 20);
    let limited = answers
        .iter()
        .filter(|a| a["error"]["code"] == rpc::RATE_LIMITED)
        .count();
    let served = answers.iter().filter(|a| a.get("result").is_some()).count();
    assert_eq!(served + limited, 20);
    assert!(
        served <= 6 && limited >= 14,
        "served {served}, refused {limited}"
    );
    // Past the most calls a batch may hold, none is served.
    let reply = raw_post(&node.url, &batch(33)).await;
    assert!(!reply.contains("\"result\""), "{reply}");
}

#[tokio::test]
async fn a_websocket_keeps_its_connections_place_until_it_closes() {
    // Loopback held to the caps like any peer: one connection at a time.
    let node = Node::start_with(RpcConfig {
        max_connections_per_peer: 1,
        limit_loopback: true,
        ..RpcConfig::default()
    })
    .await;
    let ws = WsClientBuilder::default().build(&node.ws).await.unwrap();
    assert!(ws.status().await.is_ok());
    // The upgraded connection still counts: a second one is turned away.
    let http = HttpClientBuilder::default().build(&node.url).unwrap();
    assert!(
        http.status().await.is_err(),
        "a second connection was served"
    );
    drop(ws);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while http.status().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed WebSocket still holds its place"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Over RPC, a node serves the blocks and receipts its memory forgot from its
/// journal; without one, it says they are older than it keeps.
#[test]
fn blocks_memory_forgot_are_served_from_the_journal() {
    use commonware_runtime::{Runner as _, Supervisor as _, tokio as runtime};

    let dir = std::env::temp_dir().join(format!("plexus-rpc-journal-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = runtime::Config::new().with_storage_directory(&dir);
    runtime::Runner::new(config).start(|context| async move {
        let one_block = History {
            blocks: 1,
            bytes: usize::MAX,
            least: 1,
        };
        let journal = Journal::open(context.child("journal"), "rpc", JournalPolicy::default())
            .await
            .unwrap();
        let with = Node::start_keeping(RpcConfig::default(), one_block, Some(journal)).await;
        let without = Node::start_keeping(RpcConfig::default(), one_block, None).await;
        let mut first_tx = Vec::new();
        for node in [&with, &without] {
            let client = HttpClientBuilder::default().build(&node.url).unwrap();
            for nonce in 0..3 {
                let tx = transfer(1, nonce, key(3).account_id(), "plexus-rpc-test");
                client
                    .submit_transaction(hex::encode(tx.encode()))
                    .await
                    .unwrap();
                node.finalize_block();
            }
            first_tx.push(transfer(1, 0, key(3).account_id(), "plexus-rpc-test").hash());
        }

        let client = HttpClientBuilder::default().build(&with.url).unwrap();
        let block = client.block(1).await.unwrap();
        assert_eq!(block.header.height.0, 1);
        assert_eq!(block.transactions[0].hash, first_tx[0]);
        assert!(block.transactions[0].error.is_none());
        assert!(matches!(
            client.transaction_status(first_tx[0]).await.unwrap(),
            TxStatus::Included {
                height: 1,
                index: 0,
                error: None,
                fee_paid: true
            }
        ));
        let beyond = client.block(4).await.unwrap_err().to_string();
        assert!(
            beyond.contains("no finalized block at height 4 (finalized height is 3)"),
            "{beyond}"
        );

        let client = HttpClientBuilder::default().build(&without.url).unwrap();
        let forgotten = client.block(1).await.unwrap_err().to_string();
        assert!(
            forgotten.contains("block 1 is older than the blocks this node keeps (from 3)"),
            "{forgotten}"
        );
        assert_eq!(
            client.transaction_status(first_tx[1]).await.unwrap(),
            TxStatus::Unknown
        );
    });
    let _ = std::fs::remove_dir_all(&dir);
}
