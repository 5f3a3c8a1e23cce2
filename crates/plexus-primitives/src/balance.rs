//! Token amounts in base units ("rao"), with 9 decimals.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::codec::{CodecError, Decode, Encode, Reader};

/// Number of decimal places in the token's human form.
pub const DECIMALS: usize = 9;

/// An amount of the native token, counted in base units (1 token = 10^9 rao).
///
/// Arithmetic is explicit: use the `checked_*` or `saturating_*` methods; there are no
/// operator impls that could wrap or panic. JSON carries the integer base units.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Balance(u64);

/// Why a decimal token amount did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BalanceError {
    /// The string was empty.
    #[error("empty amount")]
    Empty,
    /// The amount had a minus sign.
    #[error("amount must not be negative")]
    Negative,
    /// More fractional digits than the token has decimals.
    #[error("too many decimal places: {found} (at most 9)")]
    TooManyDecimals {
        /// Fractional digits given.
        found: usize,
    },
    /// The amount does not fit in 64 bits of base units.
    #[error("amount too large: at most {}", Balance::MAX)]
    Overflow,
    /// Anything that is not `digits` or `digits.digits`.
    #[error("invalid amount {0:?}: expected digits with an optional '.' and fraction")]
    Malformed(String),
}

impl Balance {
    /// Zero.
    pub const ZERO: Self = Self(0);
    /// One whole token in base units.
    pub const UNIT: Self = Self(1_000_000_000);
    /// The largest representable amount.
    pub const MAX: Self = Self(u64::MAX);

    /// An amount of `rao` base units.
    pub const fn from_rao(rao: u64) -> Self {
        Self(rao)
    }

    /// Whole tokens, or `None` on overflow.
    pub fn from_tokens(tokens: u64) -> Option<Self> {
        tokens.checked_mul(Self::UNIT.0).map(Self)
    }

    /// The raw count of base units.
    pub const fn rao(self) -> u64 {
        self.0
    }

    /// True for zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Self) -> Option<Self> {
        self.0.checked_add(other.0).map(Self)
    }

    /// `self - other`, or `None` if it would go below zero.
    pub fn checked_sub(self, other: Self) -> Option<Self> {
        self.0.checked_sub(other.0).map(Self)
    }

    /// `self * factor`, or `None` on overflow.
    pub fn checked_mul(self, factor: u64) -> Option<Self> {
        self.0.checked_mul(factor).map(Self)
    }

    /// `self + other`, clamped at [`Balance::MAX`].
    pub fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, clamped at zero.
    pub fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// `self * factor`, clamped at [`Balance::MAX`].
    pub fn saturating_mul(self, factor: u64) -> Self {
        Self(self.0.saturating_mul(factor))
    }
}

impl fmt::Display for Balance {
    /// The decimal token form with no trailing zeros: `12`, `1.5`, `0.000000001`.
    /// With a precision (`{:.9}`) it prints exactly that many decimals,
    /// truncated, for columns that line up.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / Self::UNIT.0;
        let frac = self.0 % Self::UNIT.0;
        let digits = format!("{frac:09}");
        let text = match f.precision() {
            Some(0) => format!("{whole}"),
            Some(p) => format!("{whole}.{:0<p$}", &digits[..p.min(DECIMALS)]),
            None if frac == 0 => format!("{whole}"),
            None => format!("{whole}.{}", digits.trim_end_matches('0')),
        };
        f.pad_integral(true, "", &text)
    }
}

impl FromStr for Balance {
    type Err = BalanceError;

    /// Parses `digits` or `digits.digits` with at most 9 fractional digits. Signs,
    /// whitespace, exponents and a bare `.` on either side are rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(BalanceError::Empty);
        }
        if s.starts_with('-') {
            return Err(BalanceError::Negative);
        }
        let malformed = || BalanceError::Malformed(s.to_owned());
        let (whole, frac) = match s.split_once('.') {
            Some((whole, frac)) => (whole, Some(frac)),
            None => (s, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|c| c.is_ascii_digit());
        if !all_digits(whole) || !frac.is_none_or(all_digits) {
            return Err(malformed());
        }
        let frac = frac.unwrap_or("");
        if frac.len() > DECIMALS {
            return Err(BalanceError::TooManyDecimals { found: frac.len() });
        }
        let whole_rao = whole
            .bytes()
            .try_fold(0u64, |acc, c| {
                acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
            })
            .and_then(|w| w.checked_mul(Self::UNIT.0))
            .ok_or(BalanceError::Overflow)?;
        // Pad the fraction to exactly 9 digits: "5" -> 500_000_000 rao.
        let frac_rao = frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(DECIMALS)
            .fold(0u64, |acc, c| acc * 10 + u64::from(c - b'0'));
        whole_rao
            .checked_add(frac_rao)
            .map(Self)
            .ok_or(BalanceError::Overflow)
    }
}

