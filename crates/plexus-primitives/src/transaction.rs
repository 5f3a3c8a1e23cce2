//! Transactions: a [`Call`] with its signer, nonce and fee, and its signed form.

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::balance::Balance;
use crate::call::Call;
use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hash::Hash;
use crate::keys::Keypair;
use crate::signature::{ChainId, Domain, Purpose, Signature, SignatureError};

/// Largest encoded [`SignedTransaction`] accepted from the network, in bytes.
///
/// The field bounds already keep the largest valid transaction near 17 KiB; this is the
/// cheap check done before any parsing.
pub const MAX_TRANSACTION_SIZE: usize = 64 * 1024;

/// An unsigned transaction: what the signer authorises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The chain it is valid on (part of the signature domain too).
    pub chain_id: ChainId,
    /// The account that pays the fee and authorises the call.
    pub signer: AccountId,
    /// The signer's next nonce, for replay protection and ordering.
    pub nonce: u64,
    /// Fee paid to the block proposer.
    pub fee: Balance,
    /// The operation.
    pub call: Call,
}

/// A transaction with the signer's signature over its canonical encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    /// The signed transaction.
    pub tx: Transaction,
    /// Signature in the domain (`tx.chain_id`, [`Purpose::Transaction`]).
    pub signature: Signature,
}

impl Transaction {
    /// The signature domain of this transaction.
    pub fn domain(&self) -> Domain {
        Domain::new(self.chain_id.clone(), Purpose::Transaction)
    }

    /// Signs with `keypair`. The result only verifies if `keypair` is `self.signer`.
    pub fn sign(self, keypair: &Keypair) -> SignedTransaction {
        let signature = keypair.sign(&self.domain(), &self.encode());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

impl SignedTransaction {
    /// Checks the signature against `tx.signer`.
    pub fn verify(&self) -> Result<(), SignatureError> {
        self.tx
            .signer
            .verify(&self.tx.domain(), &self.tx.encode(), &self.signature)
    }

    /// The transaction's id: BLAKE3 of its full signed encoding.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// Decodes a transaction received from the network: size-checked first, then decoded
    /// exactly. Does not verify the signature.
    pub fn decode_network(bytes: &[u8]) -> Result<Self, CodecError> {
        if bytes.len() > MAX_TRANSACTION_SIZE {
            return Err(CodecError::MessageTooLarge {
                len: bytes.len(),
                max: MAX_TRANSACTION_SIZE,
            });
        }
        codec::decode_exact(bytes)
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.chain_id.encode_to(out);
        self.signer.encode_to(out);
        self.nonce.encode_to(out);
        self.fee.encode_to(out);
        self.call.encode_to(out);
    }
}

impl Decode for Transaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            chain_id: Decode::decode(reader)?,
            signer: Decode::decode(reader)?,
            nonce: Decode::decode(reader)?,
            fee: Decode::decode(reader)?,
            call: Decode::decode(reader)?,
        })
    }
}

impl Encode for SignedTransaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.tx.encode_to(out);
        self.signature.encode_to(out);
    }
}

impl Decode for SignedTransaction {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Self {
            tx: Decode::decode(reader)?,
            signature: Decode::decode(reader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{MAX_SALT_LEN, MAX_WEIGHTS};
    use crate::codec::decode_exact;
    use crate::ids::NetUid;
    use crate::testgen::{self, Arb};
    use proptest::prelude::*;

    fn transfer(signer: &Keypair, nonce: u64) -> Transaction {
        Transaction {
            chain_id: ChainId::new("plexus-test").unwrap(),
            signer: signer.account_id(),
            nonce,
            fee: Balance::from_rao(1_000),
            call: Call::Transfer {
                to: AccountId([9; 32]),
                amount: Balance::UNIT,
            },
        }
    }

    #[test]
    fn signed_transaction_verifies_and_detects_tampering() {
        let key = Keypair::from_seed([5; 32]);
        let signed = transfer(&key, 0).sign(&key);
        assert_eq!(signed.verify(), Ok(()));

        let mut tampered = signed.clone();
        tampered.tx.nonce = 1;
        assert_eq!(tampered.verify(), Err(SignatureError::Invalid));

        let mut other_chain = signed.clone();
        other_chain.tx.chain_id = ChainId::new("plexus-main").unwrap();
        assert_eq!(other_chain.verify(), Err(SignatureError::Invalid));

        let wrong_key = Keypair::from_seed([6; 32]);
        let forged = transfer(&key, 0).sign(&wrong_key);
        assert_eq!(forged.verify(), Err(SignatureError::Invalid));
    }

    #[test]
    fn hash_changes_with_content() {
        let key = Keypair::from_seed([5; 32]);
        let a = transfer(&key, 0).sign(&key);
        let b = transfer(&key, 1).sign(&key);
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), Hash::of(&a.encode()));
    }

