//! Saved ledger states, so that a restarted node re-executes the blocks
//! finalized since one of them rather than the whole chain.
//!
//! Every [`SnapshotPolicy::every`] finalized heights the state after that
//! height is written to one of two slots, alternately, in the node's storage
//! (one blob each: the state's length and hash, then the state). On start the
//! **older** of the two is used: the restart then re-executes between one and
//! two intervals of blocks and hands them to the node's sink again, so recent
//! transactions keep their receipts (see `crate::store`). A saved state is
//! trusted only if it reads back whole and its root is the root the finalized
//! block at its height commits to; anything else (a torn write, a state from
//! another chain, a format this build cannot read) is skipped with a warning,
//! and the node falls back to the other slot, then to genesis. Saved states
//! are a cache: no failure to read or write them stops the node.

use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};

use commonware_runtime::{Blob as _, ReadOptions, Spawner, Storage, WriteOptions};
use futures::StreamExt as _;
use futures::channel::mpsc;
use plexus_ledger::{Ledger, snapshot};
use plexus_primitives::Hash;
use tracing::{debug, warn};

use crate::journal::Journal;

/// Largest saved state written or read (a damaged length must not make the node
/// allocate without bound; a state this large is re-executed from genesis).
const MAX_SNAPSHOT_BYTES: u64 = 1 << 30;

/// The blob beside the two slots that keeps the checkpoint the node serves (a
/// torn write does not decode, and is ignored).
const CHECKPOINT_SLOT: u8 = 2;

/// A slot's header: the state's length (8 bytes, big-endian), then its hash.
const HEADER: usize = 8 + 32;

/// Heights between saved states on a node that sets nothing else. At one block
/// every 200 ms (an idle chain) that is about seven minutes; a restart then
/// re-executes between one and two intervals.
pub const DEFAULT_SNAPSHOT_EVERY: NonZeroU64 = NonZeroU64::new(2_048).unwrap();

/// When to save the ledger's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Save the state after every height that is a multiple of this.
    pub every: NonZeroU64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        Self {
            every: DEFAULT_SNAPSHOT_EVERY,
        }
    }
}

impl SnapshotPolicy {
    /// Whether the state after `height` is saved.
    pub fn is_due(&self, height: u64) -> bool {
        height > 0 && height.is_multiple_of(self.every.get())
    }

    /// The slot the state after `height` goes to: the other one keeps the
    /// previous interval's state.
    fn slot(&self, height: u64) -> u8 {
        u8::from((height / self.every.get()) % 2 == 1)
    }
}

/// `ledger` as a slot holds it, or why it cannot be saved.
fn framed(ledger: &Ledger) -> Result<Vec<u8>, String> {
    let state = snapshot::encode(ledger).map_err(|e| e.to_string())?;
    if state.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(format!(
            "{} bytes, over the {MAX_SNAPSHOT_BYTES} saved",
            state.len()
        ));
    }
    let mut bytes = Vec::with_capacity(HEADER + state.len());
    bytes.extend_from_slice(&(state.len() as u64).to_be_bytes());
    bytes.extend_from_slice(Hash::of(&state).as_bytes());
    bytes.extend_from_slice(&state);
    Ok(bytes)
}

/// The ledger in a slot's bytes, or why they do not hold one.
fn unframed(bytes: &[u8]) -> Result<Ledger, String> {
    let (header, state) = bytes
        .split_at_checked(HEADER)
        .ok_or("shorter than its header")?;
    let (length, hash) = header.split_at(8);
    let length = u64::from_be_bytes(length.try_into().map_err(|_| "bad header")?);
    if length != state.len() as u64 || Hash::of(state).as_bytes()[..] != *hash {
        return Err("torn or damaged".into());
    }
    snapshot::decode(state).map_err(|e| e.to_string())
}

/// The two slots of saved states, blobs `0` and `1` of one storage partition.
pub struct Snapshots<E> {
    context: E,
    partition: String,
}

impl<E: Storage> Snapshots<E> {
    /// The slots in partition `{prefix}-snapshots`.
    pub fn new(context: E, prefix: &str) -> Self {
        Self {
            context,
            partition: format!("{prefix}-snapshots"),
        }
    }

    /// The saved states that read back whole, oldest first. Nothing stays in
    /// memory after.
    pub async fn saved(&self) -> Vec<Ledger> {
        let mut saved = Vec::new();
        for slot in 0..2u8 {
            match self.read(slot).await {
                Ok(Some(ledger)) => saved.push(ledger),
                Ok(None) => {}
                Err(why) => warn!(slot, %why, "ignoring a saved state"),
            }
        }
        saved.sort_by_key(Ledger::height);
        saved
    }

