//! The upstream backend against a stand-in OpenAI-compatible server (a mock: no real
//! inference server runs in tests). Streams are passed on piece by piece as they come,
//! the API key is sent, and a server that does not stream is read whole.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use futures_util::StreamExt;
use plexus_primitives::{AccountId, NetUid};
use plexus_subnets::Upstream;
use plexus_subnets::text::{
    CHAT_ROUTE, ChatMessage, ChatRequest, FinishReason, StreamEvent, TextBackend, text_routes,
};
use plexus_wire::{Handler, NeuronInfo, Reply, WireRequest};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

const KEY: &str = "sekrit";

/// How the stand-in answers.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Streams the first piece, then the rest once the gate is notified.
    Streams,
    /// One JSON body, whatever was asked.
    Whole,
    /// Streams the first piece, then an error event (as vLLM does).
    FailsMidway,
    /// Streams the first piece and hangs up.
    CutShort,
    /// Streams the first piece, then ends it for a content filter.
    Filtered,
    /// Streams the first piece, then `[DONE]` without saying why it ended.
    DoneWithoutReason,
    /// Streams the first piece, then more text than the tokens asked for carry.
    Pads,
    /// Streams the first piece, then empty events for ever.
    Chatters,
}

/// Serves chat completions as `mode` says.
async fn upstream_in(mode: Mode, gate: Arc<Notify>) -> SocketAddr {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, Json(body): Json<Value>| {
            let gate = Arc::clone(&gate);
            async move {
                let bearer = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
                if bearer != Some(format!("Bearer {KEY}").as_bytes()) {
                    return (StatusCode::UNAUTHORIZED, "no key").into_response();
                }
                if mode == Mode::Whole || body["stream"] != true {
                    return Json(json!({
                        "choices": [{"message": {"content": "Paris."}, "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 9}
                    }))
                    .into_response();
                }
                let event = |v: Value| Ok::<_, std::io::Error>(Bytes::from(format!("data: {v}\n\n")));
                let piece = |p: &str| json!({"choices": [{"delta": {"content": p}, "finish_reason": null}]});
                let first = futures_util::stream::iter([event(json!({"choices": [{"delta": {"role": "assistant"}}]})), event(piece("Par"))]);
                let rest = futures_util::stream::once(async move {
                    let rest = match mode {
                        Mode::FailsMidway => vec![event(
                            json!({"object": "error", "message": "out of memory", "code": 500}),
                        )],
                        Mode::CutShort => Vec::new(),
                        Mode::Filtered => vec![
                            event(
                                json!({"choices": [{"delta": {}, "finish_reason": "content_filter"}]}),
                            ),
                            Ok(Bytes::from_static(b"data: [DONE]\n\n")),
                        ],
                        Mode::DoneWithoutReason => {
                            vec![Ok(Bytes::from_static(b"data: [DONE]\n\n"))]
                        }
                        Mode::Pads => vec![event(piece(&"x".repeat(1100)))],
                        Mode::Chatters => {
                            let empty = move || event(json!({"choices": []}));
                            return futures_util::stream::repeat_with(empty).left_stream();
                        }
                        Mode::Streams | Mode::Whole => {
                            gate.notified().await;
                            vec![
                                event(piece("is")),
                                event(piece(".")),
                                event(json!({"choices": [{"delta": {}, "finish_reason": "stop"}]})),
                                event(json!({"choices": [], "usage": {"prompt_tokens": 9}})),
                                Ok(Bytes::from_static(b"data: [DONE]\n\n")),
                            ]
                        }
                    };
                    futures_util::stream::iter(rest).right_stream()
                })
                .flatten();
                Response::builder()
                    .header(header::CONTENT_TYPE, "text/event-stream")
                    .body(Body::from_stream(first.chain(rest)))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn upstream(streams: bool, gate: Arc<Notify>) -> SocketAddr {
    upstream_in(if streams { Mode::Streams } else { Mode::Whole }, gate).await
}

fn backend(addr: SocketAddr, key: &str) -> Upstream {
    Upstream::new(
        &format!("http://{addr}/v1"),
        "smollm2",
        Duration::from_secs(5),
    )
    .unwrap()
    .with_api_key(key)
}

fn chat(stream: bool) -> ChatRequest {
    ChatRequest {
        stream,
        ..ChatRequest::chat(vec![ChatMessage::user("What is the capital of France?")], 8)
    }
}

/// Serves plain completions at `/v1/completions`, streamed unless `streams` is false,
/// and refuses anything but a plain prompt there, as a real server does.
async fn completions_upstream(streams: bool) -> SocketAddr {
    let app = axum::Router::new().route(
        "/v1/completions",
        post(move |Json(body): Json<Value>| async move {
            if body["prompt"] != "The capital of France is" || body.get("messages").is_some() {
                return (StatusCode::BAD_REQUEST, "not a plain completion").into_response();
            }
            if !streams {
                return Json(json!({
                    "choices": [{"text": " Paris.", "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5}
                }))
                .into_response();
            }
            let mut events: String = [
                json!({"choices": [{"text": " Par", "finish_reason": null}]}),
                json!({"choices": [{"text": "is.", "finish_reason": null}]}),
                json!({"choices": [{"text": "", "finish_reason": "stop"}]}),
                json!({"choices": [], "usage": {"prompt_tokens": 5}}),
            ]
            .iter()
            .map(|e| format!("data: {e}\n\n"))
            .collect();
            events.push_str("data: [DONE]\n\n");
            Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from(events))
                .unwrap()
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn plain_text_goes_to_the_completions_endpoint() {
    for streams in [true, false] {
        let up = backend(completions_upstream(streams).await, KEY);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let request = ChatRequest::text("The capital of France is", 8);
        let answer = up.complete(request, tx).await.unwrap();
        assert_eq!(answer.text, " Paris.");
        assert_eq!(answer.finish_reason, FinishReason::Stop);
        assert_eq!(answer.prompt_tokens, 5);
        let mut pieces = Vec::new();
        while let Ok(piece) = rx.try_recv() {
            pieces.push(piece.text);
        }
        let expected: &[&str] = if streams { &[" Par", "is."] } else { &[] };
        assert_eq!(pieces, expected, "streams: {streams}");

        // A stop string ends the text where it ends, even inside a piece.
        let up = backend(completions_upstream(streams).await, KEY);
        let (tx, _rx) = mpsc::unbounded_channel();
        let request = ChatRequest {
            stop: vec!["is".into()],
            ..ChatRequest::text("The capital of France is", 8)
        };
        let answer = up.complete(request, tx).await.unwrap();
        assert_eq!(
            (answer.text.as_str(), answer.finish_reason),
            (" Paris", FinishReason::Stop),
            "streams: {streams}"
        );
    }
}

#[tokio::test]
async fn pieces_are_passed_on_as_the_upstream_sends_them() {
    let gate = Arc::new(Notify::new());
    let up = backend(upstream(true, Arc::clone(&gate)).await, KEY);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let answer = tokio::spawn(async move { up.complete(chat(true), tx).await });
    // The first piece arrives while the upstream still holds back the rest.
    let first = rx.recv().await.unwrap();
    assert_eq!(first.text, "Par");
    assert!(!answer.is_finished());
    gate.notify_one();
    let answer = answer.await.unwrap().unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = rx.recv().await {
        rest.push(chunk.text);
    }
    assert_eq!(rest, ["is", "."]);
    assert_eq!(answer.text, "Paris.");
    assert!(answer.tokens.is_empty());
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.prompt_tokens, 9);
    assert!(!format!("{:?}", backend("127.0.0.1:1".parse().unwrap(), KEY)).contains(KEY));
}

#[tokio::test]
async fn a_server_that_does_not_stream_is_read_whole() {
    let up = backend(upstream(false, Arc::new(Notify::new())).await, KEY);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let answer = up.complete(chat(true), tx).await.unwrap();
    assert_eq!(answer.text, "Paris.");
    assert_eq!(answer.finish_reason, FinishReason::Length);
    assert!(rx.recv().await.is_none(), "nothing was streamed");
}

#[tokio::test]
async fn answers_end_where_a_stop_string_ends() {
    let gate = Arc::new(Notify::new());
    let up = backend(upstream(true, Arc::clone(&gate)).await, KEY);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stopped = ChatRequest {
        stop: vec!["ris".into()],
        ..chat(true)
    };
    gate.notify_one();
    let answer = up.complete(stopped.clone(), tx).await.unwrap();
    // The stop string stays in (validators check where it ended); "." never came.
    assert_eq!(answer.text, "Paris");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    let mut pieces = Vec::new();
    while let Some(chunk) = rx.recv().await {
        pieces.push(chunk.text);
    }
    assert_eq!(pieces, ["Par", "is"]);
    // A whole answer is cut at the stop string's end the same way.
    let whole = backend(upstream(false, Arc::new(Notify::new())).await, KEY);
    let (tx, _rx) = mpsc::unbounded_channel();
    let answer = whole.complete(stopped, tx).await.unwrap();
    assert_eq!(answer.text, "Paris");
    assert_eq!(answer.finish_reason, FinishReason::Stop);

    // A stop string that ends inside a piece cuts the piece there: "Par", "i".
    let gate = Arc::new(Notify::new());
    let up = backend(upstream(true, Arc::clone(&gate)).await, KEY);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let inside = ChatRequest {
        stop: vec!["ri".into()],
        ..chat(true)
    };
    gate.notify_one();
    let answer = up.complete(inside.clone(), tx).await.unwrap();
    assert_eq!(answer.text, "Pari");
    let mut pieces = Vec::new();
    while let Some(chunk) = rx.recv().await {
        pieces.push(chunk.text);
    }
    assert_eq!(pieces, ["Par", "i"]);
    let (tx, _rx) = mpsc::unbounded_channel();
    assert_eq!(whole.complete(inside, tx).await.unwrap().text, "Pari");
}

#[tokio::test]
async fn a_wrong_key_is_the_upstreams_refusal() {
    let up = backend(upstream(true, Arc::new(Notify::new())).await, "wrong");
    let (tx, _rx) = mpsc::unbounded_channel();
    let error = up.complete(chat(true), tx).await.unwrap_err().to_string();
    assert!(error.contains("401"), "{error}");
}

#[tokio::test]
async fn a_stream_that_fails_or_stops_early_is_an_error_not_an_answer() {
    for (mode, needle) in [
        (Mode::FailsMidway, "out of memory"),
        (Mode::CutShort, "ended before the answer"),
        (Mode::Filtered, "content_filter"),
        (Mode::DoneWithoutReason, "ended before the answer"),
        // Eight tokens carry at most 1,024 bytes, in at most 96 events.
        (Mode::Pads, "more text than asked for"),
        (Mode::Chatters, "too many events"),
    ] {
        let up = backend(upstream_in(mode, Arc::new(Notify::new())).await, KEY);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let error = up.complete(chat(true), tx).await.unwrap_err().to_string();
        assert!(error.contains(needle), "{error}");
        // What came before the failure was passed on as it came.
        assert_eq!(rx.recv().await.unwrap().text, "Par");
    }
}

#[tokio::test]
async fn an_https_upstream_speaks_tls() {
    // The stand-in speaks plain HTTP: an https:// URL to it must fail in the TLS
    // handshake, not fall back to plain text.
    let addr = upstream(true, Arc::new(Notify::new())).await;
    let up = Upstream::new(
        &format!("https://{addr}"),
        "smollm2",
        Duration::from_secs(5),
    )
    .unwrap()
    .with_api_key(KEY);
    let (tx, _rx) = mpsc::unbounded_channel();
    let error = up.complete(chat(true), tx).await.unwrap_err().to_string();
    // rustls reads the plain HTTP answer as a record of the wrong type; the error says
    // more than the HTTP client's bare "client error (Connect)".
    assert!(error.contains("unreachable"), "{error}");
    let cause = error.split_once("(Connect): ").map(|(_, cause)| cause);
    assert!(cause.is_some_and(|c| !c.is_empty()), "{error}");
}

/// What a miner serving `backend` streams to a validator, as stream events.
async fn served(backend: Upstream) -> Vec<StreamEvent> {
    let routes = text_routes(Arc::new(backend)).unwrap();
    let request = WireRequest {
        caller: AccountId([1; 32]),
        neuron: NeuronInfo {
            stake: 1,
            validator_permit: true,
        },
        netuid: NetUid(1),
        route: CHAT_ROUTE.to_owned(),
        nonce: 1,
        body: Bytes::from(serde_json::to_vec(&chat(true)).unwrap()),
    };
    let Ok(Reply::Stream(chunks)) = routes.handle(request).await else {
        panic!("a streaming chat answers with a stream");
    };
    chunks
        .map(|c| serde_json::from_value(c.unwrap()).unwrap())
        .collect()
        .await
}

#[tokio::test]
async fn the_miner_sends_the_text_once_either_way() {
    let text = |events: &[StreamEvent]| -> String {
        events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Token(t) => Some(t.text.clone()),
                StreamEvent::End(_) => None,
            })
            .collect()
    };
    let gate = Arc::new(Notify::new());
    gate.notify_one();
    let streamed = served(backend(upstream(true, gate).await, KEY)).await;
    assert_eq!(text(&streamed), "Paris.");
    assert_eq!(streamed.len(), 4, "three pieces and the end: {streamed:?}");
    let whole = served(backend(upstream(false, Arc::new(Notify::new())).await, KEY)).await;
    assert_eq!(text(&whole), "Paris.");
    assert_eq!(whole.len(), 2, "one piece and the end: {whole:?}");
}
