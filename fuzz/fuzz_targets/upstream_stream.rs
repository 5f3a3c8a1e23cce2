//! A miner reading an upstream server's completion stream never panics on arbitrary
//! bytes arriving in arbitrary pieces, and any answer it takes keeps within the request:
//! no more text than its tokens carry, passed on exactly as it was read, and ending at
//! the first stop string when one appears.
//!
//! Input: a byte for `max_tokens` (1 to 64), a byte for the piece size, a stop string up
//! to the first `\n` (none when empty), then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_subnets::text::{ChatMessage, ChatRequest, FinishReason, MAX_TOKEN_BYTES, first_stop};
use plexus_subnets::upstream::UpstreamStream;

fuzz_target!(|data: &[u8]| {
    let [max_tokens, piece, rest @ ..] = data else {
        return;
    };
    let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (stop, stream) = (&rest[..newline], &rest[newline + 1..]);
    let Ok(stop) = std::str::from_utf8(stop) else {
        return;
    };
    let request = ChatRequest {
        stream: true,
        stop: if stop.is_empty() { Vec::new() } else { vec![stop.to_owned()] },
        ..ChatRequest::chat(vec![ChatMessage::user("hi")], 1 + u32::from(*max_tokens % 64))
    };
    if request.validate().is_err() {
        return;
    }
    let mut reading = UpstreamStream::new("m", &request);
    let mut passed_on = String::new();
    let mut answer = None;
    for bytes in stream.chunks(usize::from(*piece).max(1)) {
        match reading.push(bytes, |text| passed_on.push_str(&text)) {
            Ok(None) => {}
            Ok(Some(stopped)) => {
                assert_eq!(stopped.finish_reason, FinishReason::Stop);
                answer = Some(stopped);
                break;
            }
            Err(_) => return,
        }
    }
    let answer = match answer {
        Some(answer) => answer,
        None => match reading.finish() {
            Ok(answer) => answer,
            Err(_) => return,
        },
    };
    assert_eq!(answer.text, passed_on, "the answer is what was passed on");
    assert!(answer.text.len() <= request.max_tokens as usize * MAX_TOKEN_BYTES);
    if let Some(stop) = first_stop(&answer.text, &request.stop) {
        assert_eq!(stop.end, answer.text.len(), "text goes on past a stop string");
    }
});
