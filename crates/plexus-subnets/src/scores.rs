//! A validator's opinion of each miner: an exponential moving average of round scores,
//! turned into the `u16` weights the chain takes.
//!
//! Scores live off chain and may use floats; only the weights they become are submitted,
//! and the ledger normalises those itself.

use std::collections::BTreeMap;

use plexus_primitives::AccountId;

/// One miner's running score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinerScore {
    /// The hotkey the score belongs to; a new hotkey on the UID starts from zero.
    pub hotkey: AccountId,
    /// The moving average, in [0, 1].
    pub average: f64,
    /// Rounds observed.
    pub rounds: u64,
}

/// Moving-average scores by UID.
#[derive(Debug, Clone)]
pub struct Scores {
    alpha: f64,
    by_uid: BTreeMap<u16, MinerScore>,
}

impl Scores {
    /// Scores where each new observation weighs `alpha` (clamped to (0, 1]).
    pub fn new(alpha: f64) -> Self {
        let alpha = if alpha.is_finite() {
            alpha.clamp(f64::MIN_POSITIVE, 1.0)
        } else {
            1.0
        };
        Self {
            alpha,
            by_uid: BTreeMap::new(),
        }
    }

    /// Records one observation of `uid` (registered as `hotkey`) scoring `score` in [0, 1].
    ///
    /// A UID that changed hands (pruned and re-registered) starts again from zero, so a
    /// newcomer neither inherits nor is punished for its predecessor's record.
    pub fn record(&mut self, uid: u16, hotkey: AccountId, score: f64) {
        let score = if score.is_finite() {
            score.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let entry = self.by_uid.entry(uid).or_insert(MinerScore {
            hotkey,
            average: 0.0,
            rounds: 0,
        });
        if entry.hotkey != hotkey {
            *entry = MinerScore {
                hotkey,
                average: 0.0,
                rounds: 0,
            };
        }
        entry.average += self.alpha * (score - entry.average);
        entry.rounds += 1;
    }

    /// Forgets UIDs that are gone or now belong to another hotkey.
    pub fn retain_registered(&mut self, registered: impl Fn(u16, &AccountId) -> bool) {
        self.by_uid.retain(|uid, s| registered(*uid, &s.hotkey));
    }

    /// The score of `uid`, if observed.
    pub fn get(&self, uid: u16) -> Option<&MinerScore> {
        self.by_uid.get(&uid)
    }

    /// Every observed UID with its score, by UID.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &MinerScore)> {
        self.by_uid.iter().map(|(uid, s)| (*uid, s))
    }

    /// The weights these scores give: UIDs with a positive score, scaled so the best is
    /// `u16::MAX` (the chain normalises rows itself). Empty when nobody scored.
    pub fn weights(&self) -> (Vec<u16>, Vec<u16>) {
        let best = self
            .by_uid
            .values()
            .map(|s| s.average)
            .fold(0.0_f64, f64::max);
        if best <= 0.0 {
            return (Vec::new(), Vec::new());
        }
        self.by_uid
            .iter()
            .filter_map(|(uid, s)| {
                let w = (s.average / best * f64::from(u16::MAX)).round();
                // `as` saturates; the clamp only documents the range.
                let w = w.clamp(0.0, f64::from(u16::MAX)) as u16;
                (w > 0).then_some((*uid, w))
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> AccountId {
        AccountId([n; 32])
    }

    #[test]
    fn averages_move_toward_observations() {
        let mut s = Scores::new(0.5);
        s.record(3, key(3), 1.0);
        s.record(3, key(3), 1.0);
        assert_eq!(s.get(3).map(|m| m.average), Some(0.75));
        s.record(3, key(3), 0.0);
        assert_eq!(s.get(3).map(|m| m.average), Some(0.375));
    }

    #[test]
    fn a_new_hotkey_on_a_uid_starts_from_zero() {
        let mut s = Scores::new(1.0);
        s.record(1, key(1), 1.0);
        s.record(1, key(9), 0.25);
        let m = s.get(1).copied();
        assert_eq!(
            m.map(|m| (m.hotkey, m.average, m.rounds)),
            Some((key(9), 0.25, 1))
        );
    }

    #[test]
    fn weights_scale_the_best_to_max_and_drop_zeros() {
        let mut s = Scores::new(1.0);
        s.record(1, key(1), 0.5);
        s.record(2, key(2), 0.25);
        s.record(4, key(4), 0.0);
        s.record(5, key(5), f64::NAN);
        assert_eq!(s.weights(), (vec![1, 2], vec![u16::MAX, 32_768]));
        assert_eq!(Scores::new(0.1).weights(), (vec![], vec![]));
    }

    #[test]
    fn scores_are_clamped_to_the_unit_interval() {
        let mut s = Scores::new(1.0);
        s.record(1, key(1), 7.0);
        s.record(2, key(2), -3.0);
        assert_eq!(s.get(1).map(|m| m.average), Some(1.0));
        assert_eq!(s.get(2).map(|m| m.average), Some(0.0));
    }

    #[test]
    fn deregistered_uids_are_forgotten() {
        let mut s = Scores::new(1.0);
        s.record(1, key(1), 1.0);
        s.record(2, key(2), 1.0);
        s.retain_registered(|uid, hotkey| uid == 1 && *hotkey == key(1));
        assert!(s.get(1).is_some());
        assert!(s.get(2).is_none());
    }
}
