//! Domain-separated ed25519 signatures.
//!
//! Every signature is bound to a [`Domain`]: the chain it belongs to and what it is for.
//! The bytes actually signed are
//!
//! ```text
//! b"plexus-sig-v1" || encode(chain_id) || encode(purpose) || u64_le(payload.len()) || payload
//! ```
//!
//! so a signature made for one chain or purpose never verifies for another, even over
//! identical payload bytes. The payload length is a `u64` so every length is representable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::account::AccountId;
use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hex::{self, HexError};
use crate::public_key::PublicKey;
use crate::serde_text;

/// The fixed prefix of every signed message; bump the version to change the scheme.
pub const SIGNING_PREFIX: &[u8] = b"plexus-sig-v1";

/// Longest chain id, in bytes.
pub const MAX_CHAIN_ID_LEN: usize = 32;

/// The name of a chain (e.g. `plexus-devnet`): 1 to 32 bytes of `[a-z0-9-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(String);

/// Why a string is not a valid chain id.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainIdError {
    /// Empty string.
    #[error("chain id must not be empty")]
    Empty,
    /// Longer than [`MAX_CHAIN_ID_LEN`].
    #[error("chain id is {len} bytes, at most 32 allowed")]
    TooLong {
        /// Length in bytes.
        len: usize,
    },
    /// A character outside `[a-z0-9-]`.
    #[error("chain id may only contain a-z, 0-9 and '-', found {0:?}")]
    InvalidChar(char),
}

impl ChainId {
    /// Validates and wraps a chain id.
    pub fn new(id: impl Into<String>) -> Result<Self, ChainIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(ChainIdError::Empty);
        }
        if let Some(c) = id
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(ChainIdError::InvalidChar(c));
        }
        if id.len() > MAX_CHAIN_ID_LEN {
            return Err(ChainIdError::TooLong { len: id.len() });
        }
        Ok(Self(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for ChainId {
    type Err = ChainIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl Serialize for ChainId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChainId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_text::deserialize_from_str(deserializer)
    }
}

impl Encode for ChainId {
    fn encode_to(&self, out: &mut Vec<u8>) {
        codec::encode_bytes(self.0.as_bytes(), out);
    }
}

impl Decode for ChainId {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        let bytes = codec::decode_bytes(reader, MAX_CHAIN_ID_LEN)?;
        let invalid = CodecError::InvalidValue {
            type_name: "ChainId",
            reason: "must be 1..=32 bytes of [a-z0-9-]",
        };
        let text = String::from_utf8(bytes).map_err(|_| invalid.clone())?;
        Self::new(text).map_err(|_| invalid)
    }
}

/// What a signature is for. Tags are part of the signed bytes: never renumber them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// A chain transaction.
    Transaction,
    /// A validator's request to a miner.
    WireRequest,
    /// A miner's response to a validator.
    WireResponse,
    /// A consensus block proposal.
    BlockProposal,
    /// A commitment to weights in commit-reveal.
    WeightsCommit,
}

impl Purpose {
    /// Every purpose, for exhaustive tests.
    pub const ALL: [Self; 5] = [
        Self::Transaction,
        Self::WireRequest,
        Self::WireResponse,
        Self::BlockProposal,
        Self::WeightsCommit,
    ];

    /// The stable wire tag.
    pub const fn tag(self) -> u8 {
        match self {
            Self::Transaction => 1,
            Self::WireRequest => 2,
            Self::WireResponse => 3,
            Self::BlockProposal => 4,
            Self::WeightsCommit => 5,
        }
    }

    /// The purpose with this tag, if any.
    pub fn from_tag(tag: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.tag() == tag)
    }
}

impl Encode for Purpose {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
    }
}

impl Decode for Purpose {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        let tag = reader.read_u8()?;
        Self::from_tag(tag).map_or_else(|| codec::unknown_tag("Purpose", tag), Ok)
    }
}

/// The context a signature is bound to: a chain and a purpose.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Domain {
    /// The chain the signature is valid on.
    pub chain_id: ChainId,
    /// What the signature authorises.
    pub purpose: Purpose,
}

