//! Transfers between accounts.

use plexus_primitives::{AccountId, Balance};

use super::Origin;
use crate::error::TxError;
use crate::state::State;

/// Moves `amount` from the signer to `to`.
pub fn transfer(
    state: &mut State,
    origin: Origin,
    to: &AccountId,
    amount: Balance,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    state.ensure_funds(&origin.signer, amount)?;
    state
        .balance(to)
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    state.debit(&origin.signer, amount)?;
    state.credit(to, amount)
}
