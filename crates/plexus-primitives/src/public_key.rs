//! Decoded ed25519 public keys, for verifying many signatures from one account.
//!
//! An [`AccountId`] is 32 bytes; turning them into a curve point is a field square root,
//! a tenth of a verification's cost. A [`PublicKey`] pays it once, so a server that hears
//! from the same peers again and again (the wire, a block of transactions from one sender)
//! does not pay it per signature.
//!
//! # The rule set
//!
//! Verification accepts exactly what ed25519-dalek's `verify_strict` accepts: `s` must be
//! canonical (below the group order), the key must not be of small order, the signature's
//! `R` must not be of small order, and `[s]B - [k]A` must encode to exactly the bytes of `R`,
//! where `k = SHA-512(R || A || M)`. It does not decode `R` to check its order: when the
//! bytes match, `R` *is* the computed point (encodings are unique), so its order is checked
//! there, and that saves a second square root per verification. The tests hold this
//! against ed25519-dalek on random, tampered and hand-made small-order signatures.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

use crate::account::AccountId;
use crate::signature::{Domain, Signature, SignatureError};

/// An account's ed25519 key, decoded and checked: a point on the curve, not of small order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    account: AccountId,
    /// `-A`: the verification equation subtracts the key, so it is negated once here.
    minus_a: EdwardsPoint,
}

impl PublicKey {
    /// Decodes `account`; fails for bytes that are not a curve point, or are a point of
    /// small order (for which anyone can forge signatures).
    pub fn decode(account: &AccountId) -> Result<Self, SignatureError> {
        let point = CompressedEdwardsY(account.0)
            .decompress()
            .filter(|p| !p.is_small_order())
            .ok_or(SignatureError::InvalidPublicKey)?;
        Ok(Self {
            account: *account,
            minus_a: -point,
        })
    }

    /// The account this key belongs to.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// Checks that `signature` was made by this key over `payload` in `domain`, under the
    /// strict rules in the module docs.
    pub fn verify(
        &self,
        domain: &Domain,
        payload: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        let r: [u8; 32] = std::array::from_fn(|i| signature.0[i]);
        let s: [u8; 32] = std::array::from_fn(|i| signature.0[32 + i]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s))
            .ok_or(SignatureError::Invalid)?;

