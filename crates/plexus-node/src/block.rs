//! The block consensus orders: our [`Block`] wrapped so that commonware's
//! codec, digest and block traits can be implemented for it.
//!
//! # Identity
//!
//! A block's consensus digest is exactly its [`BlockHeader::hash`] (BLAKE3 of
//! the header's canonical encoding), carried in commonware's
//! [`blake3::Digest`]. One id serves consensus, marshal's archives, RPC and
//! the header's `parent` link, so nothing ever translates between two.
//!
//! # Wire form
//!
//! `varint(len) || canonical block bytes`. Commonware decodes blocks out of
//! larger buffers (backfill responses, archives), so the block must delimit
//! itself; our own codec does not, hence the length prefix. The varint is
//! canonical and the body is decoded exactly, so every accepted byte string
//! re-encodes to itself, as marshal requires. The body is bounded by
//! [`MAX_BLOCK_SIZE`] before anything is allocated, and a decoded block's
//! transactions must match its header's `transactions_root`, so that a block
//! is whole whenever its digest is right.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Buf as _, BufMut};
use commonware_codec::{
    Buf, EncodeSize, Error as CodecError, Read, ReadExt as _, Write,
    varint::{MAX_U32_VARINT_SIZE, UInt},
};
use commonware_consensus::{BoundedBlock, Heightable, types::Height};
use commonware_cryptography::{Digestible, blake3};
use plexus_ledger::Ledger;
use plexus_primitives::{
    AccountId, Block, BlockHeader, BlockHeight, ChainId, Encode, Hash, MAX_BLOCK_SIZE,
    transactions_root,
};

/// The digest consensus orders: a block header's BLAKE3 hash.
pub type Digest = blake3::Digest;

/// Converts our hash into the consensus digest (same 32 bytes).
pub fn to_digest(hash: Hash) -> Digest {
    blake3::Digest(hash.0)
}

/// Converts a consensus digest back into our hash (same 32 bytes).
pub fn from_digest(digest: &Digest) -> Hash {
    Hash(digest.0)
}

/// A [`Block`] with its canonical encoding and id computed once.
///
/// Immutable: the cached bytes and digest always match the block.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsensusBlock {
    block: Block,
    encoded: Vec<u8>,
    digest: Digest,
}

impl fmt::Debug for ConsensusBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsensusBlock")
            .field("height", &self.block.header.height.0)
            .field("digest", &from_digest(&self.digest))
            .field("transactions", &self.block.transactions.len())
            .finish()
    }
}

impl ConsensusBlock {
    /// Wraps a block, encoding and hashing it.
    pub fn new(block: Block) -> Self {
        let encoded = block.encode();
        let digest = to_digest(block.header.hash());
        Self {
            block,
            encoded,
            digest,
        }
    }

    /// The fixed block at height 0: no transactions, the genesis ledger's
    /// state root, no proposer. Every node derives the same one from the
    /// same genesis, so it needs no signatures.
    pub fn genesis(chain_id: ChainId, genesis_ledger: &Ledger) -> Self {
        Self::new(Block {
            header: BlockHeader {
                chain_id,
                height: BlockHeight(0),
                parent: Hash::ZERO,
                state_root: genesis_ledger.state_root(),
                transactions_root: transactions_root(&[]),
                proposer: AccountId([0; 32]),
                view: 0,
            },
            transactions: Vec::new(),
        })
    }

    /// The block.
    pub fn block(&self) -> &Block {
        &self.block
    }

    /// The header.
    pub fn header(&self) -> &BlockHeader {
        &self.block.header
    }

    /// The block's id (its header's hash).
    pub fn hash(&self) -> Hash {
        from_digest(&self.digest)
    }

    /// The block's height.
    pub fn number(&self) -> u64 {
        self.block.header.height.0
    }

    /// The canonical encoding of the block (without the length prefix).
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }

    /// Unwraps the block.
    pub fn into_block(self) -> Block {
        self.block
    }
}

impl From<Block> for ConsensusBlock {
    fn from(block: Block) -> Self {
        Self::new(block)
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        // Blocks never exceed MAX_BLOCK_SIZE (4 MiB), which fits a u32.
        UInt(self.encoded.len() as u32).write(buf);
        buf.put_slice(&self.encoded);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        UInt(self.encoded.len() as u32).encode_size() + self.encoded.len()
    }
}