impl Domain {
    /// A domain for `purpose` on `chain_id`.
    pub fn new(chain_id: ChainId, purpose: Purpose) -> Self {
        Self { chain_id, purpose }
    }

    /// The exact bytes that are signed for `payload` in this domain.
    pub fn signing_message(&self, payload: &[u8]) -> Vec<u8> {
        let mut msg = self.signing_header_with_room(payload.len(), payload.len());
        msg.extend_from_slice(payload);
        msg
    }

    /// The signed bytes before the payload, for verifiers that hash the message in parts
    /// rather than copy the payload behind it.
    pub(crate) fn signing_header(&self, payload_len: usize) -> Vec<u8> {
        self.signing_header_with_room(payload_len, 0)
    }

    fn signing_header_with_room(&self, payload_len: usize, room: usize) -> Vec<u8> {
        let mut msg = Vec::with_capacity(SIGNING_PREFIX.len() + 48 + room);
        msg.extend_from_slice(SIGNING_PREFIX);
        self.chain_id.encode_to(&mut msg);
        self.purpose.encode_to(&mut msg);
        (payload_len as u64).encode_to(&mut msg);
        msg
    }
}

/// An ed25519 signature; shown and serialized as 128 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

/// Why a signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// The account bytes are not an ed25519 public key that can sign: not a curve point,
    /// or a point of small order.
    #[error("account is not a valid ed25519 public key")]
    InvalidPublicKey,
    /// The signature does not match this key, domain and payload.
    #[error("signature verification failed")]
    Invalid,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        hex::write_hex(&self.0, f)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

impl FromStr for Signature {
    type Err = HexError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        hex::parse_hex(s).map(Self)
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_text::serialize_display(self, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde_text::deserialize_from_str(deserializer)
    }
}

impl Encode for Signature {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.0.encode_to(out);
    }
}

impl Decode for Signature {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self(reader.take_array()?))
    }
}

impl AccountId {
    /// Whether these bytes are an ed25519 public key that can sign: a point on
    /// the curve, and not one of small order (for which anyone can forge).
    pub fn is_signing_key(&self) -> bool {
        self.public_key().is_ok()
    }

    /// This account's key decoded for verification; see [`PublicKey`] to verify many
    /// signatures from one account without decoding it each time.
    pub fn public_key(&self) -> Result<PublicKey, SignatureError> {
        PublicKey::decode(self)
    }

