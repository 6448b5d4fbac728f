//! Honest accounting: what the store says its items hold (`mem_used`:
//! items, tombstones, hash tables) against what the allocator handed out,
//! after a load and after overwriting every key twice from request buffers.
//! A test binary of its own: the counting allocator sees the whole process.

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cap::Cap;
use store::{Budget, Config, Eviction, Store, Write};

#[global_allocator]
static ALLOC: Cap<System> = Cap::new(System, usize::MAX);

const ITEMS: usize = 200_000;
/// Values of 400 bytes: the items hold ~90 MB, so the engine's and the
/// commit pipeline's fixed few MiB (not counted) stay within the margin.
const VALUE_LEN: usize = 400;

/// Requests as a connection reads them: many keys and values in one
/// 64 KiB buffer, handed to the store as slices of it.
fn requests(round: usize) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::with_capacity(ITEMS);
    let mut n = 0;
    while n < ITEMS {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut spans = Vec::new();
        while buf.len() < 64 * 1024 - 500 && n < ITEMS {
            let key = format!("item:{n:07}");
            let value = format!("{round}:{n}:").repeat(40);
            let k = buf.len()..buf.len() + key.len();
            buf.extend_from_slice(key.as_bytes());
            let v = buf.len()..buf.len() + value.len().min(VALUE_LEN);
            buf.extend_from_slice(&value.as_bytes()[..value.len().min(VALUE_LEN)]);
            spans.push((k, v));
            n += 1;
        }
        let buf = Bytes::from(buf);
        out.extend(spans.into_iter().map(|(k, v)| (buf.slice(k), buf.slice(v))));
    }
    out
}

#[expect(clippy::cast_precision_loss, reason = "a ratio for a message")]
fn within(what: &str, counted: usize, allocated: usize) {
    let ratio = counted as f64 / allocated as f64;
    eprintln!("{what}: counted {counted} bytes, allocated {allocated}: {ratio:.3}");
    assert!((0.9..=1.1).contains(&ratio), "{what}: counted {counted}, allocated {allocated}");
}

#[test]
fn mem_used_is_within_ten_percent_of_what_the_allocator_gave() {
    let dir = tempfile::tempdir().unwrap();
    let budget = Arc::new(Budget::new(1 << 40, Eviction::Value));
    let mut config = Config::new(dir.path());
    config.memory = Arc::clone(&budget);
    // A small engine cache and memtable keep the engine's own memory (not
    // counted) small beside the items.
    config.engine_cache_bytes = 1 << 20;
    let store = Store::open(config).unwrap();
    // Until the engine has every logged batch (the applier's merge holds
    // a map of the pending changes), then a few pager ticks.
    let settle = |store: &Store| {
        store.sync();
        let stat = |name: &str| -> u64 {
            let stats = store.stats();
            stats.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| v.parse().unwrap())
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while stat("engine_applied_lsn") < stat("commit_log_lsn") {
            assert!(std::time::Instant::now() < deadline, "the engine never caught up");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Then until the last copies freed (batches in flight hold copies
        // of their items) are gone: the allocations stop shrinking.
        let mut last = ALLOC.allocated();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = ALLOC.allocated();
            if now * 100 >= last * 99 {
                break;
            }
            last = now;
        }
    };
    settle(&store);
    let base = ALLOC.allocated();
    let batch = requests(0);
    for (key, value) in batch {
        store.write(Write::set(key, value)).unwrap();
    }
    settle(&store);
    within("after the load", budget.used() as usize, ALLOC.allocated() - base);
    for round in 1..=2 {
        for (key, value) in requests(round) {
            store.write(Write::set(key, value)).unwrap();
        }
    }
    settle(&store);
    within("after overwriting twice", budget.used() as usize, ALLOC.allocated() - base);
}
