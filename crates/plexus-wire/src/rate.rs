//! Per-caller rate limiting: a token bucket for each validator hotkey.
//!
//! Each caller may burst up to `burst` requests and is refilled at `per_second`. The map is
//! bounded like the nonce map (only authenticated, registered callers reach it) and buckets
//! that have refilled completely are swept, since a full bucket is what a new caller gets.

use std::collections::HashMap;
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

/// Token buckets for every caller seen recently.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: HashMap<AccountId, Bucket>,
    sweep_at: usize,
}

const MIN_SWEEP_AT: usize = 1024;

impl RateLimiter {
    /// A limiter enforcing `limit` on each caller separately.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
        }
    }

    /// Takes one token from `caller`'s bucket at `now`, or says how long until one is free.
    pub fn check(&mut self, caller: AccountId, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() >= self.sweep_at {
            self.sweep(now);
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
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let missing = 1.0 - bucket.tokens;
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
}
