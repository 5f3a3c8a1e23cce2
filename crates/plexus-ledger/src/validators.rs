//! Chain validators: bonds, and the set that runs consensus in each epoch.
//!
//! Consensus epochs are `validator_epoch_length` blocks long and aligned on
//! heights the way commonware's `FixedEpocher` counts them: epoch `e` holds
//! heights `e·L ..= e·L + L − 1`, so epoch 0 holds genesis (height 0) and
//! blocks `1 ..= L − 1`.
//!
//! The rules:
//! - The genesis validators are epoch 0's set, bonded or not.
//! - [`plexus_primitives::Call::BondValidator`] locks tokens from the
//!   signer's balance as a consensus key's bond (the first bonder owns it;
//!   later bonds add to it and refresh its address). A bond must reach
//!   `min_validator_bond`: every seat has an equal vote and a third of the
//!   seats offline stops the chain, so seats must not be cheap.
//! - [`plexus_primitives::Call::UnbondValidator`] moves tokens from the bond
//!   to *unbonding*: they stop counting toward the next set at once but stay
//!   locked until the end of the current epoch, so a validator's stake stays
//!   at risk for the whole epoch it serves in.
//! - At the last block of each epoch (height `h` with `(h + 1) % L == 0`),
//!   after that block's transactions, the next epoch's set is chosen: the
//!   `max_validators` largest bonds of at least `min_validator_bond` (ties
//!   broken by the smaller key), in key order. Under
//!   [`crate::LedgerRules::LIVE_SEATS`] a bond counts only if its node sent a
//!   [`plexus_primitives::Call::Heartbeat`] (signed by the consensus key, which
//!   only the running node holds) during that epoch: a bond whose node is not
//!   running takes no seat, and a seated node that stops loses its seat at the
//!   next boundary. With no bond that counts the set stays as it is, so it is
//!   never empty. Then unbonding tokens go back to their owners and empty bonds
//!   are removed. Only there does the set change: a member of the current
//!   set cannot leave (or be pushed out) mid-epoch.

use plexus_primitives::{AccountId, Balance, MAX_VALIDATOR_ADDRESS_LEN};
use serde::{Deserialize, Serialize};

use crate::calls::Origin;
use crate::error::TxError;
use crate::genesis::GenesisValidator;
use crate::state::State;

/// A chain validator's bond.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorBond {
    /// The account that bonded and alone may add to or unbond it.
    pub owner: AccountId,
    /// Where the validator listens for peers, `host:port`.
    pub address: String,
    /// Tokens bonded that count toward the next set.
    pub amount: Balance,
    /// Tokens unbonded, paid back to the owner at the end of the epoch.
    pub unbonding: Balance,
    /// The last consensus epoch its node sent a heartbeat in (see
    /// [`crate::LedgerRules::LIVE_SEATS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<u64>,
    /// The consensus epoch the bond was made in (under
    /// [`crate::LedgerRules::FRESH_BONDS`]). A bond emptied by unbonding is
    /// removed at its epoch's end; one made again after that is new.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonded_in: Option<u64>,
}

impl ValidatorBond {
    /// The latest consensus epoch its node is known to have been about to
    /// run in: its last heartbeat, or the epoch it was made in if later.
    fn last_sign_of_life(&self) -> Option<u64> {
        self.heartbeat.max(self.bonded_in)
    }
}

/// One seat of a validator set, with the bond behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSeat {
    /// The consensus key.
    pub consensus_key: AccountId,
    /// Where it listens for peers, if known.
    pub address: Option<String>,
    /// Its bond counting toward the next set (zero for an unbonded genesis validator).
    pub bond: Balance,
    /// The last consensus epoch its node sent a heartbeat in, if any.
    #[serde(default)]
    pub heartbeat: Option<u64>,
    /// The consensus epoch its bond was made in, where the chain's rules record it
    /// ([`LedgerRules::FRESH_BONDS`](crate::LedgerRules::FRESH_BONDS)): candidates outside
    /// the set rank by the later of this and `heartbeat`.
    #[serde(default)]
    pub bonded_in: Option<u64>,
}

