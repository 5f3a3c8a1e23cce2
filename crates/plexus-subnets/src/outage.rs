//! A recurring task's run of failures, said without a log line per try: its start, a
//! reminder each minute while it lasts, and its end. A miner syncs every second, so a
//! node down for a minute would otherwise write sixty warnings, and none when it is back.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// How often a failure that goes on is said again.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// One recurring task's failures (`what` names the task in each line).
#[derive(Debug)]
pub(crate) struct Outage {
    what: &'static str,
    /// When the current run of failures began, and when it was last said.
    failing: Option<(Instant, Instant)>,
}

impl Outage {
    /// No failure yet.
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            failing: None,
        }
    }

    /// The task failed with `error` at `now`: said at the first failure of a run and once
    /// a minute after; the tries between are debug lines.
    pub(crate) fn failed(&mut self, error: &dyn Display, now: Instant) {
        let what = self.what;
        match &mut self.failing {
            None => {
                tracing::warn!(%error, "{what} failed; trying again, said once a minute while it fails");
                self.failing = Some((now, now));
            }
            Some((since, said)) if now.duration_since(*said) >= REMIND_EVERY => {
                let secs = now.duration_since(*since).as_secs();
                tracing::warn!(%error, failing_for_s = secs, "{what} still failing");
                *said = now;
            }
            Some(_) => tracing::debug!(%error, "{what} failed"),
        }
    }

    /// The task succeeded at `now`: a run of failures that it ends is said to be over.
    pub(crate) fn succeeded(&mut self, now: Instant) {
        if let Some((since, _)) = self.failing.take() {
            let secs = now.duration_since(since).as_secs();
            tracing::info!(failed_for_s = secs, "{} works again", self.what);
        }
    }

    /// Whether the task is failing now.
    #[cfg(test)]
    fn is_failing(&self) -> bool {
        self.failing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_is_said_at_its_start_each_minute_and_at_its_end() {
        let start = Instant::now();
        let mut outage = Outage::new("chain sync");
        outage.succeeded(start);
        assert!(!outage.is_failing());
        outage.failed(&"connection refused", start);
        assert_eq!(outage.failing, Some((start, start)));
        // Within the minute: not said again.
        outage.failed(&"connection refused", start + Duration::from_secs(30));
        assert_eq!(outage.failing, Some((start, start)));
        // A minute on: said again, and counted from then.
        let later = start + Duration::from_secs(61);
        outage.failed(&"connection refused", later);
        assert_eq!(outage.failing, Some((start, later)));
        outage.succeeded(later + Duration::from_secs(1));
        assert!(!outage.is_failing());
        // A new run starts afresh.
        let again = later + Duration::from_secs(5);
        outage.failed(&"timeout", again);
        assert_eq!(outage.failing, Some((again, again)));
    }
}
