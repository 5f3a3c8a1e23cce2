//! Wire header parsing never panics on arbitrary header values, and whatever parses
//! re-encodes to headers that parse to the same request.
//!
//! Input: lines separated by `\n`; each line's first byte picks the header (so duplicates
//! and absences are reachable), the rest is the value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::ChainId;
use plexus_wire::headers::{
    BODY_HASH, CALLEE, CALLER, LANE, NETUID, NONCE, SIGNATURE, header_bytes,
};
use plexus_wire::http::{HeaderMap, HeaderValue};
use plexus_wire::{RequestHeaders, ResponseHeaders};

const NAMES: [&str; 7] = [CALLER, CALLEE, NETUID, NONCE, LANE, BODY_HASH, SIGNATURE];

fuzz_target!(|data: &[u8]| {
    let mut map = HeaderMap::new();
    for line in data.split(|&b| b == b'\n').take(32) {
        let Some((&selector, value)) = line.split_first() else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(NAMES[usize::from(selector) % NAMES.len()], value);
        }
    }
    let _ = header_bytes(&map);
    let _ = ResponseHeaders::parse(&map);
    if let Ok(parsed) = RequestHeaders::parse(&map) {
        let mut again = HeaderMap::new();
        parsed.write_to(&mut again);
        assert_eq!(RequestHeaders::parse(&again).as_ref(), Ok(&parsed));
        // Verifying whatever was parsed must fail cleanly, never panic.
        if let Ok(chain) = ChainId::new("plexus-fuzz") {
            let _ = parsed.message("route").verify(&chain, &parsed.signature);
        }
    }
});
