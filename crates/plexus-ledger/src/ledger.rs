//! Applying blocks: transactions in order, then emission, then the epochs
//! that are due, then the state root.

use plexus_primitives::{Call, Hash, NetUid, SignedTransaction};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::calls::{Origin, dispatch};
use crate::coinbase;
use crate::commitment;
use crate::error::{GenesisError, TxError};
use crate::genesis::Genesis;
use crate::state::State;
use crate::validators;

/// What became of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The transaction's hash.
    pub tx_hash: Hash,
    /// Applied, or refused with the reason.
    pub result: Result<(), TxError>,
    /// Whether the transaction paid its fee and used its nonce: always when
    /// applied; when its call failed, only under rules where failed calls pay
    /// ([`crate::LedgerRules::failed_calls_pay`]); never when its envelope (chain,
    /// nonce, fee, the funds for the fee) failed. An uncharged transaction
    /// changed nothing at all.
    pub charged: bool,
}

/// What a block did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// The block's height.
    pub height: u64,
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Tokens emitted into the pools.
    pub emission: u64,
    /// Subnets whose epoch ran.
    pub epochs: Vec<NetUid>,
    /// The root of the state after the block.
    pub state_root: Hash,
}

/// Why a block could not be applied at all.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockError {
    /// Blocks must come one height after another.
    #[error("block {got} cannot follow block {current}")]
    WrongHeight {
        /// The height of the last applied block.
        current: u64,
        /// The height offered.
        got: u64,
    },
}

/// Whether [`Ledger::apply_block`] verifies signatures itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Verify every signature (the default for blocks from peers).
    Verify,
    /// The caller already verified them (the mempool, or benchmarks).
    Trusted,
}

/// The chain's state machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    state: State,
}

impl Ledger {
    /// The ledger at genesis.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, GenesisError> {
        Ok(Self {
            state: State::from_genesis(genesis)?,
        })
    }

    /// A ledger over an existing state (a snapshot loaded from storage).
    pub fn from_state(state: State) -> Self {
        Self { state }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Height of the last applied block.
    pub fn height(&self) -> u64 {
        self.state.height
    }

    /// The current state root.
    pub fn state_root(&self) -> Hash {
        commitment::state_root(&self.state)
    }

    /// Applies the block at `height`: its transactions in order (each
    /// applied whole or not at all), then the block's emission, then every
    /// subnet epoch that is due, then, at the last block of a consensus
    /// epoch, the choice of the next validator set (see [`crate::validators`]).
    pub fn apply_block(
        &mut self,
        height: u64,
        transactions: &[SignedTransaction],
        signatures: Signatures,
    ) -> Result<BlockOutcome, BlockError> {
        if height != self.state.height + 1 {
            return Err(BlockError::WrongHeight {
                current: self.state.height,
                got: height,
            });
        }
        self.state.height = height;
        let receipts = transactions
            .iter()
            .map(|tx| {
                let (result, charged) = self.apply_transaction(tx, height, signatures);
                Receipt {
                    tx_hash: tx.hash(),
                    result,
                    charged,
                }
            })
            .collect();
        let issued_before = self.state.totals.issued;
        coinbase::emit(&mut self.state);
        let emission = self.state.totals.issued - issued_before;
        let epochs: Vec<NetUid> = coinbase::due_epochs(&self.state, height);
        for netuid in &epochs {
            coinbase::run_epoch(&mut self.state, *netuid, height);
        }
        validators::end_of_block(&mut self.state, height);
        Ok(BlockOutcome {
            height,
            receipts,
            emission,
            epochs,
            state_root: self.state_root(),
        })
    }

    /// The checks a mempool makes before admitting a transaction: chain,
    /// signature, a nonce not already used, the minimum fee and the funds to
    /// pay it. Whether the call itself succeeds is known only in its block.
    pub fn precheck(&self, tx: &SignedTransaction) -> Result<(), TxError> {
        let next = self.state.height.saturating_add(1);
        check_envelope(
            &self.state,
            tx,
            next,
            Signatures::Verify,
            NonceRule::NotUsed,
        )?;
        self.state.ensure_funds(&tx.tx.signer, tx.tx.fee)
    }

    /// What would become of `tx` as the first transaction of the next block:
    /// the mempool's checks (a nonce not used yet passes, as there: one ahead
    /// of the next waits for those before it), then its call, run on a copy of
    /// the state (this one is left as it is). A wallet learns so that a call would fail before
    /// it pays a fee for it. The block that carries it may still decide
    /// otherwise: the transactions before it there change the state it meets.
    /// The copy costs a pass over the whole state.
    pub fn dry_run(&self, tx: &SignedTransaction) -> Result<(), TxError> {
        self.precheck(tx)?;
        let t = &tx.tx;
        let block = self.state.height.saturating_add(1);
        let mut scratch = self.state.clone();
        // As in `apply_block`: the call meets the height of its block, and the fee
        // has left the signer's balance.
        scratch.height = block;
        scratch.debit(&t.signer, t.fee)?;
        let origin = Origin {
            signer: t.signer,
            block,
        };
        dispatch(&mut scratch, origin, &t.call)
    }

    /// Applies one transaction; returns what became of it and whether it
    /// was charged (see [`Receipt::charged`]).
    fn apply_transaction(
        &mut self,
        tx: &SignedTransaction,
        block: u64,
        signatures: Signatures,
    ) -> (Result<(), TxError>, bool) {
        let envelope = check_envelope(&self.state, tx, block, signatures, NonceRule::Next)
            .and_then(|()| self.state.debit(&tx.tx.signer, tx.tx.fee));
        if let Err(e) = envelope {
            return (Err(e), false);
        }
        let t = &tx.tx;
        let state = &mut self.state;
        let origin = Origin {
            signer: t.signer,
            block,
        };
        let result = dispatch(state, origin, &t.call);
        if result.is_err() && !state.economics.ledger_rules.failed_calls_pay() {
            // The original rules: a refused transaction changes nothing. The
            // fee was just debited from this balance, so it fits back.
            if let Err(e) = state.credit(&t.signer, t.fee) {
                return (Err(e), false);
            }
            return (result, false);
        }
        state.totals.burned += t.fee.rao();
        state.totals.fees += t.fee.rao();
        state.accounts.entry(t.signer).or_default().nonce += 1;
        (result, true)
    }
}

