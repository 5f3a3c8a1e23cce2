//! What a client gets back: verified answers, the proof a validator keeps, verified
//! streams, and why a call failed.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use plexus_primitives::{
    AccountId, ChainId, Domain, Hash, NetUid, PublicKey, Signature, SignatureError,
};
use thiserror::Error;

use crate::headers::HeaderError;
use crate::message::RouteError;
use crate::refusal::RefusalKind;
use crate::scope::{AddressKind, AxonScope};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::message::ResponseMessage;
use crate::refusal::{ErrorBody, peer_text};
use crate::sse::{
    CHUNK_EVENT, END_EVENT, ERROR_EVENT, SseEvent, SseParser, StreamEnd, StreamHasher,
};

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The route name is invalid.
    #[error("invalid route: {0}")]
    InvalidRoute(#[from] RouteError),
    /// The call did not complete within the timeout.
    #[error("timed out")]
    Timeout,
    /// Every nonce lane of this client stayed in use for a whole timeout: too many calls
    /// in flight here. Nothing was sent, so it says nothing about the miner.
    #[error("this client is busy: every nonce lane stayed in use")]
    Busy,
    /// The target's address is outside this client's [`AxonScope`]: nothing was sent.
    #[error("{ip} is not called: {}", out_of_scope(*kind, *scope))]
    OutOfScope {
        /// The target's address.
        ip: std::net::IpAddr,
        /// What kind of address it is.
        kind: AddressKind,
        /// The client's scope.
        scope: AxonScope,
    },
    /// Connecting, sending or receiving failed.
    #[error("transport: {0}")]
    Http(String),
    /// The miner refused the request before its handler ran (unsigned).
    #[error("refused with {status} {code}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The check that failed, when the code is a known one.
        kind: Option<RefusalKind>,
        /// The `code` of the error body.
        code: String,
        /// The `message` of the error body.
        message: String,
    },
    /// The handler answered with an error (signed).
    #[error("handler error {status}: {message}")]
    Handler {
        /// The HTTP status.
        status: u16,
        /// The handler's message.
        message: String,
    },
    /// A success answer carried no signature.
    #[error("unsigned {status} answer")]
    MissingSignature {
        /// The HTTP status.
        status: u16,
    },
    /// The answer's signature headers are malformed.
    #[error("bad response headers: {0}")]
    BadResponseHeaders(#[from] HeaderError),
    /// The body is not what the miner signed.
    #[error("response body does not match its signed hash")]
    BodyHashMismatch,
    /// The miner's signature does not verify.
    #[error("response signature: {0}")]
    BadResponseSignature(SignatureError),
    /// The answer is larger than the client accepts.
    #[error("response over {max} bytes")]
    ResponseTooLarge {
        /// The limit.
        max: usize,
    },
    /// A stream was malformed or ended unsigned.
    #[error("stream: {0}")]
    Stream(String),
    /// The body is not the JSON expected.
    #[error("JSON: {0}")]
    Json(String),
}

/// A miner's signed statement of what it answered to which request: keep it to prove later
/// what a miner said (for scoring disputes, audits, or slashing evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseProof {
    /// The miner.
    pub callee: AccountId,
    /// The validator.
    pub caller: AccountId,
    /// The subnet.
    pub netuid: NetUid,
    /// The request's nonce.
    pub nonce: u64,
    /// The request's lane.
    pub lane: u16,
    /// The route called.
    pub route: String,
    /// BLAKE3 of the request body.
    pub request_body_hash: Hash,
    /// The HTTP status answered.
    pub status: u16,
    /// BLAKE3 of the response body, or the stream hash for a stream.
    pub body_hash: Hash,
    /// The miner's signature.
    pub signature: Signature,
}

impl ResponseProof {
    /// The signed message.
    pub fn message(&self) -> ResponseMessage<'_> {
        ResponseMessage {
            callee: self.callee,
            caller: self.caller,
            netuid: self.netuid,
            nonce: self.nonce,
            lane: self.lane,
            route: &self.route,
            request_body_hash: self.request_body_hash,
            status: self.status,
            body_hash: self.body_hash,
        }
    }

    /// Checks the miner's signature on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> Result<(), SignatureError> {
        self.message().verify(chain_id, &self.signature)
    }

    /// Like [`Self::verify`] with the miner's key already decoded and the response domain
    /// prebuilt, as a client verifying many answers does.
    pub fn verify_by(&self, callee: &PublicKey, domain: &Domain) -> Result<(), SignatureError> {
        self.message().verify_by(callee, domain, &self.signature)
    }
}

/// A verified, signed answer: the body is exactly what the miner signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedResponse {
    /// The HTTP status (200, or a handler's error status).
    pub status: u16,
    /// The body.
    pub body: Bytes,
    /// The miner's signature and what it covers.
    pub proof: ResponseProof,
}

impl SignedResponse {
    /// Whether the handler answered successfully.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Deserializes a successful answer; a handler error becomes [`ClientError::Handler`].
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        if !self.is_success() {
            return Err(ClientError::Handler {
                status: self.status,
                message: ErrorBody::from_peer(&self.body).message,
            });
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Json(e.to_string()))
    }
}

/// A streamed answer being received; every chunk is checked against the final signature.
///
/// Chunks are handed out as they arrive, before the signature can be checked: a caller that
/// must only act on signed data should use [`Self::collect`] or wait for `Ok(None)` from
/// [`Self::next_chunk`], which is returned only after the end event verified.
#[derive(Debug)]
pub struct ResponseStream {
    body: Incoming,
    parser: SseParser,
    events: VecDeque<SseEvent>,
    hasher: StreamHasher,
    /// The proof with the stream hash and signature still to fill in.
    template: ResponseProof,
    chain_id: ChainId,
    /// The most time to wait for the first event, then for each next one.
    first_event_timeout: Duration,
    idle_timeout: Duration,
    /// Whether an event has come yet.
    started: bool,
    /// Bytes received so far and the most accepted: a stream is bounded like any answer.
    received: usize,
    max_bytes: usize,
    /// The handler's message from an `error` event, until the end event arrives.
    failure: Option<String>,
    proof: Option<ResponseProof>,
}

