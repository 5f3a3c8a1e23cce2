//! The OpenAI-compatible API over a Plexus subnet's miners, run by a validator.
//!
//! A consumer points any OpenAI client at the gateway: `GET /v1/models`,
//! `POST /v1/chat/completions` (whole or streamed), `POST /v1/completions` and
//! `POST /v1/embeddings`, with OpenAI's request, response and error shapes. Each request
//! goes to a miner drawn by on-chain incentive ([`pick`]); a miner that fails or times out
//! is replaced by the next before the consumer sees anything. Every answer names its miner
//! (`x-plexus-miner-uid`, `x-plexus-miner-hotkey`) so it can be audited, a sample is
//! re-checked the way the validator checks challenges, and what the gateway sees (failures
//! and verdicts) goes into the validator's scores. API keys with per-key rate limits are
//! optional ([`keys`]).

pub mod bench;
mod body;
pub mod call;
mod chat;
pub mod cors;
mod embeddings;
pub mod keys;
pub mod openai;
pub mod pick;
pub mod stop;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderName, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{MethodRouter, get, post};
use plexus_models::{EmbeddingModel, TextModel};
use plexus_primitives::{AccountId, NetUid};
use plexus_subnets::embed::EMBEDDED_EMBEDDING_MODEL;
use plexus_subnets::text::EMBEDDED_TEXT_MODEL;
use plexus_subnets::{Scores, SubnetView};
use plexus_wire::{AxonScope, Client, ClientError, Target};
use rand::Rng;
use serde_json::json;

pub use crate::cors::{CorsOrigin, CorsOriginError};
use crate::keys::{Admitted, ApiKeys, lock};
use crate::openai::ApiError;
use crate::pick::Candidate;

/// The header naming the UID of the miner that answered (of each miner, comma-separated,
/// when the texts of an embeddings request went to several).
pub const MINER_UID_HEADER: &str = "x-plexus-miner-uid";
/// The header naming the hotkey of the miner that answered (as [`MINER_UID_HEADER`]).
pub const MINER_HOTKEY_HEADER: &str = "x-plexus-miner-hotkey";

/// A subnet the gateway serves: its view of the chain, the validator's scores for it, and
/// the model that re-checks answers.
#[derive(Debug, Clone)]
pub struct Service<M> {
    /// The subnet.
    pub netuid: NetUid,
    /// The subnet as the validator last read it.
    pub view: Arc<SubnetView>,
    /// The validator's scores, which the gateway's observations feed.
    pub scores: Arc<Mutex<Scores>>,
    /// The subnet's model, for spot checks and token counts.
    pub model: Arc<M>,
}

/// How the gateway behaves.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Miners tried per request (per chunk of an embeddings request) before giving up.
    pub attempts: usize,
    /// Fraction of answers re-checked with the model (0 to 1).
    pub spot_check: f64,
    /// Accepted API keys; none means open.
    pub api_keys: Vec<String>,
    /// Requests a minute per key, or per peer when open (an embeddings request counts one
    /// per chunk of texts it sends miners).
    pub requests_per_minute: u32,
    /// Whether a reverse proxy on this machine fronts the gateway: an open gateway then
    /// limits a request from loopback that carries `X-Forwarded-For` as the address the
    /// proxy appended (default false: only for a proxy that appends to the header, or sets
    /// it, rather than passing on what its client wrote).
    pub behind_proxy: bool,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Time a streamed answer may take for each token asked for, beyond the wire client's
    /// timeout for its first event; a stream still going past that is cut, and its miner
    /// scored for it (default 2 s).
    pub stream_time_per_token: Duration,
    /// Time a miner may take, beyond the wire client's timeout, for the first token of
    /// its answer for each token of the prompt, which it reads first (default 25 ms).
    pub prompt_time_per_token: Duration,
    /// Web origins whose pages may call the gateway from a browser ([`cors`]); none when
    /// empty.
    pub cors_origins: Vec<CorsOrigin>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API keys are secrets: their number only.
        f.debug_struct("GatewayConfig")
            .field("attempts", &self.attempts)
            .field("spot_check", &self.spot_check)
            .field("api_keys", &self.api_keys.len())
            .field("requests_per_minute", &self.requests_per_minute)
            .field("behind_proxy", &self.behind_proxy)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("cors_origins", &self.cors_origins)
            .field("stream_time_per_token", &self.stream_time_per_token)
            .field("prompt_time_per_token", &self.prompt_time_per_token)
            .finish()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            attempts: 3,
            spot_check: 0.1,
            api_keys: Vec::new(),
            requests_per_minute: 600,
            behind_proxy: false,
            max_body_bytes: 1 << 20,
            stream_time_per_token: Duration::from_secs(2),
            prompt_time_per_token: Duration::from_millis(25),
            cors_origins: Vec::new(),
        }
    }
}

