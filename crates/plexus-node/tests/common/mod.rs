//! What the deterministic simulations share: a recorder of finalized blocks, the
//! simulated channels, short timeouts, and waiting for a height.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    missing_docs
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use commonware_p2p::simulated::{self, Oracle};
use commonware_runtime::{Clock as _, Quota, deterministic};
use commonware_utils::NZU32;
use plexus_ledger::Ledger;
use plexus_node::consensus::checkpoint::Published;
use plexus_node::consensus::{
    CHANNEL_BACKFILL, CHANNEL_BROADCAST, CHANNEL_CERTIFICATES, CHANNEL_RESOLVER,
    CHANNEL_TRANSACTIONS, CHANNEL_VOTES, Channels, Finalized, FinalizedSink, PublicKey, Timeouts,
};
use plexus_node::journal::Journal;
use plexus_node::rpc::BlockInfo;
use plexus_primitives::{AccountId, Hash};

pub type Context = deterministic::Context;
pub type Net = Oracle<PublicKey, Context>;
pub type Registered = (
    simulated::Sender<PublicKey, Context>,
    simulated::Receiver<PublicKey>,
);
pub type SimChannels =
    Channels<simulated::Sender<PublicKey, Context>, simulated::Receiver<PublicKey>>;

/// Records what a validator finalized.
#[derive(Clone, Default)]
pub struct Recorder(
    Arc<Mutex<Vec<Finalized>>>,
    Arc<Mutex<Option<Journal>>>,
    /// Each time the node said it started (`true`) or stopped catching up.
    Arc<Mutex<Vec<bool>>>,
    /// The newest checkpoint the node published.
    Arc<Mutex<Option<Arc<Published>>>>,
);

impl FinalizedSink for Recorder {
    fn finalized(&mut self, block: Finalized) {
        self.0.lock().unwrap().push(block);
    }

    fn journal(&mut self, journal: Journal) {
        *self.1.lock().unwrap() = Some(journal);
    }

    fn catching_up(&mut self, catching_up: bool) {
        self.2.lock().unwrap().push(catching_up);
    }

    fn checkpoint_published(&mut self, checkpoint: Arc<Published>) {
        *self.3.lock().unwrap() = Some(checkpoint);
    }
}

impl Recorder {
    /// Each time the node said it started (`true`) or stopped catching up.
    pub fn catching_up(&self) -> Vec<bool> {
        self.2.lock().unwrap().clone()
    }

    /// The newest checkpoint the node published, if any.
    pub fn checkpoint(&self) -> Option<Arc<Published>> {
        self.3.lock().unwrap().clone()
    }

    pub fn height(&self) -> u64 {
        self.0
            .lock()
            .unwrap()
            .last()
            .map_or(0, |f| f.block.header.height.0)
    }

    /// (height, block hash, state root, proposer) of every finalized block.
    pub fn chain(&self) -> Vec<(u64, Hash, Hash, AccountId)> {
        let blocks = self.0.lock().unwrap();
        blocks
            .iter()
            .map(|f| {
                let h = &f.block.header;
                (h.height.0, f.hash, h.state_root, h.proposer)
            })
            .collect()
    }

    /// The block at `height` as readers see it, if recorded.
    pub fn block_info(&self, height: u64) -> Option<BlockInfo> {
        let blocks = self.0.lock().unwrap();
        blocks
            .iter()
            .find(|f| f.block.header.height.0 == height)
            .map(|f| BlockInfo::from_block(&f.block, &f.outcome))
    }

    /// The node's journal, once it opened it.
    pub fn journal(&self) -> Option<Journal> {
        self.1.lock().unwrap().clone()
    }

    pub fn ledger_at(&self, height: u64) -> Arc<Ledger> {
        let blocks = self.0.lock().unwrap();
        blocks
            .iter()
            .find(|f| f.block.header.height.0 == height)
            .map(|f| f.ledger.clone())
            .unwrap()
    }
}

/// Every consensus channel of `key`, registered on the simulated network.
pub async fn channels(oracle: &Net, key: &PublicKey) -> SimChannels {
    let control = oracle.control(key.clone());
    let quota = Quota::per_second(NZU32!(100_000));
    let register =
        async |channel| -> Registered { control.register(channel, quota).await.unwrap() };
    Channels {
        votes: register(CHANNEL_VOTES).await,
        certificates: register(CHANNEL_CERTIFICATES).await,
        resolver: register(CHANNEL_RESOLVER).await,
        backfill: register(CHANNEL_BACKFILL).await,
        broadcast: register(CHANNEL_BROADCAST).await,
        transactions: register(CHANNEL_TRANSACTIONS).await,
    }
}

/// Short timeouts: simulated time is cheap, but tests should fail fast.
pub fn timeouts() -> Timeouts {
    Timeouts {
        leader: Duration::from_millis(500),
        certification: Duration::from_millis(1_000),
        retry: Duration::from_millis(500),
        skip: Duration::from_millis(2_000),
        fetch: Duration::from_millis(500),
        idle_block: Duration::from_millis(100),
    }
}

/// Waits until every recorder has finalized `height`.
pub async fn wait_for(context: &Context, recorders: &[&Recorder], height: u64) {
    while recorders.iter().any(|r| r.height() < height) {
        context.sleep(Duration::from_millis(50)).await;
    }
}
