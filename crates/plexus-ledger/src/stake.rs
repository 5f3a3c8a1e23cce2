//! Stake on one hotkey in one subnet, held as shares of a pool of alpha.
//!
//! Dividends added to the pool raise every share's value at once, so paying
//! a validator's stakers pro rata costs one addition instead of a loop over
//! them. Shares are u128 so that dilution never underflows to zero.

use std::collections::BTreeMap;

use plexus_primitives::AccountId;
use serde::{Deserialize, Serialize};

use crate::error::TxError;

/// The alpha staked on one hotkey in one subnet and who owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotkeyStake {
    /// Alpha held by the pool, in base units (its stake weight).
    pub alpha: u64,
    /// Shares outstanding.
    pub total_shares: u128,
    /// Shares per staking coldkey.
    pub shares: BTreeMap<AccountId, u128>,
}

impl HotkeyStake {
    /// Alpha a coldkey could withdraw now (rounded down).
    pub fn value_of(&self, coldkey: &AccountId) -> u64 {
        let shares = self.shares.get(coldkey).copied().unwrap_or(0);
        self.value_of_shares(shares)
    }

    fn value_of_shares(&self, shares: u128) -> u64 {
        if self.total_shares == 0 {
            return 0;
        }
        // shares <= total_shares, so the quotient is at most `alpha`.
        (u128::from(self.alpha) * shares / self.total_shares) as u64
    }

    /// Shares that `alpha` buys now; refuses amounts too small to buy one.
    pub fn shares_for(&self, alpha: u64) -> Result<u128, TxError> {
        if alpha == 0 {
            return Err(TxError::ZeroAmount);
        }
        if self.total_shares == 0 || self.alpha == 0 {
            return Ok(u128::from(alpha));
        }
        let shares = u128::from(alpha)
            .checked_mul(self.total_shares)
            .ok_or(TxError::Overflow)?
            / u128::from(self.alpha);
        if shares == 0 {
            Err(TxError::ZeroAmount)
        } else {
            Ok(shares)
        }
    }

    /// Adds `alpha` owned by `coldkey`. Check with [`Self::shares_for`] first
    /// when the caller must not fail half way.
    pub fn deposit(&mut self, coldkey: &AccountId, alpha: u64) -> Result<(), TxError> {
        let shares = self.shares_for(alpha)?;
        let new_alpha = self.alpha.checked_add(alpha).ok_or(TxError::Overflow)?;
        let new_total = self
            .total_shares
            .checked_add(shares)
            .ok_or(TxError::Overflow)?;
        self.alpha = new_alpha;
        self.total_shares = new_total;
        *self.shares.entry(*coldkey).or_insert(0) += shares;
        Ok(())
    }

    /// Shares that withdrawing `alpha` burns from `coldkey`, rounded up so the
    /// pool never pays out more than the shares are worth.
    pub fn shares_to_withdraw(&self, coldkey: &AccountId, alpha: u64) -> Result<u128, TxError> {
        let held = self.shares.get(coldkey).copied().unwrap_or(0);
        let available = self.value_of_shares(held);
        if alpha == 0 {
            return Err(TxError::ZeroAmount);
        }
        if alpha > available {
            return Err(TxError::InsufficientStake {
                requested: alpha,
                available,
            });
        }
        if alpha == available {
            return Ok(held);
        }
        let numerator = u128::from(alpha) * self.total_shares;
        let alpha_total = u128::from(self.alpha);
        Ok(numerator.div_ceil(alpha_total).min(held))
    }

    /// Removes `alpha` from `coldkey`'s stake.
    pub fn withdraw(&mut self, coldkey: &AccountId, alpha: u64) -> Result<(), TxError> {
        let burn = self.shares_to_withdraw(coldkey, alpha)?;
        self.alpha -= alpha;
        self.total_shares -= burn;
        if let Some(held) = self.shares.get_mut(coldkey) {
            *held -= burn;
            if *held == 0 {
                self.shares.remove(coldkey);
            }
        }
        Ok(())
    }

    /// Adds alpha to the pool without new shares: every staker gains pro rata.
    /// With no stakers the alpha goes to `fallback` as new stake.
    pub fn distribute(&mut self, alpha: u64, fallback: &AccountId) -> Result<(), TxError> {
        if alpha == 0 {
            return Ok(());
        }
        if self.total_shares == 0 {
            return self.deposit(fallback, alpha);
        }
        self.alpha = self.alpha.checked_add(alpha).ok_or(TxError::Overflow)?;
        Ok(())
    }

    /// Whether nothing is staked and no shares remain.
    pub fn is_empty(&self) -> bool {
        self.alpha == 0 && self.total_shares == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(b: u8) -> AccountId {
        AccountId([b; 32])
    }

    #[test]
    fn distribution_raises_every_share_pro_rata() {
        let mut s = HotkeyStake::default();
        s.deposit(&acct(1), 300).unwrap();
        s.deposit(&acct(2), 100).unwrap();
        s.distribute(400, &acct(9)).unwrap();
        assert_eq!(s.value_of(&acct(1)), 600);
        assert_eq!(s.value_of(&acct(2)), 200);
    }

    #[test]
    fn withdrawing_everything_clears_the_staker() {
        let mut s = HotkeyStake::default();
        s.deposit(&acct(1), 10).unwrap();
        s.deposit(&acct(2), 20).unwrap();
        s.distribute(7, &acct(9)).unwrap();
        let all = s.value_of(&acct(1));
        s.withdraw(&acct(1), all).unwrap();
        assert!(!s.shares.contains_key(&acct(1)));
        assert_eq!(s.value_of(&acct(2)), s.alpha);
    }

    #[test]
    fn over_withdrawal_is_refused() {
        let mut s = HotkeyStake::default();
        s.deposit(&acct(1), 10).unwrap();
        let before = s.clone();
        assert_eq!(
            s.withdraw(&acct(1), 11),
            Err(TxError::InsufficientStake {
                requested: 11,
                available: 10
            })
        );
        assert_eq!(s, before);
    }

    #[test]
    fn with_no_stakers_distribution_goes_to_the_fallback() {
        let mut s = HotkeyStake::default();
        s.distribute(5, &acct(3)).unwrap();
        assert_eq!(s.value_of(&acct(3)), 5);
    }
}