    #[test]
    fn decode_network_enforces_size_and_exactness() {
        let key = Keypair::from_seed([5; 32]);
        let signed = transfer(&key, 0).sign(&key);
        let mut bytes = signed.encode();
        assert_eq!(SignedTransaction::decode_network(&bytes), Ok(signed));
        bytes.push(0);
        assert_eq!(
            SignedTransaction::decode_network(&bytes),
            Err(CodecError::TrailingBytes { remaining: 1 })
        );
        let huge = vec![0u8; MAX_TRANSACTION_SIZE + 1];
        assert_eq!(
            SignedTransaction::decode_network(&huge),
            Err(CodecError::MessageTooLarge {
                len: MAX_TRANSACTION_SIZE + 1,
                max: MAX_TRANSACTION_SIZE
            })
        );
    }

    #[test]
    fn largest_valid_transaction_fits_the_network_limit() {
        let key = Keypair::from_seed([5; 32]);
        let mut tx = transfer(&key, 0);
        tx.chain_id = ChainId::new("a".repeat(32)).unwrap();
        tx.call = Call::RevealWeights {
            netuid: NetUid(1),
            uids: vec![u16::MAX; MAX_WEIGHTS],
            weights: vec![u16::MAX; MAX_WEIGHTS],
            salt: vec![0xff; MAX_SALT_LEN],
            version_key: u64::MAX,
        };
        let signed = tx.sign(&key);
        let bytes = signed.encode();
        assert!(bytes.len() < MAX_TRANSACTION_SIZE, "{}", bytes.len());
        assert_eq!(SignedTransaction::decode_network(&bytes), Ok(signed));
    }

    #[test]
    fn oversize_weights_rejected_with_typed_error() {
        let key = Keypair::from_seed([5; 32]);
        let mut tx = transfer(&key, 0);
        tx.call = Call::SetWeights {
            netuid: NetUid(1),
            uids: vec![0; MAX_WEIGHTS + 1],
            weights: vec![],
            version_key: 0,
        };
        let bytes = tx.sign(&key).encode();
        assert_eq!(
            SignedTransaction::decode_network(&bytes),
            Err(CodecError::TooLong {
                len: MAX_WEIGHTS as u64 + 1,
                max: MAX_WEIGHTS as u64
            })
        );
    }

    #[test]
    fn json_round_trip() {
        let key = Keypair::from_seed([5; 32]);
        let signed = transfer(&key, 3).sign(&key);
        let json = serde_json::to_string(&signed).unwrap();
        assert!(json.contains(&key.account_id().to_string()));
        assert_eq!(
            serde_json::from_str::<SignedTransaction>(&json).unwrap(),
            signed
        );
    }

    proptest! {
        #[test]
        fn unsigned_round_trips(tx in Transaction::arb()) {
            prop_assert_eq!(decode_exact::<Transaction>(&tx.encode()), Ok(tx));
        }

        #[test]
        fn round_trips(stx in SignedTransaction::arb()) {
            let bytes = stx.encode();
            prop_assert_eq!(decode_exact::<SignedTransaction>(&bytes), Ok(stx.clone()));
            prop_assert_eq!(SignedTransaction::decode_network(&bytes), Ok(stx));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(stx) = SignedTransaction::decode_network(&bytes) {
                prop_assert_eq!(stx.encode(), bytes);
            }
        }

        #[test]
        fn mutated_encodings_never_panic_and_reencode(
            stx in SignedTransaction::arb(),
            edits in testgen::edits(),
        ) {
            let bytes = testgen::mutate(stx.encode(), &edits);
            if let Ok(back) = SignedTransaction::decode_network(&bytes) {
                prop_assert_eq!(back.encode(), bytes);
            }
        }
    }
}
