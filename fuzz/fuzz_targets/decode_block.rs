//! Network block decoding never panics, and whatever decodes is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::{Block, Encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode_network(data) {
        assert_eq!(block.encode(), data, "re-encoding differs from the input");
        let _ = block.has_valid_transactions_root();
    }
});
