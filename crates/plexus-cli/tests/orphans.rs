//! A process `plexus up` or `plexus devnet up` starts stops by itself once that parent is
//! gone, even when the parent died before the child first looked.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Devnet;

#[test]
fn a_node_whose_parent_is_already_gone_stops() {
    let net = Devnet::init("orphan", 1);
    let home = net.dir.join("node-0");
    // The variable names a parent that is not this node's parent any more: as if `up` had
    // died while the node was starting, and the node had been re-parented already.
    let gone = std::process::id().wrapping_add(1_000_000).to_string();
    let mut node = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["node", "--home", home.to_str().unwrap()])
        .env("PLEXUS_PASSWORD", "devnet")
        .env("PLEXUS_EXIT_WITH_PARENT", &gone)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = node.try_wait().unwrap() {
            assert!(status.success(), "a clean stop: {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = node.kill();
            panic!("the node kept running without its parent");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
