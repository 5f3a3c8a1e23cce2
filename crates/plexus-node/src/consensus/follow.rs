//! Following the chain: which finalized heights a node asks the validators
//! for, round by round, when its own consensus engine does not bring them
//! (it is outside the validator set, stalled, or behind).
//!
//! Pure bookkeeping: the engine calls [`Follow::round`] on a timer and hints
//! the heights it returns to marshal, which fetches them from peers.

use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime};

/// Finalized heights a node asks for each round while it keeps up with the chain.
const FOLLOW_AHEAD: u64 = 8;
/// The most it asks for in a round while it catches up: no more requests in
/// flight than a peer may send on one channel at once (256 on TCP), so no answer
/// is dropped for the burst; a validator serves each in about 0.3 ms, under 10%
/// of one core. Rounds are a second apart under the default timeouts: about
/// 256 blocks a second.
const CATCH_UP_AHEAD: u64 = 256;
/// A node asking for at least this many heights a round is catching up: it
/// got all it asked for three rounds running (no chain grows that fast).
const CATCHING_UP_WINDOW: u64 = 8 * FOLLOW_AHEAD;
/// How often a node catching up says how far it got.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Which finalized heights a node asks the validators for, round by round.
///
/// A node outside the validator set always asks: it has no engine of its own to
/// learn of blocks from. A member asks when a round brought nothing (stalled, say
/// in an epoch the others have left), and goes on asking while every height it
/// asked for came, or many did, since it is then behind. How many it asks for
/// follows [`Follow::window`].
#[derive(Debug)]
pub(super) struct Follow {
    /// Heights asked for (or that would be) this round.
    window: u64,
    /// Whether the last round asked for any.
    asked: bool,
    /// The finalized height at the last round.
    finalized: u64,
    /// The catch-up under way, if the node is catching up.
    catch_up: Option<CatchUp>,
}

impl Follow {
    /// Rounds from `finalized`, the height the node starts at.
    pub(super) fn new(finalized: u64) -> Self {
        Self {
            window: FOLLOW_AHEAD,
            asked: false,
            finalized,
            catch_up: None,
        }
    }

    /// The heights to ask for this round, given the node's finalized height and
    /// whether it runs an engine of the current epoch; `None` to ask for nothing.
    pub(super) fn round(&mut self, finalized: u64, member: bool) -> Option<RangeInclusive<u64>> {
        let progress = finalized.saturating_sub(self.finalized);
        self.finalized = finalized;
        let all_came = self.asked && progress >= self.window;
        // A member far behind goes on through a round that brought fewer than it
        // asked for but some (slow validators, or an epoch's end cutting it
        // short): only a round at the chain's own pace after it means its engine
        // has taken over.
        let still_behind = self.asked && progress > 0 && self.window >= CATCHING_UP_WINDOW;
        self.window = Self::window(self.window, progress);
        self.asked = !member || progress == 0 || all_came || still_behind;
        self.resume(finalized, member)
    }

    /// The heights to ask for at once, from `finalized`, on entering an epoch in
    /// which the node is (or is not) a `member`: answers for heights past the
    /// old epoch's end were ignored, since their certificates could not be
    /// checked yet, and a node that has just left the set has no engine to
    /// bring it blocks. `None` for a member that was not asking.
    pub(super) fn resume(&self, finalized: u64, member: bool) -> Option<RangeInclusive<u64>> {
        (!member || self.asked).then(|| finalized + 1..=finalized.saturating_add(self.window))
    }

    /// Whether the node is catching up: asking, and for many heights a round.
    fn catching_up(&self) -> bool {
        self.asked && self.window >= CATCHING_UP_WINDOW
    }

    /// What to tell of the node's catching up after the last round, at `now`:
    /// that it started, how far it got (every [`PROGRESS_EVERY`]), or that it
    /// is done.
    pub(super) fn progress(&mut self, now: SystemTime) -> Option<CatchUpEvent> {
        let height = self.finalized;
        match (self.catching_up(), &mut self.catch_up) {
            (true, Some(catch_up)) => catch_up.progress(height, now).map(CatchUpEvent::Progress),
            (true, None) => {
                self.catch_up = Some(CatchUp::new(height, now));
                Some(CatchUpEvent::Started)
            }
            (false, Some(_)) => {
                let (blocks, took) = self.catch_up.take()?.done(height, now);
                Some(CatchUpEvent::Done { blocks, took })
            }
            (false, None) => None,
        }
    }

