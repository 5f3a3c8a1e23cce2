//! The text validator: ask a short greedy question, stream the answer, recompute it with
//! the same model, and pay verified answers by speed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_models::{ClaimedToken, TextModel, Verdict as ModelVerdict, verify};
use plexus_wire::{Client, Target};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::embedded::model_error;
use super::protocol::{
    CHAT_ROUTE, ChatAnswer, ChatMessage, ChatRequest, FinishReason, StreamEvent,
};
use crate::subnet::{Evaluation, Subnet};

/// How a text validator judges.
#[derive(Debug, Clone)]
pub struct TextJudgeConfig {
    /// Tokens asked for per challenge; short keeps verification cheap.
    pub max_tokens: u32,
    /// Log-probability tolerance in nats (see `plexus_models::DEFAULT_TOLERANCE`).
    pub tolerance: f32,
    /// Tokens per second (time to first token included) worth the full speed bonus.
    pub target_tokens_per_second: f64,
}

impl Default for TextJudgeConfig {
    fn default() -> Self {
        Self {
            max_tokens: 16,
            tolerance: plexus_models::DEFAULT_TOLERANCE,
            target_tokens_per_second: 40.0,
        }
    }
}

/// The text subnet as its validators see it.
#[derive(Debug, Clone)]
pub struct TextSubnet {
    model: Arc<TextModel>,
    config: TextJudgeConfig,
}

impl TextSubnet {
    /// A judge recomputing answers with `model`.
    pub fn new(model: Arc<TextModel>, config: TextJudgeConfig) -> Self {
        Self { model, config }
    }
}

const SUBJECTS: &[&str] = &[
    "the sea",
    "a mountain",
    "bread",
    "the moon",
    "a library",
    "rain",
    "a bicycle",
    "music",
    "a garden",
    "winter",
    "a river",
    "coffee",
    "a city at night",
    "friendship",
    "the desert",
];
const WORDS: &[&str] = &[
    "bright", "quick", "ancient", "gentle", "brave", "quiet", "happy", "cold", "strong", "small",
];

/// A short question nobody can answer ahead of time.
fn question(rng: &mut StdRng) -> String {
    let subject = SUBJECTS.choose(rng).copied().unwrap_or("the sea");
    let word = WORDS.choose(rng).copied().unwrap_or("bright");
    match rng.gen_range(0..6) {
        0 => format!(
            "What is {} plus {}?",
            rng.gen_range(2..500),
            rng.gen_range(2..500)
        ),
        1 => format!("Write one sentence about {subject}."),
        2 => format!("Give a word that means the opposite of \"{word}\"."),
        3 => format!("Describe {subject} in three words."),
        4 => format!("Name something that is {word}."),
        _ => format!("Why do people like {subject}?"),
    }
}

/// What the validator saw of one streamed answer.
struct Streamed {
    answer: ChatAnswer,
    elapsed: Duration,
}

async fn ask(client: &Client, target: &Target, request: &ChatRequest) -> Result<Streamed, String> {
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut stream = client
        .call_stream(target, CHAT_ROUTE, Bytes::from(body))
        .await
        .map_err(|e| e.to_string())?;
    let (mut text, mut tokens, mut logprobs) = (String::new(), Vec::new(), Vec::new());
    let mut end = None;
    while let Some(event) = stream.next_chunk().await.map_err(|e| e.to_string())? {
        if end.is_some() {
            return Err("events after the end".into());
        }
        match serde_json::from_value::<StreamEvent>(event) {
            Ok(StreamEvent::Token(chunk)) => {
                text.push_str(&chunk.text);
                tokens.extend(chunk.token);
                logprobs.extend(chunk.logprob);
            }
            Ok(StreamEvent::End(e)) => end = Some(e),
            Err(e) => return Err(format!("malformed event: {e}")),
        }
    }
    let end = end.ok_or("the stream ended without its final event")?;
    Ok(Streamed {
        elapsed: started.elapsed(),
        answer: ChatAnswer {
            model: end.model,
            text,
            tokens,
            logprobs,
            prompt_tokens: end.prompt_tokens,
            finish_reason: end.finish_reason,
        },
    })
}