    async fn read(&self, slot: u8) -> Result<Option<Ledger>, String> {
        match self
            .read_blob(slot, MAX_SNAPSHOT_BYTES + HEADER as u64)
            .await?
        {
            Some(bytes) => unframed(&bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The checkpoint this node served last (see [`super::checkpoint`]), as
    /// encoded, if one was kept and reads back; not checked.
    pub async fn served_checkpoint(&self) -> Option<Vec<u8>> {
        let max = super::checkpoint::MAX_CHECKPOINT_BYTES;
        self.read_blob(CHECKPOINT_SLOT, max)
            .await
            .unwrap_or_else(|why| {
                warn!(%why, "ignoring the checkpoint kept");
                None
            })
    }

    /// Keeps `bytes`, the encoding of the checkpoint this node now serves, so that
    /// it serves it again at once after a restart.
    pub async fn keep_served_checkpoint(&self, bytes: &[u8]) -> Result<(), String> {
        self.write_blob(CHECKPOINT_SLOT, bytes.to_vec()).await
    }

    /// The bytes of blob `slot`, if it holds any (at most `max`).
    async fn read_blob(&self, slot: u8, max: u64) -> Result<Option<Vec<u8>>, String> {
        let (blob, len) = self
            .context
            .open(&self.partition, &[slot])
            .await
            .map_err(|e| e.to_string())?;
        if len == 0 {
            return Ok(None);
        }
        if len > max {
            return Err(format!("{len} bytes, over the {max} read"));
        }
        let bytes = blob
            .read_at(0, len as usize, ReadOptions::DONT_CACHE)
            .await
            .map_err(|e| e.to_string())?
            .coalesce();
        Ok(Some(bytes.as_ref().to_vec()))
    }

    /// Writes `bytes` to blob `slot` in place of what it held, and syncs.
    async fn write_blob(&self, slot: u8, bytes: Vec<u8>) -> Result<(), String> {
        let len = bytes.len() as u64;
        let (blob, _) = self
            .context
            .open(&self.partition, &[slot])
            .await
            .map_err(|e| e.to_string())?;
        blob.write_at(0, bytes, WriteOptions::DONT_CACHE)
            .await
            .map_err(|e| e.to_string())?;
        blob.resize(len).await.map_err(|e| e.to_string())?;
        blob.sync().await.map_err(|e| e.to_string())
    }

    /// Removes both slots, and the checkpoint kept (a saved state the stored blocks do not go on from is
    /// not to be tried again).
    pub async fn clear(&self) {
        if let Err(e) = self.context.remove(&self.partition, None).await {
            warn!(error = %e, "saved states not removed");
        }
    }

    /// Saves `ledger` now, to the slot `policy` gives its height (a state that
    /// did not come from this node's own blocks: a checkpoint's).
    pub async fn save_now(&self, policy: SnapshotPolicy, ledger: &Ledger) -> Result<(), String> {
        self.save(policy, ledger.height(), framed(ledger)?).await
    }

    /// Writes `framed`, the state after `height` as [`framed`] made it, to its
    /// slot, and syncs.
    async fn save(
        &self,
        policy: SnapshotPolicy,
        height: u64,
        framed: Vec<u8>,
    ) -> Result<(), String> {
        self.write_blob(policy.slot(height), framed).await
    }
}

/// The newest of a run of values, held for a task that takes it when woken:
/// however many come before it runs (during a long re-execution at start), one
/// is held, the newest.
#[derive(Debug)]
pub struct Newest<T> {
    value: Arc<Mutex<Option<T>>>,
    wake: mpsc::Sender<()>,
}

impl<T> Clone for Newest<T> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
            wake: self.wake.clone(),
        }
    }
}

impl<T> Newest<T> {
    /// Nothing held yet; the receiver wakes the taking task.
    pub fn new() -> (Self, mpsc::Receiver<()>) {
        let (wake, woken) = mpsc::channel(1);
        let newest = Self {
            value: Arc::new(Mutex::new(None)),
            wake,
        };
        (newest, woken)
    }

    /// Holds `value` in place of what was held, and wakes the task if nothing
    /// was held (else a wake-up is pending already).
    pub fn put(&self, value: T) {
        if self.lock().replace(value).is_none() {
            // Closed means shutting down.
            let _ = self.wake.clone().try_send(());
        }
    }

    /// Takes what is held, if anything.
    pub fn take(&self) -> Option<T> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The newest state due to be saved, for the task that saves it ([`keep`]).
#[derive(Clone, Debug)]
pub struct Due {
    policy: SnapshotPolicy,
    newest: Newest<Arc<Ledger>>,
}

impl Due {
    /// Nothing due yet under `policy`; the receiver wakes [`keep`].
    pub fn new(policy: SnapshotPolicy) -> (Self, mpsc::Receiver<()>) {
        let (newest, woken) = Newest::new();
        (Self { policy, newest }, woken)
    }

