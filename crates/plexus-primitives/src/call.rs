//! The chain's operations ([`Call`]) as data, with their canonical encoding.
//!
//! The ledger gives them meaning; this module only fixes their shape, their bounds and
//! their stable tags. Tags are part of signed bytes: append new variants, never renumber.

use serde::{Deserialize, Serialize};

use crate::account::AccountId;
use crate::axon::AxonInfo;
use crate::balance::Balance;
use crate::codec::{self, CodecError, Decode, Encode, Reader};
use crate::hash::Hash;
use crate::hyperparameter::Hyperparameter;
use crate::ids::NetUid;
use crate::work::Work;

/// Most uids (and weights) one weights call may carry.
pub const MAX_WEIGHTS: usize = 4096;

/// Longest salt a weights reveal may carry, in bytes.
pub const MAX_SALT_LEN: usize = 32;

/// Longest peer address (`host:port`) a validator bond may carry, in bytes.
pub const MAX_VALIDATOR_ADDRESS_LEN: usize = 64;

/// A chain operation, signed inside a [`crate::Transaction`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Call {
    /// Moves free balance from the signer to `to`.
    Transfer {
        /// Recipient.
        to: AccountId,
        /// Amount moved.
        amount: Balance,
    },
    /// Creates a subnet owned by the signer, locking at most `max_lock`.
    CreateSubnet {
        /// The hotkey that receives the owner's share.
        owner_hotkey: AccountId,
        /// The most the signer accepts to lock (the lock price moves).
        max_lock: Balance,
    },
    /// Sets one hyperparameter of a subnet the signer owns.
    SetHyperparameter {
        /// The subnet.
        netuid: NetUid,
        /// The parameter and its new value.
        param: Hyperparameter,
    },
    /// Registers `hotkey` on a subnet by burning at most `max_burn`.
    Register {
        /// The subnet.
        netuid: NetUid,
        /// The hotkey to register.
        hotkey: AccountId,
        /// The most the signer accepts to burn (the burn price moves).
        max_burn: Balance,
    },
    /// Announces where a registered hotkey serves.
    ServeAxon {
        /// The subnet.
        netuid: NetUid,
        /// The serving hotkey.
        hotkey: AccountId,
        /// Its endpoint.
        axon: AxonInfo,
    },
    /// Stakes `amount` of the signer's balance on `hotkey` through the subnet's pool.
    AddStake {
        /// The subnet.
        netuid: NetUid,
        /// The hotkey staked on.
        hotkey: AccountId,
        /// Tokens put in.
        amount: Balance,
        /// Highest acceptable pool price (rao per alpha), if any.
        limit_price: Option<u64>,
    },
    /// Unstakes `alpha` units of subnet stake back into the signer's balance.
    RemoveStake {
        /// The subnet.
        netuid: NetUid,
        /// The hotkey unstaked from.
        hotkey: AccountId,
        /// Alpha units taken out.
        alpha: u64,
        /// Lowest acceptable pool price (rao per alpha), if any.
        limit_price: Option<u64>,
    },
    /// Sets the delegate take of a hotkey the signer owns.
    SetTake {
        /// The hotkey.
        hotkey: AccountId,
        /// The take as a fraction of `u16::MAX`.
        take: u16,
    },
    /// Sets a validator's weights on a subnet directly.
    SetWeights {
        /// The subnet.
        netuid: NetUid,
        /// Target uids, at most [`MAX_WEIGHTS`].
        uids: Vec<u16>,
        /// Weight for each uid, at most [`MAX_WEIGHTS`].
        weights: Vec<u16>,
        /// Must match the subnet's weights version key.
        version_key: u64,
    },
    /// Commits to weights without revealing them (see [`weights_commit_hash`]).
    CommitWeights {
        /// The subnet.
        netuid: NetUid,
        /// The commitment.
        commit: Hash,
    },
    /// Reveals weights committed earlier.
    RevealWeights {
        /// The subnet.
        netuid: NetUid,
        /// Target uids, at most [`MAX_WEIGHTS`].
        uids: Vec<u16>,
        /// Weight for each uid, at most [`MAX_WEIGHTS`].
        weights: Vec<u16>,
        /// The commitment's salt, at most [`MAX_SALT_LEN`] bytes.
        salt: Vec<u8>,
        /// Must match the subnet's weights version key.
        version_key: u64,
    },
    /// Locks `amount` of the signer's balance as the bond of the chain
    /// validator `consensus_key` (adding to its bond if it has one), and sets
    /// the address its peers dial. The signer becomes (or must already be) the
    /// bond's owner.
    BondValidator {
        /// The validator's consensus key (an ed25519 public key).
        consensus_key: AccountId,
        /// Where it listens for peers, `host:port`, at most
        /// [`MAX_VALIDATOR_ADDRESS_LEN`] bytes of UTF-8.
        address: String,
        /// Tokens locked.
        amount: Balance,
    },
    /// Records the kind of work a subnet the signer owns trades. Set once: miners who
    /// joined for one kind must not find their subnet trading another.
    SetSubnetWork {
        /// The subnet.
        netuid: NetUid,
        /// Its kind of work.
        work: Work,
    },
    /// Starts returning `amount` of a bond the signer owns: it stops counting
    /// toward the next validator set at once and is paid back at the end of
    /// the current consensus epoch.
    UnbondValidator {
        /// The validator's consensus key.
        consensus_key: AccountId,
        /// Tokens to unbond.
        amount: Balance,
    },
    /// Signed by a bonded validator's consensus key, which only its running node
    /// holds: the node is live in consensus epoch `epoch`. Under ledger rules that
    /// seat only live validators, a bond counts toward the next set only with a
    /// heartbeat in the epoch that chooses it. It pays no fee, at most one per
    /// bond and epoch.
    Heartbeat {
        /// The consensus epoch the block carrying it belongs to.
        epoch: u64,
    },
}

