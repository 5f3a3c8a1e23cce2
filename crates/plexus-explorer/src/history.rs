//! What the chain forgets: each subnet's incentive and emission per UID at
//! each of its last few epochs, for the explorer's charts.
//!
//! The node keeps only the latest epoch's values in the metagraph, so the
//! explorer samples them itself. Sampling follows each subnet's
//! `epoch_index` in `plexus_subnets` rather than the `epochs` field of
//! every block: one cheap call per poll sees every subnet at once and
//! catches up by itself after the node was unreachable, where a block
//! subscription would have to replay what it missed. Incentive and emission
//! change only at an epoch, so the metagraph read any time before the
//! subnet's next epoch holds that epoch's values; a read that raced the next
//! epoch is detected by reading the subnet again and thrown away.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonrpsee_http_client::HttpClient;
use plexus_ledger::NeuronInfo;
use plexus_node::rpc::PlexusApiClient;
use serde::Serialize;

/// Most subnets the history follows; beyond this, the highest ids go unsampled.
pub const MAX_SUBNETS: usize = 1_024;
/// Most UIDs kept per sample (the chain allows far fewer today).
pub const MAX_UIDS: usize = 4_096;

/// One subnet's epoch as the charts need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpochSample {
    /// The subnet's `epoch_index` after that epoch.
    pub epoch: u64,
    /// The block the epoch ran in.
    pub block: u64,
    /// Incentive per UID (of 65535), indexed by UID.
    pub incentive: Vec<u16>,
    /// Alpha earned per UID at that epoch, base units, indexed by UID.
    pub emission: Vec<u64>,
}

impl EpochSample {
    /// The sample of a metagraph read after the subnet's epoch `epoch` at `block`.
    pub fn from_metagraph(epoch: u64, block: u64, graph: &[NeuronInfo]) -> Self {
        let graph = &graph[..graph.len().min(MAX_UIDS)];
        Self {
            epoch,
            block,
            incentive: graph.iter().map(|n| n.incentive).collect(),
            emission: graph.iter().map(|n| n.emission).collect(),
        }
    }
}

/// The last `depth` epoch samples of each subnet.
#[derive(Debug)]
pub struct History {
    depth: usize,
    subnets: BTreeMap<u16, VecDeque<EpochSample>>,
}

