use std::time::Instant;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

async fn started(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_bounded(
        listener,
        move |_| router.clone(),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

async fn get(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut reply = String::new();
    // A connection the server closes at once may be reset rather than ended.
    let _ = stream.read_to_string(&mut reply).await;
    reply
}

/// Whether the server closes `stream` within 5 s.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest))
        .await
        .is_ok()
}

fn limits(header_timeout_ms: u64) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(header_timeout_ms),
        ..ConnectionLimits::default()
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (addr, _stop) = started(limits(200)).await;
    assert!(get(addr).await.ends_with("ok"));
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    assert!(
        closed(&mut slow).await,
        "the server still holds the connection"
    );
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_cut_off() {
    let (addr, _stop) = started(limits(200)).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed(&mut silent).await,
        "the server still holds the connection"
    );
}

#[tokio::test]
async fn a_client_that_stops_inside_the_http2_preface_is_cut_off() {
    let (addr, _stop) = started(limits(200)).await;
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    assert!(
        closed(&mut stalled).await,
        "the server still holds the connection"
    );
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    let (addr, _stop) = started(limits(10_000)).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{addr}/"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"ok");
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_free_one() {
    let (addr, _stop) = started(ConnectionLimits {
        max_connections: 1,
        ..limits(300)
    })
    .await;
    // One idle connection holds the only slot until its header deadline.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"G").await.unwrap();
    let started_at = Instant::now();
    assert!(get(addr).await.ends_with("ok"));
    assert!(
        started_at.elapsed() >= Duration::from_millis(200),
        "served before the slot was free"
    );
}

#[test]
fn a_peer_is_an_ipv4_address_or_an_ipv6_slash_64_and_loopback_is_none() {
    let peer = |s: &str| Peer::of(s.parse().unwrap());
    assert_eq!(peer("203.0.113.7:80"), peer("203.0.113.7:9000"));
    assert_ne!(peer("203.0.113.7:80"), peer("203.0.113.8:80"));
    assert_eq!(
        peer("[2001:db8:1:2:aaaa::1]:80"),
        peer("[2001:db8:1:2:bbbb::9]:80"),
        "one /64"
    );
    assert_ne!(peer("[2001:db8:1:2::1]:80"), peer("[2001:db8:1:3::1]:80"));
    // An IPv4 client on a dual-stack socket is its IPv4 address.
    assert_eq!(peer("[::ffff:203.0.113.7]:80"), peer("203.0.113.7:80"));
    for local in [
        "127.0.0.1:1",
        "127.9.9.9:1",
        "[::1]:1",
        "[::ffff:127.0.0.1]:1",
    ] {
        assert_eq!(peer(local), None, "{local}");
    }
    assert_eq!(
        peer("[2001:db8:1:2:aaaa::1]:80").unwrap().to_string(),
        "2001:db8:1:2::/64"
    );
}

#[test]
fn a_peer_at_its_cap_is_refused_until_one_of_its_connections_closes() {
    let counts = PeerCounts::new(2);
    let a = Peer::of("203.0.113.7:1".parse().unwrap()).unwrap();
    let b = Peer::of("203.0.113.8:1".parse().unwrap()).unwrap();
    let first = counts.admit(a).unwrap();
    let _second = counts.admit(a).unwrap();
    assert!(counts.admit(a).is_none());
    let _other = counts.admit(b).expect("another peer has its own count");
    drop(first);
    assert!(counts.admit(a).is_some());
}

#[tokio::test]
async fn loopback_is_not_bounded_per_peer() {
    let (addr, _stop) = started(ConnectionLimits {
        max_connections_per_peer: 1,
        ..limits(10_000)
    })
    .await;
    // This machine's own tools may hold many connections at once.
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(b"G").await.unwrap();
    assert!(get(addr).await.ends_with("ok"));
}

#[tokio::test]
async fn marked_requests_carry_their_connections_origin() {
    use tower_service::Service;
    let router = Router::new().route(
        "/",
        axum::routing::get(|origin: Option<axum::Extension<Origin>>| async move {
            format!("{:?}", origin.map(|o| o.0))
        }),
    );
    for (addr, expected) in [
        ("203.0.113.7:5000", "Some(Remote(Peer(203.0.113.7)))"),
        ("127.0.0.1:5000", "Some(Local)"),
    ] {
        let mut service = Marked::new(router.clone(), addr.parse().unwrap());
        std::future::poll_fn(|cx| {
            Service::<http::Request<axum::body::Body>>::poll_ready(&mut service, cx)
        })
        .await
        .unwrap();
        let request = http::Request::get("/")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = service.call(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
    }
}
