//! Subnet hyperparameters as (tag, value) pairs, for [`crate::Call::SetHyperparameter`].

use serde::{Deserialize, Serialize};

use crate::balance::Balance;
use crate::codec::{self, CodecError, Decode, Encode, Reader};

/// Declares the enum, its stable tags and its codec from one table, so a tag can never
/// drift from its variant.
macro_rules! hyperparameters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) = $tag:literal as $key:literal,)*) => {
        /// One subnet hyperparameter with its new value.
        ///
        /// Tags are part of signed bytes: append new kinds, never renumber.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Hyperparameter {
            $($(#[$doc])* $name($ty),)*
        }

        impl Hyperparameter {
            /// Number of kinds.
            pub const COUNT: usize = [$($tag),*].len();

            /// The stable tag of this kind.
            pub fn tag(&self) -> u8 {
                match self {
                    $(Self::$name(_) => $tag,)*
                }
            }

            /// Every kind's name, by tag.
            pub const NAMES: [&'static str; Self::COUNT] = [$($key),*];

            /// The kind's name as commands and messages spell it (`max_allowed_uids`).
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$name(_) => $key,)*
                }
            }
        }

        impl Encode for Hyperparameter {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.push(self.tag());
                match self {
                    $(Self::$name(value) => value.encode_to(out),)*
                }
            }
        }

        impl Decode for Hyperparameter {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
                match reader.read_u8()? {
                    $($tag => Ok(Self::$name(<$ty>::decode(reader)?)),)*
                    tag => codec::unknown_tag("Hyperparameter", tag),
                }
            }
        }

        #[cfg(test)]
        impl Hyperparameter {
            /// Any hyperparameter with any value.
            pub(crate) fn strategy() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy;
                use crate::testgen::Arb;
                proptest::strategy::Union::new(vec![
                    $(<$ty as Arb>::arb().prop_map(Self::$name).boxed(),)*
                ])
                .boxed()
            }
        }
    };
}

hyperparameters! {
    /// Blocks between epochs.
    Tempo(u16) = 0 as "tempo",
    /// Consensus majority threshold, as a fraction of `u16::MAX`.
    Kappa(u16) = 1 as "kappa",
    /// Penalty on bonds for weights above consensus, as a fraction of `u16::MAX`.
    BondsPenalty(u16) = 2 as "bonds_penalty",
    /// Bonds exponential moving average factor (parts per million).
    BondsMovingAverage(u64) = 3 as "bonds_moving_average",
    /// Most validator permits on the subnet.
    MaxAllowedValidators(u16) = 4 as "max_allowed_validators",
    /// Most neurons on the subnet.
    MaxAllowedUids(u16) = 5 as "max_allowed_uids",
    /// Fewest non-zero weights a weights call must set.
    MinAllowedWeights(u16) = 6 as "min_allowed_weights",
    /// Blocks a new registration is protected from pruning.
    ImmunityPeriod(u16) = 7 as "immunity_period",
    /// Fewest blocks between two weights calls of one hotkey.
    WeightsRateLimit(u64) = 8 as "weights_rate_limit",
    /// Version key that weights calls must carry.
    WeightsVersionKey(u64) = 9 as "weights_version_key",
    /// Blocks without weights after which a validator counts as inactive.
    ActivityCutoff(u16) = 10 as "activity_cutoff",
    /// Whether weights go through commit-reveal.
    CommitReveal(bool) = 11 as "commit_reveal",
    /// Epochs between a commit and its reveal.
    RevealPeriodEpochs(u16) = 12 as "reveal_period_epochs",
    /// Whether the epoch uses Yuma 3 bonds.
    Yuma3(bool) = 13 as "yuma3",
    /// Whether bonds use liquid alpha.
    LiquidAlpha(bool) = 14 as "liquid_alpha",
    /// Liquid alpha lower bound, as a fraction of `u16::MAX`.
    AlphaLow(u16) = 15 as "alpha_low",
    /// Liquid alpha upper bound, as a fraction of `u16::MAX`.
    AlphaHigh(u16) = 16 as "alpha_high",
    /// Steepness of the liquid alpha sigmoid.
    AlphaSigmoidSteepness(i16) = 17 as "alpha_sigmoid_steepness",
    /// Least stake for a validator permit.
    MinStake(Balance) = 18 as "min_stake",
    /// Floor of the registration burn.
    MinBurn(Balance) = 19 as "min_burn",
    /// Ceiling of the registration burn.
    MaxBurn(Balance) = 20 as "max_burn",
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    #[test]
    fn tags_are_dense_and_stable() {
        assert_eq!(Hyperparameter::COUNT, 21);
        assert_eq!(Hyperparameter::Tempo(360).encode(), vec![0, 0x68, 0x01]);
        assert_eq!(Hyperparameter::MaxBurn(Balance::ZERO).tag(), 20);
        assert_eq!(Hyperparameter::Yuma3(true).name(), "yuma3");
        assert_eq!(Hyperparameter::MaxAllowedUids(8).name(), "max_allowed_uids");
        assert_eq!(
            Hyperparameter::NAMES[usize::from(Hyperparameter::MinBurn(Balance::ZERO).tag())],
            "min_burn"
        );
    }

    #[test]
    fn unknown_tag_and_bad_bool_rejected() {
        assert_eq!(
            decode_exact::<Hyperparameter>(&[21, 0, 0]),
            Err(CodecError::UnknownTag {
                type_name: "Hyperparameter",
                tag: 21
            })
        );
        assert_eq!(
            decode_exact::<Hyperparameter>(&[11, 2]),
            Err(CodecError::InvalidBool(2))
        );
    }

    proptest! {
        #[test]
        fn round_trips(p in Hyperparameter::strategy()) {
            prop_assert_eq!(decode_exact::<Hyperparameter>(&p.encode()), Ok(p));
        }

        #[test]
        fn arbitrary_bytes_reencode(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            if let Ok(p) = decode_exact::<Hyperparameter>(&bytes) {
                prop_assert_eq!(p.encode(), bytes);
            }
        }
    }
}
