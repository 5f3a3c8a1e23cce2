//! A miner backend that forwards to any OpenAI-compatible server (llama.cpp, vLLM,
//! Ollama, ...), for miners who run their models elsewhere.
//!
//! Upstream servers do not return token ids, so text answers carry none and validators
//! tokenize the text themselves; the upstream must run the subnet's model or its answers
//! will not verify. A conversation goes to the upstream's `/v1/chat/completions`, plain
//! text to its `/v1/completions`. Completions are asked for as a stream and passed on
//! piece by piece, so the time to the first token is the upstream's own; a server that answers
//! with one JSON body instead is read that way. `https://` upstreams are verified against
//! the Mozilla root certificates (webpki-roots), so no system certificate store is needed.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use plexus_wire::error_chain;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

use crate::backend::BackendError;
use crate::embed::{EmbedAnswer, EmbedRequest, EmbeddingBackend};
use crate::text::{ChatAnswer, ChatRequest, FinishReason, TextBackend, TokenChunk, first_stop};

mod stream;

pub use stream::{StreamError, UpstreamStream};
use stream::{Usage, finish_reason};

/// Largest upstream answer read whole.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Time a streamed answer may take per token asked for, on top of the timeout.
const PER_TOKEN: std::time::Duration = std::time::Duration::from_secs(2);

