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

use std::sync::OnceLock;

use thiserror::Error;

use crate::hash::Hash;

mod proof;

pub use proof::{Neighbour, Proof, ProofError};

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

#[cfg(test)]
mod tests;
