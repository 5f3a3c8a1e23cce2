//! Chain-wide economics and per-subnet hyperparameters, with their bounds.

use plexus_primitives::{Balance, Hyperparameter};
use plexus_yuma::{BondsModel, Hyperparameters, LiquidAlpha};
use serde::{Deserialize, Serialize};

use crate::error::TxError;

/// Chain-wide economic constants, fixed at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Economics {
    /// Token emitted per block before the first halving.
    pub block_emission: Balance,
    /// Total supply cap; emission halves each time issuance covers half of
    /// what is left below it.
    pub supply_cap: Balance,
    /// Alpha emitted per block per subnet, in alpha base units.
    pub alpha_block_emission: u64,
    /// The subnet owner's cut of each epoch's alpha, as `value / 65535`.
    pub owner_cut_u16: u16,
    /// The least fee a transaction may carry; fees are burned.
    pub min_fee: Balance,
    /// The most subnets that may exist at once.
    pub subnet_limit: u16,
    /// The least a subnet creation locks.
    pub min_lock: Balance,
    /// Blocks over which a doubled lock price decays back.
    pub lock_reduction_interval: u64,
    /// Pool swap fee as `value / 65535`.
    pub pool_fee_u16: u16,
    /// The most take a validator may charge its stakers, as `value / 65535`.
    pub max_take_u16: u16,
    /// The take a hotkey starts with.
    pub default_take_u16: u16,
    /// Blocks between two take increases of one hotkey.
    pub take_rate_limit: u64,
    /// Factor by which the registration price rises after each
    /// registration, in parts per million.
    pub burn_increase_ppm: u64,
    /// Blocks over which the registration price halves while no one registers.
    pub burn_half_life: u64,
    /// The most unrevealed weight commits a hotkey may hold per subnet.
    pub max_pending_commits: u16,
    /// Blocks per consensus epoch (at least 2): the validator set can change
    /// only at the last block of an epoch.
    pub validator_epoch_length: u64,
    /// The most chain validators in one epoch's set.
    pub max_validators: u16,
    /// The least bond that counts toward a seat. Every seat has an equal vote, and a third
    /// of the seats offline stops the chain, so a seat must not be cheap.
    pub min_validator_bond: Balance,
    /// Hyperparameters a new subnet starts with.
    pub subnet_defaults: SubnetParams,
    /// The version of the ledger's rules the chain follows. Missing from a
    /// genesis file means the original rules, and the original rules are left
    /// out of the committed economics, so chains begun before the field existed
    /// replay to the same roots; new chains start on [`LedgerRules::LATEST`].
    #[serde(default, skip_serializing_if = "LedgerRules::is_original")]
    pub ledger_rules: LedgerRules,
}

/// A version of the ledger's rules. A chain keeps the version its genesis
/// names for its whole life, so every block replays under the rules it was
/// made under.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LedgerRules(pub u16);

impl LedgerRules {
    /// The first rules: a transaction whose call fails changes nothing, not
    /// even its fee or nonce, and blocks may carry such transactions.
    pub const ORIGINAL: Self = Self(0);
    /// A transaction whose call fails still pays its fee and uses its nonce,
    /// as on the reference chain, and a block may carry only transactions
    /// that pay their fee. Under the original rules a refused transaction's
    /// signed bytes stayed valid (its nonce unused), so it could land long
    /// after its sender was told it was refused.
    pub const FAILED_CALLS_PAY: Self = Self(1);
    /// As [`Self::FAILED_CALLS_PAY`], and a bond counts toward the next
    /// validator set only if its node sent a heartbeat
    /// ([`plexus_primitives::Call::Heartbeat`], signed by the consensus key)
    /// in the epoch that chooses the set. Before, a bond whose node never ran
    /// took its seat all the same, and a third of the seats taken that way
    /// stopped the chain.
    pub const LIVE_SEATS: Self = Self(2);
    /// As [`Self::LIVE_SEATS`], and a bond records the consensus epoch it was
    /// made in. Among the seat candidates whose nodes are not running, the
    /// bonds with the latest sign of life (made, or last heartbeat) come first.
    /// Before, they ranked by size alone: large bonds whose nodes never ran
    /// kept a newly bonded node out of the candidates, so validators never
    /// accepted its connections and it could not follow the chain to send its
    /// first heartbeat.
    pub const FRESH_BONDS: Self = Self(3);
    /// As [`Self::FRESH_BONDS`], and what a change earns takes its time to count:
    /// - each block's emission is split across subnets by their *moving* prices
    ///   ([`crate::coinbase::next_moving_price`]): the pools' prices capped at one TAO
    ///   per alpha and averaged over weeks, from zero at a subnet's creation, as the
    ///   reference chain does. Before, the split followed the price at the block's end,
    ///   and whoever bought a thin pool's alpha (its own subnet's, say) took most of every
    ///   block's emission from the next block on, for the price of the pool fee;
    /// - a take change of any kind, or a hotkey's first use, starts the wait before its
    ///   take may rise. Before, only rises started it, so a hotkey could lower its take to
    ///   draw stakers and raise it again at once, just before their dividends were paid;
    /// - weights count from the block they were decided in: set, or for revealed ones
    ///   committed (a commit no longer counts as an update of the weights standing). Yuma
    ///   drops a weight decided before the UID it points at was registered again. Before,
    ///   a commit renewed the standing weights' date, so they counted for a newcomer in a
    ///   UID they were never meant for, and so did weights committed before it came.
    pub const SLOW_CHANGES: Self = Self(4);
    /// The rules new chains start on, and the newest this build knows.
    pub const LATEST: Self = Self::SLOW_CHANGES;

