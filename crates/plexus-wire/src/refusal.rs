//! Why a server refused a request: one status code per check, and a JSON body naming it.
//!
//! The checks run in the order of this table; the first that fails answers, and the
//! handler never runs.
//!
//! | order | check | status | `code` |
//! |---|---|---|---|
//! | 1 | header block over the cap | 413 | `headers_too_large` |
//! | 1 | body declared over the cap | 413 | `body_too_large` |
//! | 2 | method is not POST | 405 | `method_not_allowed` |
//! | 2 | no such route | 404 | `unknown_route` |
//! | 3 | wire headers missing or malformed, lane out of range | 400 | `bad_headers` |
//! | 4 | caller not registered on the subnet | 403 | `caller_not_registered` |
//! | 4 | caller's stake below the subnet threshold | 402 | `stake_below_threshold` |
//! | 4 | caller holds no validator permit (once the subnet has granted any) | 403 | `no_validator_permit` |
//! | 5 | request addressed to another hotkey | 421 | `wrong_callee` |
//! | 5 | request addressed to another subnet | 421 | `wrong_netuid` |
//! | 6 | signature over the headers (body hash included) does not verify | 401 | `bad_signature` |
//! | 7 | nonce outside the server's time window | 425 | `stale_nonce` |
//! | 7 | nonce not above the last one of this caller and lane | 409 | `replayed_nonce` |
//! | 8 | body over the cap as it is read | 413 | `body_too_large` |
//! | 8 | body not received within the deadline | 408 | `body_timeout` |
//! | 8 | body does not match the signed body hash | 401 | `body_hash_mismatch` |
//! | 9 | caller over its rate limit | 429 | `rate_limited` (+ `Retry-After`) |
//! | 10 | server busy and the caller out-ranked by stake | 503 | `busy` |
//!
//! 402 for "stake below threshold" reads as "the price of being served (stake) is not met";
//! it keeps it distinct from 403 "not registered at all". 425 Too Early is the status RFC 8470
//! defines for "might be a replay"; 409 Conflict for a nonce already used. Refusals are not
//! signed: signing them would let anyone make the miner spend signatures. A body is read
//! only after the headers passed every check up to the nonce, and the signature covers the
//! body's hash, so only a registered caller's fresh requests make a miner buffer a body (a
//! declared length over the cap is refused first). The nonce is recorded only once the
//! body matched its hash: a request whose body never arrives does not use up its nonce.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A refusal: which check failed, and a human-readable explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which check failed.
    pub kind: RefusalKind,
    /// Details for the caller's logs.
    pub message: String,
    /// When to retry, for rate-limit refusals (sent as `Retry-After`).
    pub retry_after: Option<Duration>,
}

/// The checks a request can fail, one per row of the module table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalKind {
    /// 413: the header block is larger than the server accepts.
    HeadersTooLarge,
    /// 413: the body is larger than the server accepts.
    BodyTooLarge,
    /// 405: only POST is served.
    MethodNotAllowed,
    /// 404: the route does not exist.
    UnknownRoute,
    /// 400: the wire headers are missing or malformed.
    BadHeaders,
    /// 403: the caller is not registered on the subnet.
    CallerNotRegistered,
    /// 402: the caller's stake is below the subnet's threshold.
    StakeBelowThreshold,
    /// 403: the caller holds no validator permit, and the server serves validators only.
    NoValidatorPermit,
    /// 421: the request names another callee.
    WrongCallee,
    /// 421: the request names another subnet.
    WrongNetuid,
    /// 408: the body did not arrive within the server's deadline.
    BodyTimeout,
    /// 401: the body does not hash to the signed body hash.
    BodyHashMismatch,
    /// 401: the signature does not verify.
    BadSignature,
    /// 425: the nonce is outside the time window of the server's clock.
    StaleNonce,
    /// 409: the nonce is not above the last one accepted for this caller and lane.
    ReplayedNonce,
    /// 429: the caller exceeded its rate limit.
    RateLimited,
    /// 503: the server is at capacity and the caller's stake did not win a slot.
    Busy,
}

impl RefusalKind {
    /// Every kind, for exhaustive tests.
    pub const ALL: [Self; 17] = [
        Self::HeadersTooLarge,
        Self::BodyTooLarge,
        Self::MethodNotAllowed,
        Self::UnknownRoute,
        Self::BadHeaders,
        Self::CallerNotRegistered,
        Self::StakeBelowThreshold,
        Self::NoValidatorPermit,
        Self::WrongCallee,
        Self::WrongNetuid,
        Self::BodyTimeout,
        Self::BodyHashMismatch,
        Self::BadSignature,
        Self::StaleNonce,
        Self::ReplayedNonce,
        Self::RateLimited,
        Self::Busy,
    ];

