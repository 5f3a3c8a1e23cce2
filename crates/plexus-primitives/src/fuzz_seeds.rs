//! Writes the seed corpus for the cargo-fuzz targets in `fuzz/`: one valid input of each
//! shape, so the fuzzers start from deep inside the format instead of rediscovering it.
//!
//! Run with `cargo test -p plexus-primitives write_fuzz_seeds -- --ignored`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::testgen::Arb;
use crate::*;
use proptest::strategy::{Strategy, ValueTree};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn sample_calls() -> Vec<Call> {
    let hotkey = AccountId([2; 32]);
    let netuid = NetUid(1);
    let axon = |ip| AxonInfo {
        ip,
        port: 8091,
        protocol: AxonProtocol::Https,
        version: 1,
    };
    vec![
        Call::Transfer {
            to: hotkey,
            amount: Balance::UNIT,
        },
        Call::CreateSubnet {
            owner_hotkey: hotkey,
            max_lock: Balance::UNIT,
        },
        Call::SetHyperparameter {
            netuid,
            param: Hyperparameter::CommitReveal(true),
        },
        Call::SetSubnetWork {
            netuid,
            work: Work::Embeddings,
        },
        Call::SetHyperparameter {
            netuid,
            param: Hyperparameter::MinBurn(Balance::UNIT),
        },
        Call::Register {
            netuid,
            hotkey,
            max_burn: Balance::UNIT,
        },
        Call::ServeAxon {
            netuid,
            hotkey,
            axon: axon(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        },
        Call::ServeAxon {
            netuid,
            hotkey,
            axon: axon(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        },
        Call::AddStake {
            netuid,
            hotkey,
            amount: Balance::UNIT,
            limit_price: Some(5),
        },
        Call::RemoveStake {
            netuid,
            hotkey,
            alpha: 10,
            limit_price: None,
        },
        Call::SetTake { hotkey, take: 100 },
        Call::SetWeights {
            netuid,
            uids: vec![0, 1, 2],
            weights: vec![10, 20, 30],
            version_key: 1,
        },
        Call::CommitWeights {
            netuid,
            commit: Hash::of(b"commit"),
        },
        Call::RevealWeights {
            netuid,
            uids: vec![0, 1],
            weights: vec![1, 2],
            salt: vec![7; 8],
            version_key: 1,
        },
        Call::BondValidator {
            consensus_key: hotkey,
            address: "10.0.0.1:3000".into(),
            amount: Balance::from_rao(1_000),
        },
        Call::UnbondValidator {
            consensus_key: hotkey,
            amount: Balance::from_rao(500),
        },
        Call::Heartbeat { epoch: 2 },
    ]
}

#[test]
#[ignore = "writes files; run on demand to refresh fuzz/seeds"]
fn write_fuzz_seeds() {
    let default = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds");
    let dir = std::env::var_os("PLEXUS_FUZZ_SEEDS").map_or(default, Into::into);
    let key = Keypair::from_seed([1; 32]);
    let chain = ChainId::new("plexus-devnet").unwrap();
    let txs: Vec<SignedTransaction> = sample_calls()
        .into_iter()
        .enumerate()
        .map(|(nonce, call)| {
            Transaction {
                chain_id: chain.clone(),
                signer: key.account_id(),
                nonce: nonce as u64,
                fee: Balance::from_rao(1_000),
                call,
            }
            .sign(&key)
        })
        .collect();
    for (i, tx) in txs.iter().enumerate() {
        write(
            &dir,
            "decode_signed_transaction",
            &format!("call-{i:02}"),
            &tx.encode(),
        );
    }
    let header = BlockHeader {
        chain_id: chain,
        height: BlockHeight(1),
        parent: Hash::ZERO,
        state_root: Hash::of(b"state"),
        transactions_root: transactions_root(&txs[..3]),
        proposer: key.account_id(),
        view: 4,
    };
    write(&dir, "decode_block_header", "header", &header.encode());
    let block = Block {
        header,
        transactions: txs[..3].to_vec(),
    };
    write(&dir, "decode_block", "block-3", &block.encode());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let random = Block::arb().new_tree(&mut runner).unwrap().current();
    write(&dir, "decode_block", "block-random", &random.encode());
    write(
        &dir,
        "parse_address",
        "account",
        key.account_id().to_string().as_bytes(),
    );
    for (i, amount) in [
        "0",
        "1",
        "1.5",
        "0.000000001",
        "18446744073.709551615",
        "007.10",
    ]
    .iter()
    .enumerate()
    {
        write(
            &dir,
            "parse_balance",
            &format!("amount-{i}"),
            amount.as_bytes(),
        );
    }
}
