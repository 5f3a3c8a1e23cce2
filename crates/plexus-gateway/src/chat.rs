//! `POST /v1/chat/completions` and `POST /v1/completions`: a text miner's answer, whole or
//! streamed, in OpenAI's shapes.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures_util::StreamExt;
use plexus_models::TextModel;
use plexus_subnets::text::{
    CHAT_ROUTE, ChatAnswer, ChatMessage, ChatRequest, EMBEDDED_TEXT_MODEL, FinishReason,
    StreamEvent, TextJudgeConfig, check_answer,
};
use plexus_subnets::{Evaluation, Scores};
use plexus_wire::ResponseStream;
use serde_json::{Value, json};

use crate::openai::{
    ApiError, ChatCompletionRequest, CompletionRequest, Usage, chat_messages, max_tokens,
    single_choice,
};
use crate::pick::Candidate;
use crate::{Gateway, Service, name_miner, parse, record, request_id, unix_now};

/// Which OpenAI endpoint is answering: the shapes differ, the work does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Chat,
    Completion,
}

pub(crate) async fn chat_completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        gateway.admit(&headers)?;
        let request: ChatCompletionRequest = parse(&body)?;
        let service = text_service(&gateway, &request.model)?;
        single_choice(request.n)?;
        let chat = ChatRequest {
            messages: chat_messages(&request.messages)?,
            max_tokens: max_tokens(request.max_completion_tokens.or(request.max_tokens))?,
            stream: request.stream.unwrap_or(false),
        };
        answer(&gateway, service, chat, Shape::Chat).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

pub(crate) async fn completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        gateway.admit(&headers)?;
        let request: CompletionRequest = parse(&body)?;
        let service = text_service(&gateway, &request.model)?;
        single_choice(request.n)?;
        // The model is a chat model: a prompt is the user's one message.
        let prompt = match &request.prompt {
            Value::String(s) => s.clone(),
            Value::Array(items) if items.len() == 1 && items[0].is_string() => {
                items[0].as_str().unwrap_or_default().to_owned()
            }
            _ => {
                return Err(ApiError::bad_request(
                    Some("prompt"),
                    "prompt must be one string",
                ));
            }
        };
        let chat = ChatRequest {
            messages: vec![ChatMessage::user(prompt)],
            max_tokens: max_tokens(request.max_tokens)?,
            stream: request.stream.unwrap_or(false),
        };
        answer(&gateway, service, chat, Shape::Completion).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

fn text_service<'a>(gateway: &'a Gateway, model: &str) -> Result<&'a Service<TextModel>, ApiError> {
    match &gateway.inner.text {
        Some(service) if model == EMBEDDED_TEXT_MODEL => Ok(service),
        _ => Err(ApiError::unknown_model(model, &gateway.known_models())),
    }
}

async fn answer(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: ChatRequest,
    shape: Shape,
) -> Result<Response, ApiError> {
    chat.validate()
        .map_err(|why| ApiError::bad_request(Some("messages"), why))?;
    if chat.stream {
        return stream(gateway, service, chat, shape).await;
    }
    let body = Bytes::from(serde_json::to_vec(&chat).unwrap_or_default());
    let (answer, miner, elapsed) = gateway
        .first_answer::<ChatAnswer>(&service.view, &service.scores, CHAT_ROUTE, body, |_| Ok(()))
        .await?;
    let usage = usage(&service.model, &answer);
    spot_check(
        gateway,
        &service.model,
        &service.scores,
        &miner,
        chat,
        answer.clone(),
        elapsed,
    );
    gateway.served_one();
    let body = whole_body(shape, &answer, usage);
    Ok(name_miner(Json(body).into_response(), &miner))
}

