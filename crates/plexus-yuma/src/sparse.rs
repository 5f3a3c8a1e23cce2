//! Sparse matrices of the epoch: one row per UID, listing only the columns
//! it sets, sorted by column.
//!
//! Each operation gives the same bits as the reference chain's dense
//! counterpart: an absent entry behaves as an exact zero, and entries that
//! come out as zero are dropped, so memory follows the number of weights set
//! rather than n².

use crate::fixed::{I32F32, ONE, ZERO, div_or_zero, mul_or_zero, sum};

/// One matrix row: `(column, value)` pairs, strictly increasing in column.
pub type Row = Vec<(u16, I32F32)>;

/// Merges two sorted rows, calling `f(column, a, b)` for every column set in
/// either (absent entries read as zero) and keeping results above zero.
pub fn merge_rows(
    a: &[(u16, I32F32)],
    b: &[(u16, I32F32)],
    mut f: impl FnMut(u16, I32F32, I32F32) -> I32F32,
) -> Row {
    let mut out = Row::with_capacity(a.len().max(b.len()));
    let (mut ia, mut ib) = (0, 0);
    while ia < a.len() || ib < b.len() {
        let ca = a.get(ia).map(|e| e.0);
        let cb = b.get(ib).map(|e| e.0);
        let (col, va, vb) = match (ca, cb) {
            (Some(x), Some(y)) if x == y => {
                ia += 1;
                ib += 1;
                (x, a[ia - 1].1, b[ib - 1].1)
            }
            (Some(x), Some(y)) if x < y => {
                ia += 1;
                (x, a[ia - 1].1, ZERO)
            }
            (Some(x), None) => {
                ia += 1;
                (x, a[ia - 1].1, ZERO)
            }
            (_, Some(y)) => {
                ib += 1;
                (y, ZERO, b[ib - 1].1)
            }
            (None, None) => break,
        };
        let v = f(col, va, vb);
        if v > ZERO {
            out.push((col, v));
        }
    }
    out
}

/// Divides each row by its sum, where the sum is positive.
pub fn row_normalize(rows: &mut [Row]) {
    for row in rows.iter_mut() {
        let total = sum(row.iter().map(|e| e.1));
        if total > ZERO {
            for e in row.iter_mut() {
                e.1 = div_or_zero(e.1, total);
            }
        }
    }
}

/// Sum of each row.
pub fn row_sums(rows: &[Row]) -> Vec<I32F32> {
    rows.iter()
        .map(|row| sum(row.iter().map(|e| e.1)))
        .collect()
}

/// Sum of each of the `n` columns.
fn col_sums(rows: &[Row], n: usize) -> Vec<I32F32> {
    let mut sums = vec![ZERO; n];
    for row in rows {
        for &(j, v) in row {
            sums[j as usize] = sums[j as usize].saturating_add(v);
        }
    }
    sums
}

/// Divides each entry by its column's sum, where that sum is not zero.
pub fn col_normalize(rows: &mut [Row], n: usize) {
    let sums = col_sums(rows, n);
    for row in rows.iter_mut() {
        for e in row.iter_mut() {
            let s = sums[e.0 as usize];
            if s != ZERO {
                e.1 = div_or_zero(e.1, s);
            }
        }
    }
}

/// Divides each entry by its column's maximum, so each column peaks at one.
pub fn col_max_upscale(rows: &mut [Row], n: usize) {
    let mut maxima = vec![ZERO; n];
    for row in rows.iter() {
        for &(j, v) in row {
            maxima[j as usize] = maxima[j as usize].max(v);
        }
    }
    for row in rows.iter_mut() {
        for e in row.iter_mut() {
            let m = maxima[e.0 as usize];
            if m != ZERO {
                e.1 = div_or_zero(e.1, m);
            }
        }
    }
}

/// Each entry clipped to at most its column's threshold.
pub fn col_clip(rows: &[Row], thresholds: &[I32F32]) -> Vec<Row> {
    rows.iter()
        .map(|row| {
            row.iter()
                .map(|&(j, v)| (j, v.min(thresholds[j as usize])))
                .filter(|e| e.1 > ZERO)
                .collect()
        })
        .collect()
}

/// `r_j = Σ_i s_i · m_ij`: the stake-weighted column sums.
pub fn weighted_col_sums(rows: &[Row], stake: &[I32F32], n: usize) -> Vec<I32F32> {
    let mut out = vec![ZERO; n];
    for (row, &s) in rows.iter().zip(stake) {
        for &(j, v) in row {
            out[j as usize] = out[j as usize].saturating_add(s.saturating_mul(v));
        }
    }
    out
}

