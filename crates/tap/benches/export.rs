//! Export of N items as a BloomMapFile: through `tap::export::Snapshot`
//! (what `mammoth tap export --format bloommap` does with each TAP mutation:
//! collect, sort by key, encode the item-v1 header, write) beside writing
//! the same, already sorted records with the seqfile crate's `MapWriter`
//! directly (the floor: no collection, no sort, no header). Keys arrive in
//! a scrambled order as a backfill sends them (table order, not key order).
//!
//! N = 1,000,000 items of 16-byte keys and 100-byte values
//! (`MAMMOTH_TAP_BENCH_ITEMS` overrides). Throughput is in items.
//! `cargo bench -p mammoth-tap --bench export`; `cargo test -p mammoth-tap --benches` runs
//! each once.

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use seqfile::Compression;
use seqfile::map::{MapWriter, MapWriterOptions};
use seqfile::writable::BytesWritable;
use tap::Mutation;
use tap::export::{ExportOptions, Format, Layout, Snapshot};

fn items() -> Vec<Mutation> {
    let n: u64 = std::env::var("MAMMOTH_TAP_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let value = Bytes::from(vec![b'v'; 100]);
    (0..n)
        .map(|i| {
            // A bijective scramble of 0..2^32 so the arrival order is not key order.
            let k = (i as u32).wrapping_mul(2_654_435_761);
            Mutation {
                key: Bytes::from(format!("key-{k:012}")),
                value: value.clone(),
                flags: 0,
                expiry: 0,
                cas: i + 1,
                seqno: Some(i + 1),
                keys_only: false,
            }
        })
        .collect()
}

fn ser(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(b.len() + 4);
    v.extend_from_slice(&(b.len() as i32).to_be_bytes());
    v.extend_from_slice(b);
    v
}

fn bench(c: &mut Criterion) {
    let items = items();
    let mut sorted: Vec<(Vec<u8>, Vec<u8>)> =
        items.iter().map(|m| (ser(&m.key), ser(&m.value))).collect();
    sorted.sort_by(|a, b| a.0[4..].cmp(&b.0[4..]));
    let mut g = c.benchmark_group("export_bloommap");
    g.sample_size(10);
    g.throughput(Throughput::Elements(items.len() as u64));
    g.bench_function("tap_snapshot", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let opts = ExportOptions {
                format: Format::BloomMap,
                layout: Layout::Item,
                compression: Compression::None,
                metadata: Vec::new(),
                part: 0,
            };
            let mut s = Snapshot::create(dir.path(), opts).unwrap();
            for m in &items {
                s.put(m).unwrap();
            }
            s.finish().unwrap().1
        });
    });
    g.bench_function("seqfile_mapwriter_presorted", |b| {
        b.iter(|| {
            let dir = tempfile::tempdir().unwrap();
            let o = MapWriterOptions::new::<BytesWritable, BytesWritable>()
                .compression(Compression::None)
                .bloom_default();
            let mut w = MapWriter::create(dir.path().join("base"), o).unwrap();
            for (k, v) in &sorted {
                w.append_raw(k, v).unwrap();
            }
            w.finish().unwrap();
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