    /// The shortest consensus epoch these rules allow. Under
    /// [`Self::LIVE_SEATS`] a node sends its heartbeat once it sees the
    /// epoch's first block finalized, and it must land within the epoch.
    pub fn min_epoch_length(self) -> u64 {
        if self.seats_need_heartbeats() { 8 } else { 2 }
    }

    /// Whether a transaction whose call fails pays its fee and uses its
    /// nonce, and blocks must leave out transactions that cannot pay.
    pub fn failed_calls_pay(self) -> bool {
        self >= Self::FAILED_CALLS_PAY
    }

    /// Whether only bonds with a heartbeat in the choosing epoch are seated.
    pub fn seats_need_heartbeats(self) -> bool {
        self >= Self::LIVE_SEATS
    }

    /// Whether bonds record the epoch they were made in, and non-running
    /// candidates rank by their latest sign of life.
    pub fn bonds_record_their_epoch(self) -> bool {
        self >= Self::FRESH_BONDS
    }

    /// Whether emission is split by subnets' moving prices rather than their prices now.
    pub fn emission_follows_moving_prices(self) -> bool {
        self >= Self::SLOW_CHANGES
    }

    /// Whether every take change, and a hotkey's first use, start the wait before the
    /// take may rise (else only rises do).
    pub fn every_take_change_waits(self) -> bool {
        self >= Self::SLOW_CHANGES
    }

    /// Whether weights count from the block they were decided in (set, or committed),
    /// and commits leave the standing weights' date alone.
    pub fn weights_dated_by_decision(self) -> bool {
        self >= Self::SLOW_CHANGES
    }

    fn is_original(&self) -> bool {
        *self == Self::ORIGINAL
    }
}

impl Default for Economics {
    fn default() -> Self {
        Self {
            block_emission: Balance::UNIT,
            supply_cap: Balance::from_rao(21_000_000 * Balance::UNIT.rao()),
            alpha_block_emission: Balance::UNIT.rao(),
            owner_cut_u16: 11_796,
            min_fee: Balance::from_rao(100_000),
            subnet_limit: 128,
            min_lock: Balance::from_rao(100 * Balance::UNIT.rao()),
            lock_reduction_interval: 14_400,
            pool_fee_u16: 33,
            max_take_u16: 11_796,
            default_take_u16: 11_796,
            take_rate_limit: 216_000,
            burn_increase_ppm: 1_260_000,
            burn_half_life: 360,
            max_pending_commits: 10,
            validator_epoch_length: 14_400,
            max_validators: 64,
            min_validator_bond: Balance::from_rao(1_000 * Balance::UNIT.rao()),
            subnet_defaults: SubnetParams::default(),
            ledger_rules: LedgerRules::LATEST,
        }
    }
}