    /// Checks that `signature` was made by this account over `payload` in `domain`.
    ///
    /// Uses ed25519 strict verification, which rejects small-order keys and
    /// non-canonical signature encodings, so a signature has one valid form.
    pub fn verify(
        &self,
        domain: &Domain,
        payload: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        self.public_key()?.verify(domain, payload, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::keys::Keypair;
    use proptest::prelude::*;

    fn chain(s: &str) -> ChainId {
        ChainId::new(s).unwrap()
    }

    fn domain(purpose: Purpose) -> Domain {
        Domain::new(chain("plexus-test"), purpose)
    }

    #[test]
    fn signing_keys_are_points_of_large_order() {
        assert!(Keypair::from_seed([3; 32]).account_id().is_signing_key());
        // The identity point (small order) and a y with no point on the curve.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(!AccountId(identity).is_signing_key());
        let off_curve = (2u8..=255)
            .map(|b| AccountId([b; 32]))
            .find(|a| ed25519_dalek::VerifyingKey::from_bytes(&a.0).is_err())
            .expect("some byte pattern is off the curve");
        assert!(!off_curve.is_signing_key());
    }

    #[test]
    fn chain_id_validation() {
        assert!(ChainId::new("plexus-devnet-1").is_ok());
        assert_eq!(ChainId::new(""), Err(ChainIdError::Empty));
        assert_eq!(
            ChainId::new("a".repeat(33)),
            Err(ChainIdError::TooLong { len: 33 })
        );
        assert_eq!(ChainId::new("Plexus"), Err(ChainIdError::InvalidChar('P')));
        assert_eq!(ChainId::new("a b"), Err(ChainIdError::InvalidChar(' ')));
        assert!(serde_json::from_str::<ChainId>("\"UPPER\"").is_err());
    }

    #[test]
    fn chain_id_codec_rejects_invalid_bytes() {
        let mut bytes = Vec::new();
        codec::encode_bytes(b"BAD", &mut bytes);
        assert!(matches!(
            decode_exact::<ChainId>(&bytes),
            Err(CodecError::InvalidValue {
                type_name: "ChainId",
                ..
            })
        ));
        let mut long = Vec::new();
        codec::encode_bytes(&[b'a'; 33], &mut long);
        assert_eq!(
            decode_exact::<ChainId>(&long),
            Err(CodecError::TooLong { len: 33, max: 32 })
        );
    }

    #[test]
    fn purpose_tags_are_stable_and_unknown_tags_rejected() {
        let tags: Vec<u8> = Purpose::ALL.iter().map(|p| p.tag()).collect();
        assert_eq!(tags, vec![1, 2, 3, 4, 5]);
        for p in Purpose::ALL {
            assert_eq!(decode_exact::<Purpose>(&p.encode()), Ok(p));
        }
        assert_eq!(
            decode_exact::<Purpose>(&[0]),
            Err(CodecError::UnknownTag {
                type_name: "Purpose",
                tag: 0
            })
        );
    }

    #[test]
    fn signing_message_layout() {
        let msg = domain(Purpose::WireRequest).signing_message(b"hi");
        let mut expected = b"plexus-sig-v1".to_vec();
        expected.extend_from_slice(&[11, 0, 0, 0]);
        expected.extend_from_slice(b"plexus-test");
        expected.push(2);
        expected.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(b"hi");
        assert_eq!(msg, expected);
    }

    #[test]
    fn signature_binds_domain_payload_and_key() {
        let key = Keypair::from_seed([1; 32]);
        let other = Keypair::from_seed([2; 32]);
        let d = domain(Purpose::Transaction);
        let sig = key.sign(&d, b"payload");
        let id = key.account_id();
        assert_eq!(id.verify(&d, b"payload", &sig), Ok(()));
        assert_eq!(
            id.verify(&domain(Purpose::BlockProposal), b"payload", &sig),
            Err(SignatureError::Invalid)
        );
        let other_chain = Domain::new(chain("plexus-main"), Purpose::Transaction);
        assert_eq!(
            id.verify(&other_chain, b"payload", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            id.verify(&d, b"payloae", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            other.account_id().verify(&d, b"payload", &sig),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn every_purpose_is_separated() {
        let key = Keypair::from_seed([3; 32]);
        for signed_for in Purpose::ALL {
            let sig = key.sign(&domain(signed_for), b"x");
            for checked in Purpose::ALL {
                let ok = key
                    .account_id()
                    .verify(&domain(checked), b"x", &sig)
                    .is_ok();
                assert_eq!(ok, signed_for == checked);
            }
        }
    }

    #[test]
    fn invalid_public_key_is_typed() {
        // y = 2 does not decompress to a curve point.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        let bogus = AccountId(bytes);
        assert_eq!(
            bogus.verify(&domain(Purpose::Transaction), b"x", &Signature([0; 64])),
            Err(SignatureError::InvalidPublicKey)
        );
    }

    #[test]
    fn signature_hex_serde() {
        let sig = Keypair::from_seed([4; 32]).sign(&domain(Purpose::WireResponse), b"y");
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(json.len(), 128 + 2);
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
        assert_eq!(sig.to_string().parse::<Signature>(), Ok(sig));
    }

    proptest! {
        #[test]
        fn chain_id_and_signature_round_trip(id in "[a-z0-9-]{1,32}", sig: [u8; 32]) {
            let id = ChainId::new(id).unwrap();
            prop_assert_eq!(decode_exact::<ChainId>(&id.encode()), Ok(id.clone()));
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&sig);
            let s = Signature(full);
            prop_assert_eq!(decode_exact::<Signature>(&s.encode()), Ok(s));
        }

        #[test]
        fn chain_id_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(id) = decode_exact::<ChainId>(&bytes) {
                prop_assert_eq!(id.encode(), bytes);
            }
        }
    }
}
