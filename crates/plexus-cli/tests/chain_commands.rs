//! Chain commands that would sign something doomed refuse before signing, on a real
//! one-node devnet: a bond to an address where no node answers, weights from a hotkey that
//! cannot pay the fee, and a commit whose salt could never be revealed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{Devnet, json, plexus};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn refused(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in: {}",
        stderr(out)
    );
}

#[test]
fn doomed_transactions_are_refused_before_they_are_signed() {
    let mut net = Devnet::init("chaincmd", 1);
    net.start_node(0);
    net.wait_height(0, 2, Duration::from_secs(60));
    let (dir, rpc) = (net.dir.clone(), net.rpc[0].clone());
    let alice = |dir: &std::path::Path| {
        json(
            dir,
            &["balance", "--wallet", "alice", "--json", "--rpc", &rpc],
        )
        .unwrap()["balance"]
            .clone()
    };
    let before = alice(&dir);

    // A port nothing listens on: bound, then let go.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let bob = json(&dir, &["wallet", "show", "--wallet", "bob", "--json"]).unwrap();
    let key = bob["coldkey"].as_str().unwrap().to_owned();
    let bond = |address: &str| {
        plexus(
            &dir,
            &[
                "chain",
                "bond",
                "--wallet",
                "alice",
                "--consensus-key",
                &key,
                "--address",
                address,
                "--amount",
                "1000",
                "--rpc",
                &rpc,
            ],
        )
    };
    refused(&bond(&dead.to_string()), "no node answers at");

    // A new hotkey holds nothing, and the hotkey pays for weights.
    let created = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["wallet", "create", "--wallet", "alice", "--hotkey", "fresh"])
        .env("PLEXUS_HOME", &dir)
        .env("PLEXUS_PASSWORD", "devnet")
        .env("PLEXUS_KDF_INSECURE_FAST", "1")
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", stderr(&created));
    let weights = |extra: &[&str]| {
        let mut args = vec![
            "weights",
            "set",
            "--wallet",
            "alice",
            "--hotkey",
            "fresh",
            "--netuid",
            "1",
            "--uids",
            "0",
            "--weights",
            "1",
            "--rpc",
            &rpc,
        ];
        args.extend_from_slice(extra);
        plexus(&dir, &args)
    };
    refused(&weights(&[]), "pays their fee");

    // A 33-byte salt: its commit would pass and its reveal never could.
    let salt = "ab".repeat(33);
    let mut commit = vec![
        "weights",
        "commit",
        "--wallet",
        "alice",
        "--hotkey",
        "fresh",
        "--netuid",
        "1",
        "--uids",
        "0",
        "--weights",
        "1",
        "--salt",
        &salt,
        "--rpc",
        &rpc,
    ];
    refused(&plexus(&dir, &commit), "at most 32");
    // A short one would let anyone guess the weights from the commit.
    commit[13] = "";
    refused(&plexus(&dir, &commit), "at least 16");
    let good = "ab".repeat(16);
    commit[13] = &good;
    refused(&plexus(&dir, &commit), "pays their fee");

    assert_eq!(alice(&dir), before, "nothing was signed, nothing was paid");

    // More than alice has: refused before signing, since a transfer the ledger
    // refuses still pays its fee.
    let everything = format!("{}", u64::MAX / 1_000_000_000);
    let out = plexus(
        &dir,
        &[
            "transfer",
            "--wallet",
            "alice",
            "--to",
            "bob",
            "--amount",
            &everything,
            "--rpc",
            &rpc,
        ],
    );
    refused(&out, "alice holds");
    assert_eq!(alice(&dir), before, "nothing was signed, nothing was paid");

    // A call the ledger would refuse is not sent: a dry run on the node says why,
    // and nothing is paid (on chain, a failed call pays its fee and uses its nonce,
    // like a failed extrinsic on the reference chain).
    refused(
        &plexus(
            &dir,
            &[
                "register", "--wallet", "alice", "--netuid", "42", "--rpc", &rpc,
            ],
        ),
        "subnet 42 does not exist",
    );
    assert_eq!(alice(&dir), before, "nothing was signed, nothing was paid");
    let out = plexus(
        &dir,
        &[
            "chain",
            "unbond",
            "--wallet",
            "alice",
            "--consensus-key",
            &key,
            "--amount",
            "1",
            "--rpc",
            &rpc,
        ],
    );
    refused(&out, "the transaction was not sent, and no fee was paid");
    assert!(stderr(&out).contains("no bond"), "{}", stderr(&out));
    assert_eq!(
        alice(&dir),
        before,
        "a call that would fail is not paid for"
    );
    refused(
        &plexus(
            &dir,
            &[
                "transfer", "--wallet", "alice", "--to", "bob", "--amount", "0", "--rpc", &rpc,
            ],
        ),
        "--amount must be more than 0",
    );
}

#[test]
fn negative_amounts_are_named_as_such() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        &["transfer", "--to", "bob", "--amount", "-5"][..],
        &["stake", "remove", "--netuid", "1", "--alpha", "-0.5"],
        &[
            "chain",
            "unbond",
            "--consensus-key",
            "plx18d4z00xwk6jz6c4r4rgz5mcdwdjny9thrh3y8f36cpy2rz6emg5sgajyvf",
            "--amount",
            "-1",
        ],
    ] {
        let out = plexus(home.path(), args);
        // Not "unexpected argument '-5'": the amount parser says what is wrong.
        refused(&out, "must not be negative");
    }
}
