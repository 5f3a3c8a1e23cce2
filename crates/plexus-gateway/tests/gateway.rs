//! The gateway in front of real wire servers on loopback: OpenAI-shaped answers and
//! errors, failover past a dead miner, long batches in chunks, API keys and their rate
//! limit.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plexus_gateway::call::EMBED_CHUNK_TEXTS;
use plexus_gateway::{Gateway, GatewayConfig, MINER_UID_HEADER, Service};
use plexus_models::{EmbeddingModel, ModelKind};
use plexus_primitives::{ChainId, Keypair, NetUid};
use plexus_subnets::embed::{EmbeddedEmbeddings, MAX_INPUTS, embed_routes};
use plexus_subnets::{Scores, Snapshot, SubnetView, standalone_neuron};
use plexus_wire::{AxonScope, Client, ClientConfig, Server, ServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use common::send;

const NET: NetUid = NetUid(2);

struct Net {
    base: String,
    scores: Arc<Mutex<Scores>>,
    live_uid: u16,
    dead_uid: u16,
    _server: plexus_wire::RunningServer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// One embedding miner with the real model, one announced miner that is down (with far
/// more incentive, so it is tried first), and a gateway with `config`.
async fn network(model: Arc<EmbeddingModel>, config: GatewayConfig) -> Net {
    let chain_id = ChainId::new("plexus-gateway-test").unwrap();
    let mut rng = rand::rngs::OsRng;
    let (live, dead, validator) = (
        Keypair::generate(&mut rng),
        Keypair::generate(&mut rng),
        Keypair::generate(&mut rng),
    );
    let callers = common::callers(NET, validator.account_id());
    let routes = embed_routes(Arc::new(EmbeddedEmbeddings::new(Arc::clone(&model)))).unwrap();
    let server = Server::new(
        live.clone(),
        ServerConfig::new(chain_id.clone(), NET),
        routes,
        callers,
    )
    .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    // A port that was just free: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let view = SubnetView::from_snapshot(Snapshot::standalone(
        NET,
        vec![
            standalone_neuron(0, validator.account_id(), 1_000, 0, None),
            standalone_neuron(1, live.account_id(), 0, 1, Some(server.local_addr())),
            standalone_neuron(2, dead.account_id(), 0, u16::MAX, Some(closed)),
        ],
    ));
    let scores = Arc::new(Mutex::new(Scores::new(1.0)));
    let service = Service {
        netuid: NET,
        view: Arc::new(view),
        scores: Arc::clone(&scores),
        model,
    };
    let client = Client::new(
        validator,
        ClientConfig {
            axon_scope: AxonScope::All,
            ..ClientConfig::new(chain_id)
        },
    );
    let gateway = Gateway::new(client, None, Some(service), config);
    let (base, stop) = common::serve(gateway).await;
    Net {
        base,
        scores,
        live_uid: 1,
        dead_uid: 2,
        _server: server,
        _stop: stop,
    }
}

fn model() -> Arc<EmbeddingModel> {
    let dir = plexus_models::testing::test_model_dir(ModelKind::Embedding).unwrap();
    Arc::new(EmbeddingModel::load(&dir).unwrap())
}

