//! The state commitment over 100,000 entries of an account's size: the root alone (what
//! every block computes), the whole tree (what RPC builds to prove), and one proof made and
//! checked (what a light client does).

#![allow(missing_docs, clippy::expect_used)]

use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use plexus_primitives::{MerkleTree, merkle_root};

fn entries() -> Vec<(Vec<u8>, Vec<u8>)> {
    (0u64..100_000)
        .map(|i| {
            let key = format!("state/account/{i:026}").into_bytes();
            let value = blake3::hash(&i.to_le_bytes()).as_bytes()[..]
                .iter()
                .chain(&i.to_le_bytes())
                .copied()
                .collect();
            (key, value)
        })
        .collect()
}

fn merkle(c: &mut Criterion) {
    let entries = entries();
    let tree = MerkleTree::new(entries.clone()).expect("sorted, distinct keys");
    let root = tree.root();
    let (key, value) = &entries[entries.len() / 3];

    let mut group = c.benchmark_group("merkle_100k");
    group.sample_size(20);
    group.bench_function("root", |b| {
        b.iter(|| merkle_root(entries.iter().map(|(k, v)| (k, v))).expect("root"))
    });
    group.bench_function("tree", |b| {
        b.iter_batched(
            || entries.clone(),
            |e| MerkleTree::new(e).expect("tree"),
            BatchSize::LargeInput,
        )
    });
    group.bench_function("prove_and_verify", |b| {
        b.iter(|| {
            tree.prove(black_box(key))
                .verify_member(&root, key, value)
                .expect("a member")
        })
    });
    group.finish();
}

criterion_group!(benches, merkle);
criterion_main!(benches);
