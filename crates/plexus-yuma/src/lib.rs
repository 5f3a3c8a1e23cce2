//! The Yuma Consensus epoch: pure, sparse, bit-exact fixed-point maths with no I/O.
//!
//! [`epoch`] turns a subnet's stake, weights and bonds into consensus,
//! trust, incentive, dividends, new bonds and permits, and the split of the
//! epoch's emission between miners and validators. It reproduces the
//! reference chain (subtensor) bit for bit: stake is normalised in I64F64,
//! the epoch runs in I32F32 with saturating arithmetic, emission is scaled in
//! I96F32 and truncated to base units, and stored values are quantised as
//! `trunc(x * 65535)`. The golden cases in `tests/data` are the reference's
//! own outputs.
//!
//! Matrices are sparse (a row lists only the UIDs it sets), so time and
//! memory follow the number of weights set, not n².
//!
//! [`simulate`] runs multi-epoch scenarios from case files, for tuning
//! hyperparameters and for the golden tests.

mod bonds;
mod epoch;
pub mod fixed;
mod median;
mod params;
pub mod simulate;
mod sparse;

pub use epoch::{EpochError, EpochInput, EpochOutput, WeightAges, epoch};
pub use params::{BondsModel, Hyperparameters, LiquidAlpha};