/// A subnet's hyperparameters. Owners set them within [`SubnetParams::bounds`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubnetParams {
    /// Blocks between epochs.
    pub tempo: u16,
    /// Consensus majority κ as `value / 65535`.
    pub kappa: u16,
    /// Bonds penalty β as `value / 65535`.
    pub bonds_penalty: u16,
    /// Bonds EMA per million (the EMA coefficient is `1 − value / 1e6`).
    pub bonds_moving_average: u64,
    /// At most this many top stakes hold validator permits.
    pub max_allowed_validators: u16,
    /// UIDs the subnet holds before registration replaces one.
    pub max_allowed_uids: u16,
    /// Fewest weights a validator must set (or all UIDs, if fewer).
    pub min_allowed_weights: u16,
    /// Blocks after registration during which a UID cannot be replaced.
    pub immunity_period: u16,
    /// Blocks between two weight updates of one validator.
    pub weights_rate_limit: u64,
    /// Weights must carry at least this version key.
    pub weights_version_key: u64,
    /// Blocks without weights after which a validator counts as inactive.
    pub activity_cutoff: u16,
    /// Whether weights are committed first and revealed later.
    pub commit_reveal: bool,
    /// Epochs between a commit and its reveal.
    pub reveal_period_epochs: u16,
    /// Yuma 3 bonds (else classic).
    pub yuma3: bool,
    /// Liquid alpha (Yuma 3 only).
    pub liquid_alpha: bool,
    /// Liquid alpha's lower bound as `value / 65535`.
    pub alpha_low: u16,
    /// Liquid alpha's upper bound as `value / 65535`.
    pub alpha_high: u16,
    /// Liquid alpha's sigmoid steepness.
    pub alpha_sigmoid_steepness: i16,
    /// Stake (alpha base units) below which a UID's stake counts as zero.
    pub min_stake: Balance,
    /// Lowest registration price.
    pub min_burn: Balance,
    /// Highest registration price.
    pub max_burn: Balance,
    /// Blocks between two axon announcements of one hotkey.
    pub serving_rate_limit: u64,
}

impl Default for SubnetParams {
    fn default() -> Self {
        Self {
            tempo: 360,
            kappa: 32_767,
            bonds_penalty: u16::MAX,
            bonds_moving_average: 900_000,
            max_allowed_validators: 64,
            max_allowed_uids: 256,
            min_allowed_weights: 1,
            immunity_period: 5_000,
            weights_rate_limit: 100,
            weights_version_key: 0,
            activity_cutoff: 5_000,
            commit_reveal: false,
            reveal_period_epochs: 1,
            yuma3: true,
            liquid_alpha: false,
            alpha_low: 45_875,
            alpha_high: 58_982,
            alpha_sigmoid_steepness: 1_000,
            min_stake: Balance::ZERO,
            min_burn: Balance::from_rao(500_000),
            max_burn: Balance::from_rao(100 * Balance::UNIT.rao()),
            serving_rate_limit: 50,
        }
    }
}

/// Inclusive bounds of a hyperparameter, for owners' updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
}

impl SubnetParams {
    /// The range an owner may set a numeric hyperparameter to. Booleans and
    /// u16 proportions take their whole range.
    pub fn bounds(param: &Hyperparameter) -> Bounds {
        let b = |min: u64, max: u64| Bounds { min, max };
        match param {
            Hyperparameter::Tempo(_) => b(10, 50_400),
            Hyperparameter::BondsMovingAverage(_) => b(0, 1_000_000),
            Hyperparameter::MaxAllowedValidators(_) => b(1, 256),
            Hyperparameter::MaxAllowedUids(_) => b(8, 4_096),
            Hyperparameter::MinAllowedWeights(_) => b(0, 4_096),
            Hyperparameter::ImmunityPeriod(_) => b(0, 50_400),
            Hyperparameter::WeightsRateLimit(_) => b(0, 50_400),
            Hyperparameter::ActivityCutoff(_) => b(10, u64::from(u16::MAX)),
            Hyperparameter::RevealPeriodEpochs(_) => b(1, 100),
            Hyperparameter::AlphaSigmoidSteepness(_) => b(0, i16::MAX as u64),
            Hyperparameter::MinBurn(_) | Hyperparameter::MaxBurn(_) => {
                b(1, 1_000 * Balance::UNIT.rao())
            }
            _ => b(0, u64::MAX),
        }
    }

