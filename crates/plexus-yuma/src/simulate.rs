//! Multi-epoch simulations from case files.
//!
//! A case gives a subnet's stake, permits, initial bonds and the weights set
//! before each epoch; the simulation runs the epochs in turn, carrying bonds
//! and permits from one to the next exactly as the chain stores them. The
//! format is the one of the reference golden cases (`tests/data`), so subnet
//! owners can tune hyperparameters on the same scenarios.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{BondsModel, EpochError, EpochInput, Hyperparameters, LiquidAlpha, epoch};

/// One scenario: a subnet and the weights its validators set, epoch by epoch.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// Short name.
    pub name: String,
    /// What the case shows.
    #[serde(default)]
    pub description: String,
    /// The subnet and its weights.
    pub inputs: CaseInputs,
}

/// A case's inputs. UIDs `0..num_validators` are validators, the rest miners.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseInputs {
    /// Number of UIDs.
    pub n: usize,
    /// Number of validators (the first UIDs).
    pub num_validators: usize,
    /// Hyperparameters and the emission per epoch.
    pub params: CaseParams,
    /// Stake of each UID in base units, constant across epochs.
    pub stake: Vec<u64>,
    /// Permits going into the first epoch.
    pub validator_permits: Vec<bool>,
    /// UIDs that count as inactive in every epoch.
    #[serde(default)]
    pub inactive: Option<Vec<bool>>,
    /// UIDs registered just before the first epoch (their bonds are dropped then).
    #[serde(default)]
    pub recently_registered: Option<Vec<bool>>,
    /// Stored bonds going into the first epoch, validator rows, `n` long.
    pub initial_bonds_u16: Vec<Vec<u16>>,
    /// Weights set before each epoch: validator rows, `n` long, row-max-upscaled.
    pub weights_u16_per_epoch: Vec<Vec<Vec<u16>>>,
}

/// Hyperparameters in the case format.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseParams {
    /// `yuma2` (classic bonds) or `yuma3`.
    pub variant: Variant,
    /// κ as `value / 65535`.
    pub kappa_u16: u16,
    /// Bonds penalty β as `value / 65535`.
    pub bonds_penalty_u16: u16,
    /// Bonds moving average, per million.
    pub bonds_moving_average: u64,
    /// Whether liquid alpha is on (Yuma 3 only).
    #[serde(default)]
    pub liquid_alpha: bool,
    /// Liquid alpha's lower bound as `value / 65535`.
    #[serde(default = "default_alpha_low")]
    pub alpha_low_u16: u16,
    /// Liquid alpha's upper bound as `value / 65535`.
    #[serde(default = "default_alpha_high")]
    pub alpha_high_u16: u16,
    /// Liquid alpha's sigmoid steepness.
    #[serde(default = "default_steepness")]
    pub alpha_sigmoid_steepness: i16,
    /// Permits go to at most this many top stakes.
    pub max_allowed_validators: u16,
    /// Stake threshold in base units.
    #[serde(default)]
    pub min_stake: u64,
    /// Emission handed to each epoch, in base units.
    pub rao_emission: u64,
}

fn default_alpha_low() -> u16 {
    LiquidAlpha::DEFAULT.low_u16
}
fn default_alpha_high() -> u16 {
    LiquidAlpha::DEFAULT.high_u16
}
fn default_steepness() -> i16 {
    LiquidAlpha::DEFAULT.steepness
}

/// The bonds model, named as in the case format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Classic Yuma bonds.
    Yuma2,
    /// Yuma 3 bonds.
    Yuma3,
}

impl CaseParams {
    /// The epoch hyperparameters these stand for.
    pub fn hyperparameters(&self) -> Hyperparameters {
        let bonds_model = match self.variant {
            Variant::Yuma2 => BondsModel::Classic,
            Variant::Yuma3 => BondsModel::Yuma3,
        };
        Hyperparameters {
            bonds_model,
            kappa_u16: self.kappa_u16,
            bonds_penalty_u16: self.bonds_penalty_u16,
            bonds_moving_average: self.bonds_moving_average,
            liquid_alpha: self.liquid_alpha.then_some(LiquidAlpha {
                low_u16: self.alpha_low_u16,
                high_u16: self.alpha_high_u16,
                steepness: self.alpha_sigmoid_steepness,
            }),
            max_allowed_validators: self.max_allowed_validators,
            min_stake: self.min_stake,
        }
    }
}

/// The results of one simulated case.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// One report per epoch, in order.
    pub epochs: Vec<EpochReport>,
}

