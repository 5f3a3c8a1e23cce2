//! What text miners and their callers say to each other on the wire.
//!
//! A request in (a chat, or plain text to continue), a completion out: the text with the
//! token ids and log-probabilities the model gave each token, so a validator can
//! recompute them. Streaming answers send one [`TokenChunk`] per token and end with a
//! [`StreamEnd`].

pub use plexus_models::{ChatMessage, Prompt, Role};
use serde::{Deserialize, Serialize};

use super::stop::check_stops;

/// The route text miners serve.
pub const CHAT_ROUTE: &str = "chat";

/// Most messages in one request.
pub const MAX_MESSAGES: usize = 64;

/// Most bytes of message content, or of a plain prompt, in one request.
pub const MAX_PROMPT_BYTES: usize = 32 * 1024;

/// The axon version from which text miners take plain text to continue.
pub const PLAIN_TEXT_AXON_VERSION: u32 = 2;

/// Most tokens a request may ask for.
pub const MAX_COMPLETION_TOKENS: u32 = 1024;

/// Most bytes of text an answer may carry per token asked for; more means the miner is
/// padding its answer. Above the longest token of the embedded model's vocabulary (81
/// bytes, a newline and 80 spaces), so even a one-token answer of it fits.
pub const MAX_TOKEN_BYTES: usize = 128;

/// How far above zero a log-probability may be and still pass as one: rounding's worth.
const LOGPROB_ROUNDING: f32 = 1e-4;

/// A request for a completion: of a chat (`messages`), or of plain text (`prompt`,
/// continued as it stands, without the chat template). Exactly one of the two is given.
/// Decoding is greedy, so any honest miner running the subnet's model gives the same
/// tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far; empty when `prompt` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<ChatMessage>,
    /// Plain text to continue, instead of a conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Answer as server-sent events, one per token.
    #[serde(default)]
    pub stream: bool,
    /// Text to stop at: the answer ends with the token that completes the first of them
    /// to appear ([`first_stop`](super::first_stop)), with [`FinishReason::Stop`]; text
    /// from a backend that cannot tell tokens ends where that stop string ends. At most
    /// [`MAX_STOPS`](super::MAX_STOPS), each 1 to [`MAX_STOP_BYTES`](super::MAX_STOP_BYTES)
    /// bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl ChatRequest {
    /// A request to answer `messages` with at most `max_tokens` tokens, whole, with no
    /// stop strings.
    pub fn chat(messages: Vec<ChatMessage>, max_tokens: u32) -> Self {
        Self {
            messages,
            prompt: None,
            max_tokens,
            stream: false,
            stop: Vec::new(),
        }
    }

    /// A request to continue the plain text `prompt` with at most `max_tokens` tokens,
    /// whole, with no stop strings.
    pub fn text(prompt: impl Into<String>, max_tokens: u32) -> Self {
        Self {
            prompt: Some(prompt.into()),
            ..Self::chat(Vec::new(), max_tokens)
        }
    }

    /// The least axon version a miner must announce to take this request: an older
    /// miner refuses plain text (it requires `messages`).
    pub fn axon_version(&self) -> u32 {
        match self.prompt {
            Some(_) => PLAIN_TEXT_AXON_VERSION,
            None => 0,
        }
    }

    /// What the model answers: the plain text, or else the conversation.
    pub fn input(&self) -> Prompt<'_> {
        match &self.prompt {
            Some(text) => Prompt::Text(text),
            None => Prompt::Chat(&self.messages),
        }
    }

    /// Checks the request's bounds; the error says which was broken.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.prompt, self.messages.is_empty()) {
            (Some(_), false) => return Err("give messages or a prompt, not both".into()),
            (None, true) => return Err("messages must not be empty".into()),
            (Some(prompt), true) if prompt.is_empty() => {
                return Err("prompt must not be empty".into());
            }
            (Some(prompt), true) if prompt.len() > MAX_PROMPT_BYTES => {
                return Err(format!("prompt exceeds {MAX_PROMPT_BYTES} bytes"));
            }
            _ => {}
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(format!("at most {MAX_MESSAGES} messages"));
        }
        let bytes: usize = self.messages.iter().map(|m| m.content.len()).sum();
        if bytes > MAX_PROMPT_BYTES {
            return Err(format!("messages exceed {MAX_PROMPT_BYTES} bytes"));
        }
        if self.max_tokens == 0 || self.max_tokens > MAX_COMPLETION_TOKENS {
            return Err(format!("max_tokens must be 1 to {MAX_COMPLETION_TOKENS}"));
        }
        check_stops(&self.stop).map_err(|e| e.to_string())
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn, or a stop string ended the answer.
    Stop,
    /// `max_tokens` was reached.
    Length,
}

