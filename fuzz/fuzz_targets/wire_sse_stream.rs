//! The server-sent-event parser never panics or grows past its limit on arbitrary bytes
//! arriving in arbitrary pieces, and end events decode or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_wire::sse::{END_EVENT, SseParser, StreamEnd, StreamHasher};

const MAX_EVENT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    // The first byte sets the piece size, so every split of the same stream is reachable.
    let Some((&piece, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);
    let mut parser = SseParser::new(MAX_EVENT);
    let mut hasher = StreamHasher::new();
    let mut events = Vec::new();
    for chunk in stream.chunks(piece) {
        if parser.push(chunk, &mut events).is_err() {
            return;
        }
        for event in events.drain(..) {
            assert!(event.data.len() <= MAX_EVENT);
            if event.event == END_EVENT {
                let _ = StreamEnd::from_json(&event.data);
            } else {
                hasher.push(&event.data);
            }
        }
    }
    let _ = parser.finish();
    let _ = hasher.finish();
});
