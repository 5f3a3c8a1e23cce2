//! What defines a subnet to its validators: how to make a challenge and how to judge a
//! miner's answer to it.
//!
//! The miner's side is any [`plexus_wire::Handler`] (usually [`plexus_wire::Routes`]); the
//! validator's side is this trait. The SDK does the rest: syncing the metagraph, sampling
//! miners, signing, moving averages and weights.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use plexus_wire::{Client, ClientError, Target};
use rand::rngs::StdRng;

/// How a validator tests miners on one subnet.
pub trait Subnet: Send + Sync + 'static {
    /// A question, asked of one sampled miner (each miner gets its own).
    type Challenge: Send + Sync + 'static;

    /// The subnet's kind of work, for logs (e.g. "text", "embeddings").
    fn name(&self) -> &str;

    /// A new challenge; `rng` is the validator's, so challenges cannot be predicted. Drawn
    /// once per miner asked, so that no two miners of a round can share an answer.
    fn challenge(&self, rng: &mut StdRng) -> Self::Challenge;

    /// Whether a miner announcing `axon_version` on chain can take `challenge`; one that
    /// cannot (an older build) sits the round out rather than scoring zero. Every version
    /// takes every challenge unless a subnet says otherwise.
    fn takes(&self, challenge: &Self::Challenge, axon_version: u32) -> bool {
        let _ = (challenge, axon_version);
        true
    }

    /// Asks `target` the challenge through `client` and judges the answer.
    fn evaluate(
        &self,
        client: &Client,
        target: &Target,
        challenge: &Self::Challenge,
    ) -> impl Future<Output = Evaluation> + Send;
}

/// A validator's judgement of one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// In [0, 1]: 0 for no answer or a wrong one.
    pub score: f64,
    /// What was seen, for logs and the gateway's headers.
    pub verdict: Verdict,
}

/// How fast a streamed answer came.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Units delivered (tokens).
    pub items: usize,
    /// From the request to the first unit.
    pub first: Duration,
    /// From the request to the end of the answer.
    pub elapsed: Duration,
}

/// The pace that earns the full speed bonus.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceTargets {
    /// Units per second over the whole answer.
    pub per_second: f64,
    /// Time to the first unit.
    pub first: Duration,
}

/// What a validator concluded about an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The answer checked out.
    Correct,
    /// The miner answered, but not what the work requires.
    Wrong(String),
    /// No usable answer: unreachable, timed out, refused, malformed or unsigned.
    Unavailable(String),
    /// The validator could not judge the answer: its own model or thread failed. That
    /// says nothing of the miner, so it is not recorded ([`Evaluation::counts`]).
    Unjudged(String),
}

impl Evaluation {
    /// A correct answer worth `score`.
    pub fn correct(score: f64) -> Self {
        Self {
            score,
            verdict: Verdict::Correct,
        }
    }

    /// A correct answer of `items` units (tokens, texts) delivered in `elapsed`: half the
    /// score for being right, the other half for speed, full at `target_per_second`.
    pub fn correct_at_speed(items: usize, elapsed: Duration, target_per_second: f64) -> Self {
        let rate = items.max(1) as f64 / elapsed.as_secs_f64().max(1e-3);
        let speed = if target_per_second > 0.0 {
            (rate / target_per_second).min(1.0)
        } else {
            1.0
        };
        Self::correct(0.5 + 0.5 * speed)
    }

    /// A correct streamed answer: half the score for being right, a quarter for its rate
    /// (items per second over the whole answer) and a quarter for how soon the first item
    /// came, each full at its target.
    pub fn correct_streamed(pace: &Pace, targets: &PaceTargets) -> Self {
        let rate = pace.items.max(1) as f64 / pace.elapsed.as_secs_f64().max(1e-3);
        let rate_part = if targets.per_second > 0.0 {
            (rate / targets.per_second).min(1.0)
        } else {
            1.0
        };
        let first = pace.first.as_secs_f64().max(1e-3);
        let first_part = (targets.first.as_secs_f64() / first).min(1.0);
        Self::correct(0.5 + 0.25 * rate_part + 0.25 * first_part)
    }

