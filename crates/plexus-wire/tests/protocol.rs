//! Happy paths (HTTP/1.1, HTTP/2, streaming, fan-out) and a client that refuses tampered
//! answers.
// Helper fns (the proxy, raw requests) are not #[test] fns, so clippy.toml's test
// allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use plexus_primitives::Hash;
use plexus_wire::sse::StreamHasher;
use plexus_wire::{
    AddressKind, AxonScope, Call, Client, ClientConfig, ClientError, RequestHeaders,
    ResponseHeaders, ResponseMessage, ResponseProof,
};
use serde_json::{Value, json};

#[tokio::test]
async fn happy_path_http1_returns_a_verified_proof() {
    let miner = start_miner(|_| {}).await;
    let c = client(STAKED);
    let (answer, proof): (Value, ResponseProof) = c
        .call_json(&miner.target, "AddInts", &json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(answer["result"], 5);
    assert_eq!(answer["caller"], json!(key(STAKED).account_id()));
    assert_eq!(answer["stake"], MIN_STAKE * 10);
    assert_eq!(miner.calls(), 1);
    // The proof verifies on its own, survives serialization, and binds what it says.
    assert_eq!(proof.verify(&chain()), Ok(()));
    assert_eq!(proof.callee, miner.target.hotkey);
    assert_eq!(proof.request_body_hash, Hash::of(br#"{"a":2,"b":3}"#));
    let stored: ResponseProof =
        serde_json::from_str(&serde_json::to_string(&proof).unwrap()).unwrap();
    assert_eq!(stored.verify(&chain()), Ok(()));
    let forged = ResponseProof {
        body_hash: Hash::of(br#"{"result":6}"#),
        ..stored
    };
    assert!(forged.verify(&chain()).is_err());
    // Sequential calls reuse lane 0 with increasing nonces.
    for i in 0..20 {
        let r = c
            .call(&miner.target, "AddInts", body(json!({"a": i, "b": 1})))
            .await
            .unwrap();
        assert_eq!(r.proof.lane, 0);
        assert!(r.proof.nonce > proof.nonce);
    }
}

#[tokio::test]
async fn a_client_never_connects_outside_its_axon_scope() {
    // A listener that only counts connections: nothing may reach it.
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let target = plexus_wire::Target {
        addr: listener.local_addr().unwrap(),
        hotkey: key(MINER).account_id(),
        netuid: NETUID,
    };
    for scope in [AxonScope::Public, AxonScope::Private] {
        let c = Client::new(
            key(STAKED),
            ClientConfig {
                axon_scope: scope,
                ..config()
            },
        );
        let e = c
            .call(&target, "Add", body(json!([1, 2])))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ClientError::OutOfScope {
                    kind: AddressKind::Loopback,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!(
                "127.0.0.1 is not called: it is this machine's loopback, outside this \
                 client's axon scope ({scope})"
            )
        );
        assert!(
            c.call_stream(&target, "Add", body(json!([1, 2])))
                .await
                .is_err()
        );
    }
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a connection was opened");
    // No scope calls where no miner serves, such as a cloud's metadata service.
    let metadata = plexus_wire::Target {
        addr: "169.254.169.254:80".parse().unwrap(),
        ..target
    };
    let e = client(STAKED)
        .call(&metadata, "Add", body(json!([1, 2])))
        .await;
    assert_eq!(
        e.unwrap_err().to_string(),
        "169.254.169.254 is not called: it is an address no miner serves from"
    );
}

#[tokio::test]
async fn happy_path_http2() {
    let miner = start_miner(|_| {}).await;
    let mut config = config();
    config.http2 = true;
    let c = Client::new(key(STAKED), config);
    let calls = (0..32).map(|i| Call {
        target: miner.target,
        route: "AddInts".into(),
        body: body(json!({"a": i, "b": 1})),
    });
    let results = c.call_many(calls, 16).await;
    for (i, r) in results.into_iter().enumerate() {
        let v: Value = r.unwrap().json().unwrap();
        assert_eq!(v["result"], i as i64 + 1);
    }
    assert_eq!(miner.calls(), 32);
}

#[tokio::test]
async fn handler_errors_are_signed_answers() {
    let miner = start_miner(|_| {}).await;
    let r = client(STAKED)
        .call(&miner.target, "Fail", body(json!({})))
        .await
        .unwrap();
    assert_eq!(r.status, 422);
    assert_eq!(r.proof.status, 422);
    assert_eq!(r.proof.verify(&chain()), Ok(()));
    assert_eq!(
        r.json::<Value>(),
        Err(ClientError::Handler {
            status: 422,
            message: "cannot do that".into()
        })
    );
    // A body the handler cannot parse is the handler's 400, also signed.
    let r = client(STAKED)
        .call(&miner.target, "AddInts", Bytes::from_static(b"nope"))
        .await;
    assert_eq!(r.unwrap().status, 400);
}

#[tokio::test]
async fn streaming_answers_are_signed_over_the_whole_stream() {
    let miner = start_miner(|_| {}).await;
    let stream = client(STAKED)
        .call_stream(&miner.target, "Tokens", body(json!(5)))
        .await
        .unwrap();
    let (chunks, proof) = stream.collect().await.unwrap();
    let tokens: Vec<&str> = chunks
        .iter()
        .map(|c| c["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens, ["tok0", "tok1", "tok2", "tok3", "tok4"]);
    let mut hasher = StreamHasher::new();
    for c in &chunks {
        hasher.push(c.to_string().as_bytes());
    }
    assert_eq!(proof.body_hash, hasher.finish());
    assert_eq!(proof.verify(&chain()), Ok(()));
    // Chunk by chunk, and an empty stream.
    let mut stream = client(STAKED)
        .call_stream(&miner.target, "Tokens", body(json!(0)))
        .await
        .unwrap();
    assert_eq!(stream.next_chunk().await, Ok(None));
    assert!(stream.proof().is_some());
    // A handler failing mid-stream: the tokens so far, then its error, signed as such.
    let mut stream = client(STAKED)
        .call_stream(&miner.target, "Tokens", body(json!(-2)))
        .await
        .unwrap();
    assert!(stream.next_chunk().await.unwrap().is_some());
    assert!(stream.next_chunk().await.unwrap().is_some());
    assert_eq!(
        stream.next_chunk().await,
        Err(ClientError::Handler {
            status: 503,
            message: "backend went away".into()
        })
    );
    let proof = stream.proof().expect("the failure is signed");
    assert_eq!(proof.status, 503);
    assert_eq!(proof.verify(&chain()), Ok(()));
    // A JSON route called as a stream is an error, not a silent success.
    let r = client(STAKED)
        .call_stream(&miner.target, "AddInts", body(json!({"a":1,"b":1})))
        .await;
    assert!(matches!(r, Err(ClientError::Stream(_))));
}

#[tokio::test]
async fn a_stream_longer_than_the_client_takes_is_cut_off() {
    let miner = start_miner(|_| {}).await;
    let mut config = config();
    config.max_response_bytes = 4096;
    let c = Client::new(key(STAKED), config);
    // ~40 bytes an event: 20 fit, 1,000 do not.
    let short = c
        .call_stream(&miner.target, "Tokens", body(json!(20)))
        .await
        .unwrap();
    assert_eq!(short.collect().await.unwrap().0.len(), 20);
    let mut long = c
        .call_stream(&miner.target, "Tokens", body(json!(1000)))
        .await
        .unwrap();
    let mut received = 0;
    let ended = loop {
        match long.next_chunk().await {
            Ok(Some(_)) => received += 1,
            other => break other,
        }
    };
    assert_eq!(ended, Err(ClientError::ResponseTooLarge { max: 4096 }));
    assert!((20..200).contains(&received), "{received} chunks");
    assert!(long.proof().is_none());
}

#[tokio::test]
async fn fan_out_is_bounded_and_ordered() {
    let miner = start_miner(|c| c.max_concurrent = 64).await;
    let c = client(STAKED);
    let calls = (0..40).map(|_| Call {
        target: miner.target,
        route: "Slow".into(),
        body: body(json!(30)),
    });
    let results = c.call_many(calls, 8).await;
    assert_eq!(results.len(), 40);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|r| r.status == 200))
    );
    let peak = miner.peak.load(Ordering::SeqCst);
    assert!((2..=8).contains(&peak), "peak {peak}");
    // Concurrent requests from one caller use distinct lanes, so none is refused as a replay.
    let calls = (0..64).map(|i| Call {
        target: miner.target,
        route: "AddInts".into(),
        body: body(json!({"a": i, "b": 0})),
    });
    for (i, r) in c.call_many(calls, 64).await.into_iter().enumerate() {
        assert_eq!(r.unwrap().json::<Value>().unwrap()["result"], i as i64);
    }
}

#[tokio::test]
async fn timeouts() {
    let miner = start_miner(|_| {}).await;
    let mut quick = config();
    quick.timeout = Duration::from_millis(100);
    let c = Client::new(key(STAKED), quick);
    let r = c.call(&miner.target, "Slow", body(json!(1000))).await;
    assert_eq!(r, Err(ClientError::Timeout));
    // With its one lane held by a slow call, the next call is this client's own
    // problem: busy, not a timeout blamed on the miner.
    let mut one_lane = config();
    one_lane.timeout = Duration::from_millis(300);
    one_lane.lanes = 1;
    let c1 = Client::new(key(STAKED), one_lane);
    // Two slow calls hold the lane in turn for 600 ms; a third call waits for it
    // longer than its timeout.
    let slow: Vec<_> = (0..2)
        .map(|_| {
            let (c1, target) = (c1.clone(), miner.target);
            tokio::spawn(async move { c1.call(&target, "Slow", body(json!(1000))).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = c1
        .call(&miner.target, "AddInts", body(json!({"a": 1, "b": 2})))
        .await;
    assert_eq!(r.map(|_| ()), Err(ClientError::Busy));
    for call in slow {
        assert_eq!(call.await.unwrap().map(|_| ()), Err(ClientError::Timeout));
    }
    // A caller timing the miner takes the lane first: held, no other call gets one,
    // and the call made on it goes through.
    let lane = c1.reserve().await.unwrap();
    assert_eq!(c1.reserve().await.map(|_| ()), Err(ClientError::Busy));
    let add = body(json!({"a": 1, "b": 2}));
    let r = c1.call_reserved(lane, &miner.target, "AddInts", add).await;
    assert_eq!(r.unwrap().json::<Value>().unwrap()["result"], 3);
    assert!(c1.reserve().await.is_ok(), "free again after the call");
    // Nothing listening: a transport error, not a hang.
    let mut gone = miner.target;
    gone.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    assert!(matches!(
        c.call(&gone, "AddInts", body(json!({}))).await,
        Err(ClientError::Http(_))
    ));
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// Change the body, keep the miner's headers.
    Body,
    /// Change the body and sign it properly, but with a key that is not the miner's.
    Resign,
    /// Drop the signature headers.
    Strip,
    /// Change one streamed chunk.
    StreamChunk,
}

#[tokio::test]
async fn tampered_answers_are_rejected() {
    let miner = start_miner(|_| {}).await;
    let cases = [
        (Tamper::Body, ClientError::BodyHashMismatch),
        (
            Tamper::Resign,
            ClientError::BadResponseSignature(plexus_primitives::SignatureError::Invalid),
        ),
        (Tamper::Strip, ClientError::MissingSignature { status: 200 }),
    ];
    for (tamper, expected) in cases {
        let proxy = start_proxy(miner.target.addr, tamper).await;
        let mut via = miner.target;
        via.addr = proxy;
        let r = client(STAKED)
            .call(&via, "AddInts", body(json!({"a":1,"b":2})))
            .await;
        assert_eq!(r, Err(expected), "{tamper:?}");
    }
    let proxy = start_proxy(miner.target.addr, Tamper::StreamChunk).await;
    let mut via = miner.target;
    via.addr = proxy;
    let stream = client(STAKED)
        .call_stream(&via, "Tokens", body(json!(3)))
        .await
        .unwrap();
    assert_eq!(stream.collect().await, Err(ClientError::BodyHashMismatch));
    // The miner did answer every time: the client caught the tampering, not the server.
    assert_eq!(miner.calls(), 4);
}

/// A man in the middle that forwards to `upstream` and alters the answer.
async fn start_proxy(upstream: SocketAddr, tamper: Tamper) -> SocketAddr {
    let app = Router::new().fallback(move |req: Request| forward(upstream, tamper, req));
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn forward(upstream: SocketAddr, tamper: Tamper, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let request_headers = RequestHeaders::parse(&parts.headers).unwrap();
    let bytes = body.collect().await.unwrap().to_bytes();
    let mut out = hyper::Request::new(Full::new(bytes));
    *out.method_mut() = parts.method;
    *out.uri_mut() = format!("http://{upstream}{}", parts.uri.path())
        .parse()
        .unwrap();
    request_headers.write_to(out.headers_mut());
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let (mut head, body) = http.request(out).await.unwrap().into_parts();
    let text = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let text = match tamper {
        Tamper::Body | Tamper::Resign => text.replace("\"result\":3", "\"result\":4"),
        Tamper::StreamChunk => text.replace("tok1", "tokX"),
        Tamper::Strip => text,
    };
    match tamper {
        Tamper::Resign => {
            let body_hash = Hash::of(text.as_bytes());
            let message = ResponseMessage {
                callee: request_headers.callee,
                caller: request_headers.caller,
                netuid: request_headers.netuid,
                nonce: request_headers.nonce,
                lane: request_headers.lane,
                route: parts.uri.path().trim_start_matches('/'),
                request_body_hash: request_headers.body_hash,
                status: 200,
                body_hash,
            };
            let signature = message.sign(&key(66), &chain());
            ResponseHeaders {
                body_hash,
                signature,
            }
            .write_to(&mut head.headers);
        }
        Tamper::Strip => {
            head.headers.remove(plexus_wire::headers::SIGNATURE);
            head.headers.remove(plexus_wire::headers::BODY_HASH);
        }
        Tamper::Body | Tamper::StreamChunk => {}
    }
    // The body changed length and is no longer streamed: let hyper frame it afresh.
    head.headers.remove(http::header::CONTENT_LENGTH);
    head.headers.remove(http::header::TRANSFER_ENCODING);
    Response::from_parts(head, Body::from(text))
}

#[tokio::test]
async fn a_call_may_wait_longer_than_the_clients_timeout_for_its_answer_to_start() {
    let miner = start_miner(|_| {}).await;
    let mut quick = config();
    quick.timeout = Duration::from_millis(300);
    let c = Client::new(key(STAKED), quick);
    let late = || body(json!({"wait_ms": 800, "tokens": 3}));
    // Held to the client's timeout, the first event comes too late...
    let mut stream = c
        .call_stream(&miner.target, "LateTokens", late())
        .await
        .unwrap();
    assert_eq!(stream.next_chunk().await, Err(ClientError::Timeout));
    // ...but not for a call given longer to start; the events after it are held to the
    // client's timeout as ever (they come at once here).
    let lane = c
        .reserve()
        .await
        .unwrap()
        .start_within(Duration::from_secs(3));
    let stream = c
        .call_stream_reserved(lane, &miner.target, "LateTokens", late())
        .await
        .unwrap();
    let (chunks, _proof) = stream.collect().await.unwrap();
    assert_eq!(chunks.len(), 3);
    // The same for a whole answer.
    let slow = || body(json!(800));
    assert_eq!(
        c.call(&miner.target, "Slow", slow()).await.map(|_| ()),
        Err(ClientError::Timeout)
    );
    let lane = c
        .reserve()
        .await
        .unwrap()
        .start_within(Duration::from_secs(3));
    let answer = c.call_reserved(lane, &miner.target, "Slow", slow()).await;
    assert_eq!(answer.unwrap().json::<u64>().unwrap(), 800);
}

#[tokio::test]
async fn a_stream_that_only_drips_comments_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A "miner" that answers with an event stream and then sends only SSE comments,
    // each well within the idle limit: no event ever completes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = vec![0u8; 8192];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if socket.write_all(b"2\r\n:\n\r\n").await.is_err() {
                return;
            }
        }
    });
    let mut config = config();
    config.timeout = Duration::from_millis(300);
    let c = Client::new(key(STAKED), config);
    let target = plexus_wire::Target {
        addr,
        hotkey: key(MINER).account_id(),
        netuid: NETUID,
    };
    let mut stream = c
        .call_stream(&target, "Tokens", body(json!(5)))
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(3), stream.next_chunk()).await;
    assert_eq!(waited, Ok(Err(ClientError::Timeout)));
}
