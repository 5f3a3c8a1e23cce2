//! The one canonical binary codec for everything the chain hashes, signs or sends.
//!
//! Rules, chosen so that every value has exactly one encoding:
//! - integers are fixed-width little-endian;
//! - `bool` is one byte, `0` or `1`; any other byte is rejected;
//! - enums are a `u8` tag followed by the variant's fields; unknown tags are rejected;
//! - `Option<T>` is tag `0` (none) or `1` followed by `T`;
//! - byte strings and sequences are a `u32` little-endian length prefix followed by the
//!   items; each use site names a maximum length that is checked before allocating;
//! - fixed-size arrays are their raw bytes with no prefix.
//!
//! Because every rule is a bijection, `decode_exact(&x.encode()) == Ok(x)` and, for every
//! byte string `b` that decodes, `decode_exact(b)?.encode() == b`.

use thiserror::Error;

/// Why a byte string failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The input ended before the value was complete.
    #[error("unexpected end of input: needed {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        /// Bytes the next read needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The value decoded but bytes were left over.
    #[error("{remaining} trailing bytes after the value")]
    TrailingBytes {
        /// Bytes left after the value.
        remaining: usize,
    },
    /// An enum tag that names no variant.
    #[error("unknown tag {tag} for {type_name}")]
    UnknownTag {
        /// The enum being decoded.
        type_name: &'static str,
        /// The tag that was read.
        tag: u8,
    },
    /// A length prefix above the maximum allowed at that position.
    #[error("length {len} exceeds the maximum {max}")]
    TooLong {
        /// The length that was read.
        len: u64,
        /// The maximum allowed.
        max: u64,
    },
    /// A whole message larger than its entry point accepts.
    #[error("message of {len} bytes exceeds the maximum {max}")]
    MessageTooLarge {
        /// The message size.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// A `bool` byte other than 0 or 1.
    #[error("invalid bool byte {0}")]
    InvalidBool(u8),
    /// Bytes that are well-formed but not a valid value of the type.
    #[error("invalid {type_name}: {reason}")]
    InvalidValue {
        /// The type being decoded.
        type_name: &'static str,
        /// Why the value is invalid.
        reason: &'static str,
    },
}

/// A value with a canonical binary encoding.
pub trait Encode {
    /// Appends the canonical encoding of `self` to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Returns the canonical encoding of `self` as a fresh buffer.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

/// A value that can be read back from its canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the front of `reader`.
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError>;
}

/// Decodes exactly one `T` from `bytes`, rejecting any trailing bytes.
pub fn decode_exact<T: Decode>(bytes: &[u8]) -> Result<T, CodecError> {
    let mut reader = Reader::new(bytes);
    let value = T::decode(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// A cursor over a byte slice being decoded.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading at the front of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Number of bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// Fails with [`CodecError::TrailingBytes`] unless every byte has been read.
    pub fn finish(&self) -> Result<(), CodecError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(CodecError::TrailingBytes {
                remaining: self.rest.len(),
            })
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(CodecError::UnexpectedEnd {
                needed: n,
                remaining: self.rest.len(),
            }),
        }
    }

    /// Takes the next `N` bytes as an array.
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take_array::<1>()?[0])
    }

    /// Reads a `u32` length prefix and checks it against `max` before anything is allocated.
    pub fn read_len(&mut self, max: usize) -> Result<usize, CodecError> {
        let len = u32::decode(self)?;
        let too_long = CodecError::TooLong {
            len: u64::from(len),
            max: max as u64,
        };
        let len = usize::try_from(len).map_err(|_| too_long.clone())?;
        if len > max {
            return Err(too_long);
        }
        Ok(len)
    }
}

/// Writes a `u32` length prefix.
///
/// Callers keep their collections within a maximum far below `u32::MAX`; a longer one
/// saturates, which the decoder then rejects as too long rather than misreading.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    u32::try_from(len).unwrap_or(u32::MAX).encode_to(out);
}

/// Encodes a byte string: `u32` length then the bytes.
pub fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    encode_len(bytes.len(), out);
    out.extend_from_slice(bytes);
}

/// Decodes a byte string of at most `max` bytes.
pub fn decode_bytes(reader: &mut Reader<'_>, max: usize) -> Result<Vec<u8>, CodecError> {
    let len = reader.read_len(max)?;
    Ok(reader.take(len)?.to_vec())
}

/// Encodes a sequence: `u32` count then each item.
pub fn encode_seq<T: Encode>(items: &[T], out: &mut Vec<u8>) {
    encode_len(items.len(), out);
    for item in items {
        item.encode_to(out);
    }
}

