//! Restart time of a store: fills DIR with N items (16-byte keys, 100-byte
//! values) unless it already holds them, then reopens it, blocking and with
//! the background warmup in turn, and reports the time to the first GET.
//!
//! `cargo run --release -p mammoth-store --example warmup -- [N] [fjall|sqlite] [DIR]`

use std::time::Instant;

use bytes::Bytes;
use store::{BackendKind, Config, Store, Warmup, Write};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let backend = args
        .next()
        .map_or(BackendKind::Fjall, |b| BackendKind::from_name(&b).expect("fjall or sqlite"));
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = args.next().map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
    let config = |warmup| {
        let mut c = Config::new(&dir);
        c.backend = backend;
        c.warmup = warmup;
        c
    };
    {
        let store = Store::open(config(Warmup::Blocking)).expect("open");
        if store.len() < n {
            let t = Instant::now();
            let value = Bytes::from(vec![b'v'; 100]);
            for i in store.len()..n {
                let key = Bytes::from(format!("key:{i:012}"));
                store.write(Write::set(key, value.clone())).expect("set");
                if i % 100_000 == 0 {
                    store.sync();
                }
            }
            store.sync();
            eprintln!("filled {n} items in {:.1} s", t.elapsed().as_secs_f64());
        }
        store.close();
    }
    for round in 0..4 {
        let mode = if round % 2 == 0 { Warmup::Blocking } else { Warmup::Background };
        let t = Instant::now();
        let store = Store::open(config(mode)).expect("reopen");
        let hit = store.get(b"key:000000000007").is_some();
        let first_get = t.elapsed();
        let w = store.warmup();
        let all = t.elapsed();
        println!(
            "{} {mode:?}: first GET after {:.1} ms (hit: {hit}); {} items loaded in {:.0} ms, open to warm {:.0} ms",
            backend.name(),
            first_get.as_secs_f64() * 1000.0,
            w.items,
            w.duration.as_secs_f64() * 1000.0,
            all.as_secs_f64() * 1000.0,
        );
        store.close();
    }
}
