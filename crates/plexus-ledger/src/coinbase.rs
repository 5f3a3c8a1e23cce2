//! Every block: token emission into the subnets' pools and alpha emission
//! into their pending pots. Every tempo: the Yuma epoch pays the pot out.

use plexus_primitives::{AccountId, Balance, NetUid};
use plexus_yuma::{EpochInput, WeightAges, epoch};

use crate::pool::Price;
use crate::stake::HotkeyStake;
use crate::state::State;
use crate::subnet::{Neuron, Subnet};

/// Halvings so far: one each time issuance covers half of what was left
/// below the cap (at 1/2, 3/4, 7/8, ... of it).
pub fn halvings(issued: u64, cap: u64) -> u32 {
    let mut halvings = 0;
    let mut remaining = u128::from(cap);
    let issued = u128::from(issued);
    while halvings < 64 && issued >= u128::from(cap) - remaining / 2 {
        remaining /= 2;
        halvings += 1;
        if remaining == 0 {
            break;
        }
    }
    halvings
}

/// Tokens emitted by the next block.
pub fn block_emission(state: &State) -> u64 {
    let e = &state.economics;
    let h = halvings(state.totals.issued, e.supply_cap.rao());
    let emission = if h >= 64 {
        0
    } else {
        e.block_emission.rao() >> h
    };
    emission.min(e.supply_cap.rao().saturating_sub(state.totals.issued))
}

/// One TAO per alpha in a moving price's unit (10⁻¹⁸ TAO per alpha): the most a
/// moving price follows.
pub const MOVING_PRICE_CAP: u64 = 1_000_000_000_000_000_000;

/// How many blocks old a subnet is when its moving price moves at half its full pace.
const MOVING_PRICE_RAMP_BLOCKS: u64 = 201_600;

/// A subnet's moving price after one more block: `moving` moves a fraction
/// `3·10⁻⁶ · age / (age + 201,600)` of the way to the pool's price now, capped at one TAO
/// per alpha (the reference chain's rule, ../shared/reference). `price` is the pool's
/// price ([`Price`], 10⁻⁹ TAO per alpha), `age` the subnet's age in blocks; the result
/// is in 10⁻¹⁸ TAO per alpha.
///
/// The cap makes buying a pool above one TAO per alpha worth nothing in emission, and the
/// slow pace (a mature subnet's moving price goes half way in about 231,000 blocks, two
/// weeks at six seconds a block) makes holding a price up cost the capital for weeks.
pub fn next_moving_price(moving: u64, price: Price, age: u64) -> u64 {
    let target = u128::from(price.0)
        .saturating_mul(1_000_000_000)
        .min(u128::from(MOVING_PRICE_CAP));
    let age = u128::from(age);
    let step =
        |gap: u128| gap * 3 * age / (1_000_000 * (age + u128::from(MOVING_PRICE_RAMP_BLOCKS)));
    let moving = u128::from(moving.min(MOVING_PRICE_CAP));
    // Both within [0, cap], so the result is too.
    let next = if target >= moving {
        moving + step(target - moving)
    } else {
        moving - step(moving - target)
    };
    next as u64
}

/// Splits the block's emission across subnets by their prices (their moving prices,
/// moved on first, where the rules say so:
/// [`LedgerRules::SLOW_CHANGES`](crate::LedgerRules::SLOW_CHANGES)) and injects each
/// share into its pool without moving the price; each subnet then adds its own alpha
/// emission to the pot for its next epoch.
pub fn emit(state: &mut State) {
    let emission = block_emission(state);
    let moving = state
        .economics
        .ledger_rules
        .emission_follows_moving_prices();
    let height = state.height;
    let prices: Vec<(NetUid, u128)> = state
        .subnets
        .iter_mut()
        .map(|(id, s)| {
            let now = s.pool.price().unwrap_or(Price(0));
            if !moving {
                return (*id, u128::from(now.0));
            }
            let age = height.saturating_sub(s.created_at);
            let next = next_moving_price(s.moving_price.unwrap_or(0), now, age);
            s.moving_price = Some(next);
            (*id, u128::from(next))
        })
        .collect();
    let total_price: u128 = prices.iter().map(|p| p.1).sum();
    let alpha_cap = state.economics.supply_cap.rao();
    let alpha_emission = state.economics.alpha_block_emission;
    let mut minted = 0u64;
    for (netuid, price) in prices {
        let Some(subnet) = state.subnets.get_mut(&netuid) else {
            continue;
        };
        let share = (u128::from(emission) * price)
            .checked_div(total_price)
            .unwrap_or(0) as u64;
        // A pool that cannot take the injection (overflow) gets none.
        if share > 0
            && let Ok(alpha_in) = subnet.pool.inject(share)
        {
            subnet.alpha_issued = subnet.alpha_issued.saturating_add(alpha_in);
            minted += share;
        }
        let h = halvings(subnet.alpha_issued, alpha_cap);
        let alpha_out = if h >= 64 { 0 } else { alpha_emission >> h };
        let alpha_out = alpha_out.min(u64::MAX - subnet.alpha_issued);
        subnet.pending_emission += alpha_out;
        subnet.alpha_issued += alpha_out;
    }
    state.totals.issued += minted;
}

