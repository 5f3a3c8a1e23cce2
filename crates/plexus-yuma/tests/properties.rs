//! Invariants of the epoch over random subnets: normalisation, symmetry
//! under relabelling UIDs, who may earn what, and conservation of emission.

#![allow(clippy::expect_used)] // a test helper that fails should fail loudly

use plexus_yuma::{BondsModel, EpochInput, EpochOutput, Hyperparameters, LiquidAlpha, epoch};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Subnet {
    stake: Vec<u64>,
    active: Vec<bool>,
    permits: Vec<bool>,
    weights: Vec<Vec<(u16, u16)>>,
    bonds: Vec<Vec<(u16, u16)>>,
    recent: Vec<bool>,
    params: Hyperparameters,
    emission: u64,
}

impl Subnet {
    fn run(&self) -> EpochOutput {
        let input = EpochInput {
            stake: &self.stake,
            active: &self.active,
            validator_permits: &self.permits,
            weights: &self.weights,
            bonds: &self.bonds,
            recently_registered: &self.recent,
            weight_ages: None,
            owner_uid: None,
            emission: self.emission,
        };
        epoch(&self.params, &input).expect("generated input is valid")
    }

    /// The same subnet with UID `i` renamed `perm[i]`.
    fn relabel(&self, perm: &[usize]) -> Subnet {
        let n = perm.len();
        let move_vec = |v: &[bool]| {
            let mut out = vec![false; n];
            for (i, x) in v.iter().enumerate() {
                out[perm[i]] = *x;
            }
            out
        };
        let move_rows = |rows: &[Vec<(u16, u16)>]| {
            let mut out = vec![Vec::new(); n];
            for (i, row) in rows.iter().enumerate() {
                let mut r: Vec<(u16, u16)> = row
                    .iter()
                    .map(|&(j, v)| (perm[j as usize] as u16, v))
                    .collect();
                r.sort_unstable();
                out[perm[i]] = r;
            }
            out
        };
        let mut stake = vec![0; n];
        for (i, s) in self.stake.iter().enumerate() {
            stake[perm[i]] = *s;
        }
        Subnet {
            stake,
            active: move_vec(&self.active),
            permits: move_vec(&self.permits),
            weights: move_rows(&self.weights),
            bonds: move_rows(&self.bonds),
            recent: move_vec(&self.recent),
            params: self.params,
            emission: self.emission,
        }
    }
}

fn sparse_rows(n: usize, rows: usize) -> impl Strategy<Value = Vec<Vec<(u16, u16)>>> {
    prop::collection::vec(
        prop::collection::btree_map(0..n as u16, 0u16..=u16::MAX, 0..=n),
        rows..=rows,
    )
    .prop_map(move |maps| {
        let mut out: Vec<Vec<(u16, u16)>> =
            maps.into_iter().map(|m| m.into_iter().collect()).collect();
        out.resize(n, Vec::new());
        out
    })
}

fn params() -> impl Strategy<Value = Hyperparameters> {
    (
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        0u64..=1_000_000,
        any::<bool>(),
        1u16..64,
    )
        .prop_map(
            |(yuma3, kappa, penalty, bma, liquid, max_validators)| Hyperparameters {
                bonds_model: if yuma3 {
                    BondsModel::Yuma3
                } else {
                    BondsModel::Classic
                },
                kappa_u16: kappa,
                bonds_penalty_u16: penalty,
                bonds_moving_average: bma,
                liquid_alpha: liquid.then_some(LiquidAlpha::DEFAULT),
                max_allowed_validators: max_validators,
                min_stake: 0,
            },
        )
}

fn subnet() -> impl Strategy<Value = Subnet> {
    (2usize..24).prop_flat_map(|n| {
        (1..=n).prop_flat_map(move |validators| {
            (
                // Distinct stakes keep permit selection free of index tie-breaks.
                prop::collection::btree_set(1u64..1_000_000_000_000_000, validators..=validators),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(any::<bool>(), n),
                sparse_rows(n, validators),
                sparse_rows(n, validators),
                params(),
                0u64..=1_000_000_000_000,
            )
                .prop_map(
                    move |(stakes, inactive, permits, weights, bonds, params, emission)| {
                        let mut stake: Vec<u64> = stakes.into_iter().collect();
                        stake.resize(n, 0);
                        Subnet {
                            stake,
                            active: inactive.iter().map(|x| !x).collect(),
                            permits,
                            weights,
                            bonds,
                            recent: vec![false; n],
                            params,
                            emission,
                        }
                    },
                )
        })
    })
}

