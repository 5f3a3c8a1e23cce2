//! The Plexus chain node: commonware BFT consensus and p2p, block building, mempool, storage and the JSON-RPC server and client.

pub mod block;
pub mod config;
pub mod consensus;
pub mod execution;
pub mod journal;
pub mod mempool;
pub mod metrics;
pub mod rpc;
pub mod store;
