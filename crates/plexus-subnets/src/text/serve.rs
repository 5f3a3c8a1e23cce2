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

    /// Completes `request` greedily, sending each token to `tokens` as it is made, and
    /// returns the whole answer. The receiver is dropped when the caller hangs up,
    /// streaming or not: work off the async threads should stop once a send fails.
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
                // Unread (the answer comes whole), but dropped with this future when the
                // caller hangs up, which tells the backend to stop.
                let _caller = rx;
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
    // Stopped with the stream: a caller that hung up leaves nothing running for it.
    let done = Running(tokio::spawn(
        async move { backend.complete(chat, tx).await },
    ));
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
            Err(e) => return vec![Err(HandlerError::from(BackendError::Failed(e.to_string())))],
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

/// A spawned task that is aborted when dropped.
struct Running<T>(tokio::task::JoinHandle<T>);

impl<T> Future for Running<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for Running<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use plexus_primitives::{AccountId, NetUid};
    use plexus_wire::{Handler, NeuronInfo, WireRequest};
    use tokio::sync::oneshot;

    use super::*;
    use crate::text::ChatMessage;

    /// Waits until its caller is gone, as a model on a blocking thread would, or else for
    /// ever, as an upstream that never ends would (`deaf`); says whether the caller was
    /// there at first, and when the wait ends or is dropped.
    struct Patient {
        deaf: bool,
        there_at_first: std::sync::Mutex<Option<oneshot::Sender<bool>>>,
        gone: std::sync::Mutex<Option<oneshot::Sender<()>>>,
    }

    /// Tells `gone` when dropped: the work was stopped, or saw its caller go.
    struct Told(Option<oneshot::Sender<()>>);

    impl Drop for Told {
        fn drop(&mut self) {
            if let Some(gone) = self.0.take() {
                let _ = gone.send(());
            }
        }
    }

    impl TextBackend for Patient {
        fn model(&self) -> &str {
            "patient"
        }

        async fn complete(
            &self,
            _request: ChatRequest,
            tokens: mpsc::UnboundedSender<TokenChunk>,
        ) -> Result<ChatAnswer, BackendError> {
            if let Some(first) = take(&self.there_at_first) {
                let _ = first.send(!tokens.is_closed());
            }
            let told = Told(take(&self.gone));
            if self.deaf {
                // Holds `told` until the future is dropped.
                let _told = told;
                let never: std::convert::Infallible = std::future::pending().await;
                match never {}
            }
            tokio::task::spawn_blocking(move || {
                let _told = told;
                while !tokens.is_closed() {
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .await
            .ok();
            Err(BackendError::Failed("the caller is gone".into()))
        }
    }

    fn take<T>(slot: &std::sync::Mutex<Option<T>>) -> Option<T> {
        slot.lock().ok().and_then(|mut s| s.take())
    }

    fn asked(stream: bool) -> WireRequest {
        let chat = ChatRequest {
            stream,
            ..ChatRequest::chat(vec![ChatMessage::user("hi")], 8)
        };
        WireRequest {
            caller: AccountId([1; 32]),
            neuron: NeuronInfo {
                stake: 1,
                validator_permit: true,
            },
            netuid: NetUid(1),
            route: CHAT_ROUTE.to_owned(),
            nonce: 1,
            body: Bytes::from(serde_json::to_vec(&chat).unwrap_or_default()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_hangs_up_stops_the_work_whole_or_streamed() {
        for (stream, deaf) in [(false, false), (true, false), (false, true), (true, true)] {
            let (first_tx, first) = oneshot::channel();
            let (gone_tx, gone) = oneshot::channel();
            let routes = text_routes(Arc::new(Patient {
                deaf,
                there_at_first: std::sync::Mutex::new(Some(first_tx)),
                gone: std::sync::Mutex::new(Some(gone_tx)),
            }))
            .unwrap();
            let handled = routes.handle(asked(stream));
            if stream {
                let reply = handled.await;
                assert!(matches!(reply, Ok(Reply::Stream(_))), "{stream}");
                // The stream's task runs: the caller is there until the stream goes.
                assert_eq!(first.await.ok(), Some(true), "{stream}");
                drop(reply);
            } else {
                let pending = tokio::time::timeout(Duration::from_millis(200), handled);
                // The caller waits for a whole answer: the work sees it there...
                assert!(pending.await.is_err(), "{stream}");
                assert_eq!(first.await.ok(), Some(true), "{stream}");
            }
            // ...and sees it go once it hangs up.
            let stopped = tokio::time::timeout(Duration::from_secs(5), gone).await;
            assert!(matches!(stopped, Ok(Ok(()))), "{stream} {deaf}");
        }
    }
}
