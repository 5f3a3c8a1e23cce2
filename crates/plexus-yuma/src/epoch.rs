//! One Yuma Consensus epoch over a subnet's state.

use thiserror::Error;

use crate::bonds::{self, BondsInput};
use crate::fixed::{
    I32F32, I64F64, I96F32, ZERO, div_or_zero, normalize, normalize_by, normalize_stake,
    proportion_to_u16, sum, top_k_nonzero, u16_proportion,
};
use crate::median::weighted_median_cols;
use crate::params::{BondsModel, Hyperparameters};
use crate::sparse::{self, Row};

/// When each UID last set weights and when each was registered: a weight
/// `i → j` set before `j` was (re)registered no longer counts.
#[derive(Clone, Copy, Debug)]
pub struct WeightAges<'a> {
    /// Block of each UID's last weights update.
    pub last_update: &'a [u64],
    /// Block at which each UID was registered.
    pub registered_at: &'a [u64],
}

/// A subnet's state going into an epoch; every slice is indexed by UID.
#[derive(Clone, Copy, Debug)]
pub struct EpochInput<'a> {
    /// Stake weight of each UID in base units.
    pub stake: &'a [u64],
    /// UIDs that set weights recently enough to count.
    pub active: &'a [bool],
    /// Validator permits held going into the epoch.
    pub validator_permits: &'a [bool],
    /// Stored weight rows: `(uid, weight)` sorted by uid, row-max-upscaled u16.
    pub weights: &'a [Vec<(u16, u16)>],
    /// Stored bond rows: `(uid, bond)` sorted by uid, as the epoch stored them.
    pub bonds: &'a [Vec<(u16, u16)>],
    /// UIDs registered since the last epoch: bonds on them are dropped.
    pub recently_registered: &'a [bool],
    /// Optional mask of weights older than the registration they point at.
    pub weight_ages: Option<WeightAges<'a>>,
    /// The subnet owner's UID: keeps its permit, its self-weight and its
    /// stake below the threshold.
    pub owner_uid: Option<u16>,
    /// Base units to distribute.
    pub emission: u64,
}

/// What an epoch decides, per UID, quantised as the chain stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochOutput {
    /// Normalised stake weight, `trunc(x * 65535)`.
    pub stake_weight: Vec<u16>,
    /// Stake-weighted median weight each UID received.
    pub consensus: Vec<u16>,
    /// Share of each validator's weight that agreed with consensus.
    pub validator_trust: Vec<u16>,
    /// Miner score: normalised stake-weighted clipped weight received.
    pub incentive: Vec<u16>,
    /// Stake-weighted clipped weight received, before normalisation.
    pub rank: Vec<u16>,
    /// Share of the stake-weighted weight received that survived clipping.
    pub trust: Vec<u16>,
    /// Validator score: normalised bond-weighted incentive.
    pub dividends: Vec<u16>,
    /// Permits held after the epoch (the top stakes).
    pub new_validator_permits: Vec<bool>,
    /// Bond rows to store after the epoch (zero entries left out).
    pub bonds: Vec<Vec<(u16, u16)>>,
    /// Base units earned as a miner.
    pub server_emission: Vec<u64>,
    /// Base units earned as a validator.
    pub validator_emission: Vec<u64>,
    /// Base units earned in all (normalised separately, as the chain records it).
    pub combined_emission: Vec<u64>,
}

/// Why an epoch input was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EpochError {
    /// An input vector is not one entry per UID.
    #[error("{field} has {found} entries, expected {expected} (one per UID)")]
    LengthMismatch {
        /// The input at fault.
        field: &'static str,
        /// The number of UIDs.
        expected: usize,
        /// The entries given.
        found: usize,
    },
    /// More UIDs than a u16 can index.
    #[error("{0} UIDs exceed the maximum of 65536")]
    TooManyUids(usize),
    /// A sparse row names a UID that does not exist.
    #[error("{field} row {row} names UID {column}, but there are only {n} UIDs")]
    ColumnOutOfRange {
        /// The input at fault.
        field: &'static str,
        /// The row's UID.
        row: usize,
        /// The offending column.
        column: u16,
        /// The number of UIDs.
        n: usize,
    },
    /// A sparse row is not strictly increasing in UID (unsorted or duplicated).
    #[error("{field} row {row} is not sorted by UID without duplicates")]
    UnsortedRow {
        /// The input at fault.
        field: &'static str,
        /// The row's UID.
        row: usize,
    },
}

