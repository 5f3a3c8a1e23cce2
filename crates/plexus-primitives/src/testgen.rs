//! Test-only proptest generators for every encodable type, and byte mutators for
//! "never panics, and what decodes re-encodes identically" properties.

use std::net::IpAddr;

use proptest::collection::vec;
use proptest::prelude::*;

use crate::account::AccountId;
use crate::axon::{AxonInfo, AxonProtocol};
use crate::balance::Balance;
use crate::block::{Block, BlockHeader};
use crate::call::{Call, MAX_SALT_LEN};
use crate::hash::Hash;
use crate::hyperparameter::Hyperparameter;
use crate::ids::{BlockHeight, NetUid};
use crate::signature::{ChainId, Signature};
use crate::transaction::{SignedTransaction, Transaction};
use crate::work::Work;

/// A type with a default proptest generator.
pub(crate) trait Arb: Sized + std::fmt::Debug {
    /// Any value of the type.
    fn arb() -> BoxedStrategy<Self>;
}

macro_rules! arb_any {
    ($($ty:ty),*) => {$(
        impl Arb for $ty {
            fn arb() -> BoxedStrategy<Self> {
                any::<$ty>().boxed()
            }
        }
    )*};
}

arb_any!(bool, u16, u32, u64, i16, IpAddr);

impl Arb for Balance {
    fn arb() -> BoxedStrategy<Self> {
        any::<u64>().prop_map(Balance::from_rao).boxed()
    }
}

impl Arb for AccountId {
    fn arb() -> BoxedStrategy<Self> {
        any::<[u8; 32]>().prop_map(AccountId).boxed()
    }
}

impl Arb for Hash {
    fn arb() -> BoxedStrategy<Self> {
        any::<[u8; 32]>().prop_map(Hash).boxed()
    }
}

impl Arb for NetUid {
    fn arb() -> BoxedStrategy<Self> {
        any::<u16>().prop_map(NetUid).boxed()
    }
}

impl Arb for ChainId {
    fn arb() -> BoxedStrategy<Self> {
        "[a-z0-9-]{1,32}"
            .prop_filter_map("valid chain id", |s| ChainId::new(s).ok())
            .boxed()
    }
}

impl Arb for Signature {
    fn arb() -> BoxedStrategy<Self> {
        (any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(a, b)| {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&a);
                sig[32..].copy_from_slice(&b);
                Signature(sig)
            })
            .boxed()
    }
}

impl Arb for AxonInfo {
    fn arb() -> BoxedStrategy<Self> {
        (any::<IpAddr>(), any::<u16>(), any::<bool>(), any::<u32>())
            .prop_map(|(ip, port, https, version)| AxonInfo {
                ip,
                port,
                protocol: if https {
                    AxonProtocol::Https
                } else {
                    AxonProtocol::Http
                },
                version,
            })
            .boxed()
    }
}

fn weights() -> BoxedStrategy<Vec<u16>> {
    vec(any::<u16>(), 0..16).boxed()
}

