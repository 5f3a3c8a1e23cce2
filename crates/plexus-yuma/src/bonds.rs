//! Bonds and dividends: what validators earn for having weighted miners
//! early and in line with consensus.

use crate::fixed::{
    I32F32, I64F64, ONE, ZERO, div_or_zero_64, exp_clamped, mul_or_zero, normalize, one_over,
    proportion_to_u16, u16_proportion,
};
use crate::params::{Hyperparameters, LiquidAlpha};
use crate::sparse::{self, Row};

/// New bonds (as stored) and normalised dividends of one epoch.
pub struct BondsUpdate {
    /// Bond rows to store, quantised to u16, zero entries left out.
    pub stored: Vec<Vec<(u16, u16)>>,
    /// Dividends per UID, summing to one (or all zero).
    pub dividends: Vec<I32F32>,
}

/// What the bonds step needs from the rest of the epoch.
pub struct BondsInput<'a> {
    /// Stored bonds, one row per UID.
    pub stored: &'a [Vec<(u16, u16)>],
    /// Columns whose bonds are dropped (UIDs registered since the last epoch).
    pub masked_columns: &'a [bool],
    /// Weights after the bonds penalty.
    pub weights_for_bonds: &'a [Row],
    /// Active stake, normalised.
    pub active_stake: &'a [I32F32],
    /// Consensus per UID.
    pub consensus: &'a [I32F32],
    /// Incentive per UID.
    pub incentive: &'a [I32F32],
}

/// The EMA coefficient `1 − bonds_moving_average / 1e6`, computed in I64F64
/// first as the reference does.
fn fixed_alpha(bonds_moving_average: u64) -> I32F32 {
    let average = div_or_zero_64(
        I64F64::saturating_from_num(bonds_moving_average),
        I64F64::from_num(1_000_000),
    );
    ONE.saturating_sub(I32F32::saturating_from_num(average))
}

/// Reads stored bonds, mapping each value and dropping masked columns.
fn load(input: &BondsInput<'_>, map: impl Fn(u16) -> I32F32) -> Vec<Row> {
    input
        .stored
        .iter()
        .map(|row| {
            row.iter()
                .filter(|(j, _)| !input.masked_columns[*j as usize])
                .map(|&(j, b)| (j, map(b)))
                .filter(|e| e.1 > ZERO)
                .collect()
        })
        .collect()
}

fn quantise(rows: &[Row]) -> Vec<Vec<(u16, u16)>> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|&(j, v)| (j, proportion_to_u16(v)))
                .filter(|e| e.1 > 0)
                .collect()
        })
        .collect()
}

/// Classic Yuma: `ΔB = col_norm(W̃ ∘ S)`, `B ← col_norm(α ΔB + (1 − α) col_norm(B))`,
/// `D = norm(B · I)`; bonds stored column-max-upscaled.
pub fn classic(params: &Hyperparameters, input: &BondsInput<'_>) -> BondsUpdate {
    let n = input.incentive.len();
    let mut bonds = load(input, I32F32::from_num);
    sparse::col_normalize(&mut bonds, n);
    let mut delta = sparse::scale_rows(input.weights_for_bonds, input.active_stake);
    sparse::col_normalize(&mut delta, n);
    let mut ema = sparse::ema(&delta, &bonds, fixed_alpha(params.bonds_moving_average));
    sparse::col_normalize(&mut ema, n);
    let mut dividends = sparse::row_dot(&ema, input.incentive);
    normalize(&mut dividends);
    sparse::col_max_upscale(&mut ema, n);
    BondsUpdate {
        stored: quantise(&ema),
        dividends,
    }
}

/// Yuma 3: `B ← clamp((1 − α) B + α W̃)` with a fixed or liquid α, and
/// `D = norm(S ∘ Σ_j col_norm(B)_ij I_j)`; bonds stored as proportions.
pub fn yuma3(params: &Hyperparameters, input: &BondsInput<'_>) -> BondsUpdate {
    let n = input.incentive.len();
    let bonds = load(input, u16_proportion);
    let consensus_set = input.consensus.iter().any(|c| *c != ZERO);
    let ema = match params.liquid_alpha {
        Some(liquid) if consensus_set => {
            let curve = LiquidCurve::new(liquid);
            sparse::ema_per_entry(input.weights_for_bonds, &bonds, |j, w, b| {
                curve.alpha(input.consensus[j as usize], w, b)
            })
        }
        _ => sparse::ema(
            input.weights_for_bonds,
            &bonds,
            fixed_alpha(params.bonds_moving_average),
        ),
    };
    let mut shares = ema.clone();
    sparse::col_normalize(&mut shares, n);
    let per_validator = sparse::row_dot_or_zero(&shares, input.incentive);
    let mut dividends: Vec<I32F32> = per_validator
        .iter()
        .zip(input.active_stake)
        .map(|(b, s)| mul_or_zero(*b, *s))
        .collect();
    normalize(&mut dividends);
    BondsUpdate {
        stored: quantise(&ema),
        dividends,
    }
}

/// Liquid alpha's sigmoid, with its constants converted once.
struct LiquidCurve {
    low: I32F32,
    high: I32F32,
    /// `steepness / −100`, the factor in front of `(diff − ½)`.
    slope: I32F32,
}

impl LiquidCurve {
    fn new(liquid: LiquidAlpha) -> Self {
        Self {
            low: u16_proportion(liquid.low_u16),
            high: u16_proportion(liquid.high_u16),
            slope: I32F32::from_num(liquid.steepness).saturating_div(I32F32::from_num(-100)),
        }
    }

    /// α for one pair: far above consensus (when buying) or far below the
    /// held bond (when selling) moves α towards `high`.
    fn alpha(&self, consensus: I32F32, weight: I32F32, bond: I32F32) -> I32F32 {
        let diff = if weight >= bond {
            weight.saturating_sub(consensus).clamp(ZERO, ONE)
        } else {
            bond.saturating_sub(weight).clamp(ZERO, ONE)
        };
        let half = I32F32::from_bits(1 << 31);
        let exponent = self.slope.saturating_mul(diff.saturating_sub(half));
        let sigmoid = one_over(ONE.saturating_add(exp_clamped(exponent)));
        let alpha = self
            .low
            .saturating_add(sigmoid.saturating_mul(self.high.saturating_sub(self.low)));
        alpha.min(self.high).max(self.low)
    }
}
