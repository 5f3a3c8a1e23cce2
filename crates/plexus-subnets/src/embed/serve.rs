//! The embedding miner: an [`EmbeddingBackend`] behind the embed route.

use std::future::Future;
use std::sync::Arc;

use plexus_wire::{HandlerError, Reply, RouteError, Routes};

use super::protocol::{EMBED_ROUTE, EmbedAnswer, EmbedRequest};
use crate::backend::BackendError;

/// Something that embeds texts: the embedded model or an upstream server.
pub trait EmbeddingBackend: Send + Sync + 'static {
    /// The model's name, reported in answers.
    fn model(&self) -> &str;

    /// Embeds every text of `request`, in order.
    fn embed(
        &self,
        request: EmbedRequest,
    ) -> impl Future<Output = Result<EmbedAnswer, BackendError>> + Send;
}

/// The routes an embedding miner serves with `backend`.
pub fn embed_routes<B: EmbeddingBackend>(backend: Arc<B>) -> Result<Routes, RouteError> {
    Routes::new().route(EMBED_ROUTE, move |request| {
        let backend = Arc::clone(&backend);
        async move {
            let embed: EmbedRequest = request.json()?;
            embed.validate().map_err(HandlerError::bad_request)?;
            let answer = backend.embed(embed).await.map_err(HandlerError::from)?;
            Reply::json(&answer)
        }
    })
}
