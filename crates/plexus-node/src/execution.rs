//! Deterministic execution of blocks on the ledger, for proposing,
//! verifying and finalizing.
//!
//! # What a header commits to
//!
//! Each header's `state_root` is the root of the state **after** executing
//! that block (its own transactions, then emission and due epochs). A
//! finalized header therefore certifies the state it leaves behind, so RPC
//! can prove values against the newest finalized header without waiting for
//! a child. The price is that a proposer executes the block before proposing
//! it and every verifier re-executes it before voting.
//!
//! # Post-states
//!
//! The [`Executor`] keeps the post-state of every block it has built or
//! verified, keyed by block hash, so a child is executed on its parent's
//! state without replaying history. Finalizing a block drops every kept
//! state at or below its height except its own (the new finalized tip): any
//! other block at those heights lost the race and can never be built on.
//!
//! Nothing here does I/O or reads a clock: the same inputs give the same
//! roots on every node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plexus_ledger::{BlockError, BlockOutcome, Ledger, Signatures};
use plexus_primitives::{
    AccountId, Block, BlockHeader, BlockHeight, ChainId, Hash, MAX_BLOCK_SIZE,
    MAX_BLOCK_TRANSACTIONS, SignedTransaction, transactions_root,
};
use thiserror::Error;

use crate::block::ConsensusBlock;
use crate::mempool::SharedMempool;

/// Room left in [`MAX_BLOCK_SIZE`] for the header and length prefixes when
/// a proposer fills a block.
const BLOCK_OVERHEAD: usize = 4 * 1024;

/// The state after a block, and what the block did.
#[derive(Clone, Debug)]
pub struct Executed {
    /// The block's height.
    pub height: u64,
    /// Receipts, emission and epochs of the block.
    pub outcome: BlockOutcome,
    /// The ledger after the block.
    pub ledger: Arc<Ledger>,
    /// How long executing it took here (for the metrics only).
    pub took: Duration,
}

/// Why a proposed block is invalid. Every variant is permanent: the same
/// block on the same parent is refused by every honest node.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BlockRejected {
    /// The block names another chain.
    #[error("block is for chain {got}, this is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: String,
        /// The block's chain id.
        got: String,
    },
    /// The header does not link to the parent consensus named.
    #[error("block's parent is {got}, expected {expected}")]
    WrongParent {
        /// The parent consensus built on.
        expected: Hash,
        /// The header's parent.
        got: Hash,
    },
    /// The height is not the parent's plus one.
    #[error("block height {got} does not follow parent height {parent}")]
    WrongHeight {
        /// The parent's height.
        parent: u64,
        /// The block's height.
        got: u64,
    },
    /// The header's view or proposer is not the round's.
    #[error("header names view {view} and proposer {proposer}, not the round's")]
    WrongRound {
        /// The header's view.
        view: u64,
        /// The header's proposer.
        proposer: AccountId,
    },
    /// The transactions root does not match the transactions.
    #[error("transactions root does not match the block's transactions")]
    TransactionsRoot,
    /// Too many transactions or bytes.
    #[error("block too large: {transactions} transactions, {bytes} bytes")]
    TooLarge {
        /// Transactions carried.
        transactions: usize,
        /// Encoded size.
        bytes: usize,
    },
    /// A transaction's signature does not verify.
    #[error("transaction {index} has a bad signature")]
    BadSignature {
        /// Its position in the block.
        index: usize,
    },
    /// A transaction that pays no fee, under rules where every transaction in
    /// a block must pay ([`plexus_ledger::LedgerRules::failed_calls_pay`]).
    #[error("transaction {index} pays no fee: {reason}")]
    Uncharged {
        /// Its position in the block.
        index: usize,
        /// Why the ledger did not charge it.
        reason: String,
    },
    /// The ledger refused the block as a whole.
    #[error(transparent)]
    Ledger(#[from] BlockError),
    /// Executing the block gives another state root than the header's.
    #[error("state root {computed} after execution, header says {claimed}")]
    StateRoot {
        /// The root the header claims.
        claimed: Hash,
        /// The root this node computed.
        computed: Hash,
    },
}

