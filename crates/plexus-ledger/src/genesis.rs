//! Genesis: the chain's first state, from a TOML or JSON file.

use std::collections::BTreeSet;

use plexus_primitives::{AccountId, Balance, ChainId, MAX_VALIDATOR_ADDRESS_LEN};
use serde::{Deserialize, Serialize};

use crate::error::GenesisError;
use crate::params::{Economics, LedgerRules};

/// A funded account at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBalance {
    /// The account's address.
    pub account: AccountId,
    /// Its balance in base units.
    pub balance: Balance,
}

/// A chain validator at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisValidator {
    /// The validator's consensus key.
    pub consensus_key: AccountId,
    /// Where it listens for peers, for operators' convenience.
    #[serde(default)]
    pub address: Option<String>,
}

/// A validator bond that exists from genesis, so that the genesis validators
/// keep their seats when others bond (only bonded keys are seated once
/// anything is bonded; see [`crate::validators`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisBond {
    /// The bonded consensus key.
    pub consensus_key: AccountId,
    /// The account that owns the bond and alone may add to or unbond it.
    pub owner: AccountId,
    /// Where the validator listens for peers, `host:port`.
    pub address: String,
    /// Tokens bonded, issued at genesis like the balances.
    pub amount: Balance,
}

/// Everything the chain starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain's id; every signature is bound to it.
    pub chain_id: ChainId,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<GenesisBalance>,
    /// The initial chain validator set.
    pub validators: Vec<GenesisValidator>,
    /// Validator bonds from genesis (counting toward the sets after epoch 0).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<GenesisBond>,
    /// Emission schedule, fees, prices and the default hyperparameters.
    #[serde(default)]
    pub economics: Economics,
}

impl Genesis {
    /// Parses a genesis file, TOML or JSON (by its first character).
    pub fn parse(text: &str) -> Result<Self, GenesisError> {
        let genesis: Self = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| GenesisError::Malformed(e.to_string()))?
        } else {
            toml::from_str(text).map_err(|e| GenesisError::Malformed(e.to_string()))?
        };
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks what the types cannot: no duplicate account, supply (balances
    /// and bonds) within the cap, at least one validator and no validator
    /// twice, consensus keys that can sign, bonds of a positive amount with an address and no key bonded
    /// twice, consensus epochs of at least two blocks and room for at least
    /// one validator.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let mut seen = BTreeSet::new();
        let mut total: u128 = 0;
        for b in &self.balances {
            if !seen.insert(b.account) {
                return Err(GenesisError::DuplicateAccount(b.account));
            }
            total += u128::from(b.balance.rao());
        }
        let mut bonded = BTreeSet::new();
        for b in &self.bonds {
            if !bonded.insert(b.consensus_key) {
                return Err(GenesisError::InvalidBond(b.consensus_key, "bonded twice"));
            }
            if b.amount.is_zero() {
                return Err(GenesisError::InvalidBond(b.consensus_key, "zero amount"));
            }
            // Below the minimum it would never count, and the first bond made later
            // would unseat every genesis validator.
            if b.amount < self.economics.min_validator_bond {
                return Err(GenesisError::InvalidBond(
                    b.consensus_key,
                    "below the economics' min_validator_bond",
                ));
            }
            if b.address.is_empty() || b.address.len() > MAX_VALIDATOR_ADDRESS_LEN {
                return Err(GenesisError::InvalidBond(
                    b.consensus_key,
                    "address empty or too long",
                ));
            }
            total += u128::from(b.amount.rao());
        }
        if total > u128::from(self.economics.supply_cap.rao()) {
            return Err(GenesisError::AboveSupplyCap);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut keys = BTreeSet::new();
        for v in &self.validators {
            if !keys.insert(v.consensus_key) {
                return Err(GenesisError::DuplicateValidator(v.consensus_key));
            }
        }
        let consensus_keys = self.validators.iter().map(|v| v.consensus_key);
        if let Some(key) = consensus_keys
            .chain(self.bonds.iter().map(|b| b.consensus_key))
            .find(|k| !k.is_signing_key())
        {
            return Err(GenesisError::InvalidConsensusKey(key));
        }
        if self.economics.ledger_rules > LedgerRules::LATEST {
            return Err(GenesisError::NewerRules {
                named: self.economics.ledger_rules.0,
                known: LedgerRules::LATEST.0,
            });
        }
        if self.economics.validator_epoch_length < 2 {
            return Err(GenesisError::InvalidEconomics(
                "validator_epoch_length must be at least 2",
            ));
        }
        if self.economics.validator_epoch_length < self.economics.ledger_rules.min_epoch_length() {
            return Err(GenesisError::InvalidEconomics(
                "validator_epoch_length must be at least 8 where seats need heartbeats (they \
                 must land within the epoch)",
            ));
        }
        if self.economics.max_validators == 0 {
            return Err(GenesisError::InvalidEconomics(
                "max_validators must be at least 1",
            ));
        }
        Ok(())
    }

    /// Renders the genesis as TOML.
    pub fn to_toml(&self) -> Result<String, GenesisError> {
        toml::to_string_pretty(self).map_err(|e| GenesisError::Malformed(e.to_string()))
    }
}
