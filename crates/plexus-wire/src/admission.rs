//! Priority by stake when busy: a concurrency budget whose free slots go to the highest
//! stake first.
//!
//! At most `capacity` handlers run at once. When all slots are taken a request waits in a
//! queue of at most `max_waiting` entries, ordered by the caller's stake (ties: first come,
//! first served). A freed slot goes to the highest-stake waiter. When the queue is full, a
//! newcomer with more stake than the lowest waiter takes its place and that waiter is refused;
//! otherwise the newcomer is refused. A waiter not served within `max_wait` is refused too.
//! Refused means 503 `busy`, before any handler code runs.
//!
//! A slot is an RAII [`Permit`]: dropping it hands the slot to the next waiter. Slots travel
//! to waiters through oneshot channels, and channel sends happen outside the lock so that a
//! permit dropped by a vanished waiter can re-enter [`Permit::drop`] without deadlocking.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// A slot, or the refusal a waiter gets when out-ranked.
type Grant = Result<Permit, ()>;

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// Waiters by (stake, reverse arrival): the last entry is the one to serve next.
    waiting: BTreeMap<(u64, Reverse<u64>), oneshot::Sender<Grant>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    max_waiting: usize,
    max_wait: Duration,
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The concurrency budget shared by every request of one server.
#[derive(Debug, Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

/// One running handler's slot; dropping it frees the slot for the next waiter.
#[derive(Debug)]
pub struct Permit {
    inner: Option<Arc<Inner>>,
}

impl Admission {
    /// A budget of `capacity` concurrent handlers (at least 1) with a stake-ordered queue.
    pub fn new(capacity: usize, max_waiting: usize, max_wait: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                capacity: capacity.max(1),
                max_waiting,
                max_wait,
                state: Mutex::new(State {
                    in_flight: 0,
                    waiting: BTreeMap::new(),
                    next_seq: 0,
                }),
            }),
        }
    }

    /// Handlers running now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().in_flight
    }

    /// Waits for a slot for a caller with `stake`; `None` means refused (busy).
    pub async fn acquire(&self, stake: u64) -> Option<Permit> {
        let (key, mut rx, evicted) = {
            let mut state = self.inner.lock();
            if state.in_flight < self.inner.capacity {
                state.in_flight += 1;
                return Some(self.permit());
            }
            let mut evicted = None;
            if state.waiting.len() >= self.inner.max_waiting {
                let lowest = state.waiting.first_key_value().map(|(k, _)| *k);
                match lowest {
                    Some(lowest) if lowest.0 < stake => {
                        evicted = state.waiting.remove(&lowest);
                    }
                    _ => return None,
                }
            }
            let key = (stake, Reverse(state.next_seq));
            state.next_seq += 1;
            let (tx, rx) = oneshot::channel();
            state.waiting.insert(key, tx);
            (key, rx, evicted)
        };
        if let Some(tx) = evicted {
            // The out-ranked waiter may already be gone; nothing to undo then.
            let _ = tx.send(Err(()));
        }
        match tokio::time::timeout(self.inner.max_wait, &mut rx).await {
            Ok(grant) => grant.ok()?.ok(),
            Err(_elapsed) => {
                if self.inner.lock().waiting.remove(&key).is_some() {
                    return None;
                }
                // A releaser already took our sender and is about to send: take what comes.
                rx.await.ok()?.ok()
            }
        }
    }

    fn permit(&self) -> Permit {
        Permit {
            inner: Some(Arc::clone(&self.inner)),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        loop {
            let next = {
                let mut state = inner.lock();
                match state.waiting.pop_last() {
                    Some((_, tx)) => tx,
                    None => {
                        state.in_flight -= 1;
                        return;
                    }
                }
            };
            // The slot stays counted in `in_flight` while it moves to the waiter.
            let permit = Permit {
                inner: Some(Arc::clone(&inner)),
            };
            match next.send(Ok(permit)) {
                Ok(()) => return,
                Err(returned) => {
                    // That waiter gave up; disarm the returned permit and try the next one.
                    if let Ok(mut permit) = returned {
                        permit.inner = None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn highest_stake_waiter_is_served_first() {
        let adm = Admission::new(1, 4, Duration::from_secs(5));
        let held = adm.acquire(1).await.unwrap();
        let low = tokio::spawn({
            let adm = adm.clone();
            async move { adm.acquire(10).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let high = tokio::spawn({
            let adm = adm.clone();
            async move {
                let permit = adm.acquire(100).await;
                // Holding the slot a moment lets the test see the low waiter still queued.
                tokio::time::sleep(Duration::from_millis(50)).await;
                permit.is_some()
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!low.is_finished());
        assert!(high.await.unwrap());
        assert!(low.await.unwrap());
        assert_eq!(adm.in_flight(), 0);
    }

    #[tokio::test]
    async fn full_queue_evicts_the_lowest_stake() {
        let adm = Admission::new(1, 1, Duration::from_secs(5));
        let held = adm.acquire(1).await.unwrap();
        let low = tokio::spawn({
            let adm = adm.clone();
            async move { adm.acquire(10).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Equal or lower stake than the queued waiter: refused at once.
        assert!(adm.acquire(10).await.is_none());
        let high = tokio::spawn({
            let adm = adm.clone();
            async move { adm.acquire(50).await.is_some() }
        });
        assert!(!low.await.unwrap());
        drop(held);
        assert!(high.await.unwrap());
        assert_eq!(adm.in_flight(), 0);
    }

    #[tokio::test]
    async fn waiters_time_out_and_vanished_waiters_do_not_leak_slots() {
        let adm = Admission::new(1, 8, Duration::from_millis(30));
        let held = adm.acquire(1).await.unwrap();
        assert!(adm.acquire(5).await.is_none());
        // A waiter whose request was dropped mid-wait.
        let vanished = tokio::spawn({
            let adm = adm.clone();
            async move { adm.acquire(7).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        vanished.abort();
        let _ = vanished.await;
        drop(held);
        assert_eq!(adm.in_flight(), 0);
        let again = adm.acquire(1).await;
        assert!(again.is_some());
        drop(again);
        assert_eq!(adm.in_flight(), 0);
    }
}
