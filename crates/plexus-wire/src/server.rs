//! The miner's axon: an axum server (HTTP/1.1 and cleartext HTTP/2) that runs every check of
//! [`crate::refusal`] in order before a [`Handler`] sees a request, and signs what the handler
//! answers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::CONTENT_LENGTH;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use plexus_primitives::{AccountId, ChainId, Domain, Hash, Keypair, NetUid};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::admission::{Admission, Permit};
use crate::handler::{Handler, Reply, WireRequest};
use crate::headers::{RequestHeaders, header_bytes};
use crate::keys::PeerKeys;
use crate::message::{request_domain, response_domain, validate_route};
use crate::metagraph::Metagraph;
use crate::nonce::{NonceError, NonceTracker, unix_nanos};
use crate::rate::{RateLimit, RateLimiter};
use crate::refusal::{Refusal, RefusalKind};
use crate::signer::{Signer, refusal_response};
use plexus_serve::{ConnectionLimits, serve_bounded};

/// Everything a server enforces; [`ServerConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The chain whose signatures are accepted.
    pub chain_id: ChainId,
    /// The subnet this axon serves.
    pub netuid: NetUid,
    /// Least stake a caller needs, whatever the subnet asks (default 0). The server takes
    /// the larger of this and the metagraph's [`Metagraph::stake_threshold`].
    pub min_stake: u64,
    /// Whether only callers holding a validator permit are served, once the subnet has
    /// granted any ([`Metagraph::permits_granted`]; default true). Without it any
    /// registered hotkey, a miner's included, could have this miner do its work: a miner
    /// asked a challenge could pass it on here and be paid for the answer.
    pub validators_only: bool,
    /// Largest request body (default 4 MiB).
    pub max_body_bytes: usize,
    /// Longest a caller may take to send its body (default 10 s).
    pub body_timeout: Duration,
    /// Largest header block, counted as HTTP/1.1 sends it (default 8 KiB).
    pub max_header_bytes: usize,
    /// How far a nonce may be from the server clock, either way (default 30 s).
    pub nonce_window: Duration,
    /// Lanes per caller (default 1024); a larger lane is a malformed header.
    pub max_lanes: u16,
    /// Per-caller rate limit; `None` turns it off (default 50/s, bursts of 100).
    pub rate_limit: Option<RateLimit>,
    /// Handlers allowed to run at once (default 64).
    pub max_concurrent: usize,
    /// Requests allowed to wait for a slot, ordered by stake (default 256).
    pub max_waiting: usize,
    /// Longest wait for a slot before a 503 (default 2 s).
    pub max_wait: Duration,
}

impl ServerConfig {
    /// The defaults for `chain_id` and `netuid`.
    pub fn new(chain_id: ChainId, netuid: NetUid) -> Self {
        Self {
            chain_id,
            netuid,
            min_stake: 0,
            validators_only: true,
            max_body_bytes: 4 << 20,
            body_timeout: Duration::from_secs(10),
            max_header_bytes: 8 << 10,
            nonce_window: Duration::from_secs(30),
            max_lanes: 1024,
            rate_limit: Some(RateLimit {
                per_second: 50.0,
                burst: 100,
            }),
            max_concurrent: 64,
            max_waiting: 256,
            max_wait: Duration::from_secs(2),
        }
    }
}

/// Why a server could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Binding or serving the socket failed.
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server task panicked or was cancelled.
    #[error("server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

struct Shared<H, M> {
    handler: H,
    metagraph: M,
    config: ServerConfig,
    keypair: Arc<Keypair>,
    hotkey: AccountId,
    request_domain: Domain,
    response_domain: Domain,
    caller_keys: PeerKeys,
    nonces: Mutex<NonceTracker>,
    rates: Option<Mutex<RateLimiter>>,
    admission: Admission,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A miner's wire server before it is bound to a socket.
pub struct Server<H, M> {
    shared: Arc<Shared<H, M>>,
}

impl<H: Handler, M: Metagraph> Server<H, M> {
    /// A server answering as `keypair` (the miner's hotkey) with `handler`, admitting callers
    /// by `metagraph`.
    pub fn new(keypair: Keypair, config: ServerConfig, handler: H, metagraph: M) -> Self {
        let admission = Admission::new(config.max_concurrent, config.max_waiting, config.max_wait);
        Self {
            shared: Arc::new(Shared {
                handler,
                metagraph,
                hotkey: keypair.account_id(),
                keypair: Arc::new(keypair),
                request_domain: request_domain(&config.chain_id),
                response_domain: response_domain(&config.chain_id),
                caller_keys: PeerKeys::default(),
                nonces: Mutex::new(NonceTracker::new(config.nonce_window)),
                rates: config.rate_limit.map(|l| Mutex::new(RateLimiter::new(l))),
                admission,
                config,
            }),
        }
    }

