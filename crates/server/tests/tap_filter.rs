//! Filtered TAP streams (`FILTER`): every filter kind against a model
//! written here (not the filter crate's evaluator), the confirmation and
//! the refusals, values leaving a filter, and a registered consumer that
//! changes its filter under concurrent writes and converges each time.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use memcache::binary::Status;
use memcache::binary::tap::{TapConnect, TapFlags, opaque};

use crate::support::TestServer;
use crate::tap::{Consumer, Seen};

/// An item as the model sees it.
#[derive(Clone, Debug, PartialEq)]
struct Doc {
    flags: u32,
    value: String,
}

type Model = BTreeMap<String, Doc>;

/// The readings' keys: `reading/2024-01-01T00:MM:SSZ_sN`, in time order.
fn reading_key(i: u32) -> String {
    format!("reading/2024-01-01T00:{:02}:{:02}Z_s{}", i / 60, i % 60, i % 3)
}

fn reading_value(i: u32, round: u32) -> String {
    let reading = f64::from((i * 7 + round * 13) % 50) / 2.0;
    format!(r#"{{"ts":"{}","serial":"s{}","reading":{reading}}}"#, &reading_key(i)[8..28], i % 3)
}

const READINGS: u32 = 240;
const USERS: u32 = 40;

fn universe() -> Vec<String> {
    (0..READINGS).map(reading_key).chain((0..USERS).map(|i| format!("user:{i}"))).collect()
}

fn write(server: &TestServer, key: &str, doc: &Doc) {
    server
        .check
        .write(
            store::Write::set(Bytes::from(key.to_string()), Bytes::from(doc.value.clone()))
                .flags(doc.flags),
        )
        .unwrap();
}

/// Writes the data set (round 0).
fn load(server: &TestServer) {
    for i in 0..READINGS {
        write(server, &reading_key(i), &Doc { flags: i % 4, value: reading_value(i, 0) });
    }
    for i in 0..USERS {
        write(server, &format!("user:{i}"), &Doc { flags: i % 4, value: format!("name {i}") });
    }
    server.check.sync();
}

/// What the server holds, read through the store (the Lua library is an
/// item too).
fn source(server: &TestServer) -> Model {
    universe()
        .into_iter()
        .chain(["\0lua:filters".to_string()])
        .filter_map(|k| {
            let hit = server.check.get(k.as_bytes())?;
            let value = String::from_utf8(hit.value.copy_to_vec(..)).unwrap();
            Some((k, Doc { flags: hit.flags, value }))
        })
        .collect()
}

fn reading_of(value: &str) -> Option<f64> {
    serde_json::from_str::<serde_json::Value>(value).ok()?.get("reading")?.as_f64()
}

fn serial_of(value: &str) -> Option<String> {
    Some(
        serde_json::from_str::<serde_json::Value>(value).ok()?.get("serial")?.as_str()?.to_string(),
    )
}

/// The Lua library the `lua:` filters call: keys[1] is the key, args[1]
/// the value, args[2] the flags.
const LIB: &str = "function serial2(keys, args) \
     return keys[1]:sub(1, 8) == 'reading/' \
       and string.find(args[1], '\"serial\":\"s2\"', 1, true) ~= nil end";

type Predicate = fn(&str, &Doc) -> bool;

/// Filters with their model, one per kind and a few combinations.
fn filters() -> Vec<(&'static str, Predicate)> {
    vec![
        ("prefix:user:", |k, _| k.starts_with("user:")),
        ("range:reading/2024-01-01T00:01..reading/2024-01-01T00:02", |k, _| {
            ("reading/2024-01-01T00:01".."reading/2024-01-01T00:02").contains(&k)
        }),
        ("flags:0x3=1", |_, d| d.flags & 3 == 1),
        ("json:/reading > 20", |_, d| reading_of(&d.value).is_some_and(|r| r > 20.0)),
        (r#"json:/serial = "s1" and not prefix:reading/2024-01-01T00:00"#, |k, d| {
            serial_of(&d.value).as_deref() == Some("s1")
                && !k.starts_with("reading/2024-01-01T00:00")
        }),
        ("prefix:user: or json:/reading <= 1", |k, d| {
            k.starts_with("user:") || reading_of(&d.value).is_some_and(|r| r <= 1.0)
        }),
        ("lua:serial2", |k, d| k.starts_with("reading/") && d.value.contains(r#""serial":"s2""#)),
        ("not range:..reading/2024-01-01T00:03", |k, _| k >= "reading/2024-01-01T00:03"),
    ]
}

fn selected(model: &Model, predicate: Predicate) -> Model {
    model.iter().filter(|(k, d)| predicate(k, d)).map(|(k, d)| (k.clone(), d.clone())).collect()
}

/// Loads the Lua library over the text protocol.
fn load_lua(server: &TestServer) {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut()
        .write_all(format!("lua load filters {}\r\n{LIB}\r\n", LIB.len()).as_bytes())
        .unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\r\n");
}

/// Applies events to a model that keeps flags too.
fn apply_docs(model: &mut Model, seen: &[Seen]) {
    for s in seen {
        match s {
            Seen::Set { key, value, flags, .. } => {
                model.insert(key.clone(), Doc { flags: *flags, value: value.clone() });
            }
            Seen::Delete { key, .. } => {
                model.remove(key);
            }
            Seen::Flush => model.clear(),
            _ => {}
        }
    }
}

#[test]
fn every_filter_kind_dumps_exactly_what_the_model_selects() {
    let server = TestServer::start();
    load(&server);
    load_lua(&server);
    let all = source(&server);
    for (text, predicate) in filters() {
        let connect =
            TapConnect::new(&b""[..]).with(TapFlags::DUMP).filter(text.as_bytes().to_vec());
        let mut c = Consumer::connect(&server, &connect);
        let seen = c.until(false, |s| *s == Seen::Closed);
        assert_eq!(
            seen.first(),
            Some(&Seen::Control(opaque::FILTER_ACCEPTED)),
            "{text}: the confirmation comes first"
        );
        let mut got = Model::new();
        apply_docs(&mut got, &seen);
        let want = selected(&all, predicate);
        assert!(!want.is_empty() && want.len() < all.len(), "{text}: a test that can fail");
        assert_eq!(got, want, "{text}");
    }
}

#[test]
fn key_prefix_and_filter_combine_and_refusals_name_the_problem() {
    let server = TestServer::start();
    load(&server);
    let connect = TapConnect::new(&b""[..])
        .with(TapFlags::DUMP)
        .key_prefix(&b"reading/"[..])
        .filter(&b"flags:3=1 or prefix:user:"[..]);
    let mut c = Consumer::connect(&server, &connect);
    let mut got = Model::new();
    apply_docs(&mut got, &c.until(false, |s| *s == Seen::Closed));
    let want = selected(&source(&server), |k, d| k.starts_with("reading/") && d.flags & 3 == 1);
    assert_eq!(got, want);

    for (filter, words) in [
        (&b"range:a"[..], "at byte"),
        (b"json:/x >", "at byte"),
        (b"lua:nosuch", "no Lua function nosuch"),
        (b"prefix:a and (", "at byte"),
    ] {
        let connect = TapConnect::new(&b""[..]).with(TapFlags::DUMP).filter(filter);
        let mut c = Consumer::connect(&server, &connect);
        match c.next_within(Duration::from_secs(5)).map(|s| s.0) {
            Some(Seen::Refused(status, text)) => {
                assert_eq!(status, Status::EINVAL);
                assert!(text.contains(words), "{text:?} should mention {words:?}");
            }
            other => panic!("{filter:?}: expected a refusal, got {other:?}"),
        }
    }
    let long = vec![b'a'; 5000];
    let mut c = Consumer::connect(&server, &TapConnect::new(&b""[..]).filter(long));
    assert!(matches!(
        c.next_within(Duration::from_secs(5)).map(|s| s.0),
        Some(Seen::Refused(Status::EINVAL, text)) if text.contains("4096")
    ));
}

#[test]
fn a_value_that_leaves_a_live_filter_is_deleted_and_other_keys_stay_silent() {
    let server = TestServer::start();
    load(&server);
    let connect = TapConnect::new(&b"hot"[..]).filter(&b"json:/reading>20"[..]);
    let mut c = Consumer::connect(&server, &connect);
    let mut model = Model::new();
    apply_docs(&mut model, &c.until(false, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL)));
    // `stats tap` shows the stream's filter in its canonical form.
    let stats = crate::tap::stat_tap(&server);
    assert!(
        stats.iter().any(|(k, v)| k.ends_with(":filter") && v == "json:/reading > 20"),
        "{stats:?}"
    );
    let key = reading_key(7);
    // In, then out of the filter, then deleted.
    write(&server, &key, &Doc { flags: 0, value: r#"{"reading":30}"#.into() });
    let seen = c.until(false, |s| matches!(s, Seen::Set { key: k, .. } if *k == key));
    apply_docs(&mut model, &seen);
    assert_eq!(model[&key].value, r#"{"reading":30}"#);
    write(&server, &key, &Doc { flags: 0, value: r#"{"reading":3}"#.into() });
    let seen = c.until(false, |s| matches!(s, Seen::Delete { key: k, .. } if *k == key));
    apply_docs(&mut model, &seen);
    assert!(!model.contains_key(&key), "the item left the filter: {seen:?}");
    // A prefix filter says nothing about keys outside it.
    let connect = TapConnect::new(&b""[..]).filter(&b"prefix:user:"[..]);
    let mut c = Consumer::connect(&server, &connect);
    c.until(false, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL));
    server.check.delete(reading_key(8).as_bytes(), 0).unwrap();
    write(&server, &reading_key(9), &Doc { flags: 0, value: "x".into() });
    write(&server, "user:1", &Doc { flags: 0, value: "y".into() });
    let seen = c.until(false, |s| matches!(s, Seen::Set { key, .. } if key == "user:1"));
    let changes: Vec<_> =
        seen.iter().filter(|s| matches!(s, Seen::Set { .. } | Seen::Delete { .. })).collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
}

/// Overwrites, deletes and re-creates keys until `stop` (readings move in
/// and out of the value filters; flags change too).
fn churn(server: &TestServer, stop: &AtomicBool, seed: u32) -> u32 {
    let keys = universe();
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let i = x % READINGS;
        let key = &keys[(x as usize / 7) % keys.len()];
        if x.is_multiple_of(11) {
            let _ = server.check.delete(key.as_bytes(), 0);
        } else if key.starts_with("reading/") {
            write(server, key, &Doc { flags: x % 4, value: reading_value(i, x % 97) });
        } else {
            write(server, key, &Doc { flags: x % 4, value: format!("name {x}") });
        }
        n += 1;
        if n % 50 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    n
}

/// Reads (acking) until the stream has been quiet for a while.
fn drain(c: &mut Consumer, model: &mut Model) {
    let mut seen = Vec::new();
    while let Some((s, want)) = c.next_within(Duration::from_millis(1500)) {
        if let Some((op, opaque)) = want {
            c.ack(op, opaque, Status::SUCCESS);
        }
        assert_ne!(s, Seen::Closed);
        seen.push(s);
    }
    apply_docs(model, &seen);
}

#[test]
fn a_registered_consumer_that_changes_its_filter_converges_every_time() {
    let server = Arc::new(TestServer::start());
    load(&server);
    load_lua(&server);
    let mut copy = Model::new();
    // Each round: connect with the next filter while writes go on, then
    // stop the writes, drain, and compare with the filter's selection.
    let mut rounds: Vec<(Option<&str>, Predicate)> =
        filters().into_iter().map(|(t, p)| (Some(t), p)).collect();
    rounds.insert(3, (None, |_, _| true));
    rounds.push((Some("prefix:user:"), |k, _| k.starts_with("user:")));
    for (round, (text, predicate)) in rounds.into_iter().enumerate() {
        let mut connect = TapConnect::new(&b"converge"[..])
            .with(TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK);
        if let Some(text) = text {
            connect = connect.filter(text.as_bytes().to_vec());
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (server, stop) = (Arc::clone(&server), Arc::clone(&stop));
            std::thread::spawn(move || churn(&server, &stop, round as u32 + 1))
        };
        let mut c = Consumer::connect(&server, &connect);
        let seen = c.until(true, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL));
        assert_eq!(seen.last(), Some(&Seen::Control(opaque::CLOSE_BACKFILL)), "{text:?}");
        apply_docs(&mut copy, &seen);
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0);
        server.check.sync();
        drain(&mut c, &mut copy);
        let want = selected(&source(&server), predicate);
        assert_eq!(copy, want, "round {round}: {text:?}");
        drop(c);
        // The stored cursor (and filter) reach the engine before the next
        // round reconnects.
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn lua_is_called_only_where_the_rest_of_the_filter_does_not_decide() {
    let server = TestServer::start();
    load(&server);
    // A function that leaves a mark on each item it is called for.
    let lib = "function mark(keys, args) mc.append(keys[1], '!') return true end";
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s);
    r.get_mut().write_all(format!("lua load marks {}\r\n{lib}\r\n", lib.len()).as_bytes()).unwrap();
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "OK\r\n");
    let dump = |filter: &str| {
        let connect =
            TapConnect::new(&b""[..]).with(TapFlags::DUMP).filter(filter.as_bytes().to_vec());
        let mut c = Consumer::connect(&server, &connect);
        let seen = c.until(false, |s| *s == Seen::Closed);
        let keys: std::collections::BTreeSet<_> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Set { key, .. } => Some(key.clone()),
                _ => None,
            })
            .collect();
        keys.len()
    };
    let marked =
        |server: &TestServer| source(server).values().filter(|d| d.value.ends_with('!')).count();
    assert_eq!(dump("prefix:user: and lua:mark"), USERS as usize);
    assert_eq!(marked(&server), USERS as usize, "called for each user: key");
    assert_eq!(dump("prefix:reading/ and json:/nosuch exists and lua:mark"), 0);
    assert_eq!(marked(&server), USERS as usize, "the json atom decides alone: no call");
}
