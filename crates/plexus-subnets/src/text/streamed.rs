//! How a text validator receives a streamed answer: within a deadline, within the size it
//! asked for, timing the first token that carries something.

use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_wire::{Client, Target};

use crate::subnet::Evaluation;

use super::protocol::{CHAT_ROUTE, ChatAnswer, ChatRequest, StreamEnd, StreamEvent};

/// What the validator saw of one streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Streamed {
    pub answer: ChatAnswer,
    /// From sending the request to the first token with content.
    pub first_token: Duration,
    /// From sending the request to the signed end.
    pub elapsed: Duration,
}

/// An answer being received, event by event.
#[derive(Debug)]
struct Reception {
    answer: ChatAnswer,
    first_token: Option<Duration>,
    end: Option<StreamEnd>,
}

impl Default for Reception {
    fn default() -> Self {
        Self {
            // The model is the end's to say.
            answer: ChatAnswer::receiving(""),
            first_token: None,
            end: None,
        }
    }
}

impl Reception {
    /// Takes one event that arrived `at` after the request; the error ends the answer.
    fn push(
        &mut self,
        event: serde_json::Value,
        at: Duration,
        request: &ChatRequest,
    ) -> Result<(), String> {
        if self.end.is_some() {
            return Err("events after the end".into());
        }
        match serde_json::from_value::<StreamEvent>(event) {
            Ok(StreamEvent::Token(chunk)) => {
                // An empty piece, or one of whitespace alone, says nothing; timing from
                // it would pay a miner for sending one at once and the answer later. A
                // token id does: it is checked against the model's own first token.
                if chunk.token.is_some() || chunk.text.chars().any(|c| !c.is_whitespace()) {
                    self.first_token.get_or_insert(at);
                }
                self.answer.push(&chunk, request)
            }
            Ok(StreamEvent::End(end)) => {
                self.end = Some(end);
                Ok(())
            }
            Err(e) => Err(format!("malformed event: {e}")),
        }
    }

    /// The whole answer, once the stream ended `elapsed` after the request.
    fn finish(self, elapsed: Duration) -> Result<Streamed, String> {
        let end = self.end.ok_or("the stream ended without its final event")?;
        // An answer without content is judged (and refused) by the checks that follow.
        Ok(Streamed {
            first_token: self.first_token.unwrap_or(elapsed),
            elapsed,
            answer: ChatAnswer {
                model: end.model,
                prompt_tokens: end.prompt_tokens,
                finish_reason: end.finish_reason,
                ..self.answer
            },
        })
    }
}

/// Streams the answer to `request`, all of it within `deadline`. A miner that trickles
/// tokens or sends more than it was asked for is cut off: it would otherwise hold up the
/// whole round, or fill the validator's memory.
pub(crate) async fn ask(
    client: &Client,
    target: &Target,
    request: &ChatRequest,
    deadline: Duration,
) -> Result<Streamed, Evaluation> {
    let body = serde_json::to_vec(request).map_err(|e| Evaluation::unjudged(e.to_string()))?;
    // The miner's time starts once this validator has a lane to call it on.
    let lane = client
        .reserve()
        .await
        .map_err(|e| Evaluation::failed_call(&e))?;
    let started = Instant::now();
    let streamed = tokio::time::timeout(deadline, async {
        let mut stream = client
            .call_stream_reserved(lane, target, CHAT_ROUTE, Bytes::from(body))
            .await
            .map_err(|e| Evaluation::failed_call(&e))?;
        let mut reception = Reception::default();
        while let Some(event) = stream
            .next_chunk()
            .await
            .map_err(|e| Evaluation::failed_call(&e))?
        {
            reception
                .push(event, started.elapsed(), request)
                .map_err(Evaluation::unavailable)?;
        }
        reception
            .finish(started.elapsed())
            .map_err(Evaluation::unavailable)
    })
    .await;
    streamed.unwrap_or_else(|_| {
        Err(Evaluation::unavailable(format!(
            "no complete answer within {deadline:?}"
        )))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::text::{ChatMessage, FinishReason};

    fn request(max_tokens: u32) -> ChatRequest {
        ChatRequest {
            stream: true,
            ..ChatRequest::chat(vec![ChatMessage::user("hi")], max_tokens)
        }
    }

    fn token(id: Option<u32>, text: &str) -> serde_json::Value {
        serde_json::to_value(StreamEvent::Token(crate::text::TokenChunk {
            token: id,
            text: text.into(),
            logprob: id.map(|_| -0.5),
        }))
        .unwrap()
    }

    fn end() -> serde_json::Value {
        serde_json::to_value(StreamEvent::End(StreamEnd {
            model: "m".into(),
            prompt_tokens: 3,
            finish_reason: FinishReason::Stop,
        }))
        .unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_first_token_is_timed_from_content_not_from_an_empty_or_blank_piece() {
        let r = request(8);
        let mut reception = Reception::default();
        reception.push(token(None, ""), ms(5), &r).unwrap();
        reception.push(token(None, " "), ms(6), &r).unwrap();
        reception.push(token(None, "Par"), ms(400), &r).unwrap();
        reception.push(token(None, "is"), ms(450), &r).unwrap();
        reception.push(end(), ms(460), &r).unwrap();
        let streamed = reception.finish(ms(470)).unwrap();
        assert_eq!(streamed.first_token, ms(400));
        assert_eq!(streamed.elapsed, ms(470));
        assert_eq!(streamed.answer.text, " Paris");
        // A token id counts as content even when its text is empty (a stop token).
        let mut reception = Reception::default();
        reception.push(token(Some(2), ""), ms(7), &r).unwrap();
        reception.push(end(), ms(8), &r).unwrap();
        assert_eq!(reception.finish(ms(9)).unwrap().first_token, ms(7));
    }

    #[test]
    fn answers_are_bounded_and_well_formed() {
        let r = request(2);
        let mut reception = Reception::default();
        reception.push(token(Some(1), "a"), ms(1), &r).unwrap();
        reception.push(token(Some(1), "b"), ms(2), &r).unwrap();
        let why = reception.push(token(Some(1), "c"), ms(3), &r).unwrap_err();
        assert!(why.contains("more than the 2 tokens"), "{why}");
        // Text alone is held to 128 bytes a token.
        let mut reception = Reception::default();
        let why = reception
            .push(token(None, &"x".repeat(257)), ms(1), &r)
            .unwrap_err();
        assert!(why.contains("more text than 2 tokens carry"), "{why}");
        // Nothing after the end, and no answer without it.
        let mut reception = Reception::default();
        reception.push(end(), ms(1), &r).unwrap();
        assert!(reception.push(token(None, "late"), ms(2), &r).is_err());
        assert!(Reception::default().finish(ms(1)).is_err());
        let mut reception = Reception::default();
        assert!(reception.push(json!({"what": 1}), ms(1), &r).is_err());
    }
}
