//! The explorer served over a real node RPC on loopback: the page and its
//! assets, the read-only proxy (a valid transaction sent through it never
//! reaches the mempool), the node's WebSocket in `/config.json`, bounded
//! bodies, and the history of a subnet whose epochs pay its miners.
//! Consensus is stood in for by finalizing blocks by hand, as in the node's
//! own RPC tests.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Node, TOKEN, call, header, http, key, rpc_post};
use plexus_explorer::{assets, history, proxy};
use plexus_ledger::{Economics, SubnetParams};
use plexus_node::rpc;
use plexus_primitives::{AccountId, Balance, Call, Encode, Keypair, NetUid};
use serde_json::{Value, json};

const NET: NetUid = NetUid(1);
const OWNER: u32 = 1;
const VALIDATOR: u32 = 2;
const MINERS: [u32; 2] = [3, 4];

fn hotkey(i: u32) -> Keypair {
    key(i + 100)
}

/// Four coldkeys and their hotkeys (which sign weights, so pay fees too);
/// subnets with a short tempo and no weights rate limit, so epochs come quickly.
async fn node() -> Node {
    let economics = Economics {
        min_lock: Balance::from_rao(100 * TOKEN),
        subnet_defaults: SubnetParams {
            tempo: 10,
            weights_rate_limit: 0,
            activity_cutoff: 1_000,
            max_allowed_uids: 16,
            min_burn: Balance::from_rao(TOKEN / 10),
            ..SubnetParams::default()
        },
        ..Economics::default()
    };
    let keys: Vec<Keypair> = (1..=4).flat_map(|i| [key(i), hotkey(i)]).collect();
    let funded: Vec<(&Keypair, u64)> = keys.iter().map(|k| (k, 10_000)).collect();
    Node::start(economics, &funded).await
}

