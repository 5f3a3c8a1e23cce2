//! What each call does to the state. Every handler checks everything before
//! it changes anything, so a refused call leaves the state untouched.

mod balances;
pub use subnets::current_lock;
mod registration;
mod staking;
mod subnets;
mod weights;

use plexus_primitives::{AccountId, Call};

use crate::error::TxError;
use crate::state::State;
use crate::validators;

/// Who signed and when.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// The signer.
    pub signer: AccountId,
    /// The block being built.
    pub block: u64,
}

/// Applies one call for `origin`. The fee is handled by the caller.
pub fn dispatch(state: &mut State, origin: Origin, call: &Call) -> Result<(), TxError> {
    match call {
        Call::Transfer { to, amount } => balances::transfer(state, origin, to, *amount),
        Call::CreateSubnet {
            owner_hotkey,
            max_lock,
        } => subnets::create(state, origin, owner_hotkey, *max_lock),
        Call::SetHyperparameter { netuid, param } => {
            subnets::set_hyperparameter(state, origin, *netuid, param)
        }
        Call::SetSubnetWork { netuid, work } => subnets::set_work(state, origin, *netuid, *work),
        Call::Register {
            netuid,
            hotkey,
            max_burn,
        } => registration::register(state, origin, *netuid, hotkey, *max_burn),
        Call::ServeAxon {
            netuid,
            hotkey,
            axon,
        } => registration::serve_axon(state, origin, *netuid, hotkey, axon),
        Call::AddStake {
            netuid,
            hotkey,
            amount,
            limit_price,
        } => staking::add(state, origin, *netuid, hotkey, *amount, *limit_price),
        Call::RemoveStake {
            netuid,
            hotkey,
            alpha,
            limit_price,
        } => staking::remove(state, origin, *netuid, hotkey, *alpha, *limit_price),
        Call::SetTake { hotkey, take } => staking::set_take(state, origin, hotkey, *take),
        Call::SetWeights {
            netuid,
            uids,
            weights,
            version_key,
        } => weights::set(state, origin, *netuid, uids, weights, *version_key),
        Call::CommitWeights { netuid, commit } => weights::commit(state, origin, *netuid, commit),
        Call::RevealWeights {
            netuid,
            uids,
            weights,
            salt,
            version_key,
        } => weights::reveal(state, origin, *netuid, uids, weights, salt, *version_key),
        Call::BondValidator {
            consensus_key,
            address,
            amount,
        } => validators::bond(state, origin, consensus_key, address, *amount),
        Call::UnbondValidator {
            consensus_key,
            amount,
        } => validators::unbond(state, origin, consensus_key, *amount),
        Call::Heartbeat { epoch } => validators::heartbeat(state, origin, *epoch),
    }
}
