//! The text subnet end to end, as real processes on a local devnet: three honest miners
//! running the embedded model, two impostors (fluent text the model did not write; random
//! words, fast) behind the upstream backend, and two validators checking answers by
//! recomputation. After a few tempos the honest miners hold nearly all of the miners'
//! emission and the validators' weights agree.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use common::{Devnet, json, plexus};
use serde_json::{Value, json};

/// An OpenAI-compatible server that answers every chat and completion with `answer()`.
fn impostor(answer: fn(u64) -> String) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let next = move || counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let chat_next = next.clone();
            // Both kinds of request the text subnet sends: chats, and plain text to continue.
            let app = axum::Router::new()
                .route(
                    "/v1/chat/completions",
                    post(move |Json(_): Json<Value>| {
                        let n = chat_next();
                        async move {
                            Json(json!({
                                "choices": [{
                                    "message": {"role": "assistant", "content": answer(n)},
                                    "finish_reason": "stop"
                                }],
                                "usage": {"prompt_tokens": 12}
                            }))
                        }
                    }),
                )
                .route(
                    "/v1/completions",
                    post(move |Json(_): Json<Value>| {
                        let n = next();
                        async move {
                            Json(json!({
                                "choices": [{"text": answer(n), "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 12}
                            }))
                        }
                    }),
                );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

/// Fluent, plausible, and not what the model says.
fn fluent(n: u64) -> String {
    let lines = [
        "Sure! Here is a short answer.",
        "That is a lovely question.",
        "I think it is very nice.",
    ];
    lines[(n % 3) as usize].to_owned()
}

/// Words drawn at random, answered at once.
fn random(n: u64) -> String {
    const WORDS: &[&str] = &[
        "zebra", "quartz", "ocelot", "vivid", "sprocket", "nimbus", "kelp",
    ];
    (0..5)
        .map(|i| WORDS[((n * 7 + i * 3) % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

struct Neurons(Vec<(String, Child)>);

impl Drop for Neurons {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(dir: &Path, models: &Path, name: &str, args: &[&str]) -> (String, Child) {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(args)
        .env("PLEXUS_HOME", dir)
        .env("PLEXUS_PASSWORD", "devnet")
        .env("PLEXUS_MODELS", models)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    (name.to_owned(), child)
}

fn log_tail(dir: &Path, name: &str) -> String {
    let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn models_dir() -> PathBuf {
    plexus_models::testing::test_models_dir()
}

#[test]
fn honest_text_miners_earn_and_impostors_do_not() {
    let models = models_dir();
    let fetched = Command::new(env!("CARGO_BIN_EXE_plexus"))
        .args(["models", "fetch", "--model", "text"])
        .env("PLEXUS_MODELS", &models)
        .output()
        .unwrap();
    assert!(
        fetched.status.success(),
        "{}",
        String::from_utf8_lossy(&fetched.stderr)
    );

    let mut net = Devnet::init("text-subnet", 1);
    let dir = net.dir.clone();
    net.start_node(0);
    net.wait_height(0, 2, Duration::from_secs(60));
    let rpc = net.rpc[0].clone();
    let ok = |args: &[&str]| {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--rpc", rpc.as_str()]);
        let out = plexus(&dir, &full);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Recorded on chain, so neither the miners nor the validators below are told it.
    ok(&["subnet", "create", "--wallet", "alice", "--work", "text"]);
    for (param, value) in [("tempo", "40"), ("weights_rate_limit", "5")] {
        ok(&[
            "subnet", "set", "--wallet", "alice", "--netuid", "1", "--param", param, "--value",
            value,
        ]);
    }
    for v in ["bob", "charlie"] {
        ok(&["register", "--wallet", v, "--netuid", "1"]);
        // The new pool is thin: the price it gives is not what this test is about.
        ok(&[
            "stake",
            "add",
            "--wallet",
            v,
            "--netuid",
            "1",
            "--amount",
            "100",
            "--tolerance",
            "1000",
        ]);
    }
    for hotkey in ["fluent", "random"] {
        let out = Command::new(env!("CARGO_BIN_EXE_plexus"))
            .args(["wallet", "create", "--wallet", "alice", "--hotkey", hotkey])
            .env("PLEXUS_HOME", &dir)
            .env("PLEXUS_PASSWORD", "devnet")
            .env("PLEXUS_KDF_INSECURE_FAST", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let fluent_url = format!("http://{}", impostor(fluent));
    let random_url = format!("http://{}", impostor(random));
    let mut neurons = Neurons(Vec::new());
    let miner = |wallet: &str, hotkey: &str, backend: &str| -> Vec<String> {
        [
            "miner",
            "run",
            "--netuid",
            "1",
            "--wallet",
            wallet,
            "--hotkey",
            hotkey,
            "--backend",
            backend,
            "--rpc",
            &rpc,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let runs = [
        ("dave", miner("dave", "default", "embedded")),
        ("eve", miner("eve", "default", "embedded")),
        ("ferdie", miner("ferdie", "default", "embedded")),
        ("fluent", miner("alice", "fluent", &fluent_url)),
        ("random", miner("alice", "random", &random_url)),
    ];
    for (name, args) in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        neurons.0.push(spawn(&dir, &models, name, &args));
    }
    for v in ["bob", "charlie"] {
        neurons.0.push(spawn(
            &dir,
            &models,
            v,
            &[
                "validator",
                "run",
                "--netuid",
                "1",
                "--wallet",
                v,
                "--round-interval",
                "2",
                "--max-tokens",
                "6",
                "--rpc",
                &rpc,
                // The miners listen on this machine's loopback.
                "--axon-scope",
                "all",
            ],
        ));
    }

    let hotkey = |wallet: &str, name: &str| -> String {
        let shown = json(&dir, &["wallet", "show", "--wallet", wallet, "--json"]).unwrap();
        shown["hotkeys"][name].as_str().unwrap().to_owned()
    };
    let honest: Vec<String> = ["dave", "eve", "ferdie"]
        .iter()
        .map(|w| hotkey(w, "default"))
        .collect();
    let impostors = [hotkey("alice", "fluent"), hotkey("alice", "random")];
    let validators = [hotkey("bob", "default"), hotkey("charlie", "default")];

    // Wait for an epoch that paid miners on weights from both validators, and for both
    // validators' latest weights to cover every honest miner.
    let start = Instant::now();
    let (graph, weights) = loop {
        let graph = json(
            &dir,
            &["metagraph", "--netuid", "1", "--json", "--rpc", &rpc],
        );
        let weights = json(
            &dir,
            &["weights", "show", "--netuid", "1", "--json", "--rpc", &rpc],
        );
        if let (Some(graph), Some(weights)) = (graph, weights) {
            let setters = weights.as_array().map_or(0, Vec::len);
            let paid: u64 = graph
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| honest.iter().chain(&impostors).any(|h| n["hotkey"] == *h))
                .map(|n| n["emission"].as_u64().unwrap_or(0))
                .sum();
            let both_counted = graph
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| validators.iter().any(|v| n["hotkey"] == *v))
                .all(|n| n["validator_trust"].as_u64() > Some(0));
            // Weights set before a validator heard from every honest miner leave one out;
            // wait for the rows that have seen them all.
            let uid = |key: &String| {
                graph
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|n| n["hotkey"] == *key)
                    .and_then(|n| n["uid"].as_u64())
            };
            let all_seen = weights.as_array().unwrap().iter().all(|row| {
                honest.iter().all(|h| {
                    row["weights"].as_array().unwrap().iter().any(|p| {
                        uid(h).is_some_and(|u| p[0].as_u64() == Some(u)) && p[1].as_u64() > Some(0)
                    })
                })
            });
            if setters == 2 && paid > 0 && both_counted && all_seen {
                break (graph, weights);
            }
        }
        if start.elapsed() > Duration::from_secs(240) {
            let tails: Vec<String> = neurons
                .0
                .iter()
                .map(|(name, _)| format!("--- {name}\n{}", log_tail(&dir, name)))
                .collect();
            panic!(
                "no epoch paid miners on both validators' weights covering the honest miners:\n{}",
                tails.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    let emission = |keys: &[String]| -> u64 {
        graph
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| keys.iter().any(|k| n["hotkey"] == *k))
            .map(|n| n["emission"].as_u64().unwrap())
            .sum()
    };
    let (good, bad) = (emission(&honest), emission(&impostors));
    assert!(
        good * 10 >= (good + bad) * 9,
        "honest miners earned {good}, impostors {bad}: {graph}"
    );
    // Both validators weigh the honest miners, and only them.
    let uid_of = |key: &String| -> u64 {
        graph
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["hotkey"] == *key)
            .unwrap()["uid"]
            .as_u64()
            .unwrap()
    };
    let honest_uids: Vec<u64> = honest.iter().map(uid_of).collect();
    for row in weights.as_array().unwrap() {
        let pairs = row["weights"].as_array().unwrap();
        let total: u64 = pairs.iter().map(|p| p[1].as_u64().unwrap()).sum();
        let on_honest: u64 = pairs
            .iter()
            .filter(|p| honest_uids.contains(&p[0].as_u64().unwrap()))
            .map(|p| p[1].as_u64().unwrap())
            .sum();
        assert!(
            on_honest * 10 >= total * 9,
            "validator UID {} puts {on_honest} of {total} on honest miners: {weights}",
            row["uid"]
        );
    }
    // And they agree with each other: both rows cover every honest miner (the wait above)
    // and their normalized shares overlap by at least 0.6. They are moving averages of the
    // answers each validator has seen so far, so they differ a little with when each first
    // heard from each miner; a validator favouring other miners, or paying an impostor,
    // overlaps far less.
    let shares = |row: &serde_json::Value| -> std::collections::BTreeMap<u64, f64> {
        let pairs = row["weights"].as_array().unwrap();
        let total: u64 = pairs.iter().map(|p| p[1].as_u64().unwrap()).sum();
        pairs
            .iter()
            .map(|p| {
                let share = p[1].as_u64().unwrap() as f64 / total.max(1) as f64;
                (p[0].as_u64().unwrap(), share)
            })
            .collect()
    };
    let rows = weights.as_array().unwrap();
    let (a, b) = (shares(&rows[0]), shares(&rows[1]));
    let overlap: f64 = a
        .iter()
        .map(|(uid, w)| w.min(b.get(uid).copied().unwrap_or(0.0)))
        .sum();
    eprintln!("weights overlap {overlap:.3}: {weights}");
    assert!(
        overlap >= 0.6,
        "the validators' weights overlap by {overlap:.2}: {weights}"
    );
    drop(neurons);
    drop(net);
    let _ = std::fs::remove_dir_all(&dir);
}
