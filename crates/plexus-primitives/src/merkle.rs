//! The state commitment: a binary Merkle tree over the chain's sorted key-value state, with
//! membership and non-membership proofs that a light client checks against the root alone.
//!
//! The state is a map of byte keys to byte values, committed in strictly increasing key
//! order (plain lexicographic byte order, as in a `BTreeMap<Vec<u8>, Vec<u8>>`).
//!
//! Hashes are BLAKE3 in derive-key mode, each kind with its own context string, so a leaf
//! can never be read as an inner node, nor either as a root:
//! - leaf: context `"plexus state leaf v1"` over
//!   `u64_le(key.len()) || key || u64_le(value.len()) || value`; the length prefixes make
//!   the key/value boundary unambiguous, so `("ab", "c")` and `("a", "bc")` differ;
//! - node: context `"plexus state node v1"` over `left || right`;
//! - root: context `"plexus state root v1"` over `u64_le(leaf_count) || top`, where `top`
//!   is the single node left after pairing, or 32 zero bytes for the empty tree (whose root
//!   is therefore fixed; see [`MerkleTree::empty_root`]).
//!
//! Each level pairs its nodes left to right; an odd node at the end of a level is carried up
//! unchanged. It is never paired with a copy of itself: that duplication rule would give
//! the leaf lists `[a, b, c]` and `[a, b, c, c]` the same top node.
//!
//! Because the root binds `leaf_count`, the tree's shape is fixed by the root: for a given
//! index it is determined at every level whether the sibling sits on the left, on the
//! right, or is absent (carried node). A verified path therefore proves a leaf's *position*,
//! not only its presence, and that is what makes non-membership proofs sound: two leaves
//! proven at adjacent indices `i` and `i + 1` with `left.key < key < right.key` leave no
//! room for `key` in a tree built from sorted keys, and likewise a leaf proven at index `0`
//! (or `leaf_count - 1`) whose key is above (below) `key`.
//!
//! Proofs have a canonical encoding (bounded: at most [`MAX_PROOF_SIBLINGS`] hashes per
//! path, keys and values at most [`MAX_STATE_KEY_LEN`] and [`MAX_STATE_VALUE_LEN`] bytes)
//! and a JSON form in which byte strings and hashes are lowercase hex.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hash::Hash;
use crate::hex;

/// Most sibling hashes one proof path may carry: enough for a tree of `u64::MAX` leaves.
pub const MAX_PROOF_SIBLINGS: usize = 64;

/// Longest state key the tree accepts and a proof may carry, in bytes (1 MiB).
pub const MAX_STATE_KEY_LEN: usize = 1 << 20;

/// Longest state value the tree accepts and a proof may carry, in bytes (1 MiB).
pub const MAX_STATE_VALUE_LEN: usize = 1 << 20;

const LEAF_CONTEXT: &str = "plexus state leaf v1";
const NODE_CONTEXT: &str = "plexus state node v1";
const ROOT_CONTEXT: &str = "plexus state root v1";

static LEAF_HASHER: OnceLock<blake3::Hasher> = OnceLock::new();
static NODE_HASHER: OnceLock<blake3::Hasher> = OnceLock::new();
static ROOT_HASHER: OnceLock<blake3::Hasher> = OnceLock::new();

/// A fresh derive-key hasher for `context`, cloned from one built once per process (building
/// a derive-key hasher hashes the context string, roughly doubling the cost of a node).
fn hasher(cell: &'static OnceLock<blake3::Hasher>, context: &'static str) -> blake3::Hasher {
    cell.get_or_init(|| blake3::Hasher::new_derive_key(context))
        .clone()
}

fn leaf_hash(key: &[u8], value: &[u8]) -> Hash {
    let mut hasher = hasher(&LEAF_HASHER, LEAF_CONTEXT);
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(&(value.len() as u64).to_le_bytes());
    hasher.update(value);
    Hash::from(hasher.finalize())
}

fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = hasher(&NODE_HASHER, NODE_CONTEXT);
    hasher.update(left.as_bytes());
    hasher.update(right.as_bytes());
    Hash::from(hasher.finalize())
}

fn root_hash(leaf_count: u64, top: &Hash) -> Hash {
    let mut hasher = hasher(&ROOT_HASHER, ROOT_CONTEXT);
    hasher.update(&leaf_count.to_le_bytes());
    hasher.update(top.as_bytes());
    Hash::from(hasher.finalize())
}

