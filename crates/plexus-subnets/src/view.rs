//! A subnet as last seen on chain: the metagraph, hyperparameters and summary at one
//! finalized height, refreshed as blocks finalize.
//!
//! Miners hand [`SubnetView::wire`] to the wire server, which consults it on every request;
//! validators read [`SubnetView::snapshot`] to pick miners and check their own permit.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use plexus_ledger::pool::Price;
use plexus_ledger::{NeuronInfo, PoolInfo, SubnetInfo, SubnetParams};
use plexus_primitives::{AccountId, AxonInfo, AxonProtocol, Balance, NetUid};
use plexus_wire::StaticMetagraph;

use crate::chain::{Chain, ChainError};
use crate::registration::AXON_VERSION;

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
    /// A subnet that exists only in this process (benchmarks, tests, tools without a
    /// chain): `neurons` at height 0, with default hyperparameters and an empty pool.
    pub fn standalone(netuid: NetUid, neurons: Vec<NeuronInfo>) -> Self {
        let owner = neurons.first().map_or(AccountId([0; 32]), |n| n.coldkey);
        Self {
            height: 0,
            subnet: SubnetInfo {
                netuid,
                owner,
                owner_hotkey: owner,
                neurons: u16::try_from(neurons.len()).unwrap_or(u16::MAX),
                max_neurons: SubnetParams::default().max_allowed_uids,
                tempo: SubnetParams::default().tempo,
                last_epoch_block: 0,
                epoch_index: 0,
                pending_emission: 0,
                pool: PoolInfo {
                    tao: 0,
                    alpha: 0,
                    price: Price(0),
                },
                registration_price: Balance::ZERO,
                locked: Balance::ZERO,
                created_at: 0,
                work: None,
                moving_price: None,
            },
            params: SubnetParams::default(),
            neurons,
        }
    }

    /// The neuron registered as `hotkey`, if any.
    pub fn neuron(&self, hotkey: &AccountId) -> Option<&NeuronInfo> {
        self.neurons.iter().find(|n| n.hotkey == *hotkey)
    }

    /// Whether the subnet's miners serve `caller`, as their axons judge it
    /// ([`plexus_wire::ServerConfig::validators_only`]): it is registered and holds a
    /// validator permit, or no one holds one yet (before the subnet's first epoch).
    pub fn miners_serve(&self, caller: &AccountId) -> bool {
        let Some(me) = self.neuron(caller) else {
            return false;
        };
        me.validator_permit || !self.neurons.iter().any(|n| n.validator_permit)
    }
}

/// A neuron for a [`Snapshot::standalone`] subnet: its own coldkey, active, with `stake`,
/// `incentive`, and an HTTP axon at `axon` if it serves (a validator permit if it does
/// not).
pub fn standalone_neuron(
    uid: u16,
    hotkey: AccountId,
    stake: u64,
    incentive: u16,
    axon: Option<SocketAddr>,
) -> NeuronInfo {
    NeuronInfo {
        uid,
        hotkey,
        coldkey: hotkey,
        stake,
        trust: 0,
        consensus: 0,
        incentive,
        dividends: 0,
        validator_trust: 0,
        emission: 0,
        validator_permit: axon.is_none(),
        active: true,
        last_update: 0,
        registered_at: 0,
        axon: axon.map(|a| AxonInfo {
            ip: a.ip(),
            port: a.port(),
            protocol: AxonProtocol::Http,
            version: AXON_VERSION,
        }),
    }
}

/// Reads of a subnet before a snapshot is taken even if blocks keep finalizing meanwhile.
const CONSISTENT_READ_ATTEMPTS: u32 = 3;

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
    ///
    /// The subnet, its parameters and its metagraph are three reads; when a block
    /// finalizes between them they are read again, three times at most, so that a
    /// snapshot does not mix two blocks. On a chain finalizing faster than that, the last
    /// read is kept even if a block landed during it.
    pub async fn refresh<C: Chain>(&self, chain: &C) -> Result<Arc<Snapshot>, ChainError> {
        let mut height = chain.height().await?;
        if let Some(current) = self.snapshot()
            && current.height == height
        {
            return Ok(current);
        }
        let mut attempt = 1;
        loop {
            let subnet = chain.subnet(self.netuid).await?;
            let params = chain.hyperparameters(self.netuid).await?;
            let neurons = chain.metagraph(self.netuid).await?;
            let after = chain.height().await?;
            if after == height || attempt == CONSISTENT_READ_ATTEMPTS {
                let snapshot = Arc::new(Snapshot {
                    height: after,
                    subnet,
                    params,
                    neurons,
                });
                self.install_shared(Arc::clone(&snapshot));
                return Ok(snapshot);
            }
            height = after;
            attempt += 1;
        }
    }

    /// Makes `snapshot` current: the wire's caller table and the snapshot itself.
    fn install_shared(&self, snapshot: Arc<Snapshot>) {
        self.wire
            .set_stake_threshold(self.netuid, snapshot.params.min_stake.rao());
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
