//! `plexus miner run` and `plexus validator run` refuse bad flags with exit code 2 and a
//! message that says what to change, before asking for keys or touching the chain.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use common::plexus;

fn refused(args: &[&str], needle: &str) {
    let home = tempfile::tempdir().unwrap();
    let out = plexus(home.path(), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    // Refused before any wallet was looked for or made.
    assert!(!home.path().join("wallets").exists());
}

#[test]
fn bad_neuron_flags_are_input_errors() {
    refused(
        &[
            "miner",
            "run",
            "--netuid",
            "1",
            "--backend",
            "ftp://api.example.com",
        ],
        "must look like http://host:port",
    );
    refused(
        &[
            "miner",
            "run",
            "--netuid",
            "1",
            "--backend",
            "localhost:8000",
        ],
        "must look like http://host:port",
    );
    refused(
        &["validator", "run", "--netuid", "1", "--axon-scope", "lan"],
        "an axon scope is public, private or all, not \"lan\"",
    );
    refused(
        &["validator", "run", "--netuid", "1", "--spot-check", "2"],
        "--spot-check must be between 0 and 1",
    );
    refused(
        &["validator", "run", "--netuid", "1", "--netuid", "1"],
        "subnet 1 is given twice",
    );
    refused(
        &[
            "validator",
            "run",
            "--netuid",
            "1",
            "--gateway-cors-origin",
            "http://localhost:3000,https://app.example.com/chat",
        ],
        "`https://app.example.com/chat` has a path",
    );
    refused(
        &[
            "validator",
            "run",
            "--netuid",
            "1",
            "--netuid",
            "2",
            "--work",
            "text",
            "--work",
            "text",
            "--work",
            "embeddings",
        ],
        "give one --work per --netuid",
    );
}

#[test]
fn settings_that_would_fail_every_miner_are_refused() {
    refused(
        &["validator", "run", "--netuid", "1", "--sample", "0"],
        "--sample must be at least 1",
    );
    for tokens in ["0", "100000"] {
        refused(
            &["validator", "run", "--netuid", "1", "--max-tokens", tokens],
            "--max-tokens must be 1 to 1024",
        );
    }
    refused(
        &["validator", "run", "--netuid", "1", "--threads", "0"],
        "--threads must be at least 1",
    );
    refused(
        &["miner", "run", "--netuid", "1", "--threads", "0"],
        "--threads must be at least 1",
    );
    refused(
        &["validator", "run", "--netuid", "1", "--round-interval", "0"],
        "--round-interval must be a positive number of seconds",
    );
}

#[test]
fn several_subnets_need_one_work_each() {
    // One --work among several --netuid is ambiguous: subnet 2 would run as text.
    refused(
        &[
            "validator",
            "run",
            "--netuid",
            "1",
            "--work",
            "text",
            "--netuid",
            "2",
        ],
        "2 --netuid but 1 --work: give one --work per --netuid",
    );
}

/// With no node at `--rpc`, both neurons say so before asking for keys or fetching a model.
#[test]
fn an_unreachable_node_is_reported_before_keys_and_models() {
    for args in [
        &["miner", "run", "--netuid", "1"][..],
        &["validator", "run", "--netuid", "1"][..],
    ] {
        let home = tempfile::tempdir().unwrap();
        let models = home.path().join("models");
        let mut full = args.to_vec();
        // Port 1: nothing listens there, so the connection is refused at once.
        full.extend(["--rpc", "http://127.0.0.1:1"]);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_plexus"))
            .args(&full)
            .env("PLEXUS_HOME", home.path())
            .env("PLEXUS_MODELS", &models)
            .env("PLEXUS_PASSWORD", "devnet")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot reach a Plexus node"),
            "{args:?}: {stderr}"
        );
        assert!(!home.path().join("wallets").exists(), "{args:?}");
        assert!(!models.exists(), "{args:?}: a model was fetched");
    }
}

/// `--rpc` is offered by the commands that talk to a node, and only by them.
#[test]
fn only_commands_that_reach_a_node_take_rpc() {
    let home = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let mut full = args.to_vec();
        full.push("--help");
        let out = plexus(home.path(), &full);
        assert!(out.status.success(), "{args:?}");
        String::from_utf8_lossy(&out.stdout).contains("--rpc <")
    };
    for args in [
        &["chain", "status"][..],
        &["subnet", "create"],
        &["stake", "add"],
        &["weights", "show"],
        &["balance"],
        &["transfer"],
        &["register"],
        &["metagraph"],
        &["explorer"],
        &["miner", "run"],
        &["validator", "run"],
    ] {
        assert!(help(args), "{args:?} lacks --rpc");
    }
    for args in [
        &["wallet", "create"][..],
        &["models", "fetch"],
        &["devnet", "init"],
        &["yuma", "simulate"],
        &["up"],
        &["node"],
    ] {
        assert!(!help(args), "{args:?} offers --rpc but never uses a node");
    }
    let out = plexus(
        home.path(),
        &["wallet", "list", "--rpc", "http://127.0.0.1:1"],
    );
    assert_eq!(out.status.code(), Some(2));
}
