//! A subnet as last seen on chain: the metagraph, hyperparameters and summary at one
//! finalized height, refreshed as blocks finalize.
//!
//! Miners hand [`SubnetView::wire`] to the wire server, which consults it on every request;
//! validators read [`SubnetView::snapshot`] to pick miners and check their own permit.

use std::sync::{Arc, RwLock};

use plexus_ledger::{NeuronInfo, SubnetInfo, SubnetParams};
use plexus_primitives::{AccountId, NetUid};
use plexus_wire::StaticMetagraph;

use crate::chain::{Chain, ChainError};

/// The subnet at one finalized height.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The finalized height the snapshot was read at.
    pub height: u64,
    /// The subnet's summary.
    pub subnet: SubnetInfo,
    /// The subnet's hyperparameters.
    pub params: SubnetParams,
    /// The neurons, by UID.
    pub neurons: Vec<NeuronInfo>,
}

impl Snapshot {
    /// The neuron registered as `hotkey`, if any.
    pub fn neuron(&self, hotkey: &AccountId) -> Option<&NeuronInfo> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }
}

/// A subnet kept in sync with the chain.
#[derive(Debug)]
pub struct SubnetView {
    netuid: NetUid,
    wire: Arc<StaticMetagraph>,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
}

impl SubnetView {
    /// A view of `netuid` that has not read the chain yet.
    pub fn new(netuid: NetUid) -> Self {
        Self {
            netuid,
            wire: Arc::new(StaticMetagraph::new()),
            snapshot: RwLock::new(None),
        }
    }

    /// A view fixed at `snapshot` (for tools and benchmarks that have no chain to follow);
    /// [`refresh`](Self::refresh) still replaces it from a chain.
    pub fn from_snapshot(snapshot: Snapshot) -> Self {
        let view = Self::new(snapshot.subnet.netuid);
        view.install_shared(Arc::new(snapshot));
        view
    }

    /// The subnet.
    pub fn netuid(&self) -> NetUid {
        self.netuid
    }

    /// The registered hotkeys with their stake and permits, for the wire server.
    pub fn wire(&self) -> Arc<StaticMetagraph> {
        Arc::clone(&self.wire)
    }

    /// The last snapshot read, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the chain again if a block finalized since the last read; returns the
    /// current snapshot.
    pub async fn refresh<C: Chain>(&self, chain: &C) -> Result<Arc<Snapshot>, ChainError> {
        let height = chain.height().await?;
        if let Some(current) = self.snapshot()
            && current.height == height
        {
            return Ok(current);
        }
        let subnet = chain.subnet(self.netuid).await?;
        let params = chain.hyperparameters(self.netuid).await?;
        let neurons = chain.metagraph(self.netuid).await?;
        let snapshot = Arc::new(Snapshot {
            height,
            subnet,
            params,
            neurons,
        });
        self.install_shared(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// Makes `snapshot` current: the wire's caller table and the snapshot itself.
    fn install_shared(&self, snapshot: Arc<Snapshot>) {
        self.wire.replace_subnet(
            self.netuid,
            snapshot.neurons.iter().map(|n| {
                (
                    n.hotkey,
                    plexus_wire::NeuronInfo {
                        stake: n.stake,
                        validator_permit: n.validator_permit,
                    },
                )
            }),
        );
        *self
            .snapshot
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(snapshot);
    }
}
