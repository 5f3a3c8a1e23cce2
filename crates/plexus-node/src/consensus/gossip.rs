//! Transaction gossip: a transaction this node's RPC admits is sent to every
//! peer it is connected to, so that whichever validator proposes next can
//! include it.
//!
//! Without it a transaction waits in the mempool of the node it was
//! submitted to until that node proposes: a validator's turn comes once per
//! round of the set, and a node outside the set never proposes, so its users'
//! transactions would never be included.
//!
//! Only transactions submitted to this node are sent, one hop: validators
//! and candidates are all connected to the validator set, so one hop reaches
//! every proposer, and nothing is relayed (no amplification). A peer that was
//! offline or over its rate limit misses a send, so what is still waiting
//! here is sent again every [`RESEND_EVERY`]. What a peer
//! sends goes through the same admission as an RPC submission (size bound,
//! exact decoding, the ledger's checks against the finalized state, the
//! mempool's bounds); the channel's rate limit bounds how much a peer can
//! make this node check.

use std::collections::VecDeque;
use std::time::Duration;

use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner};
use futures::channel::mpsc;
use futures::{FutureExt as _, StreamExt as _};
use plexus_primitives::{CodecError, Encode as _, SignedTransaction};
use tracing::debug;

use super::PublicKey;
use super::application::{Shared, off_thread};
use crate::mempool::{MempoolError, SharedMempool};

/// How often the transactions submitted here that still wait are sent again.
pub(super) const RESEND_EVERY: Duration = Duration::from_secs(3);

/// Most submitted transactions kept for sending again; older ones still wait
/// in the mempool for this node's own turn to propose.
const KEPT: usize = 1024;

/// Most received transactions checked in one go, off the async threads (each
/// costs a signature check, ~40 µs: a batch is at most ~10 ms of work).
const ADMIT_BATCH: usize = 256;

/// Sends the transactions submitted to this node to its peers (again while
/// they wait), and admits the ones peers send, until the network or the
/// mempool's side closes.
pub(super) async fn run<E, S, R>(
    context: E,
    mut sender: S,
    mut receiver: R,
    mut submitted: mpsc::Receiver<SignedTransaction>,
    mempool: SharedMempool,
    shared: Shared,
) where
    E: Clock + Spawner,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let mut waiting: VecDeque<SignedTransaction> = VecDeque::new();
    let mut resend_at = context.current() + RESEND_EVERY;
    loop {
        commonware_macros::select! {
            tx = submitted.next() => {
                let Some(tx) = tx else { return };
                send(&mut sender, &tx);
                if waiting.len() == KEPT {
                    waiting.pop_front();
                }
                waiting.push_back(tx);
            },
            message = receiver.recv() => {
                let Ok(first) = message else { return };
                // What else has arrived goes in the same batch.
                let mut batch = vec![first];
                while batch.len() < ADMIT_BATCH {
                    match receiver.recv().now_or_never() {
                        Some(Ok(message)) => batch.push(message),
                        Some(Err(_)) => return,
                        None => break,
                    }
                }
                let (pool, state) = (mempool.clone(), shared.clone());
                let admitted = off_thread(&context, move || {
                    for (peer, bytes) in batch {
                        if let Err(why) = admit(bytes.as_ref(), &pool, &state) {
                            debug!(%peer, %why, "a peer's transaction was not admitted");
                        }
                    }
                });
                if admitted.await.is_none() {
                    return;
                }
            },
            _ = context.sleep_until(resend_at) => {
                resend_at = context.current() + RESEND_EVERY;
                // Included (or replaced, or dropped): no longer ours to send.
                {
                    let pool = mempool.lock();
                    waiting.retain(|tx| pool.holds(tx));
                }
                for tx in &waiting {
                    send(&mut sender, tx);
                }
            },
        }
    }
}

/// Sends `tx` to every connected peer that is not over its rate limit.
fn send<S: Sender<PublicKey = PublicKey>>(sender: &mut S, tx: &SignedTransaction) {
    let sent = sender.send(Recipients::All, bytes::Bytes::from(tx.encode()), false);
    debug!(hash = %tx.hash(), peers = sent.len(), "gossiped a transaction");
}

/// Why a gossiped transaction was not admitted.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("it does not decode: {0}")]
    Malformed(CodecError),
    #[error("already waiting")]
    Known,
    #[error("no finalized state to check it against")]
    NoState,
    #[error(transparent)]
    Mempool(#[from] MempoolError),
}

/// Admits the transaction in `bytes` into the mempool if it passes the same
/// checks as an RPC submission. One already waiting is dropped before its
/// signature is checked: peers send what they resend.
fn admit(bytes: &[u8], mempool: &SharedMempool, shared: &Shared) -> Result<(), Refusal> {
    let tx = SignedTransaction::decode_network(bytes).map_err(|e| {
        if let CodecError::UnknownTag { type_name, tag } = e {
            crate::block::warn_unknown_tag("peer's transaction", type_name, tag);
        }
        Refusal::Malformed(e)
    })?;
    if mempool.lock().holds(&tx) {
        return Err(Refusal::Known);
    }
    let finalized = shared
        .executor()
        .finalized_state()
        .ok_or(Refusal::NoState)?;
    mempool.lock().insert(tx, &finalized.ledger)?;
    Ok(())
}