impl EpochInput<'_> {
    fn validate(&self) -> Result<usize, EpochError> {
        let n = self.stake.len();
        if n > usize::from(u16::MAX) + 1 {
            return Err(EpochError::TooManyUids(n));
        }
        let lengths = [
            ("active", self.active.len()),
            ("validator_permits", self.validator_permits.len()),
            ("weights", self.weights.len()),
            ("bonds", self.bonds.len()),
            ("recently_registered", self.recently_registered.len()),
        ];
        let ages = self.weight_ages.map_or([("", n); 2], |a| {
            [
                ("last_update", a.last_update.len()),
                ("registered_at", a.registered_at.len()),
            ]
        });
        for (field, found) in lengths.into_iter().chain(ages) {
            if found != n {
                return Err(EpochError::LengthMismatch {
                    field,
                    expected: n,
                    found,
                });
            }
        }
        for (field, rows) in [("weights", self.weights), ("bonds", self.bonds)] {
            for (row, entries) in rows.iter().enumerate() {
                if let Some(&(column, _)) = entries.iter().find(|e| usize::from(e.0) >= n) {
                    return Err(EpochError::ColumnOutOfRange {
                        field,
                        row,
                        column,
                        n,
                    });
                }
                if entries.windows(2).any(|w| w[0].0 >= w[1].0) {
                    return Err(EpochError::UnsortedRow { field, row });
                }
            }
        }
        Ok(n)
    }
}

/// Runs one epoch: consensus, incentive, bonds, dividends and the emission
/// split, exactly as the reference chain computes them.
pub fn epoch(params: &Hyperparameters, input: &EpochInput<'_>) -> Result<EpochOutput, EpochError> {
    let n = input.validate()?;
    let is_owner = |uid: usize| input.owner_uid.is_some_and(|o| usize::from(o) == uid);

    // Stake: threshold, then normalise in I64F64 before narrowing.
    let raw: Vec<I64F64> = input
        .stake
        .iter()
        .enumerate()
        .map(|(uid, &s)| {
            if s < params.min_stake && !is_owner(uid) {
                I64F64::from_bits(0)
            } else {
                I64F64::saturating_from_num(s)
            }
        })
        .collect();
    let stake = normalize_stake(&raw);

    // Permits: the owner always holds one; new ones go to the top stakes.
    let mut permits = input.validator_permits.to_vec();
    let mut new_permits = top_k_nonzero(&stake, usize::from(params.max_allowed_validators));
    if let Some(owner) = input.owner_uid.map(usize::from).filter(|o| *o < n) {
        permits[owner] = true;
        new_permits[owner] = true;
    }

    // Only active, permitted validators vote.
    let mut active_stake: Vec<I32F32> = (0..n)
        .map(|i| {
            if input.active[i] && permits[i] {
                stake[i]
            } else {
                ZERO
            }
        })
        .collect();
    normalize(&mut active_stake);

    let weights = masked_weights(input, &permits);
    let kappa = u16_proportion(params.kappa_u16);
    let consensus = weighted_median_cols(&active_stake, &weights, n, kappa);
    let clipped = sparse::col_clip(&weights, &consensus);
    let validator_trust = sparse::row_sums(&clipped);
    let rank = sparse::weighted_col_sums(&clipped, &active_stake, n);
    let prerank = sparse::weighted_col_sums(&weights, &active_stake, n);
    let trust: Vec<I32F32> = rank
        .iter()
        .zip(&prerank)
        .map(|(r, p)| div_or_zero(*r, *p))
        .collect();
    let mut incentive = rank.clone();
    normalize(&mut incentive);

    let weights_for_bonds =
        sparse::interpolate(&weights, &clipped, u16_proportion(params.bonds_penalty_u16));
    let bonds_input = BondsInput {
        stored: input.bonds,
        masked_columns: input.recently_registered,
        weights_for_bonds: &weights_for_bonds,
        active_stake: &active_stake,
        consensus: &consensus,
        incentive: &incentive,
    };
    let update = match params.bonds_model {
        BondsModel::Classic => bonds::classic(params, &bonds_input),
        BondsModel::Yuma3 => bonds::yuma3(params, &bonds_input),
    };

    // Stored bonds: rows of permit holders are replaced, rows of UIDs that
    // lost their permit are cleared, the rest are left as they were.
    let stored_bonds = update
        .stored
        .into_iter()
        .enumerate()
        .map(|(i, row)| match (new_permits[i], permits[i]) {
            (true, _) => row,
            (false, true) => Vec::new(),
            (false, false) => input.bonds[i].clone(),
        })
        .collect();

    let emission = split_emission(
        &incentive,
        &update.dividends,
        &stake,
        &active_stake,
        input.emission,
    );
    let quantise = |v: &[I32F32]| {
        v.iter()
            .map(|x| proportion_to_u16(*x))
            .collect::<Vec<u16>>()
    };
    Ok(EpochOutput {
        stake_weight: quantise(&stake),
        consensus: quantise(&consensus),
        validator_trust: quantise(&validator_trust),
        incentive: quantise(&incentive),
        rank: quantise(&rank),
        trust: quantise(&trust),
        dividends: quantise(&update.dividends),
        new_validator_permits: new_permits,
        bonds: stored_bonds,
        server_emission: emission.server,
        validator_emission: emission.validator,
        combined_emission: emission.combined,
    })
}

