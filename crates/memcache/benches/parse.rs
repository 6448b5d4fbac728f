//! Parse throughput of the binary codec on the two pipelines the server
//! lives on: a multi-get (N × GETKQ + NOOP, 16-byte keys) and a multi-set
//! (N × SETQ + NOOP, 16-byte keys, 100-byte values). Throughput is reported
//! in elements = requests, so criterion's "elem/s" is requests per second.
//!
//! The text protocol gets the same two workloads: N × `get <key>` and
//! N × `set <key> 0 0 100 noreply` + data, then `mn`.
//!
//! `cargo bench -p mammoth-memcache --bench parse`; `cargo test -p mammoth-memcache --benches`
//! runs each once.

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use memcache::binary::{Batch, Command, Limits, RequestDecoder};
use memcache::text::{TextDecoder, TextLimits, TextRequest, encode_get, encode_set};

const N: u32 = 10_000;

fn getkq_batch() -> BytesMut {
    let mut out = BytesMut::new();
    let mut b = Batch::new(&mut out, 0);
    for i in 0..N {
        b.getkq(format!("key-{i:012}").as_bytes());
    }
    b.noop();
    out
}

fn setq_batch() -> BytesMut {
    let mut out = BytesMut::new();
    let mut b = Batch::new(&mut out, 0);
    let value = [b'v'; 100];
    for i in 0..N {
        b.setq(format!("key-{i:012}").as_bytes(), &value, i, 0);
    }
    b.noop();
    out
}

/// Decodes the whole buffer, returning the request count and a checksum of
/// key lengths so the work cannot be optimised away.
fn decode_all(mut buf: BytesMut) -> (u32, usize) {
    let mut dec = RequestDecoder::new(Limits::default());
    let (mut n, mut sum) = (0, 0);
    while let Some(r) = dec.decode(&mut buf).expect("well-formed") {
        n += 1;
        sum += match &r.command {
            Command::Get { key } | Command::Store { key, .. } => key.len(),
            _ => 0,
        };
    }
    (n, sum)
}

fn text_gets() -> BytesMut {
    let mut out = BytesMut::new();
    for i in 0..N {
        encode_get(&mut out, &[format!("key-{i:012}")]);
    }
    out.extend_from_slice(b"mn\r\n");
    out
}

fn text_sets() -> BytesMut {
    let mut out = BytesMut::new();
    let value = [b'v'; 100];
    for i in 0..N {
        encode_set(&mut out, format!("key-{i:012}").as_bytes(), &value, i, 0, true);
    }
    out.extend_from_slice(b"mn\r\n");
    out
}

fn text_decode_all(mut buf: BytesMut) -> (u32, usize) {
    let mut dec = TextDecoder::new(TextLimits::default());
    let (mut n, mut sum) = (0, 0);
    while let Some(r) = dec.decode(&mut buf).expect("well-formed") {
        n += 1;
        sum += match &r {
            TextRequest::Get(g) => g.keys.len(),
            TextRequest::Store(s) => s.key.len() + s.value.len(),
            _ => 0,
        };
    }
    (n, sum)
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, wire) in [("getkq_noop", getkq_batch()), ("setq_noop", setq_batch())] {
        assert_eq!(decode_all(wire.clone()).0, N + 1);
        g.throughput(Throughput::Elements(u64::from(N) + 1));
        // The copy of the input (standing in for the socket read) is setup,
        // not measured.
        g.bench_function(name, |b| {
            b.iter_batched(|| wire.clone(), decode_all, BatchSize::LargeInput);
        });
    }
    for (name, wire) in [("text_get_mn", text_gets()), ("text_set_noreply_mn", text_sets())] {
        assert_eq!(text_decode_all(wire.clone()).0, N + 1);
        g.throughput(Throughput::Elements(u64::from(N) + 1));
        g.bench_function(name, |b| {
            b.iter_batched(|| wire.clone(), text_decode_all, BatchSize::LargeInput);
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