    /// The HTTP status code.
    pub const fn status(self) -> u16 {
        match self {
            Self::HeadersTooLarge | Self::BodyTooLarge => 413,
            Self::MethodNotAllowed => 405,
            Self::UnknownRoute => 404,
            Self::BadHeaders => 400,
            Self::CallerNotRegistered | Self::NoValidatorPermit => 403,
            Self::StakeBelowThreshold => 402,
            Self::WrongCallee | Self::WrongNetuid => 421,
            Self::BodyTimeout => 408,
            Self::BodyHashMismatch | Self::BadSignature => 401,
            Self::StaleNonce => 425,
            Self::ReplayedNonce => 409,
            Self::RateLimited => 429,
            Self::Busy => 503,
        }
    }

    /// The stable machine-readable `code` of the JSON body.
    pub const fn code(self) -> &'static str {
        match self {
            Self::HeadersTooLarge => "headers_too_large",
            Self::BodyTooLarge => "body_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnknownRoute => "unknown_route",
            Self::BadHeaders => "bad_headers",
            Self::CallerNotRegistered => "caller_not_registered",
            Self::StakeBelowThreshold => "stake_below_threshold",
            Self::NoValidatorPermit => "no_validator_permit",
            Self::WrongCallee => "wrong_callee",
            Self::WrongNetuid => "wrong_netuid",
            Self::BodyTimeout => "body_timeout",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::BadSignature => "bad_signature",
            Self::StaleNonce => "stale_nonce",
            Self::ReplayedNonce => "replayed_nonce",
            Self::RateLimited => "rate_limited",
            Self::Busy => "busy",
        }
    }

    /// The kind with this `code`, if any.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl Refusal {
    /// A refusal of `kind` explained by `message`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The JSON body sent with the refusal.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.kind.code().to_owned(),
            message: self.message.clone(),
        }
    }
}

/// The JSON body of every error answer: refusals and handler errors alike.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable reason (a [`RefusalKind::code`] or `handler_error`).
    pub code: String,
    /// Details for humans.
    pub message: String,
}

/// The `code` of an error a handler returned (signed, unlike refusals).
pub const HANDLER_ERROR_CODE: &str = "handler_error";

/// Most characters of a peer's error text a client keeps: enough to say what went wrong,
/// and no more, since callers keep it (in scores, logs, answers to their own users).
pub const MAX_PEER_TEXT_CHARS: usize = 240;

impl ErrorBody {
    /// The error a peer sent in `bytes`: its JSON error body, or else its text, each cut to
    /// [`MAX_PEER_TEXT_CHARS`].
    pub fn from_peer(bytes: &[u8]) -> Self {
        let sent = serde_json::from_slice(bytes).unwrap_or_else(|_| {
            // Never more than four bytes a character: the rest is not read.
            let start = &bytes[..bytes.len().min(4 * MAX_PEER_TEXT_CHARS)];
            ErrorBody {
                code: String::new(),
                message: String::from_utf8_lossy(start).into_owned(),
            }
        });
        ErrorBody {
            code: peer_text(sent.code),
            message: peer_text(sent.message),
        }
    }
}

/// `text`, cut to [`MAX_PEER_TEXT_CHARS`] characters (an ellipsis marks a cut).
pub(crate) fn peer_text(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(MAX_PEER_TEXT_CHARS) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_error_text_is_kept_short() {
        let long = "é".repeat(10_000);
        let json = serde_json::to_vec(&ErrorBody {
            code: "x".repeat(5_000),
            message: long.clone(),
        })
        .unwrap();
        let kept = ErrorBody::from_peer(&json);
        assert_eq!(kept.message.chars().count(), MAX_PEER_TEXT_CHARS + 1);
        assert!(kept.message.starts_with("éé") && kept.message.ends_with('…'));
        assert_eq!(kept.code.chars().count(), MAX_PEER_TEXT_CHARS + 1);
        // Not JSON: its text, read no further than it is kept.
        let junk = vec![0xff; 16 << 20];
        let kept = ErrorBody::from_peer(&junk);
        assert_eq!(kept.message.chars().count(), MAX_PEER_TEXT_CHARS + 1);
        assert!(kept.code.is_empty());
        let short = ErrorBody::from_peer(b"no such route");
        assert_eq!(short.message, "no such route");
    }
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let codes: HashSet<_> = RefusalKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), RefusalKind::ALL.len());
        for kind in RefusalKind::ALL {
            assert_eq!(RefusalKind::from_code(kind.code()), Some(kind));
            assert!((400..600).contains(&kind.status()));
        }
        assert_eq!(RefusalKind::from_code(HANDLER_ERROR_CODE), None);
    }

    #[test]
    fn the_refusals_the_issue_names_have_distinct_statuses() {
        let named = [
            RefusalKind::BodyTooLarge,
            RefusalKind::CallerNotRegistered,
            RefusalKind::StakeBelowThreshold,
            RefusalKind::WrongCallee,
            RefusalKind::BadSignature,
            RefusalKind::StaleNonce,
            RefusalKind::ReplayedNonce,
            RefusalKind::RateLimited,
            RefusalKind::Busy,
        ];
        let statuses: HashSet<_> = named.iter().map(|k| k.status()).collect();
        assert_eq!(statuses.len(), named.len());
    }
}