impl Call {
    /// The stable tag of this call's variant.
    pub fn tag(&self) -> u8 {
        match self {
            Self::Transfer { .. } => 0,
            Self::CreateSubnet { .. } => 1,
            Self::SetHyperparameter { .. } => 2,
            Self::Register { .. } => 3,
            Self::ServeAxon { .. } => 4,
            Self::AddStake { .. } => 5,
            Self::RemoveStake { .. } => 6,
            Self::SetTake { .. } => 7,
            Self::SetWeights { .. } => 8,
            Self::CommitWeights { .. } => 9,
            Self::RevealWeights { .. } => 10,
            Self::BondValidator { .. } => 11,
            Self::UnbondValidator { .. } => 12,
            Self::SetSubnetWork { .. } => 13,
            Self::Heartbeat { .. } => 14,
        }
    }
}

/// The commitment a validator publishes in [`Call::CommitWeights`] and later opens with
/// [`Call::RevealWeights`]: BLAKE3 in derive-key mode (context
/// `"plexus weights commit v1"`) over the canonical encoding of
/// `(hotkey, netuid, uids, weights, salt, version_key)`.
pub fn weights_commit_hash(
    hotkey: &AccountId,
    netuid: NetUid,
    uids: &[u16],
    weights: &[u16],
    salt: &[u8],
    version_key: u64,
) -> Hash {
    let mut bytes = Vec::with_capacity(64 + 2 * (uids.len() + weights.len()) + salt.len());
    hotkey.encode_to(&mut bytes);
    netuid.encode_to(&mut bytes);
    codec::encode_seq(uids, &mut bytes);
    codec::encode_seq(weights, &mut bytes);
    codec::encode_bytes(salt, &mut bytes);
    version_key.encode_to(&mut bytes);
    let mut hasher = blake3::Hasher::new_derive_key("plexus weights commit v1");
    hasher.update(&bytes);
    Hash::from(hasher.finalize())
}

impl Encode for Call {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(self.tag());
        match self {
            Self::Transfer { to, amount } => {
                to.encode_to(out);
                amount.encode_to(out);
            }
            Self::CreateSubnet {
                owner_hotkey,
                max_lock,
            } => {
                owner_hotkey.encode_to(out);
                max_lock.encode_to(out);
            }
            Self::SetHyperparameter { netuid, param } => {
                netuid.encode_to(out);
                param.encode_to(out);
            }
            Self::SetSubnetWork { netuid, work } => {
                netuid.encode_to(out);
                work.encode_to(out);
            }
            Self::Register {
                netuid,
                hotkey,
                max_burn,
            } => {
                netuid.encode_to(out);
                hotkey.encode_to(out);
                max_burn.encode_to(out);
            }
            Self::ServeAxon {
                netuid,
                hotkey,
                axon,
            } => {
                netuid.encode_to(out);
                hotkey.encode_to(out);
                axon.encode_to(out);
            }
            Self::AddStake {
                netuid,
                hotkey,
                amount,
                limit_price,
            } => {
                netuid.encode_to(out);
                hotkey.encode_to(out);
                amount.encode_to(out);
                limit_price.encode_to(out);
            }
            Self::RemoveStake {
                netuid,
                hotkey,
                alpha,
                limit_price,
            } => {
                netuid.encode_to(out);
                hotkey.encode_to(out);
                alpha.encode_to(out);
                limit_price.encode_to(out);
            }
            Self::SetTake { hotkey, take } => {
                hotkey.encode_to(out);
                take.encode_to(out);
            }
            Self::SetWeights {
                netuid,
                uids,
                weights,
                version_key,
            } => {
                netuid.encode_to(out);
                codec::encode_seq(uids, out);
                codec::encode_seq(weights, out);
                version_key.encode_to(out);
            }
            Self::CommitWeights { netuid, commit } => {
                netuid.encode_to(out);
                commit.encode_to(out);
            }
            Self::RevealWeights {
                netuid,
                uids,
                weights,
                salt,
                version_key,
            } => {
                netuid.encode_to(out);
                codec::encode_seq(uids, out);
                codec::encode_seq(weights, out);
                codec::encode_bytes(salt, out);
                version_key.encode_to(out);
            }
            Self::BondValidator {
                consensus_key,
                address,
                amount,
            } => {
                consensus_key.encode_to(out);
                codec::encode_bytes(address.as_bytes(), out);
                amount.encode_to(out);
            }
            Self::UnbondValidator {
                consensus_key,
                amount,
            } => {
                consensus_key.encode_to(out);
                amount.encode_to(out);
            }
            Self::Heartbeat { epoch } => epoch.encode_to(out),
        }
    }
}

