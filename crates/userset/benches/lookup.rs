//! Lookup and build speed on generated names (gist, iid, realistic).
//!
//! `cargo bench -p userset` for numbers; `cargo test --benches` runs each
//! once. The full-size challenge (100M names beside a 2011-style baseline)
//! is `mammoth userset bench`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use userset::UserSet;
use userset::generate::{Kind, generate};

/// Names per data set (fewer in unoptimised `cargo test --benches` runs).
const NAMES: u64 = if cfg!(debug_assertions) { 50_000 } else { 1_000_000 };

fn names(kind: Kind) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    generate(kind, NAMES, |n| {
        out.push(n.to_vec());
        Ok::<(), ()>(())
    })
    .expect("generating");
    out
}

/// Every 10th name, shuffled.
fn queries(names: &[Vec<u8>]) -> Vec<&[u8]> {
    let mut q: Vec<&[u8]> = names.iter().step_by(10).map(Vec::as_slice).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in (1..q.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        q.swap(i, (x % (i as u64 + 1)) as usize);
    }
    q
}

fn lookups(c: &mut Criterion) {
    let mut g = c.benchmark_group("userset");
    g.sample_size(10);
    for kind in [Kind::Gist, Kind::Iid, Kind::Realistic] {
        let names = names(kind);
        g.throughput(Throughput::Elements(NAMES));
        g.bench_with_input(BenchmarkId::new("build", kind), &names, |b, names| {
            b.iter(|| UserSet::from_names(names.iter().map(Vec::as_slice)).expect("building"));
        });
        let set = UserSet::from_names(names.iter().map(Vec::as_slice)).expect("building");
        let q = queries(&names);
        g.throughput(Throughput::Elements(q.len() as u64));
        g.bench_with_input(BenchmarkId::new("contains", kind), &q, |b, q| {
            b.iter(|| q.iter().filter(|n| set.contains(black_box(n))).count());
        });
        g.bench_with_input(BenchmarkId::new("contains_batch", kind), &q, |b, q| {
            b.iter(|| set.count_present(black_box(q)));
        });
    }
    g.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