/// Which nonces a check accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NonceRule {
    /// In a block: exactly the account's next nonce.
    Next,
    /// In the mempool: any nonce not used yet (later ones wait their turn).
    NotUsed,
}

/// The envelope's checks, before the call: chain, signature, nonce, fee; for
/// a heartbeat, its own checks instead of the minimum fee (and under rules
/// that take none, a refusal). `block` is the height of the block the transaction is for.
fn check_envelope(
    state: &State,
    tx: &SignedTransaction,
    block: u64,
    signatures: Signatures,
    nonces: NonceRule,
) -> Result<(), TxError> {
    let t = &tx.tx;
    if t.chain_id != state.chain_id {
        return Err(TxError::WrongChain {
            expected: state.chain_id.to_string(),
            got: t.chain_id.to_string(),
        });
    }
    if signatures == Signatures::Verify {
        tx.verify().map_err(|_| TxError::BadSignature)?;
    }
    let expected = state.accounts.get(&t.signer).map_or(0, |a| a.nonce);
    let nonce_ok = match nonces {
        NonceRule::Next => t.nonce == expected,
        NonceRule::NotUsed => t.nonce >= expected,
    };
    if !nonce_ok {
        return Err(TxError::BadNonce {
            expected,
            got: t.nonce,
        });
    }
    if let Call::Heartbeat { epoch } = t.call {
        // Under older rules a heartbeat is no transaction at all: a block must
        // not carry one, or nodes of builds that predate it could not decode it.
        if !state.economics.ledger_rules.seats_need_heartbeats() {
            return Err(TxError::HeartbeatsNotInUse);
        }
        return validators::check_heartbeat(state, &t.signer, epoch, block);
    }
    let min = state.economics.min_fee;
    if t.fee < min {
        return Err(TxError::FeeTooLow { min, got: t.fee });
    }
    Ok(())
}
