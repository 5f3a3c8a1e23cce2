//! A subnet's liquidity pool: TAO against the subnet's alpha token.
//!
//! The pool is a constant-product market (`tao * alpha = k`). The reference chain has moved to
//! weighted pools; constant product is the simple, well-understood choice for us, and its
//! invariants are easy to state and test.
//!
//! Everything is integer arithmetic on `u64` base units (9 decimals for both tokens), widened to
//! `u128` for intermediates and narrowed back with a checked conversion, so every node computes
//! bit-identical results and nothing wraps or panics. Every rounding favours the pool: a trader
//! can never extract value through rounding, so `k` never decreases through trading.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Base units in one whole token (TAO or alpha): both use 9 decimals.
pub const UNIT: u64 = 1_000_000_000;

/// Errors from pool operations. On any error the pool is left unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The input amount was zero.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// The trade would pay out nothing; rejected so that dust is never silently absorbed.
    #[error("trade too small: output rounds to zero")]
    ZeroOutput,
    /// The average execution price is worse than the caller's limit.
    #[error("execution price {price} is beyond the limit {limit}")]
    PriceLimit {
        /// Average execution price the trade would have had (saturated at `u64::MAX`).
        price: Price,
        /// The limit the caller gave.
        limit: Price,
    },
    /// A result does not fit in `u64`.
    #[error("arithmetic overflow")]
    Overflow,
    /// A reserve is zero, so the pool has no price to trade at.
    #[error("pool has an empty reserve")]
    EmptyPool,
}

/// A price in TAO base units per one whole alpha token (`tao * 1e9 / alpha`, floored).
///
/// Serialized as the bare integer; displayed as a decimal with 9 places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Price(pub u64);

impl Price {
    /// One TAO per alpha.
    pub const ONE: Price = Price(UNIT);
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.0 / UNIT, self.0 % UNIT)
    }
}

/// A swap fee as parts of 65 535 (`FeeRate(65_535)` is 100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FeeRate(pub u16);

impl FeeRate {
    /// The denominator of the rate.
    pub const DENOMINATOR: u16 = u16::MAX;
    /// The reference chain's default, 33/65535 (about 0.05%).
    pub const DEFAULT: FeeRate = FeeRate(33);
    /// No fee.
    pub const ZERO: FeeRate = FeeRate(0);

    /// The fee on `amount`, rounded up so that the pool, not the trader, keeps the remainder.
    /// Never exceeds `amount`.
    pub fn fee_on(self, amount: u64) -> u64 {
        let num = u128::from(amount) * u128::from(self.0);
        let fee = num.div_ceil(u128::from(Self::DENOMINATOR));
        // fee <= amount because rate <= 1, so the conversion cannot fail; min() keeps it total.
        u64::try_from(fee).map_or(amount, |f| f.min(amount))
    }
}

/// The result of a swap. `fee` is in the input token and stays in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swap {
    /// Gross input taken from the trader, fee included.
    pub amount_in: u64,
    /// Part of `amount_in` kept by the pool as fee.
    pub fee: u64,
    /// Output paid to the trader.
    pub amount_out: u64,
}

/// Reserves of one subnet's pool, in base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pool {
    /// TAO reserve.
    pub tao: u64,
    /// Alpha reserve.
    pub alpha: u64,
}

fn to_u64(v: u128) -> Result<u64, PoolError> {
    u64::try_from(v).map_err(|_| PoolError::Overflow)
}

