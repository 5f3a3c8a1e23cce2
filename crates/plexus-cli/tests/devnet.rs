//! A real 4-node devnet on loopback, driven through the `plexus` binary:
//! transactions finalize; with one node killed (`kill -9`) the other three
//! keep finalizing; restarted, it catches up to the same state root.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Devnet, json, plexus};

#[test]
fn a_devnet_survives_a_killed_node_and_heals_it() {
    let mut net = Devnet::init("devnet", 4);
    let dir = net.dir.clone();
    for i in 0..4 {
        net.start_node(i);
    }
    net.wait_height(0, 3, Duration::from_secs(60));

    // A real transfer through the CLI finalizes.
    let bob = json(&dir, &["wallet", "show", "--wallet", "bob", "--json"]).unwrap();
    let bob = bob["coldkey"].as_str().unwrap().to_owned();
    let out = plexus(
        &dir,
        &[
            "transfer",
            "--wallet",
            "alice",
            "--to",
            &bob,
            "--amount",
            "2.5",
            "--json",
            "--rpc",
            &net.rpc[1],
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It names its transaction, which `plexus chain tx` looks up.
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    let hash = said
        .split("transaction ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no transaction hash in {said:?}"));
    let found = json(&dir, &["chain", "tx", hash, "--json", "--rpc", &net.rpc[1]]).unwrap();
    assert_eq!(found["status"], "included", "{found}");
    assert_eq!(found["transaction"]["hash"], hash, "{found}");
    // With --json a script gets the same on stdout, with the block and what was sent.
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(sent["transaction"], hash, "{sent}");
    assert_eq!(sent["block"], found["height"], "{sent} {found}");
    assert_eq!(sent["amount"], 2_500_000_000u64, "{sent}");
    assert_eq!(sent["to"], bob.as_str(), "{sent}");
    assert!(
        found["transaction"]["call"]["Transfer"].is_object(),
        "{found}"
    );
    let text = plexus(&dir, &["chain", "tx", hash, "--rpc", &net.rpc[1]]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("outcome     applied"), "{text}");
    let unknown = "00".repeat(32);
    let text = plexus(&dir, &["chain", "tx", &unknown, "--rpc", &net.rpc[1]]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("is not known to this node"), "{text}");
    // Finalized on the node that took it; every other node has it within moments.
    for rpc in &net.rpc {
        let start = Instant::now();
        loop {
            let balance = json(&dir, &["balance", &bob, "--json", "--rpc", rpc]).unwrap();
            if balance["balance"].as_u64() == Some(1_000_002_500_000_000) {
                break;
            }
            let waited = start.elapsed();
            assert!(
                waited < Duration::from_secs(30),
                "{rpc} never saw the transfer: {balance}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    // The economy through the CLI: a subnet, a validator and a miner, stake,
    // weights, and an epoch that pays the miner.
    let ok = |args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--rpc", net.rpc[0].as_str()]);
        let out = plexus(&dir, &full);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(&["subnet", "create", "--wallet", "alice"]);
    ok(&[
        "subnet", "set", "--wallet", "alice", "--netuid", "1", "--param", "tempo", "--value", "10",
    ]);
    ok(&["register", "--wallet", "bob", "--netuid", "1"]);
    ok(&["register", "--wallet", "charlie", "--netuid", "1"]);
    // Registering again sends nothing: a refused registration would pay its fee.
    let balance = |who: &str| {
        json(
            &dir,
            &["balance", "--wallet", who, "--json", "--rpc", &net.rpc[0]],
        )
        .unwrap()["balance"]
            .clone()
    };
    let before = balance("charlie");
    let again = plexus(
        &dir,
        &[
            "register",
            "--wallet",
            "charlie",
            "--netuid",
            "1",
            "--rpc",
            &net.rpc[0],
        ],
    );
    assert!(again.status.success());
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        said.contains("already registered") && said.contains("nothing sent"),
        "{said}"
    );
    assert_eq!(balance("charlie"), before);
    // The new pool is about as deep as its 100-token lock: 100 more would buy alpha at
    // about twice its price. Refused before it is sent, with what it would cost...
    let bob_before = balance("bob");
    let stake_100 = [
        "stake", "add", "--wallet", "bob", "--netuid", "1", "--amount", "100",
    ];
    let thin = plexus(&dir, &[&stake_100[..], &["--rpc", &net.rpc[0]]].concat());
    assert_eq!(thin.status.code(), Some(2));
    let said = String::from_utf8_lossy(&thin.stderr);
    assert!(
        said.contains("above the pool's price") && said.contains("--tolerance"),
        "{said}"
    );
    assert_eq!(balance("bob"), bob_before, "nothing sent, no fee");
    // ...and staked once the price is accepted.
    ok(&[&stake_100[..], &["--tolerance", "200"]].concat());
    // Permits are handed out at the epoch; then bob's validator weights charlie.
    let mut weights_set = false;
    let start = Instant::now();
    while !weights_set && start.elapsed() < Duration::from_secs(60) {
        let out = plexus(
            &dir,
            &[
                "weights",
                "set",
                "--wallet",
                "bob",
                "--netuid",
                "1",
                "--uids",
                "2",
                "--weights",
                "1",
                "--rpc",
                &net.rpc[0],
            ],
        );
        weights_set = out.status.success();
        if !weights_set {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    assert!(
        weights_set,
        "bob's validator never got a permit to set weights"
    );
    let start = Instant::now();
    loop {
        let graph = json(
            &dir,
            &["metagraph", "--netuid", "1", "--json", "--rpc", &net.rpc[0]],
        )
        .unwrap();
        if graph[2]["incentive"].as_u64() == Some(65_535) && graph[2]["emission"].as_u64() > Some(0)
        {
            assert!(
                graph[1]["dividends"].as_u64() > Some(0),
                "the validator earns dividends"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the miner was never paid: {graph}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // A wrong owner is refused with the ledger's reason and exit code 2.
    let out = plexus(
        &dir,
        &[
            "subnet",
            "set",
            "--wallet",
            "bob",
            "--netuid",
            "1",
            "--param",
            "tempo",
            "--value",
            "20",
            "--rpc",
            &net.rpc[0],
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only the owner of subnet 1"));
    // Bob takes all his stake back without naming its amount.
    let stakes = |who: &str| {
        json(
            &dir,
            &[
                "stake",
                "list",
                "--wallet",
                who,
                "--json",
                "--rpc",
                &net.rpc[0],
            ],
        )
        .unwrap()
    };
    assert!(stakes("bob")[0]["alpha"].as_u64() > Some(0));
    let before = balance("bob");
    ok(&[
        "stake",
        "remove",
        "--wallet",
        "bob",
        "--netuid",
        "1",
        "--all",
        "--tolerance",
        "100",
    ]);
    assert!(balance("bob").as_u64() > before.as_u64());
    let left: u64 = stakes("bob")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["alpha"].as_u64().unwrap())
        .sum();
    // Emission paid between the command's look and its block may stay (a few blocks'
    // worth of a 10-block tempo's dividends at most); the stake itself is gone.
    assert!(left < 20 * 1_000_000_000, "{left}");

    // Kill node 3 outright; three of four keep finalizing. Restarted, it replays its
    // storage, catches up and agrees.
    let target = net.restart_and_catch_up(3, 10);
    assert_eq!(net.root_at(3, target), net.root_at(1, target));
    let _ = std::fs::remove_dir_all(&dir);
}
