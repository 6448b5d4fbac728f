//! The TAP producer over real TCP: dumps, live streams, acks and flow
//! control, registered cursors across reconnects and restarts, filters and
//! refusals, checked event by event with the codec's consumer side.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use memcache::binary::tap::{
    EventFlags, EventKind, Incoming, TapConnect, TapFlags, opaque, parse_incoming, write_ack,
};
use memcache::binary::{Check, Limits, Status, check_packet};

use crate::support;
use support::TestServer;

pub(crate) struct Consumer {
    stream: TcpStream,
    input: BytesMut,
}

/// What a consumer saw, simplified for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    Set { key: String, value: String, flags: u32, expiry: u32, cas: u64, seqno: Option<u64> },
    Delete { key: String, seqno: Option<u64> },
    Flush,
    Control(u32),
    Refused(Status, String),
    Closed,
}

impl Consumer {
    pub(crate) fn connect(server: &TapServer, connect: &TapConnect) -> Consumer {
        let stream = TcpStream::connect(server.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut out = BytesMut::new();
        connect.encode(0xfeed, 0, &mut out);
        let mut c = Consumer { stream, input: BytesMut::new() };
        c.stream.write_all(&out).unwrap();
        c
    }

    /// The next packet as (what it says, its ack request if any); `None`
    /// after `quiet` without data.
    pub(crate) fn next_within(
        &mut self,
        quiet: Duration,
    ) -> Option<(Seen, Option<(memcache::binary::Opcode, u32)>)> {
        self.stream.set_read_timeout(Some(quiet)).unwrap();
        loop {
            match check_packet(&self.input, &Limits::default()).unwrap() {
                Check::Complete(n) => {
                    let frame = self.input.split_to(n).freeze();
                    match parse_incoming(frame, &Limits::default()).unwrap() {
                        Incoming::Noop { .. } => {}
                        Incoming::Response(r) => {
                            let text = String::from_utf8_lossy(&r.value).into_owned();
                            return Some((Seen::Refused(r.status, text), None));
                        }
                        Incoming::Event(e) => {
                            let ack =
                                e.flags.contains(EventFlags::ACK).then(|| (e.opcode(), e.opaque));
                            let seqno = (e.engine_private.len() == 8).then(|| {
                                u64::from_be_bytes(e.engine_private[..].try_into().unwrap())
                            });
                            let key = String::from_utf8_lossy(&e.key).into_owned();
                            let seen = match e.kind {
                                EventKind::Mutation { item_flags, expiry, value } => {
                                    assert!(e.flags.contains(EventFlags::NETWORK_BYTE_ORDER));
                                    assert_eq!(e.ttl, 255);
                                    Seen::Set {
                                        key,
                                        value: String::from_utf8_lossy(&value).into_owned(),
                                        flags: item_flags,
                                        expiry,
                                        cas: e.cas,
                                        seqno,
                                    }
                                }
                                EventKind::Delete => Seen::Delete { key, seqno },
                                EventKind::Flush => Seen::Flush,
                                EventKind::Opaque { code } => Seen::Control(code),
                                other => panic!("unexpected event {other:?}"),
                            };
                            return Some((seen, ack));
                        }
                    }
                }
                Check::Incomplete { .. } => {
                    let mut chunk = [0u8; 16384];
                    match self.stream.read(&mut chunk) {
                        Ok(0) => return Some((Seen::Closed, None)),
                        Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) =>
                        {
                            return None;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            return Some((Seen::Closed, None));
                        }
                        Err(e) => panic!("read: {e}"),
                    }
                }
            }
        }
    }

    /// Reads until `stop` matches (inclusive) or nothing comes for 3 s,
    /// acking every ack request when `ack` is set.
    pub(crate) fn until(&mut self, ack: bool, stop: impl Fn(&Seen) -> bool) -> Vec<Seen> {
        let mut seen = Vec::new();
        while let Some((s, want)) = self.next_within(Duration::from_secs(3)) {
            if let (true, Some((op, opaque))) = (ack, want) {
                self.ack(op, opaque, Status::SUCCESS);
            }
            let done = stop(&s) || s == Seen::Closed;
            seen.push(s);
            if done {
                break;
            }
        }
        seen
    }

    pub(crate) fn ack(&mut self, op: memcache::binary::Opcode, opaque: u32, status: Status) {
        let mut out = BytesMut::new();
        write_ack(&mut out, op, opaque, status);
        self.stream.write_all(&out).unwrap();
    }
}

type TapServer = TestServer;

