//! The bytes of node answers the explorer holds at once, across all requests.
//!
//! A `POST /rpc` answer is held from the moment the node's reply arrives until the
//! connection has taken the whole response: while the rest of its batch is awaited, and
//! while a slow client reads. Every answer is charged to one budget; one that does not fit
//! is dropped at once and replaced by a short error, so many heavy batches, or clients that
//! read slowly, cannot pile answers up in memory. Charges are whole KiB.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A share of the budget, given back when dropped.
pub type Held = OwnedSemaphorePermit;

/// The budget for answers held at once; cheap to clone (clones share it).
#[derive(Clone, Debug)]
pub struct AnswerBudget {
    kib: Arc<Semaphore>,
    capacity_kib: usize,
}

/// An answer the budget cannot hold now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Larger than the whole budget: it can never be held.
    #[error(
        "an answer of {bytes} bytes is more than the explorer holds at once ({capacity} bytes)"
    )]
    TooLarge {
        /// The answer's size.
        bytes: usize,
        /// The budget's.
        capacity: usize,
    },
    /// The budget is taken by other answers for now.
    #[error("the explorer is holding too many answers; try again")]
    Busy,
}

impl AnswerBudget {
    /// A budget of `bytes` (rounded up to whole KiB, at least one).
    pub fn new(bytes: usize) -> Self {
        let capacity_kib = kib_of(bytes).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            kib: Arc::new(Semaphore::new(capacity_kib)),
            capacity_kib,
        }
    }

    /// Charges an answer of `bytes` to the budget until the returned share is dropped.
    pub fn hold(&self, bytes: usize) -> Result<Held, Refusal> {
        let kib = kib_of(bytes);
        let too_large = Refusal::TooLarge {
            bytes,
            capacity: self.capacity_kib * 1024,
        };
        if kib > self.capacity_kib {
            return Err(too_large);
        }
        let kib = u32::try_from(kib).map_err(|_| too_large)?;
        Arc::clone(&self.kib)
            .try_acquire_many_owned(kib)
            .map_err(|_| Refusal::Busy)
    }

    /// Bytes not held by any answer now.
    pub fn available(&self) -> usize {
        self.kib.available_permits() * 1024
    }
}

/// Whole KiB needed for `bytes`; an empty answer still costs one.
fn kib_of(bytes: usize) -> usize {
    bytes.div_ceil(1024).max(1)
}

/// A response body sent in `parts`, holding `held` until the connection has taken the
/// last part and dropped the body.
pub fn body(parts: Vec<Bytes>, held: Vec<Held>) -> Body {
    let parts = futures_util::stream::iter(parts).map(move |part| {
        // The shares live as long as the stream, which hyper drops when it is done.
        let _shares = &held;
        Ok::<_, Infallible>(part)
    });
    Body::from_stream(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_charged_in_whole_kib_and_given_back() {
        let budget = AnswerBudget::new(3 * 1024);
        let small = budget.hold(1).unwrap();
        let two_kib = budget.hold(1025).unwrap();
        assert_eq!(budget.available(), 0);
        assert!(matches!(budget.hold(1), Err(Refusal::Busy)));
        drop(small);
        assert_eq!(budget.available(), 1024);
        assert!(matches!(budget.hold(1025), Err(Refusal::Busy)));
        drop(two_kib);
        assert_eq!(budget.available(), 3 * 1024);
    }

    #[test]
    fn an_answer_larger_than_the_budget_is_refused_for_good() {
        let budget = AnswerBudget::new(2048);
        assert!(matches!(
            budget.hold(2049),
            Err(Refusal::TooLarge {
                bytes: 2049,
                capacity: 2048
            })
        ));
        assert!(matches!(
            budget.hold(usize::MAX),
            Err(Refusal::TooLarge { .. })
        ));
        assert_eq!(budget.available(), 2048);
    }
}