/// The validator sets at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSets {
    /// The consensus epoch of the next block.
    pub epoch: u64,
    /// Blocks per consensus epoch.
    pub epoch_length: u64,
    /// The first height of `epoch`.
    pub first_height: u64,
    /// The last height of `epoch`: the block that chooses the next set.
    pub last_height: u64,
    /// The set that signs `epoch`'s blocks, in key order.
    pub current: Vec<ValidatorSeat>,
    /// The set the bonds would choose if the epoch ended now, in key order.
    pub next: Vec<ValidatorSeat>,
    /// The bonds whose nodes validators accept as followers ([`seat_candidates`]),
    /// in key order. Empty from nodes that predate it.
    #[serde(default)]
    pub candidates: Vec<ValidatorSeat>,
    /// The least bond that counts for a seat: one left below it by unbonding counts for
    /// nothing. Zero from nodes that predate it.
    #[serde(default)]
    pub min_bond: Balance,
}

/// The consensus epoch holding `height`.
pub fn epoch_of(height: u64, epoch_length: u64) -> u64 {
    height / epoch_length.max(2)
}

/// Whether `height` is the first block of a consensus epoch after genesis (the
/// first whose set the epoch's own state named).
pub fn is_epoch_start(height: u64, epoch_length: u64) -> bool {
    height > 0 && height.is_multiple_of(epoch_length.max(2))
}

/// Whether `height` is the last block of its consensus epoch.
pub fn is_epoch_end(height: u64, epoch_length: u64) -> bool {
    height
        .checked_add(1)
        .is_some_and(|h| h % epoch_length.max(2) == 0)
}

/// Locks `amount` of the signer's balance as `consensus_key`'s bond.
pub fn bond(
    state: &mut State,
    origin: Origin,
    consensus_key: &AccountId,
    address: &str,
    amount: Balance,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    if address.is_empty() || address.len() > MAX_VALIDATOR_ADDRESS_LEN {
        return Err(TxError::InvalidValidatorAddress);
    }
    // A key no node can use would halt the chain once seated.
    if !consensus_key.is_signing_key() {
        return Err(TxError::InvalidConsensusKey(*consensus_key));
    }
    let current = state.bonds.get(consensus_key);
    if let Some(b) = current
        && b.owner != origin.signer
    {
        return Err(TxError::BondOwnedByAnother(*consensus_key));
    }
    let total = current
        .map_or(Balance::ZERO, |b| b.amount)
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    let min = state.economics.min_validator_bond;
    if total < min {
        return Err(TxError::BondBelowMinimum { min, bond: total });
    }
    state.ensure_funds(&origin.signer, amount)?;
    state.debit(&origin.signer, amount)?;
    let bonded_in = state
        .economics
        .ledger_rules
        .bonds_record_their_epoch()
        .then(|| epoch_of(origin.block, state.economics.validator_epoch_length));
    let entry = state
        .bonds
        .entry(*consensus_key)
        .or_insert_with(|| ValidatorBond {
            owner: origin.signer,
            address: String::new(),
            amount: Balance::ZERO,
            unbonding: Balance::ZERO,
            heartbeat: None,
            bonded_in,
        });
    entry.amount = total;
    entry.address = address.to_owned();
    Ok(())
}

/// Moves `amount` of a bond the signer owns to unbonding.
pub fn unbond(
    state: &mut State,
    origin: Origin,
    consensus_key: &AccountId,
    amount: Balance,
) -> Result<(), TxError> {
    if amount.is_zero() {
        return Err(TxError::ZeroAmount);
    }
    let bond = state
        .bonds
        .get_mut(consensus_key)
        .ok_or(TxError::NoBond(*consensus_key))?;
    if bond.owner != origin.signer {
        return Err(TxError::BondOwnedByAnother(*consensus_key));
    }
    let rest = bond
        .amount
        .checked_sub(amount)
        .ok_or(TxError::InsufficientBond {
            requested: amount,
            available: bond.amount,
        })?;
    let unbonding = bond
        .unbonding
        .checked_add(amount)
        .ok_or(TxError::Overflow)?;
    bond.amount = rest;
    bond.unbonding = unbonding;
    Ok(())
}