/// Subnets whose tempo has passed at `block`, in id order.
pub fn due_epochs(state: &State, block: u64) -> Vec<NetUid> {
    state
        .subnets
        .iter()
        .filter(|(_, s)| block.saturating_sub(s.last_epoch_block) >= u64::from(s.params.tempo))
        .map(|(id, _)| *id)
        .collect()
}

/// Pays out a subnet's pot: the owner's cut to the owner hotkey's stake,
/// then the Yuma epoch's incentive to miners and dividends to validators
/// (their take first, then their stakers pro rata). Rounding dust stays in
/// the pot for the next epoch.
pub fn run_epoch(state: &mut State, netuid: NetUid, block: u64) {
    let owner_cut_u16 = state.economics.owner_cut_u16;
    let dated = state.economics.ledger_rules.weights_dated_by_decision();
    let Some(subnet) = state.subnets.get(&netuid) else {
        return;
    };
    let pot = subnet.pending_emission;
    let owner_cut = (u128::from(pot) * u128::from(owner_cut_u16) / 65_535) as u64;
    let to_neurons = pot - owner_cut;
    let stake: Vec<u64> = subnet
        .neurons
        .iter()
        .map(|n| state.hotkey_alpha(netuid, &n.hotkey))
        .collect();
    let outcome = compute_epoch(subnet, &stake, to_neurons, block, dated);
    let (owner, owner_hotkey) = (subnet.owner, subnet.owner_hotkey);

    let mut paid = 0u64;
    if owner_cut > 0 && pay_stake(state, netuid, &owner_hotkey, &owner, owner_cut) {
        paid += owner_cut;
    }
    if let Some(out) = &outcome {
        let neurons: Vec<(AccountId, AccountId)> = state.subnets[&netuid]
            .neurons
            .iter()
            .map(|n| (n.hotkey, n.coldkey))
            .collect();
        for (uid, (hotkey, coldkey)) in neurons.iter().enumerate() {
            let incentive = out.server_emission[uid];
            if incentive > 0 && pay_stake(state, netuid, hotkey, coldkey, incentive) {
                paid += incentive;
            }
            let dividends = out.validator_emission[uid];
            if dividends > 0 && pay_dividends(state, netuid, hotkey, coldkey, dividends) {
                paid += dividends;
            }
        }
    }

    let Some(subnet) = state.subnets.get_mut(&netuid) else {
        return;
    };
    subnet.pending_emission = pot - paid;
    subnet.last_epoch_block = block;
    subnet.epoch_index += 1;
    let reveal_period = u64::from(subnet.params.reveal_period_epochs);
    let epoch_index = subnet.epoch_index;
    for commits in subnet.commits.values_mut() {
        commits.retain(|c| c.epoch + reveal_period >= epoch_index);
    }
    subnet.commits.retain(|_, c| !c.is_empty());
    if let Some(out) = outcome {
        let cutoff = u64::from(subnet.params.activity_cutoff);
        let last_active: Vec<u64> = subnet
            .neurons
            .iter()
            .map(|n| subnet.last_active(n, dated))
            .collect();
        for (uid, n) in subnet.neurons.iter_mut().enumerate() {
            n.active = last_active[uid].saturating_add(cutoff) >= block;
            n.validator_permit = out.new_validator_permits[uid];
            n.bonds = out.bonds[uid].clone();
            n.stake_weight = out.stake_weight[uid];
            n.consensus = out.consensus[uid];
            n.trust = out.trust[uid];
            n.validator_trust = out.validator_trust[uid];
            n.incentive = out.incentive[uid];
            n.dividends = out.dividends[uid];
            n.emission = out.server_emission[uid].saturating_add(out.validator_emission[uid]);
        }
    }
}

