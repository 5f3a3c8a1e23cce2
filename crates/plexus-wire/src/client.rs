//! The validator's dendrite: one pooled HTTP client that signs requests, verifies answers,
//! and fans out with bounded concurrency.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use plexus_primitives::{AccountId, AxonInfo, ChainId, Domain, Hash, Keypair, NetUid};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::headers::{RequestHeaders, RequestParams, ResponseHeaders};
use crate::keys::PeerKeys;
use crate::lanes::{LaneGuard, Lanes};
use crate::message::{response_domain, validate_route};
use crate::nonce::unix_nanos;
use crate::refusal::{ErrorBody, RefusalKind};
pub use crate::response::ClientError;
use crate::response::{ResponseProof, ResponseStream, SignedResponse, StreamLimits};
use crate::scope::{AddressKind, AxonScope};

/// How a client behaves; [`ClientConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The chain whose signatures are made and accepted.
    pub chain_id: ChainId,
    /// Deadline for a whole call, and the idle limit between stream chunks (default 12 s).
    pub timeout: Duration,
    /// Deadline for opening a connection (default 2 s).
    pub connect_timeout: Duration,
    /// Speak cleartext HTTP/2 (prior knowledge) instead of HTTP/1.1 (default false).
    pub http2: bool,
    /// Idle pooled connections kept per miner (default 64).
    pub max_idle_per_host: usize,
    /// First nonce lane this client uses (default 0); processes sharing a hotkey must use
    /// disjoint lane ranges or they will refuse each other's nonces as replays.
    pub first_lane: u16,
    /// Lanes, i.e. requests in flight at once (default 256; servers accept lanes < 1024).
    pub lanes: u16,
    /// Largest response body, or whole event stream, accepted (default 16 MiB).
    pub max_response_bytes: usize,
    /// Largest single stream event accepted (default 4 MiB).
    pub max_event_bytes: usize,
    /// The kinds of address this client calls (default [`AxonScope::Public`]); a call to
    /// any other is refused before anything is sent.
    pub axon_scope: AxonScope,
}

impl ClientConfig {
    /// The defaults for `chain_id`.
    pub fn new(chain_id: ChainId) -> Self {
        Self {
            chain_id,
            timeout: Duration::from_secs(12),
            connect_timeout: Duration::from_secs(2),
            http2: false,
            max_idle_per_host: 64,
            first_lane: 0,
            lanes: 256,
            max_response_bytes: 16 << 20,
            max_event_bytes: 4 << 20,
            axon_scope: AxonScope::Public,
        }
    }
}

/// A miner to call: where it listens, the hotkey it must answer as, and the subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The axon's socket address.
    pub addr: SocketAddr,
    /// The miner's hotkey; its signature is required on every answer.
    pub hotkey: AccountId,
    /// The subnet the call is made on.
    pub netuid: NetUid,
}

impl Target {
    /// The target serving `axon` as `hotkey` on `netuid`, if a caller calling `scope`
    /// addresses calls it: `None` for an axon at an address outside `scope`, at one no
    /// miner serves from ([`AddressKind::Unusable`], admitted by no scope) or at port 0.
    pub fn from_axon(
        axon: &AxonInfo,
        hotkey: AccountId,
        netuid: NetUid,
        scope: AxonScope,
    ) -> Option<Self> {
        (scope.admits(axon.ip) && axon.port != 0).then(|| Self {
            addr: SocketAddr::new(axon.ip, axon.port),
            hotkey,
            netuid,
        })
    }
}

/// One call of a fan-out.
#[derive(Debug, Clone)]
pub struct Call {
    /// The miner.
    pub target: Target,
    /// The route.
    pub route: String,
    /// The JSON body.
    pub body: Bytes,
}

#[derive(Debug)]
struct Inner {
    http: HttpClient<HttpConnector, Full<Bytes>>,
    keypair: Keypair,
    config: ClientConfig,
    last_nonce: AtomicU64,
    lanes: Lanes,
    response_domain: Domain,
    callee_keys: PeerKeys,
}

/// One of a [`Client`]'s nonce lanes, taken for one call with [`Client::reserve`]; the
/// lane is free again once the call's answer has begun (or the call is dropped).
#[derive(Debug)]
pub struct Reserved<'a> {
    lane: LaneGuard<'a>,
    /// How long the call may wait for its answer to start, if not the client's timeout.
    start_within: Option<Duration>,
}

impl Reserved<'_> {
    /// Lets the call made on this lane wait up to `timeout`, rather than the client's
    /// timeout, for its answer to start: a whole answer, or a stream's first event (later
    /// events are still held to the client's timeout each). For work that is known to
    /// take long before it answers, such as a long prompt's.
    #[must_use]
    pub fn start_within(mut self, timeout: Duration) -> Self {
        self.start_within = Some(timeout);
        self
    }
}

