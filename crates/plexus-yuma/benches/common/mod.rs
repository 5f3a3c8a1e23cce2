//! Deterministic synthetic subnets shared by the benchmarks.

use plexus_yuma::{BondsModel, EpochInput, EpochOutput, Hyperparameters, LiquidAlpha, epoch};

/// A subnet state with bonds from one earlier epoch already in place.
pub struct Subnet {
    pub stake: Vec<u64>,
    permits: Vec<bool>,
    weights: Vec<Vec<(u16, u16)>>,
    bonds: Vec<Vec<(u16, u16)>>,
    params: Hyperparameters,
}

/// Deterministic xorshift, so every run measures the same input.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

pub fn subnet(n: usize, validators: usize, per_row: usize, model: BondsModel) -> Subnet {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let stake = (0..n)
        .map(|i| {
            if i < validators {
                1_000_000_000_000 + rng.next() % 1_000_000_000_000
            } else {
                0
            }
        })
        .collect();
    let weights = (0..n)
        .map(|i| {
            if i >= validators {
                return Vec::new();
            }
            let mut cols: Vec<u16> = if per_row >= n - validators {
                (validators..n).map(|j| j as u16).collect()
            } else {
                let mut c: Vec<u16> = (0..per_row)
                    .map(|_| (validators + rng.next() as usize % (n - validators)) as u16)
                    .collect();
                c.sort_unstable();
                c.dedup();
                c
            };
            cols.sort_unstable();
            cols.into_iter()
                .map(|j| (j, 1 + (rng.next() % 65_535) as u16))
                .collect()
        })
        .collect();
    let liquid_alpha = (model == BondsModel::Yuma3).then_some(LiquidAlpha::DEFAULT);
    let params = Hyperparameters {
        bonds_model: model,
        max_allowed_validators: validators as u16,
        liquid_alpha,
        ..Hyperparameters::default()
    };
    let mut s = Subnet {
        stake,
        permits: vec![true; n],
        weights,
        bonds: vec![Vec::new(); n],
        params,
    };
    let first = run(&s);
    s.bonds = first.bonds;
    s.permits = first.new_validator_permits;
    s
}

pub fn run(s: &Subnet) -> EpochOutput {
    let n = s.stake.len();
    let active = vec![true; n];
    let nobody = vec![false; n];
    let input = EpochInput {
        stake: &s.stake,
        active: &active,
        validator_permits: &s.permits,
        weights: &s.weights,
        bonds: &s.bonds,
        recently_registered: &nobody,
        weight_ages: None,
        owner_uid: None,
        emission: 1_000_000_000,
    };
    match epoch(&s.params, &input) {
        Ok(out) => out,
        Err(e) => unreachable!("bench input is valid: {e}"),
    }
}
