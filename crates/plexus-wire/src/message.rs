//! The exact messages a caller and a miner sign.
//!
//! Both are encoded with the canonical codec of `plexus-primitives` and signed in a
//! [`Domain`] of the chain with [`Purpose::WireRequest`] or [`Purpose::WireResponse`], so a
//! request signature can never be replayed as a response signature, as a transaction, or on
//! another chain.
//!
//! ```text
//! request  = caller || callee || netuid(u16) || nonce(u64) || lane(u16) || route || body_hash
//! response = callee || caller || netuid(u16) || nonce(u64) || lane(u16) || route
//!            || request_body_hash || status(u16) || body_hash
//! ```
//!
//! `route` is length-prefixed (`u32` length, then bytes); integers are little-endian. The
//! response also binds the request's body hash and the HTTP status, so a validator holding a
//! response proof can show which question the miner answered and whether it answered with an
//! error; a proof for one request can never be presented as the answer to another.

use plexus_primitives::codec::{self, Encode};
use plexus_primitives::{
    AccountId, ChainId, Domain, Hash, Keypair, NetUid, PublicKey, Purpose, Signature,
    SignatureError,
};
use thiserror::Error;

/// Longest route name, in bytes.
pub const MAX_ROUTE_LEN: usize = 64;

/// Why a string is not a valid route name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    /// The empty string.
    #[error("route must not be empty")]
    Empty,
    /// Longer than [`MAX_ROUTE_LEN`].
    #[error("route is {len} bytes, at most {MAX_ROUTE_LEN} allowed")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// A character outside `[A-Za-z0-9._-]`.
    #[error("route may only contain A-Z, a-z, 0-9, '.', '_' and '-', found {0:?}")]
    InvalidChar(char),
}

/// Checks that `route` is one path segment of `[A-Za-z0-9._-]`, 1 to 64 bytes long.
///
/// Routes are restricted so that the path a server sees is exactly the route that was
/// signed: no percent-encoding, no slashes, nothing a proxy could normalise differently.
pub fn validate_route(route: &str) -> Result<(), RouteError> {
    if route.is_empty() {
        return Err(RouteError::Empty);
    }
    if let Some(c) = route
        .chars()
        .find(|c| !matches!(c, 'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-'))
    {
        return Err(RouteError::InvalidChar(c));
    }
    if route.len() > MAX_ROUTE_LEN {
        return Err(RouteError::TooLong { len: route.len() });
    }
    Ok(())
}

/// The fields of a request that the caller signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMessage<'a> {
    /// The validator sending the request.
    pub caller: AccountId,
    /// The miner the request is meant for.
    pub callee: AccountId,
    /// The subnet both are on.
    pub netuid: NetUid,
    /// Strictly increasing per caller and lane; the caller's clock in nanoseconds.
    pub nonce: u64,
    /// The caller's independent nonce sequence this request belongs to.
    pub lane: u16,
    /// The route (path segment) called.
    pub route: &'a str,
    /// BLAKE3 of the request body.
    pub body_hash: Hash,
}

impl Encode for RequestMessage<'_> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.caller.encode_to(out);
        self.callee.encode_to(out);
        self.netuid.encode_to(out);
        self.nonce.encode_to(out);
        self.lane.encode_to(out);
        codec::encode_bytes(self.route.as_bytes(), out);
        self.body_hash.encode_to(out);
    }
}

impl RequestMessage<'_> {
    /// Signs the message with the caller's key on `chain_id`.
    pub fn sign(&self, keypair: &Keypair, chain_id: &ChainId) -> Signature {
        keypair.sign(&request_domain(chain_id), &self.encode())
    }

    /// Checks that `signature` is the caller's over this message on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId, signature: &Signature) -> Result<(), SignatureError> {
        self.caller
            .verify(&request_domain(chain_id), &self.encode(), signature)
    }

    /// Like [`Self::verify`] with the caller's key already decoded and a prebuilt domain,
    /// for servers that verify in a hot loop. Fails when `caller` is not this message's caller.
    pub fn verify_by(
        &self,
        caller: &PublicKey,
        domain: &Domain,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        verify_by(caller, &self.caller, domain, &self.encode(), signature)
    }
}

/// The fields of a response that the miner signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseMessage<'a> {
    /// The miner that answered.
    pub callee: AccountId,
    /// The validator that asked.
    pub caller: AccountId,
    /// The subnet.
    pub netuid: NetUid,
    /// The nonce of the request answered.
    pub nonce: u64,
    /// The lane of the request answered.
    pub lane: u16,
    /// The route called.
    pub route: &'a str,
    /// BLAKE3 of the request body answered.
    pub request_body_hash: Hash,
    /// The HTTP status of the answer (200, or the handler's error status).
    pub status: u16,
    /// BLAKE3 of the response body; for a stream, the stream hash (see [`crate::sse`]).
    pub body_hash: Hash,
}

impl Encode for ResponseMessage<'_> {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.callee.encode_to(out);
        self.caller.encode_to(out);
        self.netuid.encode_to(out);
        self.nonce.encode_to(out);
        self.lane.encode_to(out);
        codec::encode_bytes(self.route.as_bytes(), out);
        self.request_body_hash.encode_to(out);
        self.status.encode_to(out);
        self.body_hash.encode_to(out);
    }
}