/// Executes transactions on a copy of `parent` at the next height.
///
/// The wall clock is read for the execution-time metric only; nothing decides on it, so
/// simulations stay deterministic.
fn execute(
    parent: &Ledger,
    height: u64,
    transactions: &[SignedTransaction],
    signatures: Signatures,
) -> Result<(BlockOutcome, Ledger, Duration), BlockError> {
    let started = Instant::now();
    let mut ledger = parent.clone();
    let outcome = ledger.apply_block(height, transactions, signatures)?;
    Ok((outcome, ledger, started.elapsed()))
}

/// Everything about `block` that can be checked against its parent header
/// without executing it.
pub fn check_structure(
    chain_id: &ChainId,
    parent: &BlockHeader,
    block: &ConsensusBlock,
) -> Result<(), BlockRejected> {
    let header = block.header();
    if header.chain_id != *chain_id {
        return Err(BlockRejected::WrongChain {
            expected: chain_id.to_string(),
            got: header.chain_id.to_string(),
        });
    }
    if header.parent != parent.hash() {
        return Err(BlockRejected::WrongParent {
            expected: parent.hash(),
            got: header.parent,
        });
    }
    if Some(header.height) != parent.height.next() {
        return Err(BlockRejected::WrongHeight {
            parent: parent.height.0,
            got: header.height.0,
        });
    }
    let transactions = block.block().transactions.len();
    if transactions > MAX_BLOCK_TRANSACTIONS || block.encoded().len() > MAX_BLOCK_SIZE {
        return Err(BlockRejected::TooLarge {
            transactions,
            bytes: block.encoded().len(),
        });
    }
    if !block.block().has_valid_transactions_root() {
        return Err(BlockRejected::TransactionsRoot);
    }
    Ok(())
}

/// Which of a block's transaction signatures [`replay`] checks.
#[derive(Clone, Debug)]
pub enum SignatureCheck {
    /// Every one.
    All,
    /// Every one but those of transactions this mempool holds: it checked them on
    /// admission, and a transaction's id hashes its whole signed encoding, so holding
    /// the id means holding those very bytes. With gossip a validator's mempool holds
    /// most of what the next proposer includes.
    NotAdmitted(SharedMempool),
    /// None: the block is finalized, so honest validators checked them.
    None,
}

/// Re-executes `block` on its parent's post-state and checks the claimed
/// state root. The signatures `check` names are verified first; execution
/// itself then trusts them (the same result, done once).
pub fn replay(
    parent: &Ledger,
    block: &Block,
    check: SignatureCheck,
) -> Result<Executed, BlockRejected> {
    let admitted: Vec<bool> = match &check {
        SignatureCheck::All => vec![false; block.transactions.len()],
        SignatureCheck::NotAdmitted(mempool) => {
            // Hashed before locking: proposers and gossip wait on the lock.
            let ids: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
            let pool = mempool.lock();
            block
                .transactions
                .iter()
                .zip(&ids)
                .map(|(tx, id)| pool.holds_id(&tx.tx.signer, tx.tx.nonce, id))
                .collect()
        }
        SignatureCheck::None => vec![true; block.transactions.len()],
    };
    for (index, (tx, admitted)) in block.transactions.iter().zip(admitted).enumerate() {
        if !admitted {
            tx.verify()
                .map_err(|_| BlockRejected::BadSignature { index })?;
        }
    }
    let height = block.header.height.0;
    let (outcome, ledger, took) =
        execute(parent, height, &block.transactions, Signatures::Trusted)?;
    if parent.state().economics.ledger_rules.failed_calls_pay() {
        let uncharged = outcome
            .receipts
            .iter()
            .enumerate()
            .find(|(_, r)| !r.charged);
        if let Some((index, receipt)) = uncharged {
            return Err(BlockRejected::Uncharged {
                index,
                reason: receipt
                    .result
                    .as_ref()
                    .err()
                    .map_or_else(String::new, ToString::to_string),
            });
        }
    }
    if outcome.state_root != block.header.state_root {
        return Err(BlockRejected::StateRoot {
            claimed: block.header.state_root,
            computed: outcome.state_root,
        });
    }
    Ok(Executed {
        height,
        outcome,
        ledger: Arc::new(ledger),
        took,
    })
}

