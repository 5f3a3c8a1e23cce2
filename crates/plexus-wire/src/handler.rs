//! What a miner implements: a [`Handler`] that answers routes, and [`Routes`], a map of
//! route names to async closures for the common case.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use plexus_primitives::{AccountId, NetUid};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::message::{RouteError, validate_route};
use crate::metagraph::NeuronInfo;

/// A request that passed every check, as the handler sees it.
#[derive(Debug, Clone)]
pub struct WireRequest {
    /// The authenticated caller.
    pub caller: AccountId,
    /// What the metagraph says about the caller (stake, validator permit).
    pub neuron: NeuronInfo,
    /// The subnet.
    pub netuid: NetUid,
    /// The route called.
    pub route: String,
    /// The request's nonce.
    pub nonce: u64,
    /// The request body (JSON), already matched against the signed body hash.
    pub body: Bytes,
}

impl WireRequest {
    /// Deserializes the body; a malformed body is the caller's fault (400).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| HandlerError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// A stream of JSON chunks, answered as server-sent events; an error ends it (see
/// [`crate::sse`]).
pub type ChunkStream =
    Pin<Box<dyn Stream<Item = Result<serde_json::Value, HandlerError>> + Send + 'static>>;

/// A handler's answer.
pub enum Reply {
    /// One JSON body (already serialized).
    Json(Bytes),
    /// A stream of JSON chunks, sent as server-sent events and signed at the end.
    Stream(ChunkStream),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Json(body) => f.debug_tuple("Json").field(body).finish(),
            Self::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

impl Reply {
    /// Serializes `value` as the JSON answer.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, HandlerError> {
        serde_json::to_vec(value)
            .map(|body| Self::Json(Bytes::from(body)))
            .map_err(|e| HandlerError::internal(format!("cannot serialize the answer: {e}")))
    }

    /// Streams `chunks` as server-sent events. The first error ends the stream: the
    /// caller gets it, signed with its status, instead of an answer cut short.
    pub fn stream(
        chunks: impl Stream<Item = Result<serde_json::Value, HandlerError>> + Send + 'static,
    ) -> Self {
        Self::Stream(Box::pin(chunks))
    }
}

/// A handler's refusal to answer; sent with its status and signed like any answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{status}: {message}")]
pub struct HandlerError {
    /// The HTTP status, 400 to 599 (anything else is sent as 500).
    pub status: u16,
    /// Details for the caller.
    pub message: String,
}

impl HandlerError {
    /// An error with `status`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400: the request made no sense to the handler.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// 500: the handler failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
}

/// The miner's side of the protocol: answers authenticated requests on named routes.
pub trait Handler: Send + Sync + 'static {
    /// Whether `route` exists; unknown routes are refused (404) before any other check runs
    /// past the size limits.
    fn has_route(&self, route: &str) -> bool;

    /// Answers one request that passed every check.
    fn handle(
        &self,
        request: WireRequest,
    ) -> impl Future<Output = Result<Reply, HandlerError>> + Send;
}

impl<T: Handler> Handler for Arc<T> {
    fn has_route(&self, route: &str) -> bool {
        (**self).has_route(route)
    }

    fn handle(
        &self,
        request: WireRequest,
    ) -> impl Future<Output = Result<Reply, HandlerError>> + Send {
        (**self).handle(request)
    }
}

type BoxedRoute = Arc<
    dyn Fn(WireRequest) -> Pin<Box<dyn Future<Output = Result<Reply, HandlerError>> + Send>>
        + Send
        + Sync,
>;

/// A [`Handler`] built from one async closure per route.
#[derive(Clone, Default)]
pub struct Routes {
    routes: HashMap<String, BoxedRoute>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.routes.keys().collect();
        names.sort();
        f.debug_struct("Routes").field("routes", &names).finish()
    }
}

impl Routes {
    /// No routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) route `name`, answered by `f`.
    pub fn route<F, Fut>(mut self, name: &str, f: F) -> Result<Self, RouteError>
    where
        F: Fn(WireRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Reply, HandlerError>> + Send + 'static,
    {
        validate_route(name)?;
        let boxed: BoxedRoute = Arc::new(move |request| Box::pin(f(request)));
        self.routes.insert(name.to_owned(), boxed);
        Ok(self)
    }
}

impl Handler for Routes {
    fn has_route(&self, route: &str) -> bool {
        self.routes.contains_key(route)
    }

    fn handle(
        &self,
        request: WireRequest,
    ) -> impl Future<Output = Result<Reply, HandlerError>> + Send {
        let route = self.routes.get(&request.route).cloned();
        async move {
            match route {
                Some(f) => f(request).await,
                None => Err(HandlerError::new(404, "unknown route")),
            }
        }
    }
}
