//! TAP backfill rate against the engine's own full scan, in one run.
//!
//! Builds a store of N items (100-byte values), then measures
//! 1. the engine alone: `Backend::load` streaming every record (what a
//!    backfill straight from disk could do at best), and
//! 2. a TAP DUMP over TCP from a server on that store: every item as a
//!    `TAP_MUTATION`, decoded by a consumer, until `CLOSE_TAP_STREAM`,
//!
//! and prints items/s for each and the ratio (goal: ≥ 0.7).
//!
//! `cargo bench -p mammoth-server --bench tap_backfill` (1M items; `TAP_BENCH_ITEMS`
//! overrides). Under `cargo test --benches` it runs once on 2,000 items.

#![allow(clippy::cast_precision_loss, reason = "rates for display")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{EventKind, Incoming, TapConnect, TapFlags, opaque, parse_incoming};
use memcache::binary::{Check, Limits, check_packet};
use store::{BackendKind, Config, Store};

mod support;
use support::Server;

fn main() {
    let benching = std::env::args().any(|a| a == "--bench");
    let items: u64 = std::env::var("TAP_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 1_000_000 } else { 2_000 });
    let dir = tempfile::tempdir().expect("temp dir");
    let bucket = dir.path().join(server::DEFAULT_BUCKET);
    let started = Instant::now();
    {
        let store = Store::open(Config::new(&bucket)).expect("open store");
        let value = Bytes::from(vec![b'v'; 100]);
        for i in 0..items {
            let key = Bytes::from(format!("key:{i:010}"));
            store.write(store::Write::set(key, value.clone())).expect("set");
            if i % 50_000 == 0 {
                store.sync();
            }
        }
        store.sync();
        store.close();
    }
    eprintln!("loaded {items} items in {:.1}s", started.elapsed().as_secs_f64());

    let mut engine_best = f64::MAX;
    for _ in 0..3 {
        let mut backend = BackendKind::Fjall.open(&bucket).expect("open engine");
        let t = Instant::now();
        let mut n = 0u64;
        backend.load(&mut |_, _| n += 1).expect("scan");
        engine_best = engine_best.min(t.elapsed().as_secs_f64());
        assert_eq!(n, items);
    }

    let server = Server::start(dir.path());
    let (addr, warmup) = (server.addr, server.warmup);
    let mut tap_best = f64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let n = dump(addr);
        tap_best = tap_best.min(t.elapsed().as_secs_f64());
        assert_eq!(n, items);
    }
    server.stop();

    let engine_rate = items as f64 / engine_best;
    let tap_rate = items as f64 / tap_best;
    println!("items                      {items}");
    println!("server warmup              {warmup:>12.3} s");
    println!("engine full scan (fjall)   {engine_rate:>12.0} items/s  ({engine_best:.3} s)");
    println!("TAP DUMP over TCP          {tap_rate:>12.0} items/s  ({tap_best:.3} s)");
    println!("ratio TAP / engine scan    {:>12.2}", tap_rate / engine_rate);
}

/// Runs one TAP DUMP and returns the number of mutations received.
fn dump(addr: std::net::SocketAddr) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let mut out = BytesMut::new();
    TapConnect::new(&b"bench"[..]).with(TapFlags::DUMP).encode(1, 0, &mut out);
    stream.write_all(&out).expect("send TAP_CONNECT");
    let limits = Limits::default();
    let mut input = BytesMut::with_capacity(1 << 20);
    let mut chunk = vec![0u8; 1 << 20];
    let mut mutations = 0;
    loop {
        match check_packet(&input, &limits).expect("well-formed stream") {
            Check::Complete(len) => {
                let frame = input.split_to(len).freeze();
                if let Incoming::Event(e) = parse_incoming(frame, &limits).expect("event") {
                    match e.kind {
                        EventKind::Mutation { .. } => mutations += 1,
                        EventKind::Opaque { code: opaque::CLOSE_TAP_STREAM } => return mutations,
                        _ => {}
                    }
                }
            }
            Check::Incomplete { .. } => {
                let n = stream.read(&mut chunk).expect("read");
                assert!(n > 0, "stream closed before CLOSE_TAP_STREAM");
                input.extend_from_slice(&chunk[..n]);
            }
        }
    }
}
