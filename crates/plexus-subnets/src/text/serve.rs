//! The text miner: a [`TextBackend`] behind the chat route, answered whole or streamed.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use plexus_wire::{HandlerError, Reply, RouteError, Routes};
use tokio::sync::mpsc;

use super::protocol::{CHAT_ROUTE, ChatAnswer, ChatRequest, StreamEnd, StreamEvent, TokenChunk};
use crate::backend::BackendError;

/// Something that completes chats and plain text: the embedded model or an upstream
/// server.
pub trait TextBackend: Send + Sync + 'static {
    /// The model's name, reported in answers.
    fn model(&self) -> &str;

    /// Completes `request` greedily, sending each token to `tokens` as it is made (the
    /// receiver may be gone; sending is best effort), and returns the whole answer.
    fn complete(
        &self,
        request: ChatRequest,
        tokens: mpsc::UnboundedSender<TokenChunk>,
    ) -> impl Future<Output = Result<ChatAnswer, BackendError>> + Send;
}

/// The routes a text miner serves with `backend`.
pub fn text_routes<B: TextBackend>(backend: Arc<B>) -> Result<Routes, RouteError> {
    Routes::new().route(CHAT_ROUTE, move |request| {
        let backend = Arc::clone(&backend);
        async move {
            let chat: ChatRequest = request.json()?;
            chat.validate().map_err(HandlerError::bad_request)?;
            let (tx, rx) = mpsc::unbounded_channel();
            if !chat.stream {
                drop(rx);
                let answer = backend
                    .complete(chat, tx)
                    .await
                    .map_err(HandlerError::from)?;
                return Reply::json(&answer);
            }
            Ok(Reply::stream(stream_answer(backend, chat, tx, rx)))
        }
    })
}

/// The token events as they come, then the end; a backend failure ends the stream with
/// its error, which the miner signs as such.
fn stream_answer<B: TextBackend>(
    backend: Arc<B>,
    chat: ChatRequest,
    tx: mpsc::UnboundedSender<TokenChunk>,
    rx: mpsc::UnboundedReceiver<TokenChunk>,
) -> impl futures_util::Stream<Item = Result<serde_json::Value, HandlerError>> + Send + 'static {
    let done = tokio::spawn(async move { backend.complete(chat, tx).await });
    // Whether any piece went out as it came: if not, the answer's text goes at the end.
    let forwarded = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&forwarded);
    let tokens = futures_util::stream::unfold(rx, move |mut rx| {
        let seen = Arc::clone(&seen);
        async move {
            let chunk = rx.recv().await?;
            let event = serde_json::to_value(StreamEvent::Token(chunk)).ok()?;
            seen.store(true, Ordering::Relaxed);
            Some((Ok(event), rx))
        }
    });
    let end = futures_util::stream::once(async move {
        let answer = match done.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return vec![Err(HandlerError::from(e))],
            Err(e) => return vec![Err(HandlerError::internal(format!("backend failed: {e}")))],
        };
        let mut events = Vec::with_capacity(2);
        // A backend that streamed nothing (an upstream server that answered in one body)
        // sends its text as one piece.
        if !forwarded.load(Ordering::Relaxed) && !answer.text.is_empty() {
            events.push(StreamEvent::Token(TokenChunk {
                token: None,
                text: answer.text,
                logprob: None,
            }));
        }
        events.push(StreamEvent::End(StreamEnd {
            model: answer.model,
            prompt_tokens: answer.prompt_tokens,
            finish_reason: answer.finish_reason,
        }));
        events
            .into_iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .map(Ok)
            .collect()
    });
    let end = futures_util::StreamExt::flat_map(end, futures_util::stream::iter);
    futures_util::StreamExt::chain(tokens, end)
}
