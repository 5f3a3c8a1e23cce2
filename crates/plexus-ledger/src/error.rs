//! Why a transaction or a genesis was refused.

use plexus_primitives::{AccountId, Balance, NetUid, Work};
use thiserror::Error;

use crate::pool::PoolError;

/// Why a transaction was refused. Its call changed nothing; whether it paid
/// its fee and used its nonce is its receipt's `charged`.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    /// The signature does not verify for the signer and this chain.
    #[error("bad signature")]
    BadSignature,
    /// The transaction names another chain.
    #[error("transaction is for chain {got}, this is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The transaction's chain id.
        got: String,
    },
    /// The nonce is not the account's next one.
    #[error("nonce {got} is not the account's next nonce {expected}")]
    BadNonce {
        /// The account's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The fee is below the chain's minimum.
    #[error("fee {got} is below the minimum {min}")]
    FeeTooLow {
        /// The minimum fee.
        min: Balance,
        /// The fee offered.
        got: Balance,
    },
    /// The signer cannot pay.
    #[error("insufficient balance: {needed} needed, {available} available")]
    InsufficientBalance {
        /// What the transaction costs, fee included.
        needed: Balance,
        /// The signer's free balance.
        available: Balance,
    },
    /// An amount of zero where something must move.
    #[error("amount must be positive")]
    ZeroAmount,
    /// An amount or counter would overflow.
    #[error("arithmetic overflow")]
    Overflow,
    /// No subnet has this id.
    #[error("subnet {0} does not exist")]
    UnknownSubnet(NetUid),
    /// The subnet limit is reached.
    #[error("the chain already holds its limit of {0} subnets")]
    SubnetLimitReached(u16),
    /// The lock price is above what the signer accepts.
    #[error("subnet lock costs {price}, above the accepted {max}")]
    LockAboveMax {
        /// The current lock price.
        price: Balance,
        /// The signer's limit.
        max: Balance,
    },
    /// The hotkey belongs to another coldkey.
    #[error("hotkey {0} is owned by another coldkey")]
    HotkeyOwnedByAnother(AccountId),
    /// Only the subnet owner may do this.
    #[error("only the owner of subnet {0} may do this")]
    NotSubnetOwner(NetUid),
    /// The subnet already records another kind of work.
    #[error("subnet {netuid} already trades {work} work; a subnet's kind of work is set once")]
    WorkAlreadySet {
        /// The subnet.
        netuid: NetUid,
        /// The kind it records.
        work: Work,
    },
    /// A hyperparameter value is out of its bounds.
    #[error("{name} = {value} is out of bounds [{min}, {max}]")]
    HyperparameterOutOfBounds {
        /// The hyperparameter.
        name: &'static str,
        /// The refused value.
        value: String,
        /// Smallest allowed.
        min: String,
        /// Largest allowed.
        max: String,
    },
    /// Hyperparameters would contradict each other.
    #[error("inconsistent hyperparameters: {0}")]
    InconsistentHyperparameters(&'static str),
    /// The hotkey is already registered on the subnet.
    #[error("hotkey is already registered on subnet {0}")]
    AlreadyRegistered(NetUid),
    /// The registration price is above what the signer accepts.
    #[error("registration costs {price}, above the accepted {max}")]
    BurnAboveMax {
        /// The current price.
        price: Balance,
        /// The signer's limit.
        max: Balance,
    },
    /// The subnet is full and every UID is immune.
    #[error("subnet {0} is full and every UID is still immune")]
    SubnetFull(NetUid),
    /// The hotkey is not registered on the subnet.
    #[error("hotkey {hotkey} is not registered on subnet {netuid}")]
    NotRegistered {
        /// The subnet.
        netuid: NetUid,
        /// The hotkey.
        hotkey: AccountId,
    },
    /// The action is rate-limited until a later block.
    #[error("{action} is rate-limited until block {next_block}")]
    RateLimited {
        /// What was attempted.
        action: &'static str,
        /// The first block at which it is allowed.
        next_block: u64,
    },
    /// A pool swap failed.
    #[error("pool: {0}")]
    Pool(#[from] PoolError),
    /// The signer holds less stake than it tries to remove.
    #[error(
        "insufficient stake: {} alpha requested, {} held",
        Balance::from_rao(*requested),
        Balance::from_rao(*available)
    )]
    InsufficientStake {
        /// Alpha requested.
        requested: u64,
        /// Alpha held.
        available: u64,
    },
    /// The take is above the chain's maximum.
    #[error("take {take} exceeds the maximum {max} (of 65535)")]
    TakeAboveMax {
        /// The requested take.
        take: u16,
        /// The maximum.
        max: u16,
    },
    /// Weights need a validator permit.
    #[error("setting weights needs a validator permit")]
    NoValidatorPermit,
    /// The weights' version key is older than the subnet requires.
    #[error("weights version key {got} is below the subnet's {required}")]
    VersionKeyTooLow {
        /// The subnet's key.
        required: u64,
        /// The transaction's key.
        got: u64,
    },
    /// Too few weights.
    #[error("at least {min} weights are required, {got} given")]
    TooFewWeights {
        /// The minimum.
        min: usize,
        /// Weights given.
        got: usize,
    },
    /// UIDs and weights differ in length.
    #[error("{uids} uids but {weights} weights")]
    WeightsLengthMismatch {
        /// UIDs given.
        uids: usize,
        /// Weights given.
        weights: usize,
    },
    /// A UID appears twice.
    #[error("uid {0} appears twice")]
    DuplicateUid(u16),
    /// A UID does not exist on the subnet.
    #[error("uid {uid} does not exist (the subnet has {n})")]
    UidOutOfRange {
        /// The UID.
        uid: u16,
        /// UIDs on the subnet.
        n: usize,
    },
    /// Every weight is zero.
    #[error("all weights are zero")]
    AllWeightsZero,
    /// The subnet takes weights by commit-reveal only.
    #[error("subnet {0} uses commit-reveal: commit, then reveal")]
    CommitRevealEnabled(NetUid),
    /// The subnet does not use commit-reveal.
    #[error("subnet {0} does not use commit-reveal: set weights directly")]
    CommitRevealDisabled(NetUid),
    /// Too many unrevealed commits.
    #[error("at most {0} unrevealed commits per hotkey")]
    TooManyCommits(u16),
    /// Heartbeats count only under ledger rules that seat live validators.
    #[error("this chain's ledger rules take no heartbeats")]
    HeartbeatsNotInUse,
    /// A heartbeat names another epoch than its block's.
    #[error("heartbeat for epoch {got} in a block of epoch {expected}")]
    HeartbeatWrongEpoch {
        /// The block's consensus epoch.
        expected: u64,
        /// The epoch the heartbeat names.
        got: u64,
    },
    /// The bond already has this epoch's heartbeat.
    #[error("validator {0} already sent its heartbeat for this epoch")]
    HeartbeatAlreadySent(AccountId),
    /// No pending commit matches the reveal.
    #[error("no pending commit matches this reveal")]
    NoMatchingCommit,
    /// The matching commit cannot be revealed yet.
    #[error("this commit can be revealed from epoch {reveal_epoch} (now {epoch})")]
    RevealTooEarly {
        /// The epoch it becomes revealable.
        reveal_epoch: u64,
        /// The subnet's current epoch.
        epoch: u64,
    },
    /// The maximum UID count is below the UIDs already registered.
    #[error("max_allowed_uids {requested} is below the {registered} UIDs registered")]
    BelowRegistered {
        /// The requested maximum.
        requested: u16,
        /// UIDs registered.
        registered: usize,
    },
    /// A validator address must be 1 to 64 bytes (`host:port`).
    #[error("a validator address must be 1 to 64 bytes")]
    InvalidValidatorAddress,
    /// A consensus key must be an ed25519 public key that can sign.
    #[error("{0} is not a usable consensus key (not an ed25519 point of large order)")]
    InvalidConsensusKey(AccountId),
    /// The validator bond belongs to another account.
    #[error("the bond of validator {0} is owned by another account")]
    BondOwnedByAnother(AccountId),
    /// The consensus key has no bond.
    #[error("validator {0} has no bond")]
    NoBond(AccountId),
    /// A bond would stay below the chain's minimum for a seat.
    #[error("a validator bond must reach {min}; this one would hold {bond}")]
    BondBelowMinimum {
        /// The chain's minimum bond.
        min: Balance,
        /// What the bond would hold after this transaction.
        bond: Balance,
    },
    /// The bond is smaller than the amount to unbond.
    #[error("insufficient bond: {requested} requested, {available} bonded")]
    InsufficientBond {
        /// Tokens to unbond.
        requested: Balance,
        /// Tokens bonded.
        available: Balance,
    },
}

