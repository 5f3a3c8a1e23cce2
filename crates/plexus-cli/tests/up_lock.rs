//! One `plexus up` (or `plexus devnet up`) per network directory: a second one is refused
//! before it touches anything; and `plexus up` neither panics on a closed stderr nor hides
//! the ranges of its flags.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory for one test.
fn fresh(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plexus-up-lock-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Holds `dir/up.lock` as a running `plexus up` would, naming this process.
fn hold_lock(dir: &Path) -> File {
    std::fs::create_dir_all(dir).unwrap();
    let mut file = File::create(dir.join("up.lock")).unwrap();
    file.try_lock().unwrap();
    writeln!(file, "{}\nplexus up", std::process::id()).unwrap();
    file
}

fn plexus(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(args)
        .env("PLEXUS_HOME", home)
        .env("PLEXUS_PASSWORD", "devnet")
        // Models it must not fetch: a refused `up` stops before them.
        .env("PLEXUS_MODELS", home.join("models"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file under `dir` with its contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The one line of a refusal: exit code 2, naming the directory and the holder.
fn assert_refused(out: &Output, dir: &Path, holder: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("already running the network in")
            && stderr.contains(dir.canonicalize().unwrap().to_str().unwrap())
            && stderr.contains(holder),
        "{stderr}"
    );
}

#[test]
fn a_second_plexus_up_is_refused_without_touching_the_running_network() {
    let home = fresh("up");
    let network = home.join("network");
    std::fs::create_dir_all(network.join("logs")).unwrap();
    std::fs::create_dir_all(network.join("node-0")).unwrap();
    std::fs::write(network.join("devnet.json"), "{}").unwrap();
    std::fs::write(network.join("up.json"), "the running network's").unwrap();
    std::fs::write(network.join("logs/validator.log"), "a log").unwrap();
    std::fs::write(network.join("node-0/node.log"), "a node's log").unwrap();
    let _lock = hold_lock(&network);
    let before = snapshot(&home);

    let out = plexus(&home, &["up", "--plain", "--rpc-port", "1"]);
    let holder = format!("`plexus up` (pid {})", std::process::id());
    assert_refused(&out, &network, &holder);
    assert!(out.stdout.is_empty());
    assert_eq!(snapshot(&home), before, "nothing in the home changed");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn plexus_up_from_the_network_directory_itself_is_refused() {
    // What the banner's `export PLEXUS_HOME=…/network` leaves in another shell.
    let network = fresh("inside").join("network");
    std::fs::create_dir_all(&network).unwrap();
    std::fs::write(network.join("devnet.json"), "{}").unwrap();
    let before = snapshot(&network);
    let out = plexus(&network, &["up"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a network's own directory"), "{stderr}");
    assert_eq!(
        snapshot(&network),
        before,
        "no network made inside the network"
    );
}

#[test]
fn plexus_devnet_up_is_refused_on_a_directory_in_use() {
    let dir = fresh("devnet");
    std::fs::write(dir.join("devnet.json"), "{}").unwrap();
    std::fs::create_dir_all(dir.join("node-0")).unwrap();
    std::fs::write(dir.join("node-0/node.log"), "a node's log").unwrap();
    let _lock = hold_lock(&dir);
    let before = snapshot(&dir);
    let holder = format!("`plexus up` (pid {})", std::process::id());

    let out = plexus(&dir, &["devnet", "up", "--dir", dir.to_str().unwrap()]);
    assert_refused(&out, &dir, &holder);
    // `init --force` would delete the running nodes' homes.
    let out = plexus(
        &dir,
        &["devnet", "init", "--force", "--dir", dir.to_str().unwrap()],
    );
    assert_refused(&out, &dir, &holder);
    assert_eq!(snapshot(&dir), before, "nothing in the devnet changed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_running_devnet_up_holds_its_directory_until_it_stops() {
    let devnet = common::Devnet::init("up-lock", 1);
    let dir = devnet.dir.to_str().unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["devnet", "up", "--dir", dir])
        .env("PLEXUS_PASSWORD", "devnet")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let holder = format!("`plexus devnet up` (pid {})", first.id());
    let lock = devnet.dir.join("up.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains("devnet up")) {
        assert!(Instant::now() < deadline, "no lock taken within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its node has started logging; a second `up` must not truncate that log.
    let log = devnet.dir.join("node-0/node.log");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
        assert!(Instant::now() < deadline, "the node logged nothing in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let logged = std::fs::read(&log).unwrap();

    let out = plexus(&devnet.dir, &["devnet", "up", "--dir", dir]);
    assert_refused(&out, &devnet.dir, &holder);
    assert!(std::fs::read(&log).unwrap().starts_with(&logged));

    let _ = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while first.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = first.kill();
            panic!("plexus devnet up did not stop on Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = first.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!said.contains("kill:"), "{said}");
    // Stopped, it let go: the lock is free again.
    let file = File::options().write(true).open(&lock).unwrap();
    file.try_lock().unwrap();
    let _ = std::fs::remove_dir_all(&devnet.dir);
}

#[test]
fn plexus_up_does_not_panic_when_stderr_is_a_closed_pipe() {
    let home = fresh("stderr");
    let models = plexus_models::testing::test_models_dir();
    for kind in plexus_models::ModelKind::ALL {
        plexus_models::testing::test_model_dir(kind).unwrap();
    }
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // It writes "creating a network" to the closed stderr, then fails (ports past
    // 65535) and reports that there too: an input error, not a panic (101).
    let status = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["up", "--plain", "--validators", "2", "--rpc-port", "65535"])
        .env("PLEXUS_HOME", &home)
        .env("PLEXUS_PASSWORD", "devnet")
        .env("PLEXUS_MODELS", &models)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{status}");
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_help_of_plexus_up_states_the_ranges_of_its_counts() {
    let home = fresh("help");
    let out = plexus(&home, &["up", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    for range in ["1 to 16", "1 to 3", "0 to 3"] {
        assert!(help.contains(range), "{range} missing from:\n{help}");
    }
    let _ = std::fs::remove_dir_all(&home);
}
