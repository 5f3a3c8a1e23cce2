use std::time::Instant;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::peer::PeerCounts;

/// A server answering `GET /` with "ok", `GET /origin` with the request's [`Origin`],
/// `GET /big` with 64 MiB, `GET /slow` with "ok" after 500 ms, and `GET /forever` never.
async fn started(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new()
        .route("/", axum::routing::get(|| async { "ok" }))
        .route(
            "/origin",
            axum::routing::get(|origin: Option<axum::Extension<Origin>>| async move {
                format!("{:?}", origin.map(|o| o.0))
            }),
        )
        .route(
            "/big",
            axum::routing::get(|| async { vec![b'x'; 64 << 20] }),
        )
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "ok"
            }),
        )
        .route(
            "/forever",
            axum::routing::get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
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

async fn get_path(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    // A connection the server closes at once may be reset rather than ended.
    let _ = stream.read_to_string(&mut reply).await;
    reply
}

async fn get(addr: SocketAddr) -> String {
    get_path(addr, "/").await
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

/// Limits that hold loopback, the only peer a test can be, to the caps.
fn bounded(max_connections: usize, per_peer: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        max_connections_per_peer: per_peer,
        bound_loopback: true,
        ..limits(10_000)
    }
}

/// Gets `/` until it is served, for up to 5 s (the server notices a close a moment after).
async fn served_again(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !get(addr).await.ends_with("ok") {
        assert!(
            Instant::now() < deadline,
            "the closed connection still counts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a client that sends `sent` and then nothing is cut off (200 ms deadlines).
async fn cut_off_after(sent: &[u8]) -> bool {
    let (addr, _stop) = started(limits(200)).await;
    assert!(get(addr).await.ends_with("ok"));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(sent).await.unwrap();
    closed(&mut stream).await
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    assert!(cut_off_after(b"GET / HTTP/1.1\r\nHost:").await);
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_cut_off() {
    assert!(cut_off_after(b"").await);
}

#[tokio::test]
async fn a_client_that_stops_inside_the_http2_preface_is_cut_off() {
    assert!(cut_off_after(b"PRI * HTTP/2.0\r\n").await);
}

#[tokio::test]
async fn an_http2_client_that_never_asks_anything_is_cut_off() {
    assert!(cut_off_after(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await);
}

/// An HTTP/2 connection to `addr`, and the task driving it (which ends when it closes).
async fn http2(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<()>,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let driving = tokio::spawn(async move {
        let _ = connection.await;
    });
    (sender, driving)
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_served_and_closed_once_idle() {
    let (addr, _stop) = started(ConnectionLimits {
        idle_timeout: Duration::from_millis(300),
        ..limits(10_000)
    })
    .await;
    let (mut sender, driving) = http2(addr).await;
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
    // No more requests: the server closes it.
    tokio::time::timeout(Duration::from_secs(5), driving)
        .await
        .expect("an idle connection stayed open")
        .unwrap();
}

#[tokio::test]
async fn http2_can_be_turned_off() {
    let (addr, _stop) = started(ConnectionLimits {
        http2: false,
        ..limits(10_000)
    })
    .await;
    let (mut sender, _driving) = http2(addr).await;
    let request = http::Request::get(format!("http://{addr}/"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(5), sender.send_request(request)).await;
    assert!(
        !matches!(answered, Ok(Ok(_))),
        "an HTTP/2 request was answered"
    );
    assert!(get(addr).await.ends_with("ok"), "HTTP/1 is still served");
}

#[tokio::test]
async fn requests_carry_their_connections_origin() {
    let (addr, _stop) = started(limits(10_000)).await;
    assert!(get_path(addr, "/origin").await.ends_with("Some(Local)"));
}

#[tokio::test]
async fn connections_past_the_cap_are_turned_away_until_one_closes() {
    let (addr, _stop) = started(bounded(1, 1024)).await;
    // One connection, mid-request, holds the only place.
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(b"G").await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut second).await, "a second connection was kept");
    drop(first);
    served_again(addr).await;
}

#[tokio::test]
async fn a_peer_past_its_own_cap_is_turned_away_until_one_closes() {
    let (addr, _stop) = started(bounded(1024, 1)).await;
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.write_all(b"G").await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(closed(&mut second).await, "a second connection was kept");
    drop(first);
    served_again(addr).await;
}

#[tokio::test]
async fn loopback_is_not_bounded_unless_asked() {
    let (addr, _stop) = started(ConnectionLimits {
        max_connections: 1,
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
async fn a_client_that_stops_reading_is_cut_off_and_gives_its_place_back() {
    let (addr, _stop) = started(ConnectionLimits {
        write_timeout: Duration::from_millis(300),
        ..bounded(1, 1)
    })
    .await;
    // 64 MiB asked for and never read: the writes stall once the buffers are full.
    let mut reader = TcpStream::connect(addr).await.unwrap();
    reader
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    served_again(addr).await;
    drop(reader);
}

#[tokio::test]
async fn an_http1_answer_longer_than_the_idle_deadline_keeps_its_connection() {
    let (addr, _stop) = started(ConnectionLimits {
        idle_timeout: Duration::from_millis(100),
        ..limits(10_000)
    })
    .await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let mut chunk = [0u8; 1024];
        while !reply.ends_with(b"ok") {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed mid-answer");
            reply.extend_from_slice(&chunk[..n]);
        }
        let reply = String::from_utf8(reply).unwrap().to_ascii_lowercase();
        assert!(!reply.contains("connection: close"), "{reply}");
    }
}

#[tokio::test]
async fn stopping_closes_what_the_drain_did_not_finish() {
    let (addr, stop) = started(ConnectionLimits {
        drain_timeout: Duration::from_millis(200),
        ..limits(10_000)
    })
    .await;
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting
        .write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Let the request reach its handler, then stop the server.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(stop);
    assert!(
        closed(&mut waiting).await,
        "the connection outlived the server"
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
    let a = Origin::of("203.0.113.7:1".parse().unwrap());
    let b = Origin::of("203.0.113.8:1".parse().unwrap());
    let first = counts.admit(a).unwrap();
    let _second = counts.admit(a).unwrap();
    assert!(counts.admit(a).is_none());
    let _other = counts.admit(b).expect("another peer has its own count");
    drop(first);
    assert!(counts.admit(a).is_some());
}
