//! A subnet: its owner, hyperparameters, pool, neurons and prices.

use std::collections::BTreeMap;

use plexus_primitives::{AccountId, AxonInfo, Balance, Hash, NetUid, Work};
use serde::{Deserialize, Serialize};

use crate::params::SubnetParams;
use crate::pool::Pool;

/// One registered UID: a hotkey serving (miner) or judging (validator).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neuron {
    /// The working key.
    pub hotkey: AccountId,
    /// The coldkey that owns the hotkey.
    pub coldkey: AccountId,
    /// Block of registration.
    pub registered_at: u64,
    /// Block of the last weights set (registration counts as one).
    pub last_update: u64,
    /// The announced endpoint, if any.
    pub axon: Option<AxonInfo>,
    /// Block of the last axon announcement.
    pub axon_updated_at: Option<u64>,
    /// Weights set: `(uid, weight)`, sorted, row-max-upscaled to u16.
    pub weights: Vec<(u16, u16)>,
    /// Bonds held: `(uid, bond)`, sorted, as the epoch stored them.
    pub bonds: Vec<(u16, u16)>,
    /// Holds a validator permit.
    pub validator_permit: bool,
    /// Counted as active at the last epoch.
    pub active: bool,
    /// Last epoch's normalised stake weight (of 65535).
    pub stake_weight: u16,
    /// Last epoch's consensus (of 65535).
    pub consensus: u16,
    /// Last epoch's trust (of 65535).
    pub trust: u16,
    /// Last epoch's validator trust (of 65535).
    pub validator_trust: u16,
    /// Last epoch's incentive (of 65535).
    pub incentive: u16,
    /// Last epoch's dividends (of 65535).
    pub dividends: u16,
    /// Alpha earned at the last epoch (incentive and dividends).
    pub emission: u64,
    /// The block the standing weights were decided in: set, or committed for revealed
    /// ones, where the chain's rules date them so
    /// ([`LedgerRules::SLOW_CHANGES`](crate::LedgerRules::SLOW_CHANGES)). Yuma drops a
    /// weight decided before the UID it points at was registered by this, else by
    /// `last_update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_at: Option<u64>,
}

impl Neuron {
    /// A freshly registered neuron.
    pub fn new(hotkey: AccountId, coldkey: AccountId, block: u64) -> Self {
        Self {
            hotkey,
            coldkey,
            registered_at: block,
            last_update: block,
            axon: None,
            axon_updated_at: None,
            weights: Vec::new(),
            bonds: Vec::new(),
            validator_permit: false,
            active: true,
            stake_weight: 0,
            consensus: 0,
            trust: 0,
            validator_trust: 0,
            incentive: 0,
            dividends: 0,
            emission: 0,
            weights_at: None,
        }
    }

    /// The block its weights date from, for dropping those older than the UID they point
    /// at.
    pub fn weights_date(&self) -> u64 {
        self.weights_at.unwrap_or(self.last_update)
    }
}

/// A weights commitment waiting for its reveal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightCommit {
    /// `weights_commit_hash` of the weights to come.
    pub hash: Hash,
    /// Block of the commit.
    pub block: u64,
    /// The subnet's epoch index at the commit.
    pub epoch: u64,
}

/// A market for one kind of AI work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// Its id.
    pub netuid: NetUid,
    /// The coldkey that created it.
    pub owner: AccountId,
    /// The hotkey that receives the owner's cut.
    pub owner_hotkey: AccountId,
    /// The kind of work it trades, once its owner records it.
    #[serde(default)]
    pub work: Option<Work>,
    /// Hyperparameters.
    pub params: SubnetParams,
    /// TAO against alpha.
    pub pool: Pool,
    /// Tokens locked at creation (they seeded the pool).
    pub locked: Balance,
    /// Block of creation.
    pub created_at: u64,
    /// UIDs, index = UID.
    pub neurons: Vec<Neuron>,
    /// Registration price at `burn_updated_at`; it decays from there.
    pub burn: Balance,
    /// Block at which `burn` was set.
    pub burn_updated_at: u64,
    /// Block of the last epoch (creation before the first).
    pub last_epoch_block: u64,
    /// Epochs run so far.
    pub epoch_index: u64,
    /// Alpha accumulated for the next epoch.
    pub pending_emission: u64,
    /// Alpha ever issued in this subnet (pool seed, injections, emission).
    pub alpha_issued: u64,
    /// Unrevealed weight commits per hotkey, oldest first.
    pub commits: BTreeMap<AccountId, Vec<WeightCommit>>,
    /// The moving price emission follows, in 10⁻¹⁸ TAO per alpha (at most one TAO), on
    /// chains whose rules split emission so
    /// ([`LedgerRules::SLOW_CHANGES`](crate::LedgerRules::SLOW_CHANGES)): zero at
    /// creation, then [`next_moving_price`](crate::coinbase::next_moving_price) each block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_price: Option<u64>,
}

impl Subnet {
    /// The block of `hotkey`'s newest weights commit still pending, if any.
    pub fn newest_commit(&self, hotkey: &AccountId) -> Option<u64> {
        self.commits
            .get(hotkey)
            .and_then(|c| c.iter().map(|c| c.block).max())
    }

