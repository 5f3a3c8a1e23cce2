//! The gateway's cut of a streamed answer at the request's stop strings gives what the
//! whole answer's cut gives, however the stream is split: the text up to where the first
//! stop string begins, and a stop exactly when one occurs. Held-back text is never lost
//! nor sent twice.
//!
//! Input: a byte for the piece size, the stop strings (see `common::stops`), then the
//! answer's text (bytes that are not UTF-8 end the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_gateway::stop::{Step, StopFilter, cut_at};

mod common;
use common::stops;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, rest)) = data.split_first() else {
        return;
    };
    let Some((stops, text)) = stops(rest) else {
        return;
    };
    let text = match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(&text[..e.valid_up_to()]).unwrap(),
    };
    let whole = cut_at(text, &stops);
    let mut filter = StopFilter::new(stops);
    let (mut sent, mut stopped) = (String::new(), false);
    let mut rest = text;
    while !rest.is_empty() {
        // Pieces of about `piece` bytes, split at character boundaries as tokens are.
        let mut at = usize::from(piece).max(1).min(rest.len());
        while !rest.is_char_boundary(at) {
            at += 1;
        }
        let (head, tail) = rest.split_at(at);
        rest = tail;
        match filter.push(head) {
            Step::Go(text) => sent.push_str(&text),
            Step::Stop(text) => {
                sent.push_str(&text);
                stopped = true;
                break;
            }
        }
    }
    if !stopped {
        sent.push_str(&filter.finish());
    }
    assert_eq!(stopped, whole.is_some(), "stopped differently from the whole answer");
    assert_eq!(sent, &text[..whole.unwrap_or(text.len())], "cut differently");
});
