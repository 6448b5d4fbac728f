//! The change feed: a consumer that applies a backfill and then the ring
//! ends up with exactly the store's contents, deltas carry deletes (also
//! after a restart), and a consumer too old for a delta is told to flush.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use store::{
    BackendKind, Change, ChangeKind, Clock, Config, Store, StoreMode, Subscription, Write,
};

const NOW: u32 = 1_700_000_000;

/// A consumer's copy: key → (value, flags).
type Copy = BTreeMap<Vec<u8>, (Vec<u8>, u32)>;

fn open(dir: &std::path::Path, backend: BackendKind, clock: &Clock) -> Store {
    let mut config = Config::new(dir);
    config.backend = backend;
    config.clock = clock.clone();
    Store::open(config).unwrap()
}

fn apply(copy: &mut Copy, change: &Change) {
    match &change.kind {
        ChangeKind::Mutation(item) => {
            copy.insert(change.key.to_vec(), (item.value.copy_to_vec(..), item.flags));
        }
        ChangeKind::Delete => {
            copy.remove(change.key.as_ref());
        }
        ChangeKind::Flush => copy.clear(),
    }
}

fn contents(store: &Store, universe: usize) -> Copy {
    (0..universe)
        .filter_map(|k| {
            let key = format!("key{k}");
            let hit = store.get(key.as_bytes())?;
            Some((key.into_bytes(), (hit.value.copy_to_vec(..), hit.flags)))
        })
        .collect()
}

/// One random operation on key `k`.
fn mutate(store: &Store, op: u8, k: usize, n: u32) {
    let key = Bytes::from(format!("key{k}"));
    match op % 5 {
        0 | 1 => {
            store.write(Write::set(key, Bytes::from(format!("v{n}"))).flags(n)).unwrap();
        }
        2 => {
            let _ = store.delete(&key, 0);
        }
        3 => {
            let _ = store.write(Write::new(StoreMode::Append, key, Bytes::from_static(b"+")));
        }
        _ => {
            let _ = store.touch(&key, 100);
        }
    }
}

/// Backfills `since` into `copy` while running `during` between shards,
/// then replays the ring through the current high seqno; returns it.
fn catch_up(
    store: &Store,
    sub: &Subscription,
    since: u64,
    copy: &mut Copy,
    mut during: impl FnMut(usize),
) -> u64 {
    let plan = sub.backfill(since);
    if plan.flush_first {
        copy.clear();
    }
    let mut out = Vec::new();
    for shard in 0..sub.shards() {
        out.clear();
        sub.scan(shard, &plan, b"", &mut out);
        for c in &out {
            assert!(c.seqno > plan.since && c.seqno <= plan.upto, "{c:?} outside {plan:?}");
            apply(copy, c);
        }
        during(shard);
    }
    let high = store.high_seqno();
    let mut after = plan.upto;
    loop {
        out.clear();
        sub.read(after, high, 7, &mut out).unwrap();
        let Some(last) = out.last() else { break };
        after = last.seqno;
        for pair in out.windows(2) {
            assert!(pair[0].seqno < pair[1].seqno, "ring out of order");
        }
        for c in &out {
            apply(copy, c);
        }
    }
    high
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The model check: before, during (between shard scans) and after the
    /// backfill, random mutations; the copy equals the store at the end.
    #[test]
    fn backfill_then_ring_equals_the_store(
        before in prop::collection::vec((any::<u8>(), 0usize..40), 0..120),
        during in prop::collection::vec((any::<u8>(), 0usize..40), 0..200),
        then in prop::collection::vec((any::<u8>(), 0usize..40), 0..60),
        delta_start in any::<bool>(),
        split in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::manual(NOW);
        let store = open(dir.path(), BackendKind::Fjall, &clock);
        let mut n = 0;
        // A delta consumer copied the store after `split` of the `before`
        // operations: the rest (deletes included) reach it by backfill.
        let split = if delta_start { split.index(before.len() + 1) } else { usize::MAX };
        let mut copy = Copy::new();
        let mut since = 0;
        for (i, (op, k)) in before.iter().enumerate() {
            if i == split {
                copy = contents(&store, 40);
                since = store.high_seqno();
            }
            n += 1;
            mutate(&store, *op, *k, n);
        }
        if split == before.len() {
            copy = contents(&store, 40);
            since = store.high_seqno();
        }
        let sub = store.subscribe();
        let mut next = during.iter();
        let cursor = catch_up(&store, &sub, since, &mut copy, |_| {
            for (op, k) in next.by_ref().take(4) {
                n += 1;
                mutate(&store, *op, *k, n);
            }
        });
        for (op, k) in next.chain(&then) {
            n += 1;
            mutate(&store, *op, *k, n);
        }
        let mut out = Vec::new();
        sub.read(cursor, store.high_seqno(), usize::MAX, &mut out).unwrap();
        for c in &out {
            apply(&mut copy, c);
        }
        prop_assert_eq!(&copy, &contents(&store, 40));
    }
}

