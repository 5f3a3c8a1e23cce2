//! Wiring one validator: marshal (archives, block broadcast, backfill) and
//! the simplex engine around the application, on any commonware runtime and
//! any p2p network.

use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, core::Actor, resolver::p2p as marshal_resolver, standard::Inline},
    simplex::{self, Floor, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin},
    types::{Epoch, Height, ViewDelta},
};
use commonware_cryptography::{Digestible as _, Signer as _, sha256::Sha256};
use commonware_macros::select;
use commonware_p2p::{Blocker, Provider, Receiver, Sender, utils::mux::Muxer};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::{Archive as _, immutable};
use commonware_utils::{NonZeroDuration, vec::NonEmptyVec};
use futures::StreamExt as _;
use futures::channel::mpsc;
use plexus_ledger::Ledger;
use rand_core::CryptoRng;
use tracing::{debug, info, warn};

use super::application::{App, Finalizer, Shared};
use super::checkpoint;
use super::epochs::{self, EpochSchemes, EpochSet, FixedPeers, PeerSets};
use super::follow::{CatchUpEvent, Follow};
use super::gossip;
use super::snapshot::{self, Newest, Snapshots};
use super::start;
use super::{
    ConsensusError, FinalizedSink, PublicKey, Scheme, ValidatorConfig, genesis_block, private_key,
};
use crate::block::{ConsensusBlock, Digest};
use crate::execution::Executor;
use crate::journal::Journal;
use crate::mempool::SharedMempool;

pub(super) const PAGE_SIZE: NonZeroU16 = NonZeroU16::new(4096).unwrap();
pub(super) const PAGE_CACHE_PAGES: NonZeroUsize = NonZeroUsize::new(1024).unwrap();
const MAILBOX_SIZE: NonZeroUsize = NonZeroUsize::new(1024).unwrap();
const BUFFER: NonZeroUsize = NonZeroUsize::new(64 * 1024).unwrap();
const ITEMS_PER_SECTION: NonZeroU64 = NonZeroU64::new(1024).unwrap();
/// Views of votes and certificates kept behind the finalized view, for
/// peers that are a little behind.
const VIEW_RETENTION: u64 = 64;

/// One validator's p2p channels: a sender and receiver for each of
/// consensus votes, certificates and certificate fetching, marshal's block
/// backfill, block broadcast and transaction gossip (see the `CHANNEL_*`
/// ids).
#[derive(Debug)]
pub struct Channels<S, R> {
    /// Consensus votes.
    pub votes: (S, R),
    /// Consensus certificates.
    pub certificates: (S, R),
    /// Consensus certificate fetching.
    pub resolver: (S, R),
    /// Marshal's block backfill.
    pub backfill: (S, R),
    /// Block broadcast.
    pub broadcast: (S, R),
    /// Transaction gossip.
    pub transactions: (S, R),
}

/// The largest message any channel carries for `participants` validators:
/// the p2p network's maximum message size must be at least this.
pub fn max_message_size(participants: u32) -> u32 {
    // Consensus runs on one sub-channel per epoch: its messages carry the
    // sub-channel's prefix.
    let consensus = commonware_p2p::utils::mux::prefixed(simplex::max_payload_size::<
        Scheme,
        crate::block::Digest,
    >(participants));
    let blocks = marshal::max_payload_size::<marshal::standard::Standard<ConsensusBlock>, Scheme>(
        participants,
        &(),
    );
    u32::try_from(consensus.max(blocks)).unwrap_or(u32::MAX)
}

/// An archive's configuration, its partitions named after `name`.
pub(super) fn archive_config<C>(
    prefix: &str,
    name: &str,
    page_cache: CacheRef,
    codec: C,
) -> immutable::Config<C> {
    let partition = |part: &str| format!("{prefix}-{name}-{part}");
    immutable::Config {
        metadata_partition: partition("metadata"),
        freezer_table_partition: partition("freezer-table"),
        freezer_table_initial_size: 1024,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: 1024,
        freezer_key_partition: partition("freezer-key"),
        freezer_key_page_cache: page_cache,
        freezer_value_partition: partition("freezer-value"),
        freezer_value_target_size: 64 << 20,
        freezer_value_compression: None,
        ordinal_partition: partition("ordinal"),
        items_per_section: ITEMS_PER_SECTION,
        freezer_key_write_buffer: BUFFER,
        freezer_value_write_buffer: BUFFER,
        ordinal_write_buffer: BUFFER,
        replay_buffer: BUFFER,
        codec_config: codec,
    }
}

