//! What the server needs to know about callers: the subnet's metagraph, behind a trait.
//!
//! The wire never talks to the chain. A miner keeps a metagraph in sync with the chain (in
//! `plexus-subnets`) and hands it to the server through [`Metagraph`]; tests and the
//! benchmark use [`StaticMetagraph`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use plexus_primitives::{AccountId, NetUid};
use serde::{Deserialize, Serialize};

/// What the metagraph says about one registered hotkey on one subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronInfo {
    /// The stake behind the hotkey on this subnet, in the chain's smallest unit.
    pub stake: u64,
    /// Whether the hotkey holds a validator permit on this subnet.
    pub validator_permit: bool,
}

/// The server's view of a subnet's registered hotkeys.
///
/// Called on every request before any signature check, so it must be cheap: an in-memory
/// lookup, never I/O.
pub trait Metagraph: Send + Sync + 'static {
    /// The neuron registered as `hotkey` on `netuid`, or `None` when it is not registered.
    fn neuron(&self, netuid: NetUid, hotkey: &AccountId) -> Option<NeuronInfo>;

    /// The least stake the subnet currently asks of callers (0 when it asks none). Read on
    /// every request, so a threshold changed on chain applies from the next sync.
    fn stake_threshold(&self, netuid: NetUid) -> u64 {
        let _ = netuid;
        0
    }

    /// Whether any neuron of `netuid` holds a validator permit. None does before the
    /// subnet's first epoch hands them out, and until then a server asking for permits
    /// ([`ServerConfig::validators_only`](crate::ServerConfig::validators_only)) takes any
    /// registered caller, or no validator could ever start. Read on every request.
    fn permits_granted(&self, netuid: NetUid) -> bool {
        let _ = netuid;
        false
    }
}

impl<T: Metagraph + ?Sized> Metagraph for Arc<T> {
    fn neuron(&self, netuid: NetUid, hotkey: &AccountId) -> Option<NeuronInfo> {
        (**self).neuron(netuid, hotkey)
    }

    fn stake_threshold(&self, netuid: NetUid) -> u64 {
        (**self).stake_threshold(netuid)
    }

    fn permits_granted(&self, netuid: NetUid) -> bool {
        (**self).permits_granted(netuid)
    }
}

/// A metagraph held in memory and edited directly; cheap to share through an `Arc`.
#[derive(Debug, Default)]
pub struct StaticMetagraph {
    neurons: RwLock<HashMap<(NetUid, AccountId), NeuronInfo>>,
    thresholds: RwLock<HashMap<NetUid, u64>>,
    /// The subnets where some neuron holds a validator permit; kept with `neurons`, so
    /// that requests do not scan the subnet.
    permitted: RwLock<HashSet<NetUid>>,
}

impl StaticMetagraph {
    /// An empty metagraph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or updates) `hotkey` on `netuid`.
    pub fn insert(&self, netuid: NetUid, hotkey: AccountId, info: NeuronInfo) {
        let mut map = self.write_neurons();
        map.insert((netuid, hotkey), info);
        self.recount(&map, netuid);
    }

    /// Deregisters `hotkey` from `netuid`.
    pub fn remove(&self, netuid: NetUid, hotkey: &AccountId) {
        let mut map = self.write_neurons();
        map.remove(&(netuid, *hotkey));
        self.recount(&map, netuid);
    }

    fn write_neurons(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<(NetUid, AccountId), NeuronInfo>> {
        self.neurons
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes whether any neuron of `netuid` in `map` holds a permit (under `map`'s lock,
    /// so that the two agree).
    fn recount(&self, map: &HashMap<(NetUid, AccountId), NeuronInfo>, netuid: NetUid) {
        let any = map
            .iter()
            .any(|((n, _), info)| *n == netuid && info.validator_permit);
        let mut permitted = self
            .permitted
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if any {
            permitted.insert(netuid);
        } else {
            permitted.remove(&netuid);
        }
    }

    /// Sets the least stake `netuid` asks of callers.
    pub fn set_stake_threshold(&self, netuid: NetUid, stake: u64) {
        self.thresholds
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(netuid, stake);
    }

    /// Replaces the whole subnet `netuid` with `neurons` (what a sync after a block does).
    pub fn replace_subnet(
        &self,
        netuid: NetUid,
        neurons: impl IntoIterator<Item = (AccountId, NeuronInfo)>,
    ) {
        let mut map = self.write_neurons();
        map.retain(|(n, _), _| *n != netuid);
        map.extend(neurons.into_iter().map(|(k, v)| ((netuid, k), v)));
        self.recount(&map, netuid);
    }
}

impl Metagraph for StaticMetagraph {
    fn neuron(&self, netuid: NetUid, hotkey: &AccountId) -> Option<NeuronInfo> {
        self.neurons
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&(netuid, *hotkey))
            .copied()
    }

    fn stake_threshold(&self, netuid: NetUid) -> u64 {
        self.thresholds
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&netuid)
            .copied()
            .unwrap_or(0)
    }

    fn permits_granted(&self, netuid: NetUid) -> bool {
        self.permitted
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&netuid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_replace() {
        let m = StaticMetagraph::new();
        let (a, b) = (AccountId([1; 32]), AccountId([2; 32]));
        let info = NeuronInfo {
            stake: 5,
            validator_permit: true,
        };
        m.insert(NetUid(1), a, info);
        m.insert(NetUid(2), a, info);
        assert_eq!(m.neuron(NetUid(1), &a), Some(info));
        assert_eq!(m.neuron(NetUid(1), &b), None);
        m.replace_subnet(NetUid(1), [(b, info)]);
        assert_eq!(m.neuron(NetUid(1), &a), None);
        assert_eq!(m.neuron(NetUid(1), &b), Some(info));
        assert_eq!(m.neuron(NetUid(2), &a), Some(info));
        assert!(m.permits_granted(NetUid(1)) && m.permits_granted(NetUid(2)));
        let miner = NeuronInfo {
            validator_permit: false,
            ..info
        };
        m.replace_subnet(NetUid(1), [(a, miner), (b, miner)]);
        assert!(!m.permits_granted(NetUid(1)), "no permit left on subnet 1");
        m.insert(NetUid(1), b, info);
        assert!(m.permits_granted(NetUid(1)));
        m.remove(NetUid(1), &b);
        assert!(!m.permits_granted(NetUid(1)));
        m.remove(NetUid(2), &a);
        let shared: Arc<StaticMetagraph> = Arc::new(m);
        assert_eq!(shared.neuron(NetUid(2), &a), None);
        assert_eq!(shared.stake_threshold(NetUid(1)), 0);
        shared.set_stake_threshold(NetUid(1), 7);
        assert_eq!(shared.stake_threshold(NetUid(1)), 7);
        assert_eq!(shared.stake_threshold(NetUid(2)), 0);
    }
}
