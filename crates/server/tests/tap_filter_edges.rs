//! Filtered TAP streams at their edges: rings that lap a backfill, filter
//! changes cut short and followed by another filter, acks and NACKs around
//! `CLOSE_BACKFILL`, cursors written before filters existed, `KEY_PREFIX`
//! with FILTER, and a first backfill cut before a delete.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use memcache::binary::Status;
use memcache::binary::tap::{TapConnect, TapFlags, opaque};

use crate::support::TestServer;
use crate::tap::{Consumer, Seen, apply};

type Model = BTreeMap<String, String>;

fn set(server: &TestServer, key: &str, value: &str) {
    server
        .check
        .write(store::Write::set(Bytes::from(key.to_string()), Bytes::from(value.to_string())))
        .unwrap();
}

fn contents(server: &TestServer, keys: &[String]) -> Model {
    keys.iter()
        .filter_map(|k| {
            let hit = server.check.get(k.as_bytes())?;
            Some((k.clone(), String::from_utf8(hit.value.copy_to_vec(..)).unwrap()))
        })
        .collect()
}

fn t_of(v: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(v).ok()?.get("t")?.as_f64()
}
fn u_of(v: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(v).ok()?.get("u")?.as_f64()
}

/// Reads without acking until the producer stalls; returns what was seen
/// and the ack requests.
fn read_until_stall(c: &mut Consumer) -> (Vec<Seen>, Vec<(memcache::binary::Opcode, u32)>) {
    let mut seen = Vec::new();
    let mut acks = Vec::new();
    while let Some((s, want)) = c.next_within(Duration::from_millis(1500)) {
        if let Some(w) = want {
            acks.push(w);
        }
        assert_ne!(s, Seen::Closed);
        seen.push(s);
    }
    (seen, acks)
}

fn drain(c: &mut Consumer, model: &mut Model) -> Vec<Seen> {
    let mut seen = Vec::new();
    while let Some((s, want)) = c.next_within(Duration::from_millis(1500)) {
        if let Some((op, o)) = want {
            c.ack(op, o, Status::SUCCESS);
        }
        seen.push(s);
    }
    apply(model, &seen);
    seen
}