    /// A wrong answer: scores zero.
    pub fn wrong(why: impl Into<String>) -> Self {
        Self {
            score: 0.0,
            verdict: Verdict::Wrong(why.into()),
        }
    }

    /// No answer: scores zero.
    pub fn unavailable(why: impl Into<String>) -> Self {
        Self {
            score: 0.0,
            verdict: Verdict::Unavailable(why.into()),
        }
    }

    /// No judgement, for a failure of the validator's own: not recorded.
    pub fn unjudged(why: impl Into<String>) -> Self {
        Self {
            score: 0.0,
            verdict: Verdict::Unjudged(why.into()),
        }
    }

    /// A call that failed: the miner is unavailable, unless the failure was this
    /// validator's own (its client had no free lane, so nothing was sent).
    pub fn failed_call(error: &ClientError) -> Self {
        match error {
            ClientError::Busy => Self::unjudged(error.to_string()),
            _ => Self::unavailable(error.to_string()),
        }
    }

    /// Whether the evaluation says something of the miner, and goes into its score.
    pub fn counts(&self) -> bool {
        !matches!(self.verdict, Verdict::Unjudged(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Correct => f.write_str("correct"),
            Self::Wrong(why) => write!(f, "wrong: {why}"),
            Self::Unavailable(why) => write!(f, "unavailable: {why}"),
            Self::Unjudged(why) => write!(f, "not judged: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_validators_own_failure_goes_unrecorded() {
        assert!(Evaluation::correct(1.0).counts());
        assert!(Evaluation::wrong("x").counts());
        assert!(Evaluation::unavailable("x").counts());
        let unjudged = Evaluation::unjudged("validator thread: panicked");
        assert!(!unjudged.counts());
        assert_eq!(
            unjudged.verdict.to_string(),
            "not judged: validator thread: panicked"
        );
    }

    #[test]
    fn a_busy_client_is_not_held_against_the_miner() {
        assert!(!Evaluation::failed_call(&ClientError::Busy).counts());
        let timeout = Evaluation::failed_call(&ClientError::Timeout);
        assert!(timeout.counts());
        assert!(matches!(timeout.verdict, Verdict::Unavailable(_)));
    }

    #[test]
    fn speed_earns_the_second_half() {
        let slow = Evaluation::correct_at_speed(10, Duration::from_secs(1), 40.0);
        assert!((slow.score - 0.625).abs() < 1e-9, "{slow:?}");
        let fast = Evaluation::correct_at_speed(100, Duration::from_secs(1), 40.0);
        assert_eq!(fast.score, 1.0);
        assert_eq!(fast.verdict, Verdict::Correct);
        assert_eq!(Evaluation::wrong("x").score, 0.0);
    }

    #[test]
    fn streamed_speed_pays_rate_and_first_token_apart() {
        let targets = PaceTargets {
            per_second: 40.0,
            first: Duration::from_millis(250),
        };
        let pace = |items, first_ms, total_ms| Pace {
            items,
            first: Duration::from_millis(first_ms),
            elapsed: Duration::from_millis(total_ms),
        };
        // 40 tokens/s and a first token in 250 ms: everything.
        let full = Evaluation::correct_streamed(&pace(40, 250, 1000), &targets);
        assert_eq!(full.score, 1.0);
        // Same rate, first token four times later: loses 3/4 of the first-token quarter.
        let late = Evaluation::correct_streamed(&pace(40, 1000, 1000), &targets);
        assert!((late.score - (0.75 + 0.25 * 0.25)).abs() < 1e-9, "{late:?}");
        // Half the rate, prompt answered at once.
        let slow = Evaluation::correct_streamed(&pace(20, 100, 1000), &targets);
        assert!((slow.score - (0.5 + 0.125 + 0.25)).abs() < 1e-9, "{slow:?}");
        assert!(late.score < full.score && slow.score < full.score);
    }
}