    /// How far ahead to ask next round, given the `window` asked for and the
    /// `progress` (heights finalized) since: a node that got all it asked for is
    /// behind, and asks for twice as many, up to [`CATCH_UP_AHEAD`]; one that
    /// did not is near the chain's head, and asks for about what came, at least
    /// [`FOLLOW_AHEAD`].
    fn window(window: u64, progress: u64) -> u64 {
        if progress >= window {
            window.saturating_mul(2).min(CATCH_UP_AHEAD)
        } else {
            progress.clamp(FOLLOW_AHEAD, CATCH_UP_AHEAD)
        }
    }
}

/// What a node's catching up comes to in a round (see [`Follow::progress`]).
#[derive(Debug, PartialEq)]
pub(super) enum CatchUpEvent {
    /// It started.
    Started,
    /// How far it got since the last report.
    Progress(Report),
    /// It is done: the blocks fetched, and how long it took.
    Done { blocks: u64, took: Duration },
}

/// What a node catching up reports, so that its operator sees it move (a
/// chain of millions of blocks takes hours to fetch).
#[derive(Debug)]
struct CatchUp {
    /// Height and time when it started.
    from: (u64, SystemTime),
    /// Height and time of the last report.
    reported: (u64, SystemTime),
}

/// One report of a [`CatchUp`].
#[derive(Debug, PartialEq)]
pub(super) struct Report {
    /// Blocks fetched since the report before (or the start).
    pub blocks: u64,
    /// Their rate, per second.
    pub per_second: u64,
}

impl CatchUp {
    /// Starts at `height` at `now`.
    fn new(height: u64, now: SystemTime) -> Self {
        Self {
            from: (height, now),
            reported: (height, now),
        }
    }

    /// A report, at most every [`PROGRESS_EVERY`], of the blocks since the last.
    fn progress(&mut self, height: u64, now: SystemTime) -> Option<Report> {
        let report = Self::since(self.reported, height, now)?;
        self.reported = (height, now);
        Some(report)
    }

    /// The whole catch-up, once done at `height`: the blocks and how long.
    fn done(&self, height: u64, now: SystemTime) -> (u64, Duration) {
        let (from, at) = self.from;
        let took = now.duration_since(at).unwrap_or_default();
        (height.saturating_sub(from), took)
    }

