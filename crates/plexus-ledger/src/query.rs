//! Read-only views for the node's RPC and the CLI.

use plexus_primitives::{AccountId, AxonInfo, Balance, NetUid, Work};
use serde::{Deserialize, Serialize};

use crate::calls::current_lock;
use crate::params::SubnetParams;
use crate::pool::{FeeRate, Price};
use crate::state::{Account, State};

/// A subnet at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetInfo {
    /// Its id.
    pub netuid: NetUid,
    /// Owning coldkey.
    pub owner: AccountId,
    /// The hotkey receiving the owner's cut.
    pub owner_hotkey: AccountId,
    /// UIDs registered.
    pub neurons: u16,
    /// UIDs allowed.
    pub max_neurons: u16,
    /// Blocks between epochs.
    pub tempo: u16,
    /// Block of the last epoch.
    pub last_epoch_block: u64,
    /// Epochs run.
    pub epoch_index: u64,
    /// Alpha waiting for the next epoch.
    pub pending_emission: u64,
    /// The pool.
    pub pool: PoolInfo,
    /// Registration price now.
    pub registration_price: Balance,
    /// Tokens locked at creation.
    pub locked: Balance,
    /// Block of creation.
    pub created_at: u64,
    /// The kind of work it trades, if its owner recorded one.
    #[serde(default)]
    pub work: Option<Work>,
    /// The moving price its share of emission follows, in 10⁻¹⁸ TAO per alpha (at most
    /// one TAO), on chains whose rules split emission so
    /// ([`LedgerRules::SLOW_CHANGES`](crate::LedgerRules::SLOW_CHANGES)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_price: Option<u64>,
}

/// A pool's reserves and price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// Token reserve, base units.
    pub tao: u64,
    /// Alpha reserve, base units.
    pub alpha: u64,
    /// Tokens per whole alpha, 9 decimals.
    pub price: Price,
}

/// One UID of a metagraph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeuronInfo {
    /// The UID.
    pub uid: u16,
    /// Working key.
    pub hotkey: AccountId,
    /// Owning key.
    pub coldkey: AccountId,
    /// Alpha staked on the hotkey in this subnet.
    pub stake: u64,
    /// Trust (of 65535).
    pub trust: u16,
    /// Consensus (of 65535).
    pub consensus: u16,
    /// Incentive (of 65535).
    pub incentive: u16,
    /// Dividends (of 65535).
    pub dividends: u16,
    /// Validator trust (of 65535).
    pub validator_trust: u16,
    /// Alpha earned at the last epoch.
    pub emission: u64,
    /// Holds a validator permit.
    pub validator_permit: bool,
    /// Counted as active.
    pub active: bool,
    /// Block of the last weights.
    pub last_update: u64,
    /// Block of registration.
    pub registered_at: u64,
    /// Announced endpoint.
    pub axon: Option<AxonInfo>,
}

/// One stake position of a coldkey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StakeInfo {
    /// The subnet.
    pub netuid: NetUid,
    /// The hotkey staked on.
    pub hotkey: AccountId,
    /// Alpha the coldkey could withdraw.
    pub alpha: u64,
    /// What unstaking all of it now would pay: the pool's quote, fee and slippage
    /// included (zero if the pool cannot quote it).
    pub value: Balance,
}

/// A pending weights commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    /// The committing hotkey.
    pub hotkey: AccountId,
    /// The commitment.
    pub hash: plexus_primitives::Hash,
    /// Block of the commit.
    pub block: u64,
    /// The epoch at which it may be revealed.
    pub reveal_epoch: u64,
}

/// The weights one neuron has set, as stored (UID, raw weight).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsInfo {
    /// The setting neuron's UID.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: AccountId,
    /// Block of its last weights.
    pub last_update: u64,
    /// `(uid, weight)` pairs; the epoch normalises each row.
    pub weights: Vec<(u16, u16)>,
}

impl State {
    /// An account's balance and nonce (zero if unknown).
    pub fn account(&self, id: &AccountId) -> Account {
        self.accounts.get(id).copied().unwrap_or_default()
    }

    /// Every subnet at a glance, in id order.
    pub fn subnet_infos(&self) -> Vec<SubnetInfo> {
        self.subnets
            .keys()
            .filter_map(|id| self.subnet_info(*id))
            .collect()
    }

