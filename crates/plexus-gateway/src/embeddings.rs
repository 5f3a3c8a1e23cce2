//! `POST /v1/embeddings`: embedding miners' vectors in OpenAI's shape, as floats or
//! base64 (the `openai` Python package asks for base64 by default). A request's texts go
//! to miners in chunks ([`crate::call::EMBED_CHUNK_TEXTS`]), several at a time.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
use serde::Serialize;

use crate::openai::{ApiError, EmbeddingRequest, Usage, embedding_dimensions};
use crate::pick::{self, Candidate};
use crate::{Endpoint, Gateway, Service, name_miners, record};

/// Chunks of one request asked at once, each starting at a different miner.
const CHUNKS_AT_ONCE: usize = 4;

/// The answer: OpenAI's list of embeddings, serialized straight from the miners'
/// vectors (a `serde_json::Value` tree of 2,048 of them would take tens of MB).
#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingItem<'a>>,
    model: &'static str,
    usage: Usage,
}

#[derive(Serialize)]
struct EmbeddingItem<'a> {
    object: &'static str,
    index: usize,
    embedding: Vector<'a>,
}

/// A vector as numbers, or as base64 of its little-endian `f32`s.
#[derive(Serialize)]
#[serde(untagged)]
enum Vector<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

pub(crate) async fn embeddings(
    State(gateway): State<Gateway>,
    admitted: Admitted,
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
        // Each chunk sets off miner calls (and maybe a spot check) of its own.
        let extra = u32::try_from(chunks.len().saturating_sub(1)).unwrap_or(u32::MAX);
        gateway
            .inner
            .keys
            .charge(&admitted, extra, Instant::now())?;
        // One draw of the miners for the whole request: chunk k starts at the k-th, and
        // a miner that fails one chunk is not asked for another.
        let order = gateway.order(&service.view, 0)?;
        let failed = Mutex::new(BTreeSet::new());
        let (gateway, order, failed) = (&gateway, &order, &failed);
        let attempts = gateway.inner.config.attempts;
        // The first chunk to fail for good fails the request, and drops the rest.
        let mut answers: Vec<(usize, EmbedAnswer, Candidate)> =
            stream::iter(chunks.into_iter().enumerate())
                .map(|(k, chunk)| async move {
                    let miners = pick::turn(order, k, attempts);
                    let (answer, miner) = ask(gateway, service, &chunk, miners, failed).await?;
                    Ok::<_, ApiError>((k, answer, miner))
                })
                .buffer_unordered(CHUNKS_AT_ONCE)
                .try_collect()
                .await?;
        answers.sort_unstable_by_key(|(k, _, _)| *k);
        gateway.served_one();
        let prompt_tokens = answers
            .iter()
            .fold(0u32, |sum, (_, a, _)| sum.saturating_add(a.prompt_tokens));
        let data: Vec<EmbeddingItem<'_>> = answers
            .iter()
            .flat_map(|(_, answer, _)| &answer.embeddings)
            .enumerate()
            .map(|(index, v)| EmbeddingItem {
                object: "embedding",
                index,
                embedding: if base64 {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    Vector::Base64(STANDARD.encode(bytes))
                } else {
                    Vector::Floats(v)
                },
            })
            .collect();
        let list = EmbeddingList {
            object: "list",
            data,
            model: EMBEDDED_EMBEDDING_MODEL,
            usage: Usage::new(prompt_tokens, 0),
        };
        let response = Json(list).into_response();
        let miners: Vec<Candidate> = answers.into_iter().map(|(_, _, miner)| miner).collect();
        Ok(name_miners(response, &miners))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// One chunk's embeddings from the first of `miners` to answer it well.
async fn ask(
    gateway: &Gateway,
    service: &Service<EmbeddingModel>,
    embed: &EmbedRequest,
    miners: Vec<Candidate>,
    failed: &Mutex<BTreeSet<u16>>,
) -> Result<(EmbedAnswer, Candidate), ApiError> {
    let body = Bytes::from(serde_json::to_vec(embed).unwrap_or_default());
    let dimension = service.model.dimension();
    let (mut answer, miner, elapsed) = gateway
        .first_answer::<EmbedAnswer, _>(
            service,
            miners,
            failed,
            EMBED_ROUTE,
            body,
            gateway.inner.client.timeout(),
            |a| a.fits(embed, dimension),
        )
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
