//! Consensus epochs: which validator set signs which heights, the signing
//! schemes marshal verifies certificates with, and the peer sets the p2p
//! network connects.
//!
//! Epochs follow the ledger (see `plexus_ledger::validators`): epoch `e`
//! holds heights `e·L ..= e·L + L − 1` with `L` the genesis economics'
//! `validator_epoch_length`, and the state after an epoch's last block names
//! the next epoch's set.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};

use commonware_consensus::types::{Epoch, FixedEpocher};
use commonware_cryptography::Signer as _;
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_p2p::{Manager, TrackedPeers};
use commonware_utils::ordered::Set;
use plexus_ledger::{GenesisValidator, Ledger};
use plexus_primitives::{ChainId, Keypair};

use super::{ConsensusError, PublicKey, Scheme, namespace, private_key, public_key};

/// Epochs this many behind the newest known one are forgotten by the
/// scheme provider (their certificates are no longer checked).
const EPOCHS_KEPT: u64 = 4;

/// The epocher of a chain: fixed-length epochs of the genesis economics'
/// `validator_epoch_length` blocks.
pub fn epocher(genesis: &Ledger) -> FixedEpocher {
    let length = genesis.state().economics.validator_epoch_length.max(2);
    FixedEpocher::new(NonZeroU64::new(length).unwrap_or(NonZeroU64::MIN.saturating_add(1)))
}

/// One epoch's validator set: consensus keys in consensus order, with the
/// addresses their bonds announce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpochSet {
    /// The epoch.
    pub epoch: u64,
    /// The validators' public keys, ordered as consensus orders them.
    pub keys: Set<PublicKey>,
    /// Each validator's announced `host:port`, where known.
    pub addresses: Vec<(PublicKey, Option<String>)>,
}

impl EpochSet {
    /// The set a ledger state names for the epoch of its next block.
    pub fn of(ledger: &Ledger) -> Result<Self, ConsensusError> {
        let state = ledger.state();
        Self::from_validators(state.validator_epoch(), &state.validators)
    }

    /// The set of `validators` for `epoch`.
    pub fn from_validators(
        epoch: u64,
        validators: &[GenesisValidator],
    ) -> Result<Self, ConsensusError> {
        let mut addresses = Vec::with_capacity(validators.len());
        for v in validators {
            addresses.push((public_key(&v.consensus_key)?, v.address.clone()));
        }
        let keys = Set::from_iter_dedup(addresses.iter().map(|(k, _)| k.clone()));
        Ok(Self {
            epoch,
            keys,
            addresses,
        })
    }

    /// Whether `key` is one of the set.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.keys.position(key).is_some()
    }

    /// The scheme of a node that only checks this epoch's certificates.
    pub fn verifier(&self, chain_id: &ChainId) -> Scheme {
        Scheme::verifier(&namespace(chain_id), self.keys.clone())
    }

    /// The scheme this node uses in this epoch: a signer if it is a member,
    /// else a verifier.
    pub fn scheme(&self, chain_id: &ChainId, key: &Keypair) -> Result<Scheme, ConsensusError> {
        let namespace = namespace(chain_id);
        if self.contains(&private_key(key)?.public_key()) {
            Scheme::signer(&namespace, self.keys.clone(), private_key(key)?)
                .ok_or(ConsensusError::NotAValidator(key.account_id()))
        } else {
            Ok(self.verifier(chain_id))
        }
    }
}

/// One epoch's scheme, and whether this node signs with it.
type EpochScheme = (Arc<Scheme>, bool);

/// Signing schemes by epoch, shared with marshal: it checks each
/// finalization with the scheme of the finalization's epoch.
#[derive(Clone, Debug, Default)]
pub struct EpochSchemes {
    schemes: Arc<Mutex<BTreeMap<Epoch, EpochScheme>>>,
}

