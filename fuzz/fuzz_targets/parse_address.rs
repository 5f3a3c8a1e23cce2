//! Address parsing never panics, and only the canonical string of an account parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::AccountId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(account) = text.parse::<AccountId>() {
        assert_eq!(account.to_string(), text, "address is not canonical");
    }
});