    /// The last block `neuron` showed it is at work, for its activity: its last weights
    /// update, or where commits leave that alone (`dated`,
    /// [`LedgerRules::SLOW_CHANGES`](crate::LedgerRules::SLOW_CHANGES)) a later commit
    /// still pending.
    pub fn last_active(&self, neuron: &Neuron, dated: bool) -> u64 {
        let committed = self.newest_commit(&neuron.hotkey).filter(|_| dated);
        neuron.last_update.max(committed.unwrap_or(0))
    }

    /// The UID of a hotkey, if registered.
    pub fn uid_of(&self, hotkey: &AccountId) -> Option<u16> {
        self.neurons
            .iter()
            .position(|n| n.hotkey == *hotkey)
            .map(|i| i as u16)
    }

    /// The owner hotkey's UID, if it is registered.
    pub fn owner_uid(&self) -> Option<u16> {
        self.uid_of(&self.owner_hotkey)
    }

    /// The registration price at `block`: it halves every `half_life` blocks
    /// (linearly between halvings, so it is exact integer maths), within the
    /// subnet's bounds.
    pub fn burn_at(&self, block: u64, half_life: u64) -> Balance {
        let elapsed = block.saturating_sub(self.burn_updated_at);
        let half_life = half_life.max(1);
        let halvings = elapsed / half_life;
        let base = if halvings >= 64 {
            0
        } else {
            self.burn.rao() >> halvings
        };
        let within = u128::from(elapsed % half_life);
        let drop = u128::from(base / 2) * within / u128::from(half_life);
        let price = base - drop as u64;
        Balance::from_rao(price.clamp(self.params.min_burn.rao(), self.params.max_burn.rao()))
    }

    /// The UID a new registration replaces when the subnet is full: the
    /// lowest emission among UIDs past immunity (not the owner's), ties to
    /// the older registration, then the lower UID.
    pub fn prune_candidate(&self, block: u64) -> Option<u16> {
        let owner = self.owner_uid();
        let immunity = u64::from(self.params.immunity_period);
        self.neurons
            .iter()
            .enumerate()
            .filter(|(uid, n)| {
                Some(*uid as u16) != owner && block.saturating_sub(n.registered_at) >= immunity
            })
            .min_by_key(|(uid, n)| (n.emission, n.registered_at, *uid))
            .map(|(uid, _)| uid as u16)
    }
}

/// The lock price of a new subnet: it doubles after each creation and
/// decays linearly back to the minimum over `interval` blocks.
pub fn lock_price(
    last_lock: Balance,
    last_lock_block: u64,
    block: u64,
    min: Balance,
    interval: u64,
) -> Balance {
    let doubled = u128::from(last_lock.rao()) * 2;
    let elapsed = u128::from(block.saturating_sub(last_lock_block));
    let decay = u128::from(last_lock.rao()) * elapsed / u128::from(interval.max(1));
    let price = doubled.saturating_sub(decay).min(u128::from(u64::MAX)) as u64;
    Balance::from_rao(price.max(min.rao()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(burn: u64) -> Subnet {
        Subnet {
            netuid: NetUid(1),
            owner: AccountId([1; 32]),
            owner_hotkey: AccountId([2; 32]),
            work: None,
            params: SubnetParams {
                min_burn: Balance::from_rao(1),
                max_burn: Balance::from_rao(u64::MAX),
                ..SubnetParams::default()
            },
            pool: Pool { tao: 1, alpha: 1 },
            locked: Balance::ZERO,
            created_at: 0,
            neurons: Vec::new(),
            burn: Balance::from_rao(burn),
            burn_updated_at: 100,
            last_epoch_block: 0,
            epoch_index: 0,
            pending_emission: 0,
            alpha_issued: 0,
            commits: BTreeMap::new(),
            moving_price: None,
        }
    }

    #[test]
    fn burn_halves_every_half_life() {
        let s = subnet(1_000_000);
        assert_eq!(s.burn_at(100, 360).rao(), 1_000_000);
        assert_eq!(s.burn_at(460, 360).rao(), 500_000);
        assert_eq!(s.burn_at(280, 360).rao(), 750_000);
        assert_eq!(s.burn_at(820, 360).rao(), 250_000);
        assert_eq!(
            s.burn_at(100 + 360 * 100, 360).rao(),
            1,
            "clamped at the minimum"
        );
    }

    #[test]
    fn lock_doubles_then_decays_to_the_minimum() {
        let min = Balance::from_rao(100);
        assert_eq!(lock_price(Balance::from_rao(100), 0, 0, min, 10).rao(), 200);
        assert_eq!(lock_price(Balance::from_rao(100), 0, 5, min, 10).rao(), 150);
        assert_eq!(
            lock_price(Balance::from_rao(100), 0, 50, min, 10).rao(),
            100
        );
    }

    #[test]
    fn pruning_picks_lowest_emission_then_oldest_then_lowest_uid() {
        let mut s = subnet(1);
        s.params.immunity_period = 10;
        for (i, (emission, reg)) in [(5, 0), (3, 4), (3, 2), (0, 95), (3, 2)]
            .into_iter()
            .enumerate()
        {
            let mut n = Neuron::new(AccountId([10 + i as u8; 32]), AccountId([0; 32]), reg);
            n.emission = emission;
            s.neurons.push(n);
        }
        // UID 3 is immune at block 100; among emission 3, UIDs 2 and 4 tie on
        // age and the lower wins.
        assert_eq!(s.prune_candidate(100), Some(2));
        s.params.immunity_period = 1_000;
        assert_eq!(s.prune_candidate(100), None);
    }
}