/// Core constant-product quote shared by buy and sell: `out = floor(r_out * net / (r_in + net))`.
///
/// Since `net / (r_in + net) < 1`, `out < r_out`: a swap can never drain a reserve to zero.
fn quote(
    reserve_in: u64,
    reserve_out: u64,
    amount_in: u64,
    fee: FeeRate,
) -> Result<Swap, PoolError> {
    if amount_in == 0 {
        return Err(PoolError::ZeroAmount);
    }
    if reserve_in == 0 || reserve_out == 0 {
        return Err(PoolError::EmptyPool);
    }
    let fee_amount = fee.fee_on(amount_in);
    // fee_on never exceeds its input; saturating keeps that a local guarantee, not a panic.
    let net = u128::from(amount_in.saturating_sub(fee_amount));
    let out = u128::from(reserve_out) * net / (u128::from(reserve_in) + net);
    let swap = Swap {
        amount_in,
        fee: fee_amount,
        amount_out: to_u64(out)?,
    };
    // Validate the resulting reserves here so a quote fails exactly when the real trade would.
    settle(reserve_in, reserve_out, &swap)?;
    if swap.amount_out == 0 {
        return Err(PoolError::ZeroOutput);
    }
    Ok(swap)
}

/// New `(reserve_in, reserve_out)` after `swap`: the whole input (fee included) enters the pool.
fn settle(reserve_in: u64, reserve_out: u64, swap: &Swap) -> Result<(u64, u64), PoolError> {
    let new_in = reserve_in
        .checked_add(swap.amount_in)
        .ok_or(PoolError::Overflow)?;
    let new_out = reserve_out
        .checked_sub(swap.amount_out)
        .ok_or(PoolError::Overflow)?;
    Ok((new_in, new_out))
}

impl Pool {
    /// Creates a pool with initial reserves; both must be non-zero so the pool has a price.
    pub fn seed(tao: u64, alpha: u64) -> Result<Pool, PoolError> {
        if tao == 0 || alpha == 0 {
            return Err(PoolError::ZeroAmount);
        }
        Ok(Pool { tao, alpha })
    }

    /// Spot price, `tao * 1e9 / alpha` floored.
    ///
    /// A pool with zero alpha has price 0 (a seeded pool never reaches zero reserves, but the
    /// fields are public, so the function must be total). Fails with `Overflow` only when the
    /// price exceeds `u64::MAX` base units per alpha.
    pub fn price(&self) -> Result<Price, PoolError> {
        if self.alpha == 0 {
            return Ok(Price(0));
        }
        to_u64(u128::from(self.tao) * u128::from(UNIT) / u128::from(self.alpha)).map(Price)
    }

    /// Quotes staking `tao_in` TAO for alpha without changing the pool.
    ///
    /// `limit` is the highest acceptable average price `ceil(tao_in * 1e9 / alpha_out)`, where
    /// `tao_in` includes the fee (the trader's real cost per alpha).
    pub fn quote_buy(
        &self,
        tao_in: u64,
        fee: FeeRate,
        limit: Option<Price>,
    ) -> Result<Swap, PoolError> {
        let swap = quote(self.tao, self.alpha, tao_in, fee)?;
        if let Some(limit) = limit {
            let avg = (u128::from(tao_in) * u128::from(UNIT)).div_ceil(u128::from(swap.amount_out));
            if avg > u128::from(limit.0) {
                // A price beyond u64 is beyond any limit; saturate it for the report only.
                let price = Price(u64::try_from(avg).unwrap_or(u64::MAX));
                return Err(PoolError::PriceLimit { price, limit });
            }
        }
        Ok(swap)
    }

    /// Quotes unstaking `alpha_in` alpha for TAO without changing the pool.
    ///
    /// `limit` is the lowest acceptable average price `floor(tao_out * 1e9 / alpha_in)`, where
    /// `alpha_in` includes the fee.
    pub fn quote_sell(
        &self,
        alpha_in: u64,
        fee: FeeRate,
        limit: Option<Price>,
    ) -> Result<Swap, PoolError> {
        let swap = quote(self.alpha, self.tao, alpha_in, fee)?;
        if let Some(limit) = limit {
            let avg = u128::from(swap.amount_out) * u128::from(UNIT) / u128::from(alpha_in);
            if avg < u128::from(limit.0) {
                // avg < limit <= u64::MAX, so this conversion cannot fail.
                return Err(PoolError::PriceLimit {
                    price: Price(to_u64(avg)?),
                    limit,
                });
            }
        }
        Ok(swap)
    }

