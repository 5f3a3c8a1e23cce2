//! OpenAI's request and response shapes, as far as the gateway serves them, and its error
//! envelope.
//!
//! Requests are read leniently (unknown fields are ignored, as OpenAI's own server does for
//! fields it does not use); decoding is always greedy, so `temperature` and `top_p` have no
//! effect. Fields that would change the answer's shape and cannot be honoured are refused
//! by name rather than ignored: `n` above 1, `top_logprobs` above 0, the legacy
//! endpoint's `logprobs`, tools and functions, a `response_format` other than text, audio
//! ([`text_answers_only`]), and embeddings' `dimensions` other than the model's. `stop` goes to the miners and is applied by the gateway
//! ([`stop_strings`]); chat `logprobs: true` ([`chat_logprobs`]) and
//! `stream_options.include_usage` are served.

use plexus_subnets::text::{ChatMessage, MAX_COMPLETION_TOKENS, Role, check_stops};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod error;

pub use error::ApiError;

/// Completion tokens when a request does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// Most texts in one embeddings request: OpenAI's own limit, which clients batch to.
pub const MAX_EMBEDDING_INPUTS: usize = 2048;

/// A message's content: a string, or an array of parts of which the text parts count.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": "..."}, ...]`.
    Parts(Vec<Part>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    /// `text` (others are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: Option<String>,
}

/// A message as OpenAI clients send it.
#[derive(Debug, Clone, Deserialize)]
pub struct InMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// The content.
    #[serde(default)]
    pub content: Option<Content>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model.
    pub model: String,
    /// The conversation.
    pub messages: Vec<InMessage>,
    /// Most tokens to generate (older name).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Most tokens to generate.
    #[serde(default)]
    pub max_completion_tokens: Option<u32>,
    /// Stream chunks as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Choices wanted; only 1 is served.
    #[serde(default)]
    pub n: Option<u32>,
    /// Strings that end the answer: one, or an array of up to [`MAX_STOPS`](plexus_subnets::text::MAX_STOPS).
    #[serde(default)]
    pub stop: Option<Value>,
    /// Log-probabilities of the chosen tokens (`true`); see [`chat_logprobs`].
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Alternatives per token; refused when above 0.
    #[serde(default)]
    pub top_logprobs: Option<u32>,
    /// Options of a streamed answer.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Tools the model may call; refused unless empty ([`text_answers_only`]).
    #[serde(default)]
    pub tools: Option<Value>,
    /// Whether and which tool to call: `none` and `auto` are served.
    #[serde(default)]
    pub tool_choice: Option<Value>,
    /// Functions the model may call (tools' older form); refused unless empty.
    #[serde(default)]
    pub functions: Option<Value>,
    /// Whether and which function to call (older form): `none` and `auto` are served.
    #[serde(default)]
    pub function_call: Option<Value>,
    /// The answer's format: only `{"type": "text"}` is served.
    #[serde(default)]
    pub response_format: Option<Value>,
    /// Audio output; refused when asked.
    #[serde(default)]
    pub audio: Option<Value>,
}

/// `stream_options` of a streamed request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the answer's `usage` and no choices.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// The model.
    pub model: String,
    /// The prompt (one string).
    pub prompt: Value,
    /// Most tokens to generate.
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Stream chunks as server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Choices wanted; only 1 is served.
    #[serde(default)]
    pub n: Option<u32>,
    /// Strings that end the answer: one, or an array of up to [`MAX_STOPS`](plexus_subnets::text::MAX_STOPS).
    #[serde(default)]
    pub stop: Option<Value>,
    /// Log-probabilities of the top tokens (a count here); refused when above 0.
    #[serde(default)]
    pub logprobs: Option<Value>,
    /// Send the prompt back before the completion.
    #[serde(default)]
    pub echo: Option<bool>,
    /// Text to come after the completion (insertion); refused when not empty.
    #[serde(default)]
    pub suffix: Option<String>,
    /// Options of a streamed answer.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
}