/// A whole completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatAnswer {
    /// The model that produced it.
    pub model: String,
    /// The completion's text.
    pub text: String,
    /// Its token ids; empty when the backend cannot tell (an upstream server), in which
    /// case verifiers tokenize `text`.
    pub tokens: Vec<u32>,
    /// The log-probability of each token, as the miner computed it.
    pub logprobs: Vec<f32>,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: u32,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

impl ChatAnswer {
    /// An answer to fill token by token from a stream ([`push`](Self::push)), until its
    /// end says how it ended.
    pub fn receiving(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            text: String::new(),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: 0,
            finish_reason: FinishReason::Length,
        }
    }

    /// Checks that the answer keeps within what `request` allows, before any work is
    /// spent on it (decoding, scoring, relaying): at most `max_tokens` tokens and
    /// [`MAX_TOKEN_BYTES`] of text per token asked for, and a log-probability for every
    /// token or for none, each finite and not above zero. The error says what is wrong.
    pub fn fits(&self, request: &ChatRequest) -> Result<(), String> {
        self.within(request)?;
        if !self.logprobs.is_empty() && self.logprobs.len() != self.tokens.len() {
            return Err(format!(
                "{} log-probabilities for {} tokens",
                self.logprobs.len(),
                self.tokens.len()
            ));
        }
        self.logprobs.iter().try_for_each(|l| check_logprob(*l))
    }

    /// Adds one streamed token, refusing one that takes the answer past what `request`
    /// allows (see [`fits`](Self::fits), which the whole answer must still pass).
    pub fn push(&mut self, chunk: &TokenChunk, request: &ChatRequest) -> Result<(), String> {
        if let Some(logprob) = chunk.logprob {
            if chunk.token.is_none() {
                return Err("a log-probability without its token".into());
            }
            check_logprob(logprob)?;
        }
        self.text.push_str(&chunk.text);
        self.tokens.extend(chunk.token);
        self.logprobs.extend(chunk.logprob);
        self.within(request)
    }

    fn within(&self, request: &ChatRequest) -> Result<(), String> {
        let most_tokens = request.max_tokens as usize;
        let most_bytes = most_tokens.saturating_mul(MAX_TOKEN_BYTES);
        if self.tokens.len() > most_tokens {
            return Err(format!("more than the {most_tokens} tokens asked for"));
        }
        if self.text.len() > most_bytes {
            return Err(format!(
                "more text than {most_tokens} tokens carry ({most_bytes} bytes)"
            ));
        }
        Ok(())
    }
}

fn check_logprob(logprob: f32) -> Result<(), String> {
    match logprob.is_finite() && logprob <= LOGPROB_ROUNDING {
        true => Ok(()),
        false => Err(format!("{logprob} is not a log-probability")),
    }
}

/// One token of a streamed completion (or, from a backend that cannot tell tokens, a
/// piece of text without id or log-probability).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenChunk {
    /// The token id.
    pub token: Option<u32>,
    /// Its text.
    pub text: String,
    /// Its log-probability.
    pub logprob: Option<f32>,
}

