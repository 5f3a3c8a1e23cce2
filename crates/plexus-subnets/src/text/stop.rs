//! Stop strings: text a request names to end its answer at.
//!
//! A miner stops generating at the token that completes the first stop string and sends
//! the answer through that token, so a validator can recompute every token it sent (a
//! backend that sends text alone cuts it where the stop string ends); the consumer sees
//! the text cut where that stop string begins (the gateway cuts it).
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
    stop_after(text, stops, 0)
}

/// [`first_stop`] for text that grows piece by piece: no stop string ended within its
/// first `from` bytes, so only the tail where one may end is searched (stop strings being
/// at most [`MAX_STOP_BYTES`] long), not the whole text again.
pub fn stop_after(text: &str, stops: &[String], from: usize) -> Option<Range<usize>> {
    let mut start = from
        .min(text.len())
        .saturating_sub(MAX_STOP_BYTES.saturating_sub(1));
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let tail = text.get(start..)?;
    stops
        .iter()
        .filter_map(|stop| tail.find(stop.as_str()).map(|at| (at + stop.len(), at)))
        .min()
        .map(|(end, at)| start + at..start + end)
}

/// A request's stop strings out of bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    /// More than [`MAX_STOPS`].
    #[error("stop has {0} strings; at most {MAX_STOPS} are allowed")]
    TooMany(usize),
    /// An empty one, which would match before the first character and end every answer.
    #[error("stop strings must not be empty")]
    Empty,
    /// One over [`MAX_STOP_BYTES`].
    #[error("a stop string has {0} bytes; at most {MAX_STOP_BYTES} are allowed")]
    TooLong(usize),
}

/// Checks a request's stop strings against the bounds.
pub fn check_stops(stops: &[String]) -> Result<(), StopError> {
    if stops.len() > MAX_STOPS {
        return Err(StopError::TooMany(stops.len()));
    }
    if stops.iter().any(String::is_empty) {
        return Err(StopError::Empty);
    }
    match stops.iter().find(|s| s.len() > MAX_STOP_BYTES) {
        Some(long) => Err(StopError::TooLong(long.len())),
        None => Ok(()),
    }
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
    fn growing_text_is_searched_in_its_tail_alike() {
        let text = "Grüße aus Köln. The END is near, END.";
        for s in [&["END"][..], &["ö", "near"], &["Köln. The"], &["x"]] {
            let whole = first_stop(text, &stops(s));
            // Every point the text could have grown from, with no stop ended before it.
            for from in 0..=text.len() {
                if whole.as_ref().is_some_and(|w| w.end <= from) {
                    continue;
                }
                assert_eq!(
                    stop_after(text, &stops(s), from),
                    whole,
                    "{s:?} from {from}"
                );
            }
        }
    }

    #[test]
    fn bounds_are_checked() {
        assert_eq!(check_stops(&stops(&[".", "\n", "END", "x"])), Ok(()));
        assert_eq!(
            check_stops(&stops(&["a", "b", "c", "d", "e"])),
            Err(StopError::TooMany(5))
        );
        assert_eq!(check_stops(&stops(&[""])), Err(StopError::Empty));
        assert_eq!(
            check_stops(&["y".repeat(MAX_STOP_BYTES + 1)]),
            Err(StopError::TooLong(MAX_STOP_BYTES + 1))
        );
        assert_eq!(check_stops(&["y".repeat(MAX_STOP_BYTES)]), Ok(()));
    }
}