    /// Offers the state after a finalized block: held if the policy saves it.
    pub fn offer(&self, ledger: &Arc<Ledger>) {
        if self.policy.is_due(ledger.height()) {
            self.newest.put(Arc::clone(ledger));
        }
    }

    /// Drops the state held, if any.
    pub fn forget(&self) {
        self.newest.take();
    }
}

/// Saves the state [`Due`] holds each time it wakes, encoding off the async
/// workers, once the `journal` (if any) holds the blocks up to it on disk. A
/// failure costs only restart time, so it is logged, not fatal.
pub async fn keep<E>(
    context: E,
    snapshots: Snapshots<E>,
    due: Due,
    mut woken: mpsc::Receiver<()>,
    journal: Option<Journal>,
) where
    E: Storage + Spawner,
{
    while woken.next().await.is_some() {
        let Some(ledger) = due.newest.take() else {
            continue;
        };
        let height = ledger.height();
        let framed = match super::application::off_thread(&context, move || framed(&ledger)).await {
            Some(Ok(framed)) => framed,
            Some(Err(why)) => {
                warn!(height, %why, "state not saved");
                continue;
            }
            None => return,
        };
        let bytes = framed.len();
        // A restart re-executes (and journals) only the blocks after a saved
        // state: the journal holds those up to it on disk before it is saved.
        if let Some(journal) = &journal {
            journal.synced().await;
        }
        match snapshots.save(due.policy, height, framed).await {
            Ok(()) => debug!(height, bytes, "state saved"),
            Err(why) => warn!(height, %why, "state not saved; a restart re-executes more blocks"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::testing::ledger;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

    #[test]
    fn only_the_newest_due_state_is_held() {
        let policy = SnapshotPolicy {
            every: NonZeroU64::new(4).unwrap(),
        };
        let (due, mut woken) = Due::new(policy);
        let at = |height: u64| {
            let mut state = ledger().state().clone();
            state.height = height;
            Arc::new(Ledger::from_state(state))
        };
        for height in 1..=12 {
            due.offer(&at(height));
        }
        assert!(woken.try_recv().is_ok(), "woken");
        assert!(woken.try_recv().is_err(), "once, however many came");
        assert_eq!(due.newest.take().map(|l| l.height()), Some(12));
        assert!(due.newest.take().is_none(), "taken");
        due.offer(&at(13));
        assert!(due.newest.take().is_none(), "13 is not due");
        due.offer(&at(16));
        due.forget();
        assert!(due.newest.take().is_none());
    }

    #[test]
    fn slots_alternate_per_interval() {
        let policy = SnapshotPolicy {
            every: NonZeroU64::new(4).unwrap(),
        };
        let due: Vec<u64> = (0..=12).filter(|h| policy.is_due(*h)).collect();
        assert_eq!(due, [4, 8, 12]);
        assert_eq!(
            due.iter().map(|h| policy.slot(*h)).collect::<Vec<_>>(),
            [1, 0, 1]
        );
    }

    #[test]
    fn the_two_latest_states_survive_reopening_oldest_first() {
        deterministic::Runner::default().start(|context| async move {
            let policy = SnapshotPolicy {
                every: NonZeroU64::new(4).unwrap(),
            };
            let at = |height: u64| {
                let mut state = ledger().state().clone();
                state.height = height;
                Ledger::from_state(state)
            };
            let snapshots = Snapshots::new(context.child("a"), "v0");
            assert!(snapshots.saved().await.is_empty());
            for height in [4, 8, 12] {
                let bytes = framed(&at(height)).unwrap();
                snapshots.save(policy, height, bytes).await.unwrap();
            }
            drop(snapshots);
            let reopened = Snapshots::new(context.child("b"), "v0");
            let heights = |saved: Vec<Ledger>| saved.iter().map(Ledger::height).collect::<Vec<_>>();
            assert_eq!(heights(reopened.saved().await), [8, 12]);
            assert_eq!(reopened.saved().await[0], at(8), "read back whole");

            // A slot torn by a crash mid-write (its header names a longer state), or
            // damaged, is passed over.
            let mut torn = framed(&at(16)).unwrap();
            torn.truncate(torn.len() - 1);
            reopened.save(policy, 16, torn).await.unwrap();
            assert_eq!(heights(reopened.saved().await), [12]);
            let mut damaged = framed(&at(20)).unwrap();
            *damaged.last_mut().unwrap() ^= 1;
            reopened.save(policy, 20, damaged).await.unwrap();
            assert!(reopened.saved().await.is_empty());
        });
    }
}