/// A transaction a proposer left out, with why the ledger refused it.
pub type Refused = (SignedTransaction, String);

/// Builds the block following `parent` from `transactions`, which the
/// mempool already checked (signatures included) on admission, leaving out
/// those the ledger would not charge and returning them with why.
///
/// An uncharged transaction changes nothing, not even its fee or nonce, so in
/// a block it would take space for free, again and again (its signed bytes
/// stay valid); under the current rules a block holding one is invalid.
/// Admission checks the envelope against the state of its moment, which the
/// block's earlier transactions can change. Under the original rules a
/// transaction whose call fails is uncharged too. Leaving one out changes
/// nothing for the others, so one more execution without them gives the
/// block.
pub fn build(
    parent: &BlockHeader,
    parent_state: &Ledger,
    mut transactions: Vec<SignedTransaction>,
    proposer: AccountId,
    view: u64,
) -> Result<(ConsensusBlock, Executed, Vec<Refused>), BlockRejected> {
    let height = parent.height.0 + 1;
    let (mut outcome, mut ledger, mut took) =
        execute(parent_state, height, &transactions, Signatures::Trusted)?;
    let mut refused = Vec::new();
    if outcome.receipts.iter().any(|r| !r.charged) {
        let mut kept = Vec::with_capacity(transactions.len());
        for (tx, receipt) in transactions.into_iter().zip(&outcome.receipts) {
            match &receipt.result {
                Err(e) if !receipt.charged => refused.push((tx, e.to_string())),
                _ => kept.push(tx),
            }
        }
        transactions = kept;
        (outcome, ledger, took) =
            execute(parent_state, height, &transactions, Signatures::Trusted)?;
    }
    let block = Block {
        header: BlockHeader {
            chain_id: parent.chain_id.clone(),
            height: BlockHeight(height),
            parent: parent.hash(),
            state_root: outcome.state_root,
            transactions_root: transactions_root(&transactions),
            proposer,
            view,
        },
        transactions,
    };
    let executed = Executed {
        height,
        outcome,
        ledger: Arc::new(ledger),
        took,
    };
    Ok((ConsensusBlock::new(block), executed, refused))
}

/// How much a proposer may put in one block.
#[derive(Clone, Copy, Debug)]
pub struct BlockLimits {
    /// Most transactions per block.
    pub max_transactions: usize,
    /// Most encoded transaction bytes per block.
    pub max_bytes: usize,
}

impl Default for BlockLimits {
    fn default() -> Self {
        Self {
            max_transactions: MAX_BLOCK_TRANSACTIONS,
            max_bytes: MAX_BLOCK_SIZE - BLOCK_OVERHEAD,
        }
    }
}

impl BlockLimits {
    /// Clamps to what any block may carry, so a proposer never builds a block
    /// its peers refuse to decode.
    pub fn clamped(self) -> Self {
        Self {
            max_transactions: self.max_transactions.min(MAX_BLOCK_TRANSACTIONS),
            max_bytes: self.max_bytes.min(MAX_BLOCK_SIZE - BLOCK_OVERHEAD),
        }
    }
}

/// Post-states of built and verified blocks, and the finalized tip.
#[derive(Debug)]
pub struct Executor {
    states: BTreeMap<Hash, Arc<Executed>>,
    finalized: (u64, Hash),
}

