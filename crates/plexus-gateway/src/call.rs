//! A consumer's request, read and checked: the subnet request a miner is to answer, and
//! what the consumer asked of the answer's shape.
//!
//! Pure (no model, no miners, no clock), so every refusal here comes before any work is
//! spent, and the whole path from a request's bytes to what miners are sent can be fuzzed.
//! Whatever passes is a request miners take ([`ChatRequest::validate`],
//! [`EmbedRequest::validate`]); only the prompt's length in tokens is left to check,
//! with the model.

use plexus_subnets::embed::{EmbedRequest, MAX_INPUT_BYTES, MAX_INPUTS};
use plexus_subnets::text::ChatRequest;
use serde::de::DeserializeOwned;

use crate::openai::{
    ApiError, ChatCompletionRequest, CompletionRequest, EmbeddingRequest, StreamOptions,
    chat_logprobs, chat_messages, completion_prompt, embedding_inputs, include_usage, max_tokens,
    no_completion_logprobs, no_suffix, single_choice, stop_strings, text_answers_only,
};

/// Parses a JSON body into `T`, with OpenAI-shaped errors. The body must be an object:
/// serde would also read a struct from an array of its fields in order, which no client
/// means.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let bad = |why: String| ApiError::bad_request(None, format!("invalid request body: {why}"));
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(bad("expected a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| bad(e.to_string()))
}

/// What the gateway does to a miner's answer on its way to the consumer, besides cutting
/// it at the request's stop strings (which go to the miner in the [`ChatRequest`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Whether a stream ends with a usage chunk.
    pub include_usage: bool,
    /// Whether the answer carries its tokens' log-probabilities.
    pub logprobs: bool,
    /// Text sent before the answer's own: the prompt, when a completion asks for `echo`.
    pub echo: Option<String>,
}

impl Delivery {
    /// What a request's `stream_options` and `logprobs` ask of its answer.
    fn asked(
        stream: bool,
        options: Option<&StreamOptions>,
        logprobs: bool,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            include_usage: include_usage(stream, options)?,
            logprobs,
            echo: None,
        })
    }
}

/// A text request (chat or plain completion), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCall {
    /// What a text miner is asked.
    pub chat: ChatRequest,
    /// What the consumer asked of the answer.
    pub delivery: Delivery,
}

impl TextCall {
    /// Refuses a request miners would refuse, naming the field at fault.
    fn checked(self) -> Result<Self, ApiError> {
        let field = match self.chat.prompt {
            Some(_) => "prompt",
            None => "messages",
        };
        self.chat
            .validate()
            .map_err(|why| ApiError::bad_request(Some(field), why))?;
        Ok(self)
    }
}

impl ChatCompletionRequest {
    /// The request as a text miner is to answer it; the error names what is wrong. The
    /// model is the caller's to check.
    pub fn into_call(self) -> Result<TextCall, ApiError> {
        single_choice(self.n)?;
        text_answers_only(&self)?;
        let logprobs = chat_logprobs(self.logprobs.as_ref(), self.top_logprobs)?;
        let stream = self.stream.unwrap_or(false);
        let delivery = Delivery::asked(stream, self.stream_options.as_ref(), logprobs)?;
        // The newer name wins when both are sent.
        let budget = match self.max_completion_tokens {
            Some(n) => max_tokens(Some(n), "max_completion_tokens")?,
            None => max_tokens(self.max_tokens, "max_tokens")?,
        };
        let chat = ChatRequest {
            stream,
            stop: stop_strings(self.stop.as_ref())?,
            ..ChatRequest::chat(chat_messages(&self.messages)?, budget)
        };
        TextCall { chat, delivery }.checked()
    }
}

impl CompletionRequest {
    /// The request as a text miner is to answer it: the prompt continued as it stands
    /// (no chat template). The error names what is wrong; the model is the caller's to
    /// check.
    pub fn into_call(self) -> Result<TextCall, ApiError> {
        single_choice(self.n)?;
        no_completion_logprobs(self.logprobs.as_ref())?;
        no_suffix(self.suffix.as_deref())?;
        let stream = self.stream.unwrap_or(false);
        let prompt = completion_prompt(&self.prompt)?;
        let delivery = Delivery {
            echo: self.echo.unwrap_or(false).then(|| prompt.clone()),
            ..Delivery::asked(stream, self.stream_options.as_ref(), false)?
        };
        let chat = ChatRequest {
            stream,
            stop: stop_strings(self.stop.as_ref())?,
            ..ChatRequest::text(prompt, max_tokens(self.max_tokens, "max_tokens")?)
        };
        TextCall { chat, delivery }.checked()
    }
}

