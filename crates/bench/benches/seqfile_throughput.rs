//! Read and write throughput per layout and codec, and reading against the
//! obvious alternative: the `sequencefile` crate (reader only; NONE and
//! BLOCK with `DefaultCodec` are formats both read).
//!
//! `cargo bench -p mammoth-bench --bench seqfile_throughput`. The side-by-side with real
//! Hadoop is `mammoth bench seq`.

use std::io::BufReader;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use seqfile::writable::Text;
use seqfile::{Codec, Compression, Reader, Writer, WriterOptions};

const RECORDS: usize = 20_000;

fn data() -> Vec<(Text, Text)> {
    mammoth_bench::hadoop::dataset(RECORDS as u64)
}

fn write(data: &[(Text, Text)], c: Compression) -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), WriterOptions::new::<Text, Text>().compression(c)).unwrap();
    for (k, v) in data {
        w.append(k, v).unwrap();
    }
    w.finish().unwrap()
}

fn layouts() -> [(&'static str, Compression); 5] {
    [
        ("none", Compression::None),
        ("block-snappy", Compression::Block(Codec::Snappy)),
        ("block-deflate", Compression::Block(Codec::Default)),
        ("block-zstd", Compression::Block(Codec::ZStandard)),
        ("record-deflate", Compression::Record(Codec::Default)),
    ]
}

fn bench(c: &mut Criterion) {
    let data = data();
    let raw: u64 = data.iter().map(|(k, v)| (k.0.len() + v.0.len() + 2) as u64).sum();

    let mut g = c.benchmark_group("write");
    g.throughput(Throughput::Bytes(raw));
    for (name, comp) in layouts() {
        g.bench_function(name, |b| b.iter(|| write(&data, comp)));
    }
    g.finish();

    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Bytes(raw));
    for (name, comp) in layouts() {
        let file = write(&data, comp);
        g.bench_with_input(BenchmarkId::new("seqfile", name), &file, |b, file| {
            b.iter(|| {
                let mut r = Reader::new(&file[..]).unwrap();
                let mut n = 0;
                while let Some(rec) = r.next_ref().unwrap() {
                    n += rec.key.len() + rec.value.len();
                }
                n
            });
        });
        // sequencefile 0.2 cannot read RECORD files that contain a sync entry
        // (it allocates a buffer of length -1 and panics), so RECORD is left out.
        if matches!(name, "none" | "block-deflate") {
            g.bench_with_input(BenchmarkId::new("sequencefile-crate", name), &file, |b, file| {
                b.iter(|| {
                    let r: sequencefile::Reader<_, Vec<u8>, Vec<u8>> =
                        sequencefile::Reader::new(BufReader::new(&file[..])).unwrap();
                    r.map(|kv| kv.map(|(k, v)| k.len() + v.len()).unwrap()).sum::<usize>()
                });
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