    /// Stakes: swaps `tao_in` TAO (fee included; the fee stays in the pool) for alpha.
    pub fn buy(
        &mut self,
        tao_in: u64,
        fee: FeeRate,
        limit: Option<Price>,
    ) -> Result<Swap, PoolError> {
        let swap = self.quote_buy(tao_in, fee, limit)?;
        (self.tao, self.alpha) = settle(self.tao, self.alpha, &swap)?;
        Ok(swap)
    }

    /// Unstakes: swaps `alpha_in` alpha (fee included; the fee stays in the pool) for TAO.
    pub fn sell(
        &mut self,
        alpha_in: u64,
        fee: FeeRate,
        limit: Option<Price>,
    ) -> Result<Swap, PoolError> {
        let swap = self.quote_sell(alpha_in, fee, limit)?;
        (self.alpha, self.tao) = settle(self.alpha, self.tao, &swap)?;
        Ok(swap)
    }

    /// Adds per-block emission: `tao_in` TAO plus the alpha that keeps the price unchanged,
    /// `ceil(alpha * tao_in / tao)`. Returns that alpha, which the caller accounts as newly
    /// issued.
    ///
    /// The alpha is rounded *up* (at most one extra base unit) so the price can only move by
    /// rounding, and only down, never up: emission must not be a lever on the price. (Flooring
    /// would let a tiny pool's price jump: 2 TAO / 3 alpha plus 1 TAO would become 3 / 4.)
    pub fn inject(&mut self, tao_in: u64) -> Result<u64, PoolError> {
        if self.tao == 0 || self.alpha == 0 {
            return Err(PoolError::EmptyPool);
        }
        let alpha_in =
            to_u64((u128::from(self.alpha) * u128::from(tao_in)).div_ceil(u128::from(self.tao)))?;
        let tao = self.tao.checked_add(tao_in).ok_or(PoolError::Overflow)?;
        let alpha = self
            .alpha
            .checked_add(alpha_in)
            .ok_or(PoolError::Overflow)?;
        (self.tao, self.alpha) = (tao, alpha);
        Ok(alpha_in)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: u64 = UNIT;

    fn pool(tao: u64, alpha: u64) -> Pool {
        Pool { tao, alpha }
    }

    fn k(p: &Pool) -> u128 {
        u128::from(p.tao) * u128::from(p.alpha)
    }

    #[test]
    fn fee_rounds_up_and_stays_in_pool() {
        assert_eq!(FeeRate::DEFAULT.fee_on(1), 1);
        assert_eq!(FeeRate::DEFAULT.fee_on(65_535), 33);
        assert_eq!(FeeRate::DEFAULT.fee_on(65_536), 34);
        assert_eq!(FeeRate::ZERO.fee_on(u64::MAX), 0);
        assert_eq!(FeeRate(u16::MAX).fee_on(u64::MAX), u64::MAX);
        let mut p = Pool::seed(1000 * T, 1000 * T).unwrap();
        let s = p.buy(65_536, FeeRate::DEFAULT, None).unwrap();
        assert_eq!(s.fee, 34);
        assert_eq!(p.tao, 1000 * T + 65_536);
        // A 100% fee leaves nothing to swap: rejected, not silently absorbed.
        assert_eq!(
            p.buy(T, FeeRate(u16::MAX), None),
            Err(PoolError::ZeroOutput)
        );
    }

    #[test]
    fn price_and_display() {
        assert_eq!(Price::ONE.to_string(), "1.000000000");
        assert_eq!(Price(1_500_000_000).to_string(), "1.500000000");
        assert_eq!(Price(1).to_string(), "0.000000001");
        assert_eq!(Price(u64::MAX).to_string(), "18446744073.709551615");
        assert_eq!(
            Pool::seed(3 * T, 2 * T).unwrap().price(),
            Ok(Price(1_500_000_000))
        );
        assert_eq!(Pool::seed(1, 3).unwrap().price(), Ok(Price(333_333_333)));
        assert_eq!(pool(5, 0).price(), Ok(Price(0)));
        assert_eq!(pool(u64::MAX, 1).price(), Err(PoolError::Overflow));
    }

    #[test]
    fn seed_and_zero_inputs_rejected() {
        assert_eq!(Pool::seed(0, 1), Err(PoolError::ZeroAmount));
        assert_eq!(Pool::seed(1, 0), Err(PoolError::ZeroAmount));
        let mut p = Pool::seed(T, T).unwrap();
        assert_eq!(p.buy(0, FeeRate::ZERO, None), Err(PoolError::ZeroAmount));
        assert_eq!(p.sell(0, FeeRate::ZERO, None), Err(PoolError::ZeroAmount));
        assert_eq!(p.buy(1, FeeRate::ZERO, None), Err(PoolError::ZeroOutput)); // 1*1e9/(1e9+1)
        assert_eq!(
            pool(0, 1).quote_buy(1, FeeRate::ZERO, None),
            Err(PoolError::EmptyPool)
        );
        assert_eq!(
            Pool::seed(u64::MAX, T).unwrap().buy(1, FeeRate::ZERO, None),
            Err(PoolError::Overflow)
        );
        assert_eq!(p, Pool::seed(T, T).unwrap());
    }

    #[test]
    fn limit_exact_boundary() {
        let (p0, fee, amt) = (
            Pool::seed(1000 * T, 1000 * T).unwrap(),
            FeeRate::DEFAULT,
            10 * T,
        );
        let s = Swap {
            amount_in: amt,
            fee: 5_035_478,
            amount_out: 9_896_053_815,
        };
        let mut p = p0;
        // Buy: average price ceil(10e9 * 1e9 / 9_896_053_815) = 1_010_503_802 is the maximum.
        let (price, limit) = (Price(1_010_503_802), Price(1_010_503_801));
        let err = Err(PoolError::PriceLimit { price, limit });
        assert_eq!(p.buy(amt, fee, Some(limit)), err);
        assert_eq!(p, p0);
        assert_eq!(p.buy(amt, fee, Some(price)), Ok(s));
        assert_eq!(p, pool(p0.tao + amt, p0.alpha - s.amount_out));
        // Sell: average price floor(9_896_053_815 * 1e9 / 10e9) = 989_605_381 is the minimum.
        let mut p = p0;
        let (price, limit) = (Price(989_605_381), Price(989_605_382));
        let err = Err(PoolError::PriceLimit { price, limit });
        assert_eq!(p.sell(amt, fee, Some(limit)), err);
        assert_eq!(p, p0);
        assert_eq!(p.sell(amt, fee, Some(price)), Ok(s));
        assert_eq!(p, pool(p0.tao - s.amount_out, p0.alpha + amt));
    }

    #[test]
    fn inject_rounds_alpha_up() {
        let mut p = Pool::seed(2, 3).unwrap();
        assert_eq!(p.inject(1), Ok(2)); // ceil(3 * 1 / 2); flooring to 1 would raise the price
        assert_eq!(p, pool(3, 5));
        assert_eq!(p.inject(0), Ok(0));
        assert_eq!(pool(0, 1).inject(1), Err(PoolError::EmptyPool));
        assert_eq!(pool(1, u64::MAX).inject(2), Err(PoolError::Overflow));
    }

    /// Realistic reserves (up to 1e9 whole tokens) so most trades succeed.
    fn reserve() -> impl Strategy<Value = u64> {
        1..=1_000_000_000 * T
    }

    fn any_fee() -> impl Strategy<Value = FeeRate> {
        any::<u16>().prop_map(FeeRate)
    }

    proptest! {
        #[test]
        fn k_never_decreases(tao in 1..=u64::MAX, alpha in 1..=u64::MAX, amt in any::<u64>(),
                             fee in any_fee(), is_buy in any::<bool>()) {
            let mut p = Pool { tao, alpha };
            let before = k(&p);
            let r = if is_buy { p.buy(amt, fee, None) } else { p.sell(amt, fee, None) };
            if r.is_ok() {
                prop_assert!(k(&p) >= before);
                prop_assert!(p.tao > 0 && p.alpha > 0);
            }
        }

        #[test]
        fn round_trip_no_free_money_and_conserves(tao in reserve(), alpha in reserve(),
                                                  tao_in in 1..=1_000_000_000 * T,
                                                  fee in any_fee()) {
            let p0 = Pool { tao, alpha };
            let mut p = p0;
            let Ok(b) = p.buy(tao_in, fee, None) else { return Ok(()) };
            prop_assert_eq!(b.amount_in, tao_in);
            let (tao_out, alpha_sold) = match p.sell(b.amount_out, fee, None) {
                Ok(s) => (s.amount_out, s.amount_in),
                Err(_) => (0, 0),
            };
            prop_assert!(tao_out <= tao_in);
            let d_tao = i128::from(p.tao) - i128::from(p0.tao);
            let d_alpha = i128::from(p.alpha) - i128::from(p0.alpha);
            // Trader's tokens in = change in reserves + trader's tokens out, for each token.
            prop_assert_eq!(i128::from(tao_in), d_tao + i128::from(tao_out));
            prop_assert_eq!(i128::from(alpha_sold), d_alpha + i128::from(b.amount_out));
        }

        #[test]
        fn inject_never_raises_price(tao in 1..(1u64 << 62), alpha in 1..=u64::MAX,
                                     tao_in in 0..(1u64 << 62)) {
            let p0 = Pool { tao, alpha };
            let mut p = p0;
            let Ok(a) = p.inject(tao_in) else { return Ok(()) };
            prop_assert_eq!(p, pool(tao + tao_in, alpha + a));
            prop_assert!(p.price().unwrap() <= p0.price().unwrap());
            // Exact ratio never up, and `a` is the least alpha achieving that (within rounding).
            let (t, a0, t1, a1) = (u128::from(tao), u128::from(alpha), u128::from(p.tao), u128::from(p.alpha));
            prop_assert!(t1 * a0 <= t * a1);
            prop_assert!(a == 0 || t * (a1 - 1) < t1 * a0);
        }

        #[test]
        fn failed_ops_leave_pool_unchanged(tao in any::<u64>(), alpha in any::<u64>(),
                                           op in 0u8..3, amt in any::<u64>(), fee in any_fee(),
                                           limit in any::<Option<u64>>()) {
            let p0 = Pool { tao, alpha };
            let mut p = p0;
            let failed = match op {
                0 => p.buy(amt, fee, limit.map(Price)).is_err(),
                1 => p.sell(amt, fee, limit.map(Price)).is_err(),
                _ => p.inject(amt).is_err(),
            };
            if failed {
                prop_assert_eq!(p, p0);
            }
        }

        #[test]
        fn never_panics(tao in any::<u64>(), alpha in any::<u64>(), amt in any::<u64>(),
                        fee in any_fee(), limit in any::<Option<u64>>()) {
            let _ = Pool::seed(tao, alpha);
            let mut p = Pool { tao, alpha };
            let _ = p.price().map(|x| x.to_string());
            let _ = p.quote_buy(amt, fee, limit.map(Price));
            let _ = p.quote_sell(amt, fee, limit.map(Price));
            let _ = p.buy(amt, fee, limit.map(Price));
            let _ = p.sell(amt, fee, limit.map(Price));
            let _ = p.inject(amt);
            let _ = fee.fee_on(amt);
        }
    }
}
