//! Deciding whether an answer is what greedy decoding would have produced.
//!
//! A validator recomputes the claimed answer with [`TextModel::score`](crate::TextModel::score)
//! and passes the scores here with the miner's claims. An answer passes when, at every
//! position, the claimed token is the most likely one up to `tolerance` (so near-ties that
//! another CPU may break the other way are accepted) and the claimed log-probability equals
//! the recomputed one up to `tolerance`.
//!
//! Stopping is one of the model's choices too: a complete answer ends with its stop token
//! (see [`TextModel::is_stop`](crate::TextModel::is_stop)), which is scored like any other.
//! An answer without one, shorter than the `max_tokens` it was asked for, was cut short;
//! that is the caller's check, as only the caller knows the limit it set.
//!
//! Why a tolerance and why [`DEFAULT_TOLERANCE`] = 0.1 nats: the check reads the whole
//! answer in one pass where generation went one token at a time, and another CPU may take
//! another SIMD path; both change only rounding. Measured, one pass moves
//! log-probabilities by at most 0.02 nats (see [`TextModel::score`](crate::TextModel::score)),
//! other SIMD paths by thousandths. 0.1 leaves a margin for both while still refusing any
//! token that is not a near-tie for first place: a token 0.1 nats below the top is still at
//! least 90% as likely as the top token. Text the model did not write fails within a few
//! tokens, typically by several nats.

use crate::text::{GeneratedToken, TokenScore};

/// The default tolerance, in nats (natural-log units); see the module documentation.
pub const DEFAULT_TOLERANCE: f32 = 0.1;

/// A token of an answer as its producer claims it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClaimedToken {
    /// The token id.
    pub id: u32,
    /// The claimed log-probability.
    pub logprob: f32,
}

impl From<&GeneratedToken> for ClaimedToken {
    fn from(t: &GeneratedToken) -> Self {
        ClaimedToken {
            id: t.id,
            logprob: t.logprob,
        }
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Every token is what greedy decoding would have produced.
    Verified,
    /// The first position that failed, and why.
    Rejected {
        /// The position in the completion (0 is the first generated token).
        position: usize,
        /// Why.
        reason: Rejection,
    },
}

impl Verdict {
    /// Whether the answer verified.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verdict::Verified)
    }
}

/// Why a position failed verification.
#[derive(Clone, Debug, PartialEq)]
pub enum Rejection {
    /// The scores and the claims have different lengths (the position is the shorter
    /// length).
    LengthMismatch {
        /// Claimed tokens.
        claimed: usize,
        /// Scored tokens.
        scored: usize,
    },
    /// The scores are for another token than the claim (scores of another completion).
    TokenMismatch {
        /// The claimed id.
        claimed: u32,
        /// The scored id.
        scored: u32,
    },
    /// The token is not the most likely one, beyond the tolerance.
    NotGreedy {
        /// The claimed token.
        id: u32,
        /// Its recomputed log-probability.
        logprob: f32,
        /// The most likely token.
        top_id: u32,
        /// Its log-probability.
        top_logprob: f32,
    },
    /// The claimed log-probability differs from the recomputed one beyond the tolerance.
    LogprobMismatch {
        /// The claim.
        claimed: f32,
        /// The recomputation.
        recomputed: f32,
    },
    /// A claimed or recomputed log-probability is NaN or infinite.
    NotFinite,
}

/// Checks `claimed` against its recomputed `scores` (see the module documentation).
/// A negative or NaN `tolerance` is taken as 0.
pub fn verify(scores: &[TokenScore], claimed: &[ClaimedToken], tolerance: f32) -> Verdict {
    let tolerance = tolerance.max(0.0);
    for (position, (score, claim)) in scores.iter().zip(claimed).enumerate() {
        let reject = |reason| Verdict::Rejected { position, reason };
        if score.id != claim.id {
            return reject(Rejection::TokenMismatch {
                claimed: claim.id,
                scored: score.id,
            });
        }
        if !(score.logprob.is_finite()
            && score.top_logprob.is_finite()
            && claim.logprob.is_finite())
        {
            return reject(Rejection::NotFinite);
        }
        if score.top_logprob - score.logprob > tolerance {
            return reject(Rejection::NotGreedy {
                id: score.id,
                logprob: score.logprob,
                top_id: score.top_id,
                top_logprob: score.top_logprob,
            });
        }
        if (claim.logprob - score.logprob).abs() > tolerance {
            return reject(Rejection::LogprobMismatch {
                claimed: claim.logprob,
                recomputed: score.logprob,
            });
        }
    }
    if scores.len() != claimed.len() {
        return Verdict::Rejected {
            position: scores.len().min(claimed.len()),
            reason: Rejection::LengthMismatch {
                claimed: claimed.len(),
                scored: scores.len(),
            },
        };
    }
    Verdict::Verified
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(id: u32, logprob: f32, top_id: u32, top_logprob: f32) -> TokenScore {
        TokenScore {
            id,
            logprob,
            top_id,
            top_logprob,
        }
    }

    fn claim(id: u32, logprob: f32) -> ClaimedToken {
        ClaimedToken { id, logprob }
    }

    #[test]
    fn greedy_tokens_and_near_ties_verify() {
        let scores = [score(5, -0.1, 5, -0.1), score(7, -0.70, 9, -0.65)];
        let claims = [claim(5, -0.1), claim(7, -0.71)];
        assert_eq!(
            verify(&scores, &claims, DEFAULT_TOLERANCE),
            Verdict::Verified
        );
        assert!(verify(&[], &[], DEFAULT_TOLERANCE).is_verified());
    }

    #[test]
    fn each_failure_names_its_position_and_cause() {
        let scores = [score(5, -0.1, 5, -0.1), score(7, -3.0, 9, -0.2)];
        let v = verify(
            &scores,
            &[claim(5, -0.1), claim(7, -3.0)],
            DEFAULT_TOLERANCE,
        );
        assert!(
            matches!(
                v,
                Verdict::Rejected {
                    position: 1,
                    reason: Rejection::NotGreedy { top_id: 9, .. }
                }
            ),
            "{v:?}"
        );

        let v = verify(&scores[..1], &[claim(5, -0.5)], DEFAULT_TOLERANCE);
        assert!(
            matches!(
                v,
                Verdict::Rejected {
                    position: 0,
                    reason: Rejection::LogprobMismatch { .. }
                }
            ),
            "{v:?}"
        );

        let v = verify(&scores[..1], &[claim(6, -0.1)], DEFAULT_TOLERANCE);
        assert!(
            matches!(
                v,
                Verdict::Rejected {
                    position: 0,
                    reason: Rejection::TokenMismatch { .. }
                }
            ),
            "{v:?}"
        );

        let v = verify(
            &scores[..1],
            &[claim(5, -0.1), claim(7, -3.0)],
            DEFAULT_TOLERANCE,
        );
        assert!(
            matches!(
                v,
                Verdict::Rejected {
                    position: 1,
                    reason: Rejection::LengthMismatch {
                        claimed: 2,
                        scored: 1
                    }
                }
            ),
            "{v:?}"
        );

        let v = verify(&scores[..1], &[claim(5, f32::NAN)], f32::NAN);
        assert!(
            matches!(
                v,
                Verdict::Rejected {
                    position: 0,
                    reason: Rejection::NotFinite
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn tolerance_zero_demands_exact_greedy_choices() {
        let scores = [score(7, -0.70, 9, -0.69)];
        assert!(!verify(&scores, &[claim(7, -0.70)], 0.0).is_verified());
        assert!(verify(&scores, &[claim(7, -0.70)], 0.02).is_verified());
    }
}
