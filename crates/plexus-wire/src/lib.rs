//! The Plexus validator-to-miner protocol: signed HTTP requests and responses, replay protection, metagraph-based access control, server and client.
//!
//! A validator (the caller) POSTs a JSON body to `/{route}` on a miner's axon. Headers carry
//! the caller and callee hotkeys, the subnet, a nonce, a lane, the body's BLAKE3 hash and the
//! caller's ed25519 signature over all of them ([`RequestMessage`], signed in the
//! [`Purpose::WireRequest`](plexus_primitives::Purpose) domain of the chain). The miner checks,
//! in order, the size limits, the caller's registration and stake in the subnet's
//! [`Metagraph`], that it is the callee, the signature, the nonce, the caller's rate limit and
//! a stake-ordered concurrency budget; each refusal has its own status code (table in
//! [`refusal`]) and the handler never runs on a refusal. The miner signs its answer
//! ([`ResponseMessage`], [`Purpose::WireResponse`](plexus_primitives::Purpose)) so the
//! validator keeps a [`ResponseProof`] of what it said. Streaming answers are server-sent
//! events whose final event carries the signature over the whole stream ([`sse`]).
//!
//! Transport: HTTP/1.1 or cleartext HTTP/2 (axum server, pooled hyper client), no TLS: the
//! signatures authenticate both ends and the payloads are not secret.
//!
//! The `net` feature (default) adds the [`Server`], the [`Client`] and the loopback
//! benchmark ([`bench_loopback`]). Without it the crate is the protocol alone (headers,
//! signed messages, SSE framing, nonce and rate bookkeeping), which the fuzz targets use.

/// The `http` crate whose `HeaderMap` the header codec reads and writes.
pub use http;

pub mod headers;
mod keys;
mod message;
mod metagraph;
mod nonce;
mod rate;
pub mod refusal;
mod scope;
pub mod sse;

#[cfg(feature = "net")]
mod admission;
#[cfg(feature = "net")]
mod bench;
#[cfg(feature = "net")]
mod client;
#[cfg(feature = "net")]
mod handler;
#[cfg(feature = "net")]
mod lanes;
#[cfg(feature = "net")]
mod response;
#[cfg(feature = "net")]
mod server;
#[cfg(feature = "net")]
mod signer;

pub use headers::{HeaderError, RequestHeaders, RequestParams, ResponseHeaders};
pub use keys::{DEFAULT_PEER_KEYS, PeerKeys};
pub use message::{
    MAX_ROUTE_LEN, RequestMessage, ResponseMessage, RouteError, request_domain, response_domain,
    validate_route,
};
pub use metagraph::{Metagraph, NeuronInfo, StaticMetagraph};
pub use nonce::{NonceError, NonceTracker, unix_nanos};
pub use rate::{RateLimit, RateLimiter};
pub use refusal::{ErrorBody, Refusal, RefusalKind};
pub use scope::{AddressKind, AxonScope, AxonScopeError};

#[cfg(feature = "net")]
pub use admission::{Admission, Permit};
#[cfg(feature = "net")]
pub use bench::{
    ADD_ROUTE, CpuPerRequest, LatencyStats, ScenarioCpu, ThroughputStats, WireBenchConfig,
    WireBenchError, WireBenchReport, add_ints_routes, bench_loopback,
};
#[cfg(feature = "net")]
pub use client::{Call, Client, ClientConfig, ClientError, Reserved, Target, error_chain};
#[cfg(feature = "net")]
pub use handler::{ChunkStream, Handler, HandlerError, Reply, Routes, WireRequest};
#[cfg(feature = "net")]
pub use response::{ResponseProof, ResponseStream, SignedResponse};
#[cfg(feature = "net")]
pub use server::{RunningServer, Server, ServerConfig, ServerError};
