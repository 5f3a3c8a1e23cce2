//! How far a stake's average price may stray from its pool's price: the guard that turns
//! `--tolerance` into the limit price the chain enforces, and explains a trade it would
//! refuse before anything is sent.
//!
//! A subnet's pool starts as deep as its creation's lock (100 tokens on a devnet), so a
//! stake of the same size would buy alpha at twice the pool's price and lose half its
//! value at once. Without a limit the chain takes any price; with one the whole trade
//! lands within it or fails in its dry run, free.

use plexus_ledger::PoolInfo;
use plexus_ledger::pool::{FeeRate, Pool, Price};
use plexus_primitives::Balance;

/// Which way a trade goes through the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Tokens in, alpha out (`stake add`).
    Buy,
    /// Alpha in, tokens out (`stake remove`).
    Sell,
}

/// What a trade of `amount` (tokens to buy with, or alpha to sell) would do, as quoted
/// on the pool's reserves now with the chain's default pool fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quote {
    /// The pool's price before the trade.
    pub spot: Price,
    /// Tokens per alpha over the whole trade.
    pub average: Price,
    /// What the trader would get: alpha for a buy, tokens for a sell.
    pub out: u64,
}

/// A trade's quote on `pool`, or `None` where the pool cannot quote it (empty, or an
/// amount too small to get anything out).
pub fn quote(pool: &PoolInfo, side: Side, amount: u64) -> Option<Quote> {
    let reserves = Pool {
        tao: pool.tao,
        alpha: pool.alpha,
    };
    let swap = match side {
        Side::Buy => reserves.quote_buy(amount, FeeRate::DEFAULT, None),
        Side::Sell => reserves.quote_sell(amount, FeeRate::DEFAULT, None),
    }
    .ok()?;
    let (tokens, alpha) = match side {
        Side::Buy => (swap.amount_in, swap.amount_out),
        Side::Sell => (swap.amount_out, swap.amount_in),
    };
    if tokens == 0 {
        return None;
    }
    Some(Quote {
        spot: pool.price,
        average: average_price(side, tokens, alpha)?,
        out: swap.amount_out,
    })
}

/// Tokens per alpha of a trade of `tokens` against `alpha`, rounded as the ledger rounds
/// it when it holds a trade to its limit: up for a buy, down for a sell, so that a trade
/// the guard passes the chain passes too. `None` for no alpha, or a price past `u64`.
pub fn average_price(side: Side, tokens: u64, alpha: u64) -> Option<Price> {
    if alpha == 0 {
        return None;
    }
    let scaled = u128::from(tokens) * u128::from(Balance::UNIT.rao());
    let average = match side {
        Side::Buy => scaled.div_ceil(u128::from(alpha)),
        Side::Sell => scaled / u128::from(alpha),
    };
    u64::try_from(average).ok().map(Price)
}

