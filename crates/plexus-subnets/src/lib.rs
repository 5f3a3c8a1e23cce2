//! The Plexus subnet SDK: miner and validator loops over the chain and the wire, the
//! scoring trait, and the reference subnets.
//!
//! A subnet is a market for one kind of AI work. Its miners serve that work behind the
//! signed wire protocol ([`start_miner`]); its validators challenge a sample of miners on a
//! schedule, judge the answers ([`Subnet`]), keep moving-average [`Scores`], and put them
//! on chain as weights within the subnet's rate limit ([`Validator`]). The chain is reached
//! through the [`Chain`] trait, so the loops run the same against a node over RPC and a
//! ledger in memory.

mod backend;
mod chain;
pub mod embed;
mod miner;
mod outage;
mod registration;
mod reveal;
mod scores;
mod subnet;
pub mod text;
pub mod upstream;
mod validator;
mod view;

pub use backend::BackendError;
pub use chain::{Chain, ChainError};
pub use miner::{MinerConfig, MinerError, RunningMiner, start_miner};
pub use registration::{AXON_VERSION, RegistrationError, announce_axon, ensure_registered};
pub use scores::{MinerScore, Scores};
pub use subnet::{Evaluation, Pace, PaceTargets, Subnet, Verdict};
pub use upstream::Upstream;
pub use validator::{Observation, Validator, ValidatorConfig, ValidatorError};
pub use view::{Snapshot, SubnetView, standalone_neuron};