/// A validator's client; cheap to clone (clones share one connection pool and nonce
/// sequence). Use one per hotkey per process.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// A client signing as `keypair`.
    pub fn new(keypair: Keypair, config: ClientConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        let http = HttpClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            // Below the 10 s in which servers close an idle HTTP/1 connection
            // (`plexus_serve::ConnectionLimits::header_timeout`), so the client lets one
            // go before a server closes it under a request being sent.
            .pool_idle_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(config.max_idle_per_host)
            .http2_only(config.http2)
            .build(connector);
        Self {
            inner: Arc::new(Inner {
                http,
                keypair,
                lanes: Lanes::new(config.first_lane, config.lanes),
                response_domain: response_domain(&config.chain_id),
                callee_keys: PeerKeys::default(),
                config,
                last_nonce: AtomicU64::new(0),
            }),
        }
    }

    /// The hotkey this client signs as.
    pub fn hotkey(&self) -> AccountId {
        self.inner.keypair.account_id()
    }

    /// The deadline for a whole call, and for each event of a stream.
    pub fn timeout(&self) -> Duration {
        self.inner.config.timeout
    }

    /// The kinds of address this client calls.
    pub fn axon_scope(&self) -> AxonScope {
        self.inner.config.axon_scope
    }

    /// The target serving `axon` as `hotkey` on `netuid`, if this client calls it
    /// ([`Target::from_axon`] within its [`AxonScope`]).
    pub fn target(&self, axon: &AxonInfo, hotkey: AccountId, netuid: NetUid) -> Option<Target> {
        Target::from_axon(axon, hotkey, netuid, self.axon_scope())
    }

    /// Refuses a target outside this client's scope, before a lane, a nonce or a
    /// connection is spent on it.
    fn in_scope(&self, target: &Target) -> Result<(), ClientError> {
        let (ip, scope) = (target.addr.ip(), self.axon_scope());
        match scope.admits(ip) {
            true => Ok(()),
            false => Err(ClientError::OutOfScope {
                ip,
                kind: AddressKind::of(ip),
                scope,
            }),
        }
    }

    /// Calls `route` on `target` with a JSON `body` and verifies the signed answer.
    ///
    /// Handler errors come back as `Ok` with their status (they are signed answers too);
    /// refusals and every verification failure are `Err`.
    pub async fn call(
        &self,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<SignedResponse, ClientError> {
        // Checked before a lane is taken: a call that cannot go waits for nothing.
        self.check(target, route)?;
        let lane = self.reserve().await?;
        self.exchange(lane, target, route, body).await
    }

    /// Whether `route` is well formed and `target` within this client's scope.
    fn check(&self, target: &Target, route: &str) -> Result<(), ClientError> {
        validate_route(route)?;
        self.in_scope(target)
    }

    /// Takes one of this client's nonce lanes for one call, waiting at most the client's
    /// timeout ([`ClientError::Busy`] past it). The wait is this client's, not the miner's:
    /// a caller that times the miner starts its clock once this returns, and makes the call
    /// with [`Self::call_reserved`] or [`Self::call_stream_reserved`].
    pub async fn reserve(&self) -> Result<Reserved<'_>, ClientError> {
        Ok(Reserved {
            lane: self.lane().await?,
            start_within: None,
        })
    }

    /// [`Self::call`] on a lane taken with [`Self::reserve`].
    pub async fn call_reserved(
        &self,
        lane: Reserved<'_>,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<SignedResponse, ClientError> {
        self.check(target, route)?;
        self.exchange(lane, target, route, body).await
    }

    /// Sends a checked call on `lane` and reads its verified answer, within the timeout.
    async fn exchange(
        &self,
        lane: Reserved<'_>,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<SignedResponse, ClientError> {
        let timeout = lane.start_within.unwrap_or(self.inner.config.timeout);
        tokio::time::timeout(timeout, async {
            let (headers, response) = self.send_signed(lane.lane, target, route, body).await?;
            self.read_answer(target, route, &headers, response).await
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    /// Serializes `request`, calls `route`, and deserializes a successful answer.
    pub async fn call_json<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        target: &Target,
        route: &str,
        request: &Req,
    ) -> Result<(Resp, ResponseProof), ClientError> {
        let lane = self.reserve().await?;
        self.call_json_reserved(lane, target, route, request).await
    }

    /// [`Self::call_json`] on a lane taken with [`Self::reserve`].
    pub async fn call_json_reserved<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        lane: Reserved<'_>,
        target: &Target,
        route: &str,
        request: &Req,
    ) -> Result<(Resp, ResponseProof), ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Json(e.to_string()))?;
        let response = self
            .call_reserved(lane, target, route, Bytes::from(body))
            .await?;
        let value = response.json()?;
        Ok((value, response.proof))
    }

    /// Calls a streaming route; the stream verifies the miner's signature at its end.
    pub async fn call_stream(
        &self,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<ResponseStream, ClientError> {
        self.check(target, route)?;
        let lane = self.reserve().await?;
        self.open_stream(lane, target, route, body).await
    }

    /// [`Self::call_stream`] on a lane taken with [`Self::reserve`].
    pub async fn call_stream_reserved(
        &self,
        lane: Reserved<'_>,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<ResponseStream, ClientError> {
        self.check(target, route)?;
        self.open_stream(lane, target, route, body).await
    }

    /// Sends a checked streaming call on `lane` and opens its stream.
    async fn open_stream(
        &self,
        lane: Reserved<'_>,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<ResponseStream, ClientError> {
        let config = &self.inner.config;
        // One deadline for the whole start: the answer's head, then its first event (or
        // a refusal's body), not a full allowance for each.
        let start_within = lane.start_within.unwrap_or(config.timeout);
        let deadline = tokio::time::Instant::now() + start_within;
        let (headers, response) =
            tokio::time::timeout_at(deadline, self.send_signed(lane.lane, target, route, body))
                .await
                .map_err(|_| ClientError::Timeout)??;
        let is_stream = response.status().is_success()
            && response
                .headers()
                .get(CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if !is_stream {
            let answer = tokio::time::timeout_at(
                deadline,
                self.read_answer(target, route, &headers, response),
            )
            .await
            .map_err(|_| ClientError::Timeout)??;
            answer.json::<serde_json::Value>()?;
            return Err(ClientError::Stream("answer is not an event stream".into()));
        }
        let template = proof_template(target, route, &headers);
        Ok(ResponseStream::new(
            response.into_body(),
            template,
            config.chain_id.clone(),
            StreamLimits {
                first_event_timeout: deadline
                    .saturating_duration_since(tokio::time::Instant::now()),
                idle_timeout: config.timeout,
                max_event_bytes: config.max_event_bytes,
                max_bytes: config.max_response_bytes,
            },
        ))
    }

    /// Makes `calls` with at most `concurrency` in flight; results in the order of `calls`.
    ///
    /// Each request goes out as soon as it is signed. Polling all the calls together would
    /// sign every one of them before any connection task ran to write the first, leaving
    /// the miners idle for the whole signing (a millisecond for 64).
    pub async fn call_many(
        &self,
        calls: impl IntoIterator<Item = Call>,
        concurrency: usize,
    ) -> Vec<Result<SignedResponse, ClientError>> {
        let concurrency = concurrency.max(1);
        let mut in_flight = FuturesOrdered::new();
        let mut results = Vec::new();
        for c in calls {
            if in_flight.len() >= concurrency
                && let Some(result) = in_flight.next().await
            {
                results.push(result);
            }
            in_flight.push_back(async move { self.call(&c.target, &c.route, c.body).await });
            // Poll until nothing is ready: that signs the new request and hands it to its
            // connection (a poll that returns an answer may stop before reaching it), and
            // verifies answers that arrived. The yield then lets the connection write it.
            while let Poll::Ready(Some(result)) =
                std::future::poll_fn(|cx| Poll::Ready(in_flight.poll_next_unpin(cx))).await
            {
                results.push(result);
            }
            tokio::task::yield_now().await;
        }
        while let Some(result) = in_flight.next().await {
            results.push(result);
        }
        results
    }

    /// Sends a request with exactly these (already signed) headers and verifies the answer
    /// against them. For tools and tests that need full control of nonce, lane or signature;
    /// [`Self::call`] is the normal path.
    pub async fn send_prepared(
        &self,
        target: &Target,
        route: &str,
        headers: &RequestHeaders,
        body: Bytes,
    ) -> Result<SignedResponse, ClientError> {
        self.check(target, route)?;
        tokio::time::timeout(self.inner.config.timeout, async {
            let response = self.send(target, route, headers, body).await?;
            self.read_answer(target, route, headers, response).await
        })
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    /// The next nonce: the clock in nanoseconds, or one above the last nonce if the clock has
    /// not moved (or went backwards), so nonces strictly increase for this client.
    fn next_nonce(&self) -> u64 {
        let now = unix_nanos();
        let previous =
            self.inner
                .last_nonce
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
                    Some(now.max(last.saturating_add(1)))
                });
        // fetch_update with a closure that always returns Some cannot fail.
        let last = previous.unwrap_or_else(|last| last);
        now.max(last.saturating_add(1))
    }

    /// A nonce lane, waiting at most a timeout for one. The wait is this client's, not the
    /// miner's: it does not count against the call's timeout, and running out of lanes is
    /// [`ClientError::Busy`], which blames no miner.
    async fn lane(&self) -> Result<LaneGuard<'_>, ClientError> {
        tokio::time::timeout(self.inner.config.timeout, self.inner.lanes.acquire())
            .await
            .map_err(|_| ClientError::Busy)?
    }

    async fn send_signed(
        &self,
        lane: LaneGuard<'_>,
        target: &Target,
        route: &str,
        body: Bytes,
    ) -> Result<(RequestHeaders, hyper::Response<Incoming>), ClientError> {
        // The lane is held until the answer's head arrives: by then the server has checked
        // the nonce, so the next request on this lane cannot overtake this one.
        let params = RequestParams {
            callee: target.hotkey,
            netuid: target.netuid,
            nonce: self.next_nonce(),
            lane: lane.lane,
            route,
        };
        let headers = RequestHeaders::sign(
            &self.inner.keypair,
            &self.inner.config.chain_id,
            params,
            &body,
        );
        let response = self.send(target, route, &headers, body).await?;
        drop(lane);
        Ok((headers, response))
    }

    async fn send(
        &self,
        target: &Target,
        route: &str,
        headers: &RequestHeaders,
        body: Bytes,
    ) -> Result<hyper::Response<Incoming>, ClientError> {
        let uri: Uri = format!("http://{}/{route}", target.addr)
            .parse()
            .map_err(|e: http::uri::InvalidUri| ClientError::Http(e.to_string()))?;
        let mut request = hyper::Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let map = request.headers_mut();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.write_to(map);
        self.inner
            .http
            .request(request)
            .await
            .map_err(|e| ClientError::Http(error_chain(&e)))
    }

    async fn read_answer(
        &self,
        target: &Target,
        route: &str,
        headers: &RequestHeaders,
        response: hyper::Response<Incoming>,
    ) -> Result<SignedResponse, ClientError> {
        let max = self.inner.config.max_response_bytes;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ClientError::ResponseTooLarge { max }
                } else {
                    ClientError::Http(e.to_string())
                }
            })?
            .to_bytes();
        let status = parts.status.as_u16();
        let Some(signed) = ResponseHeaders::parse(&parts.headers)? else {
            if parts.status.is_success() {
                return Err(ClientError::MissingSignature { status });
            }
            let error = ErrorBody::from_peer(&body);
            return Err(ClientError::Refused {
                status,
                kind: RefusalKind::from_code(&error.code),
                code: error.code,
                message: error.message,
            });
        };
        let body_hash = Hash::of(&body);
        if body_hash != signed.body_hash {
            return Err(ClientError::BodyHashMismatch);
        }
        let proof = ResponseProof {
            status,
            body_hash,
            signature: signed.signature,
            ..proof_template(target, route, headers)
        };
        self.inner
            .callee_keys
            .get(&proof.callee)
            .and_then(|key| proof.verify_by(&key, &self.inner.response_domain))
            .map_err(ClientError::BadResponseSignature)?;
        Ok(SignedResponse {
            status,
            body,
            proof,
        })
    }
}

