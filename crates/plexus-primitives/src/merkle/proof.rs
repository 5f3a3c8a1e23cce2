//! Membership and non-membership proofs of the state tree: checking one against a root,
//! and their canonical and JSON encodings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use super::{
    MAX_PROOF_SIBLINGS, MAX_STATE_KEY_LEN, MAX_STATE_VALUE_LEN, MerkleTree, leaf_hash, node_hash,
    root_hash,
};
use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hash::Hash;
use crate::hex;

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// A non-membership proof was given where a membership proof was expected.
    #[error("expected a membership proof")]
    ExpectedMember,
    /// A membership proof was given where a non-membership proof was expected.
    #[error("expected a non-membership proof")]
    ExpectedAbsent,
    /// A leaf index outside the tree.
    #[error("leaf index {index} is outside a tree of {leaf_count} leaves")]
    IndexOutOfRange {
        /// The claimed index.
        index: u64,
        /// The claimed number of leaves.
        leaf_count: u64,
    },
    /// A path with the wrong number of siblings for its index and leaf count.
    #[error("path has {found} siblings, the position needs {expected}")]
    SiblingCount {
        /// Siblings the position needs.
        expected: usize,
        /// Siblings the path carries.
        found: usize,
    },
    /// The path does not lead to the given root.
    #[error("proof does not lead to the root")]
    RootMismatch,
    /// The neighbours' keys do not strictly bracket the key (it may be present).
    #[error("the neighbours' keys do not bracket the key")]
    NotBracketed,
    /// The two neighbours are not at adjacent indices.
    #[error("neighbours at indices {left} and {right} are not adjacent")]
    NotAdjacent {
        /// The left neighbour's index.
        left: u64,
        /// The right neighbour's index.
        right: u64,
    },
    /// A single neighbour that is not the first (or last) leaf.
    #[error("lone neighbour at index {index} is not at the edge of {leaf_count} leaves")]
    NotAtEdge {
        /// The neighbour's index.
        index: u64,
        /// The claimed number of leaves.
        leaf_count: u64,
    },
    /// A non-membership proof for a non-empty tree that names no neighbour.
    #[error("non-membership proof for a non-empty tree names no neighbour")]
    MissingNeighbour,
}

/// A leaf proven present at its index, used as a neighbour in a non-membership proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The leaf's index.
    pub index: u64,
    /// The leaf's key (hex in JSON), at most [`MAX_STATE_KEY_LEN`] bytes.
    #[serde(serialize_with = "serialize_hex", deserialize_with = "deserialize_key")]
    pub key: Vec<u8>,
    /// The leaf's value (hex in JSON), at most [`MAX_STATE_VALUE_LEN`] bytes.
    #[serde(
        serialize_with = "serialize_hex",
        deserialize_with = "deserialize_value"
    )]
    pub value: Vec<u8>,
    /// The leaf's path, at most [`MAX_PROOF_SIBLINGS`] hashes.
    #[serde(deserialize_with = "deserialize_siblings")]
    pub siblings: Vec<Hash>,
}

/// A proof that a key is in the state with a given value, or that it is not in the state.
///
/// Either kind is checked with nothing but the state root; see the module docs for why
/// positions (and so non-membership) are sound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proof {
    /// The key is the leaf at `index` (the verifier supplies the key and value).
    Member {
        /// Number of leaves in the tree.
        leaf_count: u64,
        /// The leaf's index.
        index: u64,
        /// Sibling hashes from the leaf up, at most [`MAX_PROOF_SIBLINGS`]; levels where
        /// the node is carried up have none.
        #[serde(deserialize_with = "deserialize_siblings")]
        siblings: Vec<Hash>,
    },
    /// The key is absent: the leaves on either side of where it would sit.
    ///
    /// Both neighbours for a key between two leaves; only `right` (at index 0) for a key
    /// below every leaf; only `left` (at index `leaf_count - 1`) for a key above every
    /// leaf; neither for the empty tree.
    Absent {
        /// Number of leaves in the tree.
        leaf_count: u64,
        /// The greatest leaf whose key is below the key.
        left: Option<Neighbour>,
        /// The least leaf whose key is above the key.
        right: Option<Neighbour>,
    },
}

