//! The header codec: how a signed request and a signed response travel in HTTP headers.
//!
//! | header | value |
//! |---|---|
//! | `x-plexus-caller` | the caller's `plx1…` address |
//! | `x-plexus-callee` | the miner's `plx1…` address |
//! | `x-plexus-netuid` | subnet id, decimal |
//! | `x-plexus-nonce` | `u64` decimal (the caller's clock in Unix nanoseconds) |
//! | `x-plexus-lane` | `u16` decimal; optional, 0 when absent |
//! | `x-plexus-body-hash` | BLAKE3 of the body, 64 hex characters |
//! | `x-plexus-signature` | ed25519 signature, 128 hex characters |
//!
//! A response carries `x-plexus-body-hash` and `x-plexus-signature` over the
//! [`ResponseMessage`](crate::ResponseMessage). Parsing is strict: every header at most once,
//! decimals without signs or leading zeros, so each request has exactly one header form and
//! nothing a proxy might fold or reorder changes its meaning.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use plexus_primitives::{AccountId, ChainId, Hash, Keypair, NetUid, Signature};
use thiserror::Error;

use crate::message::RequestMessage;

/// Header carrying the caller's address.
pub const CALLER: &str = "x-plexus-caller";
/// Header carrying the callee's address.
pub const CALLEE: &str = "x-plexus-callee";
/// Header carrying the subnet id.
pub const NETUID: &str = "x-plexus-netuid";
/// Header carrying the nonce.
pub const NONCE: &str = "x-plexus-nonce";
/// Header carrying the lane.
pub const LANE: &str = "x-plexus-lane";
/// Header carrying the body hash (requests and responses).
pub const BODY_HASH: &str = "x-plexus-body-hash";
/// Header carrying the signature (requests and responses).
pub const SIGNATURE: &str = "x-plexus-signature";

/// Why headers do not form a valid signed request or response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A required header is absent.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// A header appears more than once.
    #[error("header {0} appears more than once")]
    Duplicate(&'static str),
    /// A header value is not visible ASCII.
    #[error("header {0} is not visible ASCII")]
    NotText(&'static str),
    /// A header value does not parse.
    #[error("header {name} is invalid: {reason}")]
    Invalid {
        /// The header.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The signed metadata of one request, as carried in its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeaders {
    /// The validator sending the request.
    pub caller: AccountId,
    /// The miner the request is meant for.
    pub callee: AccountId,
    /// The subnet.
    pub netuid: NetUid,
    /// The caller's nonce.
    pub nonce: u64,
    /// The caller's nonce lane.
    pub lane: u16,
    /// BLAKE3 of the body.
    pub body_hash: Hash,
    /// The caller's signature over the [`RequestMessage`].
    pub signature: Signature,
}

/// Everything a caller chooses for one request, before signing.
#[derive(Debug, Clone, Copy)]
pub struct RequestParams<'a> {
    /// The miner the request is meant for.
    pub callee: AccountId,
    /// The subnet.
    pub netuid: NetUid,
    /// The nonce.
    pub nonce: u64,
    /// The lane.
    pub lane: u16,
    /// The route called (not validated here; see [`crate::validate_route`]).
    pub route: &'a str,
}

impl RequestHeaders {
    /// Hashes `body` and signs a request for `params` with `keypair`.
    pub fn sign(
        keypair: &Keypair,
        chain_id: &ChainId,
        params: RequestParams<'_>,
        body: &[u8],
    ) -> Self {
        let caller = keypair.account_id();
        let body_hash = Hash::of(body);
        let message = RequestMessage {
            caller,
            callee: params.callee,
            netuid: params.netuid,
            nonce: params.nonce,
            lane: params.lane,
            route: params.route,
            body_hash,
        };
        Self {
            caller,
            callee: params.callee,
            netuid: params.netuid,
            nonce: params.nonce,
            lane: params.lane,
            body_hash,
            signature: message.sign(keypair, chain_id),
        }
    }

    /// The message these headers claim was signed, for `route`.
    pub fn message<'a>(&self, route: &'a str) -> RequestMessage<'a> {
        RequestMessage {
            caller: self.caller,
            callee: self.callee,
            netuid: self.netuid,
            nonce: self.nonce,
            lane: self.lane,
            route,
            body_hash: self.body_hash,
        }
    }

    /// Parses the request headers out of `headers`, ignoring every other header.
    pub fn parse(headers: &HeaderMap) -> Result<Self, HeaderError> {
        let lane = match optional(headers, LANE)? {
            Some(text) => parse_decimal(text, LANE)?,
            None => 0,
        };
        Ok(Self {
            caller: parse_text(required(headers, CALLER)?, CALLER)?,
            callee: parse_text(required(headers, CALLEE)?, CALLEE)?,
            netuid: NetUid(parse_decimal(required(headers, NETUID)?, NETUID)?),
            nonce: parse_decimal(required(headers, NONCE)?, NONCE)?,
            lane,
            body_hash: parse_text(required(headers, BODY_HASH)?, BODY_HASH)?,
            signature: parse_text(required(headers, SIGNATURE)?, SIGNATURE)?,
        })
    }

    /// The headers as name/value pairs, in a fixed order.
    pub fn to_pairs(&self) -> [(HeaderName, HeaderValue); 7] {
        [
            (name(CALLER), text_value(&self.caller)),
            (name(CALLEE), text_value(&self.callee)),
            (name(NETUID), text_value(&self.netuid.0)),
            (name(NONCE), text_value(&self.nonce)),
            (name(LANE), text_value(&self.lane)),
            (name(BODY_HASH), text_value(&self.body_hash)),
            (name(SIGNATURE), text_value(&self.signature)),
        ]
    }

    /// Writes the headers into `headers`, replacing any earlier values.
    pub fn write_to(&self, headers: &mut HeaderMap) {
        for (name, value) in self.to_pairs() {
            headers.insert(name, value);
        }
    }
}

