//! The explorer over a network of 128 subnets of 256 UIDs, to see and time the page at
//! the size it must stay usable at: `cargo run -p plexus-explorer --example big_network`
//! and open the URL it prints. The chain is built by transactions on a real ledger
//! behind a real node RPC (the scale test's), then finalizes an empty block every
//! 200 ms so the head moves and epochs keep coming. Ctrl-C stops it.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

#[tokio::main]
async fn main() {
    eprintln!(
        "building {} subnets of {} UIDs…",
        common::BIG_SUBNETS,
        common::BIG_UIDS
    );
    let node = common::big_network().await;
    let explorer = node.explorer().await;
    println!("explorer at {}", explorer.url());
    println!("node RPC at http://{}", node.rpc);
    println!(
        "the owner of every subnet: {}",
        common::big_owner().account_id()
    );
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    // One listener for the whole run: a Ctrl-C that lands while a block is being
    // finalized is still seen.
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => node.finalize(Vec::new()),
        }
    }
}