/// The text of a completion request's `prompt`: one string, or an array holding one.
pub fn completion_prompt(prompt: &Value) -> Result<String, ApiError> {
    match prompt {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => match items.as_slice() {
            [Value::String(s)] => Ok(s.clone()),
            _ => Err(ApiError::bad_request(
                Some("prompt"),
                "prompt must be one string (several prompts, or token ids, are not supported)",
            )),
        },
        _ => Err(ApiError::bad_request(
            Some("prompt"),
            "prompt must be a string",
        )),
    }
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingRequest {
    /// The model.
    pub model: String,
    /// A string or an array of strings.
    pub input: Value,
    /// `float` (default) or `base64` (little-endian f32, what the `openai` Python package
    /// asks for).
    #[serde(default)]
    pub encoding_format: Option<String>,
    /// The vectors' length: served only when it is the model's own (vectors are not cut).
    #[serde(default)]
    pub dimensions: Option<u64>,
}

/// The messages of a chat request in the miners' form; the error names what is wrong.
pub fn chat_messages(messages: &[InMessage]) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad_request(
            Some("messages"),
            "messages must not be empty",
        ));
    }
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ApiError::bad_request(
                        Some("messages"),
                        format!("messages[{i}]: role `{other}` is not supported"),
                    ));
                }
            };
            let content = match &m.content {
                None => String::new(),
                Some(Content::Text(text)) => text.clone(),
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match (part.kind.as_str(), &part.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::bad_request(
                                    Some("messages"),
                                    format!(
                                        "messages[{i}]: content part `{kind}` is not supported"
                                    ),
                                ));
                            }
                        }
                    }
                    text
                }
            };
            Ok(ChatMessage::new(role, content))
        })
        .collect()
}

/// The completion budget: the request's (in the field `param`), else the default; refused
/// when out of range.
pub fn max_tokens(asked: Option<u32>, param: &'static str) -> Result<u32, ApiError> {
    match asked {
        None => Ok(DEFAULT_MAX_TOKENS),
        Some(n) if (1..=MAX_COMPLETION_TOKENS).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            Some(param),
            format!("{param} is {n}; it must be 1 to {MAX_COMPLETION_TOKENS}"),
        )),
    }
}

/// Refuses `dimensions` other than `model`'s own: vectors are served whole, and one of
/// another length than asked would not fit the store the client keeps them in.
pub fn embedding_dimensions(asked: Option<u64>, model: usize) -> Result<(), ApiError> {
    match asked {
        Some(d) if d != model as u64 => Err(ApiError::bad_request(
            Some("dimensions"),
            format!("dimensions is {d}; this model's vectors have {model} dimensions"),
        )),
        _ => Ok(()),
    }
}

/// Refuses a chat request that asks for an answer other than plain text: tools or
/// functions to call, a tool choice that requires one, a `response_format` other than
/// `text`, or audio. Miners serve text only, and a plain answer in place of a tool call or
/// of JSON to a schema would break the client that asked, so these are refused by name
/// rather than ignored. Empty lists, `null`, and the choices `none` and `auto` ask nothing.
pub fn text_answers_only(request: &ChatCompletionRequest) -> Result<(), ApiError> {
    let none = |v: &Option<Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.is_empty(),
        _ => false,
    };
    let free_choice = |v: &Option<Value>| {
        none(v) || matches!(v, Some(Value::String(s)) if s == "none" || s == "auto")
    };
    let refuse = |param: &'static str, what: &str| {
        Err(ApiError::bad_request(
            Some(param),
            format!("{what} not supported: this network's miners answer in plain text"),
        ))
    };
    if !none(&request.tools) {
        return refuse("tools", "tool calls are");
    }
    if !none(&request.functions) {
        return refuse("functions", "function calls are");
    }
    if !free_choice(&request.tool_choice) {
        return refuse("tool_choice", "tool calls are");
    }
    if !free_choice(&request.function_call) {
        return refuse("function_call", "function calls are");
    }
    match request.response_format.as_ref() {
        None | Some(Value::Null) => {}
        Some(format) if format.get("type").and_then(Value::as_str) == Some("text") => {}
        Some(format) => {
            let kind = format.get("type").and_then(Value::as_str).unwrap_or("?");
            return refuse("response_format", &format!("response_format `{kind}` is"));
        }
    }
    if !none(&request.audio) {
        return refuse("audio", "audio answers are");
    }
    Ok(())
}

/// Refuses `n` above 1.
pub fn single_choice(n: Option<u32>) -> Result<(), ApiError> {
    match n {
        None | Some(1) => Ok(()),
        Some(n) => Err(ApiError::bad_request(
            Some("n"),
            format!("n is {n}; this network serves one choice per request"),
        )),
    }
}

/// The stop strings of a request's `stop`: none, one string, or an array of up to
/// [`MAX_STOPS`](plexus_subnets::text::MAX_STOPS) non-empty strings of at most [`MAX_STOP_BYTES`](plexus_subnets::text::MAX_STOP_BYTES) bytes.
pub fn stop_strings(stop: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let bad = |message: String| ApiError::bad_request(Some("stop"), message);
    let strings = match stop {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("stop must be a string or an array of strings".into()))?,
        Some(_) => return Err(bad("stop must be a string or an array of strings".into())),
    };
    check_stops(&strings).map_err(|e| bad(e.to_string()))?;
    Ok(strings)
}

