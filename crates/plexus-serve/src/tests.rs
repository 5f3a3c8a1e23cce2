use std::time::Instant;

use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::places::Places;

/// A server answering `GET /` with "ok", `GET /origin` with the request's [`Origin`],
/// `GET /big` with 64 MiB, `GET /slow` with "ok" after 500 ms, `GET /forever` never, and
/// `GET /upgrade` by upgrading the connection to echo what it is sent, and `POST /echo`
/// with its body.
async fn started(limits: ConnectionLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    started_with_origins(limits, Origin::of).await
}

/// Upgrades the connection (101) to echo every byte back, as a WebSocket's handler takes
/// one over: keeping the request's extensions, and with them the connection's place.
async fn echo_upgrade(mut request: axum::extract::Request) -> axum::response::Response {
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let _extensions = request;
        if let Ok(upgraded) = upgrade.await {
            let (mut from, mut to) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut from, &mut to).await;
        }
    });
    http::Response::builder()
        .status(http::StatusCode::SWITCHING_PROTOCOLS)
        .header(http::header::CONNECTION, "upgrade")
        .header(http::header::UPGRADE, "echo")
        .body(axum::body::Body::empty())
        .unwrap()
}

/// [`started`], with each connection's origin told by `origin_of`.
async fn started_with_origins(
    limits: ConnectionLimits,
    origin_of: fn(SocketAddr) -> Origin,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
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
        .route("/upgrade", axum::routing::get(echo_upgrade))
        .route(
            "/echo",
            axum::routing::post(|body: axum::body::Bytes| async move { body }),
        )
        .route(
            "/forever",
            axum::routing::get(|| async {
                std::future::pending::<()>().await;
                "never"
            }),
        );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with_origins(
        listener,
        move |_| router.clone(),
        limits,
        async move {
            let _ = stopped.await;
        },
        origin_of,
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
async fn a_client_that_trickles_its_body_is_answered_400_and_cut_off() {
    let (addr, _stop) = started(ConnectionLimits {
        body_timeout: Duration::from_millis(300),
        ..limits(10_000)
    })
    .await;
    // A whole body is read and answered.
    let mut whole = TcpStream::connect(addr).await.unwrap();
    let sent = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    whole.write_all(sent.as_bytes()).await.unwrap();
    assert_eq!(answer(&mut whole).await.as_deref(), Some("hello"));
    // Ten bytes of a hundred, and then nothing: well within the header deadline, past
    // the body's.
    let mut trickle = TcpStream::connect(addr).await.unwrap();
    let sent = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    trickle.write_all(sent.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), trickle.read_to_end(&mut reply));
    assert!(read.await.is_ok(), "the connection is closed");
    assert!(started.elapsed() < Duration::from_secs(3));
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
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

/// The origin `GET /origin` is served with when it carries `forwarded` as
/// `X-Forwarded-For`.
async fn origin_forwarded(limits: ConnectionLimits, forwarded: &str) -> String {
    let (addr, _stop) = started(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /origin HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {forwarded}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply.rsplit("\r\n").next().unwrap().to_string()
}

#[tokio::test]
async fn a_local_proxy_tells_its_clients_origin_when_trusted_to() {
    let proxied = ConnectionLimits {
        forwarded_for: true,
        ..limits(10_000)
    };
    // The last address is the one the proxy appended; the ones before, the client wrote.
    assert_eq!(
        origin_forwarded(proxied, "127.0.0.1, 203.0.113.9").await,
        "Some(Remote(Peer(203.0.113.9)))"
    );
    assert_eq!(
        origin_forwarded(proxied, "[2001:db8::1]:4711").await,
        "Some(Remote(Peer(2001:db8::)))"
    );
    assert_eq!(
        origin_forwarded(proxied, "unknown").await,
        "Some(Remote(Peer(0.0.0.0)))",
        "a forwarded request is never this machine's"
    );
    assert_eq!(
        origin_forwarded(limits(10_000), "203.0.113.9").await,
        "Some(Local)",
        "not trusted unless asked"
    );
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
    let places = Places::new(16, 2);
    let a = Origin::of("203.0.113.7:1".parse().unwrap());
    let b = Origin::of("203.0.113.8:1".parse().unwrap());
    let first = places.admit(a).unwrap();
    let _second = places.admit(a).unwrap();
    assert!(places.admit(a).is_none());
    let _other = places.admit(b).expect("another peer has its own count");
    drop(first);
    assert!(places.admit(a).is_some());
}

/// Whether `signal` has been given.
async fn given(signal: &tokio::sync::Notify) -> bool {
    tokio::time::timeout(Duration::from_millis(10), signal.notified())
        .await
        .is_ok()
}

fn remote(last: u8) -> Origin {
    Origin::of(SocketAddr::from(([203, 0, 113, last], 1)))
}

/// `n` places for `origin`, which must all be had.
fn admitted(places: &Places, origin: Origin, n: usize) -> Vec<crate::places::Place> {
    (0..n).map(|_| places.admit(origin).unwrap()).collect()
}

/// `n` places for `origin` held by WebSockets (their connections' server side ended).
fn upgraded(places: &Places, origin: Origin, n: usize) -> Vec<crate::places::Place> {
    let held = admitted(places, origin, n);
    for place in &held {
        place.settle();
    }
    held
}

#[tokio::test]
async fn a_full_server_makes_room_for_a_peer_holding_fewer_than_the_greediest() {
    let places = Places::new(4, 4);
    let (a, b) = (remote(7), remote(8));
    let mut a_places: Vec<_> = (0..4).map(|_| places.admit(a).unwrap()).collect();
    assert!(places.admit(a).is_none(), "full, and a holds the most");

    let b1 = places.admit(b).expect("b holds none, a holds every place");
    assert!(
        given(&a_places[3].signals.close).await,
        "a's newest is asked to close"
    );
    for older in &a_places[..3] {
        assert!(!given(&older.signals.close).await);
    }
    // A quarter of the cap (one place) may be closing at once: the oldest closing one
    // is cut to make room for the next.
    let _b2 = places.admit(b).expect("a holds four (one closing), b one");
    assert!(a_places[3].signals.cut.is_given());
    assert!(given(&a_places[2].signals.close).await);
    assert!(!a_places[2].signals.cut.is_given());
    // The next cut goes to the oldest closing connection not cut already.
    let b3 = places.admit(b).expect("a holds four (two closing), b two");
    assert!(a_places[2].signals.cut.is_given());
    assert!(given(&a_places[1].signals.close).await);
    drop(a_places.split_off(1));
    assert_eq!(places.counts(), (4, 0));
    assert!(places.admit(b).is_none(), "b holds three, a one");
    // Now a holds two fewer: b gives up its newest.
    let _a = places.admit(a).expect("b holds three, a one");
    assert!(given(&b3.signals.close).await);
    assert!(!given(&b1.signals.close).await);
}

#[test]
fn connections_closing_for_others_still_count_against_their_peer() {
    let places = Places::new(4, 2);
    let (a, b, c) = (remote(7), remote(8), remote(9));
    let _a = admitted(&places, a, 2);
    let b_places = admitted(&places, b, 2);
    let _c = places.admit(c).expect("a and b hold two each, c none");
    assert_eq!(places.counts(), (4, 1));
    assert!(
        places.admit(b).is_none(),
        "b's connection closing for c is still b's"
    );
    drop(b_places);
    assert_eq!(places.counts(), (3, 0));
}

#[tokio::test]
async fn a_peer_gives_up_a_connection_that_can_close_gracefully_before_a_websocket() {
    let places = Places::new(3, 3);
    let (a, b) = (remote(7), remote(8));
    // a's oldest place is a plain connection, its two newer ones WebSockets.
    let a_plain = places.admit(a).unwrap();
    let a_upgraded = upgraded(&places, a, 2);
    let _b = places.admit(b).expect("a holds three, b none");
    assert!(given(&a_plain.signals.close).await);
    assert!(a_upgraded.iter().all(|p| !p.signals.cut.is_given()));
    assert_eq!(places.counts(), (3, 1));

    // Only WebSockets to give up: the newest is cut, with no grace.
    let only_upgraded = Places::new(2, 2);
    let held = upgraded(&only_upgraded, a, 2);
    let _b = only_upgraded.admit(b).expect("a holds two more than b");
    assert!(held[1].signals.cut.is_given());
    assert!(!held[0].signals.cut.is_given());
    assert!(!given(&held[1].signals.close).await);
    assert_eq!(only_upgraded.counts(), (2, 1));
    drop(held);
    assert_eq!(only_upgraded.counts(), (1, 0));
}

#[test]
fn a_connection_upgraded_as_it_was_asked_to_close_is_cut() {
    let places = Places::new(2, 2);
    let (a, b) = (remote(7), remote(8));
    let a_places = admitted(&places, a, 2);
    let _b = places.admit(b).unwrap();
    assert_eq!(places.counts(), (2, 1));
    // Its upgrade went through before it closed: a WebSocket now, which no graceful
    // close reaches.
    a_places[1].settle();
    assert!(a_places[1].signals.cut.is_given());
    assert!(!a_places[0].signals.cut.is_given());
    assert_eq!(places.counts(), (2, 1));
    drop(a_places);
    assert_eq!(places.counts(), (1, 0));
}

#[test]
fn a_forwarded_request_comes_from_the_last_address_its_proxy_appended() {
    let origin = |lines: &[&str]| {
        let mut headers = http::HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        crate::peer::forwarded_origin(&headers)
    };
    let unnamed = Some(Origin::Remote(Peer::UNNAMED));
    assert_eq!(origin(&[]), None, "not forwarded: this machine's own");
    assert_eq!(origin(&["198.51.100.1, 203.0.113.5"]), Some(remote(5)));
    assert_eq!(origin(&["198.51.100.1", "203.0.113.5"]), Some(remote(5)));
    assert_eq!(origin(&["203.0.113.5:4711"]), Some(remote(5)));
    let v6 = Origin::of("[2001:db8::1]:1".parse().unwrap());
    assert_eq!(origin(&["[2001:db8::1]"]), Some(v6));
    assert_eq!(origin(&["[2001:db8::1]:4711"]), Some(v6));
    assert_eq!(origin(&[" 2001:db8::1 "]), Some(v6));
    for unusable in ["unknown", "_hidden", "203.0.113.5,", "", "127.0.0.1", "::1"] {
        assert_eq!(origin(&[unusable]), unnamed, "{unusable:?}");
    }
}

/// [`started`], with clients at 127.0.0.2 and 127.0.0.3 counting as two remote peers
/// (203.0.113.2 and .3), and any other loopback address as this machine.
async fn started_for_two_peers(
    limits: ConnectionLimits,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    fn origin_of(addr: SocketAddr) -> Origin {
        match addr.ip() {
            std::net::IpAddr::V4(ip) if matches!(ip.octets(), [127, 0, 0, 2 | 3]) => {
                remote(ip.octets()[3])
            }
            _ => Origin::of(addr),
        }
    }
    started_with_origins(limits, origin_of).await
}

/// A server with two places in all, both of which one of its two peers may take.
async fn two_places_for_two_peers() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    started_for_two_peers(ConnectionLimits {
        max_connections: 2,
        max_connections_per_peer: 2,
        ..limits(10_000)
    })
    .await
}

/// A connection to `addr` from the loopback address `from` (Linux answers on all of
/// 127.0.0.0/8).
async fn connect_from(addr: SocketAddr, from: [u8; 4]) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr).await.unwrap()
}

