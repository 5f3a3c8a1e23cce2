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
use plexus_models::{EmbeddingModel, MAX_EMBEDDING_TOKENS};
use plexus_subnets::Evaluation;
use plexus_subnets::embed::{
    EMBED_ROUTE, EMBEDDED_EMBEDDING_MODEL, EmbedAnswer, EmbedRequest, TARGET_TEXTS_PER_SECOND,
    check_embeddings,
};
use serde_json::{Value, json};

use crate::openai::{ApiError, EmbeddingRequest, Usage, embedding_dimensions};
use crate::pick::Candidate;
use crate::{Endpoint, Gateway, Service, name_miner, record};

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
        let EmbedCall { embed, base64 } = request.into_call()?;
        embedding_dimensions(request.dimensions, service.model.dimension())?;
        let (answer, miner) = ask(&gateway, service, &embed).await?;
        gateway.served_one();
        let data: Vec<Value> = answer
            .embeddings
            .iter()
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
            "usage": Usage::new(answer.prompt_tokens, 0),
        });
        Ok(name_miner(Json(body).into_response(), &miner))
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

async fn ask(
    gateway: &Gateway,
    service: &Service<EmbeddingModel>,
    embed: &EmbedRequest,
) -> Result<(EmbedAnswer, Candidate), ApiError> {
    let body = Bytes::from(serde_json::to_vec(embed).unwrap_or_default());
    let dimension = service.model.dimension();
    let (mut answer, miner, elapsed) = gateway
        .first_answer::<EmbedAnswer>(&service.view, 0, &service.scores, EMBED_ROUTE, body, |a| {
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
