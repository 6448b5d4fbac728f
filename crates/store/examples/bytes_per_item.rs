//! Resident memory per item and the GET rate of one thread: opens a store
//! in a temporary directory, loads N items (12-byte keys `key:NNNNNNNN`,
//! 100-byte values, handed over as slices of 64 KiB buffers the way a
//! connection reads them) through `Store::write`, waits until they are
//! durable, and prints the growth of the process's RSS per item and the
//! store's own `mem_used`; then GETs random keys from one thread for a few
//! seconds.
//!
//! `cargo run --release -p mammoth-store --example bytes_per_item -- [N] [GET_SECS]`

use std::time::{Duration, Instant};

use bytes::Bytes;
use store::{Store, Write};

/// Resident set size of this process in bytes (`VmRSS`).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn stat(store: &Store, name: &str) -> String {
    store.stats().into_iter().find(|(n, _)| n == name).map_or_else(String::new, |(_, v)| v)
}

#[expect(clippy::cast_precision_loss, reason = "figures for a report")]
fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(store::Config::new(dir.path())).expect("open");
    store.sync();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss();
    let t = Instant::now();
    let mut i = 0;
    while i < n {
        // One "read buffer" of requests, as a connection would see them.
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut spans = Vec::new();
        while buf.len() + 112 <= 64 * 1024 && i < n {
            let k = buf.len();
            buf.extend_from_slice(format!("key:{i:08}").as_bytes());
            let v = buf.len();
            buf.extend_from_slice(&[b'a' + (i % 26) as u8; 100]);
            spans.push((k..v, v..v + 100));
            i += 1;
        }
        let buf = Bytes::from(buf);
        for (k, v) in spans {
            store.write(Write::set(buf.slice(k), buf.slice(v))).expect("set");
        }
    }
    let load = t.elapsed();
    store.sync();
    // The applier's merge window and a few pager ticks.
    std::thread::sleep(Duration::from_secs(2));
    let after = rss();
    let per_item = (after.saturating_sub(before)) as f64 / n as f64;
    println!(
        "items {n}  load {:.1} s  rss before {} MiB  after {} MiB  => {per_item:.1} bytes/item \
         (mem_used {:.1} bytes/item)",
        load.as_secs_f64(),
        before >> 20,
        after >> 20,
        stat(&store, "mem_used").parse::<f64>().unwrap_or(0.0) / n as f64,
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut gets = 0u64;
    let mut hits = 0u64;
    let t = Instant::now();
    let end = t + Duration::from_secs(secs);
    while Instant::now() < end {
        for _ in 0..1024 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("key:{:08}", x % n as u64);
            if let Some(hit) = store.get(key.as_bytes()) {
                hits += u64::from(hit.value.len() == 100);
            }
            gets += 1;
        }
    }
    let rate = gets as f64 / t.elapsed().as_secs_f64();
    println!("get: 1 thread {secs} s  {rate:.0} gets/s  ({hits} of {gets} hits)");
    assert_eq!(hits, gets, "every key was loaded");
}