/// A connection from `from` that has been answered once and is kept open.
async fn kept_open(addr: SocketAddr, from: [u8; 4]) -> TcpStream {
    let mut stream = connect_from(addr, from).await;
    assert!(
        answers_again(&mut stream).await,
        "a first request is answered"
    );
    stream
}

/// Sends `GET path` on a kept-open connection, with `extra` header lines.
async fn ask(stream: &mut TcpStream, path: &str, extra: &str) -> bool {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    stream.write_all(request.as_bytes()).await.is_ok()
}

/// Reads one answer off a kept-open connection: its body, or `None` if the connection
/// ends first. Bodies here are short and end the answer's last read.
async fn answer(stream: &mut TcpStream) -> Option<String> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return None,
        };
        reply.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|l| l.parse::<usize>().ok())?;
            if body.len() >= length {
                return Some(body.to_owned());
            }
        }
    }
}

/// Whether a kept-open connection still answers `GET /`.
async fn answers_again(stream: &mut TcpStream) -> bool {
    ask(stream, "/", "").await && answer(stream).await.as_deref() == Some("ok")
}

#[tokio::test]
async fn a_peer_that_filled_the_server_gives_up_its_newest_connection_to_another() {
    let (addr, _stop) = two_places_for_two_peers().await;
    let mut older = kept_open(addr, [127, 0, 0, 2]).await;
    let mut newer = kept_open(addr, [127, 0, 0, 2]).await;
    let mut other = kept_open(addr, [127, 0, 0, 3]).await;
    assert!(
        closed(&mut newer).await,
        "the greedy peer's newest is closed"
    );
    assert!(
        answers_again(&mut older).await,
        "its older connection is kept"
    );
    assert!(answers_again(&mut other).await);
}