/// One epoch's inputs carried in and everything it decided; field names and
/// meanings are the reference's.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EpochReport {
    /// Epoch index from zero.
    pub epoch: usize,
    /// Stake of each UID in base units.
    pub stake_rao: Vec<u64>,
    /// Permits going into the epoch.
    pub input_validator_permits: Vec<bool>,
    /// Stored bonds going into the epoch, validator rows.
    pub input_bonds_u16: Vec<Vec<u16>>,
    /// Normalised stake.
    pub stake_weight_u16: Vec<u16>,
    /// Consensus.
    pub consensus_u16: Vec<u16>,
    /// Validator trust.
    pub validator_trust_u16: Vec<u16>,
    /// Incentive.
    pub incentive_u16: Vec<u16>,
    /// Dividends.
    pub dividends_u16: Vec<u16>,
    /// Rank (legacy): stake-weighted clipped weight before normalisation.
    pub ranks_u16: Vec<u16>,
    /// Trust (legacy): rank over the unclipped stake-weighted weight.
    pub trust_u16: Vec<u16>,
    /// Stored bonds after the epoch, validator rows.
    pub new_bonds_u16: Vec<Vec<u16>>,
    /// Permits after the epoch.
    pub new_validator_permits: Vec<bool>,
    /// Miner emission in base units.
    pub server_emission_rao: Vec<u64>,
    /// Validator emission in base units.
    pub validator_emission_rao: Vec<u64>,
    /// Combined emission in base units.
    pub combined_emission_rao: Vec<u64>,
}

/// Why a case file could not be simulated. Each message names the field.
#[derive(Debug, Error)]
pub enum CaseError {
    /// The file is not JSON.
    #[error("not valid JSON: {0}")]
    Syntax(String),
    /// A field is missing or has the wrong type or range.
    #[error("{path}: {message}")]
    Field {
        /// Where, as `cases[1].inputs.stake[3]`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The epoch refused its input.
    #[error("{path}: epoch {epoch}: {source}")]
    Epoch {
        /// The case, as `cases[1]`.
        path: String,
        /// The epoch index.
        epoch: usize,
        /// The epoch's own error.
        source: EpochError,
    },
}

/// Reads a case file: either one case, or `{"cases": [...]}`. Each case
/// comes with where it stands in the file (`cases[1]`, or `case`), the
/// prefix its errors carry.
pub fn parse_cases(text: &str) -> Result<Vec<(String, Case)>, CaseError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CaseError::Syntax(e.to_string()))?;
    let labelled: Vec<(String, Case)> = if value.get("cases").is_some() {
        #[derive(Deserialize)]
        struct File {
            cases: Vec<Case>,
        }
        let file: File = deserialize_at(&value)?;
        file.cases
            .into_iter()
            .enumerate()
            .map(|(k, c)| (format!("cases[{k}]"), c))
            .collect()
    } else {
        vec![("case".to_string(), deserialize_at::<Case>(&value)?)]
    };
    for (path, case) in &labelled {
        validate(case, path)?;
    }
    Ok(labelled)
}

