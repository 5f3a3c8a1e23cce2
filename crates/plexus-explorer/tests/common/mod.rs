//! A real node RPC on loopback over a chain finalized by hand (consensus is
//! stood in for, as in the node's own RPC tests), and a plain HTTP client.

#![allow(
    dead_code,
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use plexus_explorer::{Explorer, ExplorerConfig};
use plexus_ledger::{Economics, Genesis, GenesisBalance, GenesisValidator, Ledger, Signatures};
use plexus_node::mempool::{Mempool, MempoolLimits, SharedMempool};
use plexus_node::rpc::{self, RpcConfig, RpcServer};
use plexus_node::store::ChainStore;
use plexus_primitives::{
    Balance, Block, BlockHeader, BlockHeight, Call, ChainId, Hash, Keypair, SignedTransaction,
    Transaction, transactions_root,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TOKEN: u64 = 1_000_000_000;

/// A key from a number: reproducible, and distinct for distinct numbers.
pub fn key(i: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 1;
    Keypair::from_seed(seed)
}

pub struct Node {
    pub store: ChainStore,
    pub mempool: SharedMempool,
    pub rpc: SocketAddr,
    _handle: jsonrpsee::server::ServerHandle,
}

impl Node {
    /// A chain whose genesis funds each key with its tokens.
    pub async fn start(economics: Economics, funded: &[(&Keypair, u64)]) -> Self {
        let genesis = Genesis {
            bonds: Vec::new(),
            chain_id: ChainId::new("plexus-explorer-test").unwrap(),
            balances: funded
                .iter()
                .map(|(k, tokens)| GenesisBalance {
                    account: k.account_id(),
                    balance: Balance::from_rao(tokens * TOKEN),
                })
                .collect(),
            validators: vec![GenesisValidator {
                consensus_key: key(u32::MAX).account_id(),
                address: None,
            }],
            economics,
        };
        let store = ChainStore::new(Ledger::from_genesis(&genesis).unwrap());
        let mempool = SharedMempool::new(Mempool::new(MempoolLimits::default()));
        let server = RpcServer::new(
            store.clone(),
            mempool.clone(),
            Arc::new(AtomicUsize::new(0)),
        );
        let (rpc, handle) =
            rpc::start("127.0.0.1:0".parse().unwrap(), RpcConfig::default(), server)
                .await
                .unwrap();
        Self {
            store,
            mempool,
            rpc,
            _handle: handle,
        }
    }

    /// `signer`'s transaction with its next nonce plus `offset` (for several
    /// in one block).
    pub fn tx(&self, signer: &Keypair, offset: u64, call: Call) -> SignedTransaction {
        let ledger = self.store.ledger();
        let state = ledger.state();
        Transaction {
            chain_id: state.chain_id.clone(),
            signer: signer.account_id(),
            nonce: state.account(&signer.account_id()).nonce + offset,
            fee: state.economics.min_fee,
            call,
        }
        .sign(signer)
    }

    /// Finalizes one block of `txs`, as consensus would; every one must apply.
    pub fn finalize(&self, txs: Vec<SignedTransaction>) {
        let mut next = (*self.store.ledger()).clone();
        let height = next.height() + 1;
        let outcome = next.apply_block(height, &txs, Signatures::Trusted).unwrap();
        for r in &outcome.receipts {
            assert!(r.result.is_ok(), "{:?}", r.result);
        }
        let header = BlockHeader {
            chain_id: next.state().chain_id.clone(),
            height: BlockHeight(height),
            parent: Hash::ZERO,
            state_root: outcome.state_root,
            transactions_root: transactions_root(&txs),
            proposer: key(u32::MAX).account_id(),
            view: height,
        };
        let block = Block {
            header,
            transactions: txs,
        };
        self.store.finalize(block, outcome, Arc::new(next));
    }

    pub fn height(&self) -> u64 {
        self.store.ledger().height()
    }

    pub async fn explorer(&self) -> Explorer {
        self.explorer_with(|_| {}).await
    }

    /// An explorer over this node with its configuration changed by `change`.
    pub async fn explorer_with(&self, change: impl FnOnce(&mut ExplorerConfig)) -> Explorer {
        let mut config = ExplorerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            format!("http://{}", self.rpc),
        );
        config.poll_interval = Duration::from_millis(50);
        change(&mut config);
        Explorer::start(config).await.unwrap()
    }
}

