//! Fixed-point scalars and vectors as the reference chain computes them.
//!
//! Every rounding here is part of consensus: the epoch must give the same
//! bits on every machine and the same bits as the reference chain, so each
//! helper mirrors one reference operation (saturating arithmetic, division
//! that yields zero instead of failing, truncating conversions).

use substrate_fixed::transcendental::exp;
pub use substrate_fixed::types::{I32F32, I64F64, I96F32};

/// Zero in the epoch's working precision.
pub const ZERO: I32F32 = I32F32::from_bits(0);
/// One in the epoch's working precision.
pub const ONE: I32F32 = I32F32::from_bits(1 << 32);

/// `x / y`, or zero where the quotient is undefined or does not fit.
pub fn div_or_zero(x: I32F32, y: I32F32) -> I32F32 {
    let (a, b) = (x.to_bits(), y.to_bits());
    // Fast path for the common case of a proportion in [0, 1) over a
    // positive divisor: the same truncating quotient in 64-bit arithmetic
    // instead of the crate's 128-bit division.
    if (0..1 << 32).contains(&a) && b > 0 {
        let q = ((a as u64) << 32) / b as u64;
        return if q <= i64::MAX as u64 {
            I32F32::from_bits(q as i64)
        } else {
            ZERO
        };
    }
    x.checked_div(y).unwrap_or(ZERO)
}

/// `x / y` in I64F64, or zero where the quotient is undefined or does not fit.
pub fn div_or_zero_64(x: I64F64, y: I64F64) -> I64F64 {
    x.checked_div(y).unwrap_or(I64F64::from_bits(0))
}

/// `1 / d` for `d >= 1`, exactly as the crate's division truncates it
/// (the quotient is at most one, so it never saturates).
pub fn one_over(d: I32F32) -> I32F32 {
    let bits = d.to_bits();
    if bits < ONE.to_bits() {
        return ONE.saturating_div(d);
    }
    // floor(2^64 / d) from floor((2^64 - 1) / d): they differ only when d
    // divides 2^64.
    let d = bits as u64;
    let q = u64::MAX / d + u64::from(d.is_power_of_two());
    I32F32::from_bits(q as i64)
}

/// `x * y`, or zero where the product does not fit (the reference's `vec_mul`).
pub fn mul_or_zero(x: I32F32, y: I32F32) -> I32F32 {
    x.checked_mul(y).unwrap_or(ZERO)
}

/// A stored u16 proportion `v / 65535` as a fixed-point value.
pub fn u16_proportion(v: u16) -> I32F32 {
    div_or_zero(I32F32::from_num(v), I32F32::from_num(u16::MAX))
}

/// Quantises a proportion in [0, 1] to u16 as `trunc(x * 65535)`, saturating.
pub fn proportion_to_u16(x: I32F32) -> u16 {
    x.saturating_mul(I32F32::from_num(u16::MAX))
        .saturating_to_num::<u16>()
}

/// Sum with saturation; exact for the normalised values the epoch handles.
pub fn sum(values: impl IntoIterator<Item = I32F32>) -> I32F32 {
    values
        .into_iter()
        .fold(ZERO, |acc, v| acc.saturating_add(v))
}

/// Scales a vector so that it sums to one; a zero vector is left as it is.
pub fn normalize(values: &mut [I32F32]) {
    let total = sum(values.iter().copied());
    normalize_by(values, total);
}

/// Divides every entry by `total`, unless `total` is zero.
pub fn normalize_by(values: &mut [I32F32], total: I32F32) {
    if total == ZERO {
        return;
    }
    for v in values.iter_mut() {
        *v = div_or_zero(*v, total);
    }
}

/// Normalises raw stake in I64F64 (to keep precision for large balances),
/// then narrows it to the epoch's I32F32.
pub fn normalize_stake(stake: &[I64F64]) -> Vec<I32F32> {
    let zero = I64F64::from_bits(0);
    let total = stake.iter().fold(zero, |acc, s| acc.saturating_add(*s));
    stake
        .iter()
        .map(|s| {
            let share = if total == zero {
                *s
            } else {
                div_or_zero_64(*s, total)
            };
            I32F32::saturating_from_num(share)
        })
        .collect()
}

/// Marks the `k` largest non-zero entries. Ties are broken towards the
/// higher index, as the reference's stable ascending sort does.
pub fn top_k_nonzero(values: &[I32F32], k: usize) -> Vec<bool> {
    let mut chosen: Vec<bool> = values.iter().map(|v| *v != ZERO).collect();
    if values.len() <= k {
        return chosen;
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|&i| (values[i], i));
    for &i in order.iter().take(values.len() - k) {
        chosen[i] = false;
    }
    chosen
}

/// `exp(x)` with the input clamped to [-20, 20] and saturation on failure.
pub fn exp_clamped(x: I32F32) -> I32F32 {
    let limit = I32F32::from_num(20);
    let clamped = x.clamp(-limit, limit);
    match exp_series(clamped) {
        Some(v) => v,
        None if clamped <= ZERO => ZERO,
        None => I32F32::max_value(),
    }
}

