//! Consensus: the κ-stake-weighted median of each column.
//!
//! The reference finds it with a deterministic quickselect. That search
//! returns exactly the smallest score `v` whose cumulative stake (stake on
//! scores `<= v`) exceeds the minority `Σstake − κ`, or the largest score
//! when none does: the partition sums it compares are exact in fixed point.
//! Computing that definition directly lets each column look only at the
//! validators that weight it; everyone else shares one zero-score group.

use crate::fixed::{I32F32, ZERO, normalize, sum};
use crate::sparse::Row;

/// Consensus per column of `weights`, over validators with positive stake.
pub fn weighted_median_cols(
    stake: &[I32F32],
    weights: &[Row],
    n: usize,
    kappa: I32F32,
) -> Vec<I32F32> {
    // The reference renormalises the positive stakes before the search.
    let mut voters: Vec<(usize, I32F32)> = stake
        .iter()
        .enumerate()
        .filter(|(_, s)| **s > ZERO)
        .map(|(i, s)| (i, *s))
        .collect();
    if voters.is_empty() {
        return vec![ZERO; n];
    }
    let mut shares: Vec<I32F32> = voters.iter().map(|v| v.1).collect();
    normalize(&mut shares);
    for (v, s) in voters.iter_mut().zip(&shares) {
        v.1 = *s;
    }
    let total = sum(shares.iter().copied());
    let minority = total.saturating_sub(kappa);

    // Transpose the voters' positive scores into per-column lists.
    let mut columns: Vec<Vec<(I32F32, I32F32)>> = vec![Vec::new(); n];
    for &(i, share) in &voters {
        for &(j, w) in &weights[i] {
            if w > ZERO {
                columns[j as usize].push((w, share));
            }
        }
    }
    columns
        .iter_mut()
        .map(|col| column_median(col, voters.len(), total, minority))
        .collect()
}

/// Median of one column given its positive `(score, stake)` entries; the
/// other `voters - col.len()` voters score zero.
fn column_median(
    col: &mut [(I32F32, I32F32)],
    voters: usize,
    total: I32F32,
    minority: I32F32,
) -> I32F32 {
    let mut cumulative = ZERO;
    if col.len() < voters {
        // Exact: every sum here is a sum of fixed-point values in [0, 1].
        cumulative = total.saturating_sub(sum(col.iter().map(|e| e.1)));
        if cumulative > minority {
            return ZERO;
        }
    }
    col.sort_unstable_by_key(|e| e.0);
    let mut k = 0;
    while k < col.len() {
        let score = col[k].0;
        while k < col.len() && col[k].0 == score {
            cumulative = cumulative.saturating_add(col[k].1);
            k += 1;
        }
        if cumulative > minority {
            return score;
        }
    }
    col.last().map_or(ZERO, |e| e.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I32F32 {
        I32F32::from_num(x)
    }

    /// The reference's quickselect, written plainly, to check the direct
    /// definition against on random inputs.
    fn quickselect(stake: &[I32F32], score: &[I32F32], minority: I32F32, total: I32F32) -> I32F32 {
        let mut part: Vec<usize> = (0..stake.len()).collect();
        let (mut lo, mut hi) = (ZERO, total);
        loop {
            match part.len() {
                0 => return ZERO,
                1 => return score[part[0]],
                _ => {}
            }
            let pivot = score[part[part.len() / 2]];
            let (mut lower, mut upper) = (Vec::new(), Vec::new());
            let (mut lo_s, mut hi_s) = (ZERO, ZERO);
            for &i in &part {
                if score[i] < pivot {
                    lo_s += stake[i];
                    lower.push(i);
                } else if score[i] > pivot {
                    hi_s += stake[i];
                    upper.push(i);
                }
            }
            if minority < lo + lo_s && !lower.is_empty() {
                hi = lo + lo_s;
                part = lower;
            } else if hi - hi_s <= minority && !upper.is_empty() {
                lo = hi - hi_s;
                part = upper;
            } else {
                return pivot;
            }
        }
    }

    #[test]
    fn majority_decides() {
        let stake = [f(0.25), f(0.25), f(0.5)];
        let weights = vec![vec![(0, f(0.1))], vec![(0, f(0.2))], vec![(0, f(0.3))]];
        // κ of the stake must weight at or above the consensus value.
        assert_eq!(
            weighted_median_cols(&stake, &weights, 1, f(0.5)),
            vec![f(0.3)]
        );
        assert_eq!(
            weighted_median_cols(&stake, &weights, 1, f(0.7)),
            vec![f(0.2)]
        );
        assert_eq!(
            weighted_median_cols(&stake, &weights, 1, f(0.8)),
            vec![f(0.1)]
        );
    }

    #[test]
    fn unweighted_columns_are_zero() {
        let stake = [f(0.25), f(0.75)];
        let weights = vec![vec![(1, f(1.0))], vec![]];
        assert_eq!(
            weighted_median_cols(&stake, &weights, 2, f(0.5)),
            vec![ZERO, ZERO]
        );
        // Half the stake is enough when κ is just under one half.
        let stake = [f(0.5), f(0.5)];
        let kappa = I32F32::from_num(32_767) / I32F32::from_num(65_535);
        assert_eq!(
            weighted_median_cols(&stake, &weights, 2, kappa),
            vec![ZERO, f(1.0)]
        );
    }

    proptest::proptest! {
        #[test]
        fn matches_the_reference_quickselect(
            cells in proptest::collection::vec((1u32..1000, 0u32..6), 1..24),
            kappa in 0u32..=1000,
        ) {
            let raw: Vec<I32F32> = cells.iter().map(|c| I32F32::from_num(c.0)).collect();
            let mut stake = raw.clone();
            normalize(&mut stake);
            let score: Vec<I32F32> = cells.iter().map(|c| I32F32::from_num(c.1) / 5).collect();
            let kappa = I32F32::from_num(kappa) / 1000;
            let weights: Vec<Row> = score.iter().map(|s| if *s > ZERO { vec![(0, *s)] } else { vec![] }).collect();
            let got = weighted_median_cols(&stake, &weights, 1, kappa)[0];
            let mut shares = stake.clone();
            normalize(&mut shares);
            let total = sum(shares.iter().copied());
            let want = quickselect(&shares, &score, total.saturating_sub(kappa), total);
            proptest::prop_assert_eq!(got, want);
        }
    }
}
