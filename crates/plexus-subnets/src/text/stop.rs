//! Stop strings: text a request names to end its answer at.
//!
//! A miner stops generating at the token that completes the first stop string and sends
//! the answer through that token, so a validator can recompute every token it sent; the
//! consumer sees the text cut where that stop string begins (the gateway cuts it).
//!
//! "First" is the stop string whose occurrence ends earliest (ties to the one that starts
//! earliest): that is where generation, reading token by token, meets one. It does not
//! depend on how the text is split into tokens or pieces, so miners, validators and the
//! gateway agree on it.

use std::ops::Range;

/// Most stop strings in one request (OpenAI's limit).
pub const MAX_STOPS: usize = 4;

/// Most bytes in one stop string.
pub const MAX_STOP_BYTES: usize = 64;

/// Where the first stop string occurs in `text`, if any does.
pub fn first_stop(text: &str, stops: &[String]) -> Option<Range<usize>> {
    stops
        .iter()
        .filter_map(|stop| text.find(stop.as_str()).map(|at| (at + stop.len(), at)))
        .min()
        .map(|(end, start)| start..end)
}

/// Checks a request's stop strings against the bounds; the error says which was broken.
pub fn check_stops(stops: &[String]) -> Result<(), String> {
    if stops.len() > MAX_STOPS {
        return Err(format!(
            "stop has {} strings; at most {MAX_STOPS} are allowed",
            stops.len()
        ));
    }
    // An empty stop string would match before the first character and end every answer.
    if stops.iter().any(String::is_empty) {
        return Err("stop strings must not be empty".into());
    }
    if let Some(long) = stops.iter().find(|s| s.len() > MAX_STOP_BYTES) {
        return Err(format!(
            "a stop string has {} bytes; at most {MAX_STOP_BYTES} are allowed",
            long.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stops(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_stop_that_ends_first_wins() {
        assert_eq!(first_stop("Hello world", &stops(&["o w", "d"])), Some(4..7));
        assert_eq!(first_stop("Hello", &stops(&["x"])), None);
        assert_eq!(first_stop("Hello", &[]), None);
        // As while generating: "c" is complete before "abcd" is.
        assert_eq!(first_stop("abcd", &stops(&["abcd", "c"])), Some(2..3));
        // Both end at once: the one that starts earlier.
        assert_eq!(first_stop("abcd", &stops(&["c", "bc"])), Some(1..3));
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(check_stops(&stops(&[".", "\n", "END", "x"])), Ok(()));
        assert!(check_stops(&stops(&["a", "b", "c", "d", "e"])).is_err());
        assert!(check_stops(&stops(&[""])).is_err());
        assert!(check_stops(&["y".repeat(MAX_STOP_BYTES + 1)]).is_err());
        assert_eq!(check_stops(&["y".repeat(MAX_STOP_BYTES)]), Ok(()));
    }
}