#[tokio::test]
async fn a_connection_closed_for_another_peer_finishes_its_request_first() {
    let (addr, _stop) = two_places_for_two_peers().await;
    let _older = kept_open(addr, [127, 0, 0, 2]).await;
    let mut busy = kept_open(addr, [127, 0, 0, 2]).await;
    assert!(ask(&mut busy, "/slow", "").await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _other = kept_open(addr, [127, 0, 0, 3]).await;
    assert_eq!(answer(&mut busy).await.as_deref(), Some("ok"));
    assert!(closed(&mut busy).await, "and closes after it");
}

#[tokio::test]
async fn forwarded_addresses_are_read_only_from_this_machine() {
    let (addr, _stop) = started_for_two_peers(ConnectionLimits {
        forwarded_for: true,
        ..limits(10_000)
    })
    .await;
    let forwarded = "X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n";
    let mut remote_peer = connect_from(addr, [127, 0, 0, 2]).await;
    assert!(ask(&mut remote_peer, "/origin", forwarded).await);
    assert_eq!(
        answer(&mut remote_peer).await.as_deref(),
        Some("Some(Remote(Peer(203.0.113.2)))"),
        "another machine cannot name its origin"
    );
    let mut local = connect_from(addr, [127, 0, 0, 1]).await;
    assert!(ask(&mut local, "/origin", forwarded).await);
    assert_eq!(
        answer(&mut local).await.as_deref(),
        Some("Some(Remote(Peer(203.0.113.9)))")
    );
}

/// A connection from `from` upgraded to echo (see [`echo_upgrade`]).
async fn upgraded_from(addr: SocketAddr, from: [u8; 4]) -> TcpStream {
    let mut stream = connect_from(addr, from).await;
    let request =
        "GET /upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    assert!(echoes(&mut stream).await, "the upgraded connection echoes");
    stream
}

/// Whether an upgraded connection still echoes.
async fn echoes(stream: &mut TcpStream) -> bool {
    if stream.write_all(b"ping").await.is_err() {
        return false;
    }
    let mut back = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back)).await;
    matches!(read, Ok(Ok(_))) && &back == b"ping"
}

#[tokio::test]
async fn a_peer_whose_websockets_filled_the_server_gives_up_its_newest_to_another() {
    let (addr, _stop) = two_places_for_two_peers().await;
    let mut older = upgraded_from(addr, [127, 0, 0, 2]).await;
    let mut newer = upgraded_from(addr, [127, 0, 0, 2]).await;
    let mut other = kept_open(addr, [127, 0, 0, 3]).await;
    // Cut while its handler waits to read, with nothing sent to wake it: the cut
    // itself does, and the socket closes.
    assert!(closed(&mut newer).await, "the greedy peer's newest is cut");
    assert!(echoes(&mut older).await, "its older one is kept");
    assert!(answers_again(&mut other).await);
}