/// The signed metadata of one (non-streaming) response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeaders {
    /// BLAKE3 of the response body.
    pub body_hash: Hash,
    /// The miner's signature over the [`ResponseMessage`](crate::ResponseMessage).
    pub signature: Signature,
}

impl ResponseHeaders {
    /// Parses the response headers; `Ok(None)` when the response carries no signature at all
    /// (a refusal), an error when it carries a partial or malformed one.
    pub fn parse(headers: &HeaderMap) -> Result<Option<Self>, HeaderError> {
        let Some(signature) = optional(headers, SIGNATURE)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            body_hash: parse_text(required(headers, BODY_HASH)?, BODY_HASH)?,
            signature: parse_text(signature, SIGNATURE)?,
        }))
    }

    /// Writes the headers into `headers`.
    pub fn write_to(&self, headers: &mut HeaderMap) {
        headers.insert(BODY_HASH, text_value(&self.body_hash));
        headers.insert(SIGNATURE, text_value(&self.signature));
    }
}

/// Total bytes of a header block as HTTP/1.1 sends it (`name: value\r\n` per header).
pub fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

fn name(text: &'static str) -> HeaderName {
    HeaderName::from_static(text)
}

fn text_value(value: &impl std::fmt::Display) -> HeaderValue {
    // Addresses, hex and decimals are visible ASCII, so this never falls back; the fallback
    // keeps the encoder total without a panic path.
    HeaderValue::from_str(&value.to_string()).unwrap_or(HeaderValue::from_static(""))
}

fn optional<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<Option<&'a str>, HeaderError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderError::Duplicate(name));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| HeaderError::NotText(name))
}

fn required<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, HeaderError> {
    optional(headers, name)?.ok_or(HeaderError::Missing(name))
}

fn parse_text<T>(text: &str, name: &'static str) -> Result<T, HeaderError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e: T::Err| HeaderError::Invalid {
        name,
        reason: e.to_string(),
    })
}