/// One HTTP/1.0 exchange: status, headers (lower-cased names) and body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // A refused body may be answered before it is all sent.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    (
        status.parse().unwrap(),
        headers,
        response[split + 4..].to_vec(),
    )
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `POST /rpc` answered 200; its JSON.
pub async fn rpc_post(addr: SocketAddr, body: Value) -> Value {
    let (status, _, body) = http(addr, "POST", "/rpc", body.to_string().as_bytes()).await;
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

pub fn call(id: u64, method: &str, params: Value) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// The size the explorer must stay usable at.
pub const BIG_SUBNETS: u16 = 128;
/// UIDs per subnet at that size.
pub const BIG_UIDS: u16 = 256;

/// The coldkey owning every subnet and hotkey of the big network.
pub fn big_owner() -> Keypair {
    key(1)
}

/// Subnet `netuid`'s validator hotkey (UID 1), which stakes and sets weights.
pub fn big_validator(netuid: u16) -> Keypair {
    key(200_000 + u32::from(netuid))
}

/// A node whose chain holds [`BIG_SUBNETS`] subnets of [`BIG_UIDS`] UIDs each:
/// per subnet the owner's hotkey (UID 0), a staked validator (UID 1) weighting
/// every miner by its UID, and miners filling the rest, past two epochs, so
/// every metagraph holds real consensus, incentive and emission. Built by
/// transactions through the ledger, as a chain would be.
pub async fn big_network() -> Node {
    let owner = big_owner();
    let validators: Vec<Keypair> = (1..=BIG_SUBNETS).map(big_validator).collect();
    // The validators' hotkeys sign their weights, so they pay fees.
    let mut funded = vec![(&owner, 100_000)];
    funded.extend(validators.iter().map(|v| (v, 10)));
    let economics = Economics {
        subnet_limit: BIG_SUBNETS,
        min_lock: Balance::from_rao(TOKEN),
        // The lock price is back at its minimum one block after a creation.
        lock_reduction_interval: 1,
        // Registration does not get dearer, so one coldkey can fill every subnet.
        burn_increase_ppm: 1_000_000,
        subnet_defaults: plexus_ledger::SubnetParams {
            tempo: 50,
            weights_rate_limit: 0,
            activity_cutoff: 10_000,
            immunity_period: 10_000,
            max_allowed_uids: BIG_UIDS,
            min_burn: Balance::from_rao(TOKEN / 1_000),
            ..plexus_ledger::SubnetParams::default()
        },
        ..Economics::default()
    };
    let node = Node::start(economics, &funded).await;
    for netuid in 1..=BIG_SUBNETS {
        let call = Call::CreateSubnet {
            owner_hotkey: key(100_000 + u32::from(netuid)).account_id(),
            max_lock: Balance::from_rao(10 * TOKEN),
        };
        node.finalize(vec![node.tx(&owner, 0, call)]);
    }
    // Registrations, a few subnets' worth per block; the validator first, as UID 1.
    let mut batch = Vec::new();
    for netuid in 1..=BIG_SUBNETS {
        for uid in 1..BIG_UIDS {
            let hotkey = if uid == 1 {
                big_validator(netuid).account_id()
            } else {
                key(1_000_000 + u32::from(netuid) * 1_000 + u32::from(uid)).account_id()
            };
            let call = Call::Register {
                netuid: plexus_primitives::NetUid(netuid),
                hotkey,
                max_burn: Balance::from_rao(TOKEN),
            };
            batch.push(node.tx(&owner, batch.len() as u64, call));
        }
        let stake = Call::AddStake {
            netuid: plexus_primitives::NetUid(netuid),
            hotkey: big_validator(netuid).account_id(),
            amount: Balance::from_rao(100 * TOKEN),
            limit_price: None,
        };
        batch.push(node.tx(&owner, batch.len() as u64, stake));
        if batch.len() >= 2_048 || netuid == BIG_SUBNETS {
            node.finalize(std::mem::take(&mut batch));
        }
    }
    next_epochs(&node, 1);
    let miners: Vec<u16> = (2..BIG_UIDS).collect();
    let weights: Vec<u16> = miners.iter().map(|uid| uid * 100).collect();
    let txs = validators
        .iter()
        .zip(1..)
        .map(|(v, netuid)| {
            let call = Call::SetWeights {
                netuid: plexus_primitives::NetUid(netuid),
                uids: miners.clone(),
                weights: weights.clone(),
                version_key: 0,
            };
            node.tx(v, 0, call)
        })
        .collect();
    node.finalize(txs);
    next_epochs(&node, 1);
    node
}

/// Empty blocks until every subnet has run `n` more epochs.
pub fn next_epochs(node: &Node, n: u64) {
    let epochs = |node: &Node| -> Vec<u64> {
        let ledger = node.store.ledger();
        ledger
            .state()
            .subnets
            .values()
            .map(|s| s.epoch_index)
            .collect()
    };
    let target: Vec<u64> = epochs(node).iter().map(|e| e + n).collect();
    while epochs(node).iter().zip(&target).any(|(e, t)| e < t) {
        node.finalize(Vec::new());
    }
}
