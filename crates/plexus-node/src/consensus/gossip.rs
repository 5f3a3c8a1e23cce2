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
//! here is sent again every [`RESEND_EVERY`], a bounded number of times. What a peer
//! sends goes through the same admission as an RPC submission (size bound,
//! exact decoding, the ledger's checks against the finalized state, the
//! mempool's bounds); the channel's rate limit bounds how much a peer can
//! make this node check.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Spawner};
use futures::channel::mpsc;
use futures::{FutureExt as _, StreamExt as _};
use plexus_primitives::{AccountId, Call, CodecError, Encode as _, Hash, SignedTransaction};
use tracing::{debug, warn};

use super::PublicKey;
use super::application::{Shared, off_thread};
use crate::mempool::{MempoolError, Prechecked, SharedMempool};

/// How often the transactions submitted here that still wait are sent again.
pub(super) const RESEND_EVERY: Duration = Duration::from_secs(3);

/// Most submitted transactions kept for sending again; older ones still wait
/// in the mempool for this node's own turn to propose.
const KEPT: usize = 1024;

/// Most transactions sent again per [`RESEND_EVERY`]: within one burst of a
/// peer's rate limit, so that none is dropped for it. Each turn takes the
/// ones sent longest ago.
const RESEND_BATCH: usize = 128;

/// How many times a transaction is sent again before this node stops: one
/// that no proposer took in that time (refused, or behind a nonce gap) is
/// left to wait here.
const RESENDS: u8 = 10;

/// Most received transactions checked in one go, off the async threads (each
/// costs a signature check, ~40 µs: a batch is at most ~10 ms of work).
const ADMIT_BATCH: usize = 256;

/// A submitted transaction this node sends again while it waits.
struct Waiting {
    signer: AccountId,
    nonce: u64,
    hash: Hash,
    bytes: Bytes,
    resends: u8,
    /// A heartbeat is sent again for as long as it waits: its node's seat
    /// depends on it reaching a proposer within the epoch (and the mempool
    /// refuses it once it cannot).
    heartbeat: bool,
}

/// Sends the transactions submitted to this node to its peers (again while
/// they wait), and admits the ones peers send, until the network closes.
pub(super) async fn run<E, S, R>(
    context: E,
    mut sender: S,
    mut receiver: R,
    submitted: Option<mpsc::Receiver<SignedTransaction>>,
    mempool: SharedMempool,
    shared: Shared,
) where
    E: Clock + Spawner,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    // Submissions are taken once per mempool; without them this node still
    // admits what peers send. The spare sender keeps that stream open.
    let (_spare, none) = mpsc::channel(1);
    let mut submitted = submitted.unwrap_or_else(|| {
        warn!("transaction gossip started twice on one mempool: sending nothing");
        none
    });
    let mut waiting: VecDeque<Waiting> = VecDeque::new();
    let mut resend_at = context.current() + RESEND_EVERY;
    loop {
        // First the timer: the branches are polled in order, and steady traffic
        // from peers must not starve the resends.
        commonware_macros::select! {
            _ = context.sleep_until(resend_at) => {
                resend_at = context.current() + RESEND_EVERY;
                resend(&mut sender, &mut waiting, &mempool);
            },
            tx = submitted.next() => {
                let Some(tx) = tx else { return };
                let bytes = Bytes::from(tx.encode());
                send(&mut sender, &bytes);
                if waiting.len() == KEPT {
                    waiting.pop_front();
                }
                waiting.push_back(Waiting {
                    signer: tx.tx.signer,
                    nonce: tx.tx.nonce,
                    hash: tx.hash(),
                    bytes,
                    resends: 0,
                    heartbeat: matches!(tx.tx.call, Call::Heartbeat { .. }),
                });
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
        }
    }
}

/// Sends again up to [`RESEND_BATCH`] of the submitted transactions that
/// still wait here, those sent longest ago first, and forgets the ones that
/// no longer wait or were sent [`RESENDS`] times.
fn resend<S: Sender<PublicKey = PublicKey>>(
    sender: &mut S,
    waiting: &mut VecDeque<Waiting>,
    mempool: &SharedMempool,
) {
    {
        let pool = mempool.lock();
        waiting.retain(|w| {
            (w.resends < RESENDS || w.heartbeat) && pool.holds_id(&w.signer, w.nonce, &w.hash)
        });
    }
    for _ in 0..waiting.len().min(RESEND_BATCH) {
        if let Some(mut w) = waiting.pop_front() {
            send(sender, &w.bytes);
            w.resends = w.resends.saturating_add(1);
            waiting.push_back(w);
        }
    }
}

/// Sends a transaction's bytes to every connected peer that is not over its
/// rate limit.
fn send<S: Sender<PublicKey = PublicKey>>(sender: &mut S, bytes: &Bytes) {
    let sent = sender.send(Recipients::All, bytes.clone(), false);
    debug!(peers = sent.len(), "gossiped a transaction");
}

/// Why a gossiped transaction was not admitted.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("it does not decode: {0}")]
    Malformed(CodecError),
    #[error("already waiting")]
    Known,
    #[error("refused lately by this node as a proposer: {0}")]
    Refused(String),
    #[error("no finalized state to check it against")]
    NoState,
    #[error(transparent)]
    Mempool(#[from] MempoolError),
}

/// Admits the transaction in `bytes` into the mempool if it passes the same
/// checks as an RPC submission. One already waiting, or one this node left
/// out of a block lately, is dropped before its signature is checked: peers
/// send what they resend.
fn admit(bytes: &[u8], mempool: &SharedMempool, shared: &Shared) -> Result<(), Refusal> {
    let tx = SignedTransaction::decode_network(bytes).map_err(|e| {
        if let CodecError::UnknownTag { type_name, tag } = e {
            crate::block::warn_unknown_tag("peer's transaction", type_name, tag);
        }
        Refusal::Malformed(e)
    })?;
    let hash = tx.hash();
    {
        let pool = mempool.lock();
        if pool.holds_id(&tx.tx.signer, tx.tx.nonce, &hash) {
            return Err(Refusal::Known);
        }
        if let Some(why) = pool.refusal(&hash) {
            return Err(Refusal::Refused(why.to_owned()));
        }
    }
    let finalized = shared
        .executor()
        .finalized_state()
        .ok_or(Refusal::NoState)?;
    let checked = Prechecked::new(tx, &finalized.ledger).map_err(MempoolError::from)?;
    mempool
        .lock()
        .insert_prechecked(checked, &finalized.ledger)?;
    Ok(())
}
