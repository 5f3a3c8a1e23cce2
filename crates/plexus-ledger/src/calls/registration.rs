//! Registering hotkeys on subnets (by burning the price) and announcing axons.

use plexus_primitives::{AccountId, AxonInfo, Balance, NetUid};

use super::Origin;
use super::subnets::{claim_hotkey, ensure_hotkey_free_or_owned};
use crate::error::TxError;
use crate::state::State;
use crate::subnet::Neuron;

/// Registers `hotkey` for the signing coldkey by burning the current price.
/// A full subnet replaces its lowest-emission UID that is past immunity.
pub fn register(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    hotkey: &AccountId,
    max_burn: Balance,
) -> Result<(), TxError> {
    let half_life = state.economics.burn_half_life;
    let increase = state.economics.burn_increase_ppm;
    ensure_hotkey_free_or_owned(state, hotkey, &origin.signer)?;
    let subnet = state.subnet(netuid)?;
    if subnet.uid_of(hotkey).is_some() {
        return Err(TxError::AlreadyRegistered(netuid));
    }
    let price = subnet.burn_at(origin.block, half_life);
    if price > max_burn {
        return Err(TxError::BurnAboveMax {
            price,
            max: max_burn,
        });
    }
    let slot = if subnet.neurons.len() < usize::from(subnet.params.max_allowed_uids) {
        None
    } else {
        Some(
            subnet
                .prune_candidate(origin.block)
                .ok_or(TxError::SubnetFull(netuid))?,
        )
    };
    state.ensure_funds(&origin.signer, price)?;

    state.debit(&origin.signer, price)?;
    state.totals.burned += price.rao();
    claim_hotkey(state, hotkey, &origin.signer, origin.block);
    let subnet = state.subnet_mut(netuid)?;
    let neuron = Neuron::new(*hotkey, origin.signer, origin.block);
    match slot {
        None => subnet.neurons.push(neuron),
        Some(uid) => {
            let old = std::mem::replace(&mut subnet.neurons[usize::from(uid)], neuron);
            subnet.commits.remove(&old.hotkey);
        }
    }
    let raised = u128::from(price.rao()) * u128::from(increase) / 1_000_000;
    let raised = raised.min(u128::from(subnet.params.max_burn.rao())) as u64;
    subnet.burn = Balance::from_rao(raised.max(subnet.params.min_burn.rao()));
    subnet.burn_updated_at = origin.block;
    Ok(())
}

/// Announces the endpoint of a registered hotkey; signed by the hotkey or
/// its owner, and rate-limited.
pub fn serve_axon(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    hotkey: &AccountId,
    axon: &AxonInfo,
) -> Result<(), TxError> {
    let owner = state.hotkeys.get(hotkey).map(|h| h.owner);
    if origin.signer != *hotkey && owner != Some(origin.signer) {
        return Err(TxError::HotkeyOwnedByAnother(*hotkey));
    }
    let subnet = state.subnet_mut(netuid)?;
    let uid = subnet.uid_of(hotkey).ok_or(TxError::NotRegistered {
        netuid,
        hotkey: *hotkey,
    })?;
    let limit = subnet.params.serving_rate_limit;
    let neuron = &mut subnet.neurons[usize::from(uid)];
    if let Some(last) = neuron.axon_updated_at {
        let next_block = last.saturating_add(limit);
        if origin.block < next_block {
            return Err(TxError::RateLimited {
                action: "serving an axon",
                next_block,
            });
        }
    }
    neuron.axon = Some(*axon);
    neuron.axon_updated_at = Some(origin.block);
    Ok(())
}
