//! Who may call the gateway, and how often.
//!
//! With API keys every request must carry `Authorization: Bearer KEY`, and each key gets a
//! token bucket of `per_minute` requests (an embeddings request counts one for each chunk
//! of texts it sends to miners, see [`crate::call::EMBED_CHUNK_TEXTS`]). Without keys the gateway is open: each peer (an
//! IPv4 address or an IPv6 /64, see [`plexus_serve::Peer`]) gets that bucket instead, and
//! this machine (loopback: `plexus up`, local tools) is not limited, except web pages: a
//! request from loopback that names the page it comes from (`Origin`, which browsers set
//! and pages cannot change) gets a bucket per page, so that a page the local user opens
//! cannot spend this machine's miners without bound. A remote peer gets 10
//! requests a minute with a missing or wrong key before it is answered 429 (still
//! `invalid_api_key`) instead of 401.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::{AUTHORIZATION, ORIGIN};
use axum::http::request::Parts;
use plexus_serve::{Origin, Peer};
use plexus_wire::{RateLimit, RateLimiter};

use crate::Gateway;
use crate::openai::ApiError;

/// Peers of an open gateway with a bucket at most; past it, a new peer waits while every
/// bucket is in use.
const MOST_PEERS: usize = 16_384;

/// Requests with a missing or wrong key a remote peer may make a minute (bursts up to as
/// many): enough for a client with a typo to see its 401s, too few to guess keys.
const FAILURES_PER_MINUTE: u32 = 10;

/// A key as the gateway keeps it: its hash. Looking a presented key up compares hashes,
/// so how long a lookup takes says nothing about the keys' own bytes.
type KeyDigest = [u8; 32];

fn digest(key: &str) -> KeyDigest {
    digest_bytes(key.as_bytes())
}

fn digest_bytes(bytes: &[u8]) -> KeyDigest {
    *blake3::hash(bytes).as_bytes()
}

/// Who is calling: the request's `Authorization` (for its key) and the connection's origin (for
/// an open gateway's limit per peer; absent when the router is called without
/// `plexus_serve`, as in tests, which counts as this machine).
#[derive(Debug)]
pub(crate) struct Caller {
    authorization: Option<HeaderValue>,
    origin: Origin,
    /// The web page a browser says the request comes from.
    page: Option<HeaderValue>,
}

impl Caller {
    fn of(parts: &Parts) -> Self {
        Caller {
            authorization: parts.headers.get(AUTHORIZATION).cloned(),
            page: parts.headers.get(ORIGIN).cloned(),
            origin: parts
                .extensions
                .get::<Origin>()
                .copied()
                .unwrap_or(Origin::Local),
        }
    }
}

/// Whose bucket an admitted request was charged to.
#[derive(Debug, Clone, Copy)]
enum Bucket {
    Key(KeyDigest),
    Peer(Peer),
    /// A web page open on this machine, calling an open gateway (its origin's digest).
    Page(KeyDigest),
    /// This machine's own tools, calling an open gateway.
    Unlimited,
}

/// A request the gateway's keys and limits let in. As an extractor it runs on the
/// request's head, before any body extractor, so a request refused here is answered
/// without its body being read.
#[derive(Debug)]
pub(crate) struct Admitted(Bucket);

impl FromRequestParts<Gateway> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, gateway: &Gateway) -> Result<Self, ApiError> {
        gateway
            .inner
            .keys
            .admit(&Caller::of(parts), Instant::now())
            .map(Admitted)
    }
}

