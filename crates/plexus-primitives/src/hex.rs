//! Lowercase hex for fixed-size byte arrays (hashes, signatures).

use std::fmt;

use thiserror::Error;

/// Why a hex string did not parse into a fixed-size value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HexError {
    /// The string has the wrong number of characters.
    #[error("expected {expected} hex characters, got {found}")]
    WrongLength {
        /// Characters required.
        expected: usize,
        /// Characters given.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("invalid hex character {ch:?} at index {index}")]
    InvalidChar {
        /// Byte offset of the character.
        index: usize,
        /// The offending character.
        ch: char,
    },
}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex.
///
/// Digits are gathered in a stack buffer and written in runs of up to 64 bytes: the wire
/// formats a signature and a hash into headers on every request, and a `write_char` per
/// digit showed in its profile.
pub(crate) fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut buf = [0u8; 128];
    for chunk in bytes.chunks(64) {
        for (pair, byte) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        let digits = &buf[..2 * chunk.len()];
        // Only ASCII digits were written, so this never fails.
        f.write_str(std::str::from_utf8(digits).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

/// The value of one hex digit (either case).
pub(crate) fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses exactly `2 * N` hex characters (either case) into `N` bytes.
pub(crate) fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    if s.len() != 2 * N {
        return Err(HexError::WrongLength {
            expected: 2 * N,
            found: s.chars().count(),
        });
    }
    let bad = |index: usize| HexError::InvalidChar {
        index,
        ch: s[index..].chars().next().unwrap_or('?'),
    };
    // Checked byte-wise first so that slicing above only ever lands on a char boundary.
    if let Some(index) = s.bytes().position(|c| nibble(c).is_none()) {
        return Err(bad(index));
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *byte = (nibble(pair[0]).unwrap_or(0) << 4) | nibble(pair[1]).unwrap_or(0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Hex<'a>(&'a [u8]);

    impl fmt::Display for Hex<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_hex(self.0, f)
        }
    }

    #[test]
    fn round_trips_and_accepts_uppercase() {
        assert_eq!(Hex(&[0x00, 0xab, 0xff]).to_string(), "00abff");
        assert_eq!(parse_hex::<3>("00abff"), Ok([0x00, 0xab, 0xff]));
        assert_eq!(parse_hex::<3>("00ABFF"), Ok([0x00, 0xab, 0xff]));
        // Longer than one 64-byte run of the writer's buffer.
        let long: Vec<u8> = (0..=255).collect();
        let text = Hex(&long).to_string();
        assert_eq!(text.len(), 512);
        assert_eq!(parse_hex::<256>(&text).map(|b| b.to_vec()), Ok(long));
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            parse_hex::<2>("abc"),
            Err(HexError::WrongLength {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            parse_hex::<2>("ab0g"),
            Err(HexError::InvalidChar { index: 3, ch: 'g' })
        );
        // Multi-byte characters never cause a slicing panic.
        assert!(parse_hex::<2>("é€").is_err());
        assert!(parse_hex::<2>("aé0").is_err());
    }
}
