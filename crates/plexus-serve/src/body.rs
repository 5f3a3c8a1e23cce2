//! A request's body, held to a deadline.
//!
//! hyper bounds the wait for a request's headers, but not for its body: a client that
//! declares a body and then trickles it, a byte now and then, holds its connection and the
//! handler reading it for as long as it likes. Every request a server sees carries its
//! body in a [`RequestBody`], which fails once the deadline has passed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use crate::BoxError;

/// A request's body, which must arrive in full within a deadline counted from its
/// headers (see [`ConnectionLimits::body_timeout`](crate::ConnectionLimits::body_timeout)).
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    /// When the body must have arrived by.
    due: Instant,
    limit: Duration,
    /// Armed the first time the body has to be waited for.
    timer: Option<Pin<Box<Sleep>>>,
}

/// A body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request's body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl RequestBody {
    /// `inner`, which must arrive within `limit` of now.
    pub(crate) fn new(inner: Incoming, limit: Duration) -> Self {
        Self {
            inner,
            due: Instant::now() + limit,
            limit,
            timer: None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // Most bodies come with their headers and never wait: no timer for those.
        let due = self.due;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(self.limit).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