fn deserialize_at<T: for<'de> Deserialize<'de>>(value: &serde_json::Value) -> Result<T, CaseError> {
    serde_path_to_error::deserialize(value).map_err(|e| CaseError::Field {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

fn field(path: &str, name: &str, message: String) -> CaseError {
    CaseError::Field {
        path: format!("{path}.inputs.{name}"),
        message,
    }
}

fn check_len(
    path: &str,
    name: &str,
    found: usize,
    expected: usize,
    what: &str,
) -> Result<(), CaseError> {
    if found == expected {
        Ok(())
    } else {
        Err(field(
            path,
            name,
            format!("has {found} entries, expected {expected} ({what})"),
        ))
    }
}

fn validate(case: &Case, path: &str) -> Result<(), CaseError> {
    let i = &case.inputs;
    if i.n == 0 || i.n > usize::from(u16::MAX) + 1 {
        return Err(field(
            path,
            "n",
            format!("{} UIDs; must be 1 to 65536", i.n),
        ));
    }
    if i.num_validators > i.n {
        return Err(field(
            path,
            "num_validators",
            format!("{} exceeds n = {}", i.num_validators, i.n),
        ));
    }
    check_len(path, "stake", i.stake.len(), i.n, "n")?;
    check_len(
        path,
        "validator_permits",
        i.validator_permits.len(),
        i.n,
        "n",
    )?;
    for (name, mask) in [
        ("inactive", &i.inactive),
        ("recently_registered", &i.recently_registered),
    ] {
        if let Some(mask) = mask {
            check_len(path, name, mask.len(), i.n, "n")?;
        }
    }
    let rows = i.num_validators;
    check_len(
        path,
        "initial_bonds_u16",
        i.initial_bonds_u16.len(),
        rows,
        "num_validators rows",
    )?;
    for (r, row) in i.initial_bonds_u16.iter().enumerate() {
        check_len(
            path,
            &format!("initial_bonds_u16[{r}]"),
            row.len(),
            i.n,
            "n",
        )?;
    }
    if i.weights_u16_per_epoch.is_empty() {
        return Err(field(
            path,
            "weights_u16_per_epoch",
            "lists no epoch; give at least one".into(),
        ));
    }
    for (e, epoch) in i.weights_u16_per_epoch.iter().enumerate() {
        let name = format!("weights_u16_per_epoch[{e}]");
        check_len(path, &name, epoch.len(), rows, "num_validators rows")?;
        for (r, row) in epoch.iter().enumerate() {
            check_len(path, &format!("{name}[{r}]"), row.len(), i.n, "n")?;
        }
    }
    Ok(())
}

fn to_sparse(row: &[u16]) -> Vec<(u16, u16)> {
    (0u16..)
        .zip(row.iter().copied())
        .filter(|e| e.1 > 0)
        .collect()
}

fn to_dense(row: &[(u16, u16)], n: usize) -> Vec<u16> {
    let mut out = vec![0; n];
    for &(j, v) in row {
        out[usize::from(j)] = v;
    }
    out
}

/// Runs every epoch of a case; `path` names the case in errors.
pub fn run_case(case: &Case, path: &str) -> Result<CaseReport, CaseError> {
    let i = &case.inputs;
    let n = i.n;
    let params = i.params.hyperparameters();
    let active: Vec<bool> = match &i.inactive {
        Some(mask) => mask.iter().map(|x| !x).collect(),
        None => vec![true; n],
    };
    let nobody = vec![false; n];
    let mut permits = i.validator_permits.clone();
    let mut bonds: Vec<Vec<(u16, u16)>> = vec![Vec::new(); n];
    for (row, dense) in bonds.iter_mut().zip(&i.initial_bonds_u16) {
        *row = to_sparse(dense);
    }
    let mut epochs = Vec::with_capacity(i.weights_u16_per_epoch.len());
    for (e, epoch_weights) in i.weights_u16_per_epoch.iter().enumerate() {
        let mut weights: Vec<Vec<(u16, u16)>> = vec![Vec::new(); n];
        for (row, dense) in weights.iter_mut().zip(epoch_weights) {
            *row = to_sparse(dense);
        }
        let recently_registered = match (&i.recently_registered, e) {
            (Some(mask), 0) => mask.as_slice(),
            _ => nobody.as_slice(),
        };
        let input = EpochInput {
            stake: &i.stake,
            active: &active,
            validator_permits: &permits,
            weights: &weights,
            bonds: &bonds,
            recently_registered,
            weight_ages: None,
            owner_uid: None,
            emission: i.params.rao_emission,
        };
        let out = epoch(&params, &input).map_err(|source| CaseError::Epoch {
            path: path.to_string(),
            epoch: e,
            source,
        })?;
        let validator_rows = |b: &[Vec<(u16, u16)>]| {
            b[..i.num_validators]
                .iter()
                .map(|r| to_dense(r, n))
                .collect()
        };
        epochs.push(EpochReport {
            epoch: e,
            stake_rao: i.stake.clone(),
            input_validator_permits: permits.clone(),
            input_bonds_u16: validator_rows(&bonds),
            stake_weight_u16: out.stake_weight,
            consensus_u16: out.consensus,
            validator_trust_u16: out.validator_trust,
            incentive_u16: out.incentive,
            dividends_u16: out.dividends,
            ranks_u16: out.rank,
            trust_u16: out.trust,
            new_bonds_u16: validator_rows(&out.bonds),
            new_validator_permits: out.new_validator_permits.clone(),
            server_emission_rao: out.server_emission,
            validator_emission_rao: out.validator_emission,
            combined_emission_rao: out.combined_emission,
        });
        permits = out.new_validator_permits;
        bonds = out.bonds;
    }
    Ok(CaseReport {
        name: case.name.clone(),
        epochs,
    })
}

/// Parses a case file and runs every case in it.
pub fn simulate(text: &str) -> Result<Vec<CaseReport>, CaseError> {
    parse_cases(text)?
        .iter()
        .map(|(path, case)| run_case(case, path))
        .collect()
}