        let mut hash = Sha512::new();
        hash.update(r);
        hash.update(self.account.0);
        hash.update(domain.signing_header(payload.len()));
        hash.update(payload);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());

        let expected_r = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &self.minus_a, &s);
        // Byte equality first: it makes `r` the canonical encoding of `expected_r`, so the
        // small-order check on `expected_r` is the check on the signature's `R`.
        if expected_r.compress().0 != r || expected_r.is_small_order() {
            return Err(SignatureError::Invalid);
        }
        Ok(())
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;
    use crate::signature::{ChainId, Purpose};
    use curve25519_dalek::traits::IsIdentity;
    use ed25519_dalek::{SigningKey, Verifier, VerifyingKey};
    use proptest::prelude::*;

    fn domain() -> Domain {
        Domain::new(ChainId::new("plexus-test").unwrap(), Purpose::WireRequest)
    }

    /// What ed25519-dalek's strict verification says about the same inputs.
    fn dalek_strict(account: &AccountId, payload: &[u8], signature: &Signature) -> bool {
        VerifyingKey::from_bytes(&account.0).is_ok_and(|key| {
            key.verify_strict(
                &domain().signing_message(payload),
                &ed25519_dalek::Signature::from_bytes(&signature.0),
            )
            .is_ok()
        })
    }

    fn ours(account: &AccountId, payload: &[u8], signature: &Signature) -> bool {
        PublicKey::decode(account)
            .is_ok_and(|key| key.verify(&domain(), payload, signature).is_ok())
    }

    /// The challenge scalar `k = SHA-512(R || A || M)` for `payload` in the test domain.
    fn challenge(r: &[u8; 32], account: &AccountId, payload: &[u8]) -> Scalar {
        let mut hash = Sha512::new();
        hash.update(r);
        hash.update(account.0);
        hash.update(domain().signing_message(payload));
        Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
    }

    /// A signature with the given `R` bytes and `s = k*a`, so that `[s]B - [k]A` is the
    /// identity: the equation holds exactly when `r` is the identity's canonical encoding.
    fn identity_signature(seed: [u8; 32], payload: &[u8], r: [u8; 32]) -> Signature {
        let signing = SigningKey::from_bytes(&seed);
        let account = AccountId(signing.verifying_key().to_bytes());
        let s = challenge(&r, &account, payload) * signing.to_scalar();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(s.as_bytes());
        Signature(sig)
    }

    /// The point (0, -1), of order 2.
    fn order_two() -> EdwardsPoint {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xec;
        bytes[31] = 0x7f;
        let point = CompressedEdwardsY(bytes).decompress().unwrap();
        assert!(point.is_small_order() && !point.is_identity());
        point
    }

    #[test]
    fn accepts_its_own_signatures_and_refuses_others() {
        let keypair = Keypair::from_seed([7; 32]);
        let key = PublicKey::decode(&keypair.account_id()).unwrap();
        let sig = keypair.sign(&domain(), b"payload");
        assert_eq!(key.verify(&domain(), b"payload", &sig), Ok(()));
        assert_eq!(
            key.verify(&domain(), b"payloaD", &sig),
            Err(SignatureError::Invalid)
        );
        let other_domain = Domain::new(domain().chain_id, Purpose::WireResponse);
        assert_eq!(
            key.verify(&other_domain, b"payload", &sig),
            Err(SignatureError::Invalid)
        );
        let other = PublicKey::decode(&Keypair::from_seed([8; 32]).account_id()).unwrap();
        assert_eq!(
            other.verify(&domain(), b"payload", &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(key.account(), &keypair.account_id());
    }

    #[test]
    fn refuses_small_order_and_off_curve_keys() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey::decode(&AccountId(identity)),
            Err(SignatureError::InvalidPublicKey)
        );
        let off_curve = (2u8..=255)
            .map(|b| AccountId([b; 32]))
            .find(|a| CompressedEdwardsY(a.0).decompress().is_none())
            .unwrap();
        assert_eq!(
            PublicKey::decode(&off_curve),
            Err(SignatureError::InvalidPublicKey)
        );
    }

    #[test]
    fn refuses_a_small_order_r_that_a_lax_verifier_accepts() {
        let seed = [9; 32];
        let account = Keypair::from_seed(seed).account_id();
        let identity = EdwardsPoint::default().compress().0;
        let sig = identity_signature(seed, b"forged", identity);
        let dalek_key = VerifyingKey::from_bytes(&account.0).unwrap();
        let message = domain().signing_message(b"forged");
        let dalek_sig = ed25519_dalek::Signature::from_bytes(&sig.0);
        // The equation holds, so the lax (RFC 8032 without the order checks) rule accepts it.
        assert!(dalek_key.verify(&message, &dalek_sig).is_ok());
        assert!(dalek_key.verify_strict(&message, &dalek_sig).is_err());
        assert!(!ours(&account, b"forged", &sig));

        // The identity again, non-canonically encoded as y = 1 + p: refused by both.
        let mut one_plus_p = [0xff; 32];
        one_plus_p[0] = 0xee;
        one_plus_p[31] = 0x7f;
        let sig = identity_signature(seed, b"forged", one_plus_p);
        assert!(!dalek_strict(&account, b"forged", &sig));
        assert!(!ours(&account, b"forged", &sig));
    }

    #[test]
    fn agrees_with_dalek_on_a_key_with_a_small_order_part() {
        // A' = A + T with T of order 2: not of small order, so both accept the key. A
        // signature made with a verifies under A' exactly when [k]T vanishes (k even).
        let signing = SigningKey::from_bytes(&[5; 32]);
        let t = order_two();
        let account = AccountId((signing.verifying_key().to_edwards() + t).compress().0);
        assert!(account.is_signing_key());
        let mut outcomes = [0usize; 2];
        for i in 1u64..=16 {
            let nonce = Scalar::from(i * 7919);
            let r = EdwardsPoint::mul_base(&nonce).compress().0;
            let k = challenge(&r, &account, b"mixed");
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice((nonce + k * signing.to_scalar()).as_bytes());
            let sig = Signature(sig);
            let holds = (k * t).is_identity();
            assert_eq!(ours(&account, b"mixed", &sig), holds);
            assert_eq!(dalek_strict(&account, b"mixed", &sig), holds);
            outcomes[usize::from(holds)] += 1;
        }
        assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
    }

    #[test]
    fn refuses_non_canonical_s() {
        let keypair = Keypair::from_seed([3; 32]);
        let mut sig = keypair.sign(&domain(), b"x");
        // s + l is the same scalar but not its canonical encoding.
        let l = Scalar::ZERO - Scalar::ONE;
        let s = Scalar::from_canonical_bytes(sig.0[32..].try_into().unwrap()).unwrap();
        let mut wide = [0u8; 32];
        let mut carry = 0u16;
        for (i, (x, y)) in s.as_bytes().iter().zip(l.as_bytes()).enumerate() {
            // s + (l - 1) + 1, byte by byte.
            let sum = u16::from(*x) + u16::from(*y) + carry + u16::from(i == 0);
            wide[i] = sum as u8;
            carry = sum >> 8;
        }
        sig.0[32..].copy_from_slice(&wide);
        assert_eq!(carry, 0, "s + l fits in 256 bits");
        assert!(!dalek_strict(&keypair.account_id(), b"x", &sig));
        assert!(!ours(&keypair.account_id(), b"x", &sig));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Agrees with ed25519-dalek's strict verification on genuine signatures and on
        /// signatures with any one byte changed.
        #[test]
        fn agrees_with_dalek_strict(
            seed in any::<[u8; 32]>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            flip_at in 0usize..64,
            flip in any::<u8>(),
        ) {
            let keypair = Keypair::from_seed(seed);
            let account = keypair.account_id();
            let sig = keypair.sign(&domain(), &payload);
            prop_assert!(ours(&account, &payload, &sig));
            prop_assert!(dalek_strict(&account, &payload, &sig));
            let mut tampered = sig;
            tampered.0[flip_at] ^= flip;
            prop_assert_eq!(ours(&account, &payload, &tampered), dalek_strict(&account, &payload, &tampered));
        }

        /// Agrees on arbitrary keys and signatures, which are almost all invalid.
        #[test]
        fn agrees_with_dalek_strict_on_junk(key in any::<[u8; 32]>(), r in any::<[u8; 32]>(), s in any::<[u8; 32]>()) {
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r);
            sig[32..].copy_from_slice(&s);
            let (account, sig) = (AccountId(key), Signature(sig));
            prop_assert_eq!(ours(&account, b"m", &sig), dalek_strict(&account, b"m", &sig));
        }
    }
}