/// The limits a [`ResponseStream`] holds its miner to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// The most time to wait for the first event (a long prompt's may be long in coming).
    pub first_event_timeout: Duration,
    /// The most time to wait for each next event, however its bytes arrive.
    pub idle_timeout: Duration,
    /// The largest single event.
    pub max_event_bytes: usize,
    /// The whole stream's size.
    pub max_bytes: usize,
}

impl ResponseStream {
    pub(crate) fn new(
        body: Incoming,
        template: ResponseProof,
        chain_id: ChainId,
        limits: StreamLimits,
    ) -> Self {
        Self {
            body,
            parser: SseParser::new(limits.max_event_bytes),
            events: VecDeque::new(),
            hasher: StreamHasher::new(),
            template,
            chain_id,
            first_event_timeout: limits.first_event_timeout,
            idle_timeout: limits.idle_timeout,
            started: false,
            received: 0,
            max_bytes: limits.max_bytes,
            failure: None,
            proof: None,
        }
    }

    /// The next chunk; `Ok(None)` once the stream ended and its signature verified. A
    /// handler that failed mid-stream gives [`ClientError::Handler`], with the miner's
    /// signed proof of the failure in [`Self::proof`].
    pub async fn next_chunk(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        // The idle limit is for the whole next event, however its bytes arrive: frames
        // that complete no event (an SSE comment, a byte at a time) must not keep a
        // stream alive for ever.
        let wait = if self.started {
            self.idle_timeout
        } else {
            self.first_event_timeout
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.proof.is_some() {
                return Ok(None);
            }
            if let Some(event) = self.events.pop_front() {
                self.started = true;
                match event.event.as_str() {
                    CHUNK_EVENT | ERROR_EVENT if self.failure.is_some() => {
                        return Err(ClientError::Stream("events after an error".into()));
                    }
                    CHUNK_EVENT => {
                        self.hasher.push(&event.data);
                        let value = serde_json::from_slice(&event.data)
                            .map_err(|e| ClientError::Json(e.to_string()))?;
                        return Ok(Some(value));
                    }
                    ERROR_EVENT => {
                        self.hasher.push(&event.data);
                        let error: ErrorBody = serde_json::from_slice(&event.data)
                            .map_err(|e| ClientError::Stream(format!("bad error event: {e}")))?;
                        self.failure = Some(peer_text(error.message));
                        continue;
                    }
                    END_EVENT => {
                        let status = self.finish(&event.data)?;
                        return match (status, self.failure.take()) {
                            (200..=299, None) => Ok(None),
                            (200..=299, Some(_)) => Err(ClientError::Stream(
                                "an error event in a stream signed as a success".into(),
                            )),
                            (status, failure) => Err(ClientError::Handler {
                                status,
                                message: failure.unwrap_or_default(),
                            }),
                        };
                    }
                    other => {
                        return Err(ClientError::Stream(format!("unexpected event {other:?}")));
                    }
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .map_err(|_| ClientError::Timeout)?;
            match frame {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.received = self.received.saturating_add(data.len());
                        if self.received > self.max_bytes {
                            return Err(ClientError::ResponseTooLarge {
                                max: self.max_bytes,
                            });
                        }
                        let mut out = Vec::new();
                        self.parser
                            .push(data, &mut out)
                            .map_err(|e| ClientError::Stream(e.to_string()))?;
                        self.events.extend(out);
                    }
                }
                Some(Err(e)) => return Err(ClientError::Http(e.to_string())),
                None => {
                    self.parser
                        .finish()
                        .map_err(|e| ClientError::Stream(e.to_string()))?;
                    return Err(ClientError::Stream(
                        "stream ended without a signed end event".into(),
                    ));
                }
            }
        }
    }

    /// Receives the whole stream and returns its chunks with the verified proof.
    pub async fn collect(mut self) -> Result<(Vec<serde_json::Value>, ResponseProof), ClientError> {
        let mut chunks = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            chunks.push(chunk);
        }
        match self.proof {
            Some(proof) => Ok((chunks, proof)),
            None => Err(ClientError::Stream("stream ended unsigned".into())),
        }
    }

    /// The verified proof, once the stream has ended.
    pub fn proof(&self) -> Option<&ResponseProof> {
        self.proof.as_ref()
    }

    /// Verifies the end event and keeps its proof; returns the status signed.
    fn finish(&mut self, data: &[u8]) -> Result<u16, ClientError> {
        let end = StreamEnd::from_json(data).map_err(|e| ClientError::Stream(e.to_string()))?;
        let body_hash = self.hasher.finish();
        if end.body_hash != body_hash {
            return Err(ClientError::BodyHashMismatch);
        }
        let proof = ResponseProof {
            status: end.status,
            body_hash,
            signature: end.signature,
            ..self.template.clone()
        };
        proof
            .verify(&self.chain_id)
            .map_err(ClientError::BadResponseSignature)?;
        self.proof = Some(proof);
        Ok(end.status)
    }
}
/// Why an address is outside a scope: an unusable one is outside every scope.
fn out_of_scope(kind: AddressKind, scope: AxonScope) -> String {
    match kind {
        AddressKind::Unusable => "it is an address no miner serves from".into(),
        kind => format!(
            "it is {}, outside this client's axon scope ({scope})",
            kind.describe()
        ),
    }
}
