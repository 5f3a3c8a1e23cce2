//! OpenAI's request and response shapes, as far as the gateway serves them, and its error
//! envelope.
//!
//! Requests are read leniently (unknown fields are ignored, as OpenAI's own server does for
//! fields it does not use); decoding is always greedy, so `temperature` and `top_p` have no
//! effect and `n` above 1 is refused.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use plexus_subnets::text::{ChatMessage, MAX_COMPLETION_TOKENS, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Completion tokens when a request does not say.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// For people.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, ...).
    pub kind: &'static str,
    /// The offending parameter, if one.
    pub param: Option<&'static str>,
    /// A stable code for programs.
    pub code: &'static str,
}

impl ApiError {
    /// 400: the request is malformed.
    pub fn bad_request(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: "invalid_request",
        }
    }

    /// 404: no such model.
    pub fn unknown_model(model: &str, known: &[&str]) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "The model `{model}` does not exist on this network; available: {}",
                known.join(", ")
            ),
            kind: "invalid_request_error",
            param: Some("model"),
            code: "model_not_found",
        }
    }

    /// 503: no miner could answer.
    pub fn no_miner(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: "no_miner_available",
        }
    }

    /// 401: a missing or unknown API key.
    pub fn unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            message: "Incorrect or missing API key: send `Authorization: Bearer KEY`".into(),
            kind: "invalid_request_error",
            param: None,
            code: "invalid_api_key",
        }
    }

    /// 429: the key's rate limit.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("Rate limit reached for this API key; retry in {retry_after_secs} s"),
            kind: "requests",
            param: None,
            code: "rate_limit_exceeded",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

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

/// The completion budget: the request's, else the default; refused when out of range.
pub fn max_tokens(asked: Option<u32>) -> Result<u32, ApiError> {
    match asked {
        None => Ok(DEFAULT_MAX_TOKENS),
        Some(n) if (1..=MAX_COMPLETION_TOKENS).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(
            Some("max_tokens"),
            format!("max_tokens is {n}; it must be 1 to {MAX_COMPLETION_TOKENS}"),
        )),
    }
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

/// The texts of an embedding request's `input`.
pub fn embedding_inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(
            Some("input"),
            "input must be a string or an array of strings (token arrays are not supported)",
        )
    };
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
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
        assert_eq!(max_tokens(None), Ok(DEFAULT_MAX_TOKENS));
        assert_eq!(max_tokens(Some(5)), Ok(5));
        assert!(max_tokens(Some(0)).is_err());
        assert!(max_tokens(Some(MAX_COMPLETION_TOKENS + 1)).is_err());
        assert!(single_choice(Some(2)).is_err());
        assert_eq!(single_choice(Some(1)), Ok(()));
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
    fn errors_have_openais_envelope() {
        let e = ApiError::unknown_model("gpt-9", &["a", "b"]);
        let body = e.body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["param"], "model");
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }
}