impl Decode for Call {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let tag = r.read_u8()?;
        Ok(match tag {
            0 => Self::Transfer {
                to: Decode::decode(r)?,
                amount: Decode::decode(r)?,
            },
            1 => Self::CreateSubnet {
                owner_hotkey: Decode::decode(r)?,
                max_lock: Decode::decode(r)?,
            },
            2 => Self::SetHyperparameter {
                netuid: Decode::decode(r)?,
                param: Decode::decode(r)?,
            },
            3 => Self::Register {
                netuid: Decode::decode(r)?,
                hotkey: Decode::decode(r)?,
                max_burn: Decode::decode(r)?,
            },
            4 => Self::ServeAxon {
                netuid: Decode::decode(r)?,
                hotkey: Decode::decode(r)?,
                axon: Decode::decode(r)?,
            },
            5 => Self::AddStake {
                netuid: Decode::decode(r)?,
                hotkey: Decode::decode(r)?,
                amount: Decode::decode(r)?,
                limit_price: Decode::decode(r)?,
            },
            6 => Self::RemoveStake {
                netuid: Decode::decode(r)?,
                hotkey: Decode::decode(r)?,
                alpha: Decode::decode(r)?,
                limit_price: Decode::decode(r)?,
            },
            7 => Self::SetTake {
                hotkey: Decode::decode(r)?,
                take: Decode::decode(r)?,
            },
            8 => Self::SetWeights {
                netuid: Decode::decode(r)?,
                uids: codec::decode_seq(r, MAX_WEIGHTS)?,
                weights: codec::decode_seq(r, MAX_WEIGHTS)?,
                version_key: Decode::decode(r)?,
            },
            9 => Self::CommitWeights {
                netuid: Decode::decode(r)?,
                commit: Decode::decode(r)?,
            },
            10 => Self::RevealWeights {
                netuid: Decode::decode(r)?,
                uids: codec::decode_seq(r, MAX_WEIGHTS)?,
                weights: codec::decode_seq(r, MAX_WEIGHTS)?,
                salt: codec::decode_bytes(r, MAX_SALT_LEN)?,
                version_key: Decode::decode(r)?,
            },
            11 => Self::BondValidator {
                consensus_key: Decode::decode(r)?,
                address: decode_address(r)?,
                amount: Decode::decode(r)?,
            },
            12 => Self::UnbondValidator {
                consensus_key: Decode::decode(r)?,
                amount: Decode::decode(r)?,
            },
            13 => Self::SetSubnetWork {
                netuid: Decode::decode(r)?,
                work: Decode::decode(r)?,
            },
            14 => Self::Heartbeat {
                epoch: Decode::decode(r)?,
            },
            tag => return codec::unknown_tag("Call", tag),
        })
    }
}

