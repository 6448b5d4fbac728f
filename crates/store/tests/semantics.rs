//! memcached item semantics, checked against the rules in the binary
//! protocol spec (docs/memcached-binary.md §3, §5, §6).

use bytes::Bytes;
use store::{Arith, BackendKind, Clock, Config, Counter, OpError, Store, StoreMode, Write};

const NOW: u32 = 1_700_000_000;

fn open(dir: &std::path::Path, backend: BackendKind) -> (Store, Clock) {
    let clock = Clock::manual(NOW);
    let mut config = Config::new(dir);
    config.backend = backend;
    config.clock = clock.clone();
    (Store::open(config).unwrap(), clock)
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn set(s: &Store, k: &str, v: &str) -> u64 {
    s.write(Write::set(b(k), b(v))).unwrap().cas
}

fn value(s: &Store, k: &str) -> Option<String> {
    s.get(k.as_bytes()).map(|h| String::from_utf8(h.value.copy_to_vec(..)).unwrap())
}

#[test]
fn add_replace_append_prepend() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    assert_eq!(s.write(Write::new(StoreMode::Replace, b("k"), b("v"))), Err(OpError::NotFound));
    assert_eq!(s.write(Write::new(StoreMode::Append, b("k"), b("v"))), Err(OpError::NotStored));
    assert_eq!(s.write(Write::new(StoreMode::Prepend, b("k"), b("v"))), Err(OpError::NotStored));
    s.write(Write::new(StoreMode::Add, b("k"), b("mid")).flags(42)).unwrap();
    assert_eq!(s.write(Write::new(StoreMode::Add, b("k"), b("x"))), Err(OpError::Exists));
    s.write(Write::new(StoreMode::Append, b("k"), b(">")).flags(1)).unwrap();
    s.write(Write::new(StoreMode::Prepend, b("k"), b("<")).flags(2)).unwrap();
    let hit = s.get(b"k").unwrap();
    assert_eq!(hit.value, b"<mid>"[..]);
    assert_eq!(hit.flags, 42, "append/prepend keep the flags");
    s.write(Write::new(StoreMode::Replace, b("k"), b("new")).flags(9)).unwrap();
    assert_eq!(value(&s, "k").as_deref(), Some("new"));
}

#[test]
fn cas_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    assert_eq!(s.write(Write::set(b("k"), b("v")).cas(77)), Err(OpError::NotFound));
    let c1 = set(&s, "k", "v1");
    assert_ne!(c1, 0);
    assert_eq!(s.write(Write::set(b("k"), b("v2")).cas(c1 + 1)), Err(OpError::Exists));
    let c2 = s.write(Write::set(b("k"), b("v2")).cas(c1)).unwrap().cas;
    assert!(c2 > c1, "every mutation gets a new, larger CAS");
    assert_eq!(s.get(b"k").unwrap().cas, c2);
    // TOUCH keeps the CAS.
    s.touch(b"k", 100).unwrap();
    assert_eq!(s.get(b"k").unwrap().cas, c2);
    assert_eq!(s.delete(b"k", c1), Err(OpError::Exists));
    assert_eq!(s.delete(b"k", c2).unwrap().cas, 0);
    assert_eq!(s.delete(b"k", 0), Err(OpError::NotFound));
    // Re-adding never reuses a CAS.
    let c3 = set(&s, "k", "v3");
    assert!(c3 > c2);
}