impl Read for ConsensusBlock {
    type Cfg = ();

    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len = u32::from(UInt::<u32>::read(buf)?) as usize;
        if len > MAX_BLOCK_SIZE {
            return Err(CodecError::InvalidLength(len));
        }
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let bytes = buf.copy_to_bytes(len);
        let block = Block::decode_network(&bytes).map_err(|e| match e {
            plexus_primitives::CodecError::UnknownTag { type_name, tag } => {
                warn_unknown_tag("block", type_name, tag);
                CodecError::Invalid("ConsensusBlock", "holds a kind this build does not know")
            }
            _ => CodecError::Invalid("ConsensusBlock", "malformed block"),
        })?;
        // The digest is the header's hash, and marshal checks a fetched block against
        // nothing more: without this, a peer could serve a certified header with other
        // transactions, which this node would store as finalized and fail to replay.
        if !block.has_valid_transactions_root() {
            return Err(CodecError::Invalid(
                "ConsensusBlock",
                "transactions do not match the header's root",
            ));
        }
        Ok(Self {
            digest: to_digest(block.header.hash()),
            encoded: bytes.to_vec(),
            block,
        })
    }
}

/// How long after one warning about an unknown tag the next may be logged: a peer
/// that keeps sending such blocks must not flood the log.
const UNKNOWN_TAG_WARNING_EVERY: Duration = Duration::from_secs(600);

/// Says, at most once per [`UNKNOWN_TAG_WARNING_EVERY`], that this build cannot read a
/// `what` (a block, from a peer or the archive, or a peer's transaction) because of an
/// enum tag it does not know. After an upgrade that adds a call, that is how an old node
/// meets the first transaction and block using it: without the warning it would only
/// stop following the chain.
pub(crate) fn warn_unknown_tag(what: &'static str, type_name: &'static str, tag: u8) {
    // One clock per kind of thing, so that a flood of one cannot hide the other.
    static LAST: Mutex<Vec<(&str, Option<Instant>)>> = Mutex::new(Vec::new());
    let mut all = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    let index = all.iter().position(|(w, _)| *w == what).unwrap_or_else(|| {
        all.push((what, None));
        all.len() - 1
    });
    if due(&mut all[index].1, Instant::now(), UNKNOWN_TAG_WARNING_EVERY) {
        tracing::warn!(
            "a {what} holds {type_name} tag {tag}, which this build (plexus {}) does not \
             know: if the network has upgraded, this node cannot follow the chain until it \
             runs the network's build; otherwise the {what} is malformed",
            env!("CARGO_PKG_VERSION")
        );
    }
}

/// Whether something last done at `last` may be done again at `now`, at most once per
/// `every`; records `now` when it may.
fn due(last: &mut Option<Instant>, now: Instant, every: Duration) -> bool {
    if last.is_some_and(|t| now.saturating_duration_since(t) < every) {
        return false;
    }
    *last = Some(now);
    true
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.block.header.height.0)
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        to_digest(self.block.header.parent)
    }
}

impl BoundedBlock for ConsensusBlock {
    fn max_encode_size(_: &()) -> usize {
        MAX_U32_VARINT_SIZE + MAX_BLOCK_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Copying, DecodeExt as _, Encode as _};
    use commonware_consensus::Block as _;

    fn sample(height: u64) -> ConsensusBlock {
        ConsensusBlock::new(Block {
            header: BlockHeader {
                chain_id: ChainId::new("plexus-test").unwrap(),
                height: BlockHeight(height),
                parent: Hash::of(b"parent"),
                state_root: Hash::of(b"state"),
                transactions_root: transactions_root(&[]),
                proposer: AccountId([7; 32]),
                view: 3,
            },
            transactions: Vec::new(),
        })
    }

    #[test]
    fn digest_is_the_header_hash_and_parent_links() {
        let b = sample(5);
        assert_eq!(from_digest(&b.digest()), b.block().hash());
        assert_eq!(b.parent(), to_digest(Hash::of(b"parent")));
        assert_eq!(b.height(), Height::new(5));
    }

