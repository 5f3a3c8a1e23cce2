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
