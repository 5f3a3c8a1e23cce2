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
    CHAT_ROUTE, ChatAnswer, ChatMessage, ChatRequest, EMBEDDED_TEXT_MODEL, FinishReason, StreamEnd,
    StreamEvent, TextJudgeConfig, TokenChunk, check_answer,
};
use plexus_subnets::{Evaluation, Scores};
use plexus_wire::ResponseStream;
use serde_json::{Value, json};

use crate::openai::{
    ApiError, ChatCompletionRequest, CompletionRequest, Usage, chat_messages, include_usage,
    max_tokens, no_logprobs, single_choice, stop_strings,
};
use crate::pick::Candidate;
use crate::stop::{Step, StopFilter, first_stop};
use crate::{Endpoint, Gateway, Service, name_miner, parse, record, request_id, unix_now};

/// Which OpenAI endpoint is answering: the shapes differ, the work does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Chat,
    Completion,
}

/// What the gateway does to a miner's answer on its way to the consumer.
#[derive(Debug, Clone, Default)]
struct Delivery {
    /// Where the answer is cut.
    stops: Vec<String>,
    /// Whether a stream ends with a usage chunk.
    include_usage: bool,
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
        no_logprobs(request.logprobs.as_ref(), request.top_logprobs)?;
        let stream = request.stream.unwrap_or(false);
        let delivery = Delivery {
            stops: stop_strings(request.stop.as_ref())?,
            include_usage: include_usage(stream, request.stream_options.as_ref())?,
        };
        let chat = ChatRequest {
            messages: chat_messages(&request.messages)?,
            max_tokens: max_tokens(request.max_completion_tokens.or(request.max_tokens))?,
            stream,
        };
        answer(&gateway, service, chat, Shape::Chat, delivery).await
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
        no_logprobs(request.logprobs.as_ref(), None)?;
        let stream = request.stream.unwrap_or(false);
        let delivery = Delivery {
            stops: stop_strings(request.stop.as_ref())?,
            include_usage: include_usage(stream, request.stream_options.as_ref())?,
        };
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
            stream,
        };
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
    chat: ChatRequest,
    shape: Shape,
    delivery: Delivery,
) -> Result<Response, ApiError> {
    chat.validate()
        .map_err(|why| ApiError::bad_request(Some("messages"), why))?;
    if chat.stream {
        return stream(gateway, service, chat, shape, delivery).await;
    }
    let body = Bytes::from(serde_json::to_vec(&chat).unwrap_or_default());
    let (answer, miner, elapsed) = gateway
        .first_answer::<ChatAnswer>(&service.view, &service.scores, CHAT_ROUTE, body, |_| Ok(()))
        .await?;
    // Usage counts what the miner generated, stop strings or not: that is the work done.
    let usage = usage(&service.model, &answer);
    // The spot check sees the miner's whole answer; the consumer sees it cut.
    let (text, finish_reason) = match first_stop(&answer.text, &delivery.stops) {
        Some(at) => (answer.text[..at].to_owned(), "stop"),
        None => (answer.text.clone(), finish(answer.finish_reason)),
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
    let body = whole_body(shape, &text, finish_reason, usage);
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

fn whole_body(shape: Shape, text: &str, finish_reason: &str, usage: Usage) -> Value {
    let (id, object, choice) = match shape {
        Shape::Chat => (
            request_id("chatcmpl"),
            "chat.completion",
            json!({"index": 0, "message": {"role": "assistant", "content": text},
                   "finish_reason": finish_reason, "logprobs": null}),
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
    /// Cuts the text the consumer sees at the request's stop strings.
    filter: StopFilter,
    include_usage: bool,
    /// Whether a stop string ended the consumer's answer; the miner's is still read, for
    /// the usage chunk and the spot check.
    stopped: bool,
}

async fn stream(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: ChatRequest,
    shape: Shape,
    delivery: Delivery,
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
        filter: StopFilter::new(delivery.stops),
        include_usage: delivery.include_usage,
        stopped: false,
    };
    let opening: Vec<Result<Event, Infallible>> = if shape == Shape::Chat {
        vec![Ok(
            relay.chunk(json!({"role": "assistant", "content": ""}), None)
        )]
    } else {
        Vec::new()
    };
    // The state is `None` once the consumer's stream is over.
    let rest =
        futures_util::stream::unfold(Some(relay), |relay| async move { relay?.next().await })
            .flat_map(futures_util::stream::iter);
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
        self.event(json!([choice]), None)
    }

    /// A chunk with `choices`; when usage was asked for, every chunk has a `usage` field,
    /// null but in the last one, as OpenAI's have.
    fn event(&self, choices: Value, usage: Option<Usage>) -> Event {
        let object = match self.shape {
            Shape::Chat => "chat.completion.chunk",
            Shape::Completion => "text_completion",
        };
        let mut body = json!({"id": self.id, "object": object, "created": self.created,
                              "model": EMBEDDED_TEXT_MODEL, "choices": choices});
        if self.include_usage {
            body["usage"] = json!(usage);
        }
        Event::default().data(body.to_string())
    }

    /// The miner's next event.
    async fn read(&mut self) -> Result<StreamEvent, String> {
        if let Some(event) = self.pending.take() {
            return Ok(event);
        }
        match self.stream.next_chunk().await {
            Ok(Some(v)) => serde_json::from_value::<StreamEvent>(v)
                .map_err(|e| format!("malformed event: {e}")),
            Ok(None) => Err("the stream ended without its final event".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Counts the answer as served and spot-checks a sample, once the miner has ended it.
    fn conclude(&self, end: &StreamEnd) -> Usage {
        let mut answer = self.answer.clone();
        answer.prompt_tokens = end.prompt_tokens;
        answer.finish_reason = end.finish_reason;
        self.gateway.served_one();
        let usage = usage(&self.model, &answer);
        spot_check(
            &self.gateway,
            &self.model,
            &self.scores,
            &self.miner,
            self.chat.clone(),
            answer,
            self.started.elapsed(),
        );
        usage
    }

    /// Scores a miner whose stream broke.
    fn broke(&self, why: &str) {
        tracing::warn!(uid = self.miner.uid, %why, "stream broke after it started");
        record(&self.scores, &self.miner, 0.0);
    }

    /// Reads the rest of the miner's stream, which the consumer no longer needs, so the
    /// answer is still counted and spot-checked whole.
    async fn drain(mut self) {
        loop {
            match self.read().await {
                Ok(StreamEvent::Token(chunk)) => self.absorb(&chunk),
                Ok(StreamEvent::End(end)) => {
                    self.conclude(&end);
                    return;
                }
                Err(why) => {
                    self.broke(&why);
                    return;
                }
            }
        }
    }

    /// Adds a miner's token to its answer.
    fn absorb(&mut self, chunk: &TokenChunk) {
        self.answer.text.push_str(&chunk.text);
        self.answer.tokens.extend(chunk.token);
        self.answer.logprobs.extend(chunk.logprob);
    }

    /// The next events to send: a content delta, or the last chunks and `[DONE]`, or an
    /// error event if the miner's stream broke (its score takes the failure). The relay
    /// comes back while there is more to send.
    async fn next(mut self) -> Option<(Vec<Result<Event, Infallible>>, Option<Self>)> {
        loop {
            match self.read().await {
                Ok(StreamEvent::Token(chunk)) => {
                    self.absorb(&chunk);
                    if self.stopped {
                        continue;
                    }
                    match self.filter.push(&chunk.text) {
                        Step::Go(text) if text.is_empty() => continue,
                        Step::Go(text) => {
                            let event = self.chunk(json!({"content": text}), None);
                            return Some((vec![Ok(event)], Some(self)));
                        }
                        Step::Stop(text) => {
                            self.stopped = true;
                            let mut events = Vec::with_capacity(3);
                            if !text.is_empty() {
                                events.push(Ok(self.chunk(json!({"content": text}), None)));
                            }
                            events.push(Ok(self.chunk(json!({}), Some("stop"))));
                            if self.include_usage {
                                // The usage chunk needs the miner's end: keep reading.
                                return Some((events, Some(self)));
                            }
                            events.push(Ok(Event::default().data("[DONE]")));
                            tokio::spawn(self.drain());
                            return Some((events, None));
                        }
                    }
                }
                Ok(StreamEvent::End(end)) => {
                    let mut events = Vec::with_capacity(4);
                    if !self.stopped {
                        let rest = self.filter.finish();
                        if !rest.is_empty() {
                            events.push(Ok(self.chunk(json!({"content": rest}), None)));
                        }
                        let last = self.chunk(json!({}), Some(finish(end.finish_reason)));
                        events.push(Ok(last));
                    }
                    let usage = self.conclude(&end);
                    if self.include_usage {
                        events.push(Ok(self.event(json!([]), Some(usage))));
                    }
                    events.push(Ok(Event::default().data("[DONE]")));
                    return Some((events, None));
                }
                Err(why) => {
                    self.broke(&why);
                    let error = ApiError::no_miner(format!("the miner's stream broke: {why}"));
                    let event = Event::default().data(error.body().to_string());
                    return Some((vec![Ok(event)], None));
                }
            }
        }
    }
}