/// A fresh consumer with a value filter whose backfill is lapped by the
/// ring: the later passes delete leavers and pass on tombstones.
/// `count` keys, even ones `{"t":25,"u":0}` and odd ones `{"t":0,"u":25}`;
/// the keys.
fn t_and_u_items(server: &TestServer, count: usize) -> Vec<String> {
    let keys: Vec<String> = (0..count).map(|i| format!("k{i:05}")).collect();
    for (i, k) in keys.iter().enumerate() {
        let v = if i % 2 == 0 { r#"{"t":25,"u":0}"# } else { r#"{"t":0,"u":25}"# };
        set(server, k, v);
    }
    server.check.sync();
    keys
}

/// Registered consumer `name` runs filter `first` to the end (its copy goes
/// into `model`) and leaves; once its cursor is stored, it connects again
/// with filter `second`.
fn change_filter(
    server: &TestServer,
    name: &'static [u8],
    first: &'static [u8],
    second: &'static [u8],
    model: &mut Model,
) -> Consumer {
    let reg = TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK;
    let mut c = Consumer::connect(server, &TapConnect::new(name).with(reg).filter(first));
    drain(&mut c, model);
    drop(c);
    std::thread::sleep(Duration::from_millis(800));
    server.check.sync();
    Consumer::connect(server, &TapConnect::new(name).with(reg).filter(second))
}

#[test]
fn lapped_backfill_leaves_stale_items() {
    lapped(Some(&b"json:/t > 20"[..]), 16);
}
#[test]
fn lapped_control_unfiltered() {
    lapped(None, 16);
}
#[test]
fn lapped_control_big_ring() {
    lapped(Some(&b"json:/t > 20"[..]), 1 << 18);
}

fn lapped(filter: Option<&'static [u8]>, ring: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut sc = store::Config::new(dir.path());
    sc.feed_max_changes = ring;
    let server = TestServer::start_in(dir.path(), &sc, server::Config::default(), None);
    let keys: Vec<String> = (0..6000).map(|i| format!("k{i:05}")).collect();
    for k in &keys {
        set(&server, k, r#"{"t":25}"#);
    }
    server.check.sync();
    let mut connect = TapConnect::new(&b""[..]).with(TapFlags::SUPPORT_ACK);
    if let Some(f) = filter {
        connect = connect.filter(f);
    }
    let mut c = Consumer::connect(&server, &connect);
    let (seen, acks) = read_until_stall(&mut c);
    let mut model = Model::new();
    apply(&mut model, &seen);
    let sent: Vec<String> = model.keys().cloned().collect();
    assert!(sent.len() > 100 && sent.len() < keys.len(), "stalled mid-backfill: {}", sent.len());
    // Change one sent key so it leaves the filter, delete another, and lap the ring.
    set(&server, &sent[0], r#"{"t":1}"#);
    server.check.delete(sent[1].as_bytes(), 0).unwrap();
    for i in 0..200 {
        set(&server, &format!("z{i}"), r#"{"t":0}"#);
    }
    server.check.sync();
    for (op, o) in acks {
        c.ack(op, o, Status::SUCCESS);
    }
    let seen = drain(&mut c, &mut model);
    assert!(seen.contains(&Seen::Control(opaque::CLOSE_BACKFILL)));
    let mut all = keys.clone();
    all.extend((0..200).map(|i| format!("z{i}")));
    let want: Model = contents(&server, &all)
        .into_iter()
        .filter(|(_, v)| filter.is_none() || t_of(v).is_some_and(|t| t > 20.0))
        .collect();
    let backfills =
        seen.iter().filter(|s| **s == Seen::Control(opaque::INITIAL_VBUCKET_STREAM)).count();
    eprintln!("ring {ring} filter {filter:?}: {backfills} INITIAL_VBUCKET_STREAM after the stall");
    let extra: Vec<_> = model.keys().filter(|k| !want.contains_key(*k)).collect();
    let missing: Vec<_> = want.keys().filter(|k| !model.contains_key(*k)).collect();
    assert!(extra.is_empty() && missing.is_empty(), "extra {extra:?} missing {missing:?}");
}

/// A registered consumer changes its filter, is cut mid-backfill, and
/// comes back with its old filter: it converges to the old one.
#[test]
fn interrupted_filter_change_then_old_filter() {
    let server = TestServer::start();
    let keys = t_and_u_items(&server, 8000);
    let a = &b"json:/t > 20"[..];
    let b = &b"json:/u > 20"[..];
    let reg = TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK;
    let mut model = Model::new();
    // Session 1: filter A, complete; session 2: filter B, cut after the
    // producer stalls for acks.
    let mut c = change_filter(&server, b"r", a, b, &mut model);
    let (seen, _) = read_until_stall(&mut c);
    apply(&mut model, &seen);
    assert!(!seen.contains(&Seen::Control(opaque::CLOSE_BACKFILL)));
    drop(c);
    std::thread::sleep(Duration::from_millis(800));
    // Session 3: filter A again.
    let mut c = Consumer::connect(&server, &TapConnect::new(&b"r"[..]).with(reg).filter(a));
    drain(&mut c, &mut model);
    let want: Model = contents(&server, &keys)
        .into_iter()
        .filter(|(_, v)| t_of(v).is_some_and(|t| t > 20.0))
        .collect();
    let extra: Vec<_> = model.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    let missing: Vec<_> = want.keys().filter(|k| !model.contains_key(*k)).take(5).collect();
    let n_extra = model.keys().filter(|k| !want.contains_key(*k)).count();
    let n_missing = want.keys().filter(|k| !model.contains_key(*k)).count();
    let _ = u_of;
    assert!(
        n_extra == 0 && n_missing == 0,
        "extra {n_extra} {extra:?} missing {n_missing} {missing:?}"
    );
}

/// A cursor written before filters were recorded, resumed by a
/// `KEY_PREFIX`-only consumer: a delta since the cursor, no deletes of keys
/// outside the prefix.
#[test]
fn pre_upgrade_key_prefix_cursor() {
    let server = TestServer::start();
    for i in 0..50 {
        set(&server, &format!("a:{i}"), "x");
        set(&server, &format!("b:{i}"), "y");
    }
    server.check.sync();
    // What the old code stored: the position only.
    server.check.set_cursor(b"old", server.check.high_seqno());
    server.check.sync();
    let connect =
        TapConnect::new(&b"old"[..]).with(TapFlags::REGISTERED_CLIENT).key_prefix(&b"a:"[..]);
    let mut c = Consumer::connect(&server, &connect);
    let seen = c.until(false, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL));
    let changes: Vec<_> =
        seen.iter().filter(|s| matches!(s, Seen::Set { .. } | Seen::Delete { .. })).collect();
    assert!(changes.is_empty(), "{} events, e.g. {:?}", changes.len(), changes.first());
}

/// FILTER is parsed on its own, not spliced after `KEY_PREFIX` as text: one
/// that does not parse alone cannot escape the prefix.
#[test]
fn key_prefix_filter_splice() {
    let server = TestServer::start();
    for i in 0..5 {
        set(&server, &format!("a:{i}"), "x");
        set(&server, &format!("b:{i}"), "y");
    }
    server.check.sync();
    let evil = &b"prefix:zz) or (prefix:b:"[..];
    let mut c =
        Consumer::connect(&server, &TapConnect::new(&b""[..]).with(TapFlags::DUMP).filter(evil));
    let alone = c.next_within(Duration::from_secs(5)).map(|s| s.0);
    assert!(matches!(alone, Some(Seen::Refused(..))), "alone: {alone:?}");
    let connect =
        TapConnect::new(&b""[..]).with(TapFlags::DUMP).key_prefix(&b"a:"[..]).filter(evil);
    // FILTER is parsed on its own: with a prefix it is refused the same.
    let mut c = Consumer::connect(&server, &connect);
    let with_prefix = c.next_within(Duration::from_secs(5)).map(|s| s.0);
    assert!(matches!(with_prefix, Some(Seen::Refused(..))), "with a prefix: {with_prefix:?}");
    let connect = TapConnect::new(&b""[..])
        .with(TapFlags::DUMP)
        .key_prefix(&b"a:"[..])
        .filter(&b"prefix:zz or prefix:b:"[..]);
    let mut c = Consumer::connect(&server, &connect);
    let seen = c.until(false, |s| *s == Seen::Closed);
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Set { .. })),
        "KEY_PREFIX a: and (prefix:zz or prefix:b:) selects nothing: {seen:?}"
    );
}

