//! The p2p block framing (a length, then a block as the network sends it) never panics
//! on arbitrary bytes; whatever decodes re-encodes to the bytes it was read from, and its
//! digest is its header's hash.
#![no_main]

use commonware_codec::{Copying, Encode as _, Read as _};
use commonware_cryptography::Digestible as _;
use libfuzzer_sys::fuzz_target;
use plexus_node::block::{ConsensusBlock, from_digest};

fuzz_target!(|data: &[u8]| {
    let mut input = Copying(data);
    if let Ok(block) = ConsensusBlock::read_cfg(&mut input, &()) {
        let used = data.len() - input.0.len();
        assert_eq!(block.encode().as_ref(), &data[..used], "re-encoding differs");
        assert_eq!(from_digest(&block.digest()), block.hash());
    }
});
