//! Signing and verifying a wire-sized payload: what each signed request and answer costs.
//! ed25519-dalek's own strict verification is measured beside ours for comparison.

#![allow(missing_docs, clippy::expect_used)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use plexus_primitives::{ChainId, Domain, Keypair, Purpose};

fn signatures(c: &mut Criterion) {
    let domain = Domain::new(
        ChainId::new("plexus-bench").expect("id"),
        Purpose::WireRequest,
    );
    // A wire request message is ~150 bytes (two keys, netuid, nonce, lane, route, body hash).
    let payload = [0x5a_u8; 150];
    let keypair = Keypair::from_seed([1; 32]);
    let account = keypair.account_id();
    let signature = keypair.sign(&domain, &payload);
    let key = account.public_key().expect("a signing key");
    let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(&account.0).expect("a curve point");
    let dalek_signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    let message = domain.signing_message(&payload);

    let mut group = c.benchmark_group("ed25519");
    group.bench_function("sign", |b| {
        b.iter(|| keypair.sign(black_box(&domain), black_box(&payload)))
    });
    group.bench_function("decode_key", |b| {
        b.iter(|| black_box(&account).public_key())
    });
    group.bench_function("verify_decoded_key", |b| {
        b.iter(|| {
            key.verify(
                black_box(&domain),
                black_box(&payload),
                black_box(&signature),
            )
        })
    });
    group.bench_function("verify_account", |b| {
        b.iter(|| {
            account.verify(
                black_box(&domain),
                black_box(&payload),
                black_box(&signature),
            )
        })
    });
    group.bench_function("dalek_verify_strict", |b| {
        b.iter(|| dalek_key.verify_strict(black_box(&message), black_box(&dalek_signature)))
    });
    group.finish();
}

criterion_group!(benches, signatures);
criterion_main!(benches);
