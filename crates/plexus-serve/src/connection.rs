//! One accepted connection: marking its requests, and holding its place under the caps
//! and its writes to a deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Sleep;

use hyper::body::Incoming;

use crate::body::RequestBody;
use crate::peer::{Origin, forwarded_origin};
use crate::places::{Place, Polling, Signals};

/// What a bounded connection holds (its place under the caps), for as long as the
/// connection or anything upgraded from it (a WebSocket) lives.
#[derive(Default)]
pub(crate) struct Hold {
    place: Option<Place>,
}

impl Hold {
    /// A place under the caps.
    pub(crate) fn bounded(place: Place) -> Self {
        Self { place: Some(place) }
    }

    /// How the connection is asked to close to make room for another peer, if it can be.
    pub(crate) fn signals(&self) -> Option<Arc<Signals>> {
        self.place.as_ref().map(|p| Arc::clone(&p.signals))
    }

    /// The connection's server side has ended; anything upgraded from it keeps the place.
    pub(crate) fn settle(&self) {
        if let Some(place) = &self.place {
            place.settle();
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

/// A connection's service: each request is marked with its [`Origin`] and the
/// connection's hold, announced (for the idle deadline), and its body held to a deadline.
#[derive(Clone)]
pub(crate) struct Connection<S> {
    pub(crate) inner: S,
    pub(crate) origin: Origin,
    /// Whether a loopback request's `X-Forwarded-For` tells its origin.
    pub(crate) forwarded_for: bool,
    pub(crate) hold: Arc<Hold>,
    pub(crate) requests: Arc<Notify>,
    /// How long a request's body may take to arrive after its headers.
    pub(crate) body_timeout: Duration,
}

impl<S> tower_service::Service<http::Request<Incoming>> for Connection<S>
where
    S: tower_service::Service<http::Request<RequestBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Incoming>) -> Self::Future {
        let mut request = request.map(|body| RequestBody::new(body, self.body_timeout));
        self.requests.notify_one();
        let origin = match self.origin {
            Origin::Local if self.forwarded_for => {
                forwarded_origin(request.headers()).unwrap_or(Origin::Local)
            }
            origin => origin,
        };
        let extensions = request.extensions_mut();
        extensions.insert(origin);
        extensions.insert(Held {
            _hold: Arc::clone(&self.hold),
        });
        self.inner.call(request)
    }
}

/// How an HTTP/2 client's first bytes begin (its preface, RFC 9113, 3.4); no HTTP/1
/// method is spelled so.
const HTTP2_START: &[u8; 3] = b"PRI";

/// A client's stream as a server reads and writes it. Writes must make progress within a
/// deadline: a client that stops reading would otherwise hold its connection, and the
/// answer waiting in it, for ever. Once its connection is cut to make room for another
/// peer, every read and write fails, whoever owns the stream by then (a WebSocket's
/// handler, after an upgrade). Its first bytes tell whether it speaks HTTP/2; where
/// only HTTP/1 is served, such a client is refused there (hyper serves both versions
/// whatever it is told once upgrades are on).
pub(crate) struct ClientStream {
    stream: TcpStream,
    limit: Duration,
    /// Armed while a write waits.
    stalled: Option<Pin<Box<Sleep>>>,
    /// The first bytes read, while they could still begin HTTP/2's preface.
    start: Option<Vec<u8>>,
    http2_served: bool,
    /// Set once the client is known to speak HTTP/2.
    spoke_http2: Arc<AtomicBool>,
    /// How the connection is cut, if it holds a place under the caps.
    signals: Option<Arc<Signals>>,
}

impl ClientStream {
    /// `stream`, with writes held to `limit` and cut by `signals`; `spoke_http2` is set if
    /// the client turns out to speak HTTP/2 (refused unless `http2_served`).
    pub(crate) fn new(
        stream: TcpStream,
        limit: Duration,
        http2_served: bool,
        spoke_http2: Arc<AtomicBool>,
        signals: Option<Arc<Signals>>,
    ) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
            start: Some(Vec::new()),
            http2_served,
            spoke_http2,
            signals,
        }
    }

    /// Fails once the connection has been cut; otherwise `cx` is woken when it is.
    fn check_cut(&self, cx: &mut Context<'_>, polling: Polling) -> io::Result<()> {
        match &self.signals {
            Some(signals) if signals.cut.poll_given(polling, cx) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "closed to make room for another peer",
            )),
            _ => Ok(()),
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

impl AsyncRead for ClientStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check_cut(cx, Polling::Reads)?;
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.stream).poll_read(cx, buf))?;
        if let Some(start) = &mut self.start {
            let wanted = HTTP2_START.len() - start.len();
            let read = &buf.filled()[before..];
            start.extend_from_slice(&read[..read.len().min(wanted)]);
            if !HTTP2_START.starts_with(start) {
                self.start = None;
            } else if start.len() == HTTP2_START.len() {
                self.start = None;
                if !self.http2_served {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "HTTP/2 is not served here",
                    )));
                }
                self.spoke_http2.store(true, Ordering::Relaxed);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_cut(cx, Polling::Writes)?;
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check_cut(cx, Polling::Writes)?;
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_cut(cx, Polling::Writes)?;
        let polled = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_cut(cx, Polling::Writes)?;
        let polled = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.watch(cx, polled)
    }
}