/// The keys a gateway accepts and how often each key, or each peer of an open gateway,
/// may call.
pub struct ApiKeys {
    per_minute: u32,
    keys: BTreeSet<KeyDigest>,
    by_key: Mutex<RateLimiter<KeyDigest>>,
    by_peer: Mutex<RateLimiter<Peer>>,
    by_page: Mutex<RateLimiter<KeyDigest>>,
    /// Each remote peer's requests with a missing or wrong key.
    failures: Mutex<RateLimiter<Peer>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: their number only.
        f.debug_struct("ApiKeys")
            .field("keys", &self.keys.len())
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

impl ApiKeys {
    /// Accepts `keys`, each for `per_minute` requests a minute (bursts up to that many);
    /// no keys means an open gateway, limited per peer.
    pub fn new(keys: impl IntoIterator<Item = String>, per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        let limit = RateLimit {
            per_second: f64::from(per_minute) / 60.0,
            burst: per_minute,
        };
        let failures = RateLimit {
            per_second: f64::from(FAILURES_PER_MINUTE) / 60.0,
            burst: FAILURES_PER_MINUTE,
        };
        Self {
            per_minute,
            keys: keys
                .into_iter()
                .filter(|k| !k.is_empty())
                .map(|k| digest(&k))
                .collect(),
            by_key: Mutex::new(RateLimiter::new(limit)),
            by_peer: Mutex::new(RateLimiter::new(limit).with_most_callers(MOST_PEERS)),
            by_page: Mutex::new(RateLimiter::new(limit).with_most_callers(MOST_PEERS)),
            failures: Mutex::new(RateLimiter::new(failures).with_most_callers(MOST_PEERS)),
        }
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Admits a request from `caller` at `now`, charging it to the bucket returned, or
    /// says why not.
    fn admit(&self, caller: &Caller, now: Instant) -> Result<Bucket, ApiError> {
        let (bucket, checked) = if self.keys.is_empty() {
            match (caller.origin, &caller.page) {
                (Origin::Remote(peer), _) => {
                    (Bucket::Peer(peer), lock(&self.by_peer).check(peer, now))
                }
                (Origin::Local, Some(page)) => {
                    let page = digest_bytes(page.as_bytes());
                    (Bucket::Page(page), lock(&self.by_page).check(page, now))
                }
                (Origin::Local, None) => return Ok(Bucket::Unlimited),
            }
        } else {
            let key = caller
                .authorization
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token)
                .map(digest)
                .filter(|key| self.keys.contains(key));
            let Some(key) = key else {
                return Err(self.refused(caller, now));
            };
            (Bucket::Key(key), lock(&self.by_key).check(key, now))
        };
        checked
            .map(|()| bucket)
            .map_err(|wait| ApiError::rate_limited(wait.as_secs().max(1)))
    }

    /// Charges an admitted request `extra` more requests' worth at `now` (a request that
    /// sets off many miner calls), all or none, or says why not.
    pub(crate) fn charge(
        &self,
        admitted: &Admitted,
        extra: u32,
        now: Instant,
    ) -> Result<(), ApiError> {
        let taken = match admitted.0 {
            _ if extra == 0 => Ok(()),
            Bucket::Unlimited => Ok(()),
            Bucket::Key(key) => lock(&self.by_key).take(key, extra, now),
            Bucket::Peer(peer) => lock(&self.by_peer).take(peer, extra, now),
            Bucket::Page(page) => lock(&self.by_page).take(page, extra, now),
        };
        taken.map_err(|wait| ApiError::rate_limited(wait.as_secs().max(1)))
    }

    /// The answer to a request without a good key: 401, or 429 for a remote peer that has
    /// had too many of those lately.
    fn refused(&self, caller: &Caller, now: Instant) -> ApiError {
        let Origin::Remote(peer) = caller.origin else {
            return ApiError::unauthorized();
        };
        match lock(&self.failures).check(peer, now) {
            Ok(()) => ApiError::unauthorized(),
            Err(wait) => ApiError::too_many_bad_keys(wait.as_secs().max(1)),
        }
    }
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme's name is
/// case-insensitive, as HTTP's are.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Locks `mutex`; what it guards stays consistent if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::StatusCode;

    use super::*;

    fn bearer(key: &str) -> Caller {
        Caller {
            authorization: Some(HeaderValue::from_str(&format!("Bearer {key}")).unwrap()),
            origin: Origin::Local,
            page: None,
        }
    }