/// Whether a chat request asks for its tokens' log-probabilities (`logprobs: true`).
/// Alternatives (`top_logprobs` above 0) are refused: miners report only the tokens they
/// chose.
pub fn chat_logprobs(
    logprobs: Option<&Value>,
    top_logprobs: Option<u32>,
) -> Result<bool, ApiError> {
    if top_logprobs.is_some_and(|n| n > 0) {
        return Err(ApiError::bad_request(
            Some("top_logprobs"),
            "top_logprobs is not supported by this network: miners report only the \
             log-probabilities of the tokens they chose (logprobs: true gives those)",
        ));
    }
    match logprobs {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(false),
        Some(Value::Bool(true)) => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            Some("logprobs"),
            "logprobs must be true or false",
        )),
    }
}

/// Refuses a completion's `suffix` (text to fill in before): the model only continues.
pub fn no_suffix(suffix: Option<&str>) -> Result<(), ApiError> {
    match suffix {
        Some(s) if !s.is_empty() => Err(ApiError::bad_request(
            Some("suffix"),
            "suffix is not supported: the model continues the prompt, it does not fill in \
             text before a suffix",
        )),
        _ => Ok(()),
    }
}

/// Refuses `logprobs` on the legacy completions endpoint, where it asks for alternatives
/// (`logprobs: N`), which miners do not report. `null`, `false` and `0` ask for none.
pub fn no_completion_logprobs(logprobs: Option<&Value>) -> Result<(), ApiError> {
    let asked = match logprobs {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Number(n)) => n.as_u64() != Some(0),
        Some(_) => true,
    };
    if asked {
        return Err(ApiError::bad_request(
            Some("logprobs"),
            "logprobs on /v1/completions is a count of alternative tokens, which miners do \
             not report (/v1/chat/completions with logprobs: true gives the log-probabilities \
             of the chosen tokens of a chat)",
        ));
    }
    Ok(())
}

/// Whether a streamed answer ends with a usage chunk; `stream_options` without `stream` is
/// refused, as OpenAI does.
pub fn include_usage(stream: bool, options: Option<&StreamOptions>) -> Result<bool, ApiError> {
    match options {
        None => Ok(false),
        Some(_) if !stream => Err(ApiError::bad_request(
            Some("stream_options"),
            "stream_options is only allowed when stream is true",
        )),
        Some(options) => Ok(options.include_usage.unwrap_or(false)),
    }
}

/// The texts of an embedding request's `input`: a non-empty string or a non-empty array of
/// at most [`MAX_EMBEDDING_INPUTS`] of them.
pub fn embedding_inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let bad = |message: String| ApiError::bad_request(Some("input"), message);
    match input {
        Value::String(s) if s.is_empty() => Err(bad("input must not be an empty string".into())),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => {
            Err(bad("input must not be an empty array".into()))
        }
        Value::Array(items) if items.len() > MAX_EMBEDDING_INPUTS => Err(bad(format!(
            "input has {} texts; at most {MAX_EMBEDDING_INPUTS} are taken in one request",
            items.len()
        ))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if s.is_empty() => {
                    Err(bad(format!("input[{i}] must not be an empty string")))
                }
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(format!(
                    "input[{i}] must be a string (token arrays are not supported)"
                ))),
            })
            .collect(),
        _ => Err(bad(
            "input must be a string or an array of strings (token arrays are not supported)".into(),
        )),
    }
}

/// Token counts in OpenAI's `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Completion tokens.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

impl Usage {
    /// Usage of `prompt` and `completion` tokens.
    pub fn new(prompt: u32, completion: u32) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use serde_json::json;