    #[test]
    fn round_trips_and_is_self_delimiting() {
        let b = sample(9);
        let mut bytes = b.encode().to_vec();
        assert_eq!(bytes.len(), b.encode_size());
        assert_eq!(
            ConsensusBlock::decode(Copying(bytes.as_slice())).unwrap(),
            b
        );
        // Trailing data stays in the buffer for the next reader.
        bytes.push(0xff);
        let mut buf = Copying(bytes.as_slice());
        assert_eq!(ConsensusBlock::read(&mut buf).unwrap(), b);
        assert_eq!(buf.0, &[0xff]);
    }

    #[test]
    fn a_block_with_an_unknown_call_tag_is_refused_as_such() {
        let keypair = plexus_primitives::Keypair::from_seed([3; 32]);
        let call = plexus_primitives::Call::SetSubnetWork {
            netuid: plexus_primitives::NetUid(1),
            work: plexus_primitives::Work::Embeddings,
        };
        let tx = plexus_primitives::Transaction {
            chain_id: ChainId::new("plexus-test").unwrap(),
            signer: keypair.account_id(),
            nonce: 0,
            fee: plexus_primitives::Balance::ZERO,
            call: call.clone(),
        }
        .sign(&keypair);
        let mut block = sample(2).into_block();
        block.transactions = vec![tx];
        block.header.transactions_root = transactions_root(&block.transactions);
        let mut bytes = ConsensusBlock::new(block).encode().to_vec();
        assert!(ConsensusBlock::decode(Copying(bytes.as_slice())).is_ok());

        // The call's tag, as a build that does not know the call would read it.
        let call_bytes = call.encode();
        let at = bytes
            .windows(call_bytes.len())
            .position(|w| w == call_bytes.as_slice())
            .unwrap();
        bytes[at] = 200;
        match ConsensusBlock::decode(Copying(bytes.as_slice())) {
            Err(CodecError::Invalid(_, reason)) => {
                assert_eq!(reason, "holds a kind this build does not know")
            }
            other => panic!("expected an unknown-kind refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_header_with_other_transactions_is_refused() {
        let keypair = plexus_primitives::Keypair::from_seed([4; 32]);
        let transfer = |nonce| {
            plexus_primitives::Transaction {
                chain_id: ChainId::new("plexus-test").unwrap(),
                signer: keypair.account_id(),
                nonce,
                fee: plexus_primitives::Balance::ZERO,
                call: plexus_primitives::Call::Transfer {
                    to: AccountId([9; 32]),
                    amount: plexus_primitives::Balance::from_rao(5),
                },
            }
            .sign(&keypair)
        };
        let mut block = sample(3).into_block();
        block.transactions = vec![transfer(0)];
        block.header.transactions_root = transactions_root(&block.transactions);
        let real = ConsensusBlock::new(block.clone());
        assert_eq!(
            ConsensusBlock::decode(Copying(real.encode().as_ref())).unwrap(),
            real
        );
        // The same header (so the same digest) over another body.
        block.transactions = vec![transfer(1)];
        let forged = ConsensusBlock::new(block);
        assert_eq!(forged.digest(), real.digest());
        match ConsensusBlock::decode(Copying(forged.encode().as_ref())) {
            Err(CodecError::Invalid(_, reason)) => {
                assert_eq!(reason, "transactions do not match the header's root")
            }
            other => panic!("expected the forged body refused, got {other:?}"),
        }
    }

    #[test]
    fn unknown_tag_warnings_are_spaced_out() {
        let every = Duration::from_secs(600);
        let start = Instant::now();
        let mut last = None;
        assert!(due(&mut last, start, every));
        assert!(!due(&mut last, start + Duration::from_secs(599), every));
        assert!(due(&mut last, start + every, every));
        assert!(!due(
            &mut last,
            start + every + Duration::from_secs(1),
            every
        ));
    }

    #[test]
    fn rejects_oversized_truncated_and_garbage() {
        let mut huge = Vec::new();
        UInt((MAX_BLOCK_SIZE + 1) as u32).write(&mut huge);
        assert!(ConsensusBlock::decode(Copying(huge.as_slice())).is_err());
        let b = sample(1).encode().to_vec();
        assert!(ConsensusBlock::decode(Copying(&b[..b.len() - 1])).is_err());
        let mut garbage = Vec::new();
        UInt(3u32).write(&mut garbage);
        garbage.extend_from_slice(&[1, 2, 3]);
        assert!(ConsensusBlock::decode(Copying(garbage.as_slice())).is_err());
    }
}
