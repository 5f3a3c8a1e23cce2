//! Header decoding never panics, and whatever decodes is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::{BlockHeader, Encode, decode_exact};

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = decode_exact::<BlockHeader>(data) {
        assert_eq!(header.encode(), data, "re-encoding differs from the input");
    }
});