/// `d_i = Σ_j m_ij · v_j`: each row dotted with a column vector.
pub fn row_dot(rows: &[Row], v: &[I32F32]) -> Vec<I32F32> {
    rows.iter()
        .map(|row| {
            row.iter().fold(ZERO, |acc, &(j, m)| {
                acc.saturating_add(m.saturating_mul(v[j as usize]))
            })
        })
        .collect()
}

/// `d_i = Σ_j (m_ij · v_j)` with the reference's overflow-to-zero products.
pub fn row_dot_or_zero(rows: &[Row], v: &[I32F32]) -> Vec<I32F32> {
    rows.iter()
        .map(|row| {
            row.iter().fold(ZERO, |acc, &(j, m)| {
                acc.saturating_add(mul_or_zero(m, v[j as usize]))
            })
        })
        .collect()
}

/// Each row scaled by its own factor: `m_ij · s_i`.
pub fn scale_rows(rows: &[Row], factors: &[I32F32]) -> Vec<Row> {
    rows.iter()
        .zip(factors)
        .map(|(row, &s)| {
            row.iter()
                .map(|&(j, v)| (j, v.saturating_mul(s)))
                .filter(|e| e.1 > ZERO)
                .collect()
        })
        .collect()
}

/// `a + ratio · (b − a)` element-wise; `ratio` 0 gives `a`, 1 gives `b`.
pub fn interpolate(a: &[Row], b: &[Row], ratio: I32F32) -> Vec<Row> {
    if ratio == ZERO {
        return a.to_vec();
    }
    if ratio == ONE {
        return b.to_vec();
    }
    a.iter()
        .zip(b)
        .map(|(ra, rb)| {
            merge_rows(ra, rb, |_, x, y| {
                x.saturating_add(ratio.saturating_mul(y.saturating_sub(x)))
            })
        })
        .collect()
}

/// Exponential moving average with one coefficient: `α · new + (1 − α) · old`.
pub fn ema(new: &[Row], old: &[Row], alpha: I32F32) -> Vec<Row> {
    let keep = ONE.saturating_sub(alpha);
    new.iter()
        .zip(old)
        .map(|(rn, ro)| {
            merge_rows(rn, ro, |_, x, y| {
                alpha
                    .saturating_mul(x)
                    .saturating_add(keep.saturating_mul(y))
            })
        })
        .collect()
}

/// Exponential moving average with a coefficient per entry, clamped to
/// [0, 1]: `(1 − α_ij) · old + α_ij · new`.
pub fn ema_per_entry(
    new: &[Row],
    old: &[Row],
    mut alpha: impl FnMut(u16, I32F32, I32F32) -> I32F32,
) -> Vec<Row> {
    new.iter()
        .zip(old)
        .map(|(rn, ro)| {
            merge_rows(rn, ro, |j, w, b| {
                let a = alpha(j, w, b);
                let decayed = ONE.saturating_sub(a).saturating_mul(b);
                let gained = a.saturating_mul(w).max(ZERO);
                decayed.saturating_add(gained).min(ONE)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> I32F32 {
        I32F32::from_num(x)
    }

    #[test]
    fn merge_visits_the_union_in_column_order() {
        let a = vec![(0, f(1.0)), (3, f(2.0))];
        let b = vec![(1, f(5.0)), (3, f(4.0))];
        let mut seen = Vec::new();
        let out = merge_rows(&a, &b, |j, x, y| {
            seen.push((j, x, y));
            x + y
        });
        assert_eq!(
            seen,
            vec![(0, f(1.0), ZERO), (1, ZERO, f(5.0)), (3, f(2.0), f(4.0))]
        );
        assert_eq!(out, vec![(0, f(1.0)), (1, f(5.0)), (3, f(6.0))]);
    }

    #[test]
    fn column_normalisation_makes_columns_sum_to_one() {
        let mut rows = vec![vec![(0, f(1.0)), (1, f(3.0))], vec![(1, f(1.0))]];
        col_normalize(&mut rows, 2);
        assert_eq!(
            rows,
            vec![vec![(0, f(1.0)), (1, f(0.75))], vec![(1, f(0.25))]]
        );
    }

    #[test]
    fn clipping_drops_entries_clipped_to_zero() {
        let rows = vec![vec![(0, f(0.5)), (1, f(0.5))]];
        assert_eq!(col_clip(&rows, &[f(0.25), ZERO]), vec![vec![(0, f(0.25))]]);
    }

    #[test]
    fn interpolation_endpoints_are_exact() {
        let a = vec![vec![(0, f(0.5))]];
        let b = vec![vec![(1, f(0.5))]];
        assert_eq!(interpolate(&a, &b, ZERO), a);
        assert_eq!(interpolate(&a, &b, ONE), b);
        assert_eq!(
            interpolate(&a, &b, f(0.5)),
            vec![vec![(0, f(0.25)), (1, f(0.25))]]
        );
    }
}