/// The storage partition of `epoch`'s simplex journal.
pub fn simplex_partition(prefix: &str, epoch: u64) -> String {
    if epoch == 0 {
        format!("{prefix}-simplex")
    } else {
        format!("{prefix}-simplex-e{epoch}")
    }
}

/// How long a validator that came back from a checkpoint in its own epoch waits
/// before it signs in that epoch, if the epoch has not ended by then (see
/// `joined_in` in [`run_validator_with_peer_sets`]).
const SIT_OUT: Duration = Duration::from_secs(60);

/// Runs one validator until marshal or block broadcast stops, with a fixed
/// set of peers (see [`run_validator_with_peer_sets`]).
pub async fn run_validator<E, S, R, P, B, K>(
    context: E,
    config: ValidatorConfig,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
    mempool: SharedMempool,
    sink: K,
) -> Result<(), ConsensusError>
where
    E: Clock + Spawner + Storage + Metrics + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    K: FinalizedSink,
{
    run_validator_with_peer_sets(
        context, config, channels, peers, blocker, FixedPeers, mempool, sink,
    )
    .await
}

/// Where a node stands in the epochs: the set it follows and its engine.
struct Epochs<T> {
    current: Option<EpochSet>,
    previous: Option<EpochSet>,
    candidates: epochs::Candidates,
    engine: Option<Handle<()>>,
    schemes: EpochSchemes,
    tracker: T,
}

