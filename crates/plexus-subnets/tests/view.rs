//! The SDK's view of a subnet: a snapshot never mixes two blocks, even while blocks keep
//! finalizing between its reads.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use common::*;
use plexus_ledger::{NeuronInfo, SubnetInfo, SubnetParams};
use plexus_primitives::{Balance, Call, ChainId, Keypair, NetUid};
use plexus_subnets::{Chain, ChainError, SubnetView};

const NET: NetUid = NetUid(1);

/// A chain on which a block finalizes right after each of the first `moves` metagraph
/// reads, as on a busy network.
struct Busy {
    chain: LedgerChain,
    moves: u32,
    reads: AtomicU32,
}

impl Chain for Busy {
    fn chain_id(&self) -> &ChainId {
        self.chain.chain_id()
    }

    async fn height(&self) -> Result<u64, ChainError> {
        self.chain.height().await
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        self.chain.subnet(netuid).await
    }

    async fn hyperparameters(&self, netuid: NetUid) -> Result<SubnetParams, ChainError> {
        self.chain.hyperparameters(netuid).await
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Vec<NeuronInfo>, ChainError> {
        let graph = self.chain.metagraph(netuid).await;
        if self.reads.fetch_add(1, Ordering::SeqCst) < self.moves {
            self.chain.advance(1);
        }
        graph
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<u64, ChainError> {
        self.chain.submit(signer, call).await
    }
}

fn busy(moves: u32) -> Busy {
    let chain = LedgerChain::new(&["owner"], SubnetParams::default());
    chain.ok(
        "owner",
        Call::CreateSubnet {
            owner_hotkey: id("owner-hot"),
            max_lock: Balance::from_rao(1_000 * TOKEN),
        },
    );
    Busy {
        chain,
        moves,
        reads: AtomicU32::new(0),
    }
}

#[tokio::test]
async fn a_snapshot_is_read_again_when_a_block_lands_in_between() {
    let chain = busy(1);
    let view = SubnetView::new(NET);
    let snapshot = view.refresh(&chain).await.unwrap();
    // The first read was overtaken by a block; the second was not, and is what is kept.
    assert_eq!(chain.reads.load(Ordering::SeqCst), 2);
    assert_eq!(snapshot.height, chain.height().await.unwrap());
    // Nothing new: no read at all.
    view.refresh(&chain).await.unwrap();
    assert_eq!(chain.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_chain_that_never_rests_still_gives_a_snapshot() {
    let chain = busy(u32::MAX);
    let view = SubnetView::new(NET);
    let snapshot = view.refresh(&chain).await.unwrap();
    assert_eq!(chain.reads.load(Ordering::SeqCst), 3);
    assert_eq!(snapshot.subnet.netuid, NET);
}