/// Why a list of entries cannot be committed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MerkleError {
    /// The key at `index` sorts before the previous key.
    #[error("key at index {index} sorts before the previous key")]
    UnsortedKeys {
        /// Position of the offending entry.
        index: usize,
    },
    /// The key at `index` equals the previous key.
    #[error("key at index {index} repeats the previous key")]
    DuplicateKey {
        /// Position of the offending entry.
        index: usize,
    },
    /// The key at `index` is longer than [`MAX_STATE_KEY_LEN`].
    #[error("key at index {index} has {len} bytes, above the maximum {MAX_STATE_KEY_LEN}")]
    KeyTooLong {
        /// Position of the offending entry.
        index: usize,
        /// The key's length.
        len: usize,
    },
    /// The value at `index` is longer than [`MAX_STATE_VALUE_LEN`].
    #[error("value at index {index} has {len} bytes, above the maximum {MAX_STATE_VALUE_LEN}")]
    ValueTooLong {
        /// Position of the offending entry.
        index: usize,
        /// The value's length.
        len: usize,
    },
}

/// Checks the entry at `index` against its bounds and the previous key.
fn check_entry(
    index: usize,
    previous: Option<&[u8]>,
    key: &[u8],
    value: &[u8],
) -> Result<(), MerkleError> {
    if key.len() > MAX_STATE_KEY_LEN {
        return Err(MerkleError::KeyTooLong {
            index,
            len: key.len(),
        });
    }
    if value.len() > MAX_STATE_VALUE_LEN {
        return Err(MerkleError::ValueTooLong {
            index,
            len: value.len(),
        });
    }
    match previous.map(|previous| previous.cmp(key)) {
        None | Some(std::cmp::Ordering::Less) => Ok(()),
        Some(std::cmp::Ordering::Equal) => Err(MerkleError::DuplicateKey { index }),
        Some(std::cmp::Ordering::Greater) => Err(MerkleError::UnsortedKeys { index }),
    }
}

/// The root of the state `entries` (strictly increasing by key), without keeping the tree.
///
/// Streams the entries, holding one hash per level (at most 64); equal to
/// [`MerkleTree::root`] of the same entries. Takes anything byte-like, so a
/// `BTreeMap<Vec<u8>, Vec<u8>>` can be committed with `merkle_root(&map)` without copying.
pub fn merkle_root<I, K, V>(entries: I) -> Result<Hash, MerkleError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    // Roots of complete subtrees with their heights, strictly decreasing from the bottom.
    let mut stack: Vec<(Hash, u32)> = Vec::with_capacity(MAX_PROOF_SIBLINGS + 1);
    let mut previous: Option<K> = None;
    let mut count: u64 = 0;
    for (index, (key, value)) in entries.into_iter().enumerate() {
        let (key_bytes, value_bytes) = (key.as_ref(), value.as_ref());
        check_entry(
            index,
            previous.as_ref().map(K::as_ref),
            key_bytes,
            value_bytes,
        )?;
        let mut node = leaf_hash(key_bytes, value_bytes);
        let mut height = 0u32;
        while let Some(&(left, left_height)) = stack.last()
            && left_height == height
        {
            stack.pop();
            node = node_hash(&left, &node);
            height += 1;
        }
        stack.push((node, height));
        previous = Some(key);
        count += 1;
    }
    // Level-by-level pairing with carried odd nodes joins the complete subtrees right to left.
    let mut top = match stack.pop() {
        Some((node, _)) => node,
        None => Hash::ZERO,
    };
    while let Some((left, _)) = stack.pop() {
        top = node_hash(&left, &top);
    }
    Ok(root_hash(count, &top))
}

/// A committed state: its entries and every level of hashes, ready to answer proofs.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// `levels[0]` holds the leaf hashes; each next level pairs the previous one; the last
    /// level holds the single top node (or is the empty leaf level of an empty tree).
    levels: Vec<Vec<Hash>>,
    root: Hash,
}

