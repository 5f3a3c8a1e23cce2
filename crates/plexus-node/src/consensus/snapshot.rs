//! Saved ledger states, so that a restarted node re-executes the blocks
//! finalized since one of them rather than the whole chain.
//!
//! Every [`SnapshotPolicy::every`] finalized heights the state after that
//! height is written to one of two slots, alternately, in the node's storage.
//! On start the **older** of the two is used: the restart then re-executes at
//! least one interval of blocks and hands them to the node's sink again, so a
//! transaction finalized just before a restart still has its receipt (see
//! `crate::store`). A saved state is trusted only if its root is the root the
//! finalized block at its height commits to; anything else (a torn write, a
//! state from another chain, a format this build cannot read) is skipped with
//! a warning and the node falls back to the other slot, then to genesis.

use std::num::NonZeroU64;
use std::sync::Arc;

use commonware_runtime::Spawner;
use commonware_storage::metadata::{self, Metadata};
use commonware_utils::sequence::U64;
use futures::StreamExt as _;
use futures::channel::mpsc;
use plexus_ledger::{Ledger, snapshot};
use tracing::{debug, warn};

use super::ConsensusError;

/// Largest saved state read back (the slots are this node's own files, but a
/// damaged length must not make it allocate without bound).
const MAX_SNAPSHOT_BYTES: usize = 1 << 30;

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
    fn slot(&self, height: u64) -> u64 {
        (height / self.every.get()) % 2
    }
}

/// The two slots of saved states in one storage partition.
pub struct Snapshots<E: commonware_storage::Context> {
    slots: Metadata<E, U64, Vec<u8>>,
}

impl<E: commonware_storage::Context> Snapshots<E> {
    /// Opens (or creates) the slots in partition `{prefix}-snapshots`.
    pub async fn open(context: E, prefix: &str) -> Result<Self, ConsensusError> {
        let slots = Metadata::init(
            context,
            metadata::Config {
                partition: format!("{prefix}-snapshots"),
                codec_config: ((..=MAX_SNAPSHOT_BYTES).into(), ()),
            },
        )
        .await
        .map_err(|e| ConsensusError::Storage(e.to_string()))?;
        Ok(Self { slots })
    }

    /// The saved states that decode, oldest first.
    pub fn saved(&self) -> Vec<Ledger> {
        let mut saved: Vec<Ledger> = [0, 1]
            .into_iter()
            .filter_map(|slot| {
                let bytes = self.slots.get(&U64::new(slot))?;
                snapshot::decode(bytes)
                    .inspect_err(|e| warn!(slot, error = %e, "ignoring a saved state"))
                    .ok()
            })
            .collect();
        saved.sort_by_key(Ledger::height);
        saved
    }

    /// Writes `encoded`, the state after `height`, to its slot and syncs.
    pub async fn save(
        self,
        policy: SnapshotPolicy,
        height: u64,
        encoded: Vec<u8>,
    ) -> Result<Self, ConsensusError> {
        let slots = self
            .slots
            .put_sync(U64::new(policy.slot(height)), encoded)
            .await
            .map_err(|e| ConsensusError::Storage(e.to_string()))?;
        Ok(Self { slots })
    }
}

/// Saves each ledger that arrives on `due` (the finalizer sends those
/// [`SnapshotPolicy::is_due`]), encoding off the async workers. When several
/// wait, only the newest is written. Runs until `due` closes or the storage
/// fails; a failure costs only restart time, so it is logged, not fatal.
pub async fn keep<E>(
    context: E,
    mut snapshots: Snapshots<E>,
    policy: SnapshotPolicy,
    mut due: mpsc::UnboundedReceiver<Arc<Ledger>>,
) where
    E: commonware_storage::Context + Spawner,
{
    while let Some(mut ledger) = due.next().await {
        while let Ok(newer) = due.try_recv() {
            ledger = newer;
        }
        let height = ledger.height();
        let encoded =
            match super::application::off_thread(&context, move || snapshot::encode(&ledger)).await
            {
                Some(Ok(encoded)) => encoded,
                Some(Err(e)) => {
                    warn!(height, error = %e, "state not saved");
                    continue;
                }
                None => return,
            };
        let bytes = encoded.len();
        snapshots = match snapshots.save(policy, height, encoded).await {
            Ok(saved) => saved,
            Err(e) => {
                warn!(height, error = %e, "state not saved; restarts will re-execute more blocks");
                return;
            }
        };
        debug!(height, bytes, "state saved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mempool::testing::ledger;
    use commonware_runtime::{Runner as _, Supervisor as _, deterministic};

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
            let mut snapshots = Snapshots::open(context.child("a"), "v0").await.unwrap();
            assert!(snapshots.saved().is_empty());
            for height in [4, 8, 12] {
                let mut state = ledger().state().clone();
                state.height = height;
                let encoded = snapshot::encode(&Ledger::from_state(state)).unwrap();
                snapshots = snapshots.save(policy, height, encoded).await.unwrap();
            }
            drop(snapshots);
            let reopened = Snapshots::open(context.child("b"), "v0").await.unwrap();
            let heights: Vec<u64> = reopened.saved().iter().map(Ledger::height).collect();
            assert_eq!(heights, [8, 12]);

            // A slot that does not read back is passed over.
            let damaged = reopened
                .save(policy, 16, vec![snapshot::FORMAT, 0xff])
                .await;
            let heights: Vec<u64> = damaged
                .unwrap()
                .saved()
                .iter()
                .map(Ledger::height)
                .collect();
            assert_eq!(heights, [12]);
        });
    }
}
