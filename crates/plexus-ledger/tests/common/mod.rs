//! A small chain for tests: named, funded keys and one-call blocks.

#![allow(dead_code, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;

use plexus_ledger::{
    BlockOutcome, Economics, Genesis, GenesisBalance, GenesisValidator, Ledger, Receipt,
    Signatures, State, SubnetParams, TxError,
};
use plexus_primitives::{
    AccountId, Balance, Call, ChainId, Keypair, SignedTransaction, Transaction,
};

pub const TOKEN: u64 = 1_000_000_000;

pub fn key(name: &str) -> Keypair {
    let seed = *blake3::hash(name.as_bytes()).as_bytes();
    Keypair::from_seed(seed)
}

pub fn id(name: &str) -> AccountId {
    key(name).account_id()
}

/// `state` with `signer`'s fee paid and nonce used and nothing else changed:
/// what a transaction whose call fails leaves behind.
pub fn with_fee_paid(state: &State, signer: &AccountId, fee: Balance) -> State {
    let mut charged = state.clone();
    let account = charged.accounts.get_mut(signer).expect("the signer pays");
    account.balance = Balance::from_rao(account.balance.rao() - fee.rao());
    account.nonce += 1;
    charged.totals.burned += fee.rao();
    charged.totals.fees += fee.rao();
    charged
}

/// Economics for tests: short tempo, no rate limits, cheap subnets.
pub fn test_economics() -> Economics {
    Economics {
        min_lock: Balance::from_rao(100 * TOKEN),
        min_validator_bond: Balance::from_rao(100 * TOKEN),
        subnet_defaults: SubnetParams {
            tempo: 10,
            weights_rate_limit: 0,
            immunity_period: 20,
            activity_cutoff: 1_000,
            max_allowed_uids: 16,
            min_burn: Balance::from_rao(TOKEN / 10),
            ..SubnetParams::default()
        },
        ..Economics::default()
    }
}

pub struct Chain {
    pub ledger: Ledger,
}

impl Chain {
    /// Every named account starts with 10,000 tokens.
    pub fn new(names: &[&str], economics: Economics) -> Self {
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-test").expect("valid chain id"),
            balances: names
                .iter()
                .map(|n| GenesisBalance {
                    account: id(n),
                    balance: Balance::from_rao(10_000 * TOKEN),
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: id("validator-node"),
                address: None,
            }],
            economics,
        };
        Self {
            ledger: Ledger::from_genesis(&genesis).expect("genesis is valid"),
        }
    }

    pub fn tx(&self, who: &str, call: Call) -> SignedTransaction {
        let signer = id(who);
        Transaction {
            chain_id: self.ledger.state().chain_id.clone(),
            signer,
            nonce: self.ledger.state().account(&signer).nonce,
            fee: self.ledger.state().economics.min_fee,
            call,
        }
        .sign(&key(who))
    }

    /// One block holding one call; the call's result, which a dry run on the
    /// state before predicted (and left that state as it was).
    pub fn send(&mut self, who: &str, call: Call) -> Result<(), TxError> {
        let tx = self.tx(who, call);
        let before = self.ledger.clone();
        let predicted = self.ledger.dry_run(&tx);
        assert_eq!(
            self.ledger.state(),
            before.state(),
            "a dry run changed the state"
        );
        let out = self.block(vec![tx]);
        let result = out.receipts[0].result.clone();
        assert_eq!(predicted, result, "the dry run foretold another outcome");
        result
    }

    /// `node`'s heartbeat for `epoch`, signed by its consensus key, free, as its
    /// node sends it.
    pub fn heartbeat_tx(&self, node: &str, epoch: u64) -> SignedTransaction {
        let signer = id(node);
        Transaction {
            chain_id: self.ledger.state().chain_id.clone(),
            signer,
            nonce: self.ledger.state().account(&signer).nonce,
            fee: Balance::ZERO,
            call: Call::Heartbeat { epoch },
        }
        .sign(&key(node))
    }

    /// One block holding `node`'s heartbeat for the next block's epoch; its
    /// receipt.
    pub fn beat(&mut self, node: &str) -> Receipt {
        let epoch = self.ledger.state().validator_epoch();
        let tx = self.heartbeat_tx(node, epoch);
        self.block(vec![tx]).receipts.remove(0)
    }

    pub fn ok(&mut self, who: &str, call: Call) {
        let description = format!("{call:?}");
        if let Err(e) = self.send(who, call) {
            panic!("{who}: {description} failed: {e}");
        }
    }

    pub fn block(&mut self, txs: Vec<SignedTransaction>) -> BlockOutcome {
        let height = self.ledger.height() + 1;
        let out = self
            .ledger
            .apply_block(height, &txs, Signatures::Verify)
            .expect("next height");
        if let Err(e) = self.ledger.state().check_books() {
            panic!("books do not balance after block {height}: {e}");
        }
        out
    }

    /// Empty blocks until (and including) `height`.
    pub fn advance_to(&mut self, height: u64) -> Vec<BlockOutcome> {
        let mut outs = Vec::new();
        while self.ledger.height() < height {
            outs.push(self.block(Vec::new()));
        }
        outs
    }

    pub fn balance(&self, name: &str) -> u64 {
        self.ledger.state().balance(&id(name)).rao()
    }

    pub fn stake(&self, netuid: u16, hotkey: &str, coldkey: &str) -> u64 {
        self.ledger
            .state()
            .stakes
            .get(&(plexus_primitives::NetUid(netuid), id(hotkey)))
            .map_or(0, |s| s.value_of(&id(coldkey)))
    }
}

pub fn balance(tokens: u64) -> Balance {
    Balance::from_rao(tokens * TOKEN)
}

pub fn by_name(names: &[&str]) -> BTreeMap<AccountId, String> {
    names.iter().map(|n| (id(n), n.to_string())).collect()
}