fn total(v: &[u16]) -> u64 {
    v.iter().map(|x| u64::from(*x)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn scores_are_normalised(s in subnet()) {
        let out = s.run();
        let n = s.stake.len() as u64;
        for (name, v) in [("incentive", &out.incentive), ("dividends", &out.dividends)] {
            let t = total(v);
            // Each entry is truncated once; a non-zero vector sums to one.
            prop_assert!(t == 0 || (65_535 - n..=65_535).contains(&t), "{name} sums to {t}");
        }
    }

    #[test]
    fn emission_is_conserved(s in subnet()) {
        let out = s.run();
        let n = s.stake.len() as u64;
        let paid: u64 = out.server_emission.iter().chain(&out.validator_emission).sum();
        prop_assert!(paid <= s.emission, "paid {paid} of {}", s.emission);
        // Each share loses under one unit to truncation, plus I32F32 rounding.
        let rounding = n * (1 + s.emission / (1u64 << 31));
        let someone_eligible = out.stake_weight.iter().any(|w| *w > 0);
        if someone_eligible {
            prop_assert!(s.emission - paid <= rounding, "paid {paid} of {}", s.emission);
        }
    }

    #[test]
    fn relabelling_uids_relabels_outputs(s in subnet(), seed in any::<u64>()) {
        let n = s.stake.len();
        let mut perm: Vec<usize> = (0..n).collect();
        let mut x = seed | 1;
        for i in (1..n).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            perm.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = s.run();
        let b = s.relabel(&perm).run();
        for i in 0..n {
            let j = perm[i];
            prop_assert_eq!(a.consensus[i], b.consensus[j]);
            prop_assert_eq!(a.incentive[i], b.incentive[j]);
            prop_assert_eq!(a.dividends[i], b.dividends[j]);
            prop_assert_eq!(a.validator_trust[i], b.validator_trust[j]);
            prop_assert_eq!(a.server_emission[i], b.server_emission[j]);
            prop_assert_eq!(a.validator_emission[i], b.validator_emission[j]);
            prop_assert_eq!(a.new_validator_permits[i], b.new_validator_permits[j]);
            let mut moved: Vec<(u16, u16)> = a.bonds[i].iter().map(|&(c, v)| (perm[c as usize] as u16, v)).collect();
            moved.sort_unstable();
            prop_assert_eq!(&moved, &b.bonds[j]);
        }
    }

    #[test]
    fn a_miner_nobody_weights_earns_no_incentive(mut s in subnet(), pick in any::<prop::sample::Index>()) {
        let j = pick.index(s.stake.len()) as u16;
        for row in s.weights.iter_mut() {
            row.retain(|e| e.0 != j);
        }
        let out = s.run();
        prop_assert_eq!(out.incentive[j as usize], 0);
        prop_assert_eq!(out.consensus[j as usize], 0);
        prop_assert_eq!(out.server_emission[j as usize], 0);
    }

    /// A UID without stake or permit holds no bonds on chain (its row is
    /// cleared the epoch it loses its permit), so it earns no dividends. In
    /// Yuma 3 dividends also scale with active stake, so even bonds left
    /// over earn nothing.
    #[test]
    fn a_validator_without_stake_or_permit_earns_no_dividends(
        mut s in subnet(),
        pick in any::<prop::sample::Index>(),
        by_stake in any::<bool>(),
    ) {
        let i = pick.index(s.stake.len());
        if by_stake { s.stake[i] = 0 } else { s.permits[i] = false }
        let yuma3 = s.params.bonds_model == BondsModel::Yuma3;
        if !yuma3 {
            s.bonds[i].clear();
        }
        let out = s.run();
        prop_assert_eq!(out.dividends[i], 0);
        // Without any incentive or dividends the epoch pays validators by stake.
        if out.incentive.iter().chain(&out.dividends).any(|x| *x > 0) {
            prop_assert_eq!(out.validator_emission[i], 0);
        }
    }

    /// A validator whose stake is gone loses its permit and its bonds at the
    /// next epoch, and earns no dividends from then on.
    #[test]
    fn losing_stake_ends_dividends_after_one_epoch(mut s in subnet(), pick in any::<prop::sample::Index>()) {
        let i = pick.index(s.stake.len());
        s.stake[i] = 0;
        s.permits[i] = true;
        let first = s.run();
        prop_assert!(!first.new_validator_permits[i]);
        prop_assert!(first.bonds[i].is_empty());
        s.permits = first.new_validator_permits;
        s.bonds = first.bonds;
        let second = s.run();
        prop_assert_eq!(second.dividends[i], 0);
    }

    #[test]
    fn the_same_input_gives_the_same_output(s in subnet()) {
        prop_assert_eq!(s.run(), s.run());
    }
}

#[test]
fn malformed_input_is_refused_with_a_typed_error() {
    let stake = [1, 2];
    let flags = [true, true];
    let rows = vec![vec![(1, 5)], vec![]];
    let good = EpochInput {
        stake: &stake,
        active: &flags,
        validator_permits: &flags,
        weights: &rows,
        bonds: &rows,
        recently_registered: &[false, false],
        weight_ages: None,
        owner_uid: None,
        emission: 10,
    };
    let params = Hyperparameters::default();
    assert!(epoch(&params, &good).is_ok());
    let short = [true];
    let e = epoch(
        &params,
        &EpochInput {
            active: &short,
            ..good
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        plexus_yuma::EpochError::LengthMismatch {
            field: "active",
            expected: 2,
            found: 1
        }
    );
    let out_of_range = vec![vec![(7, 5)], vec![]];
    let e = epoch(
        &params,
        &EpochInput {
            weights: &out_of_range,
            ..good
        },
    )
    .unwrap_err();
    assert!(matches!(
        e,
        plexus_yuma::EpochError::ColumnOutOfRange {
            field: "weights",
            row: 0,
            column: 7,
            ..
        }
    ));
    let unsorted = vec![vec![(1, 5), (0, 1)], vec![]];
    let e = epoch(
        &params,
        &EpochInput {
            bonds: &unsorted,
            ..good
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        plexus_yuma::EpochError::UnsortedRow {
            field: "bonds",
            row: 0
        }
    );
}