/// Decodes a sequence of at most `max` items.
pub fn decode_seq<T: Decode>(reader: &mut Reader<'_>, max: usize) -> Result<Vec<T>, CodecError> {
    let len = reader.read_len(max)?;
    // Every item takes at least one byte, so the input size bounds the honest capacity.
    let mut items = Vec::with_capacity(len.min(reader.remaining()));
    for _ in 0..len {
        items.push(T::decode(reader)?);
    }
    Ok(items)
}

/// Builds the error for an enum tag that names no variant.
pub fn unknown_tag<T>(type_name: &'static str, tag: u8) -> Result<T, CodecError> {
    Err(CodecError::UnknownTag { type_name, tag })
}

macro_rules! impl_int {
    ($($ty:ty),*) => {$(
        impl Encode for $ty {
            fn encode_to(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }

        impl Decode for $ty {
            fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
                Ok(<$ty>::from_le_bytes(reader.take_array()?))
            }
        }
    )*};
}

impl_int!(u8, u16, u32, u64, u128, i8, i16, i32, i64);

impl Encode for bool {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl Decode for bool {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(CodecError::InvalidBool(other)),
        }
    }
}

impl<const N: usize> Encode for [u8; N] {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

impl<const N: usize> Decode for [u8; N] {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        reader.take_array()
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode_to(out);
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            0 => Ok(None),
            1 => Ok(Some(T::decode(reader)?)),
            tag => unknown_tag("Option", tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn integers_are_little_endian_fixed_width() {
        assert_eq!(0x0102u16.encode(), vec![0x02, 0x01]);
        assert_eq!(1u64.encode(), vec![1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((-2i16).encode(), vec![0xfe, 0xff]);
    }

    #[test]
    fn bool_rejects_other_bytes() {
        assert_eq!(decode_exact::<bool>(&[0]), Ok(false));
        assert_eq!(decode_exact::<bool>(&[1]), Ok(true));
        assert_eq!(decode_exact::<bool>(&[2]), Err(CodecError::InvalidBool(2)));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert_eq!(
            decode_exact::<u16>(&[1, 2, 3]),
            Err(CodecError::TrailingBytes { remaining: 1 })
        );
    }

    #[test]
    fn short_input_is_unexpected_end() {
        assert_eq!(
            decode_exact::<u32>(&[1, 2]),
            Err(CodecError::UnexpectedEnd {
                needed: 4,
                remaining: 2
            })
        );
    }

    #[test]
    fn option_unknown_tag_is_typed() {
        assert_eq!(
            decode_exact::<Option<u8>>(&[7, 0]),
            Err(CodecError::UnknownTag {
                type_name: "Option",
                tag: 7
            })
        );
    }

    #[test]
    fn oversize_length_rejected_before_reading_items() {
        // Claims u32::MAX items but carries none: must fail on the bound, not on allocation.
        let bytes = u32::MAX.encode();
        let mut reader = Reader::new(&bytes);
        assert_eq!(
            decode_seq::<u64>(&mut reader, 16),
            Err(CodecError::TooLong {
                len: u64::from(u32::MAX),
                max: 16
            })
        );
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            decode_bytes(&mut reader, 32),
            Err(CodecError::TooLong { max: 32, .. })
        ));
    }

    #[test]
    fn length_within_bound_but_missing_items_is_unexpected_end() {
        let bytes = 3u32.encode();
        let mut reader = Reader::new(&bytes);
        assert!(matches!(
            decode_seq::<u16>(&mut reader, 16),
            Err(CodecError::UnexpectedEnd { .. })
        ));
    }

    fn seq_round_trip(items: &[u16]) -> Vec<u16> {
        let mut out = Vec::new();
        encode_seq(items, &mut out);
        let mut reader = Reader::new(&out);
        let back = decode_seq(&mut reader, 64).unwrap();
        reader.finish().unwrap();
        back
    }

    proptest! {
        #[test]
        fn u64_round_trips(x: u64) {
            prop_assert_eq!(decode_exact::<u64>(&x.encode()), Ok(x));
        }

        #[test]
        fn i16_round_trips(x: i16) {
            prop_assert_eq!(decode_exact::<i16>(&x.encode()), Ok(x));
        }

        #[test]
        fn option_round_trips(x: Option<u32>) {
            prop_assert_eq!(decode_exact::<Option<u32>>(&x.encode()), Ok(x));
        }

        #[test]
        fn seq_round_trips(items in proptest::collection::vec(any::<u16>(), 0..64)) {
            prop_assert_eq!(seq_round_trip(&items), items);
        }

        #[test]
        fn bytes_never_panic_and_reencode(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(v) = decode_exact::<Option<bool>>(&bytes) {
                prop_assert_eq!(v.encode(), bytes.clone());
            }
            let mut reader = Reader::new(&bytes);
            if let Ok(v) = decode_bytes(&mut reader, 8)
                && reader.finish().is_ok()
            {
                let mut out = Vec::new();
                encode_bytes(&v, &mut out);
                prop_assert_eq!(out, bytes);
            }
        }
    }
}