/// Runs one node until marshal or block broadcast stops: opens (or
/// reopens) its storage, replays the finalized chain, then starts marshal,
/// block broadcast and backfill, and one simplex engine per consensus epoch
/// in which its key is in the validator set.
///
/// When the last block of an epoch is finalized, the state after it names
/// the next epoch's set: the node registers that set's scheme with marshal,
/// tells `tracker` the new peer set, stops the old epoch's engine and, if it
/// is a member, starts the new epoch's engine on that epoch's sub-channels,
/// its genesis the boundary block. A node outside the current set follows
/// the chain by asking the set's validators for each next finalized block.
///
/// Generic over the runtime and the network: the deterministic runtime with
/// the simulated network in tests, tokio with authenticated TCP in the node
/// (see [`super::start_tcp_validator`]). `peers` tells marshal whom it may
/// fetch from; `blocker` lets consensus disconnect peers that misbehave.
/// Finalized blocks reach `sink` in order; the mempool is pruned after each.
#[allow(clippy::too_many_arguments)]
pub async fn run_validator_with_peer_sets<E, S, R, P, B, T, K>(
    context: E,
    config: ValidatorConfig,
    channels: Channels<S, R>,
    peers: P,
    blocker: B,
    tracker: T,
    mempool: SharedMempool,
    mut sink: K,
) -> Result<(), ConsensusError>
where
    E: Clock + Spawner + Storage + Metrics + CryptoRng,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
    P: Provider<PublicKey = PublicKey>,
    B: Blocker<PublicKey = PublicKey>,
    T: PeerSets,
    K: FinalizedSink,
{
    let public_key = private_key(&config.key)?.public_key();
    let prefix = config.partition_prefix.clone();
    let timeouts = config.timeouts;
    let fetch_timeout = NonZeroDuration::new(timeouts.fetch)
        .ok_or_else(|| ConsensusError::Network("fetch timeout must be positive".into()))?;
    let genesis = genesis_block(&config.genesis);
    let epocher = epochs::epocher(&config.genesis);

    // Marshal checks each finalization with its epoch's scheme, registered on
    // entering the epoch (or on opening, for a checkpoint's).
    let schemes = EpochSchemes::default();
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    let mut opened = start::open(
        &context,
        &config,
        &genesis,
        &public_key,
        &schemes,
        &page_cache,
        &mut sink,
    )
    .await?;
    // Readers' history, not consensus: without it the node runs on.
    let journal = match config.journal {
        Some(policy) => match Journal::open(context.child("journal"), &prefix, policy).await {
            Ok(journal) => {
                sink.journal(journal.clone());
                Some(journal)
            }
            Err(e) => {
                warn!(
                    error = %e,
                    "the journal of finalized blocks cannot be opened: readers get only the blocks kept in memory"
                );
                None
            }
        },
        None => None,
    };
    // States fall due from the replay on; they are saved once it is known to go on.
    let (due, woken) = snapshot::Due::new(config.snapshots);
    let (boundaries, mut boundary_rx) = mpsc::unbounded();
    let (candidates, mut candidates_rx) = mpsc::unbounded();
    let (epoch_starts, epoch_starts_woken) = Newest::new();
    let mut finalizer = Finalizer {
        shared: Shared::new(Executor::new(&genesis, config.genesis.clone())),
        mempool: mempool.clone(),
        sink,
        boundaries,
        epoch_length: config.genesis.state().economics.validator_epoch_length,
        candidates,
        last_candidates: Vec::new(),
        key: config.key.clone(),
        snapshots: due.clone(),
        journal,
        epoch_starts: epoch_starts.clone(),
    };
    let finalizer_epoch_starts = epoch_starts;
    let shared = opened
        .replay(&mut finalizer, &due, &genesis, &config.genesis)
        .await?;
    let start::Opened {
        finalizations,
        blocks,
        snapshots,
        restored,
        start,
        from_genesis,
    } = opened;
    let journal = finalizer.journal.clone();
    context
        .child("snapshots")
        .spawn(move |context| snapshot::keep(context, snapshots, due, woken, journal));
    // The epoch to enter: the one after the last boundary replayed, or the
    // genesis epoch.
    let mut last = match restored {
        Some(r) => (r.ledger, r.floor),
        None => (Arc::new(config.genesis.clone()), genesis.digest()),
    };
    while let Ok(boundary) = boundary_rx.try_recv() {
        last = boundary;
    }
    // The candidates the replay saw are stale: entry takes them from the ledger.
    while candidates_rx.try_recv().is_ok() {}
    let mut entry = Some(last);

    // Backfill of missing blocks and block broadcast, both owned by marshal.
    let resolver = marshal_resolver::init(
        context.child("backfill"),
        marshal_resolver::Config {
            public_key: public_key.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: MAILBOX_SIZE,
            fetch_timeout,
            fetch_retry_delay: timeouts.fetch / 10,
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (broadcast, buffer) = buffered::Engine::<_, _, ConsensusBlock, _, _>::new(
        context.child("broadcast"),
        buffered::Config {
            public_key: public_key.clone(),
            mailbox_size: MAILBOX_SIZE,
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    let mut broadcast = broadcast.start(channels.broadcast);

    // The epoch a node that started from a checkpoint joined in: it does not sign
    // in it at once, since it may have signed in it before, with storage it no
    // longer has (a validator restored from a checkpoint after losing its disk),
    // and a second vote in a view is equivocation. It signs from the next epoch it
    // is seated in, or once `SIT_OUT` has passed: the views it may have voted in
    // are over by then if the chain went on, and if it did not (a third of the
    // seats came back this way at once) the chain must not stop for good.
    let epoch_length = config.genesis.state().economics.validator_epoch_length;
    let mut joined_in = blocks
        .first_index()
        .filter(|_| !from_genesis)
        .map(|height| plexus_ledger::validators::epoch_of(height, epoch_length));
    let (actor, mailbox, _) = Actor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start,
            partition_prefix: format!("{prefix}-marshal"),
            mailbox_size: MAILBOX_SIZE,
            view_retention: ViewDelta::new(VIEW_RETENTION),
            prunable_items_per_section: NonZeroU64::new(16).unwrap_or(ITEMS_PER_SECTION),
            page_cache: page_cache.clone(),
            replay_buffer: BUFFER,
            key_write_buffer: BUFFER,
            value_write_buffer: BUFFER,
            block_codec_config: (),
            max_repair: NonZeroUsize::new(16).unwrap_or(MAILBOX_SIZE),
            max_pending_acks: NonZeroUsize::new(1).unwrap_or(MAILBOX_SIZE),
            strategy: Sequential,
        },
    )
    .await;
    // Told when the node starts and stops catching up (clones share the sink).
    let mut sink = finalizer.sink.clone();
    let mut marshal = actor.start(finalizer, buffer, resolver);
    context.child("checkpoints").spawn({
        let (mailbox, sink) = (mailbox.clone(), sink.clone());
        let kept = Snapshots::new(context.child("checkpoint"), &prefix);
        let epoch_starts = finalizer_epoch_starts;
        move |context| {
            checkpoint::publish(
                context,
                kept,
                epoch_starts,
                epoch_starts_woken,
                mailbox,
                sink,
            )
        }
    });

    let (transactions_out, transactions_in) = channels.transactions;
    let mut gossip = context.child("gossip").spawn({
        let (mempool, shared) = (mempool.clone(), shared.clone());
        let submitted = mempool.submitted();
        move |context| {
            gossip::run(
                context,
                transactions_out,
                transactions_in,
                submitted,
                mempool,
                shared,
            )
        }
    });

    let app = App {
        shared: shared.clone(),
        chain_id: config.chain_id(),
        me: config.key.account_id(),
        mempool,
        limits: config.limits,
        idle_block: config.timeouts.idle_block,
        #[cfg(feature = "byzantine")]
        tamper: config.tamper.clone(),
    };
    let wrapper = Inline::new(context.child("application"), app, mailbox.clone(), epocher);

    // The three consensus channels, split into one sub-channel per epoch.
    let (votes_mux, mut votes) = Muxer::new(
        context.child("votes_mux"),
        channels.votes.0,
        channels.votes.1,
    );
    let _votes_mux = votes_mux.start();
    let (certificates_mux, mut certificates) = Muxer::new(
        context.child("certificates_mux"),
        channels.certificates.0,
        channels.certificates.1,
    );
    let _certificates_mux = certificates_mux.start();
    let (resolver_mux, mut resolvers) = Muxer::new(
        context.child("resolver_mux"),
        channels.resolver.0,
        channels.resolver.1,
    );
    let _resolver_mux = resolver_mux.start();

    let mut epochs = Epochs {
        current: None,
        previous: None,
        candidates: Vec::new(),
        engine: None,
        schemes,
        tracker,
    };
    let chain_id = config.chain_id();
    let mut follow = Follow::new(shared.executor().finalized().0);
    // Rounds keep their pace whatever else wakes the loop (epoch boundaries come
    // many a second while a node catches up on short epochs); a clock set back
    // delays a round by no more than one round.
    let round_every = timeouts.fetch / 2;
    let mut next_round = context.current() + round_every;
    let ask = |set: &EpochSet, heights: std::ops::RangeInclusive<u64>| {
        let targets: Vec<PublicKey> = set
            .keys
            .iter()
            .filter(|k| **k != public_key)
            .cloned()
            .collect();
        if let Ok(targets) = NonEmptyVec::try_from(targets) {
            for height in heights {
                mailbox.hint_finalized(Height::new(height), targets.clone());
            }
        }
    };
    // Epochs below this have had their consensus journals removed.
    let mut pruned_below = 0;
    // The epoch entry to make again, signing, once its time comes (see `joined_in`).
    let mut sitting_out: Option<(SystemTime, (Arc<Ledger>, Digest))> = None;
    loop {
        if let Some((ledger, floor)) = entry.take() {
            let set = EpochSet::of(&ledger)?;
            let epoch = set.epoch;
            let seated = set.contains(&public_key);
            // Its own consensus journal of the epoch, from a run since it came back,
            // records what it signed: with it, signing again is safe.
            let journaled = joined_in == Some(epoch)
                && context
                    .scan(&simplex_partition(&prefix, epoch))
                    .await
                    .is_ok_and(|blobs| !blobs.is_empty());
            let signer = seated && (joined_in != Some(epoch) || journaled);
            sitting_out = None;
            if seated && !signer {
                warn!(
                    epoch,
                    wait = ?SIT_OUT,
                    "seated in the epoch this node joined from a checkpoint in: it follows \
                     without signing (it may have signed in this epoch before) until the next \
                     epoch, or for the wait at most"
                );
                sitting_out = Some((context.current() + SIT_OUT, (Arc::clone(&ledger), floor)));
            }
            let scheme = if signer {
                set.scheme(&chain_id, &config.key)?
            } else {
                set.verifier(&chain_id)
            };
            epochs
                .schemes
                .register(Epoch::new(epoch), scheme.clone(), signer);
            epochs.candidates = epochs::candidates(&ledger);
            epochs
                .tracker
                .track(&set, epochs.current.as_ref(), &epochs.candidates);
            if let Some(old) = epochs.engine.take() {
                old.abort();
            }
            // Journals two or more epochs back are done with: their last blocks are
            // finalized and archived, and their engines stopped. After a restart the
            // first entry sweeps from epoch 0 (missing partitions cost a lookup), so
            // epochs a node skipped while down are pruned too.
            let stale = epoch.saturating_sub(1);
            for old in pruned_below..stale {
                let partition = simplex_partition(&prefix, old);
                if let Err(e) = context.remove(&partition, None).await {
                    debug!(%partition, %e, "no consensus journal to prune");
                }
            }
            pruned_below = pruned_below.max(stale);
            info!(
                epoch,
                validators = set.keys.len(),
                member = signer,
                "entering epoch"
            );
            if signer {
                let sub = |e: std::result::Result<_, commonware_p2p::utils::mux::Error>| {
                    e.map_err(|e| ConsensusError::Network(e.to_string()))
                };
                let channel = epoch;
                let v = sub(votes.register(channel).await)?;
                let c = sub(certificates.register(channel).await)?;
                let r = sub(resolvers.register(channel).await)?;
                let partition = simplex_partition(&prefix, epoch);
                let engine = simplex::Engine::new(
                    context.child("simplex").with_attribute("epoch", epoch),
                    simplex::Config {
                        scheme,
                        elector: RoundRobin::<Sha256>::default(),
                        blocker: blocker.clone(),
                        automaton: wrapper.clone(),
                        relay: wrapper.clone(),
                        reporter: wrapper.clone(),
                        strategy: Sequential,
                        partition,
                        mailbox_size: MAILBOX_SIZE,
                        epoch: Epoch::new(epoch),
                        floor: Floor::Genesis(floor),
                        replay_buffer: BUFFER,
                        write_buffer: BUFFER,
                        page_cache: page_cache.clone(),
                        leader_timeout: timeouts.leader,
                        certification_timeout: timeouts.certification,
                        timeout_retry: timeouts.retry,
                        view_retention: ViewDelta::new(VIEW_RETENTION),
                        skip: SkipPolicy::Enabled {
                            timeout: timeouts.skip,
                            budget: SkipBudget::Participants,
                        },
                        fetch_timeout,
                        fetch_retry_delay: timeouts.fetch / 10,
                        forward: ForwardPolicy::Disabled,
                        track_historical_votes: false,
                    },
                );
                epochs.engine = Some(engine.start(v, c, r));
            }
            // Entered again to sign (after sitting out), the set before stays the previous.
            if epochs.current.as_ref().is_some_and(|c| c.epoch == epoch) {
                epochs.current = Some(set);
            } else {
                epochs.previous = epochs.current.replace(set);
            }
            if let Some(heights) = follow.resume(shared.executor().finalized().0, signer)
                && let Some(set) = &epochs.current
            {
                ask(set, heights);
            }
        }
        select! {
            boundary = boundary_rx.next() => match boundary {
                Some(boundary) => entry = Some(boundary),
                None => break,
            },
            candidates = candidates_rx.next() => match candidates {
                Some(candidates) => {
                    if let Some(current) = &epochs.current
                        && candidates != epochs.candidates
                    {
                        info!(candidates = candidates.len(), "bonded candidates changed");
                        epochs.tracker.track(current, epochs.previous.as_ref(), &candidates);
                    }
                    epochs.candidates = candidates;
                }
                None => break,
            },
            _ = context.sleep(
                next_round
                    .duration_since(context.current())
                    .unwrap_or_default()
                    .min(round_every),
            ) => {
                next_round = context.current() + round_every;
                if sitting_out.as_ref().is_some_and(|(until, _)| context.current() >= *until)
                    && let Some((_, again)) = sitting_out.take()
                {
                    info!("signing in this epoch from now on");
                    joined_in = None;
                    entry = Some(again);
                }
                // Outside the set, stalled or behind: ask the set's
                // validators for the next blocks.
                let finalized = shared.executor().finalized().0;
                if let Some(heights) = follow.round(finalized, epochs.engine.is_some())
                    && let Some(set) = &epochs.current
                {
                    ask(set, heights);
                }
                match follow.progress(context.current()) {
                    Some(CatchUpEvent::Started) => {
                        info!(height = finalized, "behind the chain: fetching blocks from the validators");
                        sink.catching_up(true);
                    }
                    Some(CatchUpEvent::Progress(report)) => info!(
                        height = finalized,
                        blocks = report.blocks,
                        per_second = report.per_second,
                        "catching up with the chain"
                    ),
                    Some(CatchUpEvent::Done { blocks, took }) => {
                        info!(height = finalized, blocks, ?took, "caught up with the chain");
                        sink.catching_up(false);
                    }
                    None => {}
                }
            },
            result = &mut marshal => {
                warn!(?result, "marshal stopped");
                break;
            },
            result = &mut broadcast => {
                warn!(?result, "block broadcast stopped");
                break;
            },
            result = &mut gossip => {
                warn!(?result, "transaction gossip stopped");
                break;
            },
        }
    }
    if let Some(engine) = epochs.engine.take() {
        engine.abort();
    }
    Ok(())
}
