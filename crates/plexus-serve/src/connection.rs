//! One accepted connection: telling its HTTP version, marking its requests, and the
//! deadlines hyper does not set (idle, first request, writes a client stops reading).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Sleep;

use crate::peer::{Counted, Origin};

/// The first bytes an HTTP/2 client sends (RFC 9113, 3.4).
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Waits, up to `within`, until the client's first bytes tell its HTTP version: a byte
/// that departs from HTTP/2's preface (HTTP/1), or the whole preface. hyper reads them
/// with no deadline (its header deadline starts once it knows the version), so a client
/// that sends nothing, or a few bytes of the preface, would otherwise hold its connection
/// for ever. False if the client sends too little in time, or goes.
pub(crate) async fn version_known(stream: &TcpStream, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let mut first = [0u8; HTTP2_PREFACE.len()];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return false,
        };
        if n == HTTP2_PREFACE.len() || first[..n] != HTTP2_PREFACE[..n] {
            return true;
        }
        // Part of the preface: the rest is on its way, or never comes. Peeking returns at
        // once while any byte waits, so look again a little later.
        tokio::time::sleep(Duration::from_millis(5)).await;
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
    }
}

/// What a bounded connection holds (its place under the caps), for as long as the
/// connection or anything upgraded from it (a WebSocket) lives.
#[derive(Default)]
pub(crate) struct Hold {
    _slot: Option<OwnedSemaphorePermit>,
    _counted: Option<Counted>,
}

impl Hold {
    /// A place under both caps.
    pub(crate) fn bounded(slot: OwnedSemaphorePermit, counted: Counted) -> Self {
        Self {
            _slot: Some(slot),
            _counted: Some(counted),
        }
    }
}

/// The hold, in every request's extensions. Whoever takes over an upgraded connection
/// keeps its request's extensions (jsonrpsee's WebSocket task does), and with them the
/// connection's place: without this an upgrade would leave the caps at once.
#[derive(Clone)]
struct Held {
    _hold: Arc<Hold>,
}

/// A connection's service: each request is marked with the connection's [`Origin`] and
/// hold, and announced (for the idle deadline).
#[derive(Clone)]
pub(crate) struct Connection<S> {
    pub(crate) inner: S,
    pub(crate) origin: Origin,
    pub(crate) hold: Arc<Hold>,
    pub(crate) requests: Arc<Notify>,
}

impl<S, B> tower_service::Service<http::Request<B>> for Connection<S>
where
    S: tower_service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        self.requests.notify_one();
        let extensions = request.extensions_mut();
        extensions.insert(self.origin);
        extensions.insert(Held {
            _hold: Arc::clone(&self.hold),
        });
        self.inner.call(request)
    }
}

/// A stream whose writes must make progress within a deadline: a client that stops
/// reading would otherwise hold its connection, and the answer waiting in it, for ever.
pub(crate) struct Deadlined {
    stream: TcpStream,
    limit: Duration,
    /// Armed while a write waits.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Deadlined {
    pub(crate) fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// Passes on a write's progress; a write still waiting `limit` after it first had to
    /// wait fails.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client stopped reading",
        )))
    }
}

impl AsyncRead for Deadlined {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Deadlined {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}