/// Whether `signer` may send a heartbeat for `epoch` in a block at `height`:
/// it is a bonded consensus key, `epoch` is the block's, and the bond has no
/// heartbeat for it yet. Part of the envelope, so a heartbeat that fails pays
/// nothing and no block may carry it: heartbeats are free, and must not be a
/// way to fill blocks.
pub fn check_heartbeat(
    state: &State,
    signer: &AccountId,
    epoch: u64,
    height: u64,
) -> Result<(), TxError> {
    let expected = epoch_of(height, state.economics.validator_epoch_length);
    if epoch != expected {
        return Err(TxError::HeartbeatWrongEpoch {
            expected,
            got: epoch,
        });
    }
    let bond = state.bonds.get(signer).ok_or(TxError::NoBond(*signer))?;
    if bond.heartbeat == Some(epoch) {
        return Err(TxError::HeartbeatAlreadySent(*signer));
    }
    Ok(())
}

/// Records the signer's (a consensus key's) heartbeat for `epoch`, which
/// [`check_heartbeat`] allowed.
pub fn heartbeat(state: &mut State, origin: Origin, epoch: u64) -> Result<(), TxError> {
    if !state.economics.ledger_rules.seats_need_heartbeats() {
        return Err(TxError::HeartbeatsNotInUse);
    }
    let bond = state
        .bonds
        .get_mut(&origin.signer)
        .ok_or(TxError::NoBond(origin.signer))?;
    bond.heartbeat = Some(epoch);
    Ok(())
}

/// The bonds that could be seated at the next boundary if their nodes are live:
/// at least the minimum, `2 · max_validators` of them, in key order. Their
/// nodes must follow the chain before they are seated (to be in sync, and under
/// [`crate::LedgerRules::LIVE_SEATS`] to see their bond and send a heartbeat at
/// all), so validators accept their connections; twice the seats leaves room
/// for live bonds behind larger ones whose nodes are not running.
///
/// Under `LIVE_SEATS`, bonds whose node sent a heartbeat in this epoch or the
/// last come first, largest first, then the rest by size (ties to the smaller
/// key): bonds whose nodes do not run, however large, cannot push a running
/// standby validator off the chain it must follow to keep its chance of a
/// seat. Under [`crate::LedgerRules::FRESH_BONDS`] the rest rank by their
/// latest sign of life (made, or last heartbeat), then size: a new bond's node
/// gets its chance to follow the chain and send its first heartbeat, and
/// bonds whose nodes never ran sink as they age. Under earlier rules, the
/// largest bonds.
pub fn seat_candidates(state: &State) -> Vec<GenesisValidator> {
    let mut candidates = ranked_seat_candidates(state);
    candidates.sort_by_key(|c| c.consensus_key);
    candidates
}

/// The [`seat_candidates`] in the order they rank, best first: where a node
/// has room for only some of them, it keeps the first.
pub fn ranked_seat_candidates(state: &State) -> Vec<GenesisValidator> {
    let seats = usize::from(state.economics.max_validators.max(1));
    let epoch = state.validator_epoch();
    let rules = state.economics.ledger_rules;
    let running = |b: &ValidatorBond| {
        rules.seats_need_heartbeats()
            && b.heartbeat
                .is_some_and(|beat| beat.saturating_add(1) >= epoch)
    };
    let mut candidates = ranked_bonds(state, 2 * seats, running, |b| b.amount);
    let room = 2 * seats - candidates.len();
    let idle = |b: &ValidatorBond| !running(b);
    candidates.extend(match rules.bonds_record_their_epoch() {
        true => ranked_bonds(state, room, idle, |b| (b.last_sign_of_life(), b.amount)),
        false => ranked_bonds(state, room, idle, |b| b.amount),
    });
    candidates
}

/// The set the bonds choose at the end of `epoch`: the `max_validators`
/// largest bonds (ties to the smaller key), in key order, counting under
/// [`crate::LedgerRules::LIVE_SEATS`] only bonds whose node sent a heartbeat
/// in `epoch`; the current set if no bond counts.
pub fn next_set(state: &State, epoch: u64) -> Vec<GenesisValidator> {
    let live = |b: &ValidatorBond| {
        !state.economics.ledger_rules.seats_need_heartbeats() || b.heartbeat == Some(epoch)
    };
    let seats = usize::from(state.economics.max_validators.max(1));
    let set = largest_bonds(state, seats, live);
    if set.is_empty() {
        return state.validators.clone();
    }
    set
}

/// The `limit` largest bonds of at least the minimum that `counts` takes (ties
/// to the smaller key), in key order.
fn largest_bonds(
    state: &State,
    limit: usize,
    counts: impl Fn(&ValidatorBond) -> bool,
) -> Vec<GenesisValidator> {
    let mut largest = ranked_bonds(state, limit, counts, |b| b.amount);
    largest.sort_by_key(|c| c.consensus_key);
    largest
}