/// Why a genesis file was refused.
#[derive(Debug, Error)]
pub enum GenesisError {
    /// The file could not be parsed.
    #[error("genesis is malformed: {0}")]
    Malformed(String),
    /// An account appears twice.
    #[error("account {0} appears twice in genesis balances")]
    DuplicateAccount(AccountId),
    /// The initial balances and bonds exceed the supply cap.
    #[error("genesis balances and bonds exceed the supply cap")]
    AboveSupplyCap,
    /// No chain validator is listed.
    #[error("genesis lists no chain validator")]
    NoValidators,
    /// A consensus key appears twice among the validators.
    #[error("validator {0} appears twice in genesis")]
    DuplicateValidator(AccountId),
    /// An economics parameter is out of range.
    #[error("economics: {0}")]
    InvalidEconomics(&'static str),
    /// A genesis validator's or bond's consensus key cannot sign.
    #[error("{0} is not a usable consensus key (not an ed25519 point of large order)")]
    InvalidConsensusKey(AccountId),
    /// A genesis bond is not valid.
    #[error("genesis bond of {0}: {1}")]
    InvalidBond(AccountId, &'static str),
    /// The genesis names ledger rules newer than this build knows.
    #[error(
        "genesis follows ledger rules version {named}, but this build knows only up to \
         {known}: upgrade plexus"
    )]
    NewerRules {
        /// The version the genesis names.
        named: u16,
        /// The newest this build knows.
        known: u16,
    },
}
