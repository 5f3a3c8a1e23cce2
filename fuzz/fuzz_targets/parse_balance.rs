//! Amount parsing never panics; a parsed amount prints to a string that parses back to it,
//! and that printed form is exactly the input with redundant zeros removed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_primitives::{Balance, Encode, decode_exact};

/// The input with leading integer zeros and trailing fraction zeros removed.
fn normalise(text: &str) -> String {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        whole.to_owned()
    } else {
        format!("{whole}.{frac}")
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(amount) = text.parse::<Balance>() {
        let shown = amount.to_string();
        assert_eq!(
            shown.parse::<Balance>(),
            Ok(amount),
            "display does not parse back"
        );
        assert_eq!(
            shown,
            normalise(text),
            "display is not the normalised input"
        );
        assert_eq!(decode_exact::<Balance>(&amount.encode()), Ok(amount));
    }
});
