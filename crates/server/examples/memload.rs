//! A load generator for memory benchmarks against any memcached-protocol
//! server (binary protocol): `scripts/bench-memory` runs it against Debian's
//! memcached and `mammoth serve` side by side.
//!
//! ```text
//! memload load  PORT KEYS VALUE_LEN          SETQ×100 + NOOP pipelines, 4 connections;
//!                                            ETMPFAIL is retried (a server at its quota)
//! memload churn PORT KEYS VALUE_LEN OPS      OPS random overwrites of the same keys
//! memload get   PORT KEYS SECS VALUE_LEN     GETs, 90 % to the first 10 % of the keys,
//!                                            8 connections each waiting for its reply:
//!                                            rate, hit ratio, latency p50/p99 of all
//!                                            GETs and of those to the hot keys
//! memload hot   PORT KEYS SECS VALUE_LEN [tail]  the hot 10 % written again, then the
//!                                            same GETs, every one to them (with `tail`:
//!                                            the last 10 % of the keys); written again,
//!                                            they are in memory on both servers, so the
//!                                            rate compares GETs that hit
//! memload cold  PORT KEYS SAMPLES VALUE_LEN  one GET at a time of keys outside the hot
//!                                            10 %: latency p50/p99 (values read back
//!                                            from disk on a server that ejected them)
//! ```
//!
//! Keys are `key:NNNNNNNN`; values are deterministic per key and version, so
//! a GET that returns a value is checked byte for byte.

#![expect(clippy::cast_precision_loss, reason = "rates and ratios for display")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use memcache::binary::{Batch, Limits, Opcode, Request, Response, ResponseDecoder, Status};

fn key(n: u64) -> String {
    format!("key:{n:08}")
}

fn value(n: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + ((n as usize).wrapping_mul(31).wrapping_add(i) % 26) as u8).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Conn {
    stream: TcpStream,
    decoder: ResponseDecoder,
    input: BytesMut,
    buf: Vec<u8>,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Conn {
            stream,
            decoder: ResponseDecoder::new(Limits::default()),
            input: BytesMut::new(),
            buf: vec![0; 256 * 1024],
        }
    }

    fn reply(&mut self) -> Response {
        loop {
            if let Some(r) = self.decoder.decode(&mut self.input).expect("reply") {
                return r;
            }
            let n = self.stream.read(&mut self.buf).expect("read");
            assert!(n > 0, "server closed the connection");
            self.input.extend_from_slice(&self.buf[..n]);
        }
    }

    /// Sets `keys` (SETQ… NOOP); returns the keys refused with ETMPFAIL.
    fn set(&mut self, keys: &[u64], len: usize) -> Vec<u64> {
        let mut out = BytesMut::new();
        let mut batch = Batch::new(&mut out, 1);
        let first = batch.next_opaque();
        for &n in keys {
            batch.setq(key(n).as_bytes(), &value(n, len), 0, 0);
        }
        let noop = batch.noop();
        self.stream.write_all(&out).expect("write");
        let mut refused = Vec::new();
        loop {
            let r = self.reply();
            if r.opcode == Opcode::NOOP && r.opaque == noop {
                return refused;
            }
            assert!(
                r.status == Status::ETMPFAIL || r.status == Status::ENOMEM,
                "unexpected reply {r:?}"
            );
            refused.push(keys[(r.opaque - first) as usize]);
        }
    }

    /// One GET; `Some(true)` for an exact hit, `Some(false)` for a miss.
    fn get(&mut self, n: u64, len: usize) -> bool {
        let mut out = BytesMut::new();
        Request::get(key(n).into_bytes()).encode(&mut out);
        self.stream.write_all(&out).expect("write");
        let r = self.reply();
        if r.status == Status::SUCCESS {
            assert!(r.value == value(n, len), "{}: wrong value", key(n));
            true
        } else {
            assert_eq!(r.status, Status::KEY_ENOENT, "{r:?}");
            false
        }
    }
}

fn arg(args: &[String], i: usize, what: &str) -> u64 {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} ({what}) missing or not a number"))
}