/// The gateway; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    me: AccountId,
    text: Option<Service<TextModel>>,
    embeddings: Option<Service<EmbeddingModel>>,
    config: GatewayConfig,
    keys: ApiKeys,
    served: AtomicU64,
    /// Scoring answers that came as text alone for their log-probabilities runs the model:
    /// one at a time, so consumers asking for them cannot take the machine.
    scoring: tokio::sync::Semaphore,
    /// Spot checks run the model too: at most [`SPOT_CHECKS_AT_ONCE`], and a sampled
    /// answer is left unchecked when they are all busy, so a flood of requests cannot
    /// pile model runs up.
    checks: Arc<tokio::sync::Semaphore>,
}

/// Spot checks that may run at once.
const SPOT_CHECKS_AT_ONCE: usize = 1;

/// Most characters of a miner's failure kept for the log and the consumer's error: the
/// text comes from the miner and may be as long as a whole answer.
const MAX_FAILURE_CHARS: usize = 240;

/// `why` cut to [`MAX_FAILURE_CHARS`].
pub(crate) fn brief(mut why: String) -> String {
    if let Some((cut, _)) = why.char_indices().nth(MAX_FAILURE_CHARS) {
        why.truncate(cut);
        why.push('…');
    }
    why
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("me", &self.inner.me)
            .field("served", &self.served())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway calling miners through `client` (signing as the validator's hotkey, on
    /// nonce lanes of its own so that consumers never hold up the validator's challenges)
    /// for the text and/or embeddings subnets.
    pub fn new(
        client: Client,
        text: Option<Service<TextModel>>,
        embeddings: Option<Service<EmbeddingModel>>,
        mut config: GatewayConfig,
    ) -> Self {
        // Only their hashes are kept.
        let keys = ApiKeys::new(
            std::mem::take(&mut config.api_keys),
            config.requests_per_minute,
        );
        Self {
            inner: Arc::new(Inner {
                me: client.hotkey(),
                client,
                text,
                embeddings,
                keys,
                config,
                served: AtomicU64::new(0),
                scoring: tokio::sync::Semaphore::new(1),
                checks: Arc::new(tokio::sync::Semaphore::new(SPOT_CHECKS_AT_ONCE)),
            }),
        }
    }

    /// Requests answered successfully so far.
    pub fn served(&self) -> u64 {
        self.inner.served.load(Ordering::Relaxed)
    }

    /// The HTTP routes. Served other than by [`Gateway::serve`], requests carry no
    /// connection origin, and an open gateway takes them all as this machine's (unlimited).
    pub fn router(&self) -> Router {
        let routes = Router::new()
            .route("/health", only(get(health), "GET"))
            .route("/v1/models", only(get(models), "GET"))
            .route("/v1/models/{id}", only(get(model), "GET"))
            .route(
                "/v1/chat/completions",
                only(post(chat::chat_completions), "POST"),
            )
            .route("/v1/completions", only(post(chat::completions), "POST"))
            .route("/v1/embeddings", only(post(embeddings::embeddings), "POST"))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(self.inner.config.max_body_bytes));
        let routes = match cors::layer(&self.inner.config.cors_origins) {
            Some(cors) => routes.layer(cors),
            None => routes,
        };
        routes.with_state(self.clone())
    }

    /// Serves on `listener` until `stop` completes.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // OpenAI clients speak HTTP/1.
        let limits = plexus_serve::ConnectionLimits {
            http2: false,
            forwarded_for: self.inner.config.behind_proxy,
            ..plexus_serve::ConnectionLimits::default()
        };
        let router = self.router();
        plexus_serve::serve_bounded(listener, move |_| router.clone(), limits, stop).await
    }

    /// Why `model` is not served on `endpoint`: a 400 pointing to the right endpoint when
    /// this gateway serves the model on the other one, else a 404 listing the models that
    /// `endpoint` serves.
    fn model_error(&self, model: &str, endpoint: Endpoint) -> ApiError {
        let text = self.inner.text.as_ref().map(|_| EMBEDDED_TEXT_MODEL);
        let embeddings = self
            .inner
            .embeddings
            .as_ref()
            .map(|_| EMBEDDED_EMBEDDING_MODEL);
        match endpoint {
            Endpoint::Text if embeddings == Some(model) => {
                ApiError::wrong_endpoint(model, "an embedding model", "/v1/embeddings")
            }
            Endpoint::Embeddings if text == Some(model) => ApiError::wrong_endpoint(
                model,
                "a chat model",
                "/v1/chat/completions (or /v1/completions)",
            ),
            Endpoint::Text => ApiError::unknown_model(model, text.as_slice()),
            Endpoint::Embeddings => ApiError::unknown_model(model, embeddings.as_slice()),
        }
    }

    /// The miners of `view` in the order to try them, at most `attempts`, among those
    /// announcing an axon of at least `min_version`.
    fn candidates(&self, view: &SubnetView, min_version: u32) -> Result<Vec<Candidate>, ApiError> {
        let order = self.order(view, min_version)?;
        Ok(pick::turn(&order, 0, self.inner.config.attempts))
    }

    /// Every miner of `view` announcing an axon of at least `min_version`, drawn into
    /// the order to try them; an error that says why when there is none.
    fn order(&self, view: &SubnetView, min_version: u32) -> Result<Vec<Candidate>, ApiError> {
        let snapshot = view
            .snapshot()
            .ok_or_else(|| ApiError::no_miner("the gateway has not read the chain yet"))?;
        // Miners refuse a registered caller without a validator permit once the subnet
        // gives permits; asking them would only score each one zero for it.
        let me = &self.inner.me;
        // (Unregistered, it is refused for that, and the miners' answer says so.)
        if !snapshot.miners_serve(me) && snapshot.neuron(me).is_some() {
            return Err(ApiError::no_miner(format!(
                "miners of subnet {} serve validators only, and this gateway's hotkey {me} \
                 holds no validator permit there yet: stake on it (permits go to the largest \
                 stakes at the subnet's epoch)",
                snapshot.subnet.netuid
            )));
        }
        let mut rng = rand::thread_rng();
        let scope = self.inner.client.axon_scope();
        let order = pick::candidates(&snapshot, &self.inner.me, min_version, scope, &mut rng);
        if order.is_empty() {
            let netuid = snapshot.subnet.netuid;
            let any = !pick::candidates(&snapshot, &self.inner.me, 0, scope, &mut rng).is_empty();
            // Miners a wider scope would call.
            let announced = snapshot.neurons.iter().any(|n| {
                n.hotkey != self.inner.me
                    && n.axon.is_some_and(|a| {
                        Target::from_axon(&a, n.hotkey, netuid, AxonScope::All).is_some()
                    })
            });
            return Err(ApiError::no_miner(match (any, announced) {
                (true, _) => format!(
                    "no miner of subnet {netuid} takes this request yet: it needs axon \
                     version {min_version} or later (miners of an older build)"
                ),
                (false, true) => format!(
                    "no miner of subnet {netuid} serves at an address this gateway calls \
                     (its axon scope is {scope})"
                ),
                (false, false) => format!("no miner serves subnet {netuid} yet"),
            }));
        }
        Ok(order)
    }

    /// How long a miner has to start its answer to a prompt of `prompt_tokens`: the wire
    /// client's timeout, and [`GatewayConfig::prompt_time_per_token`] for each of the
    /// prompt's tokens, which the model reads before it writes one. 2,000 tokens take the
    /// embedded model about half a minute on one busy core; the default gives 50 s more.
    fn start_within(&self, prompt_tokens: u32) -> Duration {
        let per_token = self.inner.config.prompt_time_per_token;
        let timeout = self.inner.client.timeout();
        timeout.saturating_add(per_token.saturating_mul(prompt_tokens))
    }

    /// Sends `body` to `route` on `miners` in turn until one gives an answer that decodes
    /// and that `accept` takes, each within `within`. A miner in `failed` (which failed
    /// another part of the same request) is passed over; one that fails joins it and
    /// scores zero in the service's scores, once a request. Returns the answer, who gave
    /// it and how long it took.
    #[allow(clippy::too_many_arguments)]
    async fn first_answer<T: serde::de::DeserializeOwned, M>(
        &self,
        service: &Service<M>,
        miners: Vec<Candidate>,
        failed: &Mutex<BTreeSet<u16>>,
        route: &str,
        body: Bytes,
        within: Duration,
        accept: impl Fn(&T) -> Result<(), String>,
    ) -> Result<(T, Candidate, Duration), ApiError> {
        let mut last = String::from("no miner tried");
        let failed_before = |uid| lock(failed).contains(&uid);
        for miner in miners {
            if failed_before(miner.uid) {
                last = format!("miner {} failed another part of this request", miner.uid);
                continue;
            }
            let client = &self.inner.client;
            let lane = match client.reserve().await {
                Ok(lane) => lane.start_within(within),
                // Every lane in use here: nothing was sent, and no miner is to blame.
                Err(ClientError::Busy) => return Err(ApiError::busy()),
                Err(e) => return Err(ApiError::no_miner(e.to_string())),
            };
            // The miner's time starts once there is a lane to call it on.
            let started = std::time::Instant::now();
            let outcome = match client
                .call_reserved(lane, &miner.target, route, body.clone())
                .await
            {
                Ok(r) if r.is_success() => r.json::<T>().map_err(|e| e.to_string()),
                Ok(r) => Err(format!("answered {}", r.status)),
                // Every lane in use here: nothing was sent, and no miner is to blame.
                Err(ClientError::Busy) => return Err(ApiError::busy()),
                Err(e) => Err(e.to_string()),
            }
            .and_then(|answer| accept(&answer).map(|()| answer));
            match outcome {
                Ok(answer) => return Ok((answer, miner, started.elapsed())),
                Err(why) => {
                    let why = brief(why);
                    tracing::info!(uid = miner.uid, %why, "miner failed; trying another");
                    if lock(failed).insert(miner.uid) {
                        record(&service.scores, &miner, 0.0);
                    }
                    last = why;
                }
            }
        }
        Err(ApiError::no_miner(format!(
            "no miner answered (last: {last})"
        )))
    }

    /// Whether to re-check this answer: a sample of them, while a check may start (the
    /// permit is held until it ends).
    fn spot_check(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        if !rand::thread_rng().gen_bool(self.inner.config.spot_check.clamp(0.0, 1.0)) {
            return None;
        }
        Arc::clone(&self.inner.checks).try_acquire_owned().ok()
    }

    fn served_one(&self) {
        self.inner.served.fetch_add(1, Ordering::Relaxed);
    }
}