fn finish(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// Token counts: the miner's prompt count, and the completion's tokens without the stop
/// token (counted by the model when the miner sent text alone).
fn usage(model: &TextModel, answer: &ChatAnswer) -> Usage {
    let completion = if answer.tokens.is_empty() {
        model.tokenize(&answer.text).map_or(0, |t| t.len())
    } else {
        answer.tokens.iter().filter(|t| !model.is_stop(**t)).count()
    };
    Usage::new(
        answer.prompt_tokens,
        u32::try_from(completion).unwrap_or(u32::MAX),
    )
}

fn whole_body(shape: Shape, answer: &ChatAnswer, usage: Usage) -> Value {
    let (id, object, choice) = match shape {
        Shape::Chat => (
            request_id("chatcmpl"),
            "chat.completion",
            json!({"index": 0, "message": {"role": "assistant", "content": answer.text},
                   "finish_reason": finish(answer.finish_reason), "logprobs": null}),
        ),
        Shape::Completion => (
            request_id("cmpl"),
            "text_completion",
            json!({"index": 0, "text": answer.text,
                   "finish_reason": finish(answer.finish_reason), "logprobs": null}),
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
    if !gateway.spot_check() {
        return;
    }
    let (model, scores, miner) = (Arc::clone(model), Arc::clone(scores), *miner);
    let judge = TextJudgeConfig::default();
    tokio::spawn(async move {
        let checked = tokio::task::spawn_blocking(move || {
            check_answer(&model, &chat, &answer, judge.tolerance)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
        let evaluation = match checked {
            Ok(tokens) => Evaluation::correct_at_speed(tokens, elapsed, judge.targets.per_second),
            Err(why) => {
                tracing::warn!(uid = miner.uid, %why, "spot check failed");
                Evaluation::wrong(why)
            }
        };
        record(&scores, &miner, evaluation.score);
    });
}

/// Opens a stream on the first miner that sends a first event; failures before that are
/// invisible to the consumer.
async fn open_stream(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: &ChatRequest,
) -> Result<(Candidate, ResponseStream, StreamEvent, Instant), ApiError> {
    let body = Bytes::from(serde_json::to_vec(chat).unwrap_or_default());
    let mut last = String::from("no miner tried");
    for miner in gateway.candidates(&service.view)? {
        let started = Instant::now();
        let opened = async {
            let mut stream = gateway
                .inner
                .client
                .call_stream(&miner.target, CHAT_ROUTE, body.clone())
                .await
                .map_err(|e| e.to_string())?;
            let first = stream
                .next_chunk()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("empty stream")?;
            let first: StreamEvent =
                serde_json::from_value(first).map_err(|e| format!("malformed event: {e}"))?;
            Ok::<_, String>((stream, first))
        };
        match opened.await {
            Ok((stream, first)) => return Ok((miner, stream, first, started)),
            Err(why) => {
                tracing::info!(uid = miner.uid, %why, "miner failed; trying another");
                record(&service.scores, &miner, 0.0);
                last = why;
            }
        }
    }
    Err(ApiError::no_miner(format!(
        "no miner answered (last: {last})"
    )))
}

/// What a streamed answer has delivered so far, for the spot check at its end.
struct Relay {
    gateway: Gateway,
    model: Arc<TextModel>,
    scores: Arc<Mutex<Scores>>,
    miner: Candidate,
    chat: ChatRequest,
    stream: ResponseStream,
    pending: Option<StreamEvent>,
    answer: ChatAnswer,
    started: Instant,
    shape: Shape,
    id: String,
    created: u64,
    done: bool,
}

async fn stream(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: ChatRequest,
    shape: Shape,
) -> Result<Response, ApiError> {
    let (miner, stream, first, started) = open_stream(gateway, service, &chat).await?;
    let id = request_id(if shape == Shape::Chat {
        "chatcmpl"
    } else {
        "cmpl"
    });
    let relay = Relay {
        gateway: gateway.clone(),
        model: Arc::clone(&service.model),
        scores: Arc::clone(&service.scores),
        miner,
        chat,
        stream,
        pending: Some(first),
        answer: ChatAnswer {
            model: EMBEDDED_TEXT_MODEL.to_owned(),
            text: String::new(),
            tokens: Vec::new(),
            logprobs: Vec::new(),
            prompt_tokens: 0,
            finish_reason: FinishReason::Length,
        },
        started,
        shape,
        id,
        created: unix_now(),
        done: false,
    };
    let opening: Vec<Result<Event, Infallible>> = if shape == Shape::Chat {
        vec![Ok(
            relay.chunk(json!({"role": "assistant", "content": ""}), None)
        )]
    } else {
        Vec::new()
    };
    let rest =
        futures_util::stream::unfold(relay, Relay::next).flat_map(futures_util::stream::iter);
    let events = futures_util::stream::iter(opening).chain(rest);
    Ok(name_miner(Sse::new(events).into_response(), &miner))
}

impl Relay {
    /// One OpenAI chunk carrying `delta` (chat) or its text (completion).
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Event {
        let choice = match self.shape {
            Shape::Chat => {
                json!({"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null})
            }
            Shape::Completion => {
                json!({"index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")),
                                        "finish_reason": finish, "logprobs": null})
            }
        };
        let object = match self.shape {
            Shape::Chat => "chat.completion.chunk",
            Shape::Completion => "text_completion",
        };
        let body = json!({"id": self.id, "object": object, "created": self.created,
                          "model": EMBEDDED_TEXT_MODEL, "choices": [choice]});
        Event::default().data(body.to_string())
    }

    /// The next events to send: a content delta, or the last chunk and `[DONE]`, or an
    /// error event if the miner's stream broke (its score takes the failure).
    async fn next(mut self) -> Option<(Vec<Result<Event, Infallible>>, Self)> {
        if self.done {
            return None;
        }
        loop {
            let event = match self.pending.take() {
                Some(event) => Ok(event),
                None => match self.stream.next_chunk().await {
                    Ok(Some(v)) => serde_json::from_value::<StreamEvent>(v)
                        .map_err(|e| format!("malformed event: {e}")),
                    Ok(None) => Err("the stream ended without its final event".to_owned()),
                    Err(e) => Err(e.to_string()),
                },
            };
            match event {
                Ok(StreamEvent::Token(chunk)) => {
                    self.answer.text.push_str(&chunk.text);
                    self.answer.tokens.extend(chunk.token);
                    self.answer.logprobs.extend(chunk.logprob);
                    if chunk.text.is_empty() {
                        continue;
                    }
                    let event = self.chunk(json!({"content": chunk.text}), None);
                    return Some((vec![Ok(event)], self));
                }
                Ok(StreamEvent::End(end)) => {
                    self.done = true;
                    self.answer.prompt_tokens = end.prompt_tokens;
                    self.answer.finish_reason = end.finish_reason;
                    let last = self.chunk(json!({}), Some(finish(end.finish_reason)));
                    self.gateway.served_one();
                    spot_check(
                        &self.gateway,
                        &self.model,
                        &self.scores,
                        &self.miner,
                        self.chat.clone(),
                        self.answer.clone(),
                        self.started.elapsed(),
                    );
                    let done = Event::default().data("[DONE]");
                    return Some((vec![Ok(last), Ok(done)], self));
                }
                Err(why) => {
                    tracing::warn!(uid = self.miner.uid, %why, "stream broke after it started");
                    record(&self.scores, &self.miner, 0.0);
                    self.done = true;
                    let error = ApiError::no_miner(format!("the miner's stream broke: {why}"));
                    let event = Event::default().data(error.body().to_string());
                    return Some((vec![Ok(event)], self));
                }
            }
        }
    }
}
