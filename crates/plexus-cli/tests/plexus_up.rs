//! `plexus up` as a newcomer runs it, with the official `openai` Python package as the
//! consumer: a chat completion, a streamed one, an embedding, an unknown model's 404, and
//! a miner killed while requests flow without the client seeing an error. Then Ctrl-C,
//! and a second `plexus up` resumes the same chain.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::up::Up;
use serde_json::Value;

/// The `openai` release the check is pinned to.
const OPENAI: &str = "openai==1.109.1";

/// A virtualenv with the `openai` package, made once per machine.
fn python_with_openai() -> PathBuf {
    let venv = std::env::temp_dir().join("plexus-test-openai-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&venv);
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status();
        assert!(
            made.is_ok_and(|s| s.success()),
            "python3 -m venv failed: install python3 and python3-venv"
        );
        let pip = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", OPENAI])
            .status()
            .unwrap();
        assert!(pip.success(), "pip install {OPENAI} failed");
        std::fs::write(&ready, OPENAI).unwrap();
    }
    python
}

fn height(rpc: &str, home: &Path) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["chain", "status", "--json", "--rpc", rpc])
        .env("PLEXUS_HOME", home)
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    status["finalized_height"].as_u64().unwrap_or(0)
}

#[test]
fn the_openai_client_uses_a_plexus_up_network() {
    let python = python_with_openai();
    let home = std::env::temp_dir().join(format!("plexus-up-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let ports = common::port_band();

    let mut up = Up::start(&home, ports);
    let ready = up.wait_for("first answer through the gateway", Duration::from_secs(300));
    eprintln!("{ready}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("network/up.json")).unwrap())
            .unwrap();
    let gateway = manifest["gateway_url"].as_str().unwrap().to_owned();
    let rpc = manifest["rpc_url"].as_str().unwrap().to_owned();
    let victim = manifest["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().starts_with("miner-text"))
        .unwrap()["pid"]
        .as_u64()
        .unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_check.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&gateway)
        .arg(victim.to_string())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the openai client failed:\n{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("12 of 12 requests answered"), "{said}");

    // Ctrl-C stops everything; a second `plexus up` resumes the same chain.
    let before = height(&rpc, &home);
    assert!(before > 0);
    assert!(up.interrupt().success(), "plexus up failed on Ctrl-C");
    let mut again = Up::start(&home, ports);
    again.wait_for("resuming the network", Duration::from_secs(60));
    again.wait_for("first answer through the gateway", Duration::from_secs(300));
    assert!(
        height(&rpc, &home) > before,
        "the resumed chain went on from where it was"
    );
    drop(again);
    let _ = std::fs::remove_dir_all(&home);
}