/// The kinds of endpoint, for telling a consumer which one a model belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/v1/chat/completions` and `/v1/completions`.
    Text,
    /// `/v1/embeddings`.
    Embeddings,
}

/// `route`, answering other methods with a 405 in OpenAI's envelope (axum adds `Allow`)
/// rather than an empty body.
fn only(route: MethodRouter<Gateway>, allowed: &'static str) -> MethodRouter<Gateway> {
    route.fallback(move |method: Method, uri: Uri| {
        std::future::ready(ApiError::method_not_allowed(
            method.as_str(),
            uri.path(),
            allowed,
        ))
    })
}

/// Records an observation of `miner` in `scores`.
fn record(scores: &Mutex<Scores>, miner: &Candidate, score: f64) {
    lock(scores).record(miner.uid, miner.target.hotkey, score);
}

/// Adds the headers naming the miners that answered to `response`: one value, or, when
/// the parts of a request went to several miners, each miner once, in the order of the
/// parts they answered first, as a comma-separated list.
fn name_miners(mut response: Response, miners: &[Candidate]) -> Response {
    let mut named: Vec<&Candidate> = Vec::with_capacity(miners.len());
    for miner in miners {
        let same = |m: &&Candidate| m.uid == miner.uid && m.target.hotkey == miner.target.hotkey;
        if !named.iter().any(same) {
            named.push(miner);
        }
    }
    let list = |value: fn(&Candidate) -> String| {
        let values: Vec<String> = named.iter().map(|m| value(m)).collect();
        HeaderValue::from_str(&values.join(", ")).ok()
    };
    let headers = response.headers_mut();
    if let Some(v) = list(|m| m.uid.to_string()) {
        headers.insert(HeaderName::from_static(MINER_UID_HEADER), v);
    }
    if let Some(v) = list(|m| m.target.hotkey.to_string()) {
        headers.insert(HeaderName::from_static(MINER_HOTKEY_HEADER), v);
    }
    response
}