/// `exp` exactly as `substrate_fixed::transcendental::exp` computes it for
/// I32F32 (a Taylor series to the 31st term, `1 / exp(|x|)` for negative
/// `x`), on raw bits. Liquid alpha calls it once per bond, so it matters
/// that it is fast; `exp_series_matches_the_crate` checks it bit for bit.
fn exp_series(x: I32F32) -> Option<I32F32> {
    const FRAC: u32 = 32;
    let bits = x.to_bits();
    if bits == 0 {
        return Some(ONE);
    }
    if x == ONE {
        // The crate returns its constant e here rather than the series.
        return exp::<I32F32, I32F32>(x).ok();
    }
    let op = bits.checked_abs()?;
    // Fixed-point product, floored, as the crate's widening multiply does.
    let mul = |a: i64, b: i64| -> Option<i64> {
        i64::try_from((i128::from(a) * i128::from(b)) >> FRAC).ok()
    };
    let mut result = op.checked_add(ONE.to_bits())?;
    let mut term = op;
    // Terms 2..=31, unrolled so each division is by a constant (a multiply
    // instead of a hardware divide); once a term is zero all later ones are.
    macro_rules! terms {
        ($($i:literal)*) => {
            'series: {
                $(
                    term = mul(term, op)? / $i;
                    if term == 0 {
                        break 'series;
                    }
                    result = result.checked_add(term)?;
                )*
            }
        };
    }
    terms!(2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
    if bits < 0 {
        if result == 0 {
            return None;
        }
        result = i64::try_from((i128::from(ONE.to_bits()) << FRAC) / i128::from(result)).ok()?;
    }
    Some(I32F32::from_bits(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_truncates() {
        assert_eq!(proportion_to_u16(ONE), u16::MAX);
        assert_eq!(proportion_to_u16(ZERO), 0);
        assert_eq!(proportion_to_u16(I32F32::from_num(0.5)), 32767);
        assert_eq!(proportion_to_u16(I32F32::from_num(2)), u16::MAX);
        assert_eq!(proportion_to_u16(I32F32::from_num(-1)), 0);
    }

    #[test]
    fn division_by_zero_is_zero() {
        assert_eq!(div_or_zero(ONE, ZERO), ZERO);
        assert_eq!(div_or_zero(I32F32::max_value(), I32F32::from_bits(1)), ZERO);
    }

    #[test]
    fn top_k_breaks_ties_towards_higher_index() {
        let v = [ONE, ONE, ZERO, ONE];
        assert_eq!(top_k_nonzero(&v, 2), vec![false, true, false, true]);
        assert_eq!(top_k_nonzero(&v, 8), vec![true, true, false, true]);
    }

    #[test]
    fn zero_vector_stays_zero() {
        let mut v = [ZERO, ZERO];
        normalize(&mut v);
        assert_eq!(v, [ZERO, ZERO]);
    }

    proptest::proptest! {
        #[test]
        fn exp_series_matches_the_crate(bits in -(20i64 << 32)..=(20i64 << 32)) {
            let x = I32F32::from_bits(bits);
            proptest::prop_assert_eq!(exp_series(x), exp::<I32F32, I32F32>(x).ok());
        }

        #[test]
        fn one_over_matches_the_crate(bits in proptest::prop_oneof![(1i64 << 32)..=(1i64 << 40), proptest::num::i64::ANY]) {
            let d = I32F32::from_bits(bits);
            proptest::prop_assert_eq!(one_over(d), ONE.saturating_div(d));
        }

        #[test]
        fn fast_division_matches_the_crate(a in any_bits(), b in any_bits()) {
            let (x, y) = (I32F32::from_bits(a), I32F32::from_bits(b));
            proptest::prop_assert_eq!(div_or_zero(x, y), x.checked_div(y).unwrap_or(ZERO));
        }
    }

    /// Bits biased towards the proportions the epoch divides most.
    fn any_bits() -> impl proptest::strategy::Strategy<Value = i64> {
        proptest::prop_oneof![0i64..=(1 << 32), proptest::num::i64::ANY, 0i64..1024]
    }

    #[test]
    fn exp_series_matches_the_crate_on_a_grid() {
        for k in -2000i64..=2000 {
            let x = I32F32::from_bits(k * ((20i64 << 32) / 2000) + k);
            assert_eq!(exp_series(x), exp::<I32F32, I32F32>(x).ok(), "exp({x})");
        }
        for x in [ONE, -ONE, I32F32::from_bits(1), I32F32::from_bits(-1)] {
            assert_eq!(exp_series(x), exp::<I32F32, I32F32>(x).ok(), "exp({x})");
        }
    }

    #[test]
    fn exp_saturates_outside_range() {
        assert!(exp_clamped(I32F32::from_num(-100)) < I32F32::from_num(0.000001));
        assert!(exp_clamped(I32F32::from_num(100)) > I32F32::from_num(400_000_000));
    }
}