/// The Yuma epoch over a subnet's current state.
fn compute_epoch(
    subnet: &Subnet,
    stake: &[u64],
    emission: u64,
    block: u64,
    dated: bool,
) -> Option<plexus_yuma::EpochOutput> {
    let neurons = &subnet.neurons;
    if neurons.is_empty() {
        return None;
    }
    let cutoff = u64::from(subnet.params.activity_cutoff);
    // A validator whose weights are committed and not yet revealed is at work.
    let active: Vec<bool> = neurons
        .iter()
        .map(|n| subnet.last_active(n, dated).saturating_add(cutoff) >= block)
        .collect();
    let permits: Vec<bool> = neurons.iter().map(|n| n.validator_permit).collect();
    let weights: Vec<Vec<(u16, u16)>> = neurons.iter().map(|n| n.weights.clone()).collect();
    let bonds: Vec<Vec<(u16, u16)>> = neurons.iter().map(|n| n.bonds.clone()).collect();
    // UIDs registered after the previous epoch hold no bonds yet.
    let recently_registered: Vec<bool> = neurons
        .iter()
        .map(|n| n.registered_at > subnet.last_epoch_block)
        .collect();
    let last_update: Vec<u64> = neurons.iter().map(Neuron::weights_date).collect();
    let registered_at: Vec<u64> = neurons.iter().map(|n| n.registered_at).collect();
    let input = EpochInput {
        stake,
        active: &active,
        validator_permits: &permits,
        weights: &weights,
        bonds: &bonds,
        recently_registered: &recently_registered,
        weight_ages: Some(WeightAges {
            last_update: &last_update,
            registered_at: &registered_at,
        }),
        owner_uid: subnet.owner_uid(),
        emission,
    };
    // The ledger builds the input itself, so it is always well formed.
    epoch(&subnet.params.epoch_params(), &input).ok()
}

/// Adds alpha to `coldkey`'s stake on `hotkey`; false if it could not be
/// held (too small to buy a share, or an overflow), leaving it in the pot.
fn pay_stake(
    state: &mut State,
    netuid: NetUid,
    hotkey: &AccountId,
    coldkey: &AccountId,
    alpha: u64,
) -> bool {
    pay(state, netuid, hotkey, |stake| {
        stake.deposit(coldkey, alpha).is_ok()
    })
}

/// Pays a validator's dividends: its take to its owner, the rest to all
/// stakers of the hotkey pro rata.
fn pay_dividends(
    state: &mut State,
    netuid: NetUid,
    hotkey: &AccountId,
    coldkey: &AccountId,
    alpha: u64,
) -> bool {
    let take_u16 = state.hotkeys.get(hotkey).map_or(0, |h| h.take);
    let take = (u128::from(alpha) * u128::from(take_u16) / 65_535) as u64;
    pay(state, netuid, hotkey, |stake| {
        stake.distribute(alpha - take, coldkey).is_ok()
            && (take == 0 || stake.deposit(coldkey, take).is_ok())
    })
}

/// Runs a payment on a hotkey's stake all or nothing; a failed one leaves
/// the stake (or its absence) exactly as it was.
fn pay(
    state: &mut State,
    netuid: NetUid,
    hotkey: &AccountId,
    f: impl FnOnce(&mut HotkeyStake) -> bool,
) -> bool {
    let key = (netuid, *hotkey);
    let before = state.stakes.get(&key).cloned();
    let stake = state.stakes.entry(key).or_default();
    if f(stake) {
        return true;
    }
    match before {
        Some(b) => *stake = b,
        None => {
            state.stakes.remove(&key);
        }
    }
    false
}

/// Tokens handed to the pools by the next block, for queries.
pub fn next_block_emission(state: &State) -> Balance {
    Balance::from_rao(block_emission(state))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TAO: Price = Price::ONE;

    #[test]
    fn a_moving_price_follows_the_pool_slowly_and_never_past_one_tao() {
        // A subnet in its first block does not move; then slowly, faster with age.
        assert_eq!(next_moving_price(0, ONE_TAO, 0), 0);
        let young = next_moving_price(0, ONE_TAO, 1);
        let older = next_moving_price(0, ONE_TAO, 100_000);
        assert!(0 < young && young < older, "{young} {older}");
        // A mature subnet moves about 3·10⁻⁶ of the way a block.
        let mature = next_moving_price(0, ONE_TAO, u64::MAX / 4);
        assert_eq!(mature, 3 * MOVING_PRICE_CAP / 1_000_000 - 1);
        // Above one TAO per alpha, a pool's price counts as one: buying it up earns nothing.
        for age in [1, 1_000, 1_000_000] {
            let pumped = Price(1_000 * ONE_TAO.0);
            assert_eq!(
                next_moving_price(5, pumped, age),
                next_moving_price(5, ONE_TAO, age)
            );
        }
        // It follows a falling price down, and stays within [0, one TAO].
        let half = Price(ONE_TAO.0 / 2);
        let down = next_moving_price(MOVING_PRICE_CAP, half, 1_000_000);
        assert!(down < MOVING_PRICE_CAP && down > MOVING_PRICE_CAP / 2);
        assert_eq!(next_moving_price(u64::MAX, ONE_TAO, 0), MOVING_PRICE_CAP);
        assert_eq!(next_moving_price(0, Price(u64::MAX), u64::MAX), {
            next_moving_price(0, ONE_TAO, u64::MAX)
        });
    }
}
