//! Who may call the gateway, and how often.
//!
//! With API keys every request must carry `Authorization: Bearer KEY`, and each key gets a
//! token bucket of `per_minute` requests. Without keys the gateway is open: each peer (an
//! IPv4 address or an IPv6 /64, see [`plexus_serve::Peer`]) gets that bucket instead, and
//! this machine (loopback: `plexus up`, local tools) is not limited.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use plexus_serve::{Origin, Peer};

use crate::openai::ApiError;

/// Peers of an open gateway with a bucket at most; past it, full buckets are dropped (a
/// full bucket is the same as none), and a new peer waits while every bucket is in use.
const MOST_PEERS: usize = 16_384;

/// Who is calling: the request's headers (for its key) and the connection's origin (for
/// an open gateway's limit per peer; absent when the router is called without
/// `plexus_serve`, as in tests, which counts as this machine).
#[derive(Debug)]
pub(crate) struct Caller {
    headers: HeaderMap,
    origin: Origin,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            headers: parts.headers.clone(),
            origin: parts
                .extensions
                .get::<Origin>()
                .copied()
                .unwrap_or(Origin::Local),
        })
    }
}

/// The keys a gateway accepts and how often each key, or each peer of an open gateway,
/// may call.
pub struct ApiKeys {
    per_minute: u32,
    buckets: Mutex<BTreeMap<String, Bucket>>,
    peers: Mutex<HashMap<Peer, Bucket>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys are secrets: their number only.
        let keys = self.buckets.lock().map_or(0, |b| b.len());
        f.debug_struct("ApiKeys")
            .field("keys", &keys)
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn full(per_minute: u32, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(per_minute),
            refilled: now,
        }
    }

    /// Refills for the time since the last call and takes one token, or says how long
    /// until there is one.
    fn take(&mut self, per_minute: u32, now: Instant) -> Result<(), ApiError> {
        let rate = f64::from(per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(f64::from(per_minute));
        self.refilled = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / rate);
            return Err(ApiError::rate_limited(wait.as_secs().max(1)));
        }
        self.tokens -= 1.0;
        Ok(())
    }

    /// Whether the bucket has refilled by `now`.
    fn is_full(&self, per_minute: u32, now: Instant) -> bool {
        let rate = f64::from(per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens + elapsed * rate >= f64::from(per_minute)
    }
}

impl ApiKeys {
    /// Accepts `keys`, each for `per_minute` requests a minute (bursts up to that many);
    /// no keys means an open gateway, limited per peer.
    pub fn new(keys: impl IntoIterator<Item = String>, per_minute: u32) -> Self {
        let now = Instant::now();
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            buckets: Mutex::new(
                keys.into_iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| (k, Bucket::full(per_minute, now)))
                    .collect(),
            ),
            peers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self
            .buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Admits a request from `caller` at `now`, or says why not.
    pub(crate) fn admit(&self, caller: &Caller, now: Instant) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.is_empty() {
            drop(buckets);
            return match caller.origin {
                Origin::Local => Ok(()),
                Origin::Remote(peer) => self.admit_peer(peer, now),
            };
        }
        let key = caller
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let bucket = buckets.get_mut(key).ok_or_else(ApiError::unauthorized)?;
        bucket.take(self.per_minute, now)
    }

    fn admit_peer(&self, peer: Peer, now: Instant) -> Result<(), ApiError> {
        let per_minute = self.per_minute;
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        if !peers.contains_key(&peer) && peers.len() >= MOST_PEERS {
            peers.retain(|_, b| !b.is_full(per_minute, now));
            if peers.len() >= MOST_PEERS {
                return Err(ApiError::rate_limited(1));
            }
        }
        peers
            .entry(peer)
            .or_insert_with(|| Bucket::full(per_minute, now))
            .take(per_minute, now)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(key: &str) -> Caller {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
        Caller {
            headers: h,
            origin: Origin::Local,
        }
    }

    fn from(origin: Origin) -> Caller {
        Caller {
            headers: HeaderMap::new(),
            origin,
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
            assert_eq!(keys.admit(&from(Origin::Local), now), Ok(()));
        }
        assert_eq!(keys.admit(&from(remote(1)), now), Ok(()));
        assert_eq!(keys.admit(&from(remote(1)), now), Ok(()));
        let refused = keys.admit(&from(remote(1)), now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        assert_eq!(keys.admit(&from(remote(2)), now), Ok(()), "another peer");
        assert_eq!(
            keys.admit(&from(remote(1)), now + Duration::from_secs(30)),
            Ok(())
        );
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
            assert_eq!(keys.admit(&peer(i), now), Ok(()));
        }
        assert!(keys.admit(&peer(MOST_PEERS), now).is_err());
        // A minute on, every bucket has refilled and makes room.
        let later = now + Duration::from_secs(60);
        assert_eq!(keys.admit(&peer(MOST_PEERS), later), Ok(()));
        assert_eq!(keys.peers.lock().unwrap().len(), 1);
    }

    #[test]
    fn keys_are_required_and_checked() {
        let keys = ApiKeys::new(vec!["sk-good".to_owned()], 60);
        let now = Instant::now();
        assert_eq!(
            keys.admit(&from(Origin::Local), now).unwrap_err().code,
            "invalid_api_key"
        );
        assert_eq!(
            keys.admit(&bearer("sk-bad"), now).unwrap_err().code,
            "invalid_api_key"
        );
        assert_eq!(keys.admit(&bearer("sk-good"), now), Ok(()));
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let keys = ApiKeys::new(vec!["a".to_owned(), "b".to_owned()], 2);
        let now = Instant::now();
        assert_eq!(keys.admit(&bearer("a"), now), Ok(()));
        assert_eq!(keys.admit(&bearer("a"), now), Ok(()));
        let refused = keys.admit(&bearer("a"), now).unwrap_err();
        assert_eq!(refused.code, "rate_limit_exceeded");
        assert_eq!(keys.admit(&bearer("b"), now), Ok(()), "b is untouched");
        // Two a minute: one more after 30 s.
        assert_eq!(
            keys.admit(&bearer("a"), now + Duration::from_secs(30)),
            Ok(())
        );
    }
}