/// The proof fields known from the request alone; the callee is the hotkey the caller
/// expected, never anything the server claims.
fn proof_template(target: &Target, route: &str, headers: &RequestHeaders) -> ResponseProof {
    ResponseProof {
        callee: target.hotkey,
        caller: headers.caller,
        netuid: headers.netuid,
        nonce: headers.nonce,
        lane: headers.lane,
        route: route.to_owned(),
        request_body_hash: headers.body_hash,
        status: 0,
        body_hash: Hash::ZERO,
        signature: plexus_primitives::Signature([0; 64]),
    }
}

/// An error with its chain of causes: HTTP clients' own messages ("client error
/// (Connect)") hide what actually failed (refused, DNS, a certificate).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use plexus_primitives::AxonProtocol;

    use super::*;

    #[test]
    fn axons_are_called_within_the_scope_at_a_port() {
        let target = |ip: &str, port: u16, scope: AxonScope| {
            let axon = AxonInfo {
                ip: ip.parse().unwrap(),
                port,
                protocol: AxonProtocol::Http,
                version: 1,
            };
            Target::from_axon(&axon, AccountId([7; 32]), NetUid(1), scope)
        };
        assert!(target("203.0.113.5", 8091, AxonScope::Public).is_some());
        assert!(target("10.0.0.7", 8091, AxonScope::Public).is_none());
        assert!(target("10.0.0.7", 8091, AxonScope::Private).is_some());
        assert!(target("::1", 8091, AxonScope::Private).is_none());
        assert!(target("::1", 8091, AxonScope::All).is_some());
        assert!(target("169.254.169.254", 80, AxonScope::All).is_none());
        assert!(target("203.0.113.5", 0, AxonScope::All).is_none(), "port 0");
    }
}
