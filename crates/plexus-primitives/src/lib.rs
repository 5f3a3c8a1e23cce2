//! Plexus ids, balances, keys, domain-separated signatures, transactions, blocks and the canonical codec.
//!
//! Everything the chain hashes, signs or sends is encoded with the one canonical codec in
//! [`codec`]: each value has exactly one byte string, so hashes and signatures are stable.
//!
//! - ids: [`NetUid`], [`Uid`], [`BlockHeight`], [`Hash`](struct@Hash);
//! - money: [`Balance`] (9 decimals, checked arithmetic);
//! - keys: [`AccountId`] (`plx1…` bech32m addresses), [`Keypair`], [`Mnemonic`];
//! - signatures bound to a [`Domain`] (chain id + [`Purpose`]);
//! - chain data: [`Call`], [`Work`], [`Transaction`], [`SignedTransaction`], [`BlockHeader`], [`Block`].

mod account;
mod axon;
mod balance;
mod block;
mod call;
pub mod codec;
#[cfg(test)]
mod fuzz_seeds;
mod hash;
mod hex;
mod hyperparameter;
mod ids;
mod keys;
mod merkle;
mod public_key;
mod serde_text;
mod signature;
#[cfg(test)]
mod testgen;
mod transaction;
mod work;

pub use account::{ADDRESS_HRP, AccountId, AddressError};
pub use axon::{AxonInfo, AxonProtocol};
pub use balance::{Balance, BalanceError, DECIMALS};
pub use block::{Block, BlockHeader, MAX_BLOCK_SIZE, MAX_BLOCK_TRANSACTIONS, transactions_root};
pub use call::{Call, MAX_SALT_LEN, MAX_VALIDATOR_ADDRESS_LEN, MAX_WEIGHTS, weights_commit_hash};
pub use codec::{CodecError, Decode, Encode, decode_exact};
pub use hash::Hash;
pub use hex::HexError;
pub use hyperparameter::Hyperparameter;
pub use ids::{BlockHeight, NetUid, Uid};
pub use keys::{Keypair, MNEMONIC_KDF_CONTEXT, Mnemonic, MnemonicError, WordCount};
pub use merkle::{
    MAX_PROOF_SIBLINGS, MAX_STATE_KEY_LEN, MAX_STATE_VALUE_LEN, MerkleError, MerkleTree, Neighbour,
    Proof, ProofError, merkle_root,
};
pub use public_key::PublicKey;
pub use signature::{
    ChainId, ChainIdError, Domain, MAX_CHAIN_ID_LEN, Purpose, SIGNING_PREFIX, Signature,
    SignatureError,
};
pub use transaction::{MAX_TRANSACTION_SIZE, SignedTransaction, Transaction};
pub use work::{UnknownWork, Work};
