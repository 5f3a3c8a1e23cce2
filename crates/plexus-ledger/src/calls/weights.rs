//! Setting weights, directly or by commit and reveal.

use std::collections::BTreeSet;

use plexus_primitives::{Hash, NetUid, weights_commit_hash};

use super::Origin;
use crate::error::TxError;
use crate::state::State;
use crate::subnet::{Subnet, WeightCommit};

/// Checks a weights row for the validator at `uid` and returns it as
/// stored: sorted by UID, zeros dropped, max-upscaled to 65535.
fn checked_row(
    subnet: &Subnet,
    uid: u16,
    uids: &[u16],
    weights: &[u16],
    version_key: u64,
) -> Result<Vec<(u16, u16)>, TxError> {
    let n = subnet.neurons.len();
    let params = &subnet.params;
    if uids.len() != weights.len() {
        return Err(TxError::WeightsLengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    if version_key < params.weights_version_key {
        return Err(TxError::VersionKeyTooLow {
            required: params.weights_version_key,
            got: version_key,
        });
    }
    let mut seen = BTreeSet::new();
    for &u in uids {
        if usize::from(u) >= n {
            return Err(TxError::UidOutOfRange { uid: u, n });
        }
        if !seen.insert(u) {
            return Err(TxError::DuplicateUid(u));
        }
    }
    let self_weight_only = uids == [uid];
    if !subnet.neurons[usize::from(uid)].validator_permit && !self_weight_only {
        return Err(TxError::NoValidatorPermit);
    }
    let min = usize::from(params.min_allowed_weights).min(n);
    if uids.len() < min && !self_weight_only {
        return Err(TxError::TooFewWeights {
            min,
            got: uids.len(),
        });
    }
    let max = weights.iter().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(TxError::AllWeightsZero);
    }
    let mut row: Vec<(u16, u16)> = uids
        .iter()
        .zip(weights)
        .map(|(&u, &w)| {
            (
                u,
                (u64::from(w) * u64::from(u16::MAX) / u64::from(max)) as u16,
            )
        })
        .filter(|e| e.1 > 0)
        .collect();
    row.sort_unstable();
    Ok(row)
}

/// The signer's UID on the subnet, or the typed error.
fn signer_uid(subnet: &Subnet, origin: Origin) -> Result<u16, TxError> {
    subnet.uid_of(&origin.signer).ok_or(TxError::NotRegistered {
        netuid: subnet.netuid,
        hotkey: origin.signer,
    })
}

/// Refuses a weights update before the rate limit has passed since the
/// last one; a newly registered UID may set its first weights at once. Where
/// commits leave `last_update` alone (`dated`), a pending commit counts as an
/// update.
fn check_rate_limit(subnet: &Subnet, uid: u16, block: u64, dated: bool) -> Result<(), TxError> {
    let neuron = &subnet.neurons[usize::from(uid)];
    let has_set = neuron.last_update > neuron.registered_at
        || !neuron.weights.is_empty()
        || (dated && subnet.newest_commit(&neuron.hotkey).is_some());
    let next_block = subnet
        .last_active(neuron, dated)
        .saturating_add(subnet.params.weights_rate_limit);
    if has_set && block < next_block {
        return Err(TxError::RateLimited {
            action: "setting weights",
            next_block,
        });
    }
    Ok(())
}

/// Sets the signing validator hotkey's weights on a subnet without commit-reveal.
pub fn set(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    uids: &[u16],
    weights: &[u16],
    version_key: u64,
) -> Result<(), TxError> {
    let dated = state.economics.ledger_rules.weights_dated_by_decision();
    let subnet = state.subnet_mut(netuid)?;
    if subnet.params.commit_reveal {
        return Err(TxError::CommitRevealEnabled(netuid));
    }
    let uid = signer_uid(subnet, origin)?;
    check_rate_limit(subnet, uid, origin.block, dated)?;
    let row = checked_row(subnet, uid, uids, weights, version_key)?;
    let neuron = &mut subnet.neurons[usize::from(uid)];
    neuron.weights = row;
    neuron.last_update = origin.block;
    neuron.weights_at = dated.then_some(origin.block);
    Ok(())
}

/// Commits to weights to be revealed `reveal_period_epochs` epochs later,
/// so that nobody can copy them while they are current.
pub fn commit(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    hash: &Hash,
) -> Result<(), TxError> {
    let max_pending = state.economics.max_pending_commits;
    let dated = state.economics.ledger_rules.weights_dated_by_decision();
    let subnet = state.subnet_mut(netuid)?;
    if !subnet.params.commit_reveal {
        return Err(TxError::CommitRevealDisabled(netuid));
    }
    let uid = signer_uid(subnet, origin)?;
    check_rate_limit(subnet, uid, origin.block, dated)?;
    let pending = subnet.commits.get(&origin.signer).map_or(0, Vec::len);
    if pending >= usize::from(max_pending) {
        return Err(TxError::TooManyCommits(max_pending));
    }
    let epoch = subnet.epoch_index;
    subnet
        .commits
        .entry(origin.signer)
        .or_default()
        .push(WeightCommit {
            hash: *hash,
            block: origin.block,
            epoch,
        });
    // Where weights are dated by decision, the standing ones keep their date: renewing it
    // would make them count for UIDs registered since.
    if !dated {
        subnet.neurons[usize::from(uid)].last_update = origin.block;
    }
    Ok(())
}

/// Reveals committed weights in the epoch the commit matures; they then
/// take effect as if set.
#[allow(clippy::too_many_arguments)]
pub fn reveal(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    uids: &[u16],
    weights: &[u16],
    salt: &[u8],
    version_key: u64,
) -> Result<(), TxError> {
    let dated = state.economics.ledger_rules.weights_dated_by_decision();
    let subnet = state.subnet_mut(netuid)?;
    if !subnet.params.commit_reveal {
        return Err(TxError::CommitRevealDisabled(netuid));
    }
    let uid = signer_uid(subnet, origin)?;
    let hash = weights_commit_hash(&origin.signer, netuid, uids, weights, salt, version_key);
    let commits = subnet
        .commits
        .get(&origin.signer)
        .ok_or(TxError::NoMatchingCommit)?;
    let index = commits
        .iter()
        .position(|c| c.hash == hash)
        .ok_or(TxError::NoMatchingCommit)?;
    let reveal_epoch = commits[index].epoch + u64::from(subnet.params.reveal_period_epochs);
    if subnet.epoch_index < reveal_epoch {
        return Err(TxError::RevealTooEarly {
            reveal_epoch,
            epoch: subnet.epoch_index,
        });
    }
    if subnet.epoch_index > reveal_epoch {
        return Err(TxError::NoMatchingCommit);
    }
    let committed_at = commits[index].block;
    let row = checked_row(subnet, uid, uids, weights, version_key)?;
    if let Some(commits) = subnet.commits.get_mut(&origin.signer) {
        commits.remove(index);
        if commits.is_empty() {
            subnet.commits.remove(&origin.signer);
        }
    }
    let neuron = &mut subnet.neurons[usize::from(uid)];
    neuron.weights = row;
    neuron.last_update = origin.block;
    // Decided at the commit: a UID registered since is not what they were meant for.
    neuron.weights_at = dated.then_some(committed_at);
    Ok(())
}
