//! A consumer's request to the gateway, from its body's bytes to what miners are sent,
//! never panics; whatever the gateway accepts, a miner accepts too, and reaches it intact
//! through the wire's JSON.
//!
//! Input: a byte for the endpoint (chat, completion, embeddings), then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plexus_gateway::call::parse;
use plexus_gateway::openai::{ChatCompletionRequest, CompletionRequest, EmbeddingRequest};
use plexus_subnets::embed::EmbedRequest;
use plexus_subnets::text::ChatRequest;

fuzz_target!(|data: &[u8]| {
    let [endpoint, body @ ..] = data else {
        return;
    };
    let chat = match endpoint % 3 {
        0 => parse::<ChatCompletionRequest>(body).and_then(ChatCompletionRequest::into_call),
        1 => parse::<CompletionRequest>(body).and_then(CompletionRequest::into_call),
        _ => {
            if let Ok(call) = parse::<EmbeddingRequest>(body).and_then(|r| r.into_call()) {
                call.embed.validate().expect("a miner takes what the gateway takes");
                let sent = serde_json::to_vec(&call.embed).unwrap();
                let read: EmbedRequest = serde_json::from_slice(&sent).unwrap();
                assert_eq!(read, call.embed);
            }
            return;
        }
    };
    if let Ok(call) = chat {
        call.chat.validate().expect("a miner takes what the gateway takes");
        let sent = serde_json::to_vec(&call.chat).unwrap();
        let read: ChatRequest = serde_json::from_slice(&sent).unwrap();
        assert_eq!(read, call.chat);
    }
});
