//! Staking through a subnet's pool, and validator takes.

use plexus_primitives::{AccountId, Balance, NetUid};

use super::Origin;
use crate::error::TxError;
use crate::pool::{FeeRate, Price};
use crate::state::State;

/// Swaps `amount` of the signer's tokens for alpha in the subnet's pool and
/// stakes it on `hotkey`, refusing an average price above `limit_price`.
pub fn add(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    hotkey: &AccountId,
    amount: Balance,
    limit_price: Option<u64>,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    let fee = FeeRate(state.economics.pool_fee_u16);
    let subnet = state.subnet(netuid)?;
    if subnet.uid_of(hotkey).is_none() {
        return Err(TxError::NotRegistered {
            netuid,
            hotkey: *hotkey,
        });
    }
    state.ensure_funds(&origin.signer, amount)?;
    let swap = subnet
        .pool
        .quote_buy(amount.rao(), fee, limit_price.map(Price))?;
    let key = (netuid, *hotkey);
    let stake = state.stakes.get(&key).cloned().unwrap_or_default();
    stake.shares_for(swap.amount_out)?;

    state.debit(&origin.signer, amount)?;
    state
        .subnet_mut(netuid)?
        .pool
        .buy(amount.rao(), fee, limit_price.map(Price))?;
    state
        .stakes
        .entry(key)
        .or_default()
        .deposit(&origin.signer, swap.amount_out)
}

/// Unstakes `alpha` from `hotkey` and swaps it back to tokens, refusing an
/// average price below `limit_price`.
pub fn remove(
    state: &mut State,
    origin: Origin,
    netuid: NetUid,
    hotkey: &AccountId,
    alpha: u64,
    limit_price: Option<u64>,
) -> Result<(), TxError> {
    if alpha == 0 {
        return Err(TxError::ZeroAmount);
    }
    let fee = FeeRate(state.economics.pool_fee_u16);
    let subnet = state.subnet(netuid)?;
    let key = (netuid, *hotkey);
    let stake = state.stakes.get(&key).ok_or(TxError::InsufficientStake {
        requested: alpha,
        available: 0,
    })?;
    stake.shares_to_withdraw(&origin.signer, alpha)?;
    let swap = subnet.pool.quote_sell(alpha, fee, limit_price.map(Price))?;
    let tokens = Balance::from_rao(swap.amount_out);
    state
        .balance(&origin.signer)
        .checked_add(tokens)
        .ok_or(TxError::Overflow)?;

    if let Some(stake) = state.stakes.get_mut(&key) {
        stake.withdraw(&origin.signer, alpha)?;
        if stake.is_empty() {
            state.stakes.remove(&key);
        }
    }
    state
        .subnet_mut(netuid)?
        .pool
        .sell(alpha, fee, limit_price.map(Price))?;
    state.credit(&origin.signer, tokens)
}

/// Sets the share of dividends a hotkey keeps before its stakers are paid.
/// Lowering is always allowed; raising is rate-limited: `take_rate_limit` blocks after
/// the last rise, or where every change waits
/// ([`crate::LedgerRules::every_take_change_waits`]) after the last change of any kind
/// (the hotkey's first use included), so stakers drawn by a lower take see a rise coming.
pub fn set_take(
    state: &mut State,
    origin: Origin,
    hotkey: &AccountId,
    take: u16,
) -> Result<(), TxError> {
    let max = state.economics.max_take_u16;
    let limit = state.economics.take_rate_limit;
    let every_change_waits = state.economics.ledger_rules.every_take_change_waits();
    let info = state
        .hotkeys
        .get_mut(hotkey)
        .ok_or(TxError::HotkeyOwnedByAnother(*hotkey))?;
    if info.owner != origin.signer {
        return Err(TxError::HotkeyOwnedByAnother(*hotkey));
    }
    if take > max {
        return Err(TxError::TakeAboveMax { take, max });
    }
    if take > info.take {
        let next_block = info.take_raised_at.saturating_add(limit);
        if (every_change_waits || info.take_raised_at > 0) && origin.block < next_block {
            return Err(TxError::RateLimited {
                action: "raising the take",
                next_block,
            });
        }
    }
    if take > info.take || (every_change_waits && take != info.take) {
        info.take_raised_at = origin.block;
    }
    info.take = take;
    Ok(())
}
