//! Wiring one validator: marshal (archives, block broadcast, backfill) and
//! the simplex engine around the application, on any commonware runtime and
//! any p2p network.

use std::num::{NonZeroU16, NonZeroU64, NonZeroUsize};

use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{self, Start, core::Actor, resolver::p2p as marshal_resolver, standard::Inline},
    simplex::{self, Floor, ForwardPolicy, SkipBudget, SkipPolicy, elector::RoundRobin},
    types::{Epoch, FixedEpocher, ViewDelta},
};
use commonware_cryptography::{
    Digested, Digestible as _, Signer as _,
    certificate::{ConstantProvider, Verifier as _},
    sha256::Sha256,
};
use commonware_macros::select;
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_storage::archive::{Identifier, immutable};
use commonware_utils::NonZeroDuration;
use rand_core::CryptoRng;
use tracing::{info, warn};

use super::application::{App, Finalizer, Shared};
use super::{
    ConsensusError, FinalizedSink, PublicKey, Scheme, ValidatorConfig, genesis_block, private_key,
    signing_scheme,
};
use crate::block::ConsensusBlock;
use crate::execution::Executor;
use crate::mempool::SharedMempool;

/// Blocks per consensus epoch. The validator set never changes yet, so one
/// epoch covers any chain this node will see.
const EPOCH_LENGTH: NonZeroU64 = NonZeroU64::new(1 << 60).unwrap();
const PAGE_SIZE: NonZeroU16 = NonZeroU16::new(4096).unwrap();
const PAGE_CACHE_PAGES: NonZeroUsize = NonZeroUsize::new(1024).unwrap();
const MAILBOX_SIZE: NonZeroUsize = NonZeroUsize::new(1024).unwrap();
const BUFFER: NonZeroUsize = NonZeroUsize::new(64 * 1024).unwrap();
const ITEMS_PER_SECTION: NonZeroU64 = NonZeroU64::new(1024).unwrap();
/// Views of votes and certificates kept behind the finalized view, for
/// peers that are a little behind.
const VIEW_RETENTION: u64 = 64;

/// One validator's p2p channels: a sender and receiver for each of
/// consensus votes, certificates and certificate fetching, marshal's block
/// backfill, and block broadcast (see the `CHANNEL_*` ids).
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
}

/// The largest message any channel carries for `participants` validators:
/// the p2p network's maximum message size must be at least this.
pub fn max_message_size(participants: u32) -> u32 {
    let consensus = simplex::max_payload_size::<Scheme, crate::block::Digest>(participants);
    let blocks = marshal::max_payload_size::<marshal::standard::Standard<ConsensusBlock>, Scheme>(
        participants,
        &(),
    );
    u32::try_from(consensus.max(blocks)).unwrap_or(u32::MAX)
}

/// An archive's configuration, its partitions named after `name`.
fn archive_config<C>(
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

/// Rebuilds the ledger after a restart by executing the stored finalized
/// blocks from height 1, handing each to the sink again. Marshal then
/// delivers only what is newer.
async fn replay_finalized<A, K>(
    archive: &A,
    shared: &Shared,
    finalizer: &mut Finalizer<K>,
) -> Result<u64, ConsensusError>
where
    A: commonware_storage::archive::Archive<Value = std::sync::Arc<ConsensusBlock>>,
    K: FinalizedSink,
{
    let mut height = 1;
    loop {
        let stored = archive
            .get(Identifier::Index(height))
            .await
            .map_err(|e| ConsensusError::Storage(e.to_string()))?;
        let Some(block) = stored else {
            return Ok(height - 1);
        };
        let executed = shared
            .finalize(&block)
            .map_err(|reason| ConsensusError::Replay { height, reason })?;
        if let Some(executed) = executed {
            finalizer.deliver(&block, &executed);
        }
        height += 1;
    }
}

/// Runs one validator until its engine stops: opens (or reopens) its
/// storage, replays the finalized chain, then starts marshal, block
/// broadcast, backfill and simplex on `channels`.
///
/// Generic over the runtime and the network: the deterministic runtime with
/// the simulated network in tests, tokio with authenticated TCP in the node
/// (see [`super::start_tcp_validator`]). `peers` tells marshal whom it may
/// fetch from; `blocker` lets consensus disconnect peers that misbehave.
/// Finalized blocks reach `sink` in order; the mempool is pruned after each.
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
    let scheme = signing_scheme(&config.genesis, &config.key)?;
    let public_key = private_key(&config.key)?.public_key();
    let prefix = config.partition_prefix.clone();
    let timeouts = config.timeouts;
    let fetch_timeout = NonZeroDuration::new(timeouts.fetch)
        .ok_or_else(|| ConsensusError::Network("fetch timeout must be positive".into()))?;
    let genesis = genesis_block(&config.genesis);
    let shared = Shared::new(Executor::new(&genesis, config.genesis.clone()));
    let mut finalizer = Finalizer {
        shared: shared.clone(),
        mempool: mempool.clone(),
        sink,
    };

    // Marshal's durable archives: finalization certificates and finalized
    // blocks by height. They outlive restarts (under tokio, files in the
    // runtime's storage directory).
    let page_cache = CacheRef::new(PAGE_SIZE, PAGE_CACHE_PAGES);
    let finalizations = immutable::Archive::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            page_cache.clone(),
            Scheme::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    let blocks = immutable::Archive::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", page_cache.clone(), ()),
    )
    .await
    .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    let replayed = replay_finalized(&blocks, &shared, &mut finalizer).await?;
    if replayed > 0 {
        info!(height = replayed, "replayed finalized blocks");
    }

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
            public_key,
            mailbox_size: MAILBOX_SIZE,
            deque_size: 16,
            priority: false,
            codec_config: (),
            peer_provider: peers,
            strategy: Sequential,
        },
    );
    let mut broadcast = broadcast.start(channels.broadcast);

    let (actor, mailbox, _) = Actor::init(
        context.child("marshal"),
        finalizations,
        blocks,
        marshal::Config {
            provider: ConstantProvider::new(scheme.clone()),
            epocher: FixedEpocher::new(EPOCH_LENGTH),
            start: Start::Genesis(Digested::precomputed(genesis.clone(), genesis.digest())),
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
    let mut marshal = actor.start(finalizer, buffer, resolver);

    let app = App {
        shared,
        chain_id: config.chain_id(),
        me: config.key.account_id(),
        mempool,
        limits: config.limits,
        idle_block: config.timeouts.idle_block,
    };
    let wrapper = Inline::new(
        context.child("application"),
        app,
        mailbox,
        FixedEpocher::new(EPOCH_LENGTH),
    );
    let engine = simplex::Engine::new(
        context.child("simplex"),
        simplex::Config {
            scheme,
            elector: RoundRobin::<Sha256>::default(),
            blocker,
            automaton: wrapper.clone(),
            relay: wrapper.clone(),
            reporter: wrapper,
            strategy: Sequential,
            partition: format!("{prefix}-simplex"),
            mailbox_size: MAILBOX_SIZE,
            epoch: Epoch::zero(),
            floor: Floor::Genesis(genesis.digest()),
            replay_buffer: BUFFER,
            write_buffer: BUFFER,
            page_cache,
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
    let mut engine = engine.start(channels.votes, channels.certificates, channels.resolver);

    select! {
        result = &mut engine => warn!(?result, "consensus engine stopped"),
        result = &mut marshal => warn!(?result, "marshal stopped"),
        result = &mut broadcast => warn!(?result, "block broadcast stopped"),
    }
    Ok(())
}