#[test]
fn incr_decr() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    // Missing with the sentinel expiry: ENOENT and nothing created.
    assert_eq!(s.arith(Counter::new(Arith::Incr, b("n"), 5)), Err(OpError::NotFound));
    assert!(s.get(b"n").is_none());
    // Missing otherwise: created with `initial`, delta not applied.
    assert_eq!(s.arith(Counter::new(Arith::Incr, b("n"), 5).create(10, 0)).unwrap().0, 10);
    assert_eq!(s.arith(Counter::new(Arith::Incr, b("n"), 5).create(10, 0)).unwrap().0, 15);
    assert_eq!(value(&s, "n").as_deref(), Some("15"));
    assert_eq!(
        s.arith(Counter::new(Arith::Decr, b("n"), 100).create(0, 0)).unwrap().0,
        0,
        "decr stops at 0"
    );
    set(&s, "big", &u64::MAX.to_string());
    assert_eq!(
        s.arith(Counter::new(Arith::Incr, b("big"), 2).create(0, 0)).unwrap().0,
        1,
        "incr wraps"
    );
    set(&s, "text", "41");
    assert_eq!(s.arith(Counter::new(Arith::Incr, b("text"), 1).create(0, 0)).unwrap().0, 42);
    set(&s, "ws", "7  ");
    assert_eq!(
        s.arith(Counter::new(Arith::Incr, b("ws"), 1).create(0, 0)).unwrap().0,
        8,
        "trailing spaces ok"
    );
    for bad in ["", "abc", "-1", "12a", "99999999999999999999999"] {
        set(&s, "bad", bad);
        assert_eq!(
            s.arith(Counter::new(Arith::Incr, b("bad"), 1).create(0, 0)),
            Err(OpError::BadDelta),
            "{bad:?}"
        );
    }
    let cas = s.get(b"n").unwrap().cas;
    assert_eq!(
        s.arith(Counter::new(Arith::Incr, b("n"), 1).create(0, 0).cas(cas + 1)),
        Err(OpError::Exists)
    );
    // A CAS on a missing item is ignored: it auto-creates.
    assert_eq!(
        s.arith(Counter::new(Arith::Incr, b("fresh"), 1).create(3, 0).cas(12345)).unwrap().0,
        3
    );
}

#[test]
fn expiry_relative_absolute_and_touch() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = open(dir.path(), BackendKind::Fjall);
    s.write(Write::set(b("rel"), b("v")).exptime(2)).unwrap();
    s.write(Write::set(b("edge"), b("v")).exptime(2_592_000)).unwrap();
    s.write(Write::set(b("abs-past"), b("v")).exptime(2_592_001)).unwrap();
    s.write(Write::set(b("abs"), b("v")).exptime(NOW + 5)).unwrap();
    assert!(s.get(b"abs-past").is_none(), "an absolute time in the past is born dead");
    assert!(s.get(b"rel").is_some());
    clock.advance(2);
    assert!(s.get(b"rel").is_some(), "a 2 s TTL lives at least 2 s");
    clock.advance(1);
    assert!(s.get(b"rel").is_none(), "and at most 3 s");
    assert!(s.get(b"edge").is_some(), "30 days is relative");
    assert!(s.get(b"abs").is_some());
    // An expired item is missing for every command.
    s.write(Write::set(b("e"), b("v")).exptime(1)).unwrap();
    clock.advance(2);
    assert_eq!(s.write(Write::new(StoreMode::Replace, b("e"), b("v"))), Err(OpError::NotFound));
    s.write(Write::new(StoreMode::Add, b("e"), b("again"))).unwrap();
    // TOUCH and GAT move the expiry.
    s.write(Write::set(b("t"), b("v")).exptime(1)).unwrap();
    s.touch(b"t", 100).unwrap();
    clock.advance(50);
    assert!(s.get(b"t").is_some());
    assert_eq!(s.touch(b"nope", 1).map(|_| ()), Err(OpError::NotFound));
    clock.advance(3);
    assert!(s.get(b"abs").is_none());
}

#[test]
fn flush_now_and_delayed() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = open(dir.path(), BackendKind::Fjall);
    set(&s, "a", "1");
    set(&s, "b", "2");
    s.flush(0);
    assert!(s.get(b"a").is_none() && s.get(b"b").is_none());
    assert_eq!(s.len(), 0);
    set(&s, "c", "3");
    s.flush(10);
    clock.advance(9);
    assert!(s.get(b"c").is_some(), "readable until the flush time");
    clock.advance(1);
    assert!(s.get(b"c").is_none(), "gone at the flush time");
    set(&s, "d", "4");
    assert!(s.get(b"d").is_some(), "items stored after the flush time stay");
    // The flush reached the engine too.
    s.close();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    assert_eq!(
        (value(&s, "a"), value(&s, "c"), value(&s, "d").as_deref()),
        (None, None, Some("4"))
    );
}

