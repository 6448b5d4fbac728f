//! The server over real TCP on 127.0.0.1, driven with raw packets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use memcache::binary::{
    Batch, Limits, Opcode, Request, Response, ResponseDecoder, Status, encode_raw,
};

use crate::support;
use support::TestServer;

impl TestServer {
    fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, input: BytesMut::new(), decoder: ResponseDecoder::new(Limits::default()) }
    }
}

struct Client {
    stream: TcpStream,
    input: BytesMut,
    decoder: ResponseDecoder,
}

impl Client {
    fn send(&mut self, requests: &[Request]) {
        let mut out = BytesMut::new();
        for r in requests {
            r.encode(&mut out);
        }
        self.stream.write_all(&out).unwrap();
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next response, or `None` when the server closed the connection.
    fn recv(&mut self) -> Option<Response> {
        loop {
            if let Some(r) = self.decoder.decode(&mut self.input).unwrap() {
                return Some(r);
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.input.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    fn call(&mut self, request: Request) -> Response {
        self.send(&[request]);
        self.recv().expect("a response")
    }

    fn is_closed(&mut self) -> bool {
        self.recv().is_none()
    }
}

#[test]
fn set_get_delete_cas_incr() {
    let server = TestServer::start();
    let mut c = server.connect();
    let r = c.call(Request::set(&b"k"[..], &b"hello"[..], 0xdead_beef, 0));
    assert_eq!(r.status, Status::SUCCESS);
    let cas = r.cas;
    assert_ne!(cas, 0);
    let r = c.call(Request::get(&b"k"[..]).with_opaque(77));
    assert_eq!((r.status, r.opaque, r.cas), (Status::SUCCESS, 77, cas));
    assert_eq!(r.flags(), Some(0xdead_beef));
    assert_eq!(&r.value[..], b"hello");
    assert!(r.key.is_empty(), "GET does not echo the key");
    let r = c.call(Request::getk(&b"k"[..]));
    assert_eq!(&r.key[..], b"k");
    let r = c.call(Request::set(&b"k"[..], &b"x"[..], 0, 0).with_cas(cas + 1));
    assert_eq!(r.status, Status::KEY_EEXISTS);
    let r = c.call(Request::add(&b"k"[..], &b"x"[..], 0, 0));
    assert_eq!(r.status, Status::KEY_EEXISTS);
    let r = c.call(Request::delete(&b"k"[..]));
    assert_eq!((r.status, r.cas), (Status::SUCCESS, 0));
    let r = c.call(Request::get(&b"k"[..]));
    assert_eq!(r.status, Status::KEY_ENOENT);
    assert_eq!(&r.value[..], b"Not found");
    let r = c.call(Request::getk(&b"missing"[..]));
    assert_eq!((r.status, &r.key[..]), (Status::KEY_ENOENT, &b"missing"[..]));
    let r = c.call(Request::counter(memcache::ops::Arith::Incr, &b"n"[..], 5, 41, 0));
    assert_eq!(r.counter(), Some(41));
    let r = c.call(Request::counter(memcache::ops::Arith::Incr, &b"n"[..], 1, 0, 0));
    assert_eq!(r.counter(), Some(42));
    let r = c.call(Request::append(&b"nope"[..], &b"x"[..]));
    assert_eq!(r.status, Status::NOT_STORED);
}

#[test]
fn quiet_pipeline_answers_only_failures_and_the_noop() {
    let server = TestServer::start();
    let mut c = server.connect();
    let mut out = BytesMut::new();
    let mut batch = Batch::new(&mut out, 1);
    for i in 0..500u32 {
        batch.setq(format!("key{i}").as_bytes(), &[b'v'; 100], i, 0);
    }
    // An ADDQ of an existing key fails and must be reported with its opaque.
    let failing = batch.store(memcache::ops::StoreMode::Add, true, 0, b"key7", b"x", 0, 0);
    let noop = batch.noop();
    c.send_raw(&out);
    let r = c.recv().unwrap();
    assert_eq!((r.opcode, r.status, r.opaque), (Opcode::ADDQ, Status::KEY_EEXISTS, failing));
    let r = c.recv().unwrap();
    assert_eq!((r.opcode, r.opaque), (Opcode::NOOP, noop));
    // GETKQ misses are silent, hits answer.
    c.send(&[
        Request::getk(&b"key3"[..]).quiet(),
        Request::getk(&b"absent"[..]).quiet(),
        Request::noop(),
    ]);
    let r = c.recv().unwrap();
    assert_eq!((&r.key[..], r.flags()), (&b"key3"[..], Some(3)));
    assert_eq!(c.recv().unwrap().opcode, Opcode::NOOP);
}

#[test]
fn noop_reply_means_durable() {
    // The NOOP's reply is sent only after the batch is committed: a store
    // opened on the same directory afterwards must see every item.
    let dir = tempfile::tempdir().unwrap();
    let addr;
    {
        let buckets =
            server::Buckets::open(dir.path(), &store::Config::new(dir.path()), None).unwrap();
        let check = buckets.default_store().clone();
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = rt.spawn(server::run(listener, server::Config::default(), buckets, async {
            let _ = stopped.await;
        }));
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut out = BytesMut::new();
        let mut batch = Batch::new(&mut out, 1);
        for i in 0..1000u32 {
            batch.setq(format!("d{i}").as_bytes(), b"durable", 0, 0);
        }
        batch.noop();
        stream.write_all(&out).unwrap();
        let mut reply = [0u8; 24];
        stream.read_exact(&mut reply).unwrap();
        assert_eq!(reply[1], Opcode::NOOP.0);
        let high = check.high_seqno();
        assert!(check.persisted().seqno >= high, "NOOP answered before the commit");
        let _ = stop.send(());
        rt.block_on(handle).unwrap();
    }
    let reopened = store::Store::open(store::Config::new(dir.path().join("default"))).unwrap();
    assert_eq!(reopened.len(), 1000);
}

#[test]
fn malformed_input_follows_memcacheds_close_rules() {
    let server = TestServer::start();
    // Unknown opcode with a key and extras: 0x81, body skipped exactly, open.
    let mut c = server.connect();
    let mut raw = BytesMut::new();
    encode_raw(&mut raw, Opcode(0x5f), 7, 0, 0, b"ext", b"key", b"value");
    c.send_raw(&raw);
    assert_eq!(c.recv().unwrap().status, Status::UNKNOWN_COMMAND);
    assert_eq!(c.call(Request::noop()).opcode, Opcode::NOOP, "still in sync");
    // A value over the limit: E2BIG, body swallowed, connection open.
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = c.call(Request::set(&b"big"[..], big, 0, 0));
    assert_eq!(r.status, Status::E2BIG);
    assert_eq!(c.call(Request::version()).status, Status::SUCCESS);
    // Bad magic after a binary start: closed without a reply. (As the
    // first byte, anything but 0x80 selects the text protocol instead.)
    let mut c = server.connect();
    assert_eq!(c.call(Request::noop()).opcode, Opcode::NOOP);
    c.send_raw(&[0x42; 24]);
    assert!(c.is_closed());
    // A key over 250 bytes: EINVAL, then closed.
    let mut c = server.connect();
    c.send(&[Request::get(vec![b'k'; 251])]);
    assert_eq!(c.recv().unwrap().status, Status::EINVAL);
    assert!(c.is_closed());
    // GET with extras is a shape violation: EINVAL and close.
    let mut c = server.connect();
    let mut raw = BytesMut::new();
    encode_raw(&mut raw, Opcode::GET, 0, 0, 0, b"xxxx", b"k", b"");
    c.send_raw(&raw);
    assert_eq!(c.recv().unwrap().status, Status::EINVAL);
    assert!(c.is_closed());
    // A header split over many writes still parses.
    let mut c = server.connect();
    let mut raw = BytesMut::new();
    Request::set(&b"slow"[..], &b"drip"[..], 0, 0).encode(&mut raw);
    for byte in &raw {
        c.send_raw(&[*byte]);
    }
    assert_eq!(c.recv().unwrap().status, Status::SUCCESS);
    // QUIT answers, then closes.
    let r = c.call(Request::quit());
    assert_eq!(r.status, Status::SUCCESS);
    assert!(c.is_closed());
}

#[test]
fn stat_groups() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.call(Request::flush(None));
    let stats = |c: &mut Client, group: &[u8]| {
        c.send(&[Request::stat(group.to_vec())]);
        let mut pairs = Vec::new();
        loop {
            let r = c.recv().unwrap();
            assert_eq!(r.status, Status::SUCCESS);
            if r.is_stat_end() {
                return pairs;
            }
            pairs.push((
                String::from_utf8(r.key.to_vec()).unwrap(),
                String::from_utf8(r.value.to_vec()).unwrap(),
            ));
        }
    };
    let general = stats(&mut c, b"");
    let get = |pairs: &[(String, String)], k: &str| {
        pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    };
    assert_eq!(get(&general, "cmd_flush").as_deref(), Some("1"));
    let settings = stats(&mut c, b"settings");
    for (k, v) in [
        ("maxconns", "1024"),
        ("domain_socket", "NULL"),
        ("evictions", "on"),
        ("cas_enabled", "yes"),
        ("flush_enabled", "yes"),
    ] {
        assert_eq!(get(&settings, k).as_deref(), Some(v), "{k}");
    }
    assert!(stats(&mut c, b"detail on").is_empty());
    assert_eq!(stats(&mut c, b"detail dump").len(), 1);
    let engine = stats(&mut c, b"engine");
    assert_eq!(get(&engine, "backend").as_deref(), Some("fjall"));
    c.send(&[Request::stat(&b"nonsense"[..])]);
    assert_eq!(c.recv().unwrap().status, Status::KEY_ENOENT);
    assert_eq!(c.call(Request::noop()).opcode, Opcode::NOOP, "no terminator after the error");
}

#[test]
fn sasl_buckets_are_separate_keyspaces() {
    let users = server::Users::parse("alice:pw1\nbob:pw2\n", "test").unwrap();
    let config = server::Config { require_auth: true, ..server::Config::default() };
    let server = TestServer::start_with(config, Some(users));
    let mut anon = server.connect();
    let r = anon.call(Request::get(&b"k"[..]));
    assert_eq!(r.status, Status::AUTH_ERROR);
    assert!(anon.is_closed(), "unauthenticated commands close when auth is required");

    let mut alice = server.connect();
    assert_eq!(&alice.call(Request::sasl_list_mechs()).value[..], b"PLAIN");
    assert_eq!(
        alice.call(Request::sasl_auth(&b"PLAIN"[..], &b"\0alice\0pw1"[..])).status,
        Status::SUCCESS
    );
    alice.call(Request::set(&b"k"[..], &b"alice's"[..], 0, 0));
    let mut bob = server.connect();
    assert_eq!(
        bob.call(Request::sasl_auth(&b"PLAIN"[..], &b"\0bob\0wrong"[..])).status,
        Status::AUTH_ERROR
    );
    let mut bob = server.connect();
    bob.call(Request::sasl_auth(&b"PLAIN"[..], &b"\0bob\0pw2"[..]));
    assert_eq!(bob.call(Request::get(&b"k"[..])).status, Status::KEY_ENOENT);
    assert_eq!(&alice.call(Request::get(&b"k"[..])).value[..], b"alice's");
}

#[test]
fn authenticating_into_another_bucket_after_writes_waits_for_the_first_bucket() {
    // Seqnos are per store: the bucket a connection moves into may be far
    // behind the one it wrote to, and must not be waited on for those writes.
    let users = server::Users::parse("alice:pw1\n", "test").unwrap();
    let server = TestServer::start_with(server::Config::default(), Some(users));
    let mut c = server.connect();
    for i in 0..50 {
        let r = c.call(Request::set(format!("warm{i}").into_bytes(), &b"v"[..], 0, 0));
        assert_eq!(r.status, Status::SUCCESS);
    }
    c.send(&[
        Request::set(&b"k"[..], &b"default's"[..], 0, 0),
        Request::sasl_auth(&b"PLAIN"[..], &b"\0alice\0pw1"[..]),
        Request::get(&b"k"[..]),
    ]);
    assert_eq!(c.recv().unwrap().status, Status::SUCCESS);
    // The SET's reply went out after the default bucket made it durable.
    let high = server.check.high_seqno();
    assert!(server.check.persisted().seqno >= high, "acknowledged before its commit");
    assert_eq!(c.recv().unwrap().status, Status::SUCCESS);
    assert_eq!(c.recv().unwrap().status, Status::KEY_ENOENT, "alice's bucket is empty");
    assert_eq!(c.call(Request::set(&b"k"[..], &b"alice's"[..], 0, 0)).status, Status::SUCCESS);
    assert_eq!(&c.call(Request::get(&b"k"[..])).value[..], b"alice's");
    assert_eq!(&server.connect().call(Request::get(&b"k"[..])).value[..], b"default's");
}

#[test]
fn a_thousand_concurrent_connections() {
    let server = TestServer::start();
    let mut clients: Vec<Client> = (0..1000).map(|_| server.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(&[Request::set(format!("c{i}").into_bytes(), format!("v{i}").into_bytes(), 0, 0)]);
    }
    for c in &mut clients {
        assert_eq!(c.recv().unwrap().status, Status::SUCCESS);
    }
    for (i, c) in clients.iter_mut().enumerate().step_by(37) {
        let r = c.call(Request::get(format!("c{i}").into_bytes()));
        assert_eq!(r.value, format!("v{i}").as_bytes());
    }
}

#[test]
fn large_values_roundtrip_through_the_vectored_path() {
    let server = TestServer::start();
    let mut c = server.connect();
    let value: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.call(Request::set(&b"big"[..], value.clone(), 1, 0));
    // Several hits in one pipeline: headers and values interleave correctly.
    c.send(&[
        Request::getk(&b"big"[..]),
        Request::get(&b"missing"[..]),
        Request::getk(&b"big"[..]),
    ]);
    let a = c.recv().unwrap();
    let miss = c.recv().unwrap();
    let b = c.recv().unwrap();
    assert_eq!(a.value, value);
    assert_eq!(miss.status, Status::KEY_ENOENT);
    assert_eq!(b.value, value);
}

#[test]
fn a_client_that_never_reads_does_not_stall_others() {
    let server = TestServer::start();
    let mut setter = server.connect();
    setter.call(Request::set(&b"big"[..], vec![b'x'; 512 * 1024], 0, 0));
    // Ask for ~50 MB of replies and never read them: the server's writes to
    // this socket block, its buffers stay bounded, other clients go on.
    let mut hog = server.connect();
    let mut out = BytesMut::new();
    for _ in 0..100 {
        Request::get(&b"big"[..]).encode(&mut out);
    }
    hog.send_raw(&out);
    let mut other = server.connect();
    for i in 0..100u32 {
        let r = other.call(Request::set(format!("k{i}").into_bytes(), &b"v"[..], 0, 0));
        assert_eq!(r.status, Status::SUCCESS);
    }
    assert_eq!(other.call(Request::get(&b"k99"[..])).value, &b"v"[..]);
    drop(hog);
}

#[test]
fn a_set_refused_as_too_large_removes_the_old_item() {
    let config = server::Config { max_value_len: 1000, ..server::Config::default() };
    let server = TestServer::start_with(config, None);
    let mut c = server.connect();
    for key in [&b"a"[..], b"b", b"c"] {
        assert_eq!(c.call(Request::set(key, &b"old"[..], 0, 0)).status, Status::SUCCESS);
    }
    let big = vec![b'x'; 5000];
    // SET and SETQ: refused, and the old value is gone (as memcached does).
    assert_eq!(c.call(Request::set(&b"a"[..], big.clone(), 0, 0)).status, Status::E2BIG);
    assert_eq!(c.call(Request::get(&b"a"[..])).status, Status::KEY_ENOENT);
    let mut raw = BytesMut::new();
    Request::set(&b"b"[..], big.clone(), 0, 0).quiet().encode(&mut raw);
    // The packet arrives in pieces: the header alone first.
    c.send_raw(&raw[..24]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    c.send_raw(&raw[24..]);
    assert_eq!(c.recv().unwrap().status, Status::E2BIG);
    assert_eq!(c.call(Request::get(&b"b"[..])).status, Status::KEY_ENOENT);
    // ADD and REPLACE refused as too large leave the item alone.
    assert_eq!(c.call(Request::replace(&b"c"[..], big, 0, 0)).status, Status::E2BIG);
    assert_eq!(c.call(Request::get(&b"c"[..])).value, &b"old"[..]);
    assert_eq!(c.call(Request::noop()).opcode, Opcode::NOOP, "still in sync");
}
