//! The explorer of a running `plexus up` network, in a real browser: Debian's Chromium
//! driven by playwright-core (tests/browser/explorer_check.cjs) watches the height
//! advance, opens subnet 1, finds the miners in the metagraph, sorts it by incentive,
//! and checks the page logs no error and fetches nothing from beyond this machine. The
//! screenshot is kept as a CI artifact: `$PLEXUS_ARTIFACTS/explorer.png`, else
//! `target/ci-artifacts/explorer.png`.
//!
//! Needs Chromium (`apt-get install chromium`; `.ci/run` installs it) and Node.js with
//! npm; playwright-core is installed here, once per machine, into the temporary
//! directory (it downloads no browser of its own).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::up::Up;
/// The playwright-core release the check is pinned to.
const PLAYWRIGHT: &str = "playwright-core@1.65.1";
/// Text miners `plexus up` starts by default.
const TEXT_MINERS: usize = 2;

/// Chromium: `$CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "no Chromium at {}: `apt-get install chromium` (or set CHROMIUM)",
        path.display()
    );
    path
}

/// The playwright-core package directory, installed with npm once per machine.
fn playwright_core() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "plexus-test-{}",
        PLAYWRIGHT.replace(['@', '.'], "-")
    ));
    let package = dir.join("node_modules/playwright-core");
    let ready = dir.join(".ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--no-package-lock",
            ])
            .args(["--loglevel", "error", "--prefix"])
            .arg(&dir)
            .arg(PLAYWRIGHT)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "npm install {PLAYWRIGHT} failed: install Node.js and npm"
        );
        std::fs::write(&ready, PLAYWRIGHT).unwrap();
    }
    package
}

/// Where the screenshot goes.
fn artifacts() -> PathBuf {
    let dir = std::env::var_os("PLEXUS_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2);
            workspace.unwrap().join("target/ci-artifacts")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_browser_watches_a_plexus_up_network_in_the_explorer() {
    let chromium = chromium();
    let playwright = playwright_core();
    let home = std::env::temp_dir().join(format!("plexus-explorer-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let ports = common::port_band();

    let started = Instant::now();
    let mut up = Up::start(&home, ports);
    // The gateway's first answer: miners registered, serving and scored.
    up.wait_for("first answer through the gateway", Duration::from_secs(300));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("network/up.json")).unwrap())
            .unwrap();
    let url = manifest["explorer_url"].as_str().unwrap().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{}/", ports + 7));
    eprintln!(
        "network up in {:.1} s; explorer at {url}",
        started.elapsed().as_secs_f64()
    );

    let screenshot = artifacts().join("explorer.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/explorer_check.cjs");
    let browsing = Instant::now();
    let out = Command::new("node")
        .arg(&script)
        .arg(&url)
        .arg(&screenshot)
        .arg(&chromium)
        .arg(TEXT_MINERS.to_string())
        .env("PLAYWRIGHT_CORE", &playwright)
        .output()
        .expect("node runs (install Node.js)");
    let said = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "{said}browser check took {:.1} s",
        browsing.elapsed().as_secs_f64()
    );
    assert!(
        out.status.success(),
        "the browser check failed:\n{said}\n{}\n(screenshot: {})",
        String::from_utf8_lossy(&out.stderr),
        screenshot.display()
    );
    assert!(screenshot.exists());
    drop(up);
    let _ = std::fs::remove_dir_all(&home);
}
