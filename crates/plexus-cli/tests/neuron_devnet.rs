//! `plexus miner run` and `plexus validator run` against a real one-node devnet: what can
//! be checked before registering (the subnet exists, the axon's port is free, the
//! backend answers) is checked first, so a mistake costs neither a burn nor a model
//! download.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{Devnet, json};
use serde_json::Value;

/// Runs `plexus` in the devnet's home with `--rpc` and a models directory of its own.
fn run(dir: &Path, models: &Path, rpc: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(args)
        .args(["--rpc", rpc])
        .env("PLEXUS_HOME", dir)
        .env("PLEXUS_MODELS", models)
        .env("PLEXUS_PASSWORD", "devnet")
        .output()
        .unwrap()
}

/// The command failed on its input (exit code 2) with `needle` in its message, before
/// any model was fetched.
fn refused_before_models(out: &Output, models: &Path, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", stderr(out));
    assert!(stderr(out).contains(needle), "{}", stderr(out));
    assert!(
        !models.exists(),
        "a model was fetched before refusing: {needle}"
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn neurons_check_before_they_pay_or_load() {
    let mut net = Devnet::init("neuron-devnet", 1);
    let dir = net.dir.clone();
    net.start_node(0);
    net.wait_height(0, 2, Duration::from_secs(60));
    let rpc = net.rpc[0].clone();
    let models = dir.join("fresh-models");

    let out = run(
        &dir,
        &models,
        &rpc,
        &["subnet", "create", "--wallet", "alice", "--work", "text"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("subnet 1 trades text work"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The subnet records text: a miner that says embeddings is told so before any model
    // is fetched, and the owner cannot change the kind under its miners.
    let out = run(
        &dir,
        &models,
        &rpc,
        &[
            "miner",
            "run",
            "--netuid",
            "1",
            "--work",
            "embeddings",
            "--wallet",
            "dave",
        ],
    );
    refused_before_models(&out, &models, "subnet 1 trades text work, not embeddings");
    let out = run(
        &dir,
        &models,
        &rpc,
        &[
            "subnet",
            "set",
            "--wallet",
            "alice",
            "--netuid",
            "1",
            "--param",
            "work",
            "--value",
            "embeddings",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already trades text work"),
        "{}",
        stderr(&out)
    );
    // The same again costs nothing and says so.
    let out = run(
        &dir,
        &models,
        &rpc,
        &[
            "subnet", "set", "--wallet", "alice", "--netuid", "1", "--param", "work", "--value",
            "Text",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "subnet 1 already trades text work"
    );

    // A subnet that does not exist: said before any model is fetched.
    let out = run(
        &dir,
        &models,
        &rpc,
        &["miner", "run", "--netuid", "99", "--wallet", "dave"],
    );
    refused_before_models(&out, &models, "subnet 99 does not exist");
    let out = run(
        &dir,
        &models,
        &rpc,
        &[
            "validator",
            "run",
            "--wallet",
            "bob",
            "--netuid",
            "1",
            "--work",
            "text",
            "--netuid",
            "99",
            "--work",
            "embeddings",
        ],
    );
    refused_before_models(&out, &models, "subnet 99 does not exist");

    // The axon's port is taken: the miner stops before registering (no burn), after
    // warning that its backend does not answer.
    let balance = |wallet: &str| -> Value {
        json(
            &dir,
            &["balance", "--wallet", wallet, "--json", "--rpc", &rpc],
        )
        .unwrap()["balance"]
            .clone()
    };
    let neurons = || -> usize {
        json(
            &dir,
            &["metagraph", "--netuid", "1", "--json", "--rpc", &rpc],
        )
        .unwrap()
        .as_array()
        .unwrap()
        .len()
    };
    let (before, registered) = (balance("dave"), neurons());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let out = run(
        &dir,
        &models,
        &rpc,
        &[
            "miner",
            "run",
            "--netuid",
            "1",
            "--wallet",
            "dave",
            "--backend",
            "http://127.0.0.1:1",
            "--listen",
            &listen,
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("Address already in use"), "{err}");
    assert!(
        err.contains("warning: nothing answers at the backend 127.0.0.1:1"),
        "{err}"
    );
    assert!(!err.contains("registered"), "{err}");
    assert_eq!(neurons(), registered, "a neuron registered: {err}");
    assert_eq!(balance("dave"), before, "a burn was paid: {err}");
    drop(taken);
}