/// Whether a node's sibling at one level sits to its left or right.
pub(super) enum Side {
    Left,
    Right,
}

/// The sibling sides along the path of leaf `index` in a tree of `leaf_count` leaves, from
/// the leaves up; levels where the node is carried have no entry. Needs `index < leaf_count`.
pub(super) fn path_sides(index: u64, leaf_count: u64) -> impl Iterator<Item = Side> {
    let mut position = index;
    let mut width = leaf_count;
    std::iter::from_fn(move || {
        while width > 1 {
            let side = if position % 2 == 1 {
                Some(Side::Left)
            } else if position < width - 1 {
                Some(Side::Right)
            } else {
                None
            };
            position /= 2;
            width = width.div_ceil(2);
            if side.is_some() {
                return side;
            }
        }
        None
    })
}

/// Checks that `leaf` is the leaf at `index` of the `leaf_count`-leaf tree with `root`.
fn verify_leaf(
    root: &Hash,
    leaf_count: u64,
    index: u64,
    leaf: Hash,
    siblings: &[Hash],
) -> Result<(), ProofError> {
    if index >= leaf_count {
        return Err(ProofError::IndexOutOfRange { index, leaf_count });
    }
    let expected = path_sides(index, leaf_count).count();
    if siblings.len() != expected {
        return Err(ProofError::SiblingCount {
            expected,
            found: siblings.len(),
        });
    }
    let top = path_sides(index, leaf_count)
        .zip(siblings)
        .fold(leaf, |node, (side, sibling)| match side {
            Side::Left => node_hash(sibling, &node),
            Side::Right => node_hash(&node, sibling),
        });
    if root_hash(leaf_count, &top) == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

impl Neighbour {
    fn verify(&self, root: &Hash, leaf_count: u64) -> Result<(), ProofError> {
        let leaf = leaf_hash(&self.key, &self.value);
        verify_leaf(root, leaf_count, self.index, leaf, &self.siblings)
    }
}

impl Proof {
    /// Checks that `root` commits to `key` holding exactly `value`.
    pub fn verify_member(&self, root: &Hash, key: &[u8], value: &[u8]) -> Result<(), ProofError> {
        match self {
            Self::Member {
                leaf_count,
                index,
                siblings,
            } => verify_leaf(root, *leaf_count, *index, leaf_hash(key, value), siblings),
            Self::Absent { .. } => Err(ProofError::ExpectedMember),
        }
    }

    /// Checks that `root` commits to a state in which `key` is absent.
    pub fn verify_absent(&self, root: &Hash, key: &[u8]) -> Result<(), ProofError> {
        let Self::Absent {
            leaf_count,
            left,
            right,
        } = self
        else {
            return Err(ProofError::ExpectedAbsent);
        };
        let leaf_count = *leaf_count;
        match (left, right) {
            (None, None) if leaf_count == 0 => {
                if *root == MerkleTree::empty_root() {
                    Ok(())
                } else {
                    Err(ProofError::RootMismatch)
                }
            }
            (None, None) => Err(ProofError::MissingNeighbour),
            (Some(left), None) => {
                if left.index.checked_add(1) != Some(leaf_count) {
                    return Err(ProofError::NotAtEdge {
                        index: left.index,
                        leaf_count,
                    });
                }
                if left.key.as_slice() >= key {
                    return Err(ProofError::NotBracketed);
                }
                left.verify(root, leaf_count)
            }
            (None, Some(right)) => {
                if right.index != 0 {
                    return Err(ProofError::NotAtEdge {
                        index: right.index,
                        leaf_count,
                    });
                }
                if right.key.as_slice() <= key {
                    return Err(ProofError::NotBracketed);
                }
                right.verify(root, leaf_count)
            }
            (Some(left), Some(right)) => {
                if left.index.checked_add(1) != Some(right.index) {
                    return Err(ProofError::NotAdjacent {
                        left: left.index,
                        right: right.index,
                    });
                }
                if left.key.as_slice() >= key || right.key.as_slice() <= key {
                    return Err(ProofError::NotBracketed);
                }
                left.verify(root, leaf_count)?;
                right.verify(root, leaf_count)
            }
        }
    }
}

impl Encode for Neighbour {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.index.encode_to(out);
        codec::encode_bytes(&self.key, out);
        codec::encode_bytes(&self.value, out);
        codec::encode_seq(&self.siblings, out);
    }
}

