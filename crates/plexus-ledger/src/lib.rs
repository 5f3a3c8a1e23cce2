//! The deterministic state machine of the Plexus chain: accounts, subnets, registration, dynamic stake, weights and emission.
//!
//! [`Ledger::apply_block`] takes a block's transactions and returns the next
//! state and its root. Nothing here does I/O, reads a clock or draws
//! randomness; maps are ordered, arithmetic is integer or fixed point, so
//! every node computes the same bits.
//!
//! Where Plexus departs from the reference chain (Bittensor), and why:
//! - **Pools are constant product** (`tao · alpha = k`) rather than weighted
//!   pools: simple, well understood, and its invariants are easy to test.
//! - **No root network.** Each block's emission goes to the subnets in
//!   proportion to their moving prices (the pool prices capped at one TAO per
//!   alpha and averaged over weeks, as the reference now does;
//!   [`LedgerRules::SLOW_CHANGES`], where chains before it use the price now),
//!   injected without moving the price.
//! - **Registration burns tokens outright** (the reference swaps them to
//!   alpha and burns that); the price rises 26% per registration and halves
//!   every `burn_half_life` blocks, interpolated linearly between halvings so
//!   it is exact integer maths.
//! - **A subnet's lock seeds its pool** at a price of one and stays there;
//!   the owner is paid through the owner's cut.
//! - **Fees are burned.** A transaction whose call fails still pays its fee
//!   and uses its nonce, as on the reference chain, and a block may carry
//!   only transactions that pay ([`LedgerRules::FAILED_CALLS_PAY`]; chains
//!   begun under the original rules, where a refused transaction changed
//!   nothing, keep them).
//! - **A validator seat needs a running node**: a bond counts toward the next
//!   set only with a heartbeat its node signed with the consensus key in the
//!   choosing epoch ([`LedgerRules::LIVE_SEATS`]).
//! - **Dividends go to the hotkey's stake pool** (one addition pays every
//!   staker pro rata); the take is deposited to the hotkey's owner first.
//!
//! The state root commits to every account, hotkey, subnet, neuron, stake
//! position and commit as leaves of one Merkle tree (see [`commitment`]).

mod calls;
pub mod coinbase;
pub mod commitment;
mod error;
mod genesis;
mod ledger;
mod params;
pub mod pool;
mod query;
pub mod snapshot;
mod stake;
mod state;
mod subnet;
pub mod validators;

pub use error::{GenesisError, TxError};
pub use genesis::{Genesis, GenesisBalance, GenesisBond, GenesisValidator};
pub use ledger::{BlockError, BlockOutcome, Ledger, Receipt, Signatures};
pub use params::{Bounds, Economics, LedgerRules, SubnetParams};
pub use query::{CommitInfo, NeuronInfo, PoolInfo, StakeInfo, SubnetInfo, WeightsInfo};
pub use stake::HotkeyStake;
pub use state::{Account, HotkeyInfo, State, Totals};
pub use subnet::{Neuron, Subnet, WeightCommit};
pub use validators::{ValidatorBond, ValidatorSeat, ValidatorSets};
