//! Block headers, blocks and the transactions Merkle root.

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hash::Hash;
use crate::ids::BlockHeight;
use crate::signature::ChainId;
use crate::transaction::SignedTransaction;

/// Most transactions one block may carry.
pub const MAX_BLOCK_TRANSACTIONS: usize = 10_000;

/// Largest encoded [`Block`] accepted from the network, in bytes.
pub const MAX_BLOCK_SIZE: usize = 4 * 1024 * 1024;

/// What consensus agrees on; its hash identifies the block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// The chain this block belongs to.
    pub chain_id: ChainId,
    /// Height; the parent's plus one.
    pub height: BlockHeight,
    /// Hash of the parent header ([`Hash::ZERO`] for genesis).
    pub parent: Hash,
    /// Root of the state after applying this block.
    pub state_root: Hash,
    /// [`transactions_root`] of the block's transactions.
    pub transactions_root: Hash,
    /// The validator that proposed the block.
    pub proposer: AccountId,
    /// The consensus view (round) in which the block was proposed.
    pub view: u64,
}

/// A header and its transactions, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Transactions, at most [`MAX_BLOCK_TRANSACTIONS`].
    pub transactions: Vec<SignedTransaction>,
}

impl BlockHeader {
    /// The block's id: BLAKE3 of the header's canonical encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }
}

impl Block {
    /// The block's id (its header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// True if the header commits to exactly these transactions.
    pub fn has_valid_transactions_root(&self) -> bool {
        self.header.transactions_root == transactions_root(&self.transactions)
    }

    /// Decodes a block received from the network: size-checked first, then decoded
    /// exactly. Checks neither signatures nor the transactions root.
    pub fn decode_network(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > MAX_BLOCK_SIZE {
            return Err(CodecError::MessageTooLarge {
                len: bytes.len(),
                max: MAX_BLOCK_SIZE,
            });
        }
        codec::decode_exact(bytes)
    }
}

const LEAF: u8 = 0;
const NODE: u8 = 1;
const ROOT: u8 = 2;

fn tagged_hash(tag: u8, parts: &[&[u8]]) -> Hash {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&[tag]);
    for part in parts {
        hasher.update(part);
    }
    Hash::from(hasher.finalize())
}

/// The Merkle root committing to `transactions` in order.
///
/// - leaf: `blake3(0x00 || tx.hash())`
/// - node: `blake3(0x01 || left || right)`; an odd node at the end of a level is carried
///   up unchanged (never duplicated, so no two lists share a root);
/// - root: `blake3(0x02 || u64_le(count) || top)` where `top` is the single remaining
///   node, or 32 zero bytes for an empty list. Binding the count separates lists of
///   different lengths, and the empty list gets a fixed, well-defined root.
pub fn transactions_root(transactions: &[SignedTransaction]) -> Hash {
    let mut level: Vec<Hash> = transactions
        .iter()
        .map(|tx| tagged_hash(LEAF, &[tx.hash().as_bytes()]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => tagged_hash(NODE, &[left.as_bytes(), right.as_bytes()]),
                [single] => *single,
                _ => Hash::ZERO,
            })
            .collect();
    }
    let top = level.first().copied().unwrap_or(Hash::ZERO);
    let count = transactions.len() as u64;
    tagged_hash(ROOT, &[&count.to_le_bytes(), top.as_bytes()])
}

impl Encode for BlockHeader {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.height.encode_to(out);
        self.parent.encode_to(out);
        self.state_root.encode_to(out);
        self.transactions_root.encode_to(out);
        self.proposer.encode_to(out);
        self.view.encode_to(out);
    }
}

impl Decode for BlockHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            chain_id: Decode::decode(reader)?,
            height: Decode::decode(reader)?,
            parent: Decode::decode(reader)?,
            state_root: Decode::decode(reader)?,
            transactions_root: Decode::decode(reader)?,
            proposer: Decode::decode(reader)?,
            view: Decode::decode(reader)?,
        })
    }
}

impl Encode for Block {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.header.encode_to(out);
        codec::encode_seq(&self.transactions, out);
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            header: Decode::decode(reader)?,
            transactions: codec::decode_seq(reader, MAX_BLOCK_TRANSACTIONS)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::testgen::{self, Arb};
    use proptest::prelude::*;

    fn txs(n: usize) -> Vec<SignedTransaction> {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        (0..n)
            .map(|_| {
                SignedTransaction::arb()
                    .new_tree(&mut runner)
                    .unwrap()
                    .current()
            })
            .collect()
    }

    #[test]
    fn empty_root_is_fixed() {
        let mut expected = vec![ROOT];
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&[0; 32]);
        assert_eq!(transactions_root(&[]), Hash::of(&expected));
    }

    #[test]
    fn root_binds_order_count_and_content() {
        let list = txs(5);
        let mut roots = std::collections::HashSet::new();
        for n in 0..=5 {
            assert!(roots.insert(transactions_root(&list[..n])), "prefix {n}");
        }
        let mut swapped = list.clone();
        swapped.swap(0, 1);
        assert!(roots.insert(transactions_root(&swapped)));
        // A list whose last element is repeated must not collide (no duplication rule).
        let mut dup = list[..3].to_vec();
        dup.push(list[2].clone());
        assert!(roots.insert(transactions_root(&dup)));
    }

    #[test]
    fn block_root_check_and_hash() {
        let transactions = txs(3);
        let header = BlockHeader {
            chain_id: ChainId::new("plexus-test").unwrap(),
            height: BlockHeight(1),
            parent: Hash::ZERO,
            state_root: Hash::of(b"state"),
            transactions_root: transactions_root(&transactions),
            proposer: AccountId([1; 32]),
            view: 0,
        };
        let mut block = Block {
            header,
            transactions,
        };
        assert!(block.has_valid_transactions_root());
        assert_eq!(block.hash(), Hash::of(&block.header.encode()));
        block.transactions.pop();
        assert!(!block.has_valid_transactions_root());
    }

    #[test]
    fn block_limits_are_typed_errors() {
        let header = BlockHeader::arb()
            .new_tree(&mut proptest::test_runner::TestRunner::deterministic())
            .unwrap()
            .current();
        let mut bytes = header.encode();
        ((MAX_BLOCK_TRANSACTIONS + 1) as u32).encode_to(&mut bytes);
        assert_eq!(
            Block::decode_network(&bytes),
            Err(CodecError::TooLong {
                len: MAX_BLOCK_TRANSACTIONS as u64 + 1,
                max: MAX_BLOCK_TRANSACTIONS as u64
            })
        );
        let huge = vec![0u8; MAX_BLOCK_SIZE + 1];
        assert!(matches!(
            Block::decode_network(&huge),
            Err(CodecError::MessageTooLarge { .. })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn header_round_trips(h in BlockHeader::arb()) {
            prop_assert_eq!(decode_exact::<BlockHeader>(&h.encode()), Ok(h));
        }

        #[test]
        fn block_round_trips(b in Block::arb()) {
            prop_assert_eq!(Block::decode_network(&b.encode()), Ok(b));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(h) = decode_exact::<BlockHeader>(&bytes) {
                prop_assert_eq!(h.encode(), bytes.clone());
            }
            if let Ok(b) = Block::decode_network(&bytes) {
                prop_assert_eq!(b.encode(), bytes);
            }
        }

        #[test]
        fn mutated_blocks_never_panic_and_reencode(b in Block::arb(), edits in testgen::edits()) {
            let bytes = testgen::mutate(b.encode(), &edits);
            if let Ok(back) = Block::decode_network(&bytes) {
                prop_assert_eq!(back.encode(), bytes);
            }
        }
    }
}