/// A NACK of a backfill event that arrives once the producer is live:
/// filtered (`KEY_PREFIX`) and unfiltered streams both send the backfill
/// again.
#[test]
fn nack_after_close_backfill() {
    let server = TestServer::start();
    for i in 0..1000 {
        set(&server, &format!("a:{i:04}"), "x");
    }
    server.check.sync();
    for prefix in [None, Some(&b"a:"[..])] {
        let mut connect = TapConnect::new(&b""[..]).with(TapFlags::SUPPORT_ACK);
        if let Some(p) = prefix {
            connect = connect.key_prefix(p);
        }
        let mut c = Consumer::connect(&server, &connect);
        let (seen, acks) = read_until_stall(&mut c);
        assert!(seen.contains(&Seen::Control(opaque::CLOSE_BACKFILL)));
        let (op, o) = acks[0];
        c.ack(op, o, Status::EINVAL); // NACK the first ack request (in the backfill)
        let (again, _) = read_until_stall(&mut c);
        let sets = again.iter().filter(|s| matches!(s, Seen::Set { .. })).count();
        eprintln!(
            "prefix {prefix:?}: {sets} items re-sent after the NACK; {:?}",
            &again[..again.len().min(4)]
        );
        assert!(sets >= 1000 - 256, "prefix {prefix:?}: only {sets} re-sent");
    }
}

