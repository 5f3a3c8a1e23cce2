//! The kind of AI work a subnet's market trades, as the chain records it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec::{self, CodecError, Decode, Encode, Reader};

/// The kind of work a subnet trades. Miners read it to serve the right thing and
/// validators to judge it; a subnet that has not recorded one leaves both to be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Work {
    /// Chat completions from the subnet's text model.
    Text,
    /// Embeddings from the subnet's embedding model.
    Embeddings,
}

impl Work {
    /// Every kind, in tag order.
    pub const ALL: [Work; 2] = [Work::Text, Work::Embeddings];

    /// Its name, as the CLI and JSON write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Embeddings => "embeddings",
        }
    }
}

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no kind of work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind of work {0:?}: expected text or embeddings")]
pub struct UnknownWork(pub String);

impl FromStr for Work {
    type Err = UnknownWork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownWork(s.to_owned()))
    }
}

impl Encode for Work {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(match self {
            Self::Text => 0,
            Self::Embeddings => 1,
        });
    }
}

impl Decode for Work {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            0 => Ok(Self::Text),
            1 => Ok(Self::Embeddings),
            tag => codec::unknown_tag("Work", tag),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;

    #[test]
    fn names_and_bytes_round_trip() {
        for work in Work::ALL {
            assert_eq!(work.as_str().parse(), Ok(work));
            assert_eq!(decode_exact::<Work>(&work.encode()), Ok(work));
            let json = serde_json::to_string(&work).unwrap_or_default();
            assert_eq!(json, format!("\"{work}\""));
        }
        assert_eq!("Text".parse(), Ok(Work::Text));
        assert!("image".parse::<Work>().is_err());
        assert_eq!(
            decode_exact::<Work>(&[2]),
            Err(CodecError::UnknownTag {
                type_name: "Work",
                tag: 2
            })
        );
    }
}
