//! One epoch at the reference chain's size (256 UIDs, 64 validators, dense
//! weights) and at 4,096 UIDs with 256 validators setting 32 weights each.

#![allow(missing_docs)]

mod common;

use common::{run, subnet};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use plexus_yuma::BondsModel;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("epoch");
    for (label, n, validators, per_row) in [
        ("256x64_dense", 256, 64, 256),
        ("4096x256_sparse32", 4096, 256, 32),
    ] {
        for model in [BondsModel::Classic, BondsModel::Yuma3] {
            let s = subnet(n, validators, per_row, model);
            let name = match model {
                BondsModel::Classic => "classic",
                BondsModel::Yuma3 => "yuma3_liquid",
            };
            group.bench_function(BenchmarkId::new(name, label), |b| b.iter(|| run(&s)));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
