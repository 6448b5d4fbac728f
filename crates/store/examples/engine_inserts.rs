//! Durable inserts and point reads, engine against engine: the comparison
//! behind the 2011 LevelDB-versus-SQLite result, on the stream the store's
//! applier hands an engine.
//!
//!     cargo run --release -p mammoth-store --example engine_inserts [ITEMS] [BATCH] [KEYSPACE]
//!
//! For each engine, in a fresh temporary directory (on the file system of
//! `TMPDIR`): ITEMS (default 4,000,000) items with random 16-byte keys drawn
//! from KEYSPACE (default 10,000,000) and 100-byte values, written in
//! batches of BATCH (default 50,000; the applier's merged windows are of
//! this order under load) with one sync per batch, so every batch is
//! durable before the next starts; the batches are built before the clock
//! starts, so only the engine is timed (they are all held in memory: about
//! 0.5 GB at the default 4M items). Then 200,000 point reads of random
//! stored keys through the engine's reader. Prints items/s and reads/s per
//! engine, and fjall's ratio to SQLite for both.

#![allow(clippy::cast_precision_loss)] // rates printed to a few digits

use std::time::Instant;

use bytes::Bytes;
use store::{BackendKind, Batch, Item};

/// xorshift64*: reproducible keys without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn key(n: u64) -> Bytes {
    Bytes::from(format!("{n:016}"))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4_000_000);
    let batch_len: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let keyspace: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000_000);
    let reads = 200_000u64;
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "{items} random-key inserts over a {keyspace}-key space, {batch_len} per synced batch; \
         {reads} random point reads"
    );
    let mut results = Vec::new();
    for kind in [BackendKind::Fjall, BackendKind::Sqlite] {
        let mut backend = kind.open(&dir.path().join(kind.name())).expect("open engine");
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let value = Bytes::from(vec![b'v'; 100]);
        // Every batch is built before the clock starts: building them is
        // the applier's work, the same for both engines, and the engine
        // gets no idle gaps to catch up on compaction in.
        let mut batches = Vec::new();
        // A second generator for the shuffle: the reads below replay `rng`'s
        // key sequence.
        let mut shuffle = Rng(0x2545_f491_4f6c_dd1d);
        let mut seqno = 0u64;
        let mut written = 0u64;
        while written < items {
            let mut batch = Batch::default();
            for _ in 0..batch_len.min(items - written) {
                seqno += 1;
                let item =
                    Item { value: value.clone().into(), flags: 0, exptime: 0, cas: seqno, seqno };
                batch.puts.push((key(rng.next() % keyspace), item));
            }
            // The applier's batches hold each key once (latest change wins),
            // in hash order: dedup, then shuffle back out of key order.
            // (Newest first within a key: `dedup_by` keeps the first.)
            batch.puts.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.seqno.cmp(&a.1.seqno)));
            batch.puts.dedup_by(|a, b| a.0 == b.0);
            for i in (1..batch.puts.len()).rev() {
                batch.puts.swap(i, (shuffle.next() % (i as u64 + 1)) as usize);
            }
            written += batch_len.min(items - written);
            batch.high_seqno = seqno;
            batches.push(batch);
        }
        let started = Instant::now();
        for batch in &batches {
            backend.write_batch(batch, false).expect("write batch");
            backend.sync().expect("sync");
        }
        let insert_rate = items as f64 / started.elapsed().as_secs_f64();
        drop(batches);
        // Background compactions (fjall) finish before the reads: the reads
        // measure a settled store. The wait is reported, not hidden.
        let settling = Instant::now();
        let tables =
            || backend.stats().into_iter().find(|(k, _)| k == "engine_table_count").map(|(_, v)| v);
        let mut last = tables();
        let mut stable_since = Instant::now();
        while last.is_some() && stable_since.elapsed().as_secs() < 2 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let now = tables();
            if now != last {
                last = now;
                stable_since = Instant::now();
            }
        }
        let settled = settling.elapsed().saturating_sub(std::time::Duration::from_secs(2));

        // Read back keys that were written: replay the same key sequence.
        let reader = backend.reader().expect("reader");
        let mut replay = Rng(0x9e37_79b9_7f4a_7c15);
        let stored: Vec<Bytes> = (0..reads).map(|_| key(replay.next() % keyspace)).collect();
        let mut pick = Rng(42);
        let started = Instant::now();
        let mut found = 0u64;
        for _ in 0..reads {
            let k = &stored[(pick.next() % reads) as usize];
            found += u64::from(reader.get(k).expect("get").is_some());
        }
        let read_rate = reads as f64 / started.elapsed().as_secs_f64();
        assert_eq!(found, reads, "{}: a written key was not found", kind.name());
        println!(
            "{:<7} inserts {insert_rate:>12.0} items/s   point reads {read_rate:>10.0} reads/s   \
             (tables {}, compactions settled {settled:.1?} after the last batch)",
            kind.name(),
            last.unwrap_or_else(|| "-".into()),
        );
        results.push((insert_rate, read_rate));
    }
    let (f, s) = (results[0], results[1]);
    println!("fjall ÷ SQLite: inserts {:.1}×, reads {:.2}×", f.0 / s.0, f.1 / s.1);
}
