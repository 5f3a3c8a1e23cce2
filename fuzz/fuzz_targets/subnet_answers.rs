//! Miners' answers as validators and gateways read them (a whole text answer, a stream of
//! text events, a set of embeddings) never panic the reader, and whatever is accepted
//! keeps within what was asked: no more tokens than `max_tokens`, no more text than they
//! carry, log-probabilities that are finite and not above zero, and one vector of the
//! model's dimension per text. A stream taken token by token is then held to the whole
//! answer's checks, which can refuse it only for log-probabilities given for some tokens
//! and not others.
//!
//! Input: a byte for `max_tokens` (1 to 64, small so the bounds are reached), a byte for
//! which answer, then JSON: one document, or one event per line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_subnets::embed::{EmbedAnswer, EmbedRequest};
use plexus_subnets::text::{
    ChatAnswer, ChatMessage, ChatRequest, MAX_TOKEN_BYTES, StreamEnd, StreamEvent,
};

/// The embedded embedding model's dimension.
const DIMENSION: usize = 384;

fn within(answer: &ChatAnswer, request: &ChatRequest) {
    let most = request.max_tokens as usize;
    assert!(answer.tokens.len() <= most, "more tokens than asked for");
    assert!(answer.text.len() <= most * MAX_TOKEN_BYTES, "more text than asked for");
    assert!(answer.logprobs.len() <= answer.tokens.len());
    assert!(answer.logprobs.iter().all(|l| l.is_finite() && *l <= 1e-4));
}

fn streamed(json: &[u8], request: &ChatRequest) {
    let mut answer = ChatAnswer::receiving("");
    for line in json.split(|&b| b == b'\n') {
        match serde_json::from_slice::<StreamEvent>(line) {
            Ok(StreamEvent::Token(chunk)) => {
                if answer.push(&chunk, request).is_err() {
                    return;
                }
                within(&answer, request);
            }
            Ok(StreamEvent::End(StreamEnd { model, prompt_tokens, finish_reason })) => {
                let whole = ChatAnswer { model, prompt_tokens, finish_reason, ..answer };
                if whole.fits(request).is_err() {
                    assert!(!whole.logprobs.is_empty() && whole.logprobs.len() != whole.tokens.len());
                }
                return;
            }
            Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [max_tokens, which, json @ ..] = data else {
        return;
    };
    let request = ChatRequest::chat(vec![ChatMessage::user("hi")], 1 + u32::from(*max_tokens % 64));
    match which % 3 {
        0 => {
            let Ok(answer) = serde_json::from_slice::<ChatAnswer>(json) else {
                return;
            };
            if answer.fits(&request).is_ok() {
                within(&answer, &request);
                assert!(answer.logprobs.is_empty() || answer.logprobs.len() == answer.tokens.len());
            }
        }
        1 => streamed(json, &request),
        _ => {
            let texts = 1 + usize::from(*max_tokens % 4);
            let request = EmbedRequest {
                input: vec!["text".to_owned(); texts],
            };
            let Ok(answer) = serde_json::from_slice::<EmbedAnswer>(json) else {
                return;
            };
            if answer.fits(&request, DIMENSION).is_ok() {
                assert_eq!(answer.embeddings.len(), texts);
                for vector in &answer.embeddings {
                    assert_eq!(vector.len(), DIMENSION);
                    assert!(vector.iter().all(|x| x.is_finite()));
                }
            }
        }
    }
});