/// Sets every key in `order` over `conns` connections.
fn load(port: u16, order: &[u64], len: usize, conns: usize) -> (f64, u64) {
    let started = Instant::now();
    let retried = AtomicU64::new(0);
    std::thread::scope(|s| {
        for part in order.chunks(order.len().div_ceil(conns).max(1)) {
            let retried = &retried;
            s.spawn(move || {
                let mut c = Conn::open(port);
                for batch in part.chunks(100) {
                    let mut todo = batch.to_vec();
                    let since = Instant::now();
                    while !todo.is_empty() {
                        let before = todo.len();
                        todo = c.set(&todo, len);
                        if todo.len() < before {
                            continue;
                        }
                        retried.fetch_add(todo.len() as u64, Ordering::Relaxed);
                        if since.elapsed() > Duration::from_secs(30) {
                            eprintln!(
                                "memload: writes refused for 30 s: the server's memory is full \
                                 (for mammoth: the keys and metadata alone fill the limit?)"
                            );
                            std::process::exit(1);
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
    });
    (order.len() as f64 / started.elapsed().as_secs_f64(), retried.into_inner())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("", String::as_str);
    let port = u16::try_from(arg(&args, 2, "port")).expect("port");
    let keys = arg(&args, 3, "keys");
    match mode {
        "load" => {
            let len = arg(&args, 4, "value length") as usize;
            let order: Vec<u64> = (0..keys).collect();
            let (rate, retried) = load(port, &order, len, 4);
            println!("load: {keys} items of {len} bytes, {rate:.0} items/s, {retried} retried");
        }
        "churn" => {
            let len = arg(&args, 4, "value length") as usize;
            let ops = arg(&args, 5, "operations");
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            let order: Vec<u64> = (0..ops).map(|_| rng.below(keys)).collect();
            let (rate, retried) = load(port, &order, len, 4);
            println!("churn: {ops} overwrites of {keys} keys, {rate:.0} ops/s, {retried} retried");
        }
        "get" | "hot" => gets(&args, mode, port, keys),
        "cold" => {
            let samples = arg(&args, 4, "samples");
            let len = arg(&args, 5, "value length") as usize;
            let hot = (keys / 10).max(1);
            let mut c = Conn::open(port);
            let mut rng = Rng(0x5851_f42d_4c95_7f2d);
            let (mut lat, mut hits) = (Vec::new(), 0u64);
            for _ in 0..samples {
                let n = hot + rng.below(keys - hot);
                let t0 = Instant::now();
                hits += u64::from(c.get(n, len));
                lat.push(t0.elapsed().as_micros() as u64);
            }
            lat.sort_unstable();
            println!(
                "cold: samples={samples} hit={:.4} p50={} p99={} (hit ratio, µs)",
                hits as f64 / samples.max(1) as f64,
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
        }
        _ => {
            eprintln!("usage: memload load|churn|get|cold PORT KEYS … (see the source)");
            std::process::exit(2);
        }
    }
}

/// `get` and `hot`: GETs from 8 connections for a while; prints rate, hit
/// ratio and latencies.
fn gets(args: &[String], mode: &str, port: u16, keys: u64) {
    let only_hot = mode == "hot";
    let secs = arg(args, 4, "seconds");
    let len = arg(args, 5, "value length") as usize;
    let hot = (keys / 10).max(1);
    // The hot keys: the first tenth, or with `tail` the last.
    let base = if args.get(6).is_some_and(|a| a == "tail") { keys - hot } else { 0 };
    if only_hot {
        // Written again, the hot keys are the newest items: resident in
        // mammoth and in what an LRU cache like memcached keeps.
        // The pause lets a durable server write them out before the
        // timed GETs, which measure reads alone.
        let order: Vec<u64> = (base..base + hot).collect();
        load(port, &order, len, 4);
        std::thread::sleep(Duration::from_secs(2));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let results: Vec<(u64, u64, Vec<u64>, Vec<u64>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8u64)
            .map(|t| {
                let stop = Arc::clone(&stop);
                s.spawn(move || {
                    let mut c = Conn::open(port);
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t + 1) * 0x1234_5678));
                    let (mut hits, mut misses) = (0, 0);
                    let (mut lat, mut hot_lat) = (Vec::new(), Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        let is_hot = only_hot || rng.below(10) < 9;
                        let n = if is_hot {
                            base + rng.below(hot)
                        } else {
                            (base + hot + rng.below(keys - hot)) % keys
                        };
                        let t0 = Instant::now();
                        if c.get(n, len) {
                            hits += 1;
                        } else {
                            misses += 1;
                        }
                        let us = t0.elapsed().as_micros() as u64;
                        lat.push(us);
                        if is_hot {
                            hot_lat.push(us);
                        }
                    }
                    (hits, misses, lat, hot_lat)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let (hits, misses): (u64, u64) = results.iter().fold((0, 0), |(h, m), r| (h + r.0, m + r.1));
    let mut hot_lat: Vec<u64> = results.iter().flat_map(|r| r.3.iter().copied()).collect();
    let mut lat: Vec<u64> = results.into_iter().flat_map(|r| r.2).collect();
    lat.sort_unstable();
    hot_lat.sort_unstable();
    println!(
        "{mode}: rate={:.0} hit={:.4} p50={} p99={} hot_p50={} hot_p99={} (gets/s, hit ratio, µs)",
        (hits + misses) as f64 / elapsed,
        hits as f64 / (hits + misses).max(1) as f64,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&hot_lat, 0.5),
        percentile(&hot_lat, 0.99)
    );
}
