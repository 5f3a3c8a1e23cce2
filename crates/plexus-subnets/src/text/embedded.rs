//! The text backend that runs the embedded SmolLM2 model in-process.

use std::ops::ControlFlow;
use std::sync::Arc;

use plexus_models::{FinishReason as ModelFinish, TextError, TextModel};
use tokio::sync::mpsc;

use super::protocol::{ChatAnswer, ChatRequest, FinishReason, TokenChunk};
use super::serve::TextBackend;
use super::stop::stop_after;
use crate::backend::BackendError;

/// The name the embedded text model answers under.
pub const EMBEDDED_TEXT_MODEL: &str = "smollm2-135m-instruct";

/// SmolLM2 in this process. Generation runs on a blocking thread; calls share the model's
/// compute pool and so run one after another.
#[derive(Debug, Clone)]
pub struct EmbeddedText {
    model: Arc<TextModel>,
}

impl EmbeddedText {
    /// A backend over a loaded model.
    pub fn new(model: Arc<TextModel>) -> Self {
        Self { model }
    }
}

fn model_error(e: TextError) -> BackendError {
    match e {
        TextError::EmptyConversation
        | TextError::EmptyPrompt
        | TextError::ControlTokenInPrompt(_)
        | TextError::ContextTooLong { .. } => BackendError::BadRequest(e.to_string()),
        other => BackendError::Failed(other.to_string()),
    }
}

impl TextBackend for EmbeddedText {
    fn model(&self) -> &str {
        EMBEDDED_TEXT_MODEL
    }

    async fn complete(
        &self,
        request: ChatRequest,
        tokens: mpsc::UnboundedSender<TokenChunk>,
    ) -> Result<ChatAnswer, BackendError> {
        let model = Arc::clone(&self.model);
        let (generation, at_stop) = tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            let mut at_stop = false;
            let generation = model.generate(request.input(), request.max_tokens as usize, |t| {
                let before = text.len();
                text.push_str(&t.text);
                // The token that completes a stop string is the answer's last.
                at_stop = stop_after(&text, &request.stop, before).is_some();
                let chunk = TokenChunk {
                    token: Some(t.id),
                    text: t.text.clone(),
                    logprob: Some(t.logprob),
                };
                // A caller that hung up, streaming or not, stops the work.
                let gone = tokens.send(chunk).is_err();
                if at_stop || gone {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            generation.map(|g| (g, at_stop))
        })
        .await
        .map_err(|e| BackendError::Failed(format!("generation thread: {e}")))?
        .map_err(model_error)?;
        Ok(ChatAnswer {
            model: EMBEDDED_TEXT_MODEL.to_owned(),
            text: generation.text,
            logprobs: generation.tokens.iter().map(|t| t.logprob).collect(),
            tokens: generation.tokens.iter().map(|t| t.id).collect(),
            prompt_tokens: u32::try_from(generation.prompt_tokens).unwrap_or(u32::MAX),
            finish_reason: match generation.finish {
                ModelFinish::Stop => FinishReason::Stop,
                ModelFinish::Cancelled if at_stop => FinishReason::Stop,
                ModelFinish::Length | ModelFinish::Cancelled => FinishReason::Length,
            },
        })
    }
}
