//! Secret keys: ed25519 keypairs and the BIP39 mnemonics they can be derived from.
//!
//! # Key derivation from a mnemonic
//!
//! 1. BIP39: `seed = PBKDF2-HMAC-SHA512(mnemonic, "mnemonic" || passphrase, 2048)`, 64 bytes
//!    (the standard BIP39 seed, so any BIP39 tool computes the same bytes).
//! 2. `secret = blake3::derive_key("plexus ed25519 key from bip39 seed v1", seed)`, 32 bytes.
//! 3. `secret` is the ed25519 secret key (RFC 8032 seed).
//!
//! There is no hierarchy: one mnemonic and passphrase give one key. Step 2 is a
//! Plexus-specific KDF context so that the same mnemonic used with another chain's wallet
//! never yields the same key. Every intermediate secret is zeroized after use.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::Ed25519KeyPair;
use ed25519_dalek::{Signer, SigningKey};
use rand::{CryptoRng, RngCore};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::account::AccountId;
use crate::signature::{Domain, Signature};

/// The BLAKE3 key-derivation context that turns a BIP39 seed into an ed25519 secret.
pub const MNEMONIC_KDF_CONTEXT: &str = "plexus ed25519 key from bip39 seed v1";

/// An ed25519 keypair. The secret is zeroized on drop and never printed by `Debug`.
#[derive(Clone)]
pub struct Keypair {
    // SigningKey zeroizes itself on drop (ed25519-dalek's `zeroize` feature).
    signing: SigningKey,
    /// The same key held by aws-lc, which signs in about half the time: its fixed-base
    /// multiplication is assembly (s2n-bignum). RFC 8032 signatures are deterministic, so
    /// both give the same bytes; aws-lc wipes the key when it frees it. `None` only if
    /// aws-lc could not take the key, and then ed25519-dalek signs.
    fast: Option<Ed25519KeyPair>,
}

impl Keypair {
    /// A fresh random keypair from a cryptographic RNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(*seed)
    }

    /// The keypair whose ed25519 secret key (RFC 8032 seed) is `seed`.
    pub fn from_seed(mut seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let fast = Ed25519KeyPair::from_seed_unchecked(&seed).ok();
        seed.zeroize();
        Self { signing, fast }
    }

    /// Derives the keypair for `mnemonic` and `passphrase` (see the module docs).
    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Self {
        let seed = Zeroizing::new(mnemonic.0.to_seed(passphrase));
        let secret = Zeroizing::new(blake3::derive_key(MNEMONIC_KDF_CONTEXT, seed.as_ref()));
        Self::from_seed(*secret)
    }

    /// The 32-byte secret seed, for writing to an encrypted keyfile.
    pub fn secret_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public account of this keypair.
    pub fn account_id(&self) -> AccountId {
        AccountId(self.signing.verifying_key().to_bytes())
    }

    /// Signs `payload` bound to `domain`.
    pub fn sign(&self, domain: &Domain, payload: &[u8]) -> Signature {
        let message = domain.signing_message(payload);
        let fast = self.fast.as_ref().and_then(|key| {
            let signature = key.try_sign(&message).ok()?;
            <[u8; 64]>::try_from(signature.as_ref()).ok()
        });
        Signature(fast.unwrap_or_else(|| self.signing.sign(&message).to_bytes()))
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keypair")
            .field("account", &self.account_id())
            .finish_non_exhaustive()
    }
}

/// How many words a generated mnemonic has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordCount {
    /// 12 words, 128 bits of entropy.
    Twelve,
    /// 24 words, 256 bits of entropy.
    TwentyFour,
}

impl WordCount {
    fn entropy_bytes(self) -> usize {
        match self {
            Self::Twelve => 16,
            Self::TwentyFour => 32,
        }
    }
}

/// A BIP39 English mnemonic phrase. Zeroized on drop; `Debug` does not print the words.
#[derive(Clone, PartialEq, Eq)]
pub struct Mnemonic(bip39::Mnemonic);

