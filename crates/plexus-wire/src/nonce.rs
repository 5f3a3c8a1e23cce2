//! Replay protection: nonces strictly increasing per caller and lane, within a time window.
//!
//! A nonce is the caller's clock in Unix nanoseconds. The server accepts it when it is
//! within `window` of its own clock (either side: clocks drift) and strictly above the last
//! nonce it accepted from the same caller on the same lane.
//!
//! Lanes exist because one validator legitimately has many requests in flight to one miner,
//! and concurrent requests can arrive in any order: a single strictly increasing sequence
//! per caller would refuse the reordered ones. A client holds a lane for one request at a
//! time, so each lane's nonces arrive in order. (The reference SDK keys its nonces by hotkey
//! and a per-client UUID for the same reason, and refuses reordered fan-out requests.)
//!
//! Memory is bounded: only callers that passed the metagraph and signature checks get an
//! entry, lanes are capped by the server, and entries whose last nonce has fallen out of the
//! window are swept, which is safe because every nonce at or below it is already stale.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexus_primitives::AccountId;
use thiserror::Error;

/// The system clock in Unix nanoseconds: what callers use as nonces and servers compare
/// them against. A clock before 1970 reads as 0 (every nonce is then stale, visibly).
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Why a nonce is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum NonceError {
    /// Further than the window from the server's clock.
    #[error("nonce {nonce} is more than {window_ms} ms from the server clock {now}")]
    Stale {
        /// The nonce received.
        nonce: u64,
        /// The server clock, in Unix nanoseconds.
        now: u64,
        /// The window, in milliseconds.
        window_ms: u64,
    },
    /// Not above the last nonce accepted for this caller and lane.
    #[error("nonce {nonce} is not above the last accepted nonce {last} of this caller and lane")]
    Replayed {
        /// The nonce received.
        nonce: u64,
        /// The last nonce accepted.
        last: u64,
    },
}

/// The last nonce accepted per caller and lane.
#[derive(Debug)]
pub struct NonceTracker {
    window_nanos: u64,
    last: HashMap<(AccountId, u16), u64>,
    sweep_at: usize,
}

/// Entries tolerated before the first sweep; sweeps then run when the map doubles.
const MIN_SWEEP_AT: usize = 1024;

impl NonceTracker {
    /// A tracker accepting nonces within `window` of the server clock.
    pub fn new(window: Duration) -> Self {
        Self {
            window_nanos: u64::try_from(window.as_nanos()).unwrap_or(u64::MAX),
            last: HashMap::new(),
            sweep_at: MIN_SWEEP_AT,
        }
    }

    /// Checks `nonce` against the window around `now` (Unix nanoseconds) and the last nonce
    /// of `(caller, lane)`; records it when accepted.
    pub fn check_and_record(
        &mut self,
        caller: AccountId,
        lane: u16,
        nonce: u64,
        now: u64,
    ) -> Result<(), NonceError> {
        self.check(caller, lane, nonce, now)?;
        if self.last.len() >= self.sweep_at {
            self.sweep(now);
        }
        self.last.insert((caller, lane), nonce);
        Ok(())
    }

    /// What [`Self::check_and_record`] would say, recording nothing: lets a server refuse
    /// a stale or replayed request before it reads the body.
    pub fn check(
        &self,
        caller: AccountId,
        lane: u16,
        nonce: u64,
        now: u64,
    ) -> Result<(), NonceError> {
        if nonce.abs_diff(now) > self.window_nanos {
            return Err(NonceError::Stale {
                nonce,
                now,
                window_ms: self.window_nanos / 1_000_000,
            });
        }
        match self.last.get(&(caller, lane)) {
            Some(&last) if nonce <= last => Err(NonceError::Replayed { nonce, last }),
            _ => Ok(()),
        }
    }

    /// How many (caller, lane) entries are held.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    fn sweep(&mut self, now: u64) {
        let window = self.window_nanos;
        self.last
            .retain(|_, last| last.saturating_add(window) >= now);
        self.sweep_at = (self.last.len() * 2).max(MIN_SWEEP_AT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn caller(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    #[test]
    fn checking_records_nothing() {
        let mut t = NonceTracker::new(Duration::from_secs(30));
        let now = 1_000_000_000_000;
        assert_eq!(t.check(caller(1), 0, now, now), Ok(()));
        assert_eq!(t.check(caller(1), 0, now, now), Ok(()));
        t.check_and_record(caller(1), 0, now, now).unwrap();
        assert!(matches!(
            t.check(caller(1), 0, now, now),
            Err(NonceError::Replayed { .. })
        ));
        assert!(matches!(
            t.check(caller(1), 0, now - 31_000_000_000, now),
            Err(NonceError::Stale { .. })
        ));
        assert_eq!(t.check(caller(1), 1, now, now), Ok(()));
    }

    #[test]
    fn strictly_increasing_per_caller_and_lane() {
        let mut t = NonceTracker::new(Duration::from_secs(10));
        let now = 100 * SEC;
        assert_eq!(t.check_and_record(caller(1), 0, now, now), Ok(()));
        assert_eq!(
            t.check_and_record(caller(1), 0, now, now),
            Err(NonceError::Replayed {
                nonce: now,
                last: now
            })
        );
        assert!(t.check_and_record(caller(1), 0, now - 1, now).is_err());
        // Another lane and another caller have their own sequences.
        assert_eq!(t.check_and_record(caller(1), 1, now - 1, now), Ok(()));
        assert_eq!(t.check_and_record(caller(2), 0, now - 1, now), Ok(()));
        assert_eq!(t.check_and_record(caller(1), 0, now + 1, now), Ok(()));
    }

    #[test]
    fn window_on_both_sides() {
        let mut t = NonceTracker::new(Duration::from_secs(10));
        let now = 100 * SEC;
        assert!(matches!(
            t.check_and_record(caller(1), 0, now - 11 * SEC, now),
            Err(NonceError::Stale { .. })
        ));
        assert!(matches!(
            t.check_and_record(caller(1), 0, now + 11 * SEC, now),
            Err(NonceError::Stale { .. })
        ));
        assert_eq!(t.check_and_record(caller(1), 0, now + 9 * SEC, now), Ok(()));
        assert!(t.check_and_record(caller(1), 0, 0, 0).is_err());
    }

    #[test]
    fn sweep_forgets_only_what_the_window_already_refuses() {
        let mut t = NonceTracker::new(Duration::from_secs(1));
        let start = 10 * SEC;
        for lane in 0..MIN_SWEEP_AT as u16 {
            t.check_and_record(caller(1), lane, start, start).unwrap();
        }
        let later = start + 5 * SEC;
        t.check_and_record(caller(2), 0, later, later).unwrap();
        assert_eq!(t.len(), 1);
        // The forgotten nonces are stale, so forgetting them re-opens no replay.
        assert!(matches!(
            t.check_and_record(caller(1), 0, start, later),
            Err(NonceError::Stale { .. })
        ));
    }
}
