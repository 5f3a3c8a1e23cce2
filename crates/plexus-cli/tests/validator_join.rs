//! A new validator joins a running 4-node devnet with real processes: `plexus node
//! init` writes its home, `plexus chain bond` seats it at the next consensus epoch
//! beside the genesis validators (bonded at genesis), and it catches up to the same
//! state root; a genesis validator killed and restarted after the boundary replays
//! across it and agrees; and then the chain needs the newcomer's votes: with one
//! genesis validator killed, four of five finalize only if it signs.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Devnet, json, plexus};
use serde_json::Value;

/// Blocks per consensus epoch: a few seconds of an idle debug devnet.
const EPOCH_LENGTH: &str = "30";

fn ok(net: &Devnet, args: &[&str]) -> String {
    let out = plexus(&net.dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `check` every 200 ms until it returns a value or `within` passes.
fn wait_for<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn keys_of(seats: &Value) -> Vec<String> {
    seats
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["consensus_key"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_bonded_node_joins_the_validator_set_and_signs() {
    let mut net = Devnet::init_with("join", 4, &["--epoch-length", EPOCH_LENGTH]);
    for i in 0..4 {
        net.start_node(i);
    }
    net.wait_height(0, 2, Duration::from_secs(60));
    let rpc0 = net.rpc[0].clone();

    // The newcomer's home: its own consensus key, the network's genesis, peers from it.
    let (p2p_port, rpc_port) = net.extra_ports(0);
    let home = net.dir.join("node-4");
    let p2p = format!("127.0.0.1:{p2p_port}");
    let out = ok(
        &net,
        &[
            "node",
            "init",
            "--home",
            home.to_str().unwrap(),
            "--genesis",
            net.dir.join("genesis.toml").to_str().unwrap(),
            "--p2p",
            &p2p,
            "--rpc-listen",
            &format!("127.0.0.1:{rpc_port}"),
        ],
    );
    let key = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("consensus key"))
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|| panic!("no consensus key in {out}"));
    let again = plexus(
        &net.dir,
        &[
            "node",
            "init",
            "--home",
            home.to_str().unwrap(),
            "--genesis",
            net.dir.join("genesis.toml").to_str().unwrap(),
        ],
    );
    assert_eq!(again.status.code(), Some(2), "a second init is refused");
    let newcomer = net.add_node(format!("http://127.0.0.1:{rpc_port}"));
    net.start_node(newcomer);

    // The genesis four are bonded at genesis; the newcomer's bond adds a fifth seat.
    let out = ok(
        &net,
        &[
            "chain",
            "bond",
            "--wallet",
            "bob",
            "--consensus-key",
            &key,
            "--address",
            &p2p,
            "--amount",
            "1000",
            "--rpc",
            &rpc0,
        ],
    );
    assert!(out.contains("joins the validator set at height"), "{out}");
    // Its bond makes it a candidate at once: validators let its node follow the chain.
    let sets = json(&net.dir, &["chain", "validators", "--json", "--rpc", &rpc0]).unwrap();
    assert!(keys_of(&sets["candidates"]).contains(&key), "{sets}");
    // It ranks among candidates by the epoch it was made in, which the chain shows.
    let made_in = sets["candidates"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["consensus_key"].as_str() == Some(&key)))
        .and_then(|c| c["bonded_in"].as_u64());
    assert!(
        made_in.is_some_and(|e| Some(e) <= sets["epoch"].as_u64()),
        "{sets}"
    );
    // Once its running node has sent its heartbeat (signed by the consensus key,
    // gossiped to the proposers), it is in the next set with the four.
    wait_for(
        "the newcomer's heartbeat to put it in the next set",
        Duration::from_secs(30),
        || {
            let sets = json(&net.dir, &["chain", "validators", "--json", "--rpc", &rpc0])?;
            let next = keys_of(&sets["next"]);
            (next.len() == 5 && next.contains(&key)).then_some(())
        },
    );

    // At the next epoch boundary it is in the set that signs.
    let joined_at = wait_for(
        "the newcomer to be seated",
        Duration::from_secs(120),
        || {
            let sets = json(&net.dir, &["chain", "validators", "--json", "--rpc", &rpc0])?;
            let current = keys_of(&sets["current"]);
            (current.len() == 5 && current.contains(&key)).then(|| sets["first_height"].as_u64())?
        },
    );

    // It followed the chain and agrees with the others.
    let target = net.finalized(0).max(joined_at);
    net.wait_height(newcomer, target, Duration::from_secs(90));
    assert_eq!(net.root_at(newcomer, target), net.root_at(0, target));

    // A restart after the boundary replays epoch 0, re-enters the new set's epoch
    // and catches up.
    net.restart_and_catch_up(1, 5);

    // Peers are counted live: node 0 sees the other four.
    wait_for("node 0 to count 4 peers", Duration::from_secs(30), || {
        (net.status(0)?["peers"].as_u64()? == 4).then_some(())
    });

    // Five validators need four votes: with node 3 gone the chain moves on only
    // because the newcomer signs.
    net.kill(3);
    let before = net.finalized(0);
    net.wait_height(0, before + 10, Duration::from_secs(90));
    net.wait_height(newcomer, before + 10, Duration::from_secs(30));
    assert_eq!(
        net.root_at(newcomer, before + 10),
        net.root_at(1, before + 10)
    );
    wait_for("node 0 to count 3 peers", Duration::from_secs(30), || {
        (net.status(0)?["peers"].as_u64()? == 3).then_some(())
    });
    let _ = std::fs::remove_dir_all(&net.dir);
}