/// Why a phrase is not a valid mnemonic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MnemonicError {
    /// BIP39 allows 12, 15, 18, 21 or 24 words.
    #[error("a mnemonic has 12, 15, 18, 21 or 24 words, not {0}")]
    BadWordCount(usize),
    /// A word outside the BIP39 English list (index counted from 0).
    #[error("word {index} is not in the BIP39 English word list")]
    UnknownWord {
        /// Position of the word.
        index: usize,
    },
    /// The words are valid but their checksum is not (a wrong or swapped word).
    #[error("mnemonic checksum is invalid (a wrong or misordered word?)")]
    InvalidChecksum,
    /// Any other rejection by the BIP39 parser.
    #[error("invalid mnemonic: {0}")]
    Other(String),
}

impl Mnemonic {
    /// A fresh mnemonic with `words` words from a cryptographic RNG.
    ///
    /// Fails only if the BIP39 library rejects 16 or 32 bytes of entropy, which it does not;
    /// the `Result` keeps that promise checked rather than assumed.
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        words: WordCount,
    ) -> Result<Self, MnemonicError> {
        let mut entropy = Zeroizing::new([0u8; 32]);
        let entropy = &mut entropy[..words.entropy_bytes()];
        rng.fill_bytes(entropy);
        bip39::Mnemonic::from_entropy(entropy)
            .map(Self)
            .map_err(|e| MnemonicError::Other(e.to_string()))
    }

    /// Parses a phrase; words are separated by whitespace and matched case-sensitively in
    /// the English list after Unicode normalisation.
    pub fn parse(phrase: &str) -> Result<Self, MnemonicError> {
        bip39::Mnemonic::parse_in(bip39::Language::English, phrase)
            .map(Self)
            .map_err(|e| match e {
                bip39::Error::BadWordCount(n) => MnemonicError::BadWordCount(n),
                bip39::Error::UnknownWord(index) => MnemonicError::UnknownWord { index },
                bip39::Error::InvalidChecksum => MnemonicError::InvalidChecksum,
                other => MnemonicError::Other(other.to_string()),
            })
    }

    /// The phrase, words separated by single spaces. Handle with care: it is the secret.
    pub fn phrase(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string())
    }

    /// Number of words.
    pub fn word_count(&self) -> usize {
        self.0.word_count()
    }
}

impl FromStr for Mnemonic {
    type Err = MnemonicError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Debug for Mnemonic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mnemonic({} words, redacted)", self.word_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{ChainId, Purpose};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// The BIP39 reference mnemonic (all-zero entropy).
    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
                          abandon abandon abandon about";

    #[test]
    fn fixed_mnemonic_gives_fixed_address() {
        // Regression values, cross-checked once against independent Python code
        // (hashlib PBKDF2 + the blake3 package + `cryptography` ed25519 + a BIP350 encoder).
        let m = Mnemonic::parse(PHRASE).unwrap();
        // The standard BIP39 seed for this phrase (BIP39 test vectors), so step 1 is BIP39.
        assert_eq!(
            &m.0.to_seed("")[..8],
            &[0x5e, 0xb0, 0x0b, 0xbd, 0xdc, 0xf0, 0x69, 0x08]
        );
        let key = Keypair::from_mnemonic(&m, "");
        assert_eq!(
            key.account_id().to_string(),
            "plx1xvgtdfncgsv6vuhh2ky4pqvlwervvkkj507phj3gvl007lsmtqpskrk60y"
        );
        let with_pass = Keypair::from_mnemonic(&m, "TREZOR");
        assert_eq!(
            with_pass.account_id().to_string(),
            "plx1hz7l8uvddsgxnkduz342cjptd43c0srggzh5v6ru5wsuxnvj40jsegvxqn"
        );
        assert_ne!(key.account_id(), with_pass.account_id());
    }

