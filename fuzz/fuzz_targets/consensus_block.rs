//! The p2p block framing (a length, then a block as the network sends it) never panics
//! on arbitrary bytes, and whatever decodes is canonical: the block re-encodes to exactly
//! the bytes it was read from, the framing to the bytes it used, and its digest is the
//! hash of the header it holds.
#![no_main]

use commonware_codec::{Copying, Encode as _, Read as _};
use libfuzzer_sys::fuzz_target;
use plexus_node::block::ConsensusBlock;
use plexus_primitives::Encode as _;

fuzz_target!(|data: &[u8]| {
    let mut input = Copying(data);
    if let Ok(block) = ConsensusBlock::read_cfg(&mut input, &()) {
        let used = data.len() - input.0.len();
        assert_eq!(block.block().encode(), block.encoded(), "a non-canonical block");
        assert_eq!(block.encode().as_ref(), &data[..used], "a non-canonical framing");
        assert_eq!(block.hash(), block.block().header.hash(), "digest and header differ");
    }
});