/// Empty blocks until the subnet's next epoch has run; its index.
fn next_epoch(node: &Node) -> u64 {
    let epoch = |n: &Node| n.store.ledger().state().subnets[&NET].epoch_index;
    let before = epoch(node);
    while epoch(node) == before {
        node.finalize(Vec::new());
    }
    epoch(node)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_assets_are_served_from_the_binary() {
    let node = node().await;
    let explorer = node.explorer().await;
    let addr = explorer.local_addr();

    let (status, headers, body) = http(addr, "GET", "/", b"").await;
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(String::from_utf8_lossy(&body).contains("/assets/app.js"));

    for asset in assets::ASSETS.iter().filter(|a| a.name != "index.html") {
        let (status, headers, body) =
            http(addr, "GET", &format!("/assets/{}", asset.name), b"").await;
        assert_eq!(status, 200, "{}", asset.name);
        assert_eq!(header(&headers, "content-type"), Some(asset.content_type));
        assert_eq!(body, asset.body.as_bytes());
    }
    assert_eq!(http(addr, "GET", "/favicon.ico", b"").await.0, 200);
    for missing in [
        "/assets/nope.js",
        "/assets/index.html",
        "/etc/passwd",
        "/rpc",
    ] {
        assert_eq!(
            http(addr, "GET", missing, b"").await.0,
            if missing == "/rpc" { 405 } else { 404 },
            "{missing}"
        );
    }

    let (status, _, body) = http(addr, "GET", "/config.json", b"").await;
    assert_eq!(status, 200);
    let config: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(config["ws_url"], format!("ws://{}", node.rpc));
    assert_eq!(
        config["read_methods"].as_array().unwrap().len(),
        proxy::READ_METHODS.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_forwarded_and_nothing_is_written() {
    let node = node().await;
    node.finalize(Vec::new());
    let explorer = node.explorer().await;
    let addr = explorer.local_addr();

    let status = rpc_post(addr, call(1, "plexus_status", json!([]))).await;
    assert_eq!(status["id"], 1);
    assert_eq!(status["result"]["finalized_height"], 1);
    assert_eq!(status["result"]["chain_id"], "plexus-explorer-test");

    // A batch keeps its order; the node's own errors come back as it gave them.
    let answers = rpc_post(
        addr,
        json!([
            call(1, "plexus_block", json!([1])),
            call(2, "plexus_subnet", json!([99])),
            call(3, "plexus_account", json!([key(OWNER).account_id()])),
        ]),
    )
    .await;
    assert_eq!(answers[0]["result"]["header"]["height"], 1);
    assert_eq!(answers[1]["error"]["code"], rpc::codes::NOT_FOUND);
    assert!(
        answers[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("99")
    );
    assert_eq!(answers[2]["result"]["balance"], 10_000 * TOKEN);

    // A valid, signed transfer sent through the explorer is refused there.
    let tx = node.tx(
        &key(OWNER),
        0,
        Call::Transfer {
            to: AccountId([5; 32]),
            amount: Balance::from_rao(TOKEN),
        },
    );
    let tx_hex = hex_of(&tx.encode());
    let refused = rpc_post(addr, call(4, "plexus_submitTransaction", json!([tx_hex]))).await;
    assert_eq!(refused["error"]["code"], proxy::codes::METHOD_NOT_FOUND);
    assert_eq!(node.mempool.lock().len(), 0, "the node never saw it");
    let subscribe = rpc_post(addr, call(5, "plexus_subscribeFinalized", json!([]))).await;
    assert_eq!(subscribe["error"]["code"], proxy::codes::METHOD_NOT_FOUND);

    // Bodies are bounded before anything is parsed.
    let huge = vec![b' '; 65 * 1024];
    assert_eq!(http(addr, "POST", "/rpc", &huge).await.0, 413);
    let not_json = http(addr, "POST", "/rpc", b"{").await;
    let not_json: Value = serde_json::from_slice(&not_json.2).unwrap();
    assert_eq!(not_json["error"]["code"], proxy::codes::PARSE_ERROR);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_held_at_once_are_bounded_and_given_back_once_sent() {
    let node = node().await;
    node.finalize(Vec::new());
    // Room for two status answers (each under 1 KiB, charged 1 KiB) at a time.
    let explorer = node
        .explorer_with(|config| config.max_answer_bytes = 2048)
        .await;
    let addr = explorer.local_addr();
    let batch: Vec<Value> = (1..=4)
        .map(|i| call(i, "plexus_status", json!([])))
        .collect();
    let answers = rpc_post(addr, Value::Array(batch)).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), 4);
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer["id"], i + 1, "in the order asked");
    }
    let answered = answers.iter().filter(|a| a["result"].is_object()).count();
    let refused: Vec<&Value> = answers.iter().filter(|a| a["error"].is_object()).collect();
    assert_eq!((answered, refused.len()), (2, 2), "{answers:?}");
    for r in refused {
        assert_eq!(r["error"]["code"], proxy::codes::NODE_UNAVAILABLE);
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("too many answers"),
            "{r}"
        );
    }
    // Sent, the batch's answers gave their room back.
    for i in 0..3 {
        let status = rpc_post(addr, call(10 + i, "plexus_status", json!([]))).await;
        assert_eq!(status["result"]["finalized_height"], 1, "{status}");
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_follows_each_epoch_of_a_paying_subnet() {
    let node = node().await;
    // The owner creates the subnet; a validator and two miners register;
    // the validator stakes.
    let owner = key(OWNER);
    node.finalize(vec![node.tx(
        &owner,
        0,
        Call::CreateSubnet {
            owner_hotkey: hotkey(OWNER).account_id(),
            max_lock: Balance::from_rao(1_000 * TOKEN),
        },
    )]);
    let mut registrations = Vec::new();
    for i in std::iter::once(VALIDATOR).chain(MINERS) {
        registrations.push(node.tx(
            &key(i),
            0,
            Call::Register {
                netuid: NET,
                hotkey: hotkey(i).account_id(),
                max_burn: Balance::from_rao(100 * TOKEN),
            },
        ));
    }
    node.finalize(registrations);
    node.finalize(vec![node.tx(
        &key(VALIDATOR),
        0,
        Call::AddStake {
            netuid: NET,
            hotkey: hotkey(VALIDATOR).account_id(),
            amount: Balance::from_rao(1_000 * TOKEN),
            limit_price: None,
        },
    )]);

    let explorer = node.explorer().await;
    let history = explorer.history();
    let wait_for = |epoch: u64| {
        let history = history.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            while history::read(&history).last_epoch(NET.0) != Some(epoch) {
                assert!(Instant::now() < deadline, "epoch {epoch} was not sampled");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };

    // The first epoch hands out permits and pays no miner yet.
    let first = next_epoch(&node);
    wait_for(first).await;

    // The validator weights its miners 1:3; the next epoch pays them so.
    let graph = node.store.ledger().state().metagraph(NET).unwrap();
    let uid = |i: u32| {
        graph
            .iter()
            .find(|n| n.hotkey == hotkey(i).account_id())
            .unwrap()
            .uid
    };
    let miner_uids: Vec<u16> = MINERS.iter().map(|m| uid(*m)).collect();
    node.finalize(vec![node.tx(
        &hotkey(VALIDATOR),
        0,
        Call::SetWeights {
            netuid: NET,
            uids: miner_uids.clone(),
            weights: vec![16_383, 49_149],
            version_key: 0,
        },
    )]);
    let second = next_epoch(&node);
    wait_for(second).await;
    let paid_at = node.height();
    // Blocks between epochs change nothing the history keeps.
    node.finalize(Vec::new());

    let (status, _, body) = http(explorer.local_addr(), "GET", "/api/history/1", b"").await;
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let epochs = answer["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2, "{answer}");
    assert_eq!(epochs[0]["epoch"], first);
    assert_eq!(epochs[1]["epoch"], second);
    assert_eq!(epochs[1]["block"], paid_at);

    let now = node.store.ledger().state().metagraph(NET).unwrap();
    let incentive: Vec<u64> = now.iter().map(|n| u64::from(n.incentive)).collect();
    let emission: Vec<u64> = now.iter().map(|n| n.emission).collect();
    assert_eq!(epochs[1]["incentive"], json!(incentive));
    assert_eq!(epochs[1]["emission"], json!(emission));
    let (low, high) = (miner_uids[0] as usize, miner_uids[1] as usize);
    assert!(
        incentive[low] > 0 && incentive[high] > incentive[low],
        "{incentive:?}"
    );

    // No subnet, no history.
    let (_, _, body) = http(explorer.local_addr(), "GET", "/api/history/7", b"").await;
    let none: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(none["epochs"], json!([]));
    // Not a subnet id: a JSON refusal, with the headers every answer carries.
    let (status, head, body) = http(explorer.local_addr(), "GET", "/api/history/junk", b"").await;
    assert_eq!(status, 400);
    let refused: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("not a subnet id"),
        "{refused}"
    );
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
}