/// Parses a canonical unsigned decimal: digits only, no leading zero except `0` itself.
pub(crate) fn parse_decimal<T>(text: &str, name: &'static str) -> Result<T, HeaderError>
where
    T: std::str::FromStr,
{
    let invalid = |reason: &str| HeaderError::Invalid {
        name,
        reason: reason.to_owned(),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("expected decimal digits"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(invalid("leading zero"));
    }
    text.parse().map_err(|_| invalid("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signed(nonce: u64, lane: u16, netuid: u16) -> RequestHeaders {
        let keypair = Keypair::from_seed([7; 32]);
        let params = RequestParams {
            callee: Keypair::from_seed([8; 32]).account_id(),
            netuid: NetUid(netuid),
            nonce,
            lane,
            route: "AddInts",
        };
        RequestHeaders::sign(&keypair, &ChainId::new("t").unwrap(), params, b"{}")
    }

    #[test]
    fn strict_decimals() {
        assert_eq!(parse_decimal::<u64>("0", "n"), Ok(0));
        assert_eq!(
            parse_decimal::<u64>("18446744073709551615", "n"),
            Ok(u64::MAX)
        );
        for bad in [
            "",
            "+1",
            "-1",
            "01",
            " 1",
            "1 ",
            "18446744073709551616",
            "1e3",
        ] {
            assert!(parse_decimal::<u64>(bad, "n").is_err(), "{bad:?}");
        }
        assert!(parse_decimal::<u16>("65536", "n").is_err());
    }

    #[test]
    fn missing_duplicate_and_lane_default() {
        let mut map = HeaderMap::new();
        signed(1, 0, 1).write_to(&mut map);
        map.remove(LANE);
        assert_eq!(RequestHeaders::parse(&map).map(|h| h.lane), Ok(0));
        map.remove(NONCE);
        assert_eq!(
            RequestHeaders::parse(&map),
            Err(HeaderError::Missing("x-plexus-nonce"))
        );
        map.insert(NONCE, HeaderValue::from_static("5"));
        map.append(NONCE, HeaderValue::from_static("6"));
        assert_eq!(
            RequestHeaders::parse(&map),
            Err(HeaderError::Duplicate("x-plexus-nonce"))
        );
        map.insert(NONCE, HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(
            RequestHeaders::parse(&map),
            Err(HeaderError::NotText("x-plexus-nonce"))
        );
    }

    #[test]
    fn response_headers_optional_but_complete() {
        let mut map = HeaderMap::new();
        assert_eq!(ResponseHeaders::parse(&map), Ok(None));
        let resp = ResponseHeaders {
            body_hash: Hash::of(b"x"),
            signature: Signature([9; 64]),
        };
        resp.write_to(&mut map);
        assert_eq!(ResponseHeaders::parse(&map), Ok(Some(resp)));
        map.remove(BODY_HASH);
        assert_eq!(
            ResponseHeaders::parse(&map),
            Err(HeaderError::Missing("x-plexus-body-hash"))
        );
    }

    proptest! {
        #[test]
        fn request_headers_round_trip(nonce: u64, lane: u16, netuid: u16) {
            let headers = signed(nonce, lane, netuid);
            let mut map = HeaderMap::new();
            headers.write_to(&mut map);
            prop_assert_eq!(RequestHeaders::parse(&map), Ok(headers.clone()));
            prop_assert!(header_bytes(&map) < 512);
            let msg = headers.message("AddInts");
            prop_assert!(msg.verify(&ChainId::new("t").unwrap(), &headers.signature).is_ok());
        }

        #[test]
        fn arbitrary_values_never_panic(values in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..140), 7)) {
            let mut map = HeaderMap::new();
            for ((name, _), value) in signed(1, 1, 1).to_pairs().into_iter().zip(&values) {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    map.insert(name, value);
                }
            }
            if let Ok(parsed) = RequestHeaders::parse(&map) {
                let mut again = HeaderMap::new();
                parsed.write_to(&mut again);
                prop_assert_eq!(RequestHeaders::parse(&again), Ok(parsed));
            }
        }
    }
}