/// Seconds since 1970, for `created` fields.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// An id like OpenAI's: `prefix-` and 24 hex digits.
fn request_id(prefix: &str) -> String {
    let bytes: [u8; 12] = rand::thread_rng().r#gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}-{hex}")
}

/// The models this gateway serves, in OpenAI's model shape.
fn served_models(gateway: &Gateway) -> Vec<serde_json::Value> {
    let created = unix_now();
    let model = |id: &str, netuid: NetUid| {
        json!({"id": id, "object": "model", "created": created,
            "owned_by": format!("plexus-subnet-{netuid}")})
    };
    let inner = &gateway.inner;
    let text = inner
        .text
        .as_ref()
        .map(|s| model(EMBEDDED_TEXT_MODEL, s.netuid));
    let embeddings = inner
        .embeddings
        .as_ref()
        .map(|s| model(EMBEDDED_EMBEDDING_MODEL, s.netuid));
    text.into_iter().chain(embeddings).collect()
}

async fn models(State(gateway): State<Gateway>, _: Admitted) -> Response {
    Json(json!({"object": "list", "data": served_models(&gateway)})).into_response()
}

/// `GET /v1/models/{id}`: one served model, or 404 naming those served.
async fn model(State(gateway): State<Gateway>, _: Admitted, Path(id): Path<String>) -> Response {
    let served = served_models(&gateway);
    match served.iter().find(|m| m["id"] == id.as_str()) {
        Some(found) => Json(found.clone()).into_response(),
        None => {
            let known: Vec<&str> = served.iter().filter_map(|m| m["id"].as_str()).collect();
            ApiError::unknown_model(&id, &known).into_response()
        }
    }
}

