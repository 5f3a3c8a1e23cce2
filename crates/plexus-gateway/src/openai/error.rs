//! The gateway's errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`,
//! with the status and `Retry-After` that OpenAI's SDKs act on.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

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
    /// Seconds to wait before trying again, sent as `Retry-After` (rate limits), which
    /// OpenAI's SDKs wait for before their retry.
    pub retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// 404: no such model; `known` are the models the endpoint asked serves.
    pub fn unknown_model(model: &str, known: &[&str]) -> Self {
        let available = if known.is_empty() {
            "this gateway serves no model on this endpoint".to_owned()
        } else {
            format!("available: {}", known.join(", "))
        };
        Self {
            status: StatusCode::NOT_FOUND,
            message: format!("The model `{model}` does not exist on this network; {available}"),
            kind: "invalid_request_error",
            param: Some("model"),
            code: "model_not_found",
            retry_after: None,
        }
    }

    /// 400: the model exists but serves another endpoint; `kind` says what it is ("a chat
    /// model") and `use_instead` where to send it.
    pub fn wrong_endpoint(model: &str, kind: &str, use_instead: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: format!("`{model}` is {kind}; use {use_instead}"),
            kind: "invalid_request_error",
            param: Some("model"),
            code: "model_not_supported_on_endpoint",
            retry_after: None,
        }
    }

    /// 405: `method` is not served on `path`; `allowed` names the method that is.
    pub fn method_not_allowed(method: &str, path: &str, allowed: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("{method} is not allowed on {path}; use {allowed}"),
            kind: "invalid_request_error",
            param: None,
            code: "method_not_allowed",
            retry_after: None,
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
            retry_after: None,
        }
    }

    /// 503: the gateway has as many requests in flight to miners as it may.
    pub fn busy() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the gateway is busy: too many requests in flight; try again".into(),
            kind: "server_error",
            param: None,
            code: "busy",
            retry_after: None,
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
            retry_after: None,
        }
    }

    /// 413: the request's body is over the gateway's limit of `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "The request body is over this gateway's limit of {limit} bytes; send less \
                 per request (fewer inputs, or a shorter conversation)"
            ),
            kind: "invalid_request_error",
            param: None,
            code: "request_too_large",
            retry_after: None,
        }
    }

    /// 404: no such path.
    pub fn unknown_url() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "Unknown endpoint; this gateway serves /v1/models, /v1/chat/completions, \
                      /v1/completions and /v1/embeddings"
                .into(),
            kind: "invalid_request_error",
            param: None,
            code: "unknown_url",
            retry_after: None,
        }
    }

    /// 429: too many requests with a missing or unknown key from one address. Still an
    /// `invalid_api_key`: the key is the problem to fix, not the rate.
    pub fn too_many_bad_keys(retry_after_secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "Incorrect or missing API key, too often from this address: send \
                 `Authorization: Bearer KEY` (retry in {retry_after_secs} s)"
            ),
            kind: "invalid_request_error",
            param: None,
            code: "invalid_api_key",
            retry_after: Some(retry_after_secs),
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
            retry_after: Some(retry_after_secs),
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
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