impl Executor {
    /// Starts from a finalized block and the ledger after it: the genesis block
    /// and ledger, or a saved state (whose root the caller checked against the
    /// block's header, which it is taken from rather than computed again).
    pub fn new(finalized: &ConsensusBlock, ledger: impl Into<Arc<Ledger>>) -> Self {
        let ledger: Arc<Ledger> = ledger.into();
        let height = ledger.height();
        let executed = Executed {
            height,
            outcome: BlockOutcome {
                height,
                receipts: Vec::new(),
                emission: 0,
                epochs: Vec::new(),
                state_root: finalized.header().state_root,
            },
            ledger,
            took: Duration::ZERO,
        };
        let mut states = BTreeMap::new();
        states.insert(finalized.hash(), Arc::new(executed));
        Self {
            states,
            finalized: (height, finalized.hash()),
        }
    }

    /// The post-state of a block, if this node executed it and it was not
    /// pruned.
    pub fn state(&self, block: &Hash) -> Option<Arc<Executed>> {
        self.states.get(block).cloned()
    }

    /// Height and hash of the last finalized block.
    pub fn finalized(&self) -> (u64, Hash) {
        self.finalized
    }

    /// The post-state of the last finalized block.
    pub fn finalized_state(&self) -> Option<Arc<Executed>> {
        self.state(&self.finalized.1)
    }

    /// Keeps a block's post-state. States at or below the finalized height
    /// are refused: those blocks can never be built on.
    pub fn insert(&mut self, block: Hash, executed: Arc<Executed>) {
        if executed.height > self.finalized.0 {
            self.states.insert(block, executed);
        }
    }

    /// Marks `block` (with its post-state) finalized and forgets every other
    /// state at or below its height.
    pub fn finalize(&mut self, block: Hash, executed: Arc<Executed>) {
        let height = executed.height;
        self.states.insert(block, executed);
        self.states
            .retain(|hash, state| state.height > height || *hash == block);
        self.finalized = (height, block);
    }

    /// States kept (for tests and metrics).
    pub fn len(&self) -> usize {
        self.states.len()
    }

