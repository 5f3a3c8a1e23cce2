//! `POST /v1/embeddings`: an embedding miner's vectors in OpenAI's shape, as floats or
//! base64 (the `openai` Python package asks for base64 by default).

use std::sync::Arc;

use crate::body::Body;
use crate::call::{EmbedCall, parse};
use crate::keys::Admitted;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{StreamExt, TryStreamExt, stream};
use plexus_models::{EmbeddingModel, MAX_EMBEDDING_TOKENS};
use plexus_subnets::Evaluation;
use plexus_subnets::embed::{
    EMBED_ROUTE, EMBEDDED_EMBEDDING_MODEL, EmbedAnswer, EmbedRequest, TARGET_TEXTS_PER_SECOND,
    check_embeddings,
};
use serde_json::{Value, json};

use crate::openai::{ApiError, EmbeddingRequest, Usage, embedding_dimensions};
use crate::pick::Candidate;
use crate::{Endpoint, Gateway, Service, name_miners, record};

/// Chunks of one request asked at once, each starting at a different miner.
const CHUNKS_AT_ONCE: usize = 4;

pub(crate) async fn embeddings(
    State(gateway): State<Gateway>,
    _: Admitted,
    Body(body): Body,
) -> Response {
    let result = async {
        let request: EmbeddingRequest = parse(&body)?;
        let service = match &gateway.inner.embeddings {
            Some(service) if request.model == EMBEDDED_EMBEDDING_MODEL => service,
            _ => return Err(gateway.model_error(&request.model, Endpoint::Embeddings)),
        };
        let EmbedCall { chunks, base64 } = request.into_call()?;
        embedding_dimensions(request.dimensions, service.model.dimension())?;
        // In order; the first chunk to fail for good fails the request, and drops the rest.
        let gateway = &gateway;
        let answers: Vec<(EmbedAnswer, Candidate)> = stream::iter(chunks.into_iter().enumerate())
            .map(|(k, chunk)| async move { ask(gateway, service, &chunk, k).await })
            .buffered(CHUNKS_AT_ONCE)
            .try_collect()
            .await?;
        gateway.served_one();
        let prompt_tokens = answers
            .iter()
            .fold(0u32, |sum, (a, _)| sum.saturating_add(a.prompt_tokens));
        let data: Vec<Value> = answers
            .iter()
            .flat_map(|(answer, _)| &answer.embeddings)
            .enumerate()
            .map(|(index, v)| {
                let embedding = if base64 {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    json!(STANDARD.encode(bytes))
                } else {
                    json!(v)
                };
                json!({"object": "embedding", "index": index, "embedding": embedding})
            })
            .collect();
        let body = json!({
            "object": "list",
            "data": data,
            "model": EMBEDDED_EMBEDDING_MODEL,
            "usage": Usage::new(prompt_tokens, 0),
        });
        let miners: Vec<Candidate> = answers.into_iter().map(|(_, miner)| miner).collect();
        Ok(name_miners(Json(body).into_response(), &miners))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// One chunk's embeddings from the first miner to answer it well, trying the candidates
/// from the `k`-th on.
async fn ask(
    gateway: &Gateway,
    service: &Service<EmbeddingModel>,
    embed: &EmbedRequest,
    k: usize,
) -> Result<(EmbedAnswer, Candidate), ApiError> {
    let body = Bytes::from(serde_json::to_vec(embed).unwrap_or_default());
    let dimension = service.model.dimension();
    let (mut answer, miner, elapsed) = gateway
        .first_answer::<EmbedAnswer, _>(service, 0, EMBED_ROUTE, body, k, |a| {
            a.fits(embed, dimension)
        })
        .await?;
    // Usage is the miner's count, held to what the model can read of the texts.
    let most_tokens = embed.input.len().saturating_mul(MAX_EMBEDDING_TOKENS);
    answer.prompt_tokens = answer
        .prompt_tokens
        .min(u32::try_from(most_tokens).unwrap_or(u32::MAX));
    if let Some(permit) = gateway.spot_check() {
        let (model, scores) = (Arc::clone(&service.model), Arc::clone(&service.scores));
        let (texts, answer) = (embed.input.clone(), answer.clone());
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let expected = model.embed(&refs).ok()?;
                Some(check_embeddings(&expected, &answer).map(|()| texts.len()))
            })
            .await;
            // The gateway's own model or thread failing says nothing of the miner.
            let Ok(Some(checked)) = checked else {
                return;
            };
            let evaluation = match checked {
                Ok(n) => Evaluation::correct_at_speed(n, elapsed, TARGET_TEXTS_PER_SECOND),
                Err(why) => {
                    tracing::warn!(uid = miner.uid, %why, "spot check failed");
                    Evaluation::wrong(why)
                }
            };
            record(&scores, &miner, evaluation.score);
        });
    }
    Ok((answer, miner))
}
