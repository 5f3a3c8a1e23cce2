//! A chain in memory for SDK tests: a real `plexus-ledger` that seals one block per
//! submitted transaction, so the loops run without consensus or RPC in between.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    missing_docs
)]

use std::sync::Mutex;

use plexus_ledger::{
    Economics, Genesis, GenesisBalance, GenesisValidator, Ledger, NeuronInfo, Signatures,
    SubnetInfo, SubnetParams,
};
use plexus_primitives::{
    AccountId, Balance, Call, ChainId, Keypair, NetUid, SignedTransaction, Transaction,
};
use plexus_subnets::{Chain, ChainError};

pub const TOKEN: u64 = 1_000_000_000;

pub fn key(name: &str) -> Keypair {
    Keypair::from_seed(*blake3::hash(name.as_bytes()).as_bytes())
}

pub fn id(name: &str) -> AccountId {
    key(name).account_id()
}

/// A ledger behind the SDK's [`Chain`] trait.
pub struct LedgerChain {
    chain_id: ChainId,
    ledger: Mutex<Ledger>,
    /// What the next submission fails with instead of being applied.
    failure: Mutex<Option<ChainError>>,
}

impl LedgerChain {
    /// Every named account (and its `-hot` hotkey) starts with 10,000 tokens; subnets
    /// get `params` by default.
    pub fn new(names: &[&str], params: SubnetParams) -> Self {
        let chain_id = ChainId::new("plexus-sdk-test").unwrap();
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: chain_id.clone(),
            balances: names
                .iter()
                .flat_map(|n| [n.to_string(), format!("{n}-hot")])
                .map(|n| GenesisBalance {
                    account: id(&n),
                    balance: Balance::from_rao(10_000 * TOKEN),
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: id("node"),
                address: None,
            }],
            economics: Economics {
                min_lock: Balance::from_rao(100 * TOKEN),
                subnet_defaults: params,
                ..Economics::default()
            },
        };
        Self {
            chain_id,
            ledger: Mutex::new(Ledger::from_genesis(&genesis).unwrap()),
            failure: Mutex::new(None),
        }
    }

    /// Makes the next submission fail with `error`, applying nothing.
    pub fn fail_next_submit(&self, error: ChainError) {
        *self.failure.lock().unwrap() = Some(error);
    }

    fn seal(&self, txs: &[SignedTransaction]) -> (u64, Vec<Result<(), String>>) {
        let mut ledger = self.ledger.lock().unwrap();
        let height = ledger.height() + 1;
        let out = ledger
            .apply_block(height, txs, Signatures::Verify)
            .expect("next height");
        ledger.state().check_books().expect("books balance");
        let results = out
            .receipts
            .into_iter()
            .map(|r| r.result.map_err(|e| e.to_string()))
            .collect();
        (height, results)
    }

    /// Seals `n` empty blocks.
    pub fn advance(&self, n: u64) {
        for _ in 0..n {
            self.seal(&[]);
        }
    }

    /// Seals empty blocks until the subnet's epoch index passes its current one.
    pub fn next_epoch(&self, netuid: NetUid) {
        let start = self.epoch(netuid);
        while self.epoch(netuid) == start {
            self.seal(&[]);
        }
    }

    pub fn epoch(&self, netuid: NetUid) -> u64 {
        let ledger = self.ledger.lock().unwrap();
        ledger.state().subnet_info(netuid).unwrap().epoch_index
    }

    /// Submits `call` signed by the named key and panics if it is refused.
    pub fn ok(&self, who: &str, call: Call) {
        let description = format!("{call:?}");
        let tx = self.sign(&key(who), call);
        let (_, results) = self.seal(&[tx]);
        if let Err(e) = &results[0] {
            panic!("{who}: {description} refused: {e}");
        }
    }

    /// `name`'s free balance now.
    pub fn balance(&self, name: &str) -> Balance {
        self.ledger
            .lock()
            .unwrap()
            .state()
            .account(&id(name))
            .balance
    }

    pub fn metagraph_now(&self, netuid: NetUid) -> Vec<NeuronInfo> {
        self.ledger
            .lock()
            .unwrap()
            .state()
            .metagraph(netuid)
            .unwrap()
    }

    fn sign(&self, signer: &Keypair, call: Call) -> SignedTransaction {
        let ledger = self.ledger.lock().unwrap();
        let account = signer.account_id();
        Transaction {
            chain_id: self.chain_id.clone(),
            signer: account,
            nonce: ledger.state().account(&account).nonce,
            fee: ledger.state().economics.min_fee,
            call,
        }
        .sign(signer)
    }
}

impl Chain for LedgerChain {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    async fn height(&self) -> Result<u64, ChainError> {
        Ok(self.ledger.lock().unwrap().height())
    }

    async fn subnet(&self, netuid: NetUid) -> Result<SubnetInfo, ChainError> {
        let ledger = self.ledger.lock().unwrap();
        ledger
            .state()
            .subnet_info(netuid)
            .ok_or(ChainError::NoSubnet(netuid))
    }

    async fn hyperparameters(&self, netuid: NetUid) -> Result<SubnetParams, ChainError> {
        let ledger = self.ledger.lock().unwrap();
        ledger
            .state()
            .hyperparameters(netuid)
            .ok_or(ChainError::NoSubnet(netuid))
    }

    async fn metagraph(&self, netuid: NetUid) -> Result<Vec<NeuronInfo>, ChainError> {
        let ledger = self.ledger.lock().unwrap();
        ledger
            .state()
            .metagraph(netuid)
            .ok_or(ChainError::NoSubnet(netuid))
    }

    async fn submit(&self, signer: &Keypair, call: Call) -> Result<u64, ChainError> {
        if let Some(error) = self.failure.lock().unwrap().take() {
            return Err(error);
        }
        let tx = self.sign(signer, call);
        let (height, results) = self.seal(&[tx]);
        match &results[0] {
            Ok(()) => Ok(height),
            Err(e) => Err(ChainError::Refused(e.clone())),
        }
    }
}