    /// Whether no state is kept (never true: the finalized tip stays).
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisValidator, LedgerRules};
    use plexus_primitives::{Balance, Call, Keypair, Transaction};

    fn key(i: u8) -> Keypair {
        Keypair::from_seed([i; 32])
    }

    fn setup() -> (ConsensusBlock, Ledger) {
        setup_under(LedgerRules::LATEST)
    }

    fn setup_under(ledger_rules: LedgerRules) -> (ConsensusBlock, Ledger) {
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-exec").unwrap(),
            balances: vec![GenesisBalance {
                account: key(1).account_id(),
                balance: Balance::from_rao(100 * Balance::UNIT.rao()),
            }],
            validators: vec![GenesisValidator {
                consensus_key: key(9).account_id(),
                address: None,
            }],
            economics: Economics {
                ledger_rules,
                ..Economics::default()
            },
        };
        let ledger = Ledger::from_genesis(&genesis).unwrap();
        (ConsensusBlock::genesis(genesis.chain_id, &ledger), ledger)
    }

    fn transfer(ledger: &Ledger, nonce: u64) -> SignedTransaction {
        transfer_of(ledger, nonce, Balance::UNIT)
    }

    /// A transfer of nothing passes admission but fails in its block.
    fn zero_transfer(ledger: &Ledger, nonce: u64) -> SignedTransaction {
        transfer_of(ledger, nonce, Balance::ZERO)
    }

    fn transfer_of(ledger: &Ledger, nonce: u64, amount: Balance) -> SignedTransaction {
        Transaction {
            chain_id: ledger.state().chain_id.clone(),
            signer: key(1).account_id(),
            nonce,
            fee: ledger.state().economics.min_fee,
            call: Call::Transfer {
                to: key(2).account_id(),
                amount,
            },
        }
        .sign(&key(1))
    }

    #[test]
    fn built_blocks_replay_to_the_same_root() {
        let (genesis, ledger) = setup();
        let txs = vec![transfer(&ledger, 0), transfer(&ledger, 1)];
        let (block, built, refused) =
            build(genesis.header(), &ledger, txs, key(9).account_id(), 1).unwrap();
        assert!(refused.is_empty());
        assert_eq!(block.header().state_root, built.ledger.state_root());
        assert!(built.outcome.receipts.iter().all(|r| r.result.is_ok()));
        check_structure(&ledger.state().chain_id, genesis.header(), &block).unwrap();
        let replayed = replay(&ledger, block.block(), SignatureCheck::All).unwrap();
        assert_eq!(replayed.outcome, built.outcome);
        assert_eq!(
            replayed
                .ledger
                .state()
                .account(&key(2).account_id())
                .balance,
            Balance::from_rao(2 * Balance::UNIT.rao())
        );
    }

    /// The block a proposer that skipped [`build`]'s filtering would make of
    /// `transactions`: honest roots, whatever it carries.
    fn unfiltered(
        genesis: &ConsensusBlock,
        ledger: &Ledger,
        transactions: Vec<SignedTransaction>,
    ) -> Block {
        let (outcome, _, _) = execute(ledger, 1, &transactions, Signatures::Trusted).unwrap();
        Block {
            header: BlockHeader {
                chain_id: ledger.state().chain_id.clone(),
                height: BlockHeight(1),
                parent: genesis.hash(),
                state_root: outcome.state_root,
                transactions_root: transactions_root(&transactions),
                proposer: key(9).account_id(),
                view: 1,
            },
            transactions,
        }
    }

    #[test]
    fn a_failed_call_pays_and_what_cannot_pay_is_left_out() {
        let (genesis, ledger) = setup();
        let fee = ledger.state().economics.min_fee.rao();
        // The zero transfer fails but uses nonce 1, so a second transaction at
        // nonce 1 can no longer pay and is left out; nonce 2 follows.
        let txs = vec![
            transfer(&ledger, 0),
            zero_transfer(&ledger, 1),
            transfer(&ledger, 1),
            transfer(&ledger, 2),
        ];
        let (block, built, refused) = build(
            genesis.header(),
            &ledger,
            txs.clone(),
            key(9).account_id(),
            1,
        )
        .unwrap();
        assert_eq!(
            block.block().transactions,
            [txs[0].clone(), txs[1].clone(), txs[3].clone()]
        );
        let receipts = &built.outcome.receipts;
        assert!(receipts.iter().all(|r| r.charged));
        assert!(receipts[1].result.is_err() && receipts[2].result.is_ok());
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, txs[2]);
        assert!(refused[0].1.contains("nonce"), "{}", refused[0].1);
        let signer = built.ledger.state().account(&key(1).account_id());
        assert_eq!(signer.nonce, 3);
        assert_eq!(
            signer.balance.rao(),
            98 * Balance::UNIT.rao() - 3 * fee,
            "two transfers and three fees"
        );
        let replayed = replay(&ledger, block.block(), SignatureCheck::All).unwrap();
        assert_eq!(replayed.outcome, built.outcome);

        // A block that carries the one that cannot pay is invalid, though its
        // roots are honest: it would fill blocks for free.
        assert_eq!(
            replay(
                &ledger,
                &unfiltered(&genesis, &ledger, txs),
                SignatureCheck::All
            )
            .unwrap_err(),
            BlockRejected::Uncharged {
                index: 2,
                reason: plexus_ledger::TxError::BadNonce {
                    expected: 2,
                    got: 1
                }
                .to_string()
            }
        );
    }

    #[test]
    fn under_the_original_rules_failed_calls_are_left_out_but_valid() {
        let (genesis, ledger) = setup_under(LedgerRules::ORIGINAL);
        let zero = zero_transfer(&ledger, 1);
        // The refused one changes nothing, so the one after it (nonce 1 again, as the
        // refused one did not use it) still applies.
        let txs = vec![transfer(&ledger, 0), zero.clone(), transfer(&ledger, 1)];
        let (block, built, refused) = build(
            genesis.header(),
            &ledger,
            txs.clone(),
            key(9).account_id(),
            1,
        )
        .unwrap();
        assert_eq!(
            block.block().transactions,
            [transfer(&ledger, 0), transfer(&ledger, 1)]
        );
        assert!(built.outcome.receipts.iter().all(|r| r.result.is_ok()));
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, zero);
        assert!(refused[0].1.contains("amount"), "{}", refused[0].1);
        let replayed = replay(&ledger, block.block(), SignatureCheck::All).unwrap();
        assert_eq!(replayed.outcome, built.outcome);
        // Chains begun under these rules hold blocks that carry refused
        // transactions; they still replay.
        let old = replay(
            &ledger,
            &unfiltered(&genesis, &ledger, txs),
            SignatureCheck::All,
        );
        assert!(!old.unwrap().outcome.receipts[1].charged);
    }

    #[test]
    fn tampered_blocks_are_rejected() {
        let (genesis, ledger) = setup();
        let chain_id = ledger.state().chain_id.clone();
        let (block, _, _) = build(
            genesis.header(),
            &ledger,
            vec![transfer(&ledger, 0)],
            key(9).account_id(),
            1,
        )
        .unwrap();
        let tamper = |f: &dyn Fn(&mut Block)| {
            let mut b = block.block().clone();
            f(&mut b);
            ConsensusBlock::new(b)
        };
        let wrong_root = tamper(&|b| b.header.state_root = Hash::of(b"lie"));
        assert!(matches!(
            replay(&ledger, wrong_root.block(), SignatureCheck::All),
            Err(BlockRejected::StateRoot { .. })
        ));
        let bad_sig = tamper(&|b| b.transactions[0].signature.0[0] ^= 1);
        assert_eq!(
            replay(&ledger, bad_sig.block(), SignatureCheck::All).unwrap_err(),
            BlockRejected::BadSignature { index: 0 }
        );
        // A mempool that admitted the genuine transaction vouches for those bytes
        // alone: the tampered copy is another id, and is still checked.
        let mempool = SharedMempool::default();
        mempool
            .lock()
            .insert(block.block().transactions[0].clone(), &ledger)
            .unwrap();
        let admitted = SignatureCheck::NotAdmitted(mempool);
        assert!(replay(&ledger, block.block(), admitted.clone()).is_ok());
        assert_eq!(
            replay(&ledger, bad_sig.block(), admitted).unwrap_err(),
            BlockRejected::BadSignature { index: 0 }
        );
        let extra_tx = tamper(&|b| b.transactions.push(transfer(&ledger, 1)));
        assert_eq!(
            check_structure(&chain_id, genesis.header(), &extra_tx),
            Err(BlockRejected::TransactionsRoot)
        );
        let orphan = tamper(&|b| b.header.parent = Hash::of(b"elsewhere"));
        assert!(matches!(
            check_structure(&chain_id, genesis.header(), &orphan),
            Err(BlockRejected::WrongParent { .. })
        ));
        let skipped = tamper(&|b| b.header.height = BlockHeight(2));
        assert!(matches!(
            check_structure(&chain_id, genesis.header(), &skipped),
            Err(BlockRejected::WrongHeight { .. })
        ));
        let other_chain = ChainId::new("other").unwrap();
        assert!(matches!(
            check_structure(&other_chain, genesis.header(), &block),
            Err(BlockRejected::WrongChain { .. })
        ));
    }

    #[test]
    fn finalizing_prunes_forks_and_keeps_the_tip() {
        let (genesis, ledger) = setup();
        let mut executor = Executor::new(&genesis, ledger.clone());
        let proposer = key(9).account_id();
        let (a, a_state, _) = build(genesis.header(), &ledger, vec![], proposer, 1).unwrap();
        let (b, b_state, _) = build(
            genesis.header(),
            &ledger,
            vec![transfer(&ledger, 0)],
            proposer,
            2,
        )
        .unwrap();
        let (a, b) = (a.hash(), b.hash());
        executor.insert(a, Arc::new(a_state.clone()));
        executor.insert(b, Arc::new(b_state));
        assert_eq!(executor.len(), 3);
        executor.finalize(a, Arc::new(a_state));
        assert_eq!(executor.finalized(), (1, a));
        assert!(executor.state(&b).is_none() && executor.state(&genesis.hash()).is_none());
        assert!(executor.finalized_state().is_some());
    }
}
