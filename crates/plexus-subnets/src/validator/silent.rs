//! Validators that hold permits and have never set weights: Yuma counts each as an
//! active validator that weights every miner zero, so while they hold more than
//! `1 − kappa` of the active validators' stake, every miner's consensus, and so its pay,
//! is zero whatever the others set. A new subnet's owner hotkey is the usual case: it
//! holds the first permit and, until `activity_cutoff` blocks pass, the larger stake.

use plexus_ledger::NeuronInfo;
use plexus_primitives::AccountId;

use crate::view::Snapshot;

/// Permit holders that outweigh the rest without setting weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SilentMajority {
    /// Their UIDs.
    pub uids: Vec<u16>,
    /// Their share of the active validators' stake, in percent.
    pub percent: u64,
    /// The block from which the first of them counts as inactive.
    pub inactive_from: u64,
}

/// Whether validators that never set weights (their last update is their registration)
/// hold so much of the active permit holders' stake that no miner can reach consensus;
/// `me` is left out, since its own weights are about to land.
pub(super) fn silent_majority(snapshot: &Snapshot, me: &AccountId) -> Option<SilentMajority> {
    let voters: Vec<&NeuronInfo> = snapshot
        .neurons
        .iter()
        .filter(|n| n.validator_permit && n.active)
        .collect();
    let total: u128 = voters.iter().map(|n| u128::from(n.stake)).sum();
    let silent: Vec<&NeuronInfo> = voters
        .into_iter()
        .filter(|n| n.hotkey != *me && n.last_update <= n.registered_at)
        .collect();
    let quiet: u128 = silent.iter().map(|n| u128::from(n.stake)).sum();
    if total == 0 || silent.is_empty() {
        return None;
    }
    // Consensus is the highest weight that validators holding at least `kappa` of the
    // stake give: the others' stake must reach it.
    let kappa = u128::from(snapshot.params.kappa);
    if (total - quiet) * u128::from(u16::MAX) >= kappa * total {
        return None;
    }
    let cutoff = u64::from(snapshot.params.activity_cutoff);
    Some(SilentMajority {
        uids: silent.iter().map(|n| n.uid).collect(),
        percent: u64::try_from(quiet * 100 / total).unwrap_or(100),
        inactive_from: silent
            .iter()
            .map(|n| n.last_update.saturating_add(cutoff).saturating_add(1))
            .min()
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_primitives::{Keypair, NetUid};

    fn neuron(uid: u16, stake: u64, permit: bool, set_weights: bool) -> NeuronInfo {
        let hotkey = Keypair::from_seed([uid as u8 + 1; 32]).account_id();
        let mut neuron = crate::view::standalone_neuron(uid, hotkey, stake, 0, None);
        neuron.validator_permit = permit;
        neuron.registered_at = 100;
        neuron.last_update = if set_weights { 150 } else { 100 };
        neuron
    }

    #[test]
    fn an_owner_with_the_larger_stake_and_no_weights_holds_consensus_at_zero() {
        let owner = neuron(0, 60, true, false);
        let me = neuron(1, 40, true, true);
        let miner = neuron(2, 0, false, false);
        let snapshot = Snapshot::standalone(NetUid(1), vec![owner, me.clone(), miner]);
        let found = silent_majority(&snapshot, &me.hotkey).expect("the owner outweighs");
        assert_eq!(found.uids, vec![0]);
        assert_eq!(found.percent, 60);
        let cutoff = u64::from(snapshot.params.activity_cutoff);
        assert_eq!(found.inactive_from, 100 + cutoff + 1);
        // This validator's own weights are about to land: it is never the silent one.
        let fresh = neuron(1, 40, true, false);
        let snapshot = Snapshot::standalone(NetUid(1), vec![neuron(0, 60, true, false), fresh]);
        let me = snapshot.neurons[1].hotkey;
        assert_eq!(silent_majority(&snapshot, &me).unwrap().uids, vec![0]);
    }

    #[test]
    fn a_silent_minority_or_an_inactive_one_is_no_obstacle() {
        let me = neuron(1, 60, true, true);
        let snapshot = Snapshot::standalone(NetUid(1), vec![neuron(0, 40, true, false), me]);
        let hotkey = snapshot.neurons[1].hotkey;
        assert_eq!(silent_majority(&snapshot, &hotkey), None);
        let mut idle = neuron(0, 90, true, false);
        idle.active = false;
        let snapshot = Snapshot::standalone(NetUid(1), vec![idle, neuron(1, 10, true, true)]);
        let hotkey = snapshot.neurons[1].hotkey;
        assert_eq!(silent_majority(&snapshot, &hotkey), None);
        // Nor is one without a permit.
        let snapshot = Snapshot::standalone(
            NetUid(1),
            vec![neuron(0, 90, false, false), neuron(1, 10, true, true)],
        );
        let hotkey = snapshot.neurons[1].hotkey;
        assert_eq!(silent_majority(&snapshot, &hotkey), None);
    }
}
