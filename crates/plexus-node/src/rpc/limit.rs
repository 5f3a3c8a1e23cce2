//! A per-connection request rate limit: a token bucket refilled each
//! second. The RPC is not part of consensus, so it may read the clock.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use jsonrpsee::core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT};
use jsonrpsee::server::MethodResponse;
use jsonrpsee::types::{ErrorObject, Request};

/// The error code of a refused, rate-limited request.
pub const RATE_LIMITED: i32 = -32029;

#[derive(Debug)]
struct Bucket {
    capacity: u32,
    tokens: u32,
    refilled: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let elapsed_ms = now.duration_since(self.refilled).as_millis();
        let earned = (elapsed_ms * u128::from(self.capacity) / 1_000) as u32;
        if earned > 0 {
            self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Middleware refusing calls beyond `per_second` on one connection.
#[derive(Clone, Debug)]
pub struct RateLimit<S> {
    inner: S,
    bucket: Arc<Mutex<Bucket>>,
    served: Option<Arc<crate::metrics::NodeMetrics>>,
}

impl<S> RateLimit<S> {
    /// Wraps `inner` with a fresh bucket (one per connection); served calls
    /// are counted in `served`.
    pub fn new(
        inner: S,
        per_second: u32,
        served: Option<Arc<crate::metrics::NodeMetrics>>,
    ) -> Self {
        let capacity = per_second.max(1);
        let bucket = Bucket {
            capacity,
            tokens: capacity,
            refilled: Instant::now(),
        };
        Self {
            inner,
            bucket: Arc::new(Mutex::new(bucket)),
            served,
        }
    }

    fn allow(&self) -> bool {
        let allowed = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if allowed && let Some(m) = &self.served {
            m.rpc_requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        allowed
    }
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
        let allowed = self.allow();
        let inner = self.inner.clone();
        async move {
            if allowed {
                inner.call(request).await
            } else {
                let error = ErrorObject::owned(RATE_LIMITED, "rate limited: slow down", None::<()>);
                MethodResponse::error(request.id, error)
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
                && !self.allow()
            {
                let error = ErrorObject::owned(RATE_LIMITED, "rate limited: slow down", None::<()>);
                *entry = Err(BatchEntryErr::new(request.id().into_owned(), error));
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