/// The limit price a tolerance of `percent` gives around `spot`: that far above it for a
/// buy (the highest average price taken), that far below for a sell (the lowest), where
/// `percent` is a [`Balance`] read as a percentage (`5` is 5%). A sell's tolerance of
/// 100% or more takes any price.
pub fn limit(spot: Price, side: Side, percent: Balance) -> Price {
    let hundred = 100 * u128::from(Balance::UNIT.rao());
    let spot = u128::from(spot.0);
    let percent = u128::from(percent.rao());
    let scaled = match side {
        Side::Buy => (spot * (hundred + percent)).div_ceil(hundred),
        Side::Sell => spot * hundred.saturating_sub(percent) / hundred,
    };
    Price(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// How far `average` lies from `spot`, in percent (for messages only).
pub fn percent_off(spot: Price, average: Price) -> f64 {
    if spot.0 == 0 {
        return 0.0;
    }
    // A display figure: floats are fine outside the chain's arithmetic.
    #[allow(clippy::cast_precision_loss)]
    let (spot, average) = (spot.0 as f64, average.0 as f64);
    (average - spot).abs() / spot * 100.0
}

/// Whether the quoted trade stays within the limit the tolerance gives: the ledger's own
/// test (`plexus_ledger::pool::Pool::quote_buy` and `quote_sell`), on the same rounding.
pub fn within(quote: &Quote, side: Side, limit: Price) -> bool {
    match side {
        Side::Buy => quote.average <= limit,
        Side::Sell => quote.average >= limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(tao: u64, alpha: u64) -> PoolInfo {
        let reserves = Pool { tao, alpha };
        PoolInfo {
            tao,
            alpha,
            price: reserves.price().unwrap(),
        }
    }

    const UNIT: u64 = 1_000_000_000;

    #[test]
    fn a_stake_as_deep_as_a_fresh_pool_pays_about_twice_its_price() {
        let fresh = pool(100 * UNIT, 100 * UNIT);
        let q = quote(&fresh, Side::Buy, 100 * UNIT).unwrap();
        assert_eq!(q.spot, Price::ONE);
        // Half the pool's alpha for as many tokens as it holds, less the fee's share.
        assert!(q.out < 50 * UNIT && q.out > 49 * UNIT, "{}", q.out);
        assert!(q.average.0 > 2 * UNIT, "{}", q.average);
        let five = Balance::from_rao(5 * UNIT);
        assert!(!within(&q, Side::Buy, limit(q.spot, Side::Buy, five)));
        // A small one stays within 5%.
        let small = quote(&fresh, Side::Buy, UNIT).unwrap();
        assert!(within(
            &small,
            Side::Buy,
            limit(small.spot, Side::Buy, five)
        ));
        assert!(percent_off(small.spot, small.average) < 5.0);
    }

    #[test]
    fn the_guard_passes_exactly_what_the_ledger_passes() {
        let pools = [
            pool(107 * UNIT, 100 * UNIT),
            pool(3, 7),
            pool(1_000_003 * UNIT, 999 * UNIT),
        ];
        for p in &pools {
            let reserves = Pool {
                tao: p.tao,
                alpha: p.alpha,
            };
            for amount in [1, 7, UNIT / 3, 5 * UNIT, 99 * UNIT] {
                for (side, percent) in [
                    (Side::Buy, 0),
                    (Side::Buy, 5),
                    (Side::Sell, 0),
                    (Side::Sell, 3),
                ] {
                    let Some(q) = quote(p, side, amount) else {
                        continue;
                    };
                    let tolerance = Balance::from_rao(percent * UNIT);
                    let limit = limit(q.spot, side, tolerance);
                    // The tightest limit the quote meets, and one unit tighter.
                    for at in [
                        q.average,
                        Price(q.average.0.saturating_add(1)),
                        Price(q.average.0.saturating_sub(1)),
                        limit,
                    ] {
                        let ledger = match side {
                            Side::Buy => reserves.quote_buy(amount, FeeRate::DEFAULT, Some(at)),
                            Side::Sell => reserves.quote_sell(amount, FeeRate::DEFAULT, Some(at)),
                        };
                        assert_eq!(
                            within(&q, side, at),
                            ledger.is_ok(),
                            "{side:?} {amount} at {at}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn limits_lie_on_either_side_of_the_pools_price() {
        let spot = Price(2 * UNIT);
        let five = Balance::from_rao(5 * UNIT);
        assert_eq!(limit(spot, Side::Buy, five), Price(2_100_000_000));
        assert_eq!(limit(spot, Side::Sell, five), Price(1_900_000_000));
        assert_eq!(limit(spot, Side::Buy, Balance::ZERO), spot);
        // Selling at any price at all.
        let all = Balance::from_rao(150 * UNIT);
        assert_eq!(limit(spot, Side::Sell, all), Price(0));
        // A huge tolerance saturates rather than wraps.
        assert_eq!(
            limit(Price(u64::MAX), Side::Buy, five),
            Price(u64::MAX),
            "saturated"
        );
    }

    #[test]
    fn selling_into_a_thin_pool_gets_less_than_its_price() {
        let thin = pool(100 * UNIT, 100 * UNIT);
        let q = quote(&thin, Side::Sell, 100 * UNIT).unwrap();
        assert!(q.average.0 < UNIT / 2 + UNIT / 100, "{}", q.average);
        let ten = Balance::from_rao(10 * UNIT);
        assert!(!within(&q, Side::Sell, limit(q.spot, Side::Sell, ten)));
        assert!((percent_off(q.spot, q.average) - 50.0).abs() < 1.0);
        // An empty pool quotes nothing.
        assert_eq!(
            quote(
                &PoolInfo {
                    tao: 0,
                    alpha: 0,
                    price: Price(0)
                },
                Side::Buy,
                UNIT
            ),
            None
        );
    }
}
