//! The chain's state: accounts, hotkeys, subnets, stake and the books.

use std::collections::BTreeMap;

use plexus_primitives::{AccountId, Balance, ChainId, NetUid};
use serde::{Deserialize, Serialize};

use crate::error::TxError;
use crate::genesis::{Genesis, GenesisValidator};
use crate::params::Economics;
use crate::stake::HotkeyStake;
use crate::subnet::Subnet;
use crate::validators::ValidatorBond;

/// A coldkey's (or hotkey's) free balance and next nonce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Free balance.
    pub balance: Balance,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
}

/// Who owns a hotkey, and the take it charges its stakers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotkeyInfo {
    /// The owning coldkey.
    pub owner: AccountId,
    /// Share of dividends kept before stakers are paid, as `value / 65535`.
    pub take: u16,
    /// Block of the last take increase; where every take change waits
    /// ([`crate::LedgerRules::every_take_change_waits`]), of the last change of any kind or
    /// of the hotkey's first use.
    pub take_raised_at: u64,
}

/// The books: where every token issued went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Tokens in existence: genesis balances and bonds plus emission minted.
    pub issued: u64,
    /// Tokens destroyed: registration burns and fees.
    pub burned: u64,
    /// Of `burned`, the part that was fees.
    pub fees: u64,
}

/// The whole state of the chain after some block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The chain's id.
    pub chain_id: ChainId,
    /// Height of the last applied block (0 = genesis).
    pub height: u64,
    /// Economics, fixed at genesis.
    pub economics: Economics,
    /// The chain validators that sign the next block's epoch (see
    /// [`crate::validators`]), in key order after the first epoch.
    pub validators: Vec<GenesisValidator>,
    /// Chain validators' bonds by consensus key.
    #[serde(default)]
    pub bonds: BTreeMap<AccountId, ValidatorBond>,
    /// Balances and nonces.
    pub accounts: BTreeMap<AccountId, Account>,
    /// Hotkey ownership and takes.
    pub hotkeys: BTreeMap<AccountId, HotkeyInfo>,
    /// Subnets by id.
    pub subnets: BTreeMap<NetUid, Subnet>,
    /// Stake per (subnet, hotkey).
    pub stakes: BTreeMap<(NetUid, AccountId), HotkeyStake>,
    /// Price paid for the last subnet lock.
    pub last_lock: Balance,
    /// Block of the last subnet lock.
    pub last_lock_block: u64,
    /// The books.
    pub totals: Totals,
}

impl State {
    /// The state a genesis describes (validated first).
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, crate::error::GenesisError> {
        genesis.validate()?;
        let accounts: BTreeMap<AccountId, Account> = genesis
            .balances
            .iter()
            .map(|b| {
                (
                    b.account,
                    Account {
                        balance: b.balance,
                        nonce: 0,
                    },
                )
            })
            .collect();
        let bonds: BTreeMap<AccountId, ValidatorBond> = genesis
            .bonds
            .iter()
            .map(|b| {
                (
                    b.consensus_key,
                    ValidatorBond {
                        owner: b.owner,
                        address: b.address.clone(),
                        amount: b.amount,
                        unbonding: Balance::ZERO,
                        heartbeat: None,
                        bonded_in: genesis
                            .economics
                            .ledger_rules
                            .bonds_record_their_epoch()
                            .then_some(0),
                    },
                )
            })
            .collect();
        // Bonds are issued like balances (the supply cap, checked by `validate`,
        // covers both).
        let issued = genesis
            .balances
            .iter()
            .map(|b| b.balance.rao())
            .sum::<u64>()
            + genesis.bonds.iter().map(|b| b.amount.rao()).sum::<u64>();
        Ok(Self {
            chain_id: genesis.chain_id.clone(),
            height: 0,
            economics: genesis.economics.clone(),
            validators: genesis.validators.clone(),
            bonds,
            accounts,
            hotkeys: BTreeMap::new(),
            subnets: BTreeMap::new(),
            stakes: BTreeMap::new(),
            // Half the minimum, so the first lock costs exactly the minimum.
            last_lock: Balance::from_rao(genesis.economics.min_lock.rao() / 2),
            last_lock_block: 0,
            totals: Totals {
                issued,
                burned: 0,
                fees: 0,
            },
        })
    }

