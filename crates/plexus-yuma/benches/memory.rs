//! Peak heap of one epoch as the subnet grows: it follows the number of
//! weights set (256 validators × 32 weights here), not n².
//!
//! `cargo bench -p plexus-yuma --bench memory` prints a table.

#![allow(missing_docs)]

mod common;

use common::{run, subnet};
use peak_alloc::PeakAlloc;
use plexus_yuma::BondsModel;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

fn peak(n: usize, per_row: usize, model: BondsModel) -> usize {
    let s = subnet(n, 256, per_row, model);
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let out = run(&s);
    let peak = HEAP.peak_usage().saturating_sub(before);
    drop(out);
    peak
}

fn main() {
    println!(
        "{:>7}  {:>10}  {:>9}  {:>12}  {:>12}",
        "UIDs", "validators", "weights", "classic", "yuma3+LA"
    );
    let sizes = [
        (1_024, 32),
        (4_096, 32),
        (16_384, 32),
        (65_536, 32),
        (4_096, 8),
        (4_096, 128),
        (4_096, 512),
    ];
    for (n, per_row) in sizes {
        let classic = peak(n, per_row, BondsModel::Classic) / 1024;
        let yuma3 = peak(n, per_row, BondsModel::Yuma3) / 1024;
        println!(
            "{n:>7}  {:>10}  {:>9}  {classic:>8} KiB  {yuma3:>8} KiB",
            256,
            256 * per_row
        );
    }
}
