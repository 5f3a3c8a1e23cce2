//! Commands signing with one key at the same time, as a validator's tasks for two subnets
//! do: each reads the same next nonce, and all but the first find another transaction
//! waiting at it. Each must try again at the nonce after, not fail. Two identical commands
//! sign identical bytes (ed25519 is deterministic), and the node says the second's is not
//! new: it too must try again at the next nonce, so that two transfers move twice the amount.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Devnet, json};

#[test]
fn transfers_signed_by_one_key_at_once_all_land() {
    let mut net = Devnet::init("onekey", 1);
    net.start_node(0);
    net.wait_height(0, 2, Duration::from_secs(60));
    let (dir, rpc) = (net.dir.clone(), net.rpc[0].clone());
    let balance = |wallet: &str| {
        json(
            &dir,
            &["balance", "--wallet", wallet, "--json", "--rpc", &rpc],
        )
        .unwrap()["balance"]
            .as_u64()
            .unwrap()
    };
    let before = balance("bob");
    // The last two are the same transfer.
    const AMOUNTS: [u64; 5] = [1, 2, 3, 4, 4];
    let transfers: Vec<_> = AMOUNTS
        .iter()
        .map(|amount| {
            let amount = amount.to_string();
            Command::new(env!("CARGO_BIN_EXE_plexus"))
                .args([
                    "transfer", "--wallet", "alice", "--to", "bob", "--amount", &amount, "--rpc",
                    &rpc,
                ])
                .env("PLEXUS_HOME", &dir)
                .env("PLEXUS_PASSWORD", "devnet")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for transfer in transfers {
        let out = transfer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let token = 1_000_000_000;
    assert_eq!(balance("bob") - before, AMOUNTS.iter().sum::<u64>() * token);
}
