//! How the gateway reads what consumers ask, in front of a scripted text miner on loopback:
//! models sent to the wrong endpoint, empty inputs, `stop`, `logprobs`, `stream_options`
//! wrong methods, and calls from web pages (CORS).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plexus_gateway::{Gateway, GatewayConfig, Service};
use plexus_models::{EmbeddingModel, ModelKind, TextModel};
use plexus_primitives::{ChainId, Keypair, NetUid};
use plexus_subnets::BackendError;
use plexus_subnets::text::{
    ChatAnswer, ChatMessage, ChatRequest, EMBEDDED_TEXT_MODEL, FinishReason, Prompt, TextBackend,
    TokenChunk, text_routes,
};
use plexus_subnets::{Scores, Snapshot, SubnetView, standalone_neuron};
use plexus_wire::{AxonScope, Client, ClientConfig, Server, ServerConfig};
use serde_json::{Value, json};

use common::{Answer, send};
use tokio::sync::mpsc;

const TEXT: NetUid = NetUid(1);
const EMBED: NetUid = NetUid(2);
const CHAT_MODEL: &str = "smollm2-135m-instruct";
const EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// A miner that answers with the last message's content (or the plain prompt), streamed in
/// the pieces that `|` separates: tests choose exactly what the gateway receives. A piece
/// [`HOLD`] is not sent: the miner waits there until the test lets it go on. A piece
/// [`PAUSE`] is not sent either: the miner waits [`PAUSE_FOR`] there. It notes the
/// request it is sent and ignores its stop strings, as a dishonest miner would.
struct Echo {
    go_on: Arc<tokio::sync::Notify>,
    last: Arc<Mutex<Option<ChatRequest>>>,
    model: Arc<TextModel>,
}

/// The piece at which [`Echo`] waits for its test.
const HOLD: &str = "<hold>";

/// The piece at which [`Echo`] pauses for [`PAUSE_FOR`].
const PAUSE: &str = "<pause>";

/// How long [`Echo`] pauses at a [`PAUSE`].
const PAUSE_FOR: Duration = Duration::from_millis(250);

/// A script that begins with this is streamed token by token with ids and log-probability
/// [`ECHO_LOGPROB`], as the embedded miner streams (it must be ASCII: each token's text is
/// its bytes).
const WITH_IDS: &str = "<ids>";

/// The log-probability [`Echo`] claims for every token it streams with ids.
const ECHO_LOGPROB: f64 = -0.5;

impl TextBackend for Echo {
    fn model(&self) -> &str {
        EMBEDDED_TEXT_MODEL
    }

    async fn complete(
        &self,
        request: ChatRequest,
        tokens: mpsc::UnboundedSender<TokenChunk>,
    ) -> Result<ChatAnswer, BackendError> {
        *self.last.lock().unwrap() = Some(request.clone());
        let script = request
            .prompt
            .or_else(|| request.messages.last().map(|m| m.content.clone()))
            .unwrap_or_default();
        let (with_ids, script) = match script.strip_prefix(WITH_IDS) {
            Some(rest) => (true, rest.to_owned()),
            None => (false, script),
        };
        for piece in script.split('|') {
            if piece == HOLD {
                self.go_on.notified().await;
                continue;
            }
            if piece == PAUSE {
                tokio::time::sleep(PAUSE_FOR).await;
                continue;
            }
            if !with_ids {
                let _ = tokens.send(TokenChunk {
                    token: None,
                    text: piece.to_owned(),
                    logprob: None,
                });
                continue;
            }
            for id in self.model.tokenize(piece).unwrap() {
                let bytes = self.model.token_bytes(id).unwrap();
                let _ = tokens.send(TokenChunk {
                    token: Some(id),
                    text: String::from_utf8(bytes).unwrap(),
                    logprob: Some(ECHO_LOGPROB as f32),
                });
            }
        }
        Ok(ChatAnswer {
            model: EMBEDDED_TEXT_MODEL.to_owned(),
            text: script.replace(HOLD, "").replace(PAUSE, "").replace('|', ""),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: 7,
            finish_reason: FinishReason::Stop,
        })
    }
}