/// Weights that count: rows of permitted validators only, no self-weight
/// (but the owner's), none older than the registration they point at; each
/// row then normalised.
fn masked_weights(input: &EpochInput<'_>, permits: &[bool]) -> Vec<Row> {
    let owner = input.owner_uid.map(usize::from);
    let mut rows: Vec<Row> = input
        .weights
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if !permits[i] {
                return Row::new();
            }
            row.iter()
                .filter(|(j, w)| {
                    let j = usize::from(*j);
                    let self_weight = i == j && owner != Some(i);
                    let outdated = input
                        .weight_ages
                        .is_some_and(|a| a.last_update[i] <= a.registered_at[j]);
                    *w > 0 && !self_weight && !outdated
                })
                .map(|&(j, w)| (j, I32F32::from_num(w)))
                .collect()
        })
        .collect();
    sparse::row_normalize(&mut rows);
    rows
}

struct EmissionSplit {
    server: Vec<u64>,
    validator: Vec<u64>,
    combined: Vec<u64>,
}

/// Miners get `I / Σ(I + D)` and validators `D / Σ(I + D)` of the emission;
/// with no incentive or dividends at all, validators get it by stake.
fn split_emission(
    incentive: &[I32F32],
    dividends: &[I32F32],
    stake: &[I32F32],
    active_stake: &[I32F32],
    emission: u64,
) -> EmissionSplit {
    let mut combined: Vec<I32F32> = incentive
        .iter()
        .zip(dividends)
        .map(|(i, d)| i.saturating_add(*d))
        .collect();
    let total = sum(combined.iter().copied());
    let mut server = incentive.to_vec();
    let mut validator = dividends.to_vec();
    normalize_by(&mut server, total);
    normalize_by(&mut validator, total);
    normalize(&mut combined);
    if total == ZERO {
        let fallback = if sum(active_stake.iter().copied()) == ZERO {
            stake
        } else {
            active_stake
        };
        validator = fallback.to_vec();
        combined = fallback.to_vec();
    }
    let amount = I96F32::saturating_from_num(emission);
    let to_units = |v: &[I32F32]| {
        v.iter()
            .map(|x| {
                I96F32::saturating_from_num(*x)
                    .saturating_mul(amount)
                    .saturating_to_num::<u64>()
            })
            .collect::<Vec<u64>>()
    };
    EmissionSplit {
        server: to_units(&server),
        validator: to_units(&validator),
        combined: to_units(&combined),
    }
}