#[test]
fn purge_removes_expired_items_from_memory_and_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = open(dir.path(), BackendKind::Sqlite);
    for i in 0..100 {
        s.write(Write::set(b(&format!("k{i}")), b("v")).exptime(if i % 2 == 0 { 5 } else { 0 }))
            .unwrap();
    }
    clock.advance(6);
    assert_eq!(s.purge_expired(), 50);
    assert_eq!(s.len(), 50);
    s.close();
    let (s, _) = open(dir.path(), BackendKind::Sqlite);
    assert_eq!(s.len(), 50);
    assert_eq!(s.warmup().expired, 0, "the purge deleted them on disk");
}

#[test]
fn append_respects_the_value_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.max_value_len = 10;
    let s = Store::open(config).unwrap();
    set(&s, "k", "12345");
    s.write(Write::new(StoreMode::Append, b("k"), b("67890"))).unwrap();
    assert_eq!(s.write(Write::new(StoreMode::Append, b("k"), b("x"))), Err(OpError::TooLarge));
    assert_eq!(value(&s, "k").as_deref(), Some("1234567890"));
}

#[test]
fn append_and_prepend_share_the_old_value_instead_of_copying_it() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    let original = Bytes::from(vec![7u8; 64 * 1024]);
    let block = original.as_ptr();
    s.write(Write::set(b("k"), original)).unwrap();
    s.write(Write::new(StoreMode::Append, b("k"), b("tail"))).unwrap();
    s.write(Write::new(StoreMode::Prepend, b("k"), b("head"))).unwrap();
    let hit = s.get(b"k").unwrap();
    assert_eq!(hit.value.len(), 64 * 1024 + 8);
    assert!(
        hit.value.extents().any(|e| e.as_ptr() == block && e.len() == 64 * 1024),
        "the stored 64 KiB block is still the one the client sent"
    );
    let bytes = hit.value.to_bytes();
    assert_eq!((&bytes[..4], &bytes[bytes.len() - 4..]), (&b"head"[..], &b"tail"[..]));
}

#[test]
fn ttl_and_peek() {
    let dir = tempfile::tempdir().unwrap();
    let (s, clock) = open(dir.path(), BackendKind::Fjall);
    set(&s, "forever", "v");
    let hit = s.peek(b"forever").unwrap();
    assert_eq!((hit.exptime, s.ttl(&hit)), (0, -1));
    s.write(Write::set(b("k"), b("v")).exptime(100)).unwrap();
    let hit = s.peek(b"k").unwrap();
    assert_eq!((hit.exptime, s.ttl(&hit)), (NOW + 101, 100));
    clock.advance(30);
    assert_eq!(s.ttl(&s.get(b"k").unwrap()), 70);
    // A touch reports the new expiry.
    let (hit, _) = s.touch(b"k", 500).unwrap();
    assert_eq!(s.ttl(&hit), 500);
    // peek does not count as a GET, and misses once the item is dead.
    let gets = |s: &Store| s.stats().into_iter().find(|(k, _)| k == "cmd_get").unwrap().1;
    let before = gets(&s);
    assert!(s.peek(b"k").is_some());
    assert_eq!(gets(&s), before);
    clock.advance(501);
    assert!(s.peek(b"k").is_none());
}

#[test]
fn small_values_and_keys_are_copied_out_of_the_buffer_they_came_in() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open(dir.path(), BackendKind::Fjall);
    // A request buffer holding a key and a value, as a connection reads it.
    let buffer = Bytes::from(b"key1value-one".to_vec());
    let (key, value) = (buffer.slice(..4), buffer.slice(4..));
    s.write(Write::set(key, value.clone())).unwrap();
    let hit = s.get(b"key1").unwrap();
    assert_eq!(hit.value.to_bytes(), value);
    let range = buffer.as_ptr_range();
    assert!(
        hit.value.extents().all(|e| !range.contains(&e.as_ptr())),
        "the stored value still points into the request buffer"
    );
    // Small appends end in one block, not a chain of slices.
    s.write(Write::new(StoreMode::Append, b("key1"), buffer.slice(..3))).unwrap();
    s.write(Write::new(StoreMode::Prepend, b("key1"), buffer.slice(4..6))).unwrap();
    let hit = s.get(b"key1").unwrap();
    assert_eq!(hit.value.to_bytes(), Bytes::from_static(b"vavalue-onekey"));
    assert_eq!(hit.value.extents().count(), 1);
    assert!(hit.value.extents().all(|e| !range.contains(&e.as_ptr())));
}
