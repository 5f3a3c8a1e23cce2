//! A miner reading an upstream server's completion stream never panics on arbitrary
//! bytes arriving in arbitrary pieces, and any answer it takes keeps within the request:
//! no more text than its tokens carry, passed on exactly as it was read, and ending with
//! the first stop string exactly when one appears.
//!
//! Input: a byte for `max_tokens` (1 to 64), a byte for the piece size, a byte for the
//! number of stop strings (0 to 4), each stop string as a length byte (1 to 64) and its
//! bytes, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_subnets::text::{ChatMessage, ChatRequest, FinishReason, MAX_TOKEN_BYTES, first_stop};
use plexus_subnets::upstream::UpstreamStream;

mod common;
use common::stops;

fuzz_target!(|data: &[u8]| {
    let [max_tokens, piece, rest @ ..] = data else {
        return;
    };
    let Some((stop, stream)) = stops(rest) else {
        return;
    };
    let request = ChatRequest {
        stream: true,
        stop,
        ..ChatRequest::chat(vec![ChatMessage::user("hi")], 1 + u32::from(*max_tokens % 64))
    };
    if request.validate().is_err() {
        return;
    }
    let mut reading = UpstreamStream::new("m", &request);
    let mut passed_on = String::new();
    let mut stopped = None;
    for bytes in stream.chunks(usize::from(*piece).max(1)) {
        match reading.push(bytes, |text| passed_on.push_str(&text)) {
            Ok(None) => {}
            Ok(Some(answer)) => {
                stopped = Some(answer);
                break;
            }
            Err(_) => return,
        }
    }
    let answer = match stopped {
        Some(answer) => {
            // Cut right after the first stop string.
            assert_eq!(answer.finish_reason, FinishReason::Stop);
            let stop = first_stop(&answer.text, &request.stop).expect("stopped on no stop");
            assert_eq!(stop.end, answer.text.len(), "text goes on past the stop string");
            answer
        }
        None => match reading.finish() {
            Ok(answer) => {
                assert!(first_stop(&answer.text, &request.stop).is_none(), "a stop missed");
                answer
            }
            Err(_) => return,
        },
    };
    assert_eq!(answer.text, passed_on, "the answer is what was passed on");
    assert!(answer.text.len() <= request.max_tokens as usize * MAX_TOKEN_BYTES);
});