impl Decode for Neighbour {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            index: Decode::decode(reader)?,
            key: codec::decode_bytes(reader, MAX_STATE_KEY_LEN)?,
            value: codec::decode_bytes(reader, MAX_STATE_VALUE_LEN)?,
            siblings: codec::decode_seq(reader, MAX_PROOF_SIBLINGS)?,
        })
    }
}

impl Encode for Proof {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Member {
                leaf_count,
                index,
                siblings,
            } => {
                out.push(0);
                leaf_count.encode_to(out);
                index.encode_to(out);
                codec::encode_seq(siblings, out);
            }
            Self::Absent {
                leaf_count,
                left,
                right,
            } => {
                out.push(1);
                leaf_count.encode_to(out);
                left.encode_to(out);
                right.encode_to(out);
            }
        }
    }
}

impl Decode for Proof {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        match reader.read_u8()? {
            0 => Ok(Self::Member {
                leaf_count: Decode::decode(reader)?,
                index: Decode::decode(reader)?,
                siblings: codec::decode_seq(reader, MAX_PROOF_SIBLINGS)?,
            }),
            1 => Ok(Self::Absent {
                leaf_count: Decode::decode(reader)?,
                left: Decode::decode(reader)?,
                right: Decode::decode(reader)?,
            }),
            tag => codec::unknown_tag("Proof", tag),
        }
    }
}

/// Shows a byte string as lowercase hex.
struct HexBytes<'a>(&'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex::write_hex(self.0, f)
    }
}

fn serialize_hex<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&HexBytes(bytes))
}

/// Parses hex (either case) into at most `max` bytes.
fn parse_hex_bytes(s: &str, max: usize) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex characters ({})", s.len()));
    }
    if s.len() / 2 > max {
        return Err(format!("{} bytes exceeds the maximum {max}", s.len() / 2));
    }
    s.as_bytes()
        .chunks_exact(2)
        .enumerate()
        .map(
            |(i, pair)| match (hex::nibble(pair[0]), hex::nibble(pair[1])) {
                (Some(high), Some(low)) => Ok((high << 4) | low),
                _ => Err(format!("invalid hex at byte offset {}", 2 * i)),
            },
        )
        .collect()
}

fn deserialize_hex<'de, D: Deserializer<'de>>(
    deserializer: D,
    max: usize,
) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(deserializer)?;
    parse_hex_bytes(&s, max).map_err(serde::de::Error::custom)
}

fn deserialize_key<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserialize_hex(deserializer, MAX_STATE_KEY_LEN)
}

fn deserialize_value<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserialize_hex(deserializer, MAX_STATE_VALUE_LEN)
}

fn deserialize_siblings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Hash>, D::Error> {
    let siblings = Vec::<Hash>::deserialize(deserializer)?;
    if siblings.len() > MAX_PROOF_SIBLINGS {
        return Err(serde::de::Error::custom(format!(
            "{} siblings exceeds the maximum {MAX_PROOF_SIBLINGS}",
            siblings.len()
        )));
    }
    Ok(siblings)
}