impl MerkleTree {
    /// Commits to `entries`, which must be strictly increasing by key.
    pub fn new<I>(entries: I) -> Result<Self, MerkleError>
    where
        I: IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = entries.into_iter().collect();
        let mut leaves = Vec::with_capacity(entries.len());
        for (index, (key, value)) in entries.iter().enumerate() {
            let previous = index.checked_sub(1).map(|i| entries[i].0.as_slice());
            check_entry(index, previous, key, value)?;
            leaves.push(leaf_hash(key, value));
        }
        let mut levels = vec![leaves];
        while let Some(level) = levels.last()
            && level.len() > 1
        {
            let next: Vec<Hash> = level
                .chunks(2)
                .map(|pair| match pair.get(1) {
                    Some(right) => node_hash(&pair[0], right),
                    None => pair[0],
                })
                .collect();
            levels.push(next);
        }
        let top = levels
            .last()
            .and_then(|level| level.first())
            .copied()
            .unwrap_or(Hash::ZERO);
        let root = root_hash(entries.len() as u64, &top);
        Ok(Self {
            entries,
            levels,
            root,
        })
    }

    /// The root of the empty state.
    pub fn empty_root() -> Hash {
        root_hash(0, &Hash::ZERO)
    }

    /// The root committing to every entry.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the tree has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.find(key)
            .ok()
            .map(|index| self.entries[index].1.as_slice())
    }

    /// Proves `key`: a [`Proof::Member`] if it is present, a [`Proof::Absent`] otherwise.
    pub fn prove(&self, key: &[u8]) -> Proof {
        let leaf_count = self.entries.len() as u64;
        match self.find(key) {
            Ok(index) => Proof::Member {
                leaf_count,
                index: index as u64,
                siblings: self.path(index),
            },
            Err(insert_at) => Proof::Absent {
                leaf_count,
                left: insert_at.checked_sub(1).map(|index| self.neighbour(index)),
                right: (insert_at < self.entries.len()).then(|| self.neighbour(insert_at)),
            },
        }
    }

    fn find(&self, key: &[u8]) -> Result<usize, usize> {
        self.entries
            .binary_search_by(|(entry_key, _)| entry_key.as_slice().cmp(key))
    }

    /// The sibling hashes from leaf `index` up to the top, skipping levels where the node
    /// is carried.
    fn path(&self, index: usize) -> Vec<Hash> {
        let mut siblings = Vec::new();
        let mut position = index;
        for level in &self.levels {
            if let Some(sibling) = level.get(position ^ 1) {
                siblings.push(*sibling);
            }
            position /= 2;
        }
        siblings
    }

    fn neighbour(&self, index: usize) -> Neighbour {
        let (key, value) = &self.entries[index];
        Neighbour {
            index: index as u64,
            key: key.clone(),
            value: value.clone(),
            siblings: self.path(index),
        }
    }
}

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
enum Side {
    Left,
    Right,
}