/// The last event of a streamed completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// The model that produced it.
    pub model: String,
    /// Tokens in the rendered prompt.
    pub prompt_tokens: u32,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// A streamed event: a token or the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamEvent {
    /// A token.
    Token(TokenChunk),
    /// The end.
    End(StreamEnd),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Vec<ChatMessage>, max_tokens: u32) -> ChatRequest {
        ChatRequest::chat(messages, max_tokens)
    }

    fn piece(token: Option<u32>, text: &str, logprob: Option<f32>) -> TokenChunk {
        TokenChunk {
            token,
            text: text.into(),
            logprob,
        }
    }

    #[test]
    fn an_answer_past_what_was_asked_is_refused_before_any_work() {
        let asked = request(vec![ChatMessage::user("hi")], 2);
        let mut answer = ChatAnswer::receiving("m");
        assert_eq!(
            answer.push(&piece(Some(1), "a", Some(-0.5)), &asked),
            Ok(())
        );
        assert_eq!(answer.push(&piece(Some(2), "b", Some(0.0)), &asked), Ok(()));
        assert_eq!(answer.fits(&asked), Ok(()));
        assert!(
            answer.push(&piece(Some(3), "c", None), &asked).is_err(),
            "3 > 2"
        );

        // Text beyond what the tokens asked for could carry, from a text-only backend.
        let mut padded = ChatAnswer::receiving("m");
        let long = "x".repeat(2 * MAX_TOKEN_BYTES + 1);
        assert!(padded.push(&piece(None, &long, None), &asked).is_err());

        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5] {
            let mut answer = ChatAnswer::receiving("m");
            assert!(
                answer
                    .push(&piece(Some(1), "a", Some(bad)), &asked)
                    .is_err()
            );
            let whole = ChatAnswer {
                tokens: vec![1],
                logprobs: vec![bad],
                ..ChatAnswer::receiving("m")
            };
            assert!(whole.fits(&asked).is_err(), "{bad}");
        }
        let mut orphan = ChatAnswer::receiving("m");
        assert!(orphan.push(&piece(None, "a", Some(-0.1)), &asked).is_err());
        let uneven = ChatAnswer {
            tokens: vec![1, 2],
            logprobs: vec![-0.1],
            ..ChatAnswer::receiving("m")
        };
        assert!(uneven.fits(&asked).is_err());
        let too_long = ChatAnswer {
            tokens: vec![1, 2, 3],
            ..ChatAnswer::receiving("m")
        };
        assert!(too_long.fits(&asked).is_err());
    }

    #[test]
    fn bounds_are_checked() {
        let hi = vec![ChatMessage::user("hi")];
        assert_eq!(request(hi.clone(), 8).validate(), Ok(()));
        assert!(request(Vec::new(), 8).validate().is_err());
        assert!(request(hi.clone(), 0).validate().is_err());
        assert!(request(hi, MAX_COMPLETION_TOKENS + 1).validate().is_err());
        let big = vec![ChatMessage::user("x".repeat(MAX_PROMPT_BYTES + 1))];
        assert!(request(big, 8).validate().is_err());
        let mut stops = request(vec![ChatMessage::user("hi")], 8);
        stops.stop = vec![String::new()];
        assert!(stops.validate().is_err());
    }

    #[test]
    fn a_prompt_stands_instead_of_messages() {
        let text = ChatRequest::text("Once upon a time", 8);
        assert_eq!(text.validate(), Ok(()));
        assert_eq!(text.input(), Prompt::Text("Once upon a time"));
        let chat = request(vec![ChatMessage::user("hi")], 8);
        assert_eq!(chat.input(), Prompt::Chat(&chat.messages));

        let both = ChatRequest {
            messages: vec![ChatMessage::user("hi")],
            ..ChatRequest::text("x", 8)
        };
        assert_eq!(
            both.validate(),
            Err("give messages or a prompt, not both".into())
        );
        assert!(ChatRequest::text("", 8).validate().is_err());
        assert!(
            ChatRequest::text("x".repeat(MAX_PROMPT_BYTES + 1), 8)
                .validate()
                .is_err()
        );

        // On the wire a plain-text request has no messages, and a chat request no prompt.
        let wire = serde_json::to_value(&text).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"prompt": "Once upon a time", "max_tokens": 8, "stream": false})
        );
        let back: ChatRequest = serde_json::from_value(wire).unwrap();
        assert_eq!(back, text);
        assert!(serde_json::to_value(&chat).unwrap().get("prompt").is_none());
    }

    #[test]
    fn unknown_roles_do_not_decode() {
        let bad = r#"{"messages":[{"role":"tool","content":"x"}],"max_tokens":4}"#;
        assert!(serde_json::from_str::<ChatRequest>(bad).is_err());
        let good = r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":4}"#;
        let request: ChatRequest = serde_json::from_str(good).unwrap();
        assert_eq!(request.messages, vec![ChatMessage::user("x")]);
        assert!(!request.stream);
    }

    #[test]
    fn stream_events_tell_tokens_from_the_end() {
        let token: StreamEvent =
            serde_json::from_str(r#"{"token":5,"text":"Hi","logprob":-0.5}"#).unwrap();
        assert!(matches!(
            token,
            StreamEvent::Token(TokenChunk { token: Some(5), .. })
        ));
        let end: StreamEvent =
            serde_json::from_str(r#"{"model":"m","prompt_tokens":3,"finish_reason":"length"}"#)
                .unwrap();
        assert!(matches!(
            end,
            StreamEvent::End(StreamEnd {
                prompt_tokens: 3,
                ..
            })
        ));
    }
}
