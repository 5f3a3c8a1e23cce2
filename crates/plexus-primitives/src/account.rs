//! Account identifiers (ed25519 public keys) and their checksummed `plx1…` addresses.

use std::fmt;
use std::str::FromStr;

use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError};
use bech32::{Bech32m, Hrp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::codec::{CodecError, Decode, Encode, Reader};
use crate::serde_text;

/// The human-readable part of every Plexus address.
pub const ADDRESS_HRP: &str = "plx";

/// An account: the 32 bytes of an ed25519 public key (a coldkey or a hotkey).
///
/// Any 32 bytes are a well-formed `AccountId`; whether they are a usable curve point is
/// only checked when a signature is verified. Shown as a bech32m address with HRP `plx`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub [u8; 32]);

/// Why a string is not a valid Plexus address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AddressError {
    /// Not bech32 at all: bad characters, mixed case, no separator, too long.
    #[error("malformed address: {0}")]
    Malformed(String),
    /// The string is bech32 but its bech32m checksum does not match (a typo).
    #[error("address checksum mismatch (a typo?)")]
    BadChecksum,
    /// A bech32m string for some other network or purpose.
    #[error("wrong address prefix {found:?}, expected \"plx\"")]
    WrongHrp {
        /// The prefix that was found.
        found: String,
    },
    /// The payload is not 32 bytes.
    #[error("address carries {found} bytes, expected 32")]
    WrongLength {
        /// Payload size in bytes.
        found: usize,
    },
    /// A valid encoding of the key, but not the canonical one (uppercase, or non-zero
    /// padding bits); rejected so that each account has exactly one address string.
    #[error("address is not in canonical lowercase form")]
    NonCanonical,
}

impl AccountId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The canonical `plx1…` address string.
    pub fn to_address(&self) -> String {
        self.to_string()
    }
}

fn hrp() -> Hrp {
    // "plx" is a valid HRP; the fallback is never taken but avoids a panic path.
    Hrp::parse(ADDRESS_HRP).unwrap_or(bech32::hrp::BC)
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 32 bytes with a 3-char HRP is far below bech32's length limit, so this cannot fail.
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, hrp(), &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

impl FromStr for AccountId {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(|e| match e {
            CheckedHrpstringError::Checksum(_) => AddressError::BadChecksum,
            other => AddressError::Malformed(other.to_string()),
        })?;
        let found = checked.hrp();
        if found.to_lowercase() != ADDRESS_HRP {
            return Err(AddressError::WrongHrp {
                found: found.to_string(),
            });
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AddressError::WrongLength { found: bytes.len() })?;
        let id = Self(key);
        // Re-encoding catches uppercase input and non-zero padding bits in one check.
        if id.to_string() != s {
            return Err(AddressError::NonCanonical);
        }
        Ok(id)
    }
}

impl Serialize for AccountId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_text::serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for AccountId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_text::deserialize_from_str(deserializer)
    }
}

impl Encode for AccountId {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for AccountId {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self(reader.take_array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    fn sample() -> AccountId {
        AccountId([7; 32])
    }

    #[test]
    fn address_has_prefix_and_round_trips() {
        let addr = sample().to_string();
        assert!(addr.starts_with("plx1"), "{addr}");
        assert_eq!(addr.len(), 62);
        assert_eq!(addr.parse::<AccountId>(), Ok(sample()));
    }

    #[test]
    fn flipped_character_is_a_checksum_error() {
        let mut addr = sample().to_string().into_bytes();
        addr[10] = if addr[10] == b'q' { b'p' } else { b'q' };
        let addr = String::from_utf8(addr).unwrap();
        assert_eq!(addr.parse::<AccountId>(), Err(AddressError::BadChecksum));
    }

    #[test]
    fn wrong_hrp_is_rejected() {
        let other = Hrp::parse("btc").unwrap();
        let addr = bech32::encode::<Bech32m>(other, &[7; 32]).unwrap();
        assert_eq!(
            addr.parse::<AccountId>(),
            Err(AddressError::WrongHrp {
                found: "btc".into()
            })
        );
    }

    #[test]
    fn wrong_length_is_rejected() {
        let addr = bech32::encode::<Bech32m>(hrp(), &[7; 20]).unwrap();
        assert_eq!(
            addr.parse::<AccountId>(),
            Err(AddressError::WrongLength { found: 20 })
        );
    }

    #[test]
    fn bech32_non_m_checksum_is_rejected() {
        let addr = bech32::encode::<bech32::Bech32>(hrp(), &[7; 32]).unwrap();
        assert_eq!(addr.parse::<AccountId>(), Err(AddressError::BadChecksum));
    }

    #[test]
    fn uppercase_and_junk_are_rejected() {
        let upper = sample().to_string().to_uppercase();
        assert_eq!(upper.parse::<AccountId>(), Err(AddressError::NonCanonical));
        for junk in ["", "plx1", "hello", "plx1Qq", "plx1\u{e9}"] {
            assert!(
                matches!(
                    junk.parse::<AccountId>(),
                    Err(AddressError::Malformed(_) | AddressError::BadChecksum)
                ),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn serde_is_the_address_string() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(json, format!("\"{}\"", sample()));
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), sample());
        assert!(serde_json::from_str::<AccountId>("\"plx1bad\"").is_err());
    }

    proptest! {
        #[test]
        fn address_and_codec_round_trip(bytes: [u8; 32]) {
            let id = AccountId(bytes);
            prop_assert_eq!(id.to_string().parse::<AccountId>(), Ok(id));
            prop_assert_eq!(decode_exact::<AccountId>(&id.encode()), Ok(id));
        }

        #[test]
        fn arbitrary_strings_never_panic(s in "(plx1)?[a-z0-9]{0,70}") {
            if let Ok(id) = s.parse::<AccountId>() {
                prop_assert_eq!(id.to_string(), s);
            }
        }
    }
}