/// The sibling sides along the path of leaf `index` in a tree of `leaf_count` leaves, from
/// the leaves up; levels where the node is carried have no entry. Needs `index < leaf_count`.
fn path_sides(index: u64, leaf_count: u64) -> impl Iterator<Item = Side> {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    use super::*;
    use crate::codec::decode_exact;

    type State = BTreeMap<Vec<u8>, Vec<u8>>;

    fn tree(state: &State) -> MerkleTree {
        MerkleTree::new(state.iter().map(|(k, v)| (k.clone(), v.clone()))).unwrap()
    }

    fn numbered(n: u8) -> State {
        (0..n).map(|i| (vec![2 * i + 1], vec![i; 3])).collect()
    }

    fn derive(context: &str, parts: &[&[u8]]) -> Hash {
        let mut hasher = blake3::Hasher::new_derive_key(context);
        for part in parts {
            hasher.update(part);
        }
        Hash::from(hasher.finalize())
    }

    fn neighbours(proof: &Proof) -> (Option<&Neighbour>, Option<&Neighbour>) {
        match proof {
            Proof::Absent { left, right, .. } => (left.as_ref(), right.as_ref()),
            Proof::Member { .. } => panic!("expected an absence proof"),
        }
    }

    #[test]
    fn hash_layout_matches_the_docs() {
        let empty = derive("plexus state root v1", &[&0u64.to_le_bytes(), &[0; 32]]);
        assert_eq!(MerkleTree::empty_root(), empty);
        assert_eq!(merkle_root(Vec::<(Vec<u8>, Vec<u8>)>::new()), Ok(empty));
        assert_eq!(MerkleTree::new(Vec::new()).unwrap().root(), empty);

        let leaf = |k: &[u8], v: &[u8]| {
            derive(
                "plexus state leaf v1",
                &[
                    &(k.len() as u64).to_le_bytes(),
                    k,
                    &(v.len() as u64).to_le_bytes(),
                    v,
                ],
            )
        };
        let node =
            |l: &Hash, r: &Hash| derive("plexus state node v1", &[l.as_bytes(), r.as_bytes()]);
        let root = |n: u64, top: &Hash| {
            derive("plexus state root v1", &[&n.to_le_bytes(), top.as_bytes()])
        };
        assert_eq!(leaf_hash(b"k", b"v"), leaf(b"k", b"v"));

        // Five leaves: ((l0 l1) (l2 l3)) l4 -- the odd l4 is carried up twice, never doubled.
        let state = numbered(5);
        let l: Vec<Hash> = state.iter().map(|(k, v)| leaf(k, v)).collect();
        let top = node(&node(&node(&l[0], &l[1]), &node(&l[2], &l[3])), &l[4]);
        assert_eq!(tree(&state).root(), root(5, &top));
        assert_eq!(merkle_root(&state), Ok(root(5, &top)));

        // Three leaves: (l0 l1) l2.
        let state = numbered(3);
        let l: Vec<Hash> = state.iter().map(|(k, v)| leaf(k, v)).collect();
        assert_eq!(
            tree(&state).root(),
            root(3, &node(&node(&l[0], &l[1]), &l[2]))
        );
    }

    #[test]
    fn leaf_binds_the_key_value_boundary() {
        assert_ne!(leaf_hash(b"ab", b"c"), leaf_hash(b"a", b"bc"));
        assert_ne!(leaf_hash(b"", b"x"), leaf_hash(b"x", b""));
        let one = MerkleTree::new([(b"ab".to_vec(), b"c".to_vec())]).unwrap();
        let other = MerkleTree::new([(b"a".to_vec(), b"bc".to_vec())]).unwrap();
        assert_ne!(one.root(), other.root());
    }

    #[test]
    fn single_leaf_is_not_its_own_root_or_node() {
        let t = MerkleTree::new([(b"k".to_vec(), b"v".to_vec())]).unwrap();
        assert_ne!(t.root(), leaf_hash(b"k", b"v"));
        let proof = t.prove(b"k");
        assert_eq!(
            proof,
            Proof::Member {
                leaf_count: 1,
                index: 0,
                siblings: vec![]
            }
        );
        assert_eq!(proof.verify_member(&t.root(), b"k", b"v"), Ok(()));
    }

    #[test]
    fn unsorted_duplicate_and_oversize_entries_are_typed() {
        let e = |k: &[u8]| (k.to_vec(), b"v".to_vec());
        assert_eq!(
            MerkleTree::new([e(b"a"), e(b"c"), e(b"b")]).err(),
            Some(MerkleError::UnsortedKeys { index: 2 })
        );
        assert_eq!(
            merkle_root([e(b"a"), e(b"a")]),
            Err(MerkleError::DuplicateKey { index: 1 })
        );
        // "ab" sorts after "a" (prefix first), and "" before everything.
        assert!(MerkleTree::new([e(b""), e(b"a"), e(b"ab"), e(b"b")]).is_ok());
        let long_key = vec![0u8; MAX_STATE_KEY_LEN + 1];
        assert_eq!(
            merkle_root([(long_key, vec![])]),
            Err(MerkleError::KeyTooLong {
                index: 0,
                len: MAX_STATE_KEY_LEN + 1
            })
        );
        let long_value = vec![0u8; MAX_STATE_VALUE_LEN + 1];
        assert_eq!(
            MerkleTree::new([e(b"a"), (b"b".to_vec(), long_value)]).err(),
            Some(MerkleError::ValueTooLong {
                index: 1,
                len: MAX_STATE_VALUE_LEN + 1
            })
        );
    }

    #[test]
    fn empty_tree_proves_absence_only() {
        let t = MerkleTree::new(Vec::new()).unwrap();
        assert!(t.is_empty());
        let proof = t.prove(b"anything");
        assert_eq!(
            proof,
            Proof::Absent {
                leaf_count: 0,
                left: None,
                right: None
            }
        );
        assert_eq!(proof.verify_absent(&t.root(), b"anything"), Ok(()));
        assert_eq!(
            proof.verify_member(&t.root(), b"anything", b""),
            Err(ProofError::ExpectedMember)
        );
        // The empty-tree proof does not verify against a non-empty root.
        let other = tree(&numbered(2));
        assert_eq!(
            proof.verify_absent(&other.root(), b"x"),
            Err(ProofError::RootMismatch)
        );
        // And a non-empty tree cannot claim zero neighbours.
        let forged = Proof::Absent {
            leaf_count: 2,
            left: None,
            right: None,
        };
        assert_eq!(
            forged.verify_absent(&other.root(), b"x"),
            Err(ProofError::MissingNeighbour)
        );
    }

    #[test]
    fn absent_proofs_reject_present_keys_and_gaps() {
        // Keys 1, 3, 5, ..., 15.
        let state = numbered(8);
        let t = tree(&state);
        let root = t.root();
        let present = vec![7u8];
        let i = t.find(&present).unwrap();
        let (a, b, c) = (t.neighbour(i - 1), t.neighbour(i), t.neighbour(i + 1));
        let absent = |left: &Neighbour, right: &Neighbour| Proof::Absent {
            leaf_count: 8,
            left: Some(left.clone()),
            right: Some(right.clone()),
        };
        // Skipping over the present leaf.
        assert_eq!(
            absent(&a, &c).verify_absent(&root, &present),
            Err(ProofError::NotAdjacent {
                left: i as u64 - 1,
                right: i as u64 + 1
            })
        );
        // Relabelling the far neighbour as adjacent breaks its path.
        let mut relabelled = c.clone();
        relabelled.index = i as u64;
        assert_eq!(
            absent(&a, &relabelled).verify_absent(&root, &present),
            Err(ProofError::RootMismatch)
        );
        // Adjacent, but the key is one of them.
        assert_eq!(
            absent(&a, &b).verify_absent(&root, &present),
            Err(ProofError::NotBracketed)
        );
        assert_eq!(
            absent(&b, &c).verify_absent(&root, &present),
            Err(ProofError::NotBracketed)
        );
        // A real absence proof reused for a key outside its gap.
        let gap = t.prove(&[6]);
        assert_eq!(gap.verify_absent(&root, &[6]), Ok(()));
        assert_eq!(
            gap.verify_absent(&root, &[9]),
            Err(ProofError::NotBracketed)
        );
        // Edge proofs must use the edge leaves.
        let below = Proof::Absent {
            leaf_count: 8,
            left: None,
            right: Some(b.clone()),
        };
        assert!(matches!(
            below.verify_absent(&root, &[0]),
            Err(ProofError::NotAtEdge { .. })
        ));
        let mut fake_first = b.clone();
        fake_first.index = 0;
        let below = Proof::Absent {
            leaf_count: 8,
            left: None,
            right: Some(fake_first),
        };
        assert_eq!(
            below.verify_absent(&root, &[0]),
            Err(ProofError::RootMismatch)
        );
        let above = Proof::Absent {
            leaf_count: 8,
            left: Some(b),
            right: None,
        };
        assert!(matches!(
            above.verify_absent(&root, &[100]),
            Err(ProofError::NotAtEdge { .. })
        ));
        // A present key's membership proof is not an absence proof, nor vice versa.
        assert_eq!(
            t.prove(&present).verify_absent(&root, &present),
            Err(ProofError::ExpectedAbsent)
        );
        assert_eq!(
            t.prove(&[6]).verify_member(&root, &[6], b""),
            Err(ProofError::ExpectedMember)
        );
    }

    #[test]
    fn forged_positions_are_rejected() {
        let t = tree(&numbered(7));
        let root = t.root();
        let Proof::Member {
            leaf_count,
            index,
            siblings,
        } = t.prove(&[5])
        else {
            panic!("present");
        };
        let forge = |leaf_count, index| Proof::Member {
            leaf_count,
            index,
            siblings: siblings.clone(),
        };
        assert_eq!(
            forge(leaf_count, index).verify_member(&root, &[5], &[2; 3]),
            Ok(())
        );
        for other in 0..10 {
            if other != index {
                assert!(
                    forge(leaf_count, other)
                        .verify_member(&root, &[5], &[2; 3])
                        .is_err()
                );
            }
        }
        for count in [0, 1, 3, 6, 8, 9, 16, u64::MAX] {
            assert!(
                forge(count, index)
                    .verify_member(&root, &[5], &[2; 3])
                    .is_err()
            );
        }
        assert_eq!(
            forge(7, 7).verify_member(&root, &[5], &[2; 3]),
            Err(ProofError::IndexOutOfRange {
                index: 7,
                leaf_count: 7
            })
        );
        let mut extra = siblings.clone();
        extra.push(Hash::ZERO);
        assert!(matches!(
            Proof::Member {
                leaf_count,
                index,
                siblings: extra
            }
            .verify_member(&root, &[5], &[2; 3]),
            Err(ProofError::SiblingCount { .. })
        ));
    }

    #[test]
    fn path_lengths_follow_the_shape() {
        // 5 leaves: leaves 0..4 have 3 siblings, leaf 4 is carried twice and has 1.
        let counts: Vec<usize> = (0..5).map(|i| path_sides(i, 5).count()).collect();
        assert_eq!(counts, vec![3, 3, 3, 3, 1]);
        assert_eq!(path_sides(0, 1).count(), 0);
        assert_eq!(path_sides(0, u64::MAX).count(), 64);
        // The last of 2^64 - 1 leaves is carried once, then is a right child all the way up.
        assert_eq!(path_sides(u64::MAX - 1, u64::MAX).count(), 63);
    }

    #[test]
    fn proof_codec_bounds_and_json_shape() {
        let t = tree(&numbered(4));
        let proof = t.prove(&[4]);
        let json = serde_json::to_string(&proof).unwrap();
        assert!(json.contains("\"key\":\"03\""), "{json}");
        assert!(json.contains("\"value\":\"010101\""), "{json}");
        assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof);
        assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"0g\"")).is_err());
        assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"031\"")).is_err());
        assert!(serde_json::from_str::<Proof>(&json.replace("\"03\"", "\"0é\"")).is_err());
        let upper = json.replace("\"010101\"", "\"0A0B0C\"");
        assert!(serde_json::from_str::<Proof>(&upper).is_ok());

        let too_many = Proof::Member {
            leaf_count: 1,
            index: 0,
            siblings: vec![Hash::ZERO; MAX_PROOF_SIBLINGS + 1],
        };
        assert_eq!(
            decode_exact::<Proof>(&too_many.encode()),
            Err(CodecError::TooLong {
                len: MAX_PROOF_SIBLINGS as u64 + 1,
                max: MAX_PROOF_SIBLINGS as u64
            })
        );
        assert!(serde_json::from_str::<Proof>(&serde_json::to_string(&too_many).unwrap()).is_err());
        assert_eq!(
            decode_exact::<Proof>(&[2]),
            Err(CodecError::UnknownTag {
                type_name: "Proof",
                tag: 2
            })
        );
    }

    fn state() -> impl Strategy<Value = State> {
        // Short keys so that probes often fall between, before and after present keys.
        btree_map(vec(any::<u8>(), 0..5), vec(any::<u8>(), 0..12), 0..200)
    }

    fn flip(hash: &mut Hash, bit: usize) {
        hash.0[bit / 8 % 32] ^= 1 << (bit % 8);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn every_key_proves_membership(state in state()) {
            let t = tree(&state);
            let root = t.root();
            prop_assert_eq!(t.len(), state.len());
            prop_assert_eq!(merkle_root(&state), Ok(root));
            for (key, value) in &state {
                prop_assert_eq!(t.get(key), Some(value.as_slice()));
                let proof = t.prove(key);
                prop_assert_eq!(proof.verify_member(&root, key, value), Ok(()));
                prop_assert_eq!(proof.verify_absent(&root, key), Err(ProofError::ExpectedAbsent));
                prop_assert_eq!(decode_exact::<Proof>(&proof.encode()), Ok(proof.clone()));
                let json = serde_json::to_string(&proof).unwrap();
                prop_assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof.clone());

                let mut wrong_value = value.clone();
                wrong_value.push(0);
                prop_assert!(proof.verify_member(&root, key, &wrong_value).is_err());
                let mut wrong_key = key.clone();
                wrong_key.push(0);
                prop_assert!(proof.verify_member(&root, &wrong_key, value).is_err());
                let mut other_root = root;
                flip(&mut other_root, 0);
                prop_assert_eq!(
                    proof.verify_member(&other_root, key, value),
                    Err(ProofError::RootMismatch)
                );
                if let Proof::Member { leaf_count, index, siblings } = &proof {
                    for (i, bit) in (0..siblings.len()).zip([0usize, 77, 255].into_iter().cycle()) {
                        let mut tampered = siblings.clone();
                        flip(&mut tampered[i], bit);
                        let forged = Proof::Member {
                            leaf_count: *leaf_count,
                            index: *index,
                            siblings: tampered,
                        };
                        prop_assert_eq!(
                            forged.verify_member(&root, key, value),
                            Err(ProofError::RootMismatch)
                        );
                    }
                }
            }
        }

        #[test]
        fn every_absent_key_proves_absence(
            state in state(),
            probes in vec(vec(any::<u8>(), 0..5), 0..40),
        ) {
            let t = tree(&state);
            let root = t.root();
            let mut probes = probes;
            probes.extend([vec![], vec![0xff; 5]]);
            for probe in probes.iter().filter(|p| !state.contains_key(*p)) {
                prop_assert_eq!(t.get(probe), None);
                let proof = t.prove(probe);
                prop_assert_eq!(proof.verify_absent(&root, probe), Ok(()));
                prop_assert_eq!(
                    proof.verify_member(&root, probe, b""),
                    Err(ProofError::ExpectedMember)
                );
                prop_assert_eq!(decode_exact::<Proof>(&proof.encode()), Ok(proof.clone()));
                let json = serde_json::to_string(&proof).unwrap();
                prop_assert_eq!(serde_json::from_str::<Proof>(&json).unwrap(), proof.clone());

                // The same proof must not vouch for any present key.
                for present in state.keys() {
                    prop_assert!(proof.verify_absent(&root, present).is_err());
                }
                let mut other_root = root;
                flip(&mut other_root, 9);
                prop_assert!(proof.verify_absent(&other_root, probe).is_err());

                // Tampering with either neighbour's value, key or path breaks it.
                let (left, right) = neighbours(&proof);
                for (is_left, n) in [(true, left), (false, right)] {
                    let Some(n) = n else { continue };
                    let rebuild = |n: Neighbour| {
                        let (mut l, mut r) = (left.cloned(), right.cloned());
                        if is_left { l = Some(n) } else { r = Some(n) }
                        Proof::Absent { leaf_count: t.len() as u64, left: l, right: r }
                    };
                    let mut bad = n.clone();
                    bad.value.push(1);
                    prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                    let mut bad = n.clone();
                    bad.key.insert(0, bad.key.first().copied().unwrap_or(0));
                    prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                    for i in 0..n.siblings.len() {
                        let mut bad = n.clone();
                        flip(&mut bad.siblings[i], 3);
                        prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                    }
                    let mut bad = n.clone();
                    bad.index ^= 1;
                    prop_assert!(rebuild(bad).verify_absent(&root, probe).is_err());
                }
            }
        }

        #[test]
        fn root_is_deterministic_and_binds_every_value(
            state in state(),
            pick in any::<prop::sample::Index>(),
            extra in any::<u8>(),
        ) {
            prop_assert_eq!(tree(&state).root(), tree(&state.clone()).root());
            if state.is_empty() {
                prop_assert_eq!(tree(&state).root(), MerkleTree::empty_root());
            } else {
                let root = tree(&state).root();
                let key = state.keys().nth(pick.index(state.len())).unwrap().clone();
                let mut changed = state.clone();
                changed.get_mut(&key).unwrap().push(extra);
                prop_assert_ne!(tree(&changed).root(), root);
                let mut removed = state.clone();
                removed.remove(&key);
                prop_assert_ne!(merkle_root(&removed).unwrap(), root);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_reencode(
            bytes in vec(any::<u8>(), 0..200),
        ) {
            if let Ok(proof) = decode_exact::<Proof>(&bytes) {
                prop_assert_eq!(proof.encode(), bytes.clone());
                let _ = proof.verify_absent(&Hash::ZERO, b"k");
                let _ = proof.verify_member(&Hash::ZERO, b"k", b"v");
            }
        }

        #[test]
        fn mutated_proofs_never_panic_and_reencode(
            state in state(),
            probe in vec(any::<u8>(), 0..5),
            edits in crate::testgen::edits(),
        ) {
            let bytes = crate::testgen::mutate(tree(&state).prove(&probe).encode(), &edits);
            if let Ok(proof) = decode_exact::<Proof>(&bytes) {
                prop_assert_eq!(proof.encode(), bytes);
            }
        }
    }
}