/// Texts asked of one embedding miner in one call. A request's texts go out in chunks
/// this long, several at a time to different miners, so a batch of thousands takes the
/// time of a few short calls and no single call nears the wire client's timeout (a miner
/// on one core embeds 100 to 200 short texts a second).
pub const EMBED_CHUNK_TEXTS: usize = 64;

const _: () = assert!(EMBED_CHUNK_TEXTS <= MAX_INPUTS);

/// An embeddings request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedCall {
    /// What embedding miners are asked: the texts in order, in chunks of at most
    /// [`EMBED_CHUNK_TEXTS`], each a request a miner takes.
    pub chunks: Vec<EmbedRequest>,
    /// Whether vectors go back as base64 (little-endian f32) rather than numbers.
    pub base64: bool,
}

impl EmbeddingRequest {
    /// The request as embedding miners are to answer it; the error names what is wrong
    /// (a text by its index in the whole request). The model is the caller's to check.
    pub fn into_call(&self) -> Result<EmbedCall, ApiError> {
        let base64 = match self.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(ApiError::bad_request(
                    Some("encoding_format"),
                    format!("encoding_format `{other}` is not float or base64"),
                ));
            }
        };
        let bad = |why: String| ApiError::bad_request(Some("input"), why);
        let texts = embedding_inputs(&self.input)?;
        if let Some(i) = texts.iter().position(|t| t.len() > MAX_INPUT_BYTES) {
            return Err(bad(format!("input[{i}] is over {MAX_INPUT_BYTES} bytes")));
        }
        let chunks: Vec<EmbedRequest> = texts
            .chunks(EMBED_CHUNK_TEXTS)
            .map(|chunk| EmbedRequest {
                input: chunk.to_vec(),
            })
            .collect();
        for chunk in &chunks {
            chunk.validate().map_err(bad)?;
        }
        Ok(EmbedCall { chunks, base64 })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use plexus_subnets::text::{ChatMessage, MAX_MESSAGES, MAX_PROMPT_BYTES};
    use serde_json::json;

    use super::*;
    use crate::openai::MAX_EMBEDDING_INPUTS;

    fn chat(body: serde_json::Value) -> Result<TextCall, ApiError> {
        parse::<ChatCompletionRequest>(body.to_string().as_bytes())?.into_call()
    }

    fn completion(body: serde_json::Value) -> Result<TextCall, ApiError> {
        parse::<CompletionRequest>(body.to_string().as_bytes())?.into_call()
    }

    fn refused_for(answer: Result<TextCall, ApiError>) -> Option<&'static str> {
        let e = answer.expect_err("refused");
        assert_eq!(e.status, StatusCode::BAD_REQUEST, "{e:?}");
        e.param
    }

    #[test]
    fn a_chat_becomes_what_miners_are_asked() {
        let call = chat(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 9, "stream": true, "stop": "\n",
            "logprobs": true, "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(call.chat.messages, vec![ChatMessage::user("hi")]);
        assert_eq!((call.chat.max_tokens, call.chat.stream), (9, true));
        assert_eq!(call.chat.stop, vec!["\n".to_string()]);
        let delivery = Delivery {
            include_usage: true,
            logprobs: true,
            echo: None,
        };
        assert_eq!(call.delivery, delivery);
        // The newer name wins over the older.
        let call = chat(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 9, "max_completion_tokens": 3
        }))
        .unwrap();
        assert_eq!(call.chat.max_tokens, 3);
    }

    #[test]
    fn what_miners_would_refuse_is_refused_here_by_field() {
        let many = vec![json!({"role": "user", "content": "x"}); MAX_MESSAGES + 1];
        let answer = chat(json!({"model": "m", "messages": many}));
        assert_eq!(refused_for(answer), Some("messages"));
        let long = "x".repeat(MAX_PROMPT_BYTES + 1);
        let answer = completion(json!({"model": "m", "prompt": long}));
        assert_eq!(refused_for(answer), Some("prompt"));
        let answer = completion(json!({"model": "m", "prompt": ""}));
        assert_eq!(refused_for(answer), Some("prompt"));
        let answer = chat(json!({"model": "m", "messages": [], "n": 1}));
        assert_eq!(refused_for(answer), Some("messages"));
    }

    #[test]
    fn tools_formats_and_audio_are_refused_by_name_and_empty_ones_ignored() {
        let with = |field: &str, value: serde_json::Value| {
            let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
            body[field] = value;
            chat(body)
        };
        let tool = json!([{"type": "function", "function": {"name": "f"}}]);
        for (field, value) in [
            ("tools", tool),
            ("functions", json!([{"name": "f"}])),
            ("tool_choice", json!("required")),
            (
                "tool_choice",
                json!({"type": "function", "function": {"name": "f"}}),
            ),
            ("function_call", json!({"name": "f"})),
            ("response_format", json!({"type": "json_object"})),
            (
                "response_format",
                json!({"type": "json_schema", "json_schema": {}}),
            ),
            ("response_format", json!("text")),
            ("audio", json!({"voice": "alloy", "format": "wav"})),
        ] {
            assert_eq!(
                refused_for(with(field, value.clone())),
                Some(field),
                "{value}"
            );
        }
        for (field, value) in [
            ("tools", json!([])),
            ("tools", serde_json::Value::Null),
            ("tool_choice", json!("auto")),
            ("tool_choice", json!("none")),
            ("function_call", json!("none")),
            ("response_format", json!({"type": "text"})),
        ] {
            assert!(with(field, value.clone()).is_ok(), "{field}: {value}");
        }
    }

    #[test]
    fn a_completion_echoes_its_prompt_when_asked() {
        let call = completion(json!({"model": "m", "prompt": ["Once"], "echo": true})).unwrap();
        assert_eq!(call.chat.prompt.as_deref(), Some("Once"));
        assert_eq!(call.delivery.echo.as_deref(), Some("Once"));
        let answer = completion(json!({"model": "m", "prompt": "Once", "suffix": "end"}));
        assert_eq!(refused_for(answer), Some("suffix"));
    }

    #[test]
    fn embeddings_take_floats_or_base64_only() {
        let call = |body: serde_json::Value| {
            parse::<EmbeddingRequest>(body.to_string().as_bytes())?.into_call()
        };
        let asked = call(json!({"model": "m", "input": ["a", "b"]})).unwrap();
        let texts = vec!["a".to_string(), "b".to_string()];
        assert_eq!(asked.chunks, vec![EmbedRequest { input: texts }]);
        assert!(!asked.base64);
        let asked = call(json!({"model": "m", "input": "a", "encoding_format": "base64"}));
        assert!(asked.unwrap().base64);
        let e = call(json!({"model": "m", "input": "a", "encoding_format": "hex"})).unwrap_err();
        assert_eq!(e.param, Some("encoding_format"));
    }

    #[test]
    fn many_texts_go_out_in_order_in_chunks_miners_take() {
        let call = |input: Vec<String>| {
            let body = json!({"model": "m", "input": input});
            parse::<EmbeddingRequest>(body.to_string().as_bytes())?.into_call()
        };
        let texts: Vec<String> = (0..MAX_EMBEDDING_INPUTS).map(|i| i.to_string()).collect();
        let asked = call(texts.clone()).unwrap();
        assert_eq!(asked.chunks.len(), MAX_EMBEDDING_INPUTS / EMBED_CHUNK_TEXTS);
        for chunk in &asked.chunks {
            assert_eq!(chunk.input.len(), EMBED_CHUNK_TEXTS);
            chunk.validate().unwrap();
        }
        let joined: Vec<String> = asked.chunks.into_iter().flat_map(|c| c.input).collect();
        assert_eq!(joined, texts);
        // A short last chunk.
        let asked = call(texts[..EMBED_CHUNK_TEXTS + 1].to_vec()).unwrap();
        let lengths: Vec<usize> = asked.chunks.iter().map(|c| c.input.len()).collect();
        assert_eq!(lengths, vec![EMBED_CHUNK_TEXTS, 1]);

        let mut over = texts;
        over.push("one more".into());
        let e = call(over).unwrap_err();
        assert_eq!(
            (e.status, e.param),
            (StatusCode::BAD_REQUEST, Some("input"))
        );
        assert!(e.message.contains("at most 2048"), "{}", e.message);
        // A text over the miners' limit is named by its place in the whole request.
        let mut long: Vec<String> = vec!["short".into(); 300];
        long[299] = "x".repeat(MAX_INPUT_BYTES + 1);
        let e = call(long).unwrap_err();
        assert_eq!(
            e.message,
            format!("input[299] is over {MAX_INPUT_BYTES} bytes")
        );
    }

    #[test]
    fn a_body_that_is_not_the_request_is_refused_as_such() {
        let e = parse::<ChatCompletionRequest>(b"{\"model\": 1}").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.starts_with("invalid request body"),
            "{}",
            e.message
        );
        // An array of the fields in order is not a request either.
        let e = parse::<EmbeddingRequest>(br#" ["all-minilm-l6-v2", "hi"]"#).unwrap_err();
        assert_eq!(e.message, "invalid request body: expected a JSON object");
        assert!(parse::<EmbeddingRequest>(br#" {"model": "m", "input": "hi"}"#).is_ok());
    }
}
