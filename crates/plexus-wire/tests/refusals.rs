//! Every refusal has its own status and code, comes in the documented order, and never
//! reaches the handler.
// Helper fns (the proxy, raw requests) are not #[test] fns, so clippy.toml's test
// allowances do not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use plexus_primitives::{Hash, Signature};
use plexus_wire::{
    ClientError, Metagraph, RateLimit, RefusalKind, RequestHeaders, RequestParams, unix_nanos,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Asserts `result` is a refusal of `kind` with its documented status.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, ClientError>, kind: RefusalKind) {
    match result {
        Err(ClientError::Refused {
            status,
            kind: got,
            code,
            ..
        }) => {
            assert_eq!(got, Some(kind), "code {code}");
            assert_eq!(status, kind.status());
        }
        other => panic!("expected {kind:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn unregistered_caller_is_403() {
    let miner = start_miner(|_| {}).await;
    let r = client(STRANGER)
        .call(&miner.target, "AddInts", body(json!({"a":1,"b":2})))
        .await;
    assert_refused(r, RefusalKind::CallerNotRegistered);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn caller_below_stake_is_402() {
    let miner = start_miner(|_| {}).await;
    let r = client(POOR)
        .call(&miner.target, "AddInts", body(json!({"a":1,"b":2})))
        .await;
    assert_refused(r, RefusalKind::StakeBelowThreshold);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn a_caller_without_a_validator_permit_is_403_once_the_subnet_grants_permits() {
    let miner = start_miner(|_| {}).await;
    let add = || body(json!({"a":1,"b":2}));
    // STAKED loses its permit (what a metagraph sync after an epoch installs): a miner of
    // the subnet, say, passing on its own challenge.
    let staked = key(STAKED).account_id();
    let mut info = miner.metagraph.neuron(NETUID, &staked).unwrap();
    info.validator_permit = false;
    miner.metagraph.insert(NETUID, staked, info);
    let r = client(STAKED).call(&miner.target, "AddInts", add()).await;
    assert_refused(r, RefusalKind::NoValidatorPermit);
    assert_eq!(miner.calls(), 0);
    // Before a subnet's first epoch no one holds a permit, and registered callers are
    // served: else no validator could start.
    let all: Vec<_> = (10..20).map(|n| key(n).account_id()).collect();
    for hotkey in &all {
        let mut info = miner.metagraph.neuron(NETUID, hotkey).unwrap();
        info.validator_permit = false;
        miner.metagraph.insert(NETUID, *hotkey, info);
    }
    let mut poor = miner
        .metagraph
        .neuron(NETUID, &key(POOR).account_id())
        .unwrap();
    poor.validator_permit = false;
    miner.metagraph.insert(NETUID, key(POOR).account_id(), poor);
    assert!(!miner.metagraph.permits_granted(NETUID));
    let served = client(STAKED).call(&miner.target, "AddInts", add()).await;
    assert_eq!(served.unwrap().status, 200);
}

#[tokio::test]
async fn a_server_for_any_registered_caller_skips_the_permit_check() {
    let miner = start_miner(|c| c.validators_only = false).await;
    let staked = key(STAKED).account_id();
    let mut info = miner.metagraph.neuron(NETUID, &staked).unwrap();
    info.validator_permit = false;
    miner.metagraph.insert(NETUID, staked, info);
    let served = client(STAKED)
        .call(&miner.target, "AddInts", body(json!({"a":1,"b":2})))
        .await;
    assert_eq!(served.unwrap().status, 200);
}

#[tokio::test]
async fn a_threshold_raised_on_chain_applies_without_a_restart() {
    let miner = start_miner(|_| {}).await;
    let c = client(STAKED);
    let add = || body(json!({"a":1,"b":2}));
    let served = || async {
        c.call(&miner.target, "AddInts", add())
            .await
            .unwrap()
            .status
    };
    assert_eq!(served().await, 200);
    // The subnet now asks more than STAKED holds (what a metagraph sync installs).
    miner.metagraph.set_stake_threshold(NETUID, MIN_STAKE * 11);
    assert_refused(
        c.call(&miner.target, "AddInts", add()).await,
        RefusalKind::StakeBelowThreshold,
    );
    miner.metagraph.set_stake_threshold(NETUID, 0);
    // The server's own floor still holds for POOR.
    assert_refused(
        client(POOR).call(&miner.target, "AddInts", add()).await,
        RefusalKind::StakeBelowThreshold,
    );
    assert_eq!(served().await, 200);
    assert_eq!(miner.calls(), 2);
}

#[tokio::test]
async fn bad_signature_is_401() {
    let miner = start_miner(|_| {}).await;
    let b = body(json!({"a":1,"b":2}));
    let mut headers = signed(STAKED, &miner.target, "AddInts", &b);
    headers.signature.0[0] ^= 1;
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(r, RefusalKind::BadSignature);
    // A signature by someone else (a registered validator signing for another).
    let mut headers = signed(STAKED, &miner.target, "AddInts", &b);
    headers.signature = signed(10, &miner.target, "AddInts", &b).signature;
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(r, RefusalKind::BadSignature);
    // A signature for another route.
    let mut headers = signed(STAKED, &miner.target, "AddInts", &b);
    headers.signature = signed(STAKED, &miner.target, "Slow", &b).signature;
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b)
        .await;
    assert_refused(r, RefusalKind::BadSignature);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn body_not_matching_the_signed_hash_is_401() {
    let miner = start_miner(|_| {}).await;
    let headers = signed(STAKED, &miner.target, "AddInts", b"{\"a\":1,\"b\":2}");
    let r = client(STAKED)
        .send_prepared(
            &miner.target,
            "AddInts",
            &headers,
            Bytes::from_static(b"{\"a\":9,\"b\":2}"),
        )
        .await;
    assert_refused(r, RefusalKind::BodyHashMismatch);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn signature_for_another_callee() {
    let miner = start_miner(|_| {}).await;
    let b = body(json!({"a":1,"b":2}));
    // Addressed to another miner: 421, before any signature work.
    let mut elsewhere = miner.target;
    elsewhere.hotkey = key(101).account_id();
    let headers = signed(STAKED, &elsewhere, "AddInts", &b);
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(r, RefusalKind::WrongCallee);
    // Signed for another miner but relabelled as addressed to this one: the signature fails.
    let mut relabelled = headers.clone();
    relabelled.callee = miner.target.hotkey;
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &relabelled, b.clone())
        .await;
    assert_refused(r, RefusalKind::BadSignature);
    // Signed for another subnet.
    let mut other_net = miner.target;
    other_net.netuid = plexus_primitives::NetUid(8);
    let headers = signed(STAKED, &other_net, "AddInts", &b);
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b)
        .await;
    assert_refused(r, RefusalKind::WrongNetuid);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn replayed_nonce_is_409() {
    let miner = start_miner(|_| {}).await;
    let b = body(json!({"a":1,"b":2}));
    let headers = signed(STAKED, &miner.target, "AddInts", &b);
    let c = client(STAKED);
    let first = c
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(miner.calls(), 1);
    let again = c
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(again, RefusalKind::ReplayedNonce);
    // An older nonce on the same lane is a replay too, even if never seen.
    let params = RequestParams {
        callee: miner.target.hotkey,
        netuid: miner.target.netuid,
        nonce: headers.nonce - 1,
        lane: 0,
        route: "AddInts",
    };
    let older = RequestHeaders::sign(&key(STAKED), &chain(), params, &b);
    let r = c
        .send_prepared(&miner.target, "AddInts", &older, b.clone())
        .await;
    assert_refused(r, RefusalKind::ReplayedNonce);
    // Another lane has its own sequence.
    let other_lane = RequestHeaders::sign(
        &key(STAKED),
        &chain(),
        RequestParams { lane: 1, ..params },
        &b,
    );
    assert!(
        c.send_prepared(&miner.target, "AddInts", &other_lane, b)
            .await
            .is_ok()
    );
    assert_eq!(miner.calls(), 2);
}

#[tokio::test]
async fn stale_nonce_is_425() {
    let miner = start_miner(|c| c.nonce_window = Duration::from_secs(5)).await;
    let b = body(json!({"a":1,"b":2}));
    for nonce in [
        unix_nanos() - 6_000_000_000,
        unix_nanos() + 6_000_000_000,
        1,
    ] {
        let params = RequestParams {
            callee: miner.target.hotkey,
            netuid: miner.target.netuid,
            nonce,
            lane: 0,
            route: "AddInts",
        };
        let headers = RequestHeaders::sign(&key(STAKED), &chain(), params, &b);
        let r = client(STAKED)
            .send_prepared(&miner.target, "AddInts", &headers, b.clone())
            .await;
        assert_refused(r, RefusalKind::StaleNonce);
    }
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn oversize_body_and_headers_are_413() {
    let miner = start_miner(|c| {
        c.max_body_bytes = 1024;
        c.max_header_bytes = 2048;
    })
    .await;
    let big = body(json!({"a": 1, "b": 2, "pad": "x".repeat(2000)}));
    let r = client(STAKED)
        .call(&miner.target, "AddInts", big.clone())
        .await;
    assert_refused(r, RefusalKind::BodyTooLarge);
    // Size comes first: even an unregistered caller gets 413, not 403.
    let r = client(STRANGER).call(&miner.target, "AddInts", big).await;
    assert_refused(r, RefusalKind::BodyTooLarge);

    let b = body(json!({"a":1,"b":2}));
    let headers = signed(STAKED, &miner.target, "AddInts", &b);
    let (status, code) = raw_post(
        &miner,
        "AddInts",
        &headers,
        b,
        &[("x-pad", &"y".repeat(3000))],
    )
    .await;
    assert_eq!((status, code.as_str()), (413, "headers_too_large"));

    // A chunked body declares no length: it is cut off while being read, which happens
    // only for a caller that passed the checks on its headers.
    let chunk = "z".repeat(1500);
    let chunked = |n: u8| {
        let headers = signed(n, &miner.target, "AddInts", chunk.as_bytes());
        raw_head(&headers)
            + &format!(
                "transfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
                chunk.len()
            )
    };
    let answer = raw_exchange(miner.target.addr, &chunked(STAKED)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    let answer = raw_exchange(miner.target.addr, &chunked(STRANGER)).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_408() {
    let miner = start_miner(|c| c.body_timeout = Duration::from_millis(200)).await;
    let b = body(json!({"a": 1, "b": 2}));
    let headers = signed(STAKED, &miner.target, "AddInts", &b);
    // Declares the whole body and sends half of it.
    let mut raw = raw_head(&headers) + &format!("content-length: {}\r\n\r\n", b.len());
    raw += std::str::from_utf8(&b[..b.len() / 2]).unwrap();
    let answer = raw_exchange(miner.target.addr, &raw).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn a_forged_request_is_refused_before_its_body_is_awaited() {
    // The body would take the whole (long) deadline; the forgery is answered at once.
    let miner = start_miner(|c| c.body_timeout = Duration::from_secs(30)).await;
    let b = body(json!({"a": 1, "b": 2}));
    let mut headers = signed(STAKED, &miner.target, "AddInts", &b);
    headers.signature.0[0] ^= 1;
    let raw = raw_head(&headers) + &format!("content-length: {}\r\n\r\n", b.len());
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        raw_exchange(miner.target.addr, &raw),
    )
    .await
    .expect("answered without waiting for the body");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("bad_signature"), "{answer}");
    assert_eq!(miner.calls(), 0);
}

/// The start of a raw `POST /AddInts` with the wire `headers`, for the body framing to
/// follow.
fn raw_head(headers: &RequestHeaders) -> String {
    let mut raw = String::from("POST /AddInts HTTP/1.1\r\nhost: x\r\n");
    for (name, value) in headers.to_pairs() {
        raw += &format!("{name}: {}\r\n", value.to_str().unwrap());
    }
    raw
}

/// Writes `raw` on a fresh connection and returns the start of the answer.
async fn raw_exchange(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(raw.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tcp.read(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn routes_methods_and_malformed_headers() {
    let miner = start_miner(|_| {}).await;
    let r = client(STAKED)
        .call(&miner.target, "Nope", body(json!({})))
        .await;
    assert_refused(r, RefusalKind::UnknownRoute);
    let b = body(json!({"a":1,"b":2}));
    let headers = signed(STAKED, &miner.target, "AddInts", &b);
    let (status, code) = raw_post(
        &miner,
        "AddInts",
        &headers,
        b.clone(),
        &[("x-plexus-nonce", "0012")],
    )
    .await;
    assert_eq!((status, code.as_str()), (400, "bad_headers"));
    let headers = RequestHeaders::sign(
        &key(STAKED),
        &chain(),
        RequestParams {
            callee: miner.target.hotkey,
            netuid: miner.target.netuid,
            nonce: unix_nanos(),
            lane: 5000,
            route: "AddInts",
        },
        &b,
    );
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b)
        .await;
    assert_refused(r, RefusalKind::BadHeaders);
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri = format!("http://{}/AddInts", miner.target.addr)
        .parse()
        .unwrap();
    let response = http.get(uri).await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn checks_run_in_the_documented_order() {
    let miner = start_miner(|_| {}).await;
    let b = body(json!({"a":1,"b":2}));
    // Unregistered, misaddressed and badly signed: registration is checked first.
    let mut elsewhere = miner.target;
    elsewhere.hotkey = key(101).account_id();
    let mut headers = signed(STRANGER, &elsewhere, "AddInts", &b);
    headers.signature = Signature([7; 64]);
    let r = client(STRANGER)
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(r, RefusalKind::CallerNotRegistered);
    // Registered, misaddressed and badly signed: the callee is checked before the signature.
    headers.caller = key(STAKED).account_id();
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &headers, b.clone())
        .await;
    assert_refused(r, RefusalKind::WrongCallee);
    // A stale nonce with a bad signature: the signature is checked before the nonce.
    let mut stale = signed(STAKED, &miner.target, "AddInts", &b);
    stale.nonce = 1;
    let r = client(STAKED)
        .send_prepared(&miner.target, "AddInts", &stale, b)
        .await;
    assert_refused(r, RefusalKind::BadSignature);
    assert_eq!(miner.calls(), 0);
}

#[tokio::test]
async fn rate_limit_is_429_per_caller() {
    let miner = start_miner(|c| {
        c.rate_limit = Some(RateLimit {
            per_second: 0.01,
            burst: 3,
        })
    })
    .await;
    let c = client(STAKED);
    for i in 0..3 {
        let r = c
            .call(&miner.target, "AddInts", body(json!({"a":i,"b":1})))
            .await;
        assert_eq!(r.unwrap().status, 200);
    }
    let r = c
        .call(&miner.target, "AddInts", body(json!({"a":0,"b":1})))
        .await;
    assert_refused(r, RefusalKind::RateLimited);
    assert_eq!(miner.calls(), 3);
    // The limit is per caller: another validator is still served.
    let r = client(10)
        .call(&miner.target, "AddInts", body(json!({"a":0,"b":1})))
        .await;
    assert_eq!(r.unwrap().status, 200);
    // And Retry-After is sent.
    let b = body(json!({"a":1,"b":2}));
    let headers = signed(STAKED, &miner.target, "AddInts", &b);
    let (status, _) = raw_post(&miner, "AddInts", &headers, b, &[]).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn busy_server_refuses_the_lowest_stake_with_503() {
    let miner = start_miner(|c| {
        c.max_concurrent = 1;
        c.max_waiting = 1;
        c.max_wait = Duration::from_secs(5);
    })
    .await;
    // Validator 10 (lowest stake of 10..20) occupies the only slot.
    let slow = tokio::spawn({
        let (c, t) = (client(10), miner.target);
        async move { c.call(&t, "Slow", body(json!(400))).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Validator 11 queues; validator 19 (more stake) takes its queue place.
    let low = tokio::spawn({
        let (c, t) = (client(11), miner.target);
        async move { c.call(&t, "AddInts", body(json!({"a":1,"b":1}))).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (c19, c12) = (client(19), client(12));
    let high = c19.call(&miner.target, "AddInts", body(json!({"a":1,"b":1})));
    // And validator 12 finds a full queue of higher stake: refused at once.
    let lower = c12.call(&miner.target, "AddInts", body(json!({"a":1,"b":1})));
    let (high, lower) = tokio::join!(high, async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        lower.await
    });
    assert_eq!(high.unwrap().status, 200);
    assert_refused(lower, RefusalKind::Busy);
    assert_refused(low.await.unwrap(), RefusalKind::Busy);
    assert_eq!(slow.await.unwrap().unwrap().status, 200);
    assert_eq!(miner.calls(), 2);
    assert_eq!(miner.peak.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// POSTs with exactly `headers` plus `extra`, returning the status and error code.
async fn raw_post(
    miner: &Miner,
    route: &str,
    headers: &RequestHeaders,
    body: Bytes,
    extra: &[(&'static str, &str)],
) -> (u16, String) {
    let http = HttpClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::new(Full::new(body));
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = format!("http://{}/{route}", miner.target.addr)
        .parse()
        .unwrap();
    headers.write_to(request.headers_mut());
    for (name, value) in extra {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let response = http.request(request).await.unwrap();
    let status = response.status().as_u16();
    if status == 429 {
        assert!(response.headers().contains_key("retry-after"));
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let error: plexus_wire::ErrorBody = serde_json::from_slice(&bytes).unwrap();
    let _ = Hash::of(&bytes);
    (status, error.code)
}
