//! Per-caller rate limiting: a token bucket for each caller (a validator hotkey here; a
//! node's RPC and the gateway key theirs by peer address or API key).
//!
//! Each caller may burst up to `burst` requests and is refilled at `per_second`. Buckets
//! that have refilled completely are swept, since a full bucket is what a new caller gets.
//! Where callers are not vetted first (only authenticated, registered callers reach a
//! miner's), [`RateLimiter::with_most_callers`] also bounds how many are kept at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use plexus_primitives::AccountId;
use serde::{Deserialize, Serialize};

/// A rate limit per caller.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests allowed at once after an idle period.
    pub burst: u32,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets for every caller seen recently, keyed by `K`.
#[derive(Debug)]
pub struct RateLimiter<K = AccountId> {
    limit: RateLimit,
    buckets: HashMap<K, Bucket>,
    sweep_at: usize,
    most_callers: usize,
}

const MIN_SWEEP_AT: usize = 1024;

/// How long a new caller is told to wait while every place is taken.
const FULL_WAIT: Duration = Duration::from_secs(1);

impl<K: Eq + Hash> RateLimiter<K> {
    /// A limiter enforcing `limit` on each caller separately.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
            most_callers: usize::MAX,
        }
    }

    /// Keeps buckets for at most `most` callers: while that many have buckets that have
    /// not refilled, a new caller is refused.
    pub fn with_most_callers(mut self, most: usize) -> Self {
        self.most_callers = most.max(1);
        self
    }

    /// Takes one token from `caller`'s bucket at `now`, or says how long until one is free.
    pub fn check(&mut self, caller: K, now: Instant) -> Result<(), Duration> {
        self.take(caller, 1, now)
    }

    /// Takes `tokens` from `caller`'s bucket at `now` (at most a burst's worth: a
    /// request worth more is charged a whole burst), all or none, or says how long
    /// until they are there. For a request that costs as much as several.
    pub fn take(&mut self, caller: K, tokens: u32, now: Instant) -> Result<(), Duration> {
        let full = self.buckets.len() >= self.most_callers;
        if self.buckets.len() >= self.sweep_at || full && !self.buckets.contains_key(&caller) {
            self.sweep(now);
            if self.buckets.len() >= self.most_callers && !self.buckets.contains_key(&caller) {
                return Err(FULL_WAIT);
            }
        }
        let limit = self.limit;
        let burst = f64::from(limit.burst.max(1));
        let bucket = self.buckets.entry(caller).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * limit.per_second).min(burst);
        bucket.updated = now;
        let wanted = f64::from(tokens.max(1)).min(burst);
        if bucket.tokens >= wanted {
            bucket.tokens -= wanted;
            return Ok(());
        }
        let missing = wanted - bucket.tokens;
        let wait = if limit.per_second > 0.0 {
            missing / limit.per_second
        } else {
            // A zero rate never refills; tell the caller to come back much later.
            3600.0
        };
        Err(Duration::from_secs_f64(wait.clamp(0.0, 3600.0)))
    }

    fn sweep(&mut self, now: Instant) {
        let limit = self.limit;
        let burst = f64::from(limit.burst.max(1));
        self.buckets.retain(|_, b| {
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            b.tokens + elapsed * limit.per_second < burst
        });
        self.sweep_at = (self.buckets.len() * 2).max(MIN_SWEEP_AT);
    }

    /// Callers holding a bucket now.
    pub fn callers(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let mut r = RateLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 3,
        });
        let t0 = Instant::now();
        let a = AccountId([1; 32]);
        for _ in 0..3 {
            assert_eq!(r.check(a, t0), Ok(()));
        }
        let wait = r.check(a, t0).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        // Another caller has its own bucket.
        assert_eq!(r.check(AccountId([2; 32]), t0), Ok(()));
        assert_eq!(r.check(a, t0 + Duration::from_millis(100)), Ok(()));
        assert!(r.check(a, t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn a_costly_request_takes_several_tokens_or_none() {
        let mut r = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 4,
        });
        let t0 = Instant::now();
        assert_eq!(r.take(1u32, 3, t0), Ok(()));
        // Two more are not there: nothing is taken, and the wait is for the one missing.
        assert_eq!(r.take(1u32, 2, t0), Err(Duration::from_secs(1)));
        assert_eq!(r.check(1u32, t0), Ok(()));
        // Worth more than a burst: a whole burst, once the bucket is full again.
        assert!(r.take(1u32, 9, t0 + Duration::from_secs(3)).is_err());
        assert_eq!(r.take(1u32, 9, t0 + Duration::from_secs(4)), Ok(()));
        assert!(r.check(1u32, t0 + Duration::from_secs(4)).is_err());
    }

    #[test]
    fn sweep_drops_full_buckets_only() {
        let mut r = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 1,
        });
        let t0 = Instant::now();
        for i in 0..MIN_SWEEP_AT {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            r.check(AccountId(key), t0).unwrap();
        }
        let a = AccountId([0xff; 32]);
        r.check(a, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(r.buckets.len(), 1);
        assert!(r.check(a, t0 + Duration::from_secs(5)).is_err());
    }

    #[test]
    fn at_most_callers_a_newcomer_waits_until_a_bucket_refills() {
        let mut r = RateLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 1,
        })
        .with_most_callers(2);
        let t0 = Instant::now();
        assert_eq!(r.check(1u32, t0), Ok(()));
        assert_eq!(r.check(2u32, t0), Ok(()));
        assert_eq!(r.check(3u32, t0), Err(FULL_WAIT));
        // Callers already kept go on as before.
        assert!(r.check(1u32, t0 + Duration::from_secs(1)).is_ok());
        // Once the others have refilled, they make room.
        assert_eq!(r.check(3u32, t0 + Duration::from_secs(2)), Ok(()));
        assert_eq!(r.callers(), 1);
    }
}
