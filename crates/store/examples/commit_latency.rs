//! Group-commit latency of each engine next to the disk's own fdatasync.
//!
//!     cargo run --release -p mammoth-store --example commit_latency [BATCHES] [ITEMS]
//!
//! For each engine: BATCHES (default 500) batches of ITEMS (default 100)
//! 16-byte keys with 100-byte values, each batch committed with one sync,
//! in a fresh temporary directory (on the same file system as `TMPDIR`).
//! Beside it: a 4 KiB write + `fdatasync` appended to a file, and the same
//! overwriting a preallocated block. Prints p50/p99 per commit.

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use store::{BackendKind, Batch, Item};

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

fn main() {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir().expect("temp dir");

    let mut raw = Vec::new();
    let path = dir.path().join("append.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    for _ in 0..batches {
        let t = Instant::now();
        f.write_all(&[7u8; 4096]).unwrap();
        f.sync_data().unwrap();
        raw.push(t.elapsed());
    }
    let (p50, p99) = percentiles(raw);
    println!("raw 4 KiB append + fdatasync     p50 {p50:>10.2?}  p99 {p99:>10.2?}");
    let mut over = Vec::new();
    for _ in 0..batches {
        let t = Instant::now();
        std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).unwrap();
        f.write_all(&[9u8; 4096]).unwrap();
        f.sync_data().unwrap();
        over.push(t.elapsed());
    }
    let (p50, p99) = percentiles(over);
    println!("raw 4 KiB overwrite + fdatasync  p50 {p50:>10.2?}  p99 {p99:>10.2?}");

    for kind in [BackendKind::Fjall, BackendKind::Sqlite] {
        let d = dir.path().join(kind.name());
        let mut backend = kind.open(&d).expect("open engine");
        let mut times = Vec::with_capacity(batches);
        let mut seqno = 0u64;
        for b in 0..batches {
            let mut batch = Batch::default();
            for i in 0..items {
                seqno += 1;
                let key = Bytes::from(format!("{:016}", (b * items + i) * 7919 % 10_000_019));
                let item = Item {
                    value: Bytes::from(vec![b'v'; 100]).into(),
                    flags: 0,
                    exptime: 0,
                    cas: seqno,
                    seqno,
                };
                batch.puts.push((key, item));
            }
            batch.high_seqno = seqno;
            let t = Instant::now();
            backend.write_batch(&batch, true).expect("commit");
            times.push(t.elapsed());
        }
        let (p50, p99) = percentiles(times);
        println!(
            "{:<7} commit of {items:>4} items     p50 {p50:>10.2?}  p99 {p99:>10.2?}",
            kind.name()
        );
    }
}
