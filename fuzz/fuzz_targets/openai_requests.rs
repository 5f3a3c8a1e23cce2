//! A consumer's request to the gateway, from its body's bytes to what miners are sent,
//! never panics; whatever the gateway accepts says what the body asked (the budget, the
//! stream, the stop strings; an embedding request's texts, in chunks miners take), and
//! reaches a miner intact through the wire's JSON.
//!
//! Input: a byte for the endpoint (chat, completion, embeddings), then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_gateway::call::{EMBED_CHUNK_TEXTS, TextCall, parse};
use plexus_gateway::openai::{
    ChatCompletionRequest, CompletionRequest, DEFAULT_MAX_TOKENS, EmbeddingRequest,
};
use plexus_subnets::embed::EmbedRequest;
use plexus_subnets::text::ChatRequest;
use serde_json::Value;

/// Checks that `call` says what `body` asked, and crosses the wire intact.
fn asked(call: &TextCall, body: &Value, budget: Option<&Value>) {
    let stream = body["stream"].as_bool().unwrap_or(false);
    assert_eq!(call.chat.stream, stream);
    let budget = budget.and_then(Value::as_u64).unwrap_or(u64::from(DEFAULT_MAX_TOKENS));
    assert_eq!(u64::from(call.chat.max_tokens), budget);
    let stops = match &body["stop"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
        _ => Vec::new(),
    };
    assert_eq!(call.chat.stop, stops);
    assert!(stream || !call.delivery.include_usage, "usage chunk without a stream");
    let sent = serde_json::to_vec(&call.chat).unwrap();
    let read: ChatRequest = serde_json::from_slice(&sent).unwrap();
    assert_eq!(read, call.chat);
}

fuzz_target!(|data: &[u8]| {
    let [endpoint, body @ ..] = data else {
        return;
    };
    match endpoint % 3 {
        0 => {
            let Ok(call) = parse::<ChatCompletionRequest>(body).and_then(|r| r.into_call()) else {
                return;
            };
            // Fields the request ignores are skipped unchecked (a bad escape in one passes).
            let Ok(value) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            let budget = match &value["max_completion_tokens"] {
                Value::Null => value.get("max_tokens"),
                newer => Some(newer),
            };
            asked(&call, &value, budget);
        }
        1 => {
            let Ok(call) = parse::<CompletionRequest>(body).and_then(|r| r.into_call()) else {
                return;
            };
            // Fields the request ignores are skipped unchecked (a bad escape in one passes).
            let Ok(value) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            asked(&call, &value, value.get("max_tokens"));
            assert_eq!(call.delivery.echo.is_some(), value["echo"].as_bool() == Some(true));
        }
        _ => {
            let Ok(call) = parse::<EmbeddingRequest>(body).and_then(|r| r.into_call()) else {
                return;
            };
            // Fields the request ignores are skipped unchecked (a bad escape in one passes).
            let Ok(value) = serde_json::from_slice::<Value>(body) else {
                return;
            };
            let texts = match &value["input"] {
                Value::String(_) => 1,
                input => input.as_array().map_or(0, Vec::len),
            };
            let asked: usize = call.chunks.iter().map(|c| c.input.len()).sum();
            assert_eq!(asked, texts);
            assert_eq!(call.base64, value["encoding_format"] == "base64");
            for chunk in &call.chunks {
                assert!(chunk.input.len() <= EMBED_CHUNK_TEXTS);
                let sent = serde_json::to_vec(chunk).unwrap();
                let read: EmbedRequest = serde_json::from_slice(&sent).unwrap();
                assert_eq!(&read, chunk);
            }
        }
    }
});