    /// The hotkey requests must be addressed to.
    pub fn hotkey(&self) -> AccountId {
        self.shared.hotkey
    }

    /// The axum router, for mounting next to other routes (health checks, metrics).
    pub fn router(&self) -> Router {
        Router::new()
            .fallback(serve_request::<H, M>)
            .with_state(Arc::clone(&self.shared))
    }

    /// Binds `addr` and serves in a background task until [`RunningServer::shutdown`].
    pub async fn bind(self, addr: SocketAddr) -> Result<RunningServer, ServerError> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.await;
            };
            let service = move |_| router.clone();
            serve_bounded(listener, service, ConnectionLimits::default(), stop).await
        });
        Ok(RunningServer {
            local_addr,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A server serving in the background; dropping it stops it.
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    /// The address actually bound (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets open requests finish, and waits for the server task.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => Ok(task.await??),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn serve_request<H: Handler, M: Metagraph>(
    State(shared): State<Arc<Shared<H, M>>>,
    request: Request,
) -> Response {
    match shared.admit(request).await {
        Ok((admitted, permit)) => shared.answer(admitted, permit).await,
        Err(refusal) => refusal_response(&refusal),
    }
}

fn body_timeout(limit: std::time::Duration) -> Refusal {
    Refusal::new(
        RefusalKind::BodyTimeout,
        format!("body not received within {limit:?}"),
    )
}

/// Whether `e`, or an error under it, is the server's deadline on bodies.
fn caused_by_body_deadline(e: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|e| e.is::<plexus_serve::BodyTimeout>())
}

fn nonce_refusal(e: NonceError) -> Refusal {
    match e {
        NonceError::Stale { .. } => Refusal::new(RefusalKind::StaleNonce, e.to_string()),
        NonceError::Replayed { .. } => Refusal::new(RefusalKind::ReplayedNonce, e.to_string()),
    }
}

/// A request that passed every check, with what signing its answer needs.
struct Admitted {
    request: WireRequest,
    headers: RequestHeaders,
}

impl<H: Handler, M: Metagraph> Shared<H, M> {
    /// Runs the checks in the documented order; the first failure answers.
    async fn admit(&self, request: Request) -> Result<(Admitted, Permit), Refusal> {
        let config = &self.config;
        let (parts, body) = request.into_parts();

        // 1. Size limits: the header block and the body's declared length.
        let header_size = header_bytes(&parts.headers);
        if header_size > config.max_header_bytes {
            return Err(Refusal::new(
                RefusalKind::HeadersTooLarge,
                format!(
                    "{header_size} header bytes, at most {}",
                    config.max_header_bytes
                ),
            ));
        }
        let too_large = || {
            Refusal::new(
                RefusalKind::BodyTooLarge,
                format!("body over {} bytes", config.max_body_bytes),
            )
        };
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > config.max_body_bytes as u64) {
            return Err(too_large());
        }
        // The body itself is read only at step 6, once the request is known to be signed
        // by a registered caller: a stranger cannot make the miner hold megabytes.

        // 2. Method and route.
        if parts.method != Method::POST {
            return Err(Refusal::new(RefusalKind::MethodNotAllowed, "use POST"));
        }
        let route = parts.uri.path().strip_prefix('/').unwrap_or_default();
        if validate_route(route).is_err() || !self.handler.has_route(route) {
            // Named back only when it could be a route: a stranger's long path is not
            // echoed.
            let named: String = route.chars().take(crate::MAX_ROUTE_LEN).collect();
            let more = if named.len() < route.len() { "…" } else { "" };
            return Err(Refusal::new(
                RefusalKind::UnknownRoute,
                format!("no route {named:?}{more}"),
            ));
        }

        // 3. Wire headers.
        let headers = RequestHeaders::parse(&parts.headers)
            .map_err(|e| Refusal::new(RefusalKind::BadHeaders, e.to_string()))?;
        if headers.lane >= config.max_lanes {
            return Err(Refusal::new(
                RefusalKind::BadHeaders,
                format!("lane {} not below {}", headers.lane, config.max_lanes),
            ));
        }

        // 4. The caller is on our subnet with enough stake: a map lookup, before any
        //    signature work, so unregistered hotkeys cannot make the miner verify anything.
        let neuron = self
            .metagraph
            .neuron(config.netuid, &headers.caller)
            .ok_or_else(|| {
                Refusal::new(
                    RefusalKind::CallerNotRegistered,
                    format!(
                        "{} is not registered on subnet {}",
                        headers.caller, config.netuid
                    ),
                )
            })?;
        let threshold = config
            .min_stake
            .max(self.metagraph.stake_threshold(config.netuid));
        if neuron.stake < threshold {
            return Err(Refusal::new(
                RefusalKind::StakeBelowThreshold,
                format!("stake {} below {threshold}", neuron.stake),
            ));
        }
        if config.validators_only
            && !neuron.validator_permit
            && self.metagraph.permits_granted(config.netuid)
        {
            return Err(Refusal::new(
                RefusalKind::NoValidatorPermit,
                format!(
                    "{} holds no validator permit on subnet {}: this miner serves validators",
                    headers.caller, config.netuid
                ),
            ));
        }

