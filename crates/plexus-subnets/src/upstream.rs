//! A miner backend that forwards to any OpenAI-compatible server (llama.cpp, vLLM,
//! Ollama, ...), for miners who run their models elsewhere.
//!
//! Upstream servers do not return token ids, so text answers carry none and validators
//! tokenize the text themselves; the upstream must run the subnet's model or its answers
//! will not verify.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::backend::BackendError;
use crate::embed::{EmbedAnswer, EmbedRequest, EmbeddingBackend};
use crate::text::{ChatAnswer, ChatRequest, FinishReason, TextBackend, TokenChunk};

/// Largest upstream answer read.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// An OpenAI-compatible server at a base URL (`http://host:port`, with or without `/v1`).
#[derive(Debug, Clone)]
pub struct Upstream {
    base: String,
    model: String,
    timeout: Duration,
    http: HttpClient<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    /// Forwards to `url`, asking for `model`. Only `http://` URLs are accepted (put a
    /// local proxy in front of an HTTPS service).
    pub fn new(url: &str, model: &str, timeout: Duration) -> Result<Self, BackendError> {
        let trimmed = url.trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        let uri: http::Uri = base
            .parse()
            .map_err(|e| BackendError::BadRequest(format!("bad upstream URL {url}: {e}")))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(BackendError::BadRequest(format!(
                "upstream URL {url} must look like http://host:port"
            )));
        }
        Ok(Self {
            base: base.to_owned(),
            model: model.to_owned(),
            timeout,
            http: HttpClient::builder(TokioExecutor::new()).build(HttpConnector::new()),
        })
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, BackendError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            BackendError::Failed(format!("upstream {}{path}: {what}: {e}", self.base))
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| failed("request", &e))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| failed("timed out", &"no answer"))?
            .map_err(|e| failed("unreachable", &e))?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| failed("reading", &e))?
            .to_bytes();
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(failed(&format!("status {status}"), &text));
        }
        serde_json::from_slice(&bytes).map_err(|e| failed("unexpected answer", &e))
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u32,
}

#[derive(Deserialize)]
struct Embeddings {
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
}

impl TextBackend for Upstream {
    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(
        &self,
        request: ChatRequest,
        tokens: mpsc::UnboundedSender<TokenChunk>,
    ) -> Result<ChatAnswer, BackendError> {
        // The whole answer is fetched, then streamed on as one piece: upstream token ids
        // are unknown, so there is nothing finer to forward.
        drop(tokens);
        let body = json!({
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": 0,
            "stream": false,
        });
        let completion: Completion = self.post("/v1/chat/completions", body).await?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::Failed("upstream gave no choices".into()))?;
        Ok(ChatAnswer {
            model: self.model.clone(),
            text: choice.message.content.unwrap_or_default(),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: completion.usage.unwrap_or_default().prompt_tokens,
            finish_reason: match choice.finish_reason.as_deref() {
                Some("length") => FinishReason::Length,
                _ => FinishReason::Stop,
            },
        })
    }
}

impl EmbeddingBackend for Upstream {
    fn model(&self) -> &str {
        &self.model
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedAnswer, BackendError> {
        let count = request.input.len();
        let body = json!({ "model": self.model, "input": request.input });
        let answer: Embeddings = self.post("/v1/embeddings", body).await?;
        if answer.data.len() != count {
            return Err(BackendError::Failed(format!(
                "upstream gave {} embeddings for {count} inputs",
                answer.data.len()
            )));
        }
        Ok(EmbedAnswer {
            model: self.model.clone(),
            embeddings: answer.data.into_iter().map(|d| d.embedding).collect(),
            prompt_tokens: answer.usage.unwrap_or_default().prompt_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_base_urls_are_taken() {
        let ok = Upstream::new("http://127.0.0.1:8000/v1/", "m", Duration::from_secs(1));
        assert_eq!(ok.map(|u| u.base), Ok("http://127.0.0.1:8000".to_owned()));
        for bad in [
            "https://api.example.com",
            "127.0.0.1:8000",
            "http://",
            "not a url",
        ] {
            assert!(
                Upstream::new(bad, "m", Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
    }
}
