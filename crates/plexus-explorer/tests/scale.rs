//! The explorer at the size it must stay usable at: 128 subnets of 256 UIDs,
//! built by transactions on a real ledger behind a real node RPC. Every
//! answer the page needs comes back whole through the proxy, the history
//! follows all 128 subnets, and its memory stays bounded.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{BIG_SUBNETS, BIG_UIDS, big_network, call, http, next_epochs, rpc_post};
use plexus_explorer::history;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_of_128_subnets_of_256_uids_is_explored_whole() {
    let started = Instant::now();
    let node = big_network().await;
    eprintln!(
        "built {BIG_SUBNETS} subnets of {BIG_UIDS} UIDs in {:.1} s (height {})",
        started.elapsed().as_secs_f64(),
        node.height()
    );
    let explorer = node.explorer().await;
    let addr = explorer.local_addr();

    // The overview: every subnet in one call.
    let t = Instant::now();
    let (_, _, body) = http(
        addr,
        "POST",
        "/rpc",
        call(1, "plexus_subnets", json!([])).to_string().as_bytes(),
    )
    .await;
    let subnets: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        subnets["result"].as_array().unwrap().len(),
        usize::from(BIG_SUBNETS)
    );
    eprintln!("subnets: {} KiB in {:?}", body.len() / 1024, t.elapsed());

    // A subnet page: its metagraph in one call, every UID with real scores.
    let t = Instant::now();
    let (_, _, body) = http(
        addr,
        "POST",
        "/rpc",
        call(2, "plexus_metagraph", json!([BIG_SUBNETS]))
            .to_string()
            .as_bytes(),
    )
    .await;
    let graph: Value = serde_json::from_slice(&body).unwrap();
    let graph = graph["result"].as_array().unwrap();
    assert_eq!(graph.len(), usize::from(BIG_UIDS));
    let paid = graph
        .iter()
        .filter(|n| n["incentive"].as_u64().unwrap() > 0)
        .count();
    assert_eq!(paid, usize::from(BIG_UIDS) - 2, "every miner earns");
    eprintln!(
        "one metagraph: {} KiB in {:?}",
        body.len() / 1024,
        t.elapsed()
    );

    // The account page reads every metagraph, a full batch at a time.
    let t = Instant::now();
    let mut read = 0;
    for first in (1..=BIG_SUBNETS).step_by(32) {
        let batch: Vec<Value> = (first..first + 32)
            .map(|n| call(u64::from(n), "plexus_metagraph", json!([n])))
            .collect();
        let answers = rpc_post(addr, Value::Array(batch)).await;
        for a in answers.as_array().unwrap() {
            assert_eq!(a["result"].as_array().unwrap().len(), usize::from(BIG_UIDS));
            read += 1;
        }
    }
    assert_eq!(read, usize::from(BIG_SUBNETS));
    eprintln!("every metagraph in 4 batches: {:?}", t.elapsed());

    // The history samples every subnet's epoch, then the next one.
    let shared = explorer.history();
    let sampled = |epochs: usize| {
        let h = history::read(&shared);
        (1..=BIG_SUBNETS).all(|n| h.samples(n).len() >= epochs)
    };
    let t = Instant::now();
    while !sampled(1) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "not every subnet was sampled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "history of {BIG_SUBNETS} subnets sampled in {:?}",
        t.elapsed()
    );
    next_epochs(&node, 1);
    while !sampled(2) {
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "the next epochs were not sampled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, body) = http(addr, "GET", &format!("/api/history/{BIG_SUBNETS}"), b"").await;
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let epochs = answer["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        assert_eq!(
            e["incentive"].as_array().unwrap().len(),
            usize::from(BIG_UIDS)
        );
        assert_eq!(
            e["emission"].as_array().unwrap().len(),
            usize::from(BIG_UIDS)
        );
    }
    eprintln!("a subnet's history: {} KiB for 2 epochs", body.len() / 1024);
    // Bounded: at most `depth` epochs of 10 bytes per UID per subnet.
    let depth = history::read(&shared).depth();
    eprintln!(
        "the history holds at most {} KiB at this size",
        depth * usize::from(BIG_SUBNETS) * usize::from(BIG_UIDS) * 10 / 1024
    );
}
