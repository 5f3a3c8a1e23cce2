//! `plexus wallet` as a user runs it: keyfiles in a temporary `PLEXUS_HOME`, the password
//! from `PLEXUS_PASSWORD`, and cheap Argon2 parameters (`PLEXUS_KDF_INSECURE_FAST`, a debug
//! build feature) except where the default parameters themselves are checked.

#![allow(clippy::expect_used)] // a test helper that fails should fail loudly

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const PASSWORD: &str = "correct horse battery";

/// Runs `plexus` with `home` as PLEXUS_HOME and `env` added; no terminal on stdin.
fn plexus_env(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plexus"));
    cmd.args(args)
        .env("PLEXUS_HOME", home)
        .env_remove("PLEXUS_PASSWORD")
        .env_remove("PLEXUS_MNEMONIC")
        .env("PLEXUS_KDF_INSECURE_FAST", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("plexus runs")
}

/// Runs `plexus` with the test password.
fn plexus(home: &Path, args: &[&str]) -> Output {
    plexus_env(home, &[("PLEXUS_PASSWORD", PASSWORD)], args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok_json(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn assert_input_error(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(out));
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in: {}",
        stderr(out)
    );
}

fn temp_home() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn create_list_show_regen_and_refuse_overwrite() {
    let home = temp_home();
    let home = home.path();

    // An empty home lists no wallets.
    let empty = ok_json(&plexus(home, &["wallet", "list", "--json"]));
    assert_eq!(empty["wallets"], serde_json::json!([]));

    let created = ok_json(&plexus(
        home,
        &[
            "wallet", "create", "--wallet", "alice", "--hotkey", "miner", "--json",
        ],
    ));
    assert_eq!(created["wallet"], "alice");
    let keys = created["created"].as_array().expect("created keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0]["kind"], "coldkey");
    assert_eq!(keys[1]["kind"], "hotkey");
    assert_eq!(keys[1]["name"], "miner");
    let coldkey = keys[0]["address"].as_str().expect("address").to_owned();
    let hotkey = keys[1]["address"].as_str().expect("address").to_owned();
    assert!(coldkey.starts_with("plx1"));
    assert_eq!(created["coldkey"], coldkey);
    let mnemonic = keys[0]["mnemonic"].as_str().expect("mnemonic").to_owned();
    assert_eq!(mnemonic.split(' ').count(), 12);

    // Keyfiles are private and hold no plaintext secret.
    let coldkey_file = home.join("wallets/alice/coldkey.json");
    let mode = std::fs::metadata(&coldkey_file)
        .expect("coldkey file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&coldkey_file).expect("read keyfile");
    assert!(!text.contains(&mnemonic));
    assert!(text.contains(&coldkey));

    // A second hotkey in the same wallet keeps the coldkey.
    let added_out = plexus(
        home,
        &[
            "wallet",
            "create",
            "--wallet",
            "alice",
            "--hotkey",
            "validator",
            "--json",
        ],
    );
    let added = ok_json(&added_out);
    assert_eq!(added["coldkey"], coldkey);
    assert_eq!(added["created"].as_array().map(Vec::len), Some(1));
    assert!(!stderr(&added_out).contains("not the coldkey's"));
    // One under another password is made, with a note that miners and validators cannot
    // unlock both keys unattended.
    let other = plexus_env(
        home,
        &[("PLEXUS_PASSWORD", "another password")],
        &[
            "wallet", "create", "--wallet", "alice", "--hotkey", "spare", "--json",
        ],
    );
    ok_json(&other);
    assert!(
        stderr(&other).contains("this password is not the coldkey's"),
        "{}",
        stderr(&other)
    );

    let listed = ok_json(&plexus(home, &["wallet", "list", "--json"]));
    let wallets = listed["wallets"].as_array().expect("wallets");
    assert_eq!(wallets.len(), 1);
    assert_eq!(wallets[0]["name"], "alice");
    assert_eq!(wallets[0]["coldkey"], coldkey);
    assert_eq!(wallets[0]["hotkeys"]["miner"], hotkey);
    assert!(wallets[0]["hotkeys"]["validator"].is_string());
    assert!(wallets[0]["hotkeys"]["spare"].is_string());

    // list and show need no password.
    let shown = plexus_env(
        home,
        &[],
        &["wallet", "show", "--wallet", "alice", "--json"],
    );
    let shown = ok_json(&shown);
    assert_eq!(shown, wallets[0]);
    let text = plexus_env(home, &[], &["wallet", "show", "--wallet", "alice"]);
    assert!(text.status.success());
    assert!(stdout(&text).contains(&coldkey));
    assert!(stdout(&text).contains("miner"));

    // The printed mnemonic restores the same coldkey into another wallet.
    let restored = ok_json(&plexus_env(
        home,
        &[
            ("PLEXUS_PASSWORD", "another one"),
            ("PLEXUS_MNEMONIC", &mnemonic),
        ],
        &["wallet", "regen", "--wallet", "bob", "--json"],
    ));
    assert_eq!(restored["address"], coldkey);
    assert_eq!(restored["kind"], "coldkey");
    let listed = ok_json(&plexus(home, &["wallet", "list", "--json"]));
    let names: Vec<_> = listed["wallets"]
        .as_array()
        .expect("wallets")
        .iter()
        .map(|w| w["name"].clone())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(listed["wallets"][1]["coldkey"], coldkey);

    // Existing keys are not replaced without --overwrite.
    let again = plexus(home, &["wallet", "create", "--wallet", "alice"]);
    assert_input_error(&again, "already has a coldkey");
    let again = plexus(
        home,
        &["wallet", "create", "--wallet", "alice", "--hotkey", "miner"],
    );
    assert_input_error(&again, "--overwrite");
    let again = plexus_env(
        home,
        &[
            ("PLEXUS_PASSWORD", PASSWORD),
            ("PLEXUS_MNEMONIC", &mnemonic),
        ],
        &["wallet", "regen", "--wallet", "bob"],
    );
    assert_input_error(&again, "--overwrite");
    let listed_after = ok_json(&plexus(home, &["wallet", "list", "--json"]));
    assert_eq!(listed_after, listed);

    // With --overwrite the hotkey is replaced (a new address) and the coldkey kept.
    let replaced = ok_json(&plexus(
        home,
        &[
            "wallet",
            "create",
            "--wallet",
            "alice",
            "--hotkey",
            "miner",
            "--overwrite",
            "--json",
        ],
    ));
    assert_eq!(replaced["coldkey"], coldkey);
    assert_ne!(replaced["created"][0]["address"], hotkey);
}

#[test]
fn text_output_shows_the_mnemonic_once_with_a_warning() {
    let home = temp_home();
    let out = plexus(home.path(), &["wallet", "create", "--words", "24"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("wallet 'default'"), "{text}");
    assert!(text.contains("write down"), "{text}");
    let phrase = text
        .lines()
        .skip_while(|l| !l.contains("coldkey mnemonic"))
        .nth(1)
        .expect("mnemonic line")
        .trim();
    assert_eq!(phrase.split(' ').count(), 24);
    // Not echoed on stderr, and not shown again.
    assert!(!stderr(&out).contains(phrase));
    let shown = plexus(home.path(), &["wallet", "show"]);
    assert!(shown.status.success());
    assert!(!stdout(&shown).contains(phrase));
}

#[test]
fn missing_inputs_are_input_errors() {
    let home = temp_home();
    let home = home.path();
    // No PLEXUS_PASSWORD and no terminal.
    let out = plexus_env(home, &[], &["wallet", "create"]);
    assert_input_error(&out, "PLEXUS_PASSWORD");
    assert!(!home.join("wallets/default/coldkey.json").exists());

    let out = plexus(home, &["wallet", "show", "--wallet", "nope"]);
    assert_input_error(&out, "plexus wallet create --wallet nope");

    let out = plexus(home, &["wallet", "create", "--wallet", "../escape"]);
    assert_input_error(&out, "invalid wallet name");

    // No mnemonic and no terminal.
    let out = plexus(home, &["wallet", "regen", "--wallet", "w"]);
    assert_input_error(&out, "PLEXUS_MNEMONIC");

    let bad_word = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                    abandon abandon plexus";
    let out = plexus_env(
        home,
        &[("PLEXUS_PASSWORD", PASSWORD), ("PLEXUS_MNEMONIC", bad_word)],
        &["wallet", "regen", "--wallet", "w"],
    );
    assert_input_error(&out, "word 12 is not in the BIP39");
    assert!(!stderr(&out).contains("plexus\""));
    let out = plexus_env(
        home,
        &[
            ("PLEXUS_PASSWORD", PASSWORD),
            ("PLEXUS_MNEMONIC", "abandon about"),
        ],
        &["wallet", "regen", "--wallet", "w"],
    );
    assert_input_error(&out, "12, 15, 18, 21 or 24 words");

    let out = plexus_env(
        home,
        &[("PLEXUS_PASSWORD", "")],
        &["wallet", "create", "--wallet", "w"],
    );
    assert_input_error(&out, "empty");

    let out = plexus(home, &["wallet", "create", "--words", "13"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn regen_known_mnemonic_gives_known_address_and_default_kdf() {
    let home = temp_home();
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                  abandon abandon about";
    // Without the fast switch: the keyfile records the default Argon2 parameters.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_plexus"));
    let out = cmd
        .args([
            "wallet", "regen", "--wallet", "w", "--hotkey", "h", "--json",
        ])
        .env("PLEXUS_HOME", home.path())
        .env("PLEXUS_PASSWORD", "short")
        .env("PLEXUS_MNEMONIC", phrase)
        .env_remove("PLEXUS_KDF_INSECURE_FAST")
        .output()
        .expect("plexus runs");
    let report = ok_json(&out);
    assert_eq!(
        report["address"],
        "plx1xvgtdfncgsv6vuhh2ky4pqvlwervvkkj507phj3gvl007lsmtqpskrk60y"
    );
    assert_eq!(report["kind"], "hotkey");
    assert!(stderr(&out).contains("shorter than 8"), "{}", stderr(&out));
    let file = home.path().join("wallets/w/hotkeys/h.json");
    let keyfile: Value =
        serde_json::from_str(&std::fs::read_to_string(file).expect("keyfile")).expect("json");
    assert_eq!(keyfile["kdf"]["m_cost_kib"], 65536);
    assert_eq!(keyfile["kdf"]["t_cost"], 3);
    assert_eq!(keyfile["kdf"]["p_cost"], 1);
    assert_eq!(keyfile["kind"], "hotkey");
    assert_eq!(keyfile["name"], "h");
    let wallet_dir = home.path().join("wallets/w");
    let mode = std::fs::metadata(wallet_dir)
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}