/// A validator's address: at most [`MAX_VALIDATOR_ADDRESS_LEN`] bytes of UTF-8.
fn decode_address(r: &mut Reader<'_>) -> Result<String, CodecError> {
    let bytes = codec::decode_bytes(r, MAX_VALIDATOR_ADDRESS_LEN)?;
    String::from_utf8(bytes).map_err(|_| CodecError::InvalidValue {
        type_name: "validator address",
        reason: "must be UTF-8",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::testgen::{self, Arb};
    use proptest::prelude::*;

    #[test]
    fn unknown_call_tag_is_typed() {
        assert_eq!(
            decode_exact::<Call>(&[15]),
            Err(CodecError::UnknownTag {
                type_name: "Call",
                tag: 15
            })
        );
    }

    #[test]
    fn oversize_salt_is_rejected() {
        let call = Call::RevealWeights {
            netuid: NetUid(1),
            uids: vec![1],
            weights: vec![1],
            salt: vec![0; MAX_SALT_LEN + 1],
            version_key: 0,
        };
        assert_eq!(
            decode_exact::<Call>(&call.encode()),
            Err(CodecError::TooLong {
                len: MAX_SALT_LEN as u64 + 1,
                max: MAX_SALT_LEN as u64
            })
        );
    }

    #[test]
    fn oversize_or_non_utf8_address_is_rejected() {
        let call = |address: String| Call::BondValidator {
            consensus_key: AccountId([3; 32]),
            address,
            amount: Balance::from_rao(1),
        };
        let longest = call("a".repeat(MAX_VALIDATOR_ADDRESS_LEN));
        assert_eq!(decode_exact::<Call>(&longest.encode()), Ok(longest));
        assert_eq!(
            decode_exact::<Call>(&call("a".repeat(MAX_VALIDATOR_ADDRESS_LEN + 1)).encode()),
            Err(CodecError::TooLong {
                len: MAX_VALIDATOR_ADDRESS_LEN as u64 + 1,
                max: MAX_VALIDATOR_ADDRESS_LEN as u64
            })
        );
        let mut bytes = call("ab".into()).encode();
        bytes[1 + 32 + 4] = 0xff;
        assert!(matches!(
            decode_exact::<Call>(&bytes),
            Err(CodecError::InvalidValue { .. })
        ));
    }

    #[test]
    fn unbond_layout_is_stable() {
        let call = Call::UnbondValidator {
            consensus_key: AccountId([0xbb; 32]),
            amount: Balance::from_rao(9),
        };
        let mut expected = vec![12];
        expected.extend_from_slice(&[0xbb; 32]);
        expected.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(call.encode(), expected);
    }

    #[test]
    fn heartbeat_layout_is_stable() {
        let call = Call::Heartbeat { epoch: 3 };
        assert_eq!(call.encode(), [14, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(decode_exact::<Call>(&call.encode()), Ok(call));
    }

    #[test]
    fn transfer_layout_is_stable() {
        let call = Call::Transfer {
            to: AccountId([0xaa; 32]),
            amount: Balance::from_rao(5),
        };
        let mut expected = vec![0];
        expected.extend_from_slice(&[0xaa; 32]);
        expected.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(call.encode(), expected);
    }

    #[test]
    fn commit_hash_binds_every_input() {
        let hotkey = AccountId([1; 32]);
        let base = weights_commit_hash(&hotkey, NetUid(1), &[0, 1], &[5, 6], b"salt", 7);
        assert_eq!(
            base,
            weights_commit_hash(&hotkey, NetUid(1), &[0, 1], &[5, 6], b"salt", 7)
        );
        let variants = [
            weights_commit_hash(&AccountId([2; 32]), NetUid(1), &[0, 1], &[5, 6], b"salt", 7),
            weights_commit_hash(&hotkey, NetUid(2), &[0, 1], &[5, 6], b"salt", 7),
            weights_commit_hash(&hotkey, NetUid(1), &[1, 0], &[5, 6], b"salt", 7),
            weights_commit_hash(&hotkey, NetUid(1), &[0, 1], &[6, 5], b"salt", 7),
            weights_commit_hash(&hotkey, NetUid(1), &[0, 1], &[5, 6], b"salu", 7),
            weights_commit_hash(&hotkey, NetUid(1), &[0, 1], &[5, 6], b"salt", 8),
            // Moving an element between the two lists changes the length prefixes.
            weights_commit_hash(&hotkey, NetUid(1), &[0], &[1, 5, 6], b"salt", 7),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
        // Domain-separated: not the plain hash of the same bytes.
        assert_ne!(base, Hash::of(b""));
    }

    proptest! {
        #[test]
        fn round_trips(call in Call::arb()) {
            prop_assert_eq!(decode_exact::<Call>(&call.encode()), Ok(call));
        }

        #[test]
        fn mutated_calls_never_panic_and_reencode(call in Call::arb(), edits in testgen::edits()) {
            let bytes = testgen::mutate(call.encode(), &edits);
            if let Ok(back) = decode_exact::<Call>(&bytes) {
                prop_assert_eq!(back.encode(), bytes);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(call) = decode_exact::<Call>(&bytes) {
                prop_assert_eq!(call.encode(), bytes);
            }
        }
    }
}
