//! Creating subnets and setting their hyperparameters.

use std::collections::BTreeMap;

use plexus_primitives::{AccountId, Balance, Hyperparameter, NetUid, Work};

use super::Origin;
use crate::error::TxError;
use crate::pool::Pool;
use crate::state::{HotkeyInfo, State};
use crate::subnet::{Neuron, Subnet, lock_price};

/// The lock a subnet created at `block` costs.
pub fn current_lock(state: &State, block: u64) -> Balance {
    let e = &state.economics;
    lock_price(
        state.last_lock,
        state.last_lock_block,
        block,
        e.min_lock,
        e.lock_reduction_interval,
    )
}

/// Refuses a hotkey that another coldkey owns.
pub fn ensure_hotkey_free_or_owned(
    state: &State,
    hotkey: &AccountId,
    coldkey: &AccountId,
) -> Result<(), TxError> {
    match state.hotkeys.get(hotkey) {
        Some(info) if info.owner != *coldkey => Err(TxError::HotkeyOwnedByAnother(*hotkey)),
        _ => Ok(()),
    }
}

/// Records `coldkey` as the hotkey's owner if it has none yet, at `block`: where every
/// take change waits ([`crate::LedgerRules::every_take_change_waits`]), the take set at
/// first use counts as a change made then.
pub fn claim_hotkey(state: &mut State, hotkey: &AccountId, coldkey: &AccountId, block: u64) {
    let take = state.economics.default_take_u16;
    let take_raised_at = match state.economics.ledger_rules.every_take_change_waits() {
        true => block,
        false => 0,
    };
    state.hotkeys.entry(*hotkey).or_insert(HotkeyInfo {
        owner: *coldkey,
        take,
        take_raised_at,
    });
}

/// Creates a subnet: locks the current price (which seeds its pool at a
/// price of one) and registers the owner's hotkey as UID 0.
pub fn create(
    state: &mut State,
    origin: Origin,
    owner_hotkey: &AccountId,
    max_lock: Balance,
) -> Result<(), TxError> {
    let limit = state.economics.subnet_limit;
    if state.subnets.len() >= usize::from(limit) {
        return Err(TxError::SubnetLimitReached(limit));
    }
    ensure_hotkey_free_or_owned(state, owner_hotkey, &origin.signer)?;
    let price = current_lock(state, origin.block);
    if price > max_lock {
        return Err(TxError::LockAboveMax {
            price,
            max: max_lock,
        });
    }
    state.ensure_funds(&origin.signer, price)?;
    let pool = Pool::seed(price.rao(), price.rao())?;
    let netuid = (1..=u16::MAX)
        .map(NetUid)
        .find(|id| !state.subnets.contains_key(id))
        .ok_or(TxError::SubnetLimitReached(limit))?;

    state.debit(&origin.signer, price)?;
    claim_hotkey(state, owner_hotkey, &origin.signer, origin.block);
    let params = state.economics.subnet_defaults.clone();
    let burn = Balance::UNIT
        .rao()
        .clamp(params.min_burn.rao(), params.max_burn.rao());
    state.subnets.insert(
        netuid,
        Subnet {
            netuid,
            owner: origin.signer,
            owner_hotkey: *owner_hotkey,
            work: None,
            params,
            pool,
            locked: price,
            created_at: origin.block,
            neurons: vec![Neuron::new(*owner_hotkey, origin.signer, origin.block)],
            burn: Balance::from_rao(burn),
            burn_updated_at: origin.block,
            last_epoch_block: origin.block,
            epoch_index: 0,
            pending_emission: 0,
            alpha_issued: price.rao(),
            commits: BTreeMap::new(),
            moving_price: state
                .economics
                .ledger_rules
                .emission_follows_moving_prices()
                .then_some(0),
        },
    );
    state.last_lock = price;
    state.last_lock_block = origin.block;
    Ok(())
}

/// Records the kind of work of a subnet the signer owns; setting the kind it already
/// records again does nothing.
pub fn set_work(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    work: Work,
) -> Result<(), TxError> {
    let subnet = state.subnet_mut(netuid)?;
    if subnet.owner != origin.signer {
        return Err(TxError::NotSubnetOwner(netuid));
    }
    match subnet.work {
        Some(recorded) if recorded != work => Err(TxError::WorkAlreadySet {
            netuid,
            work: recorded,
        }),
        _ => {
            subnet.work = Some(work);
            Ok(())
        }
    }
}

/// Sets one hyperparameter; owner only, within bounds.
pub fn set_hyperparameter(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    param: &Hyperparameter,
) -> Result<(), TxError> {
    let subnet = state.subnet_mut(netuid)?;
    if subnet.owner != origin.signer {
        return Err(TxError::NotSubnetOwner(netuid));
    }
    let mut params = subnet.params.clone();
    params.apply(param)?;
    if usize::from(params.max_allowed_uids) < subnet.neurons.len() {
        return Err(TxError::BelowRegistered {
            requested: params.max_allowed_uids,
            registered: subnet.neurons.len(),
        });
    }
    subnet.params = params;
    Ok(())
}