fn set(server: &TestServer, key: &str, value: &str, flags: u32) -> u64 {
    let m = server
        .check
        .write(
            store::Write::set(Bytes::from(key.to_string()), Bytes::from(value.to_string()))
                .flags(flags),
        )
        .unwrap();
    m.cas
}

/// Applies what a consumer saw to a model of the server's contents.
pub(crate) fn apply(model: &mut BTreeMap<String, String>, seen: &[Seen]) {
    for s in seen {
        match s {
            Seen::Set { key, value, .. } => {
                model.insert(key.clone(), value.clone());
            }
            Seen::Delete { key, .. } => {
                model.remove(key);
            }
            Seen::Flush => model.clear(),
            _ => {}
        }
    }
}

fn contents(server: &TestServer, keys: impl Iterator<Item = String>) -> BTreeMap<String, String> {
    keys.filter_map(|k| {
        let hit = server.check.get(k.as_bytes())?;
        Some((k, String::from_utf8(hit.value.copy_to_vec(..)).unwrap()))
    })
    .collect()
}

#[test]
fn dump_sends_every_item_with_its_metadata_then_closes() {
    let server = TestServer::start();
    let mut cas = BTreeMap::new();
    for i in 0..300 {
        cas.insert(format!("k{i}"), set(&server, &format!("k{i}"), &format!("value {i}"), i));
    }
    server
        .check
        .write(
            store::Write::set(Bytes::from_static(b"ttl"), Bytes::from_static(b"x")).exptime(3600),
        )
        .unwrap();
    let expiry = server.check.get(b"ttl").unwrap().exptime;
    server.check.delete(b"k7", 0).unwrap();

    let mut c = Consumer::connect(&server, &TapConnect::new(&b"dumper"[..]).with(TapFlags::DUMP));
    let seen = c.until(false, |s| *s == Seen::Closed);
    assert_eq!(seen.first(), Some(&Seen::Control(opaque::INITIAL_VBUCKET_STREAM)));
    let n = seen.len();
    assert_eq!(
        &seen[n - 3..],
        [
            Seen::Control(opaque::CLOSE_BACKFILL),
            Seen::Control(opaque::CLOSE_TAP_STREAM),
            Seen::Closed
        ]
    );
    let sets: BTreeMap<_, _> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Set { key, value, flags, expiry, cas, seqno } => {
                assert_eq!(*seqno, None, "no SEQNO_META asked");
                Some((key.clone(), (value.clone(), *flags, *expiry, *cas)))
            }
            Seen::Control(_) | Seen::Closed => None,
            other => panic!("a dump of a store sends no {other:?}"),
        })
        .collect();
    assert_eq!(sets.len(), 300, "299 items + ttl, each once");
    assert_eq!(sets["k42"], ("value 42".into(), 42, 0, cas["k42"]));
    assert_eq!(sets["ttl"].2, expiry);
    assert!(!sets.contains_key("k7"));
}

#[test]
fn live_stream_sends_later_changes_in_order_with_seqnos() {
    let server = TestServer::start();
    set(&server, "old", "before", 0);
    let mut c = Consumer::connect(
        &server,
        &TapConnect::new(&b"live"[..]).backfill(u64::MAX).with(TapFlags::SEQNO_META),
    );
    // Nothing from before the connect.
    assert_eq!(c.next_within(Duration::from_millis(300)), None);
    set(&server, "a", "1", 1);
    set(&server, "a", "2", 2);
    server.check.delete(b"a", 0).unwrap();
    server.check.flush(0);
    set(&server, "b", "3", 3);
    let seen = c.until(false, |s| matches!(s, Seen::Set { key, .. } if key == "b"));
    let kinds: Vec<_> = seen
        .iter()
        .map(|s| match s {
            Seen::Set { key, value, .. } => format!("set {key}={value}"),
            Seen::Delete { key, .. } => format!("delete {key}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["set a=1", "set a=2", "delete a", "Flush", "set b=3"]);
    let seqnos: Vec<u64> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Set { seqno, .. } | Seen::Delete { seqno, .. } => *seqno,
            _ => None,
        })
        .collect();
    assert_eq!(seqnos.len(), 4);
    assert!(seqnos.windows(2).all(|w| w[0] < w[1]), "{seqnos:?}");
}

#[test]
fn keys_only_and_prefix_filter() {
    let server = TestServer::start();
    set(&server, "user:1", "alice", 0);
    set(&server, "user:2", "bob", 0);
    set(&server, "session:1", "xyz", 0);
    let connect = TapConnect::new(&b""[..])
        .with(TapFlags::DUMP | TapFlags::KEYS_ONLY)
        .key_prefix(&b"user:"[..]);
    let mut c = Consumer::connect(&server, &connect);
    let seen = c.until(false, |s| *s == Seen::Closed);
    let mut keys: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Set { key, value, .. } => {
                assert_eq!(value, "", "KEYS_ONLY sends no value");
                Some(key.as_str())
            }
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["user:1", "user:2"]);
}