struct Net {
    base: String,
    /// Lets a held [`Echo`] go on.
    go_on: Arc<tokio::sync::Notify>,
    /// The last request [`Echo`] was sent.
    last: Arc<Mutex<Option<ChatRequest>>>,
    /// The subnet's model, which the gateway runs too.
    model: Arc<TextModel>,
    _server: plexus_wire::RunningServer,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A gateway over a text subnet with one [`Echo`] miner and an embeddings subnet with no
/// miner (these tests never reach one); nothing is spot-checked.
async fn network() -> Net {
    let config = GatewayConfig {
        spot_check: 0.0,
        ..GatewayConfig::default()
    };
    network_with(
        |chain_id| ClientConfig {
            axon_scope: AxonScope::All,
            ..ClientConfig::new(chain_id)
        },
        config,
    )
    .await
}

/// [`network`] with the gateway's client and configuration chosen by the test.
async fn network_with(client: fn(ChainId) -> ClientConfig, config: GatewayConfig) -> Net {
    let chain_id = ChainId::new("plexus-gateway-requests").unwrap();
    let mut rng = rand::rngs::OsRng;
    let (miner, validator) = (Keypair::generate(&mut rng), Keypair::generate(&mut rng));
    let go_on = Arc::new(tokio::sync::Notify::new());
    let last = Arc::new(Mutex::new(None));
    let text_dir = plexus_models::testing::test_model_dir(ModelKind::Text).unwrap();
    let text_model = Arc::new(TextModel::load(&text_dir).unwrap());
    let callers = common::callers(TEXT, validator.account_id());
    let server = Server::new(
        miner.clone(),
        ServerConfig::new(chain_id.clone(), TEXT),
        text_routes(Arc::new(Echo {
            go_on: Arc::clone(&go_on),
            last: Arc::clone(&last),
            model: Arc::clone(&text_model),
        }))
        .unwrap(),
        callers,
    )
    .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    let text_view = SubnetView::from_snapshot(Snapshot::standalone(
        TEXT,
        vec![
            standalone_neuron(0, validator.account_id(), 1_000, 0, None),
            standalone_neuron(1, miner.account_id(), 0, 1, Some(server.local_addr())),
        ],
    ));
    let embed_view = SubnetView::from_snapshot(Snapshot::standalone(
        EMBED,
        vec![standalone_neuron(0, validator.account_id(), 1_000, 0, None)],
    ));
    let embed_dir = plexus_models::testing::test_model_dir(ModelKind::Embedding).unwrap();
    let text = Service {
        netuid: TEXT,
        view: Arc::new(text_view),
        scores: Arc::new(Mutex::new(Scores::new(1.0))),
        model: Arc::clone(&text_model),
    };
    let embeddings = Service {
        netuid: EMBED,
        view: Arc::new(embed_view),
        scores: Arc::new(Mutex::new(Scores::new(1.0))),
        model: Arc::new(EmbeddingModel::load(&embed_dir).unwrap()),
    };
    let client = Client::new(validator, client(chain_id));
    let gateway = Gateway::new(client, Some(text), Some(embeddings), config);
    let (base, stop) = common::serve(gateway).await;
    Net {
        base,
        go_on,
        last,
        model: text_model,
        _server: server,
        _stop: stop,
    }
}

impl Net {
    /// The last request the miner was sent.
    fn last_request(&self) -> ChatRequest {
        self.last
            .lock()
            .unwrap()
            .clone()
            .expect("the miner was asked")
    }
}

async fn post(net: &Net, path: &str, body: Value) -> Answer {
    send("POST", format!("{}{path}", net.base), &[], Some(body)).await
}

fn chat(script: &str, extra: Value) -> Value {
    let mut body = json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": script}]});
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

fn error(answer: &Answer) -> (u16, String, String, String) {
    let e = answer.json();
    let field = |k: &str| e["error"][k].as_str().unwrap_or_default().to_owned();
    (
        answer.status,
        field("type"),
        field("param"),
        field("message"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_of_an_open_network_calls_no_miner_on_loopback_and_says_so() {
    let config = GatewayConfig {
        spot_check: 0.0,
        ..GatewayConfig::default()
    };
    // The default client: public addresses only.
    let net = network_with(ClientConfig::new, config).await;
    let a = post(&net, "/v1/chat/completions", chat("hello", json!({}))).await;
    let (status, kind, _, message) = error(&a);
    assert_eq!((status, kind.as_str()), (503, "server_error"), "{}", a.body);
    assert!(
        message.contains("serves at an address this gateway calls (its axon scope is public)"),
        "{message}"
    );
    assert!(net.last.lock().unwrap().is_none(), "the miner was called");
    let health = send("GET", format!("{}/health", net.base), &[], None).await;
    assert_eq!(health.json()["text_miners"], 0, "{}", health.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_sent_to_the_wrong_endpoint_are_pointed_to_the_right_one() {
    let net = network().await;
    let a = post(
        &net,
        "/v1/embeddings",
        json!({"model": CHAT_MODEL, "input": "hi"}),
    )
    .await;
    let (status, kind, param, message) = error(&a);
    assert_eq!(
        (status, kind.as_str(), param.as_str()),
        (400, "invalid_request_error", "model")
    );
    assert!(
        message.contains("is a chat model; use /v1/chat/completions"),
        "{message}"
    );
    let a = post(
        &net,
        "/v1/chat/completions",
        chat("hi", json!({"model": EMBEDDING_MODEL})),
    )
    .await;
    let (status, _, _, message) = error(&a);
    assert_eq!(status, 400);
    assert!(
        message.contains("is an embedding model; use /v1/embeddings"),
        "{message}"
    );
    let completion = json!({"model": EMBEDDING_MODEL, "prompt": "hi"});
    assert_eq!(post(&net, "/v1/completions", completion).await.status, 400);
    // Unknown models are still 404, listing only what the endpoint serves.
    let a = post(
        &net,
        "/v1/embeddings",
        json!({"model": "gpt-9", "input": "hi"}),
    )
    .await;
    let (status, _, _, message) = error(&a);
    assert_eq!(
        (status, a.json()["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    assert!(
        message.ends_with(&format!("available: {EMBEDDING_MODEL}")),
        "{message}"
    );
    let a = post(
        &net,
        "/v1/chat/completions",
        chat("hi", json!({"model": "gpt-9"})),
    )
    .await;
    let (status, _, _, message) = error(&a);
    assert_eq!(status, 404);
    assert!(
        message.ends_with(&format!("available: {CHAT_MODEL}")),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_served_model_can_be_retrieved_by_id() {
    let net = network().await;
    for id in [CHAT_MODEL, EMBEDDING_MODEL] {
        let a = send("GET", format!("{}/v1/models/{id}", net.base), &[], None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let model = a.json();
        assert_eq!(
            (model["id"].as_str(), model["object"].as_str()),
            (Some(id), Some("model"))
        );
    }
    let a = send("GET", format!("{}/v1/models/gpt-9", net.base), &[], None).await;
    assert_eq!(
        (a.status, a.json()["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_other_than_plain_text_are_refused_by_name_before_a_miner_is_asked() {
    let net = network().await;
    let tool = json!([{"type": "function", "function": {"name": "weather", "parameters": {}}}]);
    for (field, value) in [
        ("tools", tool),
        ("tool_choice", json!("required")),
        ("response_format", json!({"type": "json_object"})),
    ] {
        let a = post(
            &net,
            "/v1/chat/completions",
            chat("hi", json!({field: value})),
        )
        .await;
        let (status, kind, param, message) = error(&a);
        assert_eq!(
            (status, kind.as_str(), param.as_str()),
            (400, "invalid_request_error", field),
            "{}",
            a.body
        );
        assert!(message.contains("plain text"), "{message}");
    }
    assert!(net.last.lock().unwrap().is_none(), "no miner was asked");
    // What asks for nothing more than text is served.
    let plain = json!({"tools": [], "tool_choice": "auto", "response_format": {"type": "text"}});
    let a = post(&net, "/v1/chat/completions", chat("hi", plain)).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_served_only_at_the_models_own_length() {
    let net = network().await;
    let asked = |dimensions: u64| json!({"model": EMBEDDING_MODEL, "input": "hi", "dimensions": dimensions});
    let a = post(&net, "/v1/embeddings", asked(256)).await;
    let (status, _, param, message) = error(&a);
    assert_eq!((status, param.as_str()), (400, "dimensions"), "{}", a.body);
    assert!(message.contains("384"), "{message}");
    // The model's own length is taken (this network has no embedding miner to answer).
    let a = post(&net, "/v1/embeddings", asked(384)).await;
    assert_eq!(
        a.json()["error"]["code"],
        "no_miner_available",
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_in_openais_shape() {
    let net = network().await;
    let limit = GatewayConfig::default().max_body_bytes;
    let input = vec!["x".repeat(16 * 1024); limit / (16 * 1024) + 1];
    let a = post(
        &net,
        "/v1/embeddings",
        json!({"model": EMBEDDING_MODEL, "input": input}),
    )
    .await;
    let (status, kind, _, message) = error(&a);
    assert_eq!(
        (status, kind.as_str()),
        (413, "invalid_request_error"),
        "{}",
        a.body
    );
    assert_eq!(a.json()["error"]["code"], "request_too_large");
    assert!(message.contains(&limit.to_string()), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_embedding_inputs_are_refused_as_empty() {
    let net = network().await;
    for (input, expected) in [
        (json!([]), "input must not be an empty array"),
        (json!(""), "input must not be an empty string"),
        (json!(["a", ""]), "input[1] must not be an empty string"),
    ] {
        let a = post(
            &net,
            "/v1/embeddings",
            json!({"model": EMBEDDING_MODEL, "input": input}),
        )
        .await;
        let (status, kind, param, message) = error(&a);
        assert_eq!(
            (status, kind.as_str(), param.as_str(), message.as_str()),
            (400, "invalid_request_error", "input", expected)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_strings_cut_whole_and_streamed_answers() {
    let net = network().await;
    let script = "Hello |wor|ld. The E|ND is| near.";
    // Without `stop`, answers are as the miner gave them.
    let a = post(&net, "/v1/chat/completions", chat(script, json!({}))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let whole = a.json();
    assert_eq!(
        whole["choices"][0]["message"]["content"],
        "Hello world. The END is near."
    );
    let a = post(
        &net,
        "/v1/chat/completions",
        chat(script, json!({"stream": true})),
    )
    .await;
    assert_eq!(a.streamed_text(), "Hello world. The END is near.");

    let cut = json!({"stop": ["END", "xyz"]});
    let a = post(&net, "/v1/chat/completions", chat(script, cut.clone())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The miner is told where to stop; this one goes on, and the gateway cuts anyway.
    assert_eq!(net.last_request().stop, ["END", "xyz"]);
    let body = a.json();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello world. The "
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // Usage counts the prompt and what was generated up to the cut, as if the miner had
    // stopped there.
    let (cut_usage, whole_usage) = (&body["usage"], &whole["usage"]);
    assert!(
        cut_usage["prompt_tokens"].as_u64().unwrap() > 0,
        "{cut_usage}"
    );
    assert!(
        cut_usage["completion_tokens"].as_u64() < whole_usage["completion_tokens"].as_u64(),
        "{cut_usage} against {whole_usage}"
    );

    // Streamed, the stop string arrives split across pieces ("E", "ND").
    let mut streamed = cut.clone();
    streamed["stream"] = json!(true);
    let a = post(&net, "/v1/chat/completions", chat(script, streamed)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.streamed_text(), "Hello world. The ");
    let chunks = a.chunks();
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    // A string is one stop; the legacy endpoint cuts too.
    let body = json!({"model": CHAT_MODEL, "prompt": script, "stop": "ld."});
    let a = post(&net, "/v1/completions", body).await;
    assert_eq!(a.json()["choices"][0]["text"], "Hello wor");
    assert_eq!(a.json()["choices"][0]["finish_reason"], "stop");

    let a = post(
        &net,
        "/v1/chat/completions",
        chat(script, json!({"stop": ["a", "b", "c", "d", "e"]})),
    )
    .await;
    assert_eq!(error(&a).2, "stop");
}

#[tokio::test]
async fn completions_continue_the_plain_prompt_and_echo_it_when_asked() {
    let net = network().await;
    let body = json!({"model": CHAT_MODEL, "prompt": "Once upon| a time"});
    let a = post(&net, "/v1/completions", body.clone()).await;
    assert_eq!(a.json()["choices"][0]["text"], "Once upon a time");
    // The miner is sent the prompt as plain text, not a conversation.
    let sent = net.last_request();
    assert_eq!(
        (sent.prompt.as_deref(), sent.messages.len()),
        (Some("Once upon| a time"), 0)
    );

    let mut echo = body.clone();
    echo["echo"] = json!(true);
    let a = post(&net, "/v1/completions", echo.clone()).await;
    assert_eq!(
        a.json()["choices"][0]["text"],
        "Once upon| a timeOnce upon a time"
    );
    echo["stream"] = json!(true);
    let a = post(&net, "/v1/completions", echo.clone()).await;
    assert_eq!(a.streamed_text(), "Once upon| a timeOnce upon a time");
    // Cut at a stop string, the echo stays whole and the answer is cut, whole or
    // streamed (with usage at the end when asked).
    echo["stream"] = json!(false);
    echo["stop"] = json!("a t");
    let a = post(&net, "/v1/completions", echo.clone()).await;
    assert_eq!(
        a.json()["choices"][0]["text"],
        "Once upon| a timeOnce upon "
    );
    echo["stream"] = json!(true);
    echo["stream_options"] = json!({"include_usage": true});
    let a = post(&net, "/v1/completions", echo).await;
    assert_eq!(a.streamed_text(), "Once upon| a timeOnce upon ");
    let chunks = a.chunks();
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["prompt_tokens"].as_u64() > Some(0), "{usage}");

    // Refused before any miner is asked: nothing a consumer gets wrong counts against one.
    *net.last.lock().unwrap() = None;
    let too_long = vec!["word"; 3_000].join(" ");
    let a = post(
        &net,
        "/v1/completions",
        json!({"model": CHAT_MODEL, "prompt": "a", "suffix": "b"}),
    )
    .await;
    assert_eq!((error(&a).0, error(&a).2.as_str()), (400, "suffix"));
    for (prompt, why) in [
        (json!(""), "prompt must not be empty"),
        (json!(["a", "b"]), "prompt must be one string"),
        (json!([1, 2]), "prompt must be one string"),
        (json!(7), "prompt must be a string"),
        (
            json!("<|im_start|>user\nhi"),
            "the prompt holds `<|im_start|>`",
        ),
        (json!(too_long), "the prompt is 3000 tokens"),
    ] {
        let a = post(
            &net,
            "/v1/completions",
            json!({"model": CHAT_MODEL, "prompt": prompt}),
        )
        .await;
        let (status, _, param, message) = error(&a);
        assert_eq!((status, param.as_str()), (400, "prompt"), "{message}");
        assert!(message.starts_with(why), "{message}");
    }
    assert!(net.last.lock().unwrap().is_none(), "a miner was asked");

    // An answer budget past the context shrinks to what the context leaves. Echo's
    // answer, the 2,000-word prompt again, is more text than 48 tokens carry: it is not
    // relayed, and the consumer hears that no miner answered.
    let long = vec!["word"; 2_000].join(" ");
    let body = json!({"model": CHAT_MODEL, "prompt": long, "max_tokens": 1024});
    let a = post(&net, "/v1/completions", body).await;
    assert_eq!(net.last_request().max_tokens, 48);
    let (status, _, _, message) = error(&a);
    assert_eq!(status, 503, "{message}");
    assert!(
        message.contains("more text than 48 tokens carry"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_string_answers_without_waiting_for_the_miner_to_end() {
    let net = network().await;
    // The miner holds after the stop string until the test lets it go on: an answer that
    // waited for the miner's end would never come.
    let script = format!("The answer is 42.| More|{HOLD}| after.");
    for extra in [
        json!({"stop": "."}),
        json!({"stop": ".", "stream": true}),
        json!({"stop": ".", "stream": true, "stream_options": {"include_usage": true}}),
    ] {
        let streamed = extra["stream"] == json!(true);
        let answer = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            post(&net, "/v1/chat/completions", chat(&script, extra)),
        )
        .await
        .expect("answered while the miner still generates");
        assert_eq!(answer.status, 200, "{}", answer.body);
        if streamed {
            assert_eq!(answer.streamed_text(), "The answer is 42");
        } else {
            let body = answer.json();
            assert_eq!(body["choices"][0]["message"]["content"], "The answer is 42");
            assert_eq!(body["choices"][0]["finish_reason"], "stop");
        }
        // The rest is read in the background, for the spot check.
        net.go_on.notify_one();
    }
}

/// The tokens of a `logprobs` object, joined, and their log-probabilities.
fn logprob_tokens(logprobs: &Value) -> (String, Vec<f64>) {
    let entries = logprobs["content"].as_array().cloned().unwrap_or_default();
    for e in &entries {
        let bytes: Vec<u8> = serde_json::from_value(e["bytes"].clone()).unwrap();
        assert_eq!(e["token"].as_str().unwrap().as_bytes(), bytes, "{e}");
        assert_eq!(e["top_logprobs"], json!([]), "{e}");
    }
    let text = entries
        .iter()
        .map(|e| e["token"].as_str().unwrap())
        .collect();
    let logprobs = entries
        .iter()
        .map(|e| e["logprob"].as_f64().unwrap())
        .collect();
    (text, logprobs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logprobs_come_with_the_chosen_tokens() {
    let net = network().await;
    // A whole answer sent as text alone: the gateway's model scores its tokens.
    let a = post(
        &net,
        "/v1/chat/completions",
        chat("Hello |world.", json!({"logprobs": true})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let choice = &a.json()["choices"][0];
    assert_eq!(choice["message"]["content"], "Hello world.");
    let (text, logprobs) = logprob_tokens(&choice["logprobs"]);
    assert_eq!(text, "Hello world.");
    assert!(logprobs.iter().all(|l| *l <= 0.0), "{logprobs:?}");

    // Streamed from a miner that sends text alone: held to the end, then sent whole with
    // the log-probabilities the gateway's model gives it.
    let body = json!({"logprobs": true, "stream": true});
    let a = post(&net, "/v1/chat/completions", chat("Hello |world.", body)).await;
    assert_eq!(a.streamed_text(), "Hello world.");
    let texts: Vec<Value> = a
        .chunks()
        .into_iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        })
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(
        logprob_tokens(&texts[0]["choices"][0]["logprobs"]).0,
        "Hello world."
    );

    // Streamed token by token, as the embedded miner sends them: each chunk carries the
    // tokens whose text it completes, up to the stop string.
    let script = format!("{WITH_IDS}Hello |wor|ld. The E|ND is| near.");
    let body = json!({"logprobs": true, "stream": true, "stop": "END"});
    let a = post(&net, "/v1/chat/completions", chat(&script, body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.streamed_text(), "Hello world. The ");
    let (mut text, mut logprobs) = (String::new(), Vec::new());
    for chunk in a.chunks() {
        let choice = &chunk["choices"][0];
        if choice["delta"]["content"].is_string() {
            let (t, l) = logprob_tokens(&choice["logprobs"]);
            text.push_str(&t);
            logprobs.extend(l);
        }
    }
    // The last token began before the cut: " E" (the stop string's first letter).
    assert_eq!(text, "Hello world. The E");
    assert!(
        logprobs.iter().all(|l| (*l - ECHO_LOGPROB).abs() < 1e-6),
        "{logprobs:?}"
    );
    // Whole, cut at the stop the same way.
    let body = json!({"logprobs": true, "stop": "END"});
    let a = post(&net, "/v1/chat/completions", chat(&script, body)).await;
    let choice = &a.json()["choices"][0];
    assert_eq!(choice["message"]["content"], "Hello world. The ");
    assert_eq!(logprob_tokens(&choice["logprobs"]).0, "Hello world. The E");

    // Alternatives are not known; a wrong value is named; not asking gives null.
    for (extra, param) in [
        (json!({"logprobs": true, "top_logprobs": 2}), "top_logprobs"),
        (json!({"logprobs": "yes"}), "logprobs"),
    ] {
        let a = post(&net, "/v1/chat/completions", chat("hi", extra)).await;
        let (status, kind, named, _) = error(&a);
        assert_eq!(
            (status, kind.as_str(), named.as_str()),
            (400, "invalid_request_error", param)
        );
    }
    let legacy = json!({"model": CHAT_MODEL, "prompt": "hi", "logprobs": 2});
    let (_, _, param, message) = error(&post(&net, "/v1/completions", legacy).await);
    assert_eq!(param, "logprobs");
    assert!(message.contains("/v1/chat/completions"), "{message}");
    let a = post(
        &net,
        "/v1/chat/completions",
        chat("hi", json!({"logprobs": false})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["choices"][0]["logprobs"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_with_usage_when_asked() {
    let net = network().await;
    let script = "Hello |world";
    let whole = post(&net, "/v1/chat/completions", chat(script, json!({})))
        .await
        .json();
    let options = json!({"stream": true, "stream_options": {"include_usage": true}});
    let a = post(&net, "/v1/chat/completions", chat(script, options)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let chunks = a.chunks();
    let (last, rest) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], whole["usage"]);
    // The prompt as the model reads it, not the miner's claim (Echo says 7).
    let prompt = net.model.prompt(Prompt::Chat(&[ChatMessage::user(script)]));
    assert_eq!(last["usage"]["prompt_tokens"], prompt.unwrap().len());
    assert!(
        rest.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(a.streamed_text(), "Hello world");

    // With a stop string the usage chunk still comes, after the cut answer, counting
    // what was generated up to the cut.
    let options = json!({"stream": true, "stream_options": {"include_usage": true}, "stop": "wor"});
    let a = post(&net, "/v1/chat/completions", chat(script, options)).await;
    assert_eq!(a.streamed_text(), "Hello ");
    let usage = a.chunks().last().unwrap()["usage"].clone();
    assert!(
        usage["completion_tokens"].as_u64() <= whole["usage"]["completion_tokens"].as_u64(),
        "{usage}"
    );

    // The legacy endpoint too.
    let legacy = json!({"model": CHAT_MODEL, "prompt": script, "stream": true,
                        "stream_options": {"include_usage": true}});
    let a = post(&net, "/v1/completions", legacy).await;
    let usage = a.chunks().last().unwrap()["usage"].clone();
    assert_eq!(
        usage["completion_tokens"],
        whole["usage"]["completion_tokens"]
    );
    // Its prompt is plain text, without the chat template around it.
    let prompt = net.model.prompt(Prompt::Text(script)).unwrap().len();
    assert_eq!(usage["prompt_tokens"], prompt);

    // Options without a stream are refused; `include_usage: false` is a plain stream.
    let a = post(
        &net,
        "/v1/chat/completions",
        chat(script, json!({"stream_options": {"include_usage": true}})),
    )
    .await;
    assert_eq!(error(&a).2, "stream_options");
    let options = json!({"stream": true, "stream_options": {"include_usage": false}});
    let a = post(&net, "/v1/chat/completions", chat(script, options)).await;
    assert!(a.chunks().iter().all(|c| c.get("usage").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_get_openais_envelope() {
    let net = network().await;
    for (method, path, allowed) in [
        ("GET", "/v1/chat/completions", "POST"),
        ("GET", "/v1/completions", "POST"),
        ("PUT", "/v1/embeddings", "POST"),
        ("POST", "/v1/models", "GET,HEAD"),
    ] {
        let a = send(method, format!("{}{path}", net.base), &[], None).await;
        let e = a.json();
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{}", a.body);
        assert_eq!(e["error"]["code"], "method_not_allowed");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(path),
            "{}",
            a.body
        );
        let allow = a.head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("allow: ")
                .map(str::to_owned)
        });
        assert_eq!(
            allow.as_deref(),
            Some(allowed.to_ascii_lowercase().as_str())
        );
    }
}

/// The events of a streamed chat answer of at most two tokens to Echo's `script`.
async fn two_token_stream(net: &Net, script: &str) -> Vec<String> {
    let body = chat(script, json!({"stream": true, "max_tokens": 2}));
    let a = post(net, "/v1/chat/completions", body).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.events()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_sending_far_more_than_asked_is_cut_off() {
    let net = network().await;
    // Asked for 2 tokens, the miner streams 40 pieces: past 2 × 2 + 16 events the
    // gateway stops relaying and says the miner's stream broke.
    let script = vec!["x"; 40].join("|");
    let events = two_token_stream(&net, &script).await;
    let (last, relayed) = events.split_last().unwrap();
    assert!(last.contains("more than 20 token events"), "{last}");
    let pieces = relayed
        .iter()
        .filter(|e| e.contains(r#""content":"x""#))
        .count();
    assert!(pieces <= 20, "{pieces} pieces relayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_padding_its_stream_with_text_is_cut_off() {
    let net = network().await;
    // Two tokens carry at most 256 bytes of text; the miner sends 200, then 200 more.
    let script = format!("{}|{}", "a".repeat(200), "b".repeat(200));
    let events = two_token_stream(&net, &script).await;
    let last = events.last().unwrap();
    assert!(last.contains("more text than 2 tokens carry"), "{last}");
    assert!(
        !events.iter().any(|e| e.contains("bbb")),
        "the padding is relayed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_has_longer_for_its_first_token_the_longer_the_prompt() {
    // The miner reads the prompt (three pauses: 750 ms) before its first token, past the
    // wire client's 500 ms timeout.
    let client = |chain_id| ClientConfig {
        timeout: Duration::from_millis(500),
        axon_scope: AxonScope::All,
        ..ClientConfig::new(chain_id)
    };
    let script = "<pause>|<pause>|<pause>|Paris";
    let config = |per_prompt_token| GatewayConfig {
        spot_check: 0.0,
        prompt_time_per_token: per_prompt_token,
        ..GatewayConfig::default()
    };
    // Held to the timeout alone, no miner answers.
    let held = network_with(client, config(Duration::ZERO)).await;
    let a = post(
        &held,
        "/v1/chat/completions",
        chat(script, json!({"max_tokens": 4})),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.body);
    // 50 ms for each of the prompt's tokens (some 30, chat template included) is time
    // enough, whole or streamed.
    let given = network_with(client, config(Duration::from_millis(50))).await;
    let a = post(
        &given,
        "/v1/chat/completions",
        chat(script, json!({"max_tokens": 4})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["choices"][0]["message"]["content"], "Paris");
    let streamed = chat(script, json!({"max_tokens": 4, "stream": true}));
    let a = post(&given, "/v1/chat/completions", streamed).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.streamed_text(), "Paris");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_trickling_its_answer_is_cut_off_at_the_streams_deadline() {
    // 1 s for the first event and 50 ms for each of 20 tokens: 2 s in all. The miner
    // sends a piece every 250 ms, always within the 1 s idle limit, and would take 5 s.
    let net = network_with(
        |chain_id| ClientConfig {
            timeout: Duration::from_secs(1),
            axon_scope: AxonScope::All,
            ..ClientConfig::new(chain_id)
        },
        GatewayConfig {
            spot_check: 0.0,
            stream_time_per_token: Duration::from_millis(50),
            // The prompt's own allowance aside (see the test above).
            prompt_time_per_token: Duration::ZERO,
            ..GatewayConfig::default()
        },
    )
    .await;
    let script = vec!["<pause>|x"; 20].join("|");
    let a = post(
        &net,
        "/v1/chat/completions",
        chat(&script, json!({"stream": true, "max_tokens": 20})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let events = a.events();
    let (last, relayed) = events.split_last().unwrap();
    assert!(
        last.contains("no complete answer within 2.0 s for 20 tokens"),
        "{last}"
    );
    let pieces = relayed
        .iter()
        .filter(|e| e.contains(r#""content":"x""#))
        .count();
    assert!((1..20).contains(&pieces), "{pieces} pieces relayed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_may_call_from_the_named_origins_only() {
    let page = "http://localhost:3000";
    let config = GatewayConfig {
        spot_check: 0.0,
        cors_origins: vec![page.parse().unwrap()],
        ..GatewayConfig::default()
    };
    let scope = |chain_id| ClientConfig {
        axon_scope: AxonScope::All,
        ..ClientConfig::new(chain_id)
    };
    let net = network_with(scope, config).await;
    let chat = format!("{}/v1/chat/completions", net.base);
    // The preflight an OpenAI SDK's request from the page sets off.
    let preflight = [
        ("Origin", page),
        ("Access-Control-Request-Method", "POST"),
        (
            "Access-Control-Request-Headers",
            "authorization, content-type, x-stainless-os",
        ),
    ];
    let a = send("OPTIONS", chat.clone(), &preflight, None).await;
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some(page)
    );
    let headers = a.header("access-control-allow-headers").unwrap();
    assert!(headers.contains("authorization") && headers.contains("x-stainless-os"));
    assert!(
        a.header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    // The answer itself, readable by the page with the headers naming its miner.
    let body = json!({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 2});
    let a = send(
        "POST",
        chat.clone(),
        &[("Origin", page)],
        Some(body.clone()),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.header("access-control-allow-origin").as_deref(),
        Some(page)
    );
    let exposed = a.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("x-plexus-miner-uid"), "{exposed}");
    // Another site's page gets nothing its browser would let it read.
    let elsewhere = [("Origin", "http://elsewhere.example")];
    let a = send("POST", chat.clone(), &elsewhere, Some(body)).await;
    assert_eq!(a.header("access-control-allow-origin"), None);
    // A gateway naming no origin answers no preflight.
    let closed = network().await;
    let url = format!("{}/v1/chat/completions", closed.base);
    let a = send("OPTIONS", url, &preflight, None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("access-control-allow-origin"), None);
}
