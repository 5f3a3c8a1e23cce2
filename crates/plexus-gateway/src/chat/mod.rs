//! `POST /v1/chat/completions` and `POST /v1/completions`: a text miner's answer, whole or
//! streamed, in OpenAI's shapes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::body::Body;
use crate::keys::Admitted;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Json, Response};
use plexus_models::TextModel;
use plexus_subnets::text::{
    CHAT_ROUTE, ChatAnswer, ChatRequest, CheckError, EMBEDDED_TEXT_MODEL, FinishReason,
    TextJudgeConfig, check_answer,
};
use plexus_subnets::{Evaluation, Scores};
use serde_json::{Value, json};

use crate::call::{Delivery, TextCall, parse};
use crate::openai::{ApiError, ChatCompletionRequest, CompletionRequest, Usage};
use crate::pick::Candidate;
use crate::stop::cut_at;
use crate::{Endpoint, Gateway, Service, name_miners, record, request_id, unix_now};

mod logprobs;
mod relay;

use relay::{stream, whole_cut};

/// Which OpenAI endpoint is answering: the shapes differ, the work does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Chat,
    Completion,
}

pub(crate) async fn chat_completions(
    State(gateway): State<Gateway>,
    _: Admitted,
    Body(body): Body,
) -> Response {
    let result = async {
        let request: ChatCompletionRequest = parse(&body)?;
        let service = text_service(&gateway, &request.model)?;
        let TextCall { chat, delivery } = request.into_call()?;
        answer(&gateway, service, chat, Shape::Chat, delivery).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn completions(
    State(gateway): State<Gateway>,
    _: Admitted,
    Body(body): Body,
) -> Response {
    let result = async {
        let request: CompletionRequest = parse(&body)?;
        let service = text_service(&gateway, &request.model)?;
        let TextCall { chat, delivery } = request.into_call()?;
        answer(&gateway, service, chat, Shape::Completion, delivery).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

fn text_service<'a>(gateway: &'a Gateway, model: &str) -> Result<&'a Service<TextModel>, ApiError> {
    match &gateway.inner.text {
        Some(service) if model == EMBEDDED_TEXT_MODEL => Ok(service),
        _ => Err(gateway.model_error(model, Endpoint::Text)),
    }
}

async fn answer(
    gateway: &Gateway,
    service: &Service<TextModel>,
    mut chat: ChatRequest,
    shape: Shape,
    delivery: Delivery,
) -> Result<Response, ApiError> {
    let prompt_tokens = fit(&service.model, &mut chat)?;
    if chat.stream {
        return stream(gateway, service, chat, prompt_tokens, shape, delivery).await;
    }
    if !chat.stop.is_empty() {
        return whole_cut(gateway, service, chat, prompt_tokens, shape, delivery).await;
    }
    let body = Bytes::from(serde_json::to_vec(&chat).unwrap_or_default());
    let (answer, miner, elapsed) = gateway
        .first_answer::<ChatAnswer, _>(
            service,
            gateway.candidates(&service.view, chat.axon_version())?,
            &Mutex::default(),
            CHAT_ROUTE,
            body,
            gateway.start_within(prompt_tokens),
            |answer: &ChatAnswer| answer.fits(&chat),
        )
        .await?;
    // Usage counts what the miner generated, through the stop string: that is the work done.
    let usage = usage(&service.model, prompt_tokens, &answer);
    // The spot check sees the miner's whole answer; the consumer sees it cut.
    let (text, finish_reason) = match cut_at(&answer.text, &chat.stop) {
        Some(at) => (answer.text[..at].to_owned(), "stop"),
        None => (answer.text.clone(), finish(answer.finish_reason)),
    };
    let logprobs = match delivery.logprobs {
        true => Some(token_logprobs(gateway, &service.model, &chat, &answer, text.len()).await),
        false => None,
    };
    spot_check(
        gateway,
        &service.model,
        &service.scores,
        &miner,
        chat,
        answer,
        elapsed,
    );
    gateway.served_one();
    let body = whole_body(
        shape,
        delivery.echo.as_deref(),
        &text,
        finish_reason,
        usage,
        logprobs,
    );
    Ok(name_miners(
        Json(body).into_response(),
        std::slice::from_ref(&miner),
    ))
}

/// Checks a request before any miner sees it, so that a consumer's mistake never counts
/// against a miner: that the model can read its prompt and fit it in its context (its
/// other bounds were checked as it was read, [`TextCall`]). The answer's budget shrinks to what the context leaves (a miner would stop
/// there anyway, short of the budget asked for, which the spot check refuses). Returns the
/// prompt's tokens, for the answer's usage.
fn fit(model: &TextModel, chat: &mut ChatRequest) -> Result<u32, ApiError> {
    let field = if chat.prompt.is_some() {
        "prompt"
    } else {
        "messages"
    };
    let bad = |why: String| ApiError::bad_request(Some(field), why);
    let prompt = model
        .prompt(chat.input())
        .map_err(|e| bad(e.to_string()))?
        .len();
    let context = model.context_length();
    let room = context.saturating_sub(prompt);
    if room == 0 {
        return Err(bad(format!(
            "the prompt is {prompt} tokens; the model's context holds {context}, answer \
             included"
        )));
    }
    chat.max_tokens = chat.max_tokens.min(u32::try_from(room).unwrap_or(u32::MAX));
    Ok(u32::try_from(prompt).unwrap_or(u32::MAX))
}

/// The log-probability entries of a whole answer cut at byte `cut` (see
/// [`logprobs::whole`]), off the async threads; when that runs the model, one answer at a
/// time.
async fn token_logprobs(
    gateway: &Gateway,
    model: &Arc<TextModel>,
    chat: &ChatRequest,
    answer: &ChatAnswer,
    cut: usize,
) -> Vec<Value> {
    let _turn = match logprobs::claimed(answer) {
        true => None,
        false => gateway.inner.scoring.acquire().await.ok(),
    };
    let (model, chat, answer) = (Arc::clone(model), chat.clone(), answer.clone());
    tokio::task::spawn_blocking(move || logprobs::whole(&model, chat.input(), &answer, cut))
        .await
        .unwrap_or_default()
}

fn finish(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// Token counts: the prompt's `prompt_tokens`, as [`fit`] counted them with the model (the
/// gateway runs the same model as its miners, so a miner's own count is not needed, nor
/// trusted), and the completion's tokens without the stop token (counted by the model
/// when the miner sent text alone). The answer has passed [`ChatAnswer::fits`], so its
/// text is short.
fn usage(model: &TextModel, prompt_tokens: u32, answer: &ChatAnswer) -> Usage {
    let completion = if answer.tokens.is_empty() {
        model.tokenize(&answer.text).map_or(0, |t| t.len())
    } else {
        answer.tokens.iter().filter(|t| !model.is_stop(**t)).count()
    };
    Usage::new(prompt_tokens, u32::try_from(completion).unwrap_or(u32::MAX))
}

/// A whole answer's body; a completion's text follows the echoed prompt, if any.
fn whole_body(
    shape: Shape,
    echo: Option<&str>,
    text: &str,
    finish_reason: &str,
    usage: Usage,
    logprobs: Option<Vec<Value>>,
) -> Value {
    let logprobs = logprobs.map_or(Value::Null, logprobs::choice_logprobs);
    let text = format!("{}{text}", echo.unwrap_or_default());
    let (id, object, choice) = match shape {
        Shape::Chat => (
            request_id("chatcmpl"),
            "chat.completion",
            json!({"index": 0, "message": {"role": "assistant", "content": text},
                   "finish_reason": finish_reason, "logprobs": logprobs}),
        ),
        Shape::Completion => (
            request_id("cmpl"),
            "text_completion",
            json!({"index": 0, "text": text,
                   "finish_reason": finish_reason, "logprobs": null}),
        ),
    };
    json!({"id": id, "object": object, "created": unix_now(), "model": EMBEDDED_TEXT_MODEL,
           "choices": [choice], "usage": usage})
}

/// Re-checks a sample of answers off the request path and scores the miner on the result.
fn spot_check(
    gateway: &Gateway,
    model: &Arc<TextModel>,
    scores: &Arc<Mutex<Scores>>,
    miner: &Candidate,
    chat: ChatRequest,
    answer: ChatAnswer,
    elapsed: Duration,
) {
    let Some(permit) = gateway.spot_check() else {
        return;
    };
    let (model, scores, miner) = (Arc::clone(model), Arc::clone(scores), *miner);
    let judge = TextJudgeConfig::default();
    tokio::spawn(async move {
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            check_answer(&model, &chat, &answer, judge.tolerance)
        })
        .await;
        // A failure of the gateway's own thread says nothing of the miner.
        let Ok(checked) = checked else {
            return;
        };
        let evaluation = match checked {
            Ok(tokens) => Evaluation::correct_at_speed(tokens, elapsed, judge.targets.per_second),
            Err(CheckError::Wrong(why)) => {
                tracing::warn!(uid = miner.uid, %why, "spot check failed");
                Evaluation::wrong(why)
            }
            // Nor does a failure of the gateway's own model.
            Err(CheckError::Unjudged(why)) => {
                tracing::warn!(uid = miner.uid, %why, "spot check not judged");
                return;
            }
        };
        record(&scores, &miner, evaluation.score);
    });
}