    /// Applies one owner update, refusing values out of bounds or
    /// inconsistent with the rest (liquid alpha's low above high, minimum
    /// registration price above the maximum).
    pub fn apply(&mut self, param: &Hyperparameter) -> Result<(), TxError> {
        let value: i128 = match *param {
            Hyperparameter::Tempo(v)
            | Hyperparameter::Kappa(v)
            | Hyperparameter::BondsPenalty(v)
            | Hyperparameter::MaxAllowedValidators(v)
            | Hyperparameter::MaxAllowedUids(v)
            | Hyperparameter::MinAllowedWeights(v)
            | Hyperparameter::ImmunityPeriod(v)
            | Hyperparameter::ActivityCutoff(v)
            | Hyperparameter::RevealPeriodEpochs(v)
            | Hyperparameter::AlphaLow(v)
            | Hyperparameter::AlphaHigh(v) => i128::from(v),
            Hyperparameter::BondsMovingAverage(v)
            | Hyperparameter::WeightsRateLimit(v)
            | Hyperparameter::WeightsVersionKey(v) => i128::from(v),
            Hyperparameter::AlphaSigmoidSteepness(v) => i128::from(v),
            Hyperparameter::MinStake(v)
            | Hyperparameter::MinBurn(v)
            | Hyperparameter::MaxBurn(v) => i128::from(v.rao()),
            Hyperparameter::CommitReveal(v)
            | Hyperparameter::Yuma3(v)
            | Hyperparameter::LiquidAlpha(v) => i128::from(v),
        };
        let bounds = Self::bounds(param);
        if value < i128::from(bounds.min) || value > i128::from(bounds.max) {
            // Token amounts are shown as the user typed them, in tokens, not in rao.
            let tokens = matches!(
                param,
                Hyperparameter::MinStake(_)
                    | Hyperparameter::MinBurn(_)
                    | Hyperparameter::MaxBurn(_)
            );
            let show = |v: i128| match u64::try_from(v) {
                Ok(rao) if tokens => format!("{} tokens", Balance::from_rao(rao)),
                _ => v.to_string(),
            };
            return Err(TxError::HyperparameterOutOfBounds {
                name: param.name(),
                value: show(value),
                min: show(i128::from(bounds.min)),
                max: show(i128::from(bounds.max)),
            });
        }
        let mut next = self.clone();
        match *param {
            Hyperparameter::Tempo(v) => next.tempo = v,
            Hyperparameter::Kappa(v) => next.kappa = v,
            Hyperparameter::BondsPenalty(v) => next.bonds_penalty = v,
            Hyperparameter::BondsMovingAverage(v) => next.bonds_moving_average = v,
            Hyperparameter::MaxAllowedValidators(v) => next.max_allowed_validators = v,
            Hyperparameter::MaxAllowedUids(v) => next.max_allowed_uids = v,
            Hyperparameter::MinAllowedWeights(v) => next.min_allowed_weights = v,
            Hyperparameter::ImmunityPeriod(v) => next.immunity_period = v,
            Hyperparameter::WeightsRateLimit(v) => next.weights_rate_limit = v,
            Hyperparameter::WeightsVersionKey(v) => next.weights_version_key = v,
            Hyperparameter::ActivityCutoff(v) => next.activity_cutoff = v,
            Hyperparameter::CommitReveal(v) => next.commit_reveal = v,
            Hyperparameter::RevealPeriodEpochs(v) => next.reveal_period_epochs = v,
            Hyperparameter::Yuma3(v) => next.yuma3 = v,
            Hyperparameter::LiquidAlpha(v) => next.liquid_alpha = v,
            Hyperparameter::AlphaLow(v) => next.alpha_low = v,
            Hyperparameter::AlphaHigh(v) => next.alpha_high = v,
            Hyperparameter::AlphaSigmoidSteepness(v) => next.alpha_sigmoid_steepness = v,
            Hyperparameter::MinStake(v) => next.min_stake = v,
            Hyperparameter::MinBurn(v) => next.min_burn = v,
            Hyperparameter::MaxBurn(v) => next.max_burn = v,
        }
        if next.alpha_low > next.alpha_high {
            return Err(TxError::InconsistentHyperparameters(
                "alpha_low exceeds alpha_high",
            ));
        }
        if next.min_burn > next.max_burn {
            return Err(TxError::InconsistentHyperparameters(
                "min_burn exceeds max_burn",
            ));
        }
        *self = next;
        Ok(())
    }

    /// The epoch's view of these parameters.
    pub fn epoch_params(&self) -> Hyperparameters {
        Hyperparameters {
            bonds_model: if self.yuma3 {
                BondsModel::Yuma3
            } else {
                BondsModel::Classic
            },
            kappa_u16: self.kappa,
            bonds_penalty_u16: self.bonds_penalty,
            bonds_moving_average: self.bonds_moving_average,
            liquid_alpha: (self.yuma3 && self.liquid_alpha).then_some(LiquidAlpha {
                low_u16: self.alpha_low,
                high_u16: self.alpha_high,
                steepness: self.alpha_sigmoid_steepness,
            }),
            max_allowed_validators: self.max_allowed_validators,
            min_stake: self.min_stake.rao(),
        }
    }
}