/// On an idle store (the cursor equals the high seqno) an ack of an early
/// backfill event does not record the new filter: only the consumer's ack
/// of `CLOSE_BACKFILL` does.
#[test]
fn early_ack_stores_changed_filter() {
    let server = TestServer::start();
    let keys = t_and_u_items(&server, 3000);
    let a = &b"json:/t > 20"[..];
    let b = &b"json:/u > 20"[..];
    let reg = TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK;
    let mut model = Model::new();
    // Session 2: filter B; take events up to the first ack request, ack it, go.
    let mut c = change_filter(&server, b"r", a, b, &mut model);
    let mut seen = Vec::new();
    loop {
        let (s, want) = c.next_within(Duration::from_secs(5)).expect("events");
        seen.push(s);
        if let Some((op, o)) = want {
            c.ack(op, o, Status::SUCCESS);
            break;
        }
    }
    apply(&mut model, &seen);
    std::thread::sleep(Duration::from_millis(500));
    drop(c);
    std::thread::sleep(Duration::from_millis(800));
    // Session 3: filter B again.
    let mut c = Consumer::connect(&server, &TapConnect::new(&b"r"[..]).with(reg).filter(b));
    let third = drain(&mut c, &mut model);
    let changes =
        third.iter().filter(|s| matches!(s, Seen::Set { .. } | Seen::Delete { .. })).count();
    let want: Model = contents(&server, &keys)
        .into_iter()
        .filter(|(_, v)| u_of(v).is_some_and(|u| u > 20.0))
        .collect();
    let n_extra = model.keys().filter(|k| !want.contains_key(*k)).count();
    let n_missing = want.keys().filter(|k| !model.contains_key(*k)).count();
    assert!(
        n_extra == 0 && n_missing == 0,
        "the change took {} events; the reconnect sent {changes}; extra {n_extra} missing {n_missing}",
        seen.len()
    );
}

/// A NACK during a changed-filter backfill, then a delete of a key the
/// interrupted pass sent under the new filter: the delete reaches the copy.
#[test]
fn a_nack_in_a_changed_filter_backfill_keeps_later_deletes() {
    let server = TestServer::start();
    for i in 0..100 {
        set(&server, &format!("a:{i:05}"), "x");
    }
    for i in 0..6000 {
        set(&server, &format!("b:{i:05}"), "y");
    }
    server.check.sync();
    let mut model = Model::new();
    let mut c = change_filter(&server, b"n", b"prefix:a:", b"prefix:b:", &mut model);
    let (seen, acks) = read_until_stall(&mut c);
    apply(&mut model, &seen);
    let victim = model.keys().find(|k| k.starts_with("b:")).unwrap().clone();
    server.check.delete(victim.as_bytes(), 0).unwrap();
    server.check.sync();
    let (op, o) = acks[acks.len() - 1];
    c.ack(op, o, Status::EINVAL); // NACK
    drain(&mut c, &mut model);
    let keys: Vec<String> = (0..100)
        .map(|i| format!("a:{i:05}"))
        .chain((0..6000).map(|i| format!("b:{i:05}")))
        .collect();
    let want: Model =
        contents(&server, &keys).into_iter().filter(|(k, _)| k.starts_with("b:")).collect();
    let extra: Vec<_> = model.keys().filter(|k| !want.contains_key(*k)).take(5).collect();
    let n_missing = want.keys().filter(|k| !model.contains_key(*k)).count();
    assert!(
        extra.is_empty() && n_missing == 0,
        "victim {victim}: extra {extra:?} missing {n_missing}"
    );
}

/// A registered consumer cut in its first backfill (cursor 0), a delete of
/// a key it got, then a reconnect: the delete reaches the copy.
#[test]
fn first_backfill_cut_then_delete() {
    let server = TestServer::start();
    let keys: Vec<String> = (0..6000).map(|i| format!("k{i:05}")).collect();
    for k in &keys {
        set(&server, k, r#"{"t":25}"#);
    }
    server.check.sync();
    for filter in [None, Some(&b"json:/t > 20"[..])] {
        let name = if filter.is_some() { &b"cut-f"[..] } else { &b"cut"[..] };
        let mut connect =
            TapConnect::new(name).with(TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK);
        if let Some(f) = filter {
            connect = connect.filter(f);
        }
        let mut model = Model::new();
        let mut c = Consumer::connect(&server, &connect);
        let (seen, acks) = read_until_stall(&mut c);
        for (op, o) in acks.iter().take(3) {
            c.ack(*op, *o, Status::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(300));
        apply(&mut model, &seen);
        drop(c);
        std::thread::sleep(Duration::from_millis(800));
        let victim = model.keys().next().unwrap().clone();
        server.check.delete(victim.as_bytes(), 0).unwrap();
        server.check.sync();
        eprintln!("cursor after the cut: {:?}", server.check.cursor(name));
        let mut c = Consumer::connect(&server, &connect);
        drain(&mut c, &mut model);
        assert!(
            !model.contains_key(&victim),
            "filter {filter:?}: {victim} deleted on the source, still on the copy"
        );
    }
}
