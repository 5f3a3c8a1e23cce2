//! A request rate limit per peer (an IPv4 address or an IPv6 /64, see
//! [`plexus_serve::Peer`]): a token bucket refilled continuously, shared by every
//! connection from the peer. The RPC is not part of consensus, so it may read the clock.
//!
//! Loopback is this machine (its own tools: `plexus up`, the bench, a local explorer) and
//! is not limited unless asked (`RpcConfig::limit_loopback`), when it counts as one peer. A
//! reverse proxy on the same machine makes every client look like loopback: it must limit
//! its clients itself, unless the RPC trusts it to name them (`RpcConfig::behind_proxy`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::{ErrorObject, Request};
use plexus_serve::Origin;
use plexus_wire::{RateLimit as WireRateLimit, RateLimiter};

/// The error code of a refused, rate-limited request.
pub const RATE_LIMITED: i32 = -32029;

/// Peers with a bucket at most; past it, a new peer waits while every bucket is in use.
const MOST_PEERS: usize = 16_384;

/// Every peer's bucket, shared by all connections.
#[derive(Debug)]
pub struct PeerBuckets {
    limit_loopback: bool,
    buckets: Mutex<RateLimiter<Origin>>,
}

impl PeerBuckets {
    /// Buckets of `per_second` calls (bursts up to one second's worth); loopback is
    /// limited only if `limit_loopback`.
    pub fn new(per_second: u32, limit_loopback: bool) -> Self {
        let per_second = per_second.max(1);
        let limit = WireRateLimit {
            per_second: f64::from(per_second),
            burst: per_second,
        };
        Self {
            limit_loopback,
            buckets: Mutex::new(RateLimiter::new(limit).with_most_callers(MOST_PEERS)),
        }
    }

    /// Takes one call from `peer`'s bucket at `now`, if it has one left.
    pub fn take(&self, peer: Origin, now: Instant) -> bool {
        if peer == Origin::Local && !self.limit_loopback {
            return true;
        }
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(peer, now)
            .is_ok()
    }

    /// Peers holding a bucket now.
    #[cfg(test)]
    fn peers(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .callers()
    }
}

/// Middleware refusing a peer's calls beyond its bucket.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    buckets: Arc<PeerBuckets>,
    served: Option<Arc<crate::metrics::NodeMetrics>>,
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with the shared `buckets`; served calls are counted in `served`.
    pub fn new(
        inner: S,
        buckets: Arc<PeerBuckets>,
        served: Option<Arc<crate::metrics::NodeMetrics>>,
    ) -> Self {
        Self {
            inner,
            buckets,
            served,
        }
    }

    fn allow(&self, request: &Request<'_>) -> bool {
        let allowed = match request.extensions().get::<Origin>() {
            Some(origin) => self.buckets.take(*origin, Instant::now()),
            // Every connection is given its origin; a request without one is refused.
            None => false,
        };
        if allowed && let Some(m) = &self.served {
            m.rpc_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        allowed
    }
}

fn rate_limited() -> ErrorObject<'static> {
    ErrorObject::owned(RATE_LIMITED, "rate limited: slow down", None::<()>)
}

impl<S> RpcServiceT for RateLimit<S>
where
    S: RpcServiceT<MethodResponse = MethodResponse> + Clone + Send + Sync + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        request: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        let allowed = self.allow(&request);
        let inner = self.inner.clone();
        async move {
            if allowed {
                inner.call(request).await
            } else {
                MethodResponse::error(request.id, rate_limited())
            }
        }
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        // The server answers a batch's calls without passing each through
        // `call`: every call pays here, and those past the budget are refused
        // in place.
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(request)) = entry
                && !self.allow(request)
            {
                *entry = Err(BatchEntryErr::new(
                    request.id().into_owned(),
                    rate_limited(),
                ));
            }
        }
        self.inner.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use plexus_serve::Peer;

    use super::*;

    fn peer(last: u8) -> Origin {
        Origin::Remote(Peer::of(std::net::SocketAddr::from(([203, 0, 113, last], 1))).unwrap())
    }

    #[test]
    fn a_peer_gets_a_seconds_worth_then_refills_over_time() {
        let buckets = PeerBuckets::new(10, false);
        let t0 = Instant::now();
        assert_eq!((0..15).filter(|_| buckets.take(peer(1), t0)).count(), 10);
        // Another peer has a bucket of its own.
        assert!(buckets.take(peer(2), t0));
        // 300 ms later, three more.
        let later = t0 + Duration::from_millis(300);
        assert_eq!((0..10).filter(|_| buckets.take(peer(1), later)).count(), 3);
        // Never more than a second's worth, however long it waited.
        let much_later = t0 + Duration::from_secs(3600);
        assert_eq!(
            (0..30)
                .filter(|_| buckets.take(peer(1), much_later))
                .count(),
            10
        );
    }

    #[test]
    fn refilled_buckets_make_room_for_new_peers() {
        let buckets = PeerBuckets::new(1, false);
        let t0 = Instant::now();
        let many = |i: usize| {
            let addr = std::net::Ipv4Addr::from(0x0a00_0000 + i as u32);
            Origin::Remote(Peer::of(std::net::SocketAddr::from((addr, 1))).unwrap())
        };
        for i in 0..MOST_PEERS {
            assert!(buckets.take(many(i), t0));
        }
        // Every bucket is in use: a newcomer waits.
        assert!(!buckets.take(many(MOST_PEERS), t0));
        // A second on, they have refilled and are dropped for it.
        assert!(buckets.take(many(MOST_PEERS), t0 + Duration::from_secs(1)));
        assert_eq!(buckets.peers(), 1);
    }

    #[test]
    fn loopback_is_one_peer_and_limited_only_if_asked() {
        let t0 = Instant::now();
        let free = PeerBuckets::new(2, false);
        assert!((0..100).all(|_| free.take(Origin::Local, t0)));
        assert_eq!(free.peers(), 0);
        let limited = PeerBuckets::new(2, true);
        assert_eq!(
            (0..100).filter(|_| limited.take(Origin::Local, t0)).count(),
            2
        );
    }
}
