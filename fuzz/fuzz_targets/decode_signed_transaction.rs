//! Network transaction decoding never panics, and whatever decodes is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::{Encode, SignedTransaction};

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode_network(data) {
        assert_eq!(tx.encode(), data, "re-encoding differs from the input");
        // Hashing and verifying a decoded transaction must not panic either.
        let _ = tx.hash();
        let _ = tx.verify();
    }
});
