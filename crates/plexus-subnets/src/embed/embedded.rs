//! The embeddings backend that runs the embedded all-MiniLM-L6-v2 model in-process.

use std::sync::Arc;

use plexus_models::EmbeddingModel;

use super::protocol::{EmbedAnswer, EmbedRequest};
use super::serve::EmbeddingBackend;
use crate::backend::BackendError;

/// Texts embedded in one go on a blocking thread.
const GROUP: usize = 32;

/// The name the embedded embedding model answers under.
pub const EMBEDDED_EMBEDDING_MODEL: &str = "all-minilm-l6-v2";

/// all-MiniLM-L6-v2 in this process, run on a blocking thread.
#[derive(Debug, Clone)]
pub struct EmbeddedEmbeddings {
    model: Arc<EmbeddingModel>,
}

impl EmbeddedEmbeddings {
    /// A backend over a loaded model.
    pub fn new(model: Arc<EmbeddingModel>) -> Self {
        Self { model }
    }
}

/// Embeds `texts` with `model` and counts their tokens; blocking.
pub(crate) fn embed_blocking(
    model: &EmbeddingModel,
    texts: &[String],
) -> Result<(Vec<Vec<f32>>, u32), BackendError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let vectors = model
        .embed(&refs)
        .map_err(|e| BackendError::Failed(e.to_string()))?;
    let mut tokens = 0usize;
    for text in &refs {
        tokens += model
            .count_tokens(text)
            .map_err(|e| BackendError::Failed(e.to_string()))?;
    }
    Ok((vectors, u32::try_from(tokens).unwrap_or(u32::MAX)))
}

impl EmbeddingBackend for EmbeddedEmbeddings {
    fn model(&self) -> &str {
        EMBEDDED_EMBEDDING_MODEL
    }

    async fn embed(&self, request: EmbedRequest) -> Result<EmbedAnswer, BackendError> {
        // A group at a time: a caller that hangs up drops this future, and no further
        // group is started for it.
        let mut embeddings = Vec::with_capacity(request.input.len());
        let mut prompt_tokens = 0u32;
        for group in request.input.chunks(GROUP) {
            let (model, group) = (Arc::clone(&self.model), group.to_vec());
            let (vectors, tokens) =
                tokio::task::spawn_blocking(move || embed_blocking(&model, &group))
                    .await
                    .map_err(|e| BackendError::Failed(format!("embedding thread: {e}")))??;
            embeddings.extend(vectors);
            prompt_tokens = prompt_tokens.saturating_add(tokens);
        }
        Ok(EmbedAnswer {
            model: EMBEDDED_EMBEDDING_MODEL.to_owned(),
            embeddings,
            prompt_tokens,
        })
    }
}