        // 5. Addressed to us.
        if headers.callee != self.hotkey {
            return Err(Refusal::new(
                RefusalKind::WrongCallee,
                format!("this axon is {}, not {}", self.hotkey, headers.callee),
            ));
        }
        if headers.netuid != config.netuid {
            return Err(Refusal::new(
                RefusalKind::WrongNetuid,
                format!("this axon serves subnet {}", config.netuid),
            ));
        }

        // 6. The signature over the headers, which bind the body by its hash: a caller that
        //    merely names a registered hotkey cannot make the miner hold a body.
        self.caller_keys
            .get(&headers.caller)
            .and_then(|key| {
                headers
                    .message(route)
                    .verify_by(&key, &self.request_domain, &headers.signature)
            })
            .map_err(|e| Refusal::new(RefusalKind::BadSignature, e.to_string()))?;

        // 7. A stale or replayed nonce is refused before the body is awaited: a captured
        //    request replayed over many connections must not hold the miner's memory
        //    either. It is recorded below, once the body matched.
        lock(&self.nonces)
            .check(headers.caller, headers.lane, headers.nonce, unix_nanos())
            .map_err(nonce_refusal)?;

        // 8. The body, within its cap and deadline, against the signed hash.
        let read = tokio::time::timeout(
            config.body_timeout,
            Limited::new(body, config.max_body_bytes).collect(),
        );
        let body = match read.await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(too_large());
            }
            Err(_) => return Err(body_timeout(config.body_timeout)),
            // The server's own deadline on every body (plexus-serve's, under axum's error)
            // is the same refusal as the axon's.
            Ok(Err(e)) if caused_by_body_deadline(&*e) => {
                return Err(Refusal::new(RefusalKind::BodyTimeout, e.to_string()));
            }
            Ok(Err(e)) => {
                return Err(Refusal::new(
                    RefusalKind::BadHeaders,
                    format!("cannot read body: {e}"),
                ));
            }
        };
        if Hash::of(&body) != headers.body_hash {
            return Err(Refusal::new(
                RefusalKind::BodyHashMismatch,
                "body does not match x-plexus-body-hash",
            ));
        }

        // Replay protection: only a whole, authenticated request advances its nonce (the
        // lock makes two copies of one request race for it, and one lose).
        let now = unix_nanos();
        lock(&self.nonces)
            .check_and_record(headers.caller, headers.lane, headers.nonce, now)
            .map_err(nonce_refusal)?;

        // 9. Per-caller rate limit. Only now is the caller authenticated: counting
        //    unauthenticated requests would let a forger spend a real validator's budget.
        if let Some(rates) = &self.rates
            && let Err(wait) = lock(rates).check(headers.caller, Instant::now())
        {
            let mut refusal = Refusal::new(
                RefusalKind::RateLimited,
                format!("rate limit exceeded; retry in {} ms", wait.as_millis()),
            );
            refusal.retry_after = Some(wait);
            return Err(refusal);
        }

        // 10. A handler slot, by stake when busy.
        let permit = self.admission.acquire(neuron.stake).await.ok_or_else(|| {
            Refusal::new(
                RefusalKind::Busy,
                "at capacity; higher-stake callers are served first",
            )
        })?;

        let request = WireRequest {
            caller: headers.caller,
            neuron,
            netuid: headers.netuid,
            route: route.to_owned(),
            nonce: headers.nonce,
            body,
        };
        Ok((Admitted { request, headers }, permit))
    }

    /// Runs the handler and signs its answer; the permit is held until the answer is sent.
    async fn answer(&self, admitted: Admitted, permit: Permit) -> Response {
        let Admitted { request, headers } = admitted;
        let route = request.route.clone();
        let signer = Signer {
            keypair: Arc::clone(&self.keypair),
            domain: self.response_domain.clone(),
            callee: self.hotkey,
            headers,
            route,
        };
        match self.handler.handle(request).await {
            Ok(Reply::Json(body)) => {
                drop(permit);
                signer.json(StatusCode::OK, body)
            }
            Ok(Reply::Stream(chunks)) => signer.stream(chunks, permit),
            Err(error) => {
                drop(permit);
                signer.error(&error)
            }
        }
    }
}