    fn since((from, at): (u64, SystemTime), height: u64, now: SystemTime) -> Option<Report> {
        // A clock set back reports nothing until it passes the last report again.
        let elapsed = now.duration_since(at).ok()?;
        if elapsed < PROGRESS_EVERY {
            return None;
        }
        let blocks = height.saturating_sub(from);
        let per_second = u64::try_from(u128::from(blocks) * 1_000 / elapsed.as_millis().max(1))
            .unwrap_or(u64::MAX);
        Some(Report { blocks, per_second })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_far_behind_asks_for_more_each_round_and_for_little_at_the_head() {
        // Far behind: everything asked for arrives, so the window doubles to its cap.
        let mut window = FOLLOW_AHEAD;
        let mut rounds = 0;
        while window < CATCH_UP_AHEAD {
            window = Follow::window(window, window);
            rounds += 1;
        }
        assert_eq!((window, rounds), (CATCH_UP_AHEAD, 5));
        assert_eq!(
            Follow::window(CATCH_UP_AHEAD, CATCH_UP_AHEAD),
            CATCH_UP_AHEAD
        );
        // A slow round (the validators busy) keeps about what came.
        assert_eq!(Follow::window(CATCH_UP_AHEAD, 200), 200);
        // At the head, blocks come at the chain's pace: back to a few at a time.
        assert_eq!(Follow::window(CATCH_UP_AHEAD, 5), FOLLOW_AHEAD);
        assert_eq!(Follow::window(FOLLOW_AHEAD, 0), FOLLOW_AHEAD);
    }

    #[test]
    fn a_member_asks_only_when_stalled_and_while_all_it_asked_for_comes() {
        let mut follow = Follow::new(0);
        // Keeping up through its own engine: nothing to ask for.
        assert_eq!(follow.round(3, true), None);
        assert_eq!(follow.round(5, true), None);
        // Stalled (say its epoch is one the others left): it asks.
        assert_eq!(follow.round(5, true), Some(6..=13));
        // All came: it is behind, and asks for more each round.
        assert_eq!(follow.round(13, true), Some(14..=29));
        assert_eq!(follow.round(29, true), Some(30..=61));
        // Fewer than asked came: at the head, its engine takes over.
        assert_eq!(follow.round(40, true), None);
        assert_eq!(follow.round(42, true), None);
    }

    #[test]
    fn a_member_far_behind_goes_on_asking_through_a_slow_round() {
        let mut follow = Follow::new(0);
        follow.round(0, true);
        // Stalled, then all it asks for comes: 8, 16, 32, 64, then 128 asked for.
        let mut asked = follow.round(0, true).unwrap();
        let mut finalized = 0;
        for _ in 0..4 {
            finalized = *asked.end();
            asked = follow.round(finalized, true).unwrap();
        }
        assert_eq!((finalized, asked), (120, 121..=248));
        // The validators are slow: 100 of the 128 came. Still behind.
        assert_eq!(follow.round(220, true), Some(221..=320));
        // An epoch's end cuts the next round short: 10 came. Still behind.
        assert_eq!(follow.round(230, true), Some(231..=240));
        // Then its engine at the chain's pace: it stops asking.
        assert_eq!(follow.round(235, true), None);
        assert_eq!(follow.round(240, true), None);
    }

    #[test]
    fn entering_an_epoch_asks_at_once_unless_a_member_keeping_up() {
        let mut follow = Follow::new(0);
        assert_eq!(follow.round(5, true), None);
        // A member keeping up: its engine brings the new epoch's blocks.
        assert_eq!(follow.resume(5, true), None);
        // It left the set at the boundary: it asks without waiting for a round.
        assert_eq!(follow.resume(5, false), Some(6..=13));
        // A member that was asking asks again from the boundary.
        assert_eq!(follow.round(5, true), Some(6..=13));
        assert_eq!(follow.resume(16, true), Some(17..=24));
    }

    #[test]
    fn catching_up_is_many_heights_asked_for_and_all_coming() {
        let mut follow = Follow::new(0);
        let mut height = 0;
        // All it asks for comes: 8, 16, 32 heights, then it asks for 64.
        for _ in 0..3 {
            assert!(!follow.catching_up());
            height = *follow.round(height, false).unwrap().end();
        }
        follow.round(height, false);
        assert!(follow.catching_up());
        let start = SystemTime::UNIX_EPOCH;
        assert_eq!(follow.progress(start), Some(CatchUpEvent::Started));
        assert_eq!(follow.progress(start + Duration::from_secs(1)), None);
        // At the head a round brings what the chain made: not catching up.
        follow.round(height + 5, false);
        assert!(!follow.catching_up());
        assert_eq!(
            follow.progress(start + Duration::from_secs(2)),
            Some(CatchUpEvent::Done {
                blocks: 5,
                took: Duration::from_secs(2)
            })
        );
        assert_eq!(follow.progress(start + Duration::from_secs(3)), None);
        // A member keeping up through its engine, however fast, is not either.
        let mut member = Follow::new(0);
        member.round(300, true);
        member.round(600, true);
        assert!(!member.catching_up());
    }

    #[test]
    fn a_catch_up_reports_every_ten_seconds_and_its_whole_once_done() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut catch_up = CatchUp::new(100, start);
        assert_eq!(catch_up.progress(600, at(5)), None);
        assert_eq!(
            catch_up.progress(2_660, at(10)),
            Some(Report {
                blocks: 2_560,
                per_second: 256
            })
        );
        assert_eq!(catch_up.progress(3_000, at(19)), None);
        // The clock set back: nothing until it passes the last report again.
        assert_eq!(catch_up.progress(3_100, at(2)), None);
        assert_eq!(
            catch_up.progress(5_160, at(30)),
            Some(Report {
                blocks: 2_500,
                per_second: 125
            })
        );
        assert_eq!(
            catch_up.done(5_300, at(31)),
            (5_200, Duration::from_secs(31))
        );
    }

    #[test]
    fn a_node_outside_the_set_always_asks() {
        let mut follow = Follow::new(0);
        assert_eq!(follow.round(0, false), Some(1..=8));
        assert_eq!(follow.round(8, false), Some(9..=24));
        // At the head: a few heights beyond it, each round.
        assert_eq!(follow.round(10, false), Some(11..=18));
        assert_eq!(follow.round(10, false), Some(11..=18));
    }
}