impl EpochSchemes {
    /// Records the scheme of `epoch` (`signer`: this node signs in it) and
    /// forgets epochs long past.
    pub fn register(&self, epoch: Epoch, scheme: Scheme, signer: bool) {
        let mut schemes = self.schemes.lock().unwrap_or_else(PoisonError::into_inner);
        schemes.insert(epoch, (Arc::new(scheme), signer));
        let newest = schemes.keys().next_back().map_or(0, |e| e.get());
        let oldest = Epoch::new(newest.saturating_sub(EPOCHS_KEPT));
        schemes.retain(|e, _| *e >= oldest);
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        let schemes = self.schemes.lock().unwrap_or_else(PoisonError::into_inner);
        schemes.get(&epoch).map(|(scheme, signer)| {
            if *signer {
                Scoped::scheme(scheme.clone())
            } else {
                Scoped::verifier(scheme.clone())
            }
        })
    }
}

/// Bonded validators who could join the set at the next boundary, with the
/// addresses their bonds announce. Peers accept them as secondary peers
/// (they may connect, follow the chain and fetch blocks, but do not vote) so
/// that a new validator is in sync when its first epoch starts.
pub type Candidates = Vec<(PublicKey, Option<String>)>;

/// The [`Candidates`] of a ledger state: the bonds that could be seated at the
/// next boundary (`plexus_ledger::validators::seat_candidates`: a node must
/// follow the chain to send the heartbeat that seats it) outside the current
/// set, best ranked first, so that a node with room for only some keeps those.
/// (The ledger only bonds keys that can sign; one that could not is left out
/// here rather than stopping the node.)
pub fn candidates(ledger: &Ledger) -> Candidates {
    let state = ledger.state();
    let mut out = Vec::new();
    for seat in plexus_ledger::validators::ranked_seat_candidates(state) {
        if state
            .validators
            .iter()
            .any(|c| c.consensus_key == seat.consensus_key)
        {
            continue;
        }
        match public_key(&seat.consensus_key) {
            Ok(key) => out.push((key, seat.address)),
            Err(e) => tracing::warn!(%e, "a bonded candidate's key is not an ed25519 key"),
        }
    }
    out
}

/// Tells the p2p network whom to connect to: the current epoch's set and
/// the previous one as primary peers (so that validators leaving can still
/// serve and fetch the blocks that close their epoch), and the
/// [`Candidates`] as secondary peers. Called at each epoch boundary and
/// whenever the candidates change.
pub trait PeerSets: Send + 'static {
    /// Tracks a new peer set.
    fn track(&mut self, current: &EpochSet, previous: Option<&EpochSet>, candidates: &Candidates);
}

/// A [`PeerSets`] that tracks nothing (the peers are fixed elsewhere).
#[derive(Clone, Copy, Debug, Default)]
pub struct FixedPeers;

impl PeerSets for FixedPeers {
    fn track(&mut self, _: &EpochSet, _: Option<&EpochSet>, _: &Candidates) {}
}

/// [`PeerSets`] over any p2p [`Manager`] (the simulated network's), each
/// set under the next id.
#[derive(Clone, Debug)]
pub struct ManagedPeers<M> {
    manager: M,
    next_id: u64,
}

impl<M> ManagedPeers<M> {
    /// Tracks peer sets on `manager`, from id 0.
    pub fn new(manager: M) -> Self {
        Self {
            manager,
            next_id: 0,
        }
    }
}

impl<M: Manager<PublicKey = PublicKey>> PeerSets for ManagedPeers<M> {
    fn track(&mut self, current: &EpochSet, previous: Option<&EpochSet>, candidates: &Candidates) {
        let keys = current
            .keys
            .iter()
            .chain(previous.into_iter().flat_map(|p| p.keys.iter()))
            .cloned();
        let secondary = candidates.iter().map(|(k, _)| k.clone());
        let peers = TrackedPeers::new(Set::from_iter_dedup(keys), Set::from_iter_dedup(secondary));
        let _ = self.manager.track(self.next_id, peers);
        self.next_id += 1;
    }
}