    fn messages(v: Value) -> Vec<InMessage> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn messages_take_strings_and_text_parts() {
        let m = messages(json!([
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]},
        ]));
        let out = chat_messages(&m).unwrap();
        assert_eq!(
            out,
            vec![
                ChatMessage::system("be brief"),
                ChatMessage::user("hi there")
            ]
        );
    }

    #[test]
    fn unsupported_messages_are_refused_by_name() {
        let tool = messages(json!([{"role": "tool", "content": "x"}]));
        assert!(
            chat_messages(&tool)
                .unwrap_err()
                .message
                .contains("role `tool`")
        );
        let image = messages(json!([{"role": "user", "content": [{"type": "image_url"}]}]));
        assert!(
            chat_messages(&image)
                .unwrap_err()
                .message
                .contains("image_url")
        );
        assert_eq!(chat_messages(&[]).unwrap_err().param, Some("messages"));
    }

    #[test]
    fn budgets_and_choices_are_bounded() {
        assert_eq!(max_tokens(None, "max_tokens"), Ok(DEFAULT_MAX_TOKENS));
        assert_eq!(max_tokens(Some(5), "max_tokens"), Ok(5));
        assert!(max_tokens(Some(0), "max_tokens").is_err());
        let over = max_tokens(Some(MAX_COMPLETION_TOKENS + 1), "max_completion_tokens");
        let e = over.unwrap_err();
        assert_eq!(e.param, Some("max_completion_tokens"));
        assert!(
            e.message.starts_with("max_completion_tokens is"),
            "{}",
            e.message
        );
        assert!(single_choice(Some(2)).is_err());
        assert_eq!(single_choice(Some(1)), Ok(()));
    }

    #[test]
    fn only_the_models_own_dimensions_are_served() {
        assert_eq!(embedding_dimensions(None, 384), Ok(()));
        assert_eq!(embedding_dimensions(Some(384), 384), Ok(()));
        let e = embedding_dimensions(Some(256), 384).unwrap_err();
        assert_eq!(
            (e.status, e.param),
            (StatusCode::BAD_REQUEST, Some("dimensions"))
        );
        assert!(e.message.contains("384"), "{}", e.message);
    }

    #[test]
    fn embedding_inputs_are_strings() {
        assert_eq!(embedding_inputs(&json!("a")).unwrap(), vec!["a"]);
        assert_eq!(
            embedding_inputs(&json!(["a", "b"])).unwrap(),
            vec!["a", "b"]
        );
        assert!(embedding_inputs(&json!([1, 2])).is_err());
        assert!(embedding_inputs(&json!([])).is_err());
        assert!(embedding_inputs(&json!({"x": 1})).is_err());
    }

    #[test]
    fn empty_embedding_inputs_are_refused_as_empty() {
        let message = |v: Value| embedding_inputs(&v).unwrap_err().message;
        assert_eq!(message(json!([])), "input must not be an empty array");
        assert_eq!(message(json!("")), "input must not be an empty string");
        assert_eq!(
            message(json!(["a", ""])),
            "input[1] must not be an empty string"
        );
        assert!(message(json!(["a", 3])).starts_with("input[1] must be a string"));
    }

    #[test]
    fn stop_is_a_string_or_up_to_four() {
        assert_eq!(stop_strings(None), Ok(vec![]));
        assert_eq!(stop_strings(Some(&Value::Null)), Ok(vec![]));
        assert_eq!(stop_strings(Some(&json!("\n"))), Ok(vec!["\n".to_owned()]));
        assert_eq!(
            stop_strings(Some(&json!(["a", "b"]))),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        for bad in [
            json!(["a", "b", "c", "d", "e"]),
            json!(""),
            json!(["a", ""]),
            json!("x".repeat(65)),
            json!([1]),
            json!(3),
        ] {
            assert_eq!(stop_strings(Some(&bad)).unwrap_err().param, Some("stop"));
        }
    }

    #[test]
    fn chat_logprobs_are_the_chosen_tokens_only() {
        assert_eq!(chat_logprobs(None, None), Ok(false));
        assert_eq!(chat_logprobs(Some(&json!(false)), Some(0)), Ok(false));
        assert_eq!(chat_logprobs(Some(&json!(null)), None), Ok(false));
        assert_eq!(chat_logprobs(Some(&json!(true)), Some(0)), Ok(true));
        let e = chat_logprobs(Some(&json!(true)), Some(2)).unwrap_err();
        assert_eq!(
            (e.status, e.param),
            (StatusCode::BAD_REQUEST, Some("top_logprobs"))
        );
        let e = chat_logprobs(Some(&json!("yes")), None).unwrap_err();
        assert_eq!(e.param, Some("logprobs"));
    }

    #[test]
    fn completion_logprobs_are_refused_only_when_asked_for() {
        assert_eq!(no_completion_logprobs(None), Ok(()));
        assert_eq!(no_completion_logprobs(Some(&json!(0))), Ok(()));
        assert_eq!(no_completion_logprobs(Some(&json!(false))), Ok(()));
        let e = no_completion_logprobs(Some(&json!(2))).unwrap_err();
        assert_eq!(
            (e.status, e.param),
            (StatusCode::BAD_REQUEST, Some("logprobs"))
        );
        assert!(no_completion_logprobs(Some(&json!(true))).is_err());
    }

    #[test]
    fn stream_options_need_a_stream() {
        let usage = StreamOptions {
            include_usage: Some(true),
        };
        assert_eq!(include_usage(false, None), Ok(false));
        assert_eq!(include_usage(true, None), Ok(false));
        assert_eq!(include_usage(true, Some(&usage)), Ok(true));
        assert_eq!(
            include_usage(false, Some(&usage)).unwrap_err().param,
            Some("stream_options")
        );
    }

    #[test]
    fn errors_have_openais_envelope() {
        let e = ApiError::unknown_model("gpt-9", &["a", "b"]);
        let body = e.body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert!(e.message.ends_with("available: a, b"));
        let e = ApiError::wrong_endpoint("m", "a chat model", "/v1/chat/completions");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "`m` is a chat model; use /v1/chat/completions");
        assert_eq!(e.body()["error"]["type"], "invalid_request_error");
    }
}