    /// The free balance of an account (zero if unknown).
    pub fn balance(&self, account: &AccountId) -> Balance {
        self.accounts
            .get(account)
            .map_or(Balance::ZERO, |a| a.balance)
    }

    /// A subnet, or the typed error.
    pub fn subnet(&self, netuid: NetUid) -> Result<&Subnet, TxError> {
        self.subnets
            .get(&netuid)
            .ok_or(TxError::UnknownSubnet(netuid))
    }

    /// A subnet for update, or the typed error.
    pub fn subnet_mut(&mut self, netuid: NetUid) -> Result<&mut Subnet, TxError> {
        self.subnets
            .get_mut(&netuid)
            .ok_or(TxError::UnknownSubnet(netuid))
    }

    /// Alpha staked on a hotkey in a subnet.
    pub fn hotkey_alpha(&self, netuid: NetUid, hotkey: &AccountId) -> u64 {
        self.stakes.get(&(netuid, *hotkey)).map_or(0, |s| s.alpha)
    }

    /// Adds to a free balance.
    pub fn credit(&mut self, account: &AccountId, amount: Balance) -> Result<(), TxError> {
        let entry = self.accounts.entry(*account).or_default();
        entry.balance = entry.balance.checked_add(amount).ok_or(TxError::Overflow)?;
        Ok(())
    }

    /// Takes from a free balance; refuses to go below zero. Taking nothing
    /// touches nothing (no empty account springs into existence).
    pub fn debit(&mut self, account: &AccountId, amount: Balance) -> Result<(), TxError> {
        if amount.is_zero() {
            return Ok(());
        }
        let available = self.balance(account);
        let rest = available
            .checked_sub(amount)
            .ok_or(TxError::InsufficientBalance {
                needed: amount,
                available,
            })?;
        self.accounts.entry(*account).or_default().balance = rest;
        Ok(())
    }

    /// Refuses unless `account` can pay `amount`.
    pub fn ensure_funds(&self, account: &AccountId, amount: Balance) -> Result<(), TxError> {
        let available = self.balance(account);
        if available < amount {
            return Err(TxError::InsufficientBalance {
                needed: amount,
                available,
            });
        }
        Ok(())
    }

    /// The supply books: `issued == balances + pool reserves + validator
    /// bonds + burned`, and
    /// per subnet, alpha issued == pool alpha + staked alpha + pending.
    /// Returns the first imbalance found, as text for tests and audits.
    pub fn check_books(&self) -> Result<(), String> {
        let balances: u128 = self
            .accounts
            .values()
            .map(|a| u128::from(a.balance.rao()))
            .sum();
        let reserves: u128 = self.subnets.values().map(|s| u128::from(s.pool.tao)).sum();
        let bonded = self.bonded();
        let accounted = balances + reserves + bonded + u128::from(self.totals.burned);
        if accounted != u128::from(self.totals.issued) {
            return Err(format!(
                "tokens: issued {} but balances {balances} + pool reserves {reserves} + bonded {bonded} + burned {} = {accounted}",
                self.totals.issued, self.totals.burned
            ));
        }
        for (netuid, subnet) in &self.subnets {
            let staked: u128 = self
                .stakes
                .range((*netuid, AccountId([0; 32]))..=(*netuid, AccountId([0xff; 32])))
                .map(|(_, s)| u128::from(s.alpha))
                .sum();
            let held = u128::from(subnet.pool.alpha) + staked + u128::from(subnet.pending_emission);
            if held != u128::from(subnet.alpha_issued) {
                return Err(format!(
                    "subnet {netuid}: alpha issued {} but pool {} + staked {staked} + pending {} = {held}",
                    subnet.alpha_issued, subnet.pool.alpha, subnet.pending_emission
                ));
            }
        }
        Ok(())
    }
}
