//! Reading an OpenAI (chat) completion event stream, as an upstream server sends it.
//!
//! Pure: bytes in, text pieces and an answer out, with no clock or I/O, so the miner's
//! reading of whatever an upstream sends can be tested, and fuzzed, apart from the
//! connection that brings it.

use std::fmt;

use plexus_wire::sse::{SseEvent, SseParser};
use serde::Deserialize;

use crate::text::{ChatAnswer, ChatRequest, FinishReason, MAX_TOKEN_BYTES, stop_after};

/// Longest event an upstream may send.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why an upstream's stream was not an answer: what went wrong, and the details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// What went wrong, in a few words (`bad event stream`, `failed mid-answer`, ...).
    pub what: &'static str,
    /// The details.
    pub why: String,
}

impl StreamError {
    fn new(what: &'static str, why: impl fmt::Display) -> Self {
        Self {
            what,
            why: why.to_string(),
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.why)
    }
}

impl std::error::Error for StreamError {}

/// An upstream's completion stream being read, a piece of the body at a time
/// ([`push`](Self::push)), into the answer to one request.
///
/// The stream is held to what the request asked for: no more text than its tokens could
/// carry (what validators accept), and a bounded number of events. Its text ends where
/// the first of the request's stop strings does, even inside a piece: the upstream is
/// not told the stop strings (it would leave them out of its text, and validators must
/// see where the answer stopped). How long the stream may take is the reader's to bound.
#[derive(Debug)]
pub struct UpstreamStream<'a> {
    request: &'a ChatRequest,
    model: String,
    parser: SseParser,
    events: Vec<SseEvent>,
    text: String,
    finish: Option<String>,
    prompt_tokens: u32,
    done: bool,
    seen: usize,
    most_events: usize,
    most_bytes: usize,
}

impl<'a> UpstreamStream<'a> {
    /// A stream answering `request`, by `model`.
    pub fn new(model: impl Into<String>, request: &'a ChatRequest) -> Self {
        let asked = request.max_tokens as usize;
        Self {
            request,
            model: model.into(),
            parser: SseParser::new(MAX_EVENT_BYTES),
            events: Vec::new(),
            text: String::new(),
            finish: None,
            prompt_tokens: 0,
            done: false,
            seen: 0,
            // One event a token, and room for role, usage and empty ones.
            most_events: asked.saturating_mul(4).saturating_add(64),
            most_bytes: asked.saturating_mul(MAX_TOKEN_BYTES),
        }
    }

    /// Reads the next bytes of the stream, handing each new piece of text to `piece`.
    /// Returns the answer once a stop string ends it (nothing more need be read).
    pub fn push(
        &mut self,
        bytes: &[u8],
        mut piece: impl FnMut(String),
    ) -> Result<Option<ChatAnswer>, StreamError> {
        self.parser
            .push(bytes, &mut self.events)
            .map_err(|e| StreamError::new("bad event stream", e))?;
        let events = std::mem::take(&mut self.events);
        for event in &events {
            if let Some(answer) = self.event(&event.data, &mut piece)? {
                return Ok(Some(answer));
            }
        }
        // The buffer is kept, emptied, for the next bytes.
        self.events = events;
        self.events.clear();
        Ok(None)
    }

    fn event(
        &mut self,
        data: &[u8],
        piece: &mut impl FnMut(String),
    ) -> Result<Option<ChatAnswer>, StreamError> {
        self.seen += 1;
        if self.seen > self.most_events {
            return Err(StreamError::new("reading", "too many events"));
        }
        if self.done {
            return Err(StreamError::new("bad event stream", "events after [DONE]"));
        }
        if data == b"[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let chunk: StreamChunk =
            serde_json::from_slice(data).map_err(|e| StreamError::new("unexpected event", e))?;
        if let Some(why) = chunk.failure() {
            return Err(StreamError::new("failed mid-answer", why));
        }
        if let Some(usage) = chunk.usage {
            self.prompt_tokens = usage.prompt_tokens;
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(None);
        };
        let text = choice.delta.content.or(choice.text).unwrap_or_default();
        if let Some(answer) = self.text(&text, piece)? {
            return Ok(Some(answer));
        }
        self.finish = choice.finish_reason.or(self.finish.take());
        Ok(None)
    }