impl History {
    /// An empty history keeping `depth` epochs per subnet (at least one).
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            subnets: BTreeMap::new(),
        }
    }

    /// Epochs kept per subnet.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The newest epoch sampled for `netuid`.
    pub fn last_epoch(&self, netuid: u16) -> Option<u64> {
        self.subnets.get(&netuid)?.back().map(|s| s.epoch)
    }

    /// Adds a sample unless it is not newer than the last one kept (a repeated
    /// poll); returns whether it was added. The oldest sample goes when
    /// `depth` is reached, and a new subnet is refused beyond [`MAX_SUBNETS`].
    pub fn record(&mut self, netuid: u16, sample: EpochSample) -> bool {
        if !self.subnets.contains_key(&netuid) && self.subnets.len() >= MAX_SUBNETS {
            return false;
        }
        let samples = self.subnets.entry(netuid).or_default();
        if samples
            .back()
            .is_some_and(|last| last.epoch >= sample.epoch)
        {
            return false;
        }
        samples.push_back(sample);
        while samples.len() > self.depth {
            samples.pop_front();
        }
        true
    }

    /// Forgets the subnets not in `live` (dissolved, or a chain started anew).
    pub fn retain(&mut self, live: &[u16]) {
        self.subnets.retain(|netuid, _| live.contains(netuid));
    }

    /// A subnet's samples, oldest first (empty if none).
    pub fn samples(&self, netuid: u16) -> Vec<EpochSample> {
        self.subnets
            .get(&netuid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The history shared between the poller and the web server.
pub type SharedHistory = Arc<RwLock<History>>;

/// Samples every subnet whose epoch has moved since the last look, forever,
/// every `interval`; errors (a node restarting) are logged and retried.
pub async fn poll(client: HttpClient, history: SharedHistory, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match poll_once(&client, &history).await {
            Ok(_) if failing => {
                tracing::info!("explorer: the node answers again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) if !failing => {
                tracing::warn!(error = %e, "explorer: cannot read the node; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

/// One look at every subnet; returns how many samples were added.
pub async fn poll_once(
    client: &HttpClient,
    history: &SharedHistory,
) -> Result<usize, jsonrpsee::core::ClientError> {
    let subnets = client.subnets().await?;
    let live: Vec<u16> = subnets.iter().map(|s| s.netuid.0).collect();
    let due: Vec<(u16, u64, u64)> = {
        let mut h = write(history);
        h.retain(&live);
        subnets
            .iter()
            .take(MAX_SUBNETS)
            // Before its first epoch a subnet has nothing to chart.
            .filter(|s| s.epoch_index > 0 && h.last_epoch(s.netuid.0) != Some(s.epoch_index))
            .map(|s| (s.netuid.0, s.epoch_index, s.last_epoch_block))
            .collect()
    };
    let mut added = 0;
    // One subnet at a time: at most two calls each, and the node's RPC is
    // shared with everyone else.
    for (netuid, epoch, block) in due {
        let graph = client.metagraph(netuid).await?;
        let after = client.subnet(netuid).await?;
        if after.epoch_index != epoch {
            // Another epoch ran between the reads; the next poll samples it.
            continue;
        }
        let sample = EpochSample::from_metagraph(epoch, block, &graph);
        if write(history).record(netuid, sample) {
            added += 1;
        }
    }
    Ok(added)
}

/// The history for writing; a panic elsewhere while holding the lock leaves
/// the data whole (each change is a single push or retain), so poisoning is
/// ignored.
pub fn write(history: &SharedHistory) -> std::sync::RwLockWriteGuard<'_, History> {
    history
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The history for reading (see [`write()`] on poisoning).
pub fn read(history: &SharedHistory) -> std::sync::RwLockReadGuard<'_, History> {
    history
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(epoch: u64, uids: usize) -> EpochSample {
        EpochSample {
            epoch,
            block: epoch * 50,
            incentive: vec![epoch as u16; uids],
            emission: vec![epoch; uids],
        }
    }

    #[test]
    fn keeps_the_last_depth_epochs_oldest_first() {
        let mut h = History::new(3);
        for epoch in 1..=5 {
            assert!(h.record(1, sample(epoch, 2)));
        }
        let epochs: Vec<u64> = h.samples(1).iter().map(|s| s.epoch).collect();
        assert_eq!(epochs, vec![3, 4, 5]);
        assert_eq!(h.last_epoch(1), Some(5));
        assert!(h.samples(2).is_empty());
    }

    #[test]
    fn a_repeated_or_older_epoch_is_not_recorded() {
        let mut h = History::new(8);
        assert!(h.record(1, sample(4, 1)));
        assert!(!h.record(1, sample(4, 1)));
        assert!(!h.record(1, sample(3, 1)));
        assert_eq!(h.samples(1).len(), 1);
    }

    #[test]
    fn dissolved_subnets_are_forgotten() {
        let mut h = History::new(2);
        h.record(1, sample(1, 1));
        h.record(2, sample(1, 1));
        h.retain(&[2]);
        assert!(h.samples(1).is_empty());
        assert_eq!(h.samples(2).len(), 1);
    }

    #[test]
    fn subnets_and_uids_are_bounded() {
        let mut h = History::new(1);
        for netuid in 0..MAX_SUBNETS as u16 {
            assert!(h.record(netuid, sample(1, 1)));
        }
        assert!(!h.record(MAX_SUBNETS as u16, sample(1, 1)));
        // A subnet already followed still takes new epochs.
        assert!(h.record(0, sample(2, 1)));

        let key = plexus_primitives::AccountId([7; 32]);
        let neuron = NeuronInfo {
            uid: 0,
            hotkey: key,
            coldkey: key,
            stake: 0,
            trust: 0,
            consensus: 0,
            incentive: 9,
            dividends: 0,
            validator_trust: 0,
            emission: 1,
            validator_permit: false,
            active: true,
            last_update: 0,
            registered_at: 0,
            axon: None,
        };
        let graph = vec![neuron; MAX_UIDS + 10];
        let s = EpochSample::from_metagraph(1, 50, &graph);
        assert_eq!(s.incentive.len(), MAX_UIDS);
        assert_eq!(s.emission.len(), MAX_UIDS);
    }
}