#[test]
fn refusals_name_the_problem_and_keep_nothing_open() {
    let server = TestServer::start();
    for (connect, words) in [
        (TapConnect::new(&b"t"[..]).with(TapFlags::TAKEOVER_VBUCKETS), "TAKEOVER"),
        (TapConnect::new(&b"t"[..]).vbuckets(vec![0, 3]), "vbucket 3"),
        (TapConnect::new(&b""[..]).with(TapFlags::REGISTERED_CLIENT), "needs a name"),
        (TapConnect::new(&b"t"[..]).with(TapFlags(0x8000_0000)), "0x80000000"),
    ] {
        let mut c = Consumer::connect(&server, &connect);
        let (seen, _) = c.next_within(Duration::from_secs(5)).unwrap();
        match seen {
            Seen::Refused(status, text) => {
                assert_eq!(status, Status::EINVAL);
                assert!(text.contains(words), "{text:?} should mention {words}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    // vbucket 0 alone is fine.
    let mut c = Consumer::connect(
        &server,
        &TapConnect::new(&b"t"[..]).vbuckets(vec![0]).with(TapFlags::DUMP),
    );
    assert!(
        c.until(false, |s| *s == Seen::Closed).contains(&Seen::Control(opaque::CLOSE_TAP_STREAM))
    );
}

#[test]
fn an_unacked_window_pauses_the_stream_and_acks_resume_it() {
    let server = TestServer::start();
    let total = 20_000;
    for i in 0..total {
        set(&server, &format!("k{i:05}"), "v", 0);
    }
    let mut c = Consumer::connect(
        &server,
        &TapConnect::new(&b"slow"[..]).with(TapFlags::DUMP | TapFlags::SUPPORT_ACK),
    );
    // Read without acking until the producer stops sending.
    let mut events = 0;
    let mut asks = Vec::new();
    while let Some((seen, want)) = c.next_within(Duration::from_millis(700)) {
        assert_ne!(seen, Seen::Closed);
        events += 1;
        asks.extend(want);
    }
    assert_eq!(asks.len(), 16, "the window is 16 ack requests");
    assert!(events < total / 2, "the stream paused after {events} events");
    assert_eq!(events, 16 * 256 + 2, "OPAQUE 0 and 1, then 16 × 256 events");
    // Ack them; the rest follows and the dump completes.
    for (op, opaque) in asks {
        c.ack(op, opaque, Status::SUCCESS);
    }
    let rest = c.until(true, |s| *s == Seen::Closed);
    let sets = rest.iter().filter(|s| matches!(s, Seen::Set { .. })).count();
    assert_eq!(sets + events - 2, total, "every item exactly once");
    assert!(rest.contains(&Seen::Control(opaque::CLOSE_TAP_STREAM)));
}

#[test]
fn a_registered_client_resumes_with_only_the_delta_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store_config = store::Config::new(dir.path());
    let connect = TapConnect::new(&b"replica-1"[..])
        .with(TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK);
    let mut model = BTreeMap::new();
    let all_keys = || (0..60).map(|i| format!("k{i}"));
    {
        let server =
            TestServer::start_in(dir.path(), &store_config, server::Config::default(), None);
        for i in 0..50 {
            set(&server, &format!("k{i}"), "first", 0);
        }
        let mut c = Consumer::connect(&server, &connect);
        let seen = c.until(true, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL));
        apply(&mut model, &seen);
        assert_eq!(model.len(), 50);
        // Live changes, acked, then the consumer goes away.
        set(&server, "k1", "second", 0);
        let seen = c.until(true, |s| matches!(s, Seen::Set { key, .. } if key == "k1"));
        apply(&mut model, &seen);
        std::thread::sleep(Duration::from_millis(300)); // the ack reaches the server
        drop(c);
        // Changes while it is away, including deletes.
        server.check.delete(b"k2", 0).unwrap();
        server.check.delete(b"k3", 0).unwrap();
        set(&server, "k55", "new", 0);
        set(&server, "k4", "third", 0);
        server.check.sync();
        let stats = stat_tap(&server);
        assert!(stats.iter().any(|(k, _)| k == "tap_cursor:replica-1"), "{stats:?}");
    }
    // The server restarts; the consumer reconnects under its name.
    let server = TestServer::start_in(dir.path(), &store_config, server::Config::default(), None);
    let mut c = Consumer::connect(&server, &connect);
    let seen = c.until(true, |s| *s == Seen::Control(opaque::CLOSE_BACKFILL));
    let changes: Vec<_> = seen
        .iter()
        .filter(|s| matches!(s, Seen::Set { .. } | Seen::Delete { .. } | Seen::Flush))
        .collect();
    assert_eq!(changes.len(), 4, "only the delta: {changes:?}");
    apply(&mut model, &seen);
    assert_eq!(model, contents(&server, all_keys()));
}

pub(crate) fn stat_tap(server: &TestServer) -> Vec<(String, String)> {
    use memcache::binary::{Batch, ResponseDecoder};
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = BytesMut::new();
    Batch::new(&mut out, 1).stat(b"tap");
    stream.write_all(&out).unwrap();
    let mut decoder = ResponseDecoder::new(Limits::default());
    let mut input = BytesMut::new();
    let mut stats = Vec::new();
    loop {
        if let Some(r) = decoder.decode(&mut input).unwrap() {
            if r.is_stat_end() {
                return stats;
            }
            stats.push((
                String::from_utf8_lossy(&r.key).into_owned(),
                String::from_utf8_lossy(&r.value).into_owned(),
            ));
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0);
        input.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_consumer_that_drops_and_resumes_under_concurrent_writes_converges() {
    let server = TestServer::start();
    let keys = 500;
    for i in 0..keys {
        set(&server, &format!("k{i}"), "seed", 0);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2u64)
        .map(|w| {
            let store = server.check.clone();
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ w;
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = Bytes::from(format!("k{}", x % keys));
                    if x.is_multiple_of(5) {
                        let _ = store.delete(&key, 0);
                    } else {
                        n += 1;
                        let value = Bytes::from(format!("w{w}-{n}"));
                        store.write(store::Write::set(key, value)).unwrap();
                    }
                    if n.is_multiple_of(64) {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    let connect =
        TapConnect::new(&b"follower"[..]).with(TapFlags::REGISTERED_CLIENT | TapFlags::SUPPORT_ACK);
    let mut model = BTreeMap::new();
    for round in 0..4 {
        let mut c = Consumer::connect(&server, &connect);
        // Read (and ack) for a while, then vanish mid-stream.
        let deadline = std::time::Instant::now() + Duration::from_millis(400);
        let mut seen = Vec::new();
        while std::time::Instant::now() < deadline {
            let Some((s, want)) = c.next_within(Duration::from_millis(100)) else { continue };
            if let Some((op, opaque)) = want {
                c.ack(op, opaque, Status::SUCCESS);
            }
            seen.push(s);
        }
        // Events after the last ack may come again on resume; applying
        // them twice is harmless because they arrive in order.
        apply(&mut model, &seen);
        assert!(!seen.is_empty(), "round {round} saw nothing");
        drop(c);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    server.check.sync();
    let mut c = Consumer::connect(&server, &connect);
    let seen = c.until(true, |_| false);
    apply(&mut model, &seen);
    assert_eq!(model, contents(&server, (0..keys).map(|i| format!("k{i}"))));
}

#[test]
fn a_ring_lapped_during_backfill_and_live_still_converges() {
    let dir = tempfile::tempdir().unwrap();
    let mut store_config = store::Config::new(dir.path());
    store_config.feed_max_changes = 64;
    let server = TestServer::start_in(dir.path(), &store_config, server::Config::default(), None);
    let keys = 3000;
    for i in 0..keys {
        set(&server, &format!("k{i}"), "seed", 0);
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let store = server.check.clone();
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = Bytes::from(format!("k{}", n * 7919 % keys));
                if n.is_multiple_of(3) {
                    let _ = store.delete(&key, 0);
                } else {
                    store.write(store::Write::set(key, Bytes::from(format!("{n}")))).unwrap();
                }
            }
        })
    };
    let mut c = Consumer::connect(&server, &TapConnect::new(&b"lapped"[..]));
    let mut model = BTreeMap::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Some((s, _)) = c.next_within(Duration::from_millis(100)) {
            apply(&mut model, std::slice::from_ref(&s));
        }
    }
    let stats = stat_tap(&server);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    server.check.sync();
    let rest = c.until(false, |_| false);
    apply(&mut model, &rest);
    assert_eq!(model, contents(&server, (0..keys).map(|i| format!("k{i}"))));
    // Lapped in the backfill's catch-up (another pass) or live (another
    // backfill): which one depends on the machine's speed.
    let laps: u64 =
        stats.iter().find(|(k, _)| k.ends_with(":laps")).map(|(_, v)| v.parse().unwrap()).unwrap();
    assert!(laps >= 1, "a 64-change ring under a busy writer must lap the stream: {stats:?}");
}