    /// One subnet at a glance.
    pub fn subnet_info(&self, netuid: NetUid) -> Option<SubnetInfo> {
        let s = self.subnets.get(&netuid)?;
        Some(SubnetInfo {
            netuid,
            owner: s.owner,
            owner_hotkey: s.owner_hotkey,
            neurons: s.neurons.len() as u16,
            max_neurons: s.params.max_allowed_uids,
            tempo: s.params.tempo,
            last_epoch_block: s.last_epoch_block,
            epoch_index: s.epoch_index,
            pending_emission: s.pending_emission,
            pool: self.pool_info(netuid)?,
            registration_price: s.burn_at(self.height + 1, self.economics.burn_half_life),
            locked: s.locked,
            created_at: s.created_at,
            work: s.work,
            moving_price: s.moving_price,
        })
    }

    /// A subnet's hyperparameters.
    pub fn hyperparameters(&self, netuid: NetUid) -> Option<SubnetParams> {
        self.subnets.get(&netuid).map(|s| s.params.clone())
    }

    /// A subnet's pool.
    pub fn pool_info(&self, netuid: NetUid) -> Option<PoolInfo> {
        let pool = &self.subnets.get(&netuid)?.pool;
        Some(PoolInfo {
            tao: pool.tao,
            alpha: pool.alpha,
            price: pool.price().unwrap_or(Price(0)),
        })
    }

    /// The full metagraph of a subnet, by UID.
    pub fn metagraph(&self, netuid: NetUid) -> Option<Vec<NeuronInfo>> {
        let s = self.subnets.get(&netuid)?;
        Some(
            s.neurons
                .iter()
                .enumerate()
                .map(|(uid, n)| NeuronInfo {
                    uid: uid as u16,
                    hotkey: n.hotkey,
                    coldkey: n.coldkey,
                    stake: self.hotkey_alpha(netuid, &n.hotkey),
                    trust: n.trust,
                    consensus: n.consensus,
                    incentive: n.incentive,
                    dividends: n.dividends,
                    validator_trust: n.validator_trust,
                    emission: n.emission,
                    validator_permit: n.validator_permit,
                    active: n.active,
                    last_update: n.last_update,
                    registered_at: n.registered_at,
                    axon: n.axon,
                })
                .collect(),
        )
    }

    /// The weights set on a subnet, one row per neuron that has set any, by UID.
    pub fn weights(&self, netuid: NetUid) -> Option<Vec<WeightsInfo>> {
        let s = self.subnets.get(&netuid)?;
        Some(
            s.neurons
                .iter()
                .enumerate()
                .filter(|(_, n)| !n.weights.is_empty())
                .map(|(uid, n)| WeightsInfo {
                    uid: uid as u16,
                    hotkey: n.hotkey,
                    last_update: n.last_update,
                    weights: n.weights.clone(),
                })
                .collect(),
        )
    }

    /// Every stake position of a coldkey.
    pub fn stakes_of(&self, coldkey: &AccountId) -> Vec<StakeInfo> {
        self.stakes
            .iter()
            .filter_map(|((netuid, hotkey), stake)| {
                let alpha = stake.value_of(coldkey);
                if alpha == 0 {
                    return None;
                }
                // The price times the alpha would overstate a large position in a thin
                // pool several times over; the quote is what unstaking really pays.
                let fee = FeeRate(self.economics.pool_fee_u16);
                let value = self
                    .subnets
                    .get(netuid)?
                    .pool
                    .quote_sell(alpha, fee, None)
                    .map_or(0, |swap| swap.amount_out);
                Some(StakeInfo {
                    netuid: *netuid,
                    hotkey: *hotkey,
                    alpha,
                    value: Balance::from_rao(value),
                })
            })
            .collect()
    }

    /// Pending weight commits on a subnet, oldest first per hotkey.
    pub fn pending_commits(&self, netuid: NetUid) -> Option<Vec<CommitInfo>> {
        let s = self.subnets.get(&netuid)?;
        let period = u64::from(s.params.reveal_period_epochs);
        Some(
            s.commits
                .iter()
                .flat_map(|(hotkey, commits)| {
                    commits.iter().map(move |c| CommitInfo {
                        hotkey: *hotkey,
                        hash: c.hash,
                        block: c.block,
                        reveal_epoch: c.epoch + period,
                    })
                })
                .collect(),
        )
    }

    /// What creating a subnet costs in the next block.
    pub fn subnet_lock_price(&self) -> Balance {
        current_lock(self, self.height + 1)
    }
}