    /// Adds a piece of text, cut where a stop string ends.
    fn text(
        &mut self,
        text: &str,
        piece: &mut impl FnMut(String),
    ) -> Result<Option<ChatAnswer>, StreamError> {
        if text.is_empty() {
            return Ok(None);
        }
        let before = self.text.len();
        self.text.push_str(text);
        // No stop string lay in the text before this piece, so the cut falls within it.
        let stop = stop_after(&self.text, &self.request.stop, before);
        if let Some(stop) = &stop {
            self.text.truncate(stop.end);
        }
        // Held to the limit once cut: text past a stop string is not the answer's.
        if self.text.len() > self.most_bytes {
            return Err(StreamError::new("reading", "more text than asked for"));
        }
        piece(self.text.get(before..).unwrap_or_default().to_owned());
        Ok(stop.map(|_| ChatAnswer {
            model: self.model.clone(),
            text: std::mem::take(&mut self.text),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            // The upstream counts the prompt only at its end; the caller counts it when it
            // needs to.
            prompt_tokens: 0,
            finish_reason: FinishReason::Stop,
        }))
    }

    /// The answer, once the stream has ended. A stream cut short, or ended for another
    /// reason than a stop or the length limit (aborted, filtered), is not a complete
    /// answer.
    pub fn finish(self) -> Result<ChatAnswer, StreamError> {
        self.parser
            .finish()
            .map_err(|e| StreamError::new("bad event stream", e))?;
        let finish_reason = match self.finish.as_deref() {
            None => {
                return Err(StreamError::new(
                    "reading",
                    "the stream ended before the answer",
                ));
            }
            Some(reason) => finish_reason(reason).map_err(|why| StreamError::new("ended", why))?,
        };
        Ok(ChatAnswer {
            model: self.model,
            text: self.text,
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: self.prompt_tokens,
            finish_reason,
        })
    }
}

/// The two ways an answer completes; any other reason (`content_filter`, `abort`, ...) is
/// an answer cut short.
pub(super) fn finish_reason(reason: &str) -> Result<FinishReason, String> {
    match reason {
        "stop" | "eos" => Ok(FinishReason::Stop),
        "length" => Ok(FinishReason::Length),
        other => Err(format!("finish reason {other:?}")),
    }
}

/// One event of an OpenAI chat-completion or completion stream, or the error event some
/// servers send instead (`{"error": …}`, or vLLM's `{"object": "error", "message": …}`).
#[derive(Deserialize)]
struct StreamChunk {
    #[serde(default)]
    choices: Vec<StreamChoice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl StreamChunk {
    /// What went wrong, if this is an error event.
    fn failure(&self) -> Option<String> {
        let why = if let Some(error) = &self.error {
            error["message"]
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned)
        } else if self.object.as_deref() == Some("error") {
            self.message.clone().unwrap_or_else(|| "error".into())
        } else {
            return None;
        };
        // The upstream's words end up in a signed answer: keep them short.
        Some(why.chars().take(300).collect())
    }
}

#[derive(Deserialize)]
struct StreamChoice {
    /// A chat completion's piece.
    #[serde(default)]
    delta: Delta,
    /// A plain completion's piece.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// Token counts an upstream reports.
#[derive(Deserialize, Default)]
pub(super) struct Usage {
    #[serde(default)]
    pub(super) prompt_tokens: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::ChatMessage;

    fn request(max_tokens: u32, stop: &[&str]) -> ChatRequest {
        ChatRequest {
            stream: true,
            stop: stop.iter().map(|s| s.to_string()).collect(),
            ..ChatRequest::chat(vec![ChatMessage::user("hi")], max_tokens)
        }
    }

    fn delta(text: &str) -> String {
        let chunk = serde_json::json!({"choices": [{"delta": {"content": text}}]});
        format!("data: {chunk}\n\n")
    }

