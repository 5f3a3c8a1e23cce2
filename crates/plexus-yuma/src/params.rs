//! The subnet hyperparameters the epoch reads, in their stored integer form.

use serde::{Deserialize, Serialize};

/// How validators' bonds evolve and earn dividends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BondsModel {
    /// Classic Yuma: bonds are column-normalised stake-weighted EMAs of the
    /// weights, stored column-max-upscaled.
    Classic,
    /// Yuma 3: bonds are absolute fractions in [0, 1], optionally with a
    /// liquid (per-entry) EMA coefficient.
    Yuma3,
}

/// Liquid alpha: the bonds EMA coefficient of each (validator, miner) pair
/// slides between `low` and `high` along a sigmoid of how far the validator
/// is from consensus, so early, correct weights earn bonds faster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiquidAlpha {
    /// Lower bound of the coefficient, as `value / 65535`.
    pub low_u16: u16,
    /// Upper bound of the coefficient, as `value / 65535`.
    pub high_u16: u16,
    /// Sigmoid steepness; the exponent is scaled by `steepness / 100`.
    pub steepness: i16,
}

/// The epoch's hyperparameters, with the reference chain's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hyperparameters {
    /// Bonds model.
    pub bonds_model: BondsModel,
    /// Consensus majority κ as `value / 65535` (32767 is about one half).
    pub kappa_u16: u16,
    /// Bonds penalty β as `value / 65535`: how much of a weight above
    /// consensus still buys bonds (1 = clipped weights only).
    pub bonds_penalty_u16: u16,
    /// Bonds moving average per million; the EMA coefficient is
    /// `1 − value / 1e6`.
    pub bonds_moving_average: u64,
    /// Liquid alpha, Yuma 3 only; `None` uses the fixed coefficient.
    pub liquid_alpha: Option<LiquidAlpha>,
    /// At most this many UIDs (the top stakes) hold validator permits.
    pub max_allowed_validators: u16,
    /// Stake below this many base units counts as zero.
    pub min_stake: u64,
}

impl Default for Hyperparameters {
    fn default() -> Self {
        Self {
            bonds_model: BondsModel::Yuma3,
            kappa_u16: 32_767,
            bonds_penalty_u16: u16::MAX,
            bonds_moving_average: 900_000,
            liquid_alpha: None,
            max_allowed_validators: 64,
            min_stake: 0,
        }
    }
}

impl LiquidAlpha {
    /// The reference chain's defaults (0.7, 0.9, steepness 1000).
    pub const DEFAULT: Self = Self {
        low_u16: 45_875,
        high_u16: 58_982,
        steepness: 1_000,
    };
}