    #[test]
    fn zero_seed_matches_rfc8032_public_key() {
        let key = Keypair::from_seed([0; 32]);
        assert_eq!(
            key.account_id().to_string(),
            "plx18d4z00xwk6jz6c4r4rgz5mcdwdjny9thrh3y8f36cpy2rz6emg5sgajyvf"
        );
        assert_eq!(key.account_id().0[..4], [0x3b, 0x6a, 0x27, 0xbc]);
    }

    #[test]
    fn generate_is_rng_driven() {
        let a = Keypair::generate(&mut StdRng::seed_from_u64(1));
        let b = Keypair::generate(&mut StdRng::seed_from_u64(1));
        let c = Keypair::generate(&mut StdRng::seed_from_u64(2));
        assert_eq!(a.account_id(), b.account_id());
        assert_ne!(a.account_id(), c.account_id());
        let restored = Keypair::from_seed(*a.secret_seed());
        assert_eq!(restored.account_id(), a.account_id());
    }

    #[test]
    fn generated_mnemonics_parse_back() {
        let mut rng = StdRng::seed_from_u64(7);
        for (count, words) in [(WordCount::Twelve, 12), (WordCount::TwentyFour, 24)] {
            let m = Mnemonic::generate(&mut rng, count).unwrap();
            assert_eq!(m.word_count(), words);
            let back: Mnemonic = m.phrase().parse().unwrap();
            assert_eq!(back, m);
            assert_eq!(
                Keypair::from_mnemonic(&back, "x").account_id(),
                Keypair::from_mnemonic(&m, "x").account_id()
            );
        }
    }

    #[test]
    fn bad_mnemonics_have_typed_errors() {
        assert_eq!(
            Mnemonic::parse("abandon abandon abandon"),
            Err(MnemonicError::BadWordCount(3))
        );
        let unknown = PHRASE.replacen("abandon", "plexus", 1);
        assert_eq!(
            Mnemonic::parse(&unknown),
            Err(MnemonicError::UnknownWord { index: 0 })
        );
        let bad_checksum = PHRASE.replace("about", "abandon");
        assert_eq!(
            Mnemonic::parse(&bad_checksum),
            Err(MnemonicError::InvalidChecksum)
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let m = Mnemonic::parse(PHRASE).unwrap();
        let shown = format!("{m:?}");
        assert!(!shown.contains("abandon"), "{shown}");
        let key = Keypair::from_mnemonic(&m, "");
        let shown = format!("{key:?}");
        assert!(shown.contains("plx1"), "{shown}");
        let secret_hex: String = key
            .secret_seed()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&secret_hex[..16]));
    }

    proptest::proptest! {
        /// aws-lc signs; ed25519-dalek is the reference the signature must match byte for
        /// byte, and is what signs when aws-lc is not holding the key.
        #[test]
        fn aws_lc_signs_exactly_as_dalek(
            seed in proptest::prelude::any::<[u8; 32]>(),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            let key = Keypair::from_seed(seed);
            proptest::prop_assert!(key.fast.is_some());
            let domain = crate::Domain::new(ChainId::new("c").unwrap(), Purpose::WireRequest);
            let reference = SigningKey::from_bytes(&seed).sign(&domain.signing_message(&payload));
            let signature = key.sign(&domain, &payload);
            proptest::prop_assert_eq!(signature.0, reference.to_bytes());
            let dalek_only = Keypair { fast: None, ..key.clone() };
            proptest::prop_assert_eq!(dalek_only.sign(&domain, &payload), signature);
            proptest::prop_assert_eq!(
                key.account_id().verify(&domain, &payload, &signature),
                Ok(())
            );
        }
    }

    #[test]
    fn signatures_are_deterministic() {
        let key = Keypair::from_seed([8; 32]);
        let domain = crate::Domain::new(ChainId::new("c").unwrap(), Purpose::WeightsCommit);
        assert_eq!(key.sign(&domain, b"m"), key.sign(&domain, b"m"));
    }
}