    /// Whether `caller` is admitted, charged to whichever bucket.
    fn admits(keys: &ApiKeys, caller: &Caller, now: Instant) -> Result<(), ApiError> {
        keys.admit(caller, now).map(drop)
    }

    #[test]
    fn a_costly_request_is_charged_to_its_callers_bucket() {
        let keys = ApiKeys::new(vec!["sk-good".to_owned()], 10);
        let now = Instant::now();
        let admitted = Admitted(keys.admit(&bearer("sk-good"), now).unwrap());
        // Nine more requests' worth: the key's minute is spent.
        assert_eq!(keys.charge(&admitted, 9, now), Ok(()));
        assert!(admits(&keys, &bearer("sk-good"), now).is_err());
        let refused = keys.charge(&admitted, 1, now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        // This machine calling an open gateway is never charged.
        let open = ApiKeys::new(Vec::new(), 1);
        let local = Admitted(open.admit(&from(Origin::Local), now).unwrap());
        assert_eq!(open.charge(&local, 1_000, now), Ok(()));
    }

    fn from(origin: Origin) -> Caller {
        Caller {
            authorization: None,
            origin,
            page: None,
        }
    }

    /// A browser on this machine, on the page at `origin`.
    fn page(origin: &str) -> Caller {
        Caller {
            page: Some(HeaderValue::from_str(origin).unwrap()),
            ..from(Origin::Local)
        }
    }

    fn remote(last: u8) -> Origin {
        Origin::of(std::net::SocketAddr::from(([203, 0, 113, last], 443)))
    }

    #[test]
    fn without_keys_this_machine_is_admitted_and_each_peer_limited() {
        let keys = ApiKeys::new(Vec::new(), 2);
        assert!(!keys.enabled());
        let now = Instant::now();
        for _ in 0..10 {
            assert_eq!(admits(&keys, &from(Origin::Local), now), Ok(()));
        }
        assert_eq!(admits(&keys, &from(remote(1)), now), Ok(()));
        assert_eq!(admits(&keys, &from(remote(1)), now), Ok(()));
        let refused = admits(&keys, &from(remote(1)), now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        // Sent as Retry-After, which OpenAI's SDKs wait for.
        assert_eq!(refused.retry_after, Some(30));
        assert_eq!(admits(&keys, &from(remote(2)), now), Ok(()), "another peer");
        assert_eq!(
            admits(&keys, &from(remote(1)), now + Duration::from_secs(30)),
            Ok(())
        );
    }

    #[test]
    fn a_web_page_on_this_machine_is_limited_like_a_peer() {
        let keys = ApiKeys::new(Vec::new(), 2);
        let now = Instant::now();
        let evil = page("https://evil.example");
        assert_eq!(admits(&keys, &evil, now), Ok(()));
        let admitted = Admitted(keys.admit(&evil, now).unwrap());
        assert!(
            keys.charge(&admitted, 1, now).is_err(),
            "its minute is spent"
        );
        let refused = admits(&keys, &evil, now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        // Another page has its own bucket, and the machine's own tools none.
        assert_eq!(admits(&keys, &page("http://localhost:3000"), now), Ok(()));
        for _ in 0..10 {
            assert_eq!(admits(&keys, &from(Origin::Local), now), Ok(()));
        }
        // With keys, the key's bucket is what counts, wherever the page is.
        let keyed = ApiKeys::new(vec!["sk-good".to_owned()], 60);
        let from_page = Caller {
            page: Some(HeaderValue::from_static("https://evil.example")),
            ..bearer("sk-good")
        };
        assert_eq!(admits(&keyed, &from_page, now), Ok(()));
    }

    #[test]
    fn an_open_gateway_keeps_buckets_for_a_bounded_number_of_peers() {
        let keys = ApiKeys::new(Vec::new(), 60);
        let now = Instant::now();
        let peer = |i: usize| {
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 + i as u32);
            from(Origin::of(std::net::SocketAddr::from((addr, 1))))
        };
        for i in 0..MOST_PEERS {
            assert_eq!(admits(&keys, &peer(i), now), Ok(()));
        }
        assert!(admits(&keys, &peer(MOST_PEERS), now).is_err());
        // A minute on, every bucket has refilled and makes room.
        let later = now + Duration::from_secs(60);
        assert_eq!(admits(&keys, &peer(MOST_PEERS), later), Ok(()));
        assert_eq!(lock(&keys.by_peer).callers(), 1);
    }

    #[test]
    fn keys_are_required_and_checked() {
        let keys = ApiKeys::new(vec!["sk-good".to_owned()], 60);
        let now = Instant::now();
        assert_eq!(
            admits(&keys, &from(Origin::Local), now).unwrap_err().code,
            "invalid_api_key"
        );
        assert_eq!(
            admits(&keys, &bearer("sk-bad"), now).unwrap_err().code,
            "invalid_api_key"
        );
        assert_eq!(admits(&keys, &bearer("sk-good"), now), Ok(()));
        // The scheme's name is case-insensitive; the key is not.
        let with = |value: &str| Caller {
            authorization: Some(HeaderValue::from_str(value).unwrap()),
            origin: Origin::Local,
            page: None,
        };
        assert_eq!(admits(&keys, &with("bearer sk-good"), now), Ok(()));
        assert_eq!(admits(&keys, &with("BEARER  sk-good "), now), Ok(()));
        for refused in [
            "Bearer SK-GOOD",
            "Basic sk-good",
            "Bearer",
            "sk-good",
            "Bearer ",
        ] {
            assert!(admits(&keys, &with(refused), now).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_peer_guessing_keys_is_slowed_down() {
        let keys = ApiKeys::new(vec!["sk-good".to_owned()], 600);
        let now = Instant::now();
        let guess = |from: Origin, key: &str| Caller {
            origin: from,
            ..bearer(key)
        };
        let unauthorized = |answer: Result<(), ApiError>| {
            answer.is_err_and(|e| e.status == StatusCode::UNAUTHORIZED)
        };
        for i in 0..FAILURES_PER_MINUTE {
            assert!(unauthorized(admits(
                &keys,
                &guess(remote(1), &format!("sk-{i}")),
                now
            )));
        }
        let refused = admits(&keys, &guess(remote(1), "sk-more"), now).unwrap_err();
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code, "invalid_api_key", "the key is what to fix");
        // Other peers, and this machine, are not held back by it.
        assert!(unauthorized(admits(
            &keys,
            &guess(remote(2), "sk-typo"),
            now
        )));
        for _ in 0..2 * FAILURES_PER_MINUTE {
            assert!(unauthorized(admits(&keys, &bearer("sk-typo"), now)));
        }
        // A good key still works from the guessing peer: its key has its own bucket.
        assert_eq!(admits(&keys, &guess(remote(1), "sk-good"), now), Ok(()));
        // Ten a minute: one more after six seconds.
        let later = now + Duration::from_secs(6);
        assert!(unauthorized(admits(
            &keys,
            &guess(remote(1), "sk-again"),
            later
        )));
        assert!(!unauthorized(admits(
            &keys,
            &guess(remote(1), "sk-again"),
            later
        )));
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let keys = ApiKeys::new(vec!["a".to_owned(), "b".to_owned()], 2);
        let now = Instant::now();
        assert_eq!(admits(&keys, &bearer("a"), now), Ok(()));
        assert_eq!(admits(&keys, &bearer("a"), now), Ok(()));
        let refused = admits(&keys, &bearer("a"), now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        assert_eq!(admits(&keys, &bearer("b"), now), Ok(()), "b is untouched");
        // Two a minute: one more after 30 s.
        assert_eq!(
            admits(&keys, &bearer("a"), now + Duration::from_secs(30)),
            Ok(())
        );
    }
}