/// The `limit` bonds of at least the minimum that `counts` takes with the
/// greatest `rank`, greatest first (ties to the smaller key).
fn ranked_bonds<R: Ord>(
    state: &State,
    limit: usize,
    counts: impl Fn(&ValidatorBond) -> bool,
    rank: impl Fn(&ValidatorBond) -> R,
) -> Vec<GenesisValidator> {
    // A bond that fell below the minimum (by unbonding) no longer counts.
    let min = state.economics.min_validator_bond.max(Balance::from_rao(1));
    let mut ranked: Vec<(&AccountId, &ValidatorBond)> = state
        .bonds
        .iter()
        .filter(|(_, b)| b.amount >= min && counts(b))
        .collect();
    // Greater rank first; equal ranks by key (the map's order, kept by the stable sort).
    ranked.sort_by_key(|(_, b)| std::cmp::Reverse(rank(b)));
    ranked.truncate(limit);
    ranked
        .into_iter()
        .map(|(key, b)| GenesisValidator {
            consensus_key: *key,
            address: Some(b.address.clone()),
        })
        .collect()
}

/// At the last block of an epoch: chooses the next set, pays unbonding
/// tokens back and drops empty bonds. Returns whether the epoch ended.
pub fn end_of_block(state: &mut State, height: u64) -> bool {
    if !is_epoch_end(height, state.economics.validator_epoch_length) {
        return false;
    }
    state.validators = next_set(
        state,
        epoch_of(height, state.economics.validator_epoch_length),
    );
    let mut paid: Vec<(AccountId, AccountId, Balance)> = Vec::new();
    for (key, b) in &state.bonds {
        if !b.unbonding.is_zero() {
            paid.push((*key, b.owner, b.unbonding));
        }
    }
    for (key, owner, amount) in paid {
        // A credit cannot overflow (balances never exceed the supply); if
        // it somehow did, the tokens simply stay unbonding.
        if state.credit(&owner, amount).is_ok()
            && let Some(b) = state.bonds.get_mut(&key)
        {
            b.unbonding = Balance::ZERO;
        }
    }
    state
        .bonds
        .retain(|_, b| !b.amount.is_zero() || !b.unbonding.is_zero());
    true
}

impl State {
    /// The consensus epoch of the next block.
    pub fn validator_epoch(&self) -> u64 {
        epoch_of(
            self.height.saturating_add(1),
            self.economics.validator_epoch_length,
        )
    }

    /// Tokens locked in validator bonds, unbonding included.
    pub fn bonded(&self) -> u128 {
        self.bonds
            .values()
            .map(|b| u128::from(b.amount.rao()) + u128::from(b.unbonding.rao()))
            .sum()
    }

    /// The current and next validator sets.
    pub fn validator_sets(&self) -> ValidatorSets {
        let length = self.economics.validator_epoch_length.max(2);
        let epoch = self.validator_epoch();
        let seat = |v: &GenesisValidator| {
            let bond = self.bonds.get(&v.consensus_key);
            ValidatorSeat {
                consensus_key: v.consensus_key,
                address: v.address.clone(),
                bond: bond.map_or(Balance::ZERO, |b| b.amount),
                heartbeat: bond.and_then(|b| b.heartbeat),
                bonded_in: bond.and_then(|b| b.bonded_in),
            }
        };
        let first_height = epoch.saturating_mul(length);
        ValidatorSets {
            epoch,
            epoch_length: length,
            first_height,
            last_height: first_height.saturating_add(length - 1),
            current: self.validators.iter().map(seat).collect(),
            next: next_set(self, epoch).iter().map(seat).collect(),
            candidates: seat_candidates(self).iter().map(seat).collect(),
            min_bond: self.economics.min_validator_bond.max(Balance::from_rao(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_follow_the_fixed_epocher() {
        assert_eq!(epoch_of(0, 10), 0);
        assert_eq!(epoch_of(9, 10), 0);
        assert_eq!(epoch_of(10, 10), 1);
        assert!(!is_epoch_end(0, 10));
        assert!(is_epoch_end(9, 10));
        assert!(!is_epoch_end(10, 10));
        assert!(is_epoch_end(19, 10));
        assert!(!is_epoch_end(u64::MAX, 10));
    }
}