impl ResponseMessage<'_> {
    /// Signs the message with the miner's key on `chain_id`.
    pub fn sign(&self, keypair: &Keypair, chain_id: &ChainId) -> Signature {
        keypair.sign(&response_domain(chain_id), &self.encode())
    }

    /// Like [`Self::sign`] with a prebuilt domain.
    pub fn sign_in(&self, keypair: &Keypair, domain: &Domain) -> Signature {
        keypair.sign(domain, &self.encode())
    }

    /// Checks that `signature` is the callee's over this message on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId, signature: &Signature) -> Result<(), SignatureError> {
        self.callee
            .verify(&response_domain(chain_id), &self.encode(), signature)
    }

    /// Like [`Self::verify`] with the callee's key already decoded and a prebuilt domain.
    /// Fails when `callee` is not this message's callee.
    pub fn verify_by(
        &self,
        callee: &PublicKey,
        domain: &Domain,
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        verify_by(callee, &self.callee, domain, &self.encode(), signature)
    }
}

/// Verifies with a decoded key that must be `signer`'s: a key for another account is refused
/// as a bad signature, never checked in its place.
fn verify_by(
    key: &PublicKey,
    signer: &AccountId,
    domain: &Domain,
    payload: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    if key.account() != signer {
        return Err(SignatureError::Invalid);
    }
    key.verify(domain, payload, signature)
}

/// The domain request signatures live in.
pub fn request_domain(chain_id: &ChainId) -> Domain {
    Domain::new(chain_id.clone(), Purpose::WireRequest)
}

/// The domain response signatures live in.
pub fn response_domain(chain_id: &ChainId) -> Domain {
    Domain::new(chain_id.clone(), Purpose::WireResponse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("plexus-test").unwrap()
    }

    fn request(caller: &Keypair, callee: &Keypair) -> RequestMessage<'static> {
        RequestMessage {
            caller: caller.account_id(),
            callee: callee.account_id(),
            netuid: NetUid(3),
            nonce: 42,
            lane: 1,
            route: "AddInts",
            body_hash: Hash::of(b"{}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(validate_route("chat.completions_v1-x"), Ok(()));
        assert_eq!(validate_route(""), Err(RouteError::Empty));
        assert_eq!(validate_route("a/b"), Err(RouteError::InvalidChar('/')));
        assert_eq!(validate_route("a%2f"), Err(RouteError::InvalidChar('%')));
        assert_eq!(
            validate_route(&"a".repeat(65)),
            Err(RouteError::TooLong { len: 65 })
        );
    }

    #[test]
    fn request_signature_binds_every_field() {
        let (caller, callee) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let msg = request(&caller, &callee);
        let sig = msg.sign(&caller, &chain());
        assert_eq!(msg.verify(&chain(), &sig), Ok(()));
        let other_chain = ChainId::new("plexus-main").unwrap();
        assert!(msg.verify(&other_chain, &sig).is_err());
        let variants = [
            RequestMessage {
                callee: caller.account_id(),
                ..msg.clone()
            },
            RequestMessage {
                netuid: NetUid(4),
                ..msg.clone()
            },
            RequestMessage {
                nonce: 43,
                ..msg.clone()
            },
            RequestMessage {
                lane: 2,
                ..msg.clone()
            },
            RequestMessage {
                route: "AddInt",
                ..msg.clone()
            },
            RequestMessage {
                body_hash: Hash::of(b"{ }"),
                ..msg.clone()
            },
        ];
        for v in variants {
            assert_eq!(v.verify(&chain(), &sig), Err(SignatureError::Invalid));
        }
    }

    #[test]
    fn a_decoded_key_verifies_only_for_its_own_account() {
        let (caller, callee) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let domain = request_domain(&chain());
        let msg = request(&caller, &callee);
        let sig = msg.sign(&caller, &chain());
        let caller_key = caller.account_id().public_key().unwrap();
        assert_eq!(msg.verify_by(&caller_key, &domain, &sig), Ok(()));
        let callee_key = callee.account_id().public_key().unwrap();
        assert_eq!(
            msg.verify_by(&callee_key, &domain, &sig),
            Err(SignatureError::Invalid)
        );
        // The callee's key cannot stand in for the caller's even over the callee's own
        // signature of the same bytes.
        let by_callee = callee.sign(&domain, &msg.encode());
        assert_eq!(
            msg.verify_by(&callee_key, &domain, &by_callee),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn response_signature_is_not_a_request_signature() {
        let (caller, callee) = (Keypair::from_seed([1; 32]), Keypair::from_seed([2; 32]));
        let req = request(&caller, &callee);
        let resp = ResponseMessage {
            callee: callee.account_id(),
            caller: caller.account_id(),
            netuid: req.netuid,
            nonce: req.nonce,
            lane: req.lane,
            route: req.route,
            request_body_hash: req.body_hash,
            status: 200,
            body_hash: Hash::of(b"{\"sum\":3}"),
        };
        let sig = resp.sign(&callee, &chain());
        assert_eq!(resp.verify(&chain(), &sig), Ok(()));
        let tampered = ResponseMessage {
            status: 500,
            ..resp.clone()
        };
        assert!(tampered.verify(&chain(), &sig).is_err());
        // The same key signing the same bytes as a request would not verify as a response.
        let as_request = callee.sign(&request_domain(&chain()), &resp.encode());
        assert!(resp.verify(&chain(), &as_request).is_err());
    }
}
