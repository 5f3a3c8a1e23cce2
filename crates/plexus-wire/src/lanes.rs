//! Nonce lanes: independent nonce sequences of one client, so concurrent requests to one
//! miner are never refused as replays when they arrive out of order (see [`crate::nonce`]).

use std::sync::Mutex;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::client::ClientError;

/// The nonce lanes of one client: a lane is held by one request at a time, so each lane's
/// nonces reach every server in increasing order.
#[derive(Debug)]
pub(crate) struct Lanes {
    available: Semaphore,
    free: Mutex<Vec<u16>>,
}

#[derive(Debug)]
pub(crate) struct LaneGuard<'a> {
    lanes: &'a Lanes,
    pub(crate) lane: u16,
    _permit: SemaphorePermit<'a>,
}

impl Drop for LaneGuard<'_> {
    fn drop(&mut self) {
        self.lanes
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self.lane);
    }
}

impl Lanes {
    pub(crate) fn new(first: u16, count: u16) -> Self {
        // Clamped so that no two lanes collide at the top of the u16 range.
        let count = count.clamp(1, (u16::MAX - first).saturating_add(1));
        // Reversed so that pop() hands out the lowest lanes first and reuses them (LIFO),
        // keeping the set of lanes a server tracks small.
        let free: Vec<u16> = (0..count).rev().map(|i| first.saturating_add(i)).collect();
        Self {
            available: Semaphore::new(free.len()),
            free: Mutex::new(free),
        }
    }

    pub(crate) async fn acquire(&self) -> Result<LaneGuard<'_>, ClientError> {
        let permit = self
            .available
            .acquire()
            .await
            .map_err(|_| ClientError::Http("lane pool closed".into()))?;
        let lane = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
            .ok_or_else(|| ClientError::Http("lane pool out of sync".into()))?;
        Ok(LaneGuard {
            lanes: self,
            lane,
            _permit: permit,
        })
    }
}