/// Liveness and counters for operators (not part of OpenAI's API).
async fn health(State(gateway): State<Gateway>) -> Json<serde_json::Value> {
    // Miners the gateway would call: an axon at an address it calls.
    let client = &gateway.inner.client;
    let serving = |view: Option<&Arc<SubnetView>>| {
        view.and_then(|v| v.snapshot()).map_or(0, |s| {
            let netuid = s.subnet.netuid;
            s.neurons
                .iter()
                .filter_map(|n| n.axon.and_then(|a| client.target(&a, n.hotkey, netuid)))
                .count()
        })
    };
    let inner = &gateway.inner;
    Json(json!({
        "status": "ok",
        "served": gateway.served(),
        "text_miners": serving(inner.text.as_ref().map(|s| &s.view)),
        "embedding_miners": serving(inner.embeddings.as_ref().map(|s| &s.view)),
    }))
}

async fn not_found() -> ApiError {
    ApiError::unknown_url()
}

#[cfg(test)]
mod tests {
    use plexus_primitives::{ChainId, Keypair};
    use plexus_wire::ClientConfig;

    use super::*;

    #[tokio::test]
    async fn spot_checks_run_one_at_a_time_and_are_skipped_when_busy() {
        let client = Client::new(
            Keypair::from_seed([1; 32]),
            ClientConfig::new(ChainId::new("gateway-test").unwrap()),
        );
        let config = GatewayConfig {
            spot_check: 1.0,
            ..GatewayConfig::default()
        };
        let gateway = Gateway::new(client, None, None, config);
        let running = gateway.spot_check();
        assert!(running.is_some(), "every answer is sampled");
        assert!(gateway.spot_check().is_none(), "busy: left unchecked");
        drop(running);
        assert!(gateway.spot_check().is_some(), "free again");
    }

    #[test]
    fn api_keys_stay_out_of_debug_output() {
        let config = GatewayConfig {
            api_keys: vec!["sk-secret".into()],
            ..GatewayConfig::default()
        };
        let keys = ApiKeys::new(config.api_keys.clone(), 60);
        let shown = format!("{config:?} {keys:?}");
        assert!(!shown.contains("sk-secret"), "{shown}");
    }

    #[test]
    fn the_miners_that_answered_are_named_once_each_in_order() {
        let miner = |uid: u16| Candidate {
            uid,
            target: plexus_wire::Target {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 9000 + uid)),
                hotkey: AccountId([uid as u8; 32]),
                netuid: NetUid(1),
            },
            incentive: 0,
        };
        let named = |miners: &[Candidate]| {
            let response = name_miners(Response::default(), miners);
            let header = |name| response.headers()[name].to_str().unwrap().to_owned();
            (header(MINER_UID_HEADER), header(MINER_HOTKEY_HEADER))
        };
        let (uid, hotkey) = named(&[miner(7)]);
        assert_eq!(
            (uid.as_str(), hotkey),
            ("7", AccountId([7; 32]).to_string())
        );
        let (uids, hotkeys) = named(&[miner(7), miner(3), miner(7), miner(3)]);
        assert_eq!(uids, "7, 3");
        let expected = format!("{}, {}", AccountId([7; 32]), AccountId([3; 32]));
        assert_eq!(hotkeys, expected);
    }

    #[test]
    fn a_miners_failure_is_cut_short_on_a_char_boundary() {
        assert_eq!(brief("answered 500".into()), "answered 500");
        let long = "é".repeat(10_000);
        let cut = brief(long);
        assert_eq!(cut.chars().count(), MAX_FAILURE_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
