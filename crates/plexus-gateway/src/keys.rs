//! Optional API keys, each with its own rate limit.
//!
//! Without keys the gateway is open (a local network); with keys every request must carry
//! `Authorization: Bearer KEY`, and each key gets a token bucket of `per_minute` requests.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::openai::ApiError;

/// The keys a gateway accepts and how often each may call.
pub struct ApiKeys {
    per_minute: u32,
    buckets: Mutex<BTreeMap<String, Bucket>>,
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

impl ApiKeys {
    /// Accepts `keys`, each for `per_minute` requests a minute (bursts up to that many);
    /// no keys means no checks.
    pub fn new(keys: impl IntoIterator<Item = String>, per_minute: u32) -> Self {
        let now = Instant::now();
        let per_minute = per_minute.max(1);
        Self {
            per_minute,
            buckets: Mutex::new(
                keys.into_iter()
                    .filter(|k| !k.is_empty())
                    .map(|k| {
                        (
                            k,
                            Bucket {
                                tokens: f64::from(per_minute),
                                refilled: now,
                            },
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Whether any key is configured.
    pub fn enabled(&self) -> bool {
        !self
            .buckets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Admits a request with `headers` at `now`, or says why not.
    pub fn admit(&self, headers: &HeaderMap, now: Instant) -> Result<(), ApiError> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.is_empty() {
            return Ok(());
        }
        let key = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthorized)?;
        let bucket = buckets.get_mut(key).ok_or_else(ApiError::unauthorized)?;
        let rate = f64::from(self.per_minute) / 60.0;
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(f64::from(self.per_minute));
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
            return Err(ApiError::rate_limited(wait.as_secs().max(1)));
        }
        bucket.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(key: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
        );
        h
    }

    #[test]
    fn without_keys_everyone_is_admitted() {
        let keys = ApiKeys::new(Vec::new(), 1);
        assert!(!keys.enabled());
        assert_eq!(keys.admit(&HeaderMap::new(), Instant::now()), Ok(()));
    }

    #[test]
    fn keys_are_required_and_checked() {
        let keys = ApiKeys::new(vec!["sk-good".to_owned()], 60);
        let now = Instant::now();
        assert_eq!(
            keys.admit(&HeaderMap::new(), now).unwrap_err().code,
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