/// A POST: status, miner UID header, JSON body.
async fn post(url: String, body: Value, key: Option<&str>) -> (u16, Option<String>, Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let answer = send("POST", url, &headers, Some(body)).await;
    (
        answer.status,
        answer.header(MINER_UID_HEADER),
        answer.json(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_fail_over_past_a_dead_miner_and_name_who_answered() {
    let model = model();
    let net = network(Arc::clone(&model), GatewayConfig::default()).await;
    let url = format!("{}/v1/embeddings", net.base);
    // Asking for the model's own length is the same as not asking.
    let body = json!({"model": "all-minilm-l6-v2", "input": ["A man is eating food.", "hi"],
        "dimensions": 384});
    let (status, uid, answer) = post(url.clone(), body, None).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(uid, Some(net.live_uid.to_string()));
    assert_eq!(answer["object"], "list");
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let first: Vec<f32> = serde_json::from_value(data[0]["embedding"].clone()).unwrap();
    let expected = model.embed(&["A man is eating food."]).unwrap();
    assert!(plexus_models::cosine(&first, &expected[0]) > 0.9999);
    assert!(answer["usage"]["prompt_tokens"].as_u64() > Some(0));
    // The dead miner was tried first (its incentive is far higher) and scored zero.
    let scores = net.scores.lock().unwrap();
    assert_eq!(scores.get(net.dead_uid).map(|s| s.average), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_batch_goes_out_in_chunks_and_comes_back_whole_and_in_order() {
    let model = model();
    let net = network(Arc::clone(&model), GatewayConfig::default()).await;
    let url = format!("{}/v1/embeddings", net.base);
    // More than one miner takes in one request.
    let count = MAX_INPUTS + 9;
    let texts: Vec<String> = (0..count)
        .map(|i| format!("Sentence number {i}."))
        .collect();
    let body = json!({"model": "all-minilm-l6-v2", "input": texts});
    let (status, uid, answer) = post(url, body, None).await;
    assert_eq!(status, 200, "{answer}");
    // Chunks that started at the dead miner failed over to the live one, named once.
    assert_eq!(uid, Some(net.live_uid.to_string()));
    let data = answer["data"].as_array().unwrap();
    assert_eq!(data.len(), count);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["index"], i);
    }
    // Each vector is its own text's, across chunk boundaries.
    for i in [0, EMBED_CHUNK_TEXTS - 1, EMBED_CHUNK_TEXTS, count - 1] {
        let got: Vec<f32> = serde_json::from_value(data[i]["embedding"].clone()).unwrap();
        let expected = model.embed(&[texts[i].as_str()]).unwrap();
        assert!(
            plexus_models::cosine(&got, &expected[0]) > 0.9999,
            "text {i}"
        );
    }
    // Usage adds up every chunk's: at least a token per text and its two markers.
    let tokens = answer["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(tokens >= 3 * count as u64, "{tokens}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_shaped_like_openais() {
    let net = network(model(), GatewayConfig::default()).await;
    let url = format!("{}/v1/embeddings", net.base);
    let (status, _, e) = post(url.clone(), json!({"model": "nope", "input": "x"}), None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let (status, _, e) = post(url.clone(), json!({"model": "all-minilm-l6-v2"}), None).await;
    assert_eq!(
        (status, e["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
    let bad = json!({"model": "all-minilm-l6-v2", "input": "x", "encoding_format": "hex"});
    let (status, _, e) = post(url.clone(), bad, None).await;
    assert_eq!(
        (status, e["error"]["param"].as_str()),
        (400, Some("encoding_format"))
    );
    // No text subnet behind this gateway: its model is unknown here.
    let chat =
        json!({"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, _) = post(format!("{}/v1/chat/completions", net.base), chat, None).await;
    assert_eq!(status, 404);
    let (status, _, e) = post(format!("{}/v2/whatever", net.base), json!({}), None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("unknown_url"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_checked_and_rate_limited() {
    let config = GatewayConfig {
        api_keys: vec!["sk-one".to_owned()],
        requests_per_minute: 2,
        ..GatewayConfig::default()
    };
    let net = network(model(), config).await;
    let url = format!("{}/v1/embeddings", net.base);
    let body = json!({"model": "all-minilm-l6-v2", "input": "x"});
    let (status, _, e) = post(url.clone(), body.clone(), None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    let (status, _, _) = post(url.clone(), body.clone(), Some("sk-other")).await;
    assert_eq!(status, 401);
    // A request without a key is refused on its head: the body it announces is never
    // waited for (the body deadline is 30 s), so a stranger cannot make the gateway hold
    // megabytes, or a connection, for it.
    let address = net.base.trim_start_matches("http://");
    let mut raw = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/embeddings HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), raw.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    for _ in 0..2 {
        let (status, _, e) = post(url.clone(), body.clone(), Some("sk-one")).await;
        assert_eq!(status, 200, "{e}");
    }
    let limited = send(
        "POST",
        url,
        &[("Authorization", "Bearer sk-one")],
        Some(body),
    )
    .await;
    assert_eq!(
        (limited.status, limited.json()["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    // OpenAI's SDKs wait as long as Retry-After says before trying again: two a minute.
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_gateway_behind_a_local_proxy_limits_each_forwarded_client() {
    let config = GatewayConfig {
        requests_per_minute: 2,
        behind_proxy: true,
        ..GatewayConfig::default()
    };
    let net = network(model(), config).await;
    let url = format!("{}/v1/embeddings", net.base);
    let body = json!({"model": "all-minilm-l6-v2", "input": "x"});
    // What a proxy sends on: the client's own claim first, the address it saw last.
    let forwarded = |client: &'static str| {
        let (url, body) = (url.clone(), body.clone());
        async move { send("POST", url, &[("X-Forwarded-For", client)], Some(body)).await }
    };
    for _ in 0..2 {
        let a = forwarded("10.0.0.1, 203.0.113.5").await;
        assert_eq!(a.status, 200, "{}", a.json());
    }
    let limited = forwarded("10.0.0.2, 203.0.113.5").await;
    assert_eq!(
        (limited.status, limited.json()["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded")),
        "the same client, whatever it claims first"
    );
    let other = forwarded("203.0.113.6").await;
    assert_eq!(other.status, 200, "another client has its own limit");
    for _ in 0..3 {
        let (status, _, e) = post(url.clone(), body.clone(), None).await;
        assert_eq!(status, 200, "this machine itself is not limited: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_page_calling_an_open_gateway_on_this_machine_is_limited() {
    let config = GatewayConfig {
        requests_per_minute: 2,
        cors_origins: vec![plexus_gateway::CorsOrigin::Any],
        ..GatewayConfig::default()
    };
    let net = network(model(), config).await;
    let url = format!("{}/v1/embeddings", net.base);
    let body = json!({"model": "all-minilm-l6-v2", "input": "x"});
    let from_page = |page: &'static str| {
        let (url, body) = (url.clone(), body.clone());
        async move { send("POST", url, &[("Origin", page)], Some(body)).await }
    };
    for _ in 0..2 {
        let a = from_page("https://evil.example").await;
        assert_eq!(a.status, 200, "{}", a.json());
    }
    let limited = from_page("https://evil.example").await;
    assert_eq!(
        (limited.status, limited.json()["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    let other = from_page("http://localhost:3000").await;
    assert_eq!(other.status, 200, "another page has its own limit");
    let (status, _, e) = post(url.clone(), body.clone(), None).await;
    assert_eq!(status, 200, "this machine's own tools are not limited: {e}");
}