/// Checks that `answer` is what the subnet's model answers to `request` by greedy
/// decoding: tokens and text agree, the stop (or length) is honest, and every token is
/// the model's choice within `tolerance`. Runs the model: call from a blocking thread.
/// The error says what failed.
pub fn check_answer(
    model: &TextModel,
    request: &ChatRequest,
    answer: &ChatAnswer,
    tolerance: f32,
) -> Result<(), String> {
    // Backends that cannot tell tokens (upstream servers) send text alone.
    let tokens = if answer.tokens.is_empty() {
        model.tokenize(&answer.text).map_err(|e| e.to_string())?
    } else {
        let text = model
            .detokenize(&answer.tokens)
            .map_err(|e| e.to_string())?;
        // A streamed answer cut off inside a multi-byte character never sends that
        // character's first bytes as text; decoding the ids at once shows them as U+FFFD.
        if text.trim_end_matches('\u{FFFD}') != answer.text {
            return Err("the text is not what the tokens say".into());
        }
        answer.tokens.clone()
    };
    if tokens.is_empty() {
        return Err("empty answer".into());
    }
    if tokens.len() > request.max_tokens as usize {
        return Err(format!(
            "{} tokens for max_tokens {}",
            tokens.len(),
            request.max_tokens
        ));
    }
    let stopped = tokens.last().is_some_and(|t| model.is_stop(*t));
    match answer.finish_reason {
        FinishReason::Length if tokens.len() < request.max_tokens as usize && !stopped => {
            return Err("stopped early claiming the length limit".into());
        }
        FinishReason::Stop if !answer.tokens.is_empty() && !stopped => {
            return Err("claims a stop without the stop token".into());
        }
        _ => {}
    }
    let scores = model
        .score(&request.messages, &tokens)
        .map_err(|e| model_error(e).to_string())?;
    let claims: Vec<ClaimedToken> = if answer.logprobs.len() == tokens.len() {
        tokens
            .iter()
            .zip(&answer.logprobs)
            .map(|(id, logprob)| ClaimedToken {
                id: *id,
                logprob: *logprob,
            })
            .collect()
    } else if answer.logprobs.is_empty() {
        // Nothing claimed: only the greedy choice is checked.
        scores
            .iter()
            .map(|s| ClaimedToken {
                id: s.id,
                logprob: s.logprob,
            })
            .collect()
    } else {
        return Err("log-probabilities do not match the tokens".into());
    };
    match verify(&scores, &claims, tolerance) {
        ModelVerdict::Verified => Ok(()),
        ModelVerdict::Rejected { position, reason } => {
            Err(format!("token {position} is not the model's: {reason:?}"))
        }
    }
}

impl Subnet for TextSubnet {
    type Challenge = ChatRequest;

    fn name(&self) -> &str {
        "text"
    }

    fn challenge(&self, rng: &mut StdRng) -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user(question(rng))],
            max_tokens: self.config.max_tokens,
            stream: true,
        }
    }

    async fn evaluate(
        &self,
        client: &Client,
        target: &Target,
        request: &ChatRequest,
    ) -> Evaluation {
        let streamed = match ask(client, target, request).await {
            Ok(s) => s,
            Err(why) => return Evaluation::unavailable(why),
        };
        let model = Arc::clone(&self.model);
        let request = request.clone();
        let tolerance = self.config.tolerance;
        let answer = streamed.answer.clone();
        let checked =
            tokio::task::spawn_blocking(move || check_answer(&model, &request, &answer, tolerance))
                .await
                .unwrap_or_else(|e| Err(format!("verification thread: {e}")));
        if let Err(why) = checked {
            return Evaluation::wrong(why);
        }
        Evaluation::correct_at_speed(
            streamed.answer.tokens.len(),
            streamed.elapsed,
            self.config.target_tokens_per_second,
        )
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn questions_vary_and_stay_short() {
        let mut rng = StdRng::seed_from_u64(7);
        let asked: std::collections::BTreeSet<String> =
            (0..50).map(|_| question(&mut rng)).collect();
        assert!(asked.len() > 30, "only {} distinct questions", asked.len());
        assert!(asked.iter().all(|q| q.len() < 80));
    }
}