    fn end(reason: &str) -> String {
        let chunk = serde_json::json!({"choices": [{"delta": {}, "finish_reason": reason}]});
        let usage = serde_json::json!({"choices": [], "usage": {"prompt_tokens": 12}});
        format!("data: {chunk}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
    }

    /// Reads `stream` in pieces of `size` bytes: the pieces of text passed on, and the
    /// answer (from a stop string, or the end).
    fn read(
        request: &ChatRequest,
        stream: &str,
        size: usize,
    ) -> (Vec<String>, Result<ChatAnswer, StreamError>) {
        let mut reading = UpstreamStream::new("m", request);
        let mut pieces = Vec::new();
        for bytes in stream.as_bytes().chunks(size) {
            match reading.push(bytes, |p| pieces.push(p)) {
                Ok(Some(answer)) => return (pieces, Ok(answer)),
                Ok(None) => {}
                Err(e) => return (pieces, Err(e)),
            }
        }
        (pieces, reading.finish())
    }

    #[test]
    fn pieces_pass_on_and_the_end_says_how_it_ended() {
        let r = request(8, &[]);
        let stream = format!("{}{}{}", delta("Par"), delta("is"), end("length"));
        for size in [1, 7, stream.len()] {
            let (pieces, answer) = read(&r, &stream, size);
            assert_eq!(pieces, ["Par", "is"], "pieces of {size} bytes");
            let answer = answer.unwrap();
            assert_eq!(answer.text, "Paris");
            assert_eq!(answer.prompt_tokens, 12);
            assert_eq!(answer.finish_reason, FinishReason::Length);
        }
    }

    #[test]
    fn a_stop_string_ends_the_answer_inside_a_piece() {
        let r = request(8, &["\n"]);
        let stream = format!("{}{}{}", delta("Par"), delta("is\nmore"), delta("never"));
        let (pieces, answer) = read(&r, &stream, 5);
        assert_eq!(pieces, ["Par", "is\n"]);
        let answer = answer.unwrap();
        assert_eq!(
            (answer.text.as_str(), answer.finish_reason),
            ("Paris\n", FinishReason::Stop)
        );
    }

    #[test]
    fn a_stop_string_split_across_pieces_ends_the_answer_in_the_second() {
        let r = request(8, &["STOP"]);
        let stream = format!("{}{}{}", delta("one ST"), delta("OP two"), end("length"));
        let (pieces, answer) = read(&r, &stream, 3);
        assert_eq!(pieces, ["one ST", "OP"]);
        assert_eq!(answer.unwrap().text, "one STOP");
        // Text after the finish reason, before [DONE], still belongs to the answer.
        let r = request(8, &[]);
        let stream = format!("{}{}", delta("a"), end("stop"))
            .replace("data: [DONE]", &format!("{}data: [DONE]", delta("b")));
        let (pieces, answer) = read(&r, &stream, 64);
        assert_eq!(pieces.concat(), "ab");
        assert_eq!(answer.unwrap().text, "ab");
        // A piece that runs on past the limit after a stop string is cut, not refused.
        let r = request(1, &["."]);
        let long = format!("Yes.{}", "x".repeat(MAX_TOKEN_BYTES));
        let (_, answer) = read(&r, &delta(&long), 4096);
        assert_eq!(answer.unwrap().text, "Yes.");
    }

    #[test]
    fn streams_that_are_not_whole_answers_are_refused() {
        let r = request(2, &[]);
        let refused = |stream: String| {
            let e = read(&r, &stream, 64).1.unwrap_err();
            (e.what, e.why)
        };
        let is = |what: &'static str, why: &str| (what, why.to_owned());
        // Cut short, ended for another reason, or an error event.
        let cut = is("reading", "the stream ended before the answer");
        assert_eq!(refused(delta("Par")), cut);
        let filtered = format!("{}{}", delta("Par"), end("content_filter"));
        let reason = is("ended", "finish reason \"content_filter\"");
        assert_eq!(refused(filtered), reason);
        let error = "data: {\"error\": {\"message\": \"out of memory\"}}\n\n";
        let failed = refused(format!("{}{error}", delta("Par")));
        assert_eq!(failed, is("failed mid-answer", "out of memory"));
        assert_eq!(refused("data: {not json\n\n".into()).0, "unexpected event");
        let late = refused(format!("{}{}", end("stop"), delta("late")));
        assert_eq!(late, is("bad event stream", "events after [DONE]"));
        // More text than 2 tokens carry, and more events than 2 tokens need.
        let padded = refused(delta(&"x".repeat(2 * MAX_TOKEN_BYTES + 1)));
        assert_eq!(padded, is("reading", "more text than asked for"));
        let empties = refused(delta("").repeat(2 * 4 + 65));
        assert_eq!(empties, is("reading", "too many events"));
    }
}
