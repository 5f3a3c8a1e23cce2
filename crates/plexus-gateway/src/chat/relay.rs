//! Relaying a miner's streamed answer: to the consumer as OpenAI chunks, or cut at a stop
//! string into a whole answer; either way the miner's answer is read to its end for the
//! spot check.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures_util::StreamExt;
use plexus_models::TextModel;
use plexus_subnets::Scores;
use plexus_subnets::text::{
    CHAT_ROUTE, ChatAnswer, ChatRequest, EMBEDDED_TEXT_MODEL, StreamEnd, StreamEvent, TokenChunk,
};
use plexus_wire::ResponseStream;
use serde_json::{Value, json};

use super::logprobs::{Pending, choice_logprobs};
use super::{Delivery, Shape, finish, spot_check, token_logprobs, usage, whole_body};
use crate::openai::{ApiError, Usage};
use crate::pick::Candidate;
use crate::stop::{Step, StopFilter};
use crate::{Gateway, Service, name_miners, record, request_id, unix_now};

/// Opens a stream on the first miner that sends a first event within `first_event` (see
/// [`Gateway::start_within`]); failures before that are invisible to the consumer.
async fn open_stream(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: &ChatRequest,
    first_event: Duration,
) -> Result<(Candidate, ResponseStream, StreamEvent, Instant), ApiError> {
    let body = Bytes::from(serde_json::to_vec(chat).unwrap_or_default());
    let mut last = String::from("no miner tried");
    let client = &gateway.inner.client;
    for miner in gateway.candidates(&service.view, chat.axon_version())? {
        let opened = async {
            let lane = match client.reserve().await {
                Ok(lane) => lane.start_within(first_event),
                // Every lane in use here: nothing was sent, and no miner is to blame.
                Err(plexus_wire::ClientError::Busy) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            // The miner's time starts once there is a lane to call it on.
            let started = Instant::now();
            let mut stream = client
                .call_stream_reserved(lane, &miner.target, CHAT_ROUTE, body.clone())
                .await
                .map_err(|e| e.to_string())?;
            let first = stream
                .next_chunk()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("empty stream")?;
            let first: StreamEvent =
                serde_json::from_value(first).map_err(|e| format!("malformed event: {e}"))?;
            Ok::<_, String>(Some((stream, first, started)))
        };
        match opened.await {
            Ok(Some((stream, first, started))) => return Ok((miner, stream, first, started)),
            Ok(None) => return Err(ApiError::busy()),
            Err(why) => {
                let why = crate::brief(why);
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
    /// The prompt's tokens, as the gateway's model counted them.
    prompt_tokens: u32,
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
    /// Whether a stop string ended the consumer's answer; the miner's end is still read,
    /// for the spot check.
    stopped: bool,
    /// The tokens' log-probabilities waiting for their text, when asked for.
    logprobs: Option<Pending>,
    /// The text so far, when log-probabilities were asked of a miner that sends text
    /// alone: it goes out whole at the end, with the log-probabilities the gateway's model
    /// gives it.
    buffer: Option<String>,
    /// Token events read so far, held to [`most_events`].
    events: u64,
    /// How long the whole stream may take ([`allowed_time`]), from `started`.
    allowed: Duration,
}

/// The most token events a stream answering `chat` may send: one per token, with room
/// for miners that send text in pieces that are not tokens. Past it the miner is
/// dripping an answer it was never asked for, and the stream is cut.
fn most_events(chat: &ChatRequest) -> u64 {
    2 * u64::from(chat.max_tokens) + 16
}

/// How long a streamed answer to `chat` may take in all: `first_event` (see
/// [`Gateway::start_within`]), then `per_token` for each token asked for.
/// The default, 2 s a token, leaves room for a busy miner: the embedded model writes about
/// 30 tokens a second on one core, shared by the answers it is writing at once. Without it
/// a miner sending an event just often enough to beat the idle limit would hold the
/// consumer until the event cap, for up to [`most_events`] idle limits.
fn allowed_time(first_event: Duration, per_token: Duration, chat: &ChatRequest) -> Duration {
    first_event.saturating_add(per_token.saturating_mul(chat.max_tokens))
}

/// Asks a miner for a streamed answer and wraps it for relaying.
async fn open_relay(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: ChatRequest,
    prompt_tokens: u32,
    shape: Shape,
    delivery: Delivery,
) -> Result<Relay, ApiError> {
    let config = &gateway.inner.config;
    let first_event = gateway.start_within(prompt_tokens);
    let (miner, stream, first, started) = open_stream(gateway, service, &chat, first_event).await?;
    let filter = StopFilter::new(chat.stop.clone());
    let id = request_id(if shape == Shape::Chat {
        "chatcmpl"
    } else {
        "cmpl"
    });
    let allowed = allowed_time(first_event, config.stream_time_per_token, &chat);
    // The first event was read to open the stream: it counts too.
    let counted = u64::from(matches!(first, StreamEvent::Token(_)));
    Ok(Relay {
        gateway: gateway.clone(),
        model: Arc::clone(&service.model),
        scores: Arc::clone(&service.scores),
        miner,
        chat,
        prompt_tokens,
        stream,
        pending: Some(first),
        answer: ChatAnswer::receiving(EMBEDDED_TEXT_MODEL),
        started,
        shape,
        id,
        created: unix_now(),
        filter,
        include_usage: delivery.include_usage,
        stopped: false,
        logprobs: delivery.logprobs.then(Pending::default),
        buffer: None,
        events: counted,
        allowed,
    })
}

/// A whole (not streamed) answer with stop strings: read from the miner as a stream and
/// sent as soon as a stop string appears. An honest miner ends right there; one that
/// goes on does not hold the consumer up (the rest is read in the background for the
/// spot check, which fails it).
pub(super) async fn whole_cut(
    gateway: &Gateway,
    service: &Service<TextModel>,
    mut chat: ChatRequest,
    prompt_tokens: u32,
    shape: Shape,
    mut delivery: Delivery,
) -> Result<Response, ApiError> {
    chat.stream = true;
    // A whole answer takes its log-probabilities from its tokens at the end, not as the
    // stream goes.
    let logprobs = delivery.logprobs;
    let echo = delivery.echo.take();
    let delivery = Delivery {
        logprobs: false,
        ..delivery
    };
    let mut relay = open_relay(gateway, service, chat, prompt_tokens, shape, delivery).await?;
    let miner = relay.miner;
    let mut text = String::new();
    let (finish_reason, usage, cut_short) = loop {
        match relay.read().await {
            Ok(StreamEvent::Token(chunk)) => {
                if let Err(why) = relay.absorb(&chunk) {
                    relay.broke(&why);
                    return Err(ApiError::no_miner(format!(
                        "the miner's stream broke: {}",
                        crate::brief(why)
                    )));
                }
                match relay.filter.push(&chunk.text) {
                    Step::Go(piece) => text.push_str(&piece),
                    Step::Stop(piece) => {
                        text.push_str(&piece);
                        break ("stop", relay.usage_now(), true);
                    }
                }
            }
            Ok(StreamEvent::End(end)) => {
                text.push_str(&relay.filter.finish());
                break (finish(end.finish_reason), relay.conclude(&end), false);
            }
            Err(why) => {
                relay.broke(&why);
                return Err(ApiError::no_miner(format!(
                    "the miner's stream broke: {}",
                    crate::brief(why)
                )));
            }
        }
    };
    let logprobs = match logprobs {
        true => Some(
            token_logprobs(
                gateway,
                &service.model,
                &relay.chat,
                &relay.answer,
                text.len(),
            )
            .await,
        ),
        false => None,
    };
    if cut_short {
        tokio::spawn(relay.drain());
    }
    let body = whole_body(
        shape,
        echo.as_deref(),
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

pub(super) async fn stream(
    gateway: &Gateway,
    service: &Service<TextModel>,
    chat: ChatRequest,
    prompt_tokens: u32,
    shape: Shape,
    mut delivery: Delivery,
) -> Result<Response, ApiError> {
    let echo = delivery.echo.take();
    let relay = open_relay(gateway, service, chat, prompt_tokens, shape, delivery).await?;
    let miner = relay.miner;
    let opening: Vec<Result<Event, Infallible>> = match (shape, echo) {
        (Shape::Chat, _) => vec![Ok(
            relay.chunk(json!({"role": "assistant", "content": ""}), None)
        )],
        (Shape::Completion, Some(prompt)) => {
            vec![Ok(relay.chunk(json!({"content": prompt}), None))]
        }
        (Shape::Completion, None) => Vec::new(),
    };
    // The state is `None` once the consumer's stream is over.
    let rest =
        futures_util::stream::unfold(Some(relay), |relay| async move { relay?.next().await })
            .flat_map(futures_util::stream::iter);
    let events = futures_util::stream::iter(opening).chain(rest);
    Ok(name_miners(
        Sse::new(events).into_response(),
        std::slice::from_ref(&miner),
    ))
}

impl Relay {
    /// One OpenAI chunk carrying `delta` (chat) or its text (completion).
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Event {
        self.chunk_with(delta, finish, Value::Null)
    }

    /// [`chunk`](Self::chunk) with the choice's `logprobs`.
    fn chunk_with(&self, delta: Value, finish: Option<&str>, logprobs: Value) -> Event {
        let choice = match self.shape {
            Shape::Chat => {
                json!({"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs})
            }
            Shape::Completion => {
                json!({"index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")),
                                        "finish_reason": finish, "logprobs": logprobs})
            }
        };
        self.event(json!([choice]), None)
    }

    /// A chunk of the answer's text with, when asked for, the log-probabilities of the
    /// tokens it completes (`last`: of the tokens that began in it, the answer ending
    /// there). `None` when there is nothing to send.
    fn content(&mut self, text: String, last: bool) -> Option<Event> {
        let entries = self.logprobs.as_mut().map(|pending| match last {
            true => pending.cut(text.len()),
            false => pending.sent(text.len()),
        });
        if text.is_empty() && entries.as_ref().is_none_or(Vec::is_empty) {
            return None;
        }
        let logprobs = entries.map_or(Value::Null, choice_logprobs);
        Some(self.chunk_with(json!({"content": text}), None, logprobs))
    }

    /// The answer's last text: as [`content`](Self::content), or, when it was held for a
    /// miner that sends text alone, all of it with the log-probabilities the gateway's
    /// model gives it.
    async fn last_content(&mut self, text: String) -> Option<Event> {
        let Some(mut all) = self.buffer.take() else {
            return self.content(text, true);
        };
        all.push_str(&text);
        let entries = token_logprobs(
            &self.gateway,
            &self.model,
            &self.chat,
            &self.answer,
            all.len(),
        )
        .await;
        Some(self.chunk_with(json!({"content": all}), None, choice_logprobs(entries)))
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
        let left = self.allowed.saturating_sub(self.started.elapsed());
        let next = tokio::time::timeout(left, self.stream.next_chunk())
            .await
            .map_err(|_| {
                format!(
                    "no complete answer within {:.1} s for {} tokens",
                    self.allowed.as_secs_f64(),
                    self.chat.max_tokens
                )
            })?;
        match next {
            Ok(Some(v)) => {
                let event = serde_json::from_value::<StreamEvent>(v)
                    .map_err(|e| format!("malformed event: {e}"))?;
                if matches!(event, StreamEvent::Token(_)) {
                    self.events += 1;
                    let most = most_events(&self.chat);
                    if self.events > most {
                        return Err(format!(
                            "more than {most} token events for {} tokens",
                            self.chat.max_tokens
                        ));
                    }
                }
                Ok(event)
            }
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
        let usage = usage(&self.model, self.prompt_tokens, &answer);
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

    /// The usage of an answer cut at a stop string, before the miner's end says its prompt
    /// count: the prompt, and the tokens generated up to the cut.
    fn usage_now(&self) -> Usage {
        usage(&self.model, self.prompt_tokens, &self.answer)
    }

    /// Scores a miner whose stream broke.
    fn broke(&self, why: &str) {
        let why = crate::brief(why.to_owned());
        tracing::warn!(uid = self.miner.uid, %why, "stream broke after it started");
        record(&self.scores, &self.miner, 0.0);
    }

    /// Scores a miner whose stream broke after the consumer's began, and tells the
    /// consumer in the stream's last event.
    fn broken(&self, why: String) -> Event {
        self.broke(&why);
        let why = crate::brief(why);
        let error = ApiError::no_miner(format!("the miner's stream broke: {why}"));
        Event::default().data(error.body().to_string())
    }

    /// Reads the rest of the miner's stream, which the consumer no longer needs, so the
    /// answer is still counted and spot-checked whole.
    async fn drain(mut self) {
        loop {
            match self.read().await {
                Ok(StreamEvent::Token(chunk)) => {
                    if let Err(why) = self.absorb(&chunk) {
                        self.broke(&why);
                        return;
                    }
                }
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

    /// Adds a miner's token to its answer; one that takes the answer past what was asked
    /// for (or is not a token) breaks the stream.
    fn absorb(&mut self, chunk: &TokenChunk) -> Result<(), String> {
        self.answer.push(chunk, &self.chat)?;
        if let Some(pending) = &mut self.logprobs {
            pending.push(&self.model, chunk.token, chunk.logprob, &chunk.text);
        }
        Ok(())
    }

    /// The next events to send: a content delta, or the last chunks and `[DONE]`, or an
    /// error event if the miner's stream broke (its score takes the failure). The relay
    /// comes back while there is more to send.
    async fn next(mut self) -> Option<(Vec<Result<Event, Infallible>>, Option<Self>)> {
        loop {
            match self.read().await {
                Ok(StreamEvent::Token(chunk)) => {
                    let first = self.answer.text.is_empty() && self.answer.tokens.is_empty();
                    if first && chunk.token.is_none() && self.logprobs.take().is_some() {
                        self.buffer = Some(String::new());
                    }
                    if let Err(why) = self.absorb(&chunk) {
                        return Some((vec![Ok(self.broken(why))], None));
                    }
                    if self.stopped {
                        continue;
                    }
                    match self.filter.push(&chunk.text) {
                        Step::Go(text) if text.is_empty() => continue,
                        Step::Go(text) if self.buffer.is_some() => {
                            self.buffer.get_or_insert_default().push_str(&text);
                            continue;
                        }
                        Step::Go(text) => {
                            let events = self.content(text, false).map(Ok).into_iter().collect();
                            return Some((events, Some(self)));
                        }
                        Step::Stop(text) => {
                            self.stopped = true;
                            let mut events = Vec::with_capacity(3);
                            events.extend(self.last_content(text).await.map(Ok));
                            events.push(Ok(self.chunk(json!({}), Some("stop"))));
                            if self.include_usage {
                                let usage = self.usage_now();
                                events.push(Ok(self.event(json!([]), Some(usage))));
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
                        events.extend(self.last_content(rest).await.map(Ok));
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
                Err(why) => return Some((vec![Ok(self.broken(why))], None)),
            }
        }
    }
}