fn delta_after_restart(backend: BackendKind) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let store = open(dir.path(), backend, &clock);
    for k in 0..10 {
        mutate(&store, 0, k, 1);
    }
    let mut copy = contents(&store, 10);
    let cursor = store.high_seqno();
    store.set_cursor(b"mirror\0one", cursor);
    store.delete(b"key3", 0).unwrap();
    mutate(&store, 0, 4, 99);
    mutate(&store, 0, 12, 7);
    store.close();
    drop(store);

    let store = open(dir.path(), backend, &clock);
    assert_eq!(store.cursor(b"mirror\0one"), Some(cursor));
    let sub = store.subscribe();
    let plan = sub.backfill(cursor);
    assert!(!plan.flush_first, "{plan:?}");
    let mut out = Vec::new();
    for shard in 0..sub.shards() {
        sub.scan(shard, &plan, b"", &mut out);
    }
    let mut keys: Vec<_> = out
        .iter()
        .map(|c| {
            (String::from_utf8_lossy(&c.key).into_owned(), matches!(c.kind, ChangeKind::Delete))
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [("key12".into(), false), ("key3".into(), true), ("key4".into(), false)],
        "the delta holds the two sets and the delete, nothing else"
    );
    for c in &out {
        apply(&mut copy, c);
    }
    assert_eq!(copy, contents(&store, 20));
}

#[test]
fn delta_backfill_carries_deletes_across_a_restart_fjall() {
    delta_after_restart(BackendKind::Fjall);
}

#[test]
fn delta_backfill_carries_deletes_across_a_restart_sqlite() {
    delta_after_restart(BackendKind::Sqlite);
}

#[test]
fn a_flush_or_forgotten_deletes_force_a_full_backfill() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let mut config = Config::new(dir.path());
    config.clock = clock.clone();
    config.tombstone_retention = Duration::from_secs(60);
    let store = Store::open(config).unwrap();
    mutate(&store, 0, 1, 1);
    let before_flush = store.high_seqno();
    store.flush(0);
    mutate(&store, 0, 2, 2);
    let sub = store.subscribe();
    assert!(sub.backfill(before_flush).flush_first);
    let after_flush = store.high_seqno();
    assert!(!sub.backfill(after_flush).flush_first);
    assert!(!sub.backfill(0).flush_first, "a fresh consumer needs no flush");

    // A delete whose tombstone outlives its retention: a consumer from
    // before it can no longer get a delta.
    store.delete(b"key2", 0).unwrap();
    clock.advance(61);
    store.purge_expired();
    let sub = store.subscribe();
    let plan = sub.backfill(after_flush);
    assert!(plan.flush_first && plan.since == 0, "{plan:?}");
    // The mark is persisted.
    store.close();
    drop((sub, store));
    let store = open(dir.path(), BackendKind::Fjall, &clock);
    let sub = store.subscribe();
    assert!(sub.backfill(after_flush).flush_first);
}

#[test]
fn a_reader_the_ring_lapped_is_told_so() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::manual(NOW);
    let mut config = Config::new(dir.path());
    config.clock = clock.clone();
    config.feed_max_changes = 16;
    let store = Store::open(config).unwrap();
    let sub = store.subscribe();
    let start = sub.snapshot();
    for n in 0..100 {
        mutate(&store, 0, 1, n);
    }
    let err = sub.read(start, store.high_seqno(), 10, &mut Vec::new()).unwrap_err();
    assert_eq!(err.after, start);
    assert!(err.ring_start > start);
    // Backfilling from the cursor recovers.
    let mut copy = Copy::new();
    catch_up(&store, &sub, 0, &mut copy, |_| {});
    assert_eq!(copy, contents(&store, 2));
}