impl Arb for Call {
    fn arb() -> BoxedStrategy<Self> {
        let id = AccountId::arb;
        prop_oneof![
            (id(), Balance::arb()).prop_map(|(to, amount)| Call::Transfer { to, amount }),
            (id(), Balance::arb()).prop_map(|(owner_hotkey, max_lock)| Call::CreateSubnet {
                owner_hotkey,
                max_lock
            }),
            (NetUid::arb(), Hyperparameter::strategy())
                .prop_map(|(netuid, param)| Call::SetHyperparameter { netuid, param }),
            (NetUid::arb(), proptest::sample::select(Work::ALL.to_vec()))
                .prop_map(|(netuid, work)| Call::SetSubnetWork { netuid, work }),
            (NetUid::arb(), id(), Balance::arb()).prop_map(|(netuid, hotkey, max_burn)| {
                Call::Register {
                    netuid,
                    hotkey,
                    max_burn,
                }
            }),
            (NetUid::arb(), id(), AxonInfo::arb()).prop_map(|(netuid, hotkey, axon)| {
                Call::ServeAxon {
                    netuid,
                    hotkey,
                    axon,
                }
            }),
            (NetUid::arb(), id(), Balance::arb(), any::<Option<u64>>()).prop_map(
                |(netuid, hotkey, amount, limit_price)| Call::AddStake {
                    netuid,
                    hotkey,
                    amount,
                    limit_price
                }
            ),
            (NetUid::arb(), id(), any::<u64>(), any::<Option<u64>>()).prop_map(
                |(netuid, hotkey, alpha, limit_price)| Call::RemoveStake {
                    netuid,
                    hotkey,
                    alpha,
                    limit_price
                }
            ),
            (id(), any::<u16>()).prop_map(|(hotkey, take)| Call::SetTake { hotkey, take }),
            (NetUid::arb(), weights(), weights(), any::<u64>()).prop_map(
                |(netuid, uids, weights, version_key)| Call::SetWeights {
                    netuid,
                    uids,
                    weights,
                    version_key
                }
            ),
            (NetUid::arb(), Hash::arb())
                .prop_map(|(netuid, commit)| Call::CommitWeights { netuid, commit }),
            (
                NetUid::arb(),
                weights(),
                weights(),
                vec(any::<u8>(), 0..=MAX_SALT_LEN),
                any::<u64>()
            )
                .prop_map(|(netuid, uids, weights, salt, version_key)| {
                    Call::RevealWeights {
                        netuid,
                        uids,
                        weights,
                        salt,
                        version_key,
                    }
                }),
            (id(), "[a-z0-9.:-]{0,64}", Balance::arb()).prop_map(
                |(consensus_key, address, amount)| Call::BondValidator {
                    consensus_key,
                    address,
                    amount
                }
            ),
            (id(), Balance::arb()).prop_map(|(consensus_key, amount)| Call::UnbondValidator {
                consensus_key,
                amount
            }),
            any::<u64>().prop_map(|epoch| Call::Heartbeat { epoch }),
        ]
        .boxed()
    }
}

impl Arb for Transaction {
    fn arb() -> BoxedStrategy<Self> {
        (
            ChainId::arb(),
            AccountId::arb(),
            any::<u64>(),
            Balance::arb(),
            Call::arb(),
        )
            .prop_map(|(chain_id, signer, nonce, fee, call)| Transaction {
                chain_id,
                signer,
                nonce,
                fee,
                call,
            })
            .boxed()
    }
}

impl Arb for SignedTransaction {
    fn arb() -> BoxedStrategy<Self> {
        (Transaction::arb(), Signature::arb())
            .prop_map(|(tx, signature)| SignedTransaction { tx, signature })
            .boxed()
    }
}

impl Arb for BlockHeader {
    fn arb() -> BoxedStrategy<Self> {
        (
            ChainId::arb(),
            any::<u64>(),
            Hash::arb(),
            Hash::arb(),
            Hash::arb(),
            AccountId::arb(),
            any::<u64>(),
        )
            .prop_map(
                |(chain_id, height, parent, state_root, transactions_root, proposer, view)| {
                    BlockHeader {
                        chain_id,
                        height: BlockHeight(height),
                        parent,
                        state_root,
                        transactions_root,
                        proposer,
                        view,
                    }
                },
            )
            .boxed()
    }
}

impl Arb for Block {
    fn arb() -> BoxedStrategy<Self> {
        (BlockHeader::arb(), vec(SignedTransaction::arb(), 0..4))
            .prop_map(|(header, transactions)| Block {
                header,
                transactions,
            })
            .boxed()
    }
}

/// One change to an encoding.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    /// Overwrite the byte at (index mod len).
    Set(usize, u8),
    /// Insert a byte at (index mod len+1).
    Insert(usize, u8),
    /// Remove the byte at (index mod len).
    Remove(usize),
    /// Keep only the first (index mod len+1) bytes.
    Truncate(usize),
}

/// A few random edits.
pub(crate) fn edits() -> BoxedStrategy<Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    vec(edit, 1..4).boxed()
}

/// Applies `edits` to `bytes`.
pub(crate) fn mutate(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match *edit {
            Edit::Set(i, b) if len > 0 => bytes[i % len] = b,
            Edit::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Edit::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Edit::Truncate(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}
