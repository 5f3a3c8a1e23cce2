//! The chain's 32-byte BLAKE3 hash.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{CodecError, Decode, Encode, Reader};
use crate::hex::{self, HexError};
use crate::serde_text;

/// A BLAKE3 hash; shown and parsed as 64 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used where no parent or root exists yet.
    pub const ZERO: Self = Self([0; 32]);

    /// Hashes `bytes` with plain BLAKE3.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<blake3::Hash> for Hash {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex::write_hex(&self.0, f)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl FromStr for Hash {
    type Err = HexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::parse_hex(s).map(Self)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_text::serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_text::deserialize_from_str(deserializer)
    }
}

impl Encode for Hash {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for Hash {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self(reader.take_array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use proptest::prelude::*;

    #[test]
    fn of_is_blake3() {
        // BLAKE3 of the empty input, from the BLAKE3 specification's test vectors.
        assert_eq!(
            Hash::of(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn parse_errors_are_clear() {
        assert_eq!(
            "abcd".parse::<Hash>(),
            Err(HexError::WrongLength {
                expected: 64,
                found: 4
            })
        );
        let mut bad = "0".repeat(64);
        bad.replace_range(10..11, "z");
        assert_eq!(
            bad.parse::<Hash>(),
            Err(HexError::InvalidChar { index: 10, ch: 'z' })
        );
    }

    proptest! {
        #[test]
        fn hex_and_codec_round_trip(bytes: [u8; 32]) {
            let h = Hash(bytes);
            prop_assert_eq!(h.to_string().parse::<Hash>(), Ok(h));
            prop_assert_eq!(decode_exact::<Hash>(&h.encode()), Ok(h));
        }
    }
}