impl Encode for Balance {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for Balance {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self(u64::decode(reader)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<u64, BalanceError> {
        s.parse::<Balance>().map(Balance::rao)
    }

    #[test]
    fn parses_decimal_amounts() {
        assert_eq!(parse("1"), Ok(1_000_000_000));
        assert_eq!(parse("1.5"), Ok(1_500_000_000));
        assert_eq!(parse("0.000000001"), Ok(1));
        assert_eq!(parse("12.000"), Ok(12_000_000_000));
        assert_eq!(parse("007"), Ok(7_000_000_000));
        assert_eq!(parse("18446744073.709551615"), Ok(u64::MAX));
    }

    #[test]
    fn rejects_bad_amounts_with_typed_errors() {
        assert_eq!(parse(""), Err(BalanceError::Empty));
        assert_eq!(parse("-1"), Err(BalanceError::Negative));
        assert_eq!(
            parse("0.0000000001"),
            Err(BalanceError::TooManyDecimals { found: 10 })
        );
        assert_eq!(parse("18446744073.709551616"), Err(BalanceError::Overflow));
        assert_eq!(parse("18446744074"), Err(BalanceError::Overflow));
        assert_eq!(
            parse("99999999999999999999999"),
            Err(BalanceError::Overflow)
        );
        for junk in [
            "abc", "1a", "1.", ".5", "+1", " 1", "1 ", "1e9", "1.2.3", "1,5", "٣",
        ] {
            assert!(
                matches!(parse(junk), Err(BalanceError::Malformed(_))),
                "{junk:?} should be malformed"
            );
        }
    }

    #[test]
    fn display_has_no_trailing_zeros() {
        assert_eq!(Balance::from_rao(1_500_000_000).to_string(), "1.5");
        assert_eq!(Balance::from_rao(1).to_string(), "0.000000001");
        assert_eq!(Balance::from_rao(12_000_000_000).to_string(), "12");
        assert_eq!(Balance::ZERO.to_string(), "0");
        assert_eq!(Balance::MAX.to_string(), "18446744073.709551615");
    }

    #[test]
    fn display_with_precision_lines_up() {
        let b = Balance::from_rao(1_500_000_000);
        assert_eq!(format!("{b:.9}"), "1.500000000");
        assert_eq!(format!("{b:.2}"), "1.50");
        assert_eq!(format!("{:.3}", Balance::from_rao(1_999_999_999)), "1.999");
        assert_eq!(format!("{b:.0}"), "1");
        assert_eq!(format!("{b:>12.4}"), "      1.5000");
    }

    #[test]
    fn arithmetic_is_checked_or_saturating() {
        let one = Balance::UNIT;
        assert_eq!(one.checked_add(one), Balance::from_tokens(2));
        assert_eq!(Balance::ZERO.checked_sub(one), None);
        assert_eq!(Balance::MAX.checked_add(one), None);
        assert_eq!(Balance::MAX.checked_mul(2), None);
        assert_eq!(Balance::MAX.saturating_add(one), Balance::MAX);
        assert_eq!(Balance::ZERO.saturating_sub(one), Balance::ZERO);
        assert_eq!(one.saturating_mul(u64::MAX), Balance::MAX);
        assert_eq!(Balance::from_tokens(u64::MAX), None);
    }

    #[test]
    fn serde_uses_base_units() {
        let b = Balance::from_rao(1_500_000_000);
        assert_eq!(serde_json::to_string(&b).unwrap(), "1500000000");
        assert_eq!(serde_json::from_str::<Balance>("1500000000").unwrap(), b);
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(rao: u64) {
            let b = Balance::from_rao(rao);
            prop_assert_eq!(b.to_string().parse::<Balance>(), Ok(b));
            prop_assert_eq!(decode_exact::<Balance>(&b.encode()), Ok(b));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,30}") {
            if let Ok(b) = s.parse::<Balance>() {
                prop_assert_eq!(b.to_string().parse::<Balance>(), Ok(b));
            }
        }

        #[test]
        fn numeric_strings_parse_consistently(whole in 0u64..18_446_744_073, frac in "[0-9]{1,9}") {
            let s = format!("{whole}.{frac}");
            let b = s.parse::<Balance>().unwrap();
            let padded: u64 = format!("{frac:0<9}").parse().unwrap();
            prop_assert_eq!(b.rao(), whole * 1_000_000_000 + padded);
        }
    }
}