/// An OpenAI-compatible server at a base URL (`http://host:port`, with or without `/v1`).
#[derive(Clone)]
pub struct Upstream {
    base: String,
    model: String,
    timeout: Duration,
    api_key: Option<String>,
    http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The API key is a secret: never in logs.
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Forwards to `url` (`http://` or `https://`), asking for `model`; `timeout` bounds
    /// the wait for the answer to start and every pause within it.
    pub fn new(url: &str, model: &str, timeout: Duration) -> Result<Self, BackendError> {
        let trimmed = url.trim_end_matches('/');
        let base = trimmed.strip_suffix("/v1").unwrap_or(trimmed);
        let uri: http::Uri = base
            .parse()
            .map_err(|e| BackendError::BadRequest(format!("bad upstream URL {url}: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(BackendError::BadRequest(format!(
                "upstream URL {url} must look like http://host:port or https://host"
            )));
        }
        // Credentials in the URL would not be sent (no client turns them into a header
        // here), and the URL appears in errors that reach validators: refused, without
        // repeating it.
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(BackendError::BadRequest(
                "the upstream URL holds credentials (user:password@): pass a key with \
                 --upstream-api-key instead"
                    .into(),
            ));
        }
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| BackendError::Failed(format!("TLS setup: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: base.to_owned(),
            model: model.to_owned(),
            timeout,
            api_key: None,
            http: HttpClient::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Asks for `model` instead.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sends `key` as a bearer token (`Authorization: Bearer KEY`), as servers started
    /// with an API key (vLLM's `--api-key`, llama.cpp's `--api-key`) require.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    fn failed(&self, path: &str, what: &str, e: &dyn fmt::Display) -> BackendError {
        BackendError::Failed(format!("upstream {}{path}: {what}: {e}", self.base))
    }

    /// Sends `body` to `path` and waits for the status and headers; an error status is
    /// read (a little of it) into the error.
    async fn send(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Response<Incoming>, BackendError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{path}", self.base))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = &self.api_key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| self.failed(path, "request", &e))?;
        let response = tokio::time::timeout(self.timeout, self.http.request(request))
            .await
            .map_err(|_| self.failed(path, "timed out", &"no answer"))?
            .map_err(|e| self.failed(path, "unreachable", &error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = tokio::time::timeout(self.timeout, self.read(path, response))
            .await
            .unwrap_or_else(|_| Ok(Bytes::new()))
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
        Err(self.failed(path, &format!("status {status}"), &text))
    }

    async fn read(&self, path: &str, response: Response<Incoming>) -> Result<Bytes, BackendError> {
        Ok(Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| self.failed(path, "reading", &e))?
            .to_bytes())
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, BackendError> {
        let response = self.send(path, body).await?;
        let bytes = tokio::time::timeout(self.timeout, self.read(path, response))
            .await
            .map_err(|_| self.failed(path, "timed out", &"answer incomplete"))??;
        serde_json::from_slice(&bytes).map_err(|e| self.failed(path, "unexpected answer", &e))
    }

    /// Reads an OpenAI (chat) completion event stream ([`UpstreamStream`]), passing each
    /// piece of text on to `tokens` as it comes. The stream may take the timeout plus
    /// [`PER_TOKEN`] for each token asked for in all, however steadily events come.
    async fn read_stream(
        &self,
        path: &str,
        response: Response<Incoming>,
        tokens: &mpsc::UnboundedSender<TokenChunk>,
        request: &ChatRequest,
    ) -> Result<ChatAnswer, BackendError> {
        let due = tokio::time::Instant::now()
            + self.timeout
            + PER_TOKEN.saturating_mul(request.max_tokens);
        let mut body = response.into_body();
        let mut reading = UpstreamStream::new(self.model.clone(), request);
        let failed = |e: StreamError| self.failed(path, e.what, &e.why);
        loop {
            let stalled = tokio::time::Instant::now() + self.timeout;
            let frame = tokio::time::timeout_at(stalled.min(due), body.frame())
                .await
                .map_err(|_| self.failed(path, "timed out", &"the stream stalled or ran long"))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| self.failed(path, "reading", &e))?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let stopped = reading
                .push(data, |text| {
                    // A caller that hung up is the handler's concern, not ours.
                    let _ = tokens.send(TokenChunk {
                        token: None,
                        text,
                        logprob: None,
                    });
                })
                .map_err(failed)?;
            if let Some(answer) = stopped {
                return Ok(answer);
            }
        }
        reading.finish().map_err(failed)
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
    /// A chat completion's answer.
    #[serde(default)]
    message: Option<Message>,
    /// A plain completion's answer.
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
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
        let (path, mut body) = match &request.prompt {
            Some(prompt) => ("/v1/completions", json!({ "prompt": prompt })),
            None => (
                "/v1/chat/completions",
                json!({ "messages": request.messages }),
            ),
        };
        body["model"] = json!(self.model);
        body["max_tokens"] = json!(request.max_tokens);
        body["temperature"] = json!(0);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let response = self.send(path, body).await?;
        let streamed = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if streamed {
            return self.read_stream(path, response, &tokens, &request).await;
        }
        // A server that does not stream answers with the whole completion; the handler
        // passes its text on as one piece.
        drop(tokens);
        let bytes = tokio::time::timeout(self.timeout, self.read(path, response))
            .await
            .map_err(|_| self.failed(path, "timed out", &"answer incomplete"))??;
        let completion: Completion = serde_json::from_slice(&bytes)
            .map_err(|e| self.failed(path, "unexpected answer", &e))?;
        let choice = completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::Failed("upstream gave no choices".into()))?;
        // A chat answer holds a message (whose content may be null: nothing said), a
        // completion its text; an answer without either is not one.
        let text = match request.prompt {
            Some(_) => choice.text,
            None => choice.message.map(|m| m.content.unwrap_or_default()),
        };
        let mut text = text.ok_or_else(|| self.failed(path, "unexpected answer", &"no text"))?;
        // A server that does not say why it stopped stopped on its own.
        let mut finish = finish_reason(choice.finish_reason.as_deref().unwrap_or("stop"))
            .map_err(|why| self.failed(path, "ended", &why))?;
        if let Some(stop) = first_stop(&text, &request.stop) {
            text.truncate(stop.end);
            finish = FinishReason::Stop;
        }
        Ok(ChatAnswer {
            model: self.model.clone(),
            text,
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: completion.usage.unwrap_or_default().prompt_tokens,
            finish_reason: finish,
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
    fn http_and_https_base_urls_are_taken() {
        let ok = Upstream::new("http://127.0.0.1:8000/v1/", "m", Duration::from_secs(1));
        assert_eq!(ok.map(|u| u.base), Ok("http://127.0.0.1:8000".to_owned()));
        let tls = Upstream::new("https://api.example.com/v1", "m", Duration::from_secs(1));
        assert_eq!(
            tls.map(|u| u.base),
            Ok("https://api.example.com".to_owned())
        );
        for bad in [
            "ftp://api.example.com",
            "127.0.0.1:8000",
            "http://",
            "not a url",
        ] {
            assert!(
                Upstream::new(bad, "m", Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
        // Credentials in the URL are refused, and the error does not repeat them.
        let secret = Upstream::new("https://me:hunter2@api.example.com", "m", Duration::ZERO);
        let why = secret.map(|_| ()).unwrap_err().to_string();
        assert!(
            why.contains("--upstream-api-key") && !why.contains("hunter2"),
            "{why}"
        );
    }
}
