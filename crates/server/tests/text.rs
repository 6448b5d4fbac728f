//! The text protocol (classic and meta commands) over real TCP on
//! 127.0.0.1, driven with raw bytes. Expected replies are memcached 1.6's
//! wording (`doc/protocol.txt` and memcached's `proto_text.c`).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::support;
use support::TestServer;

impl TestServer {
    /// A text-protocol client.
    fn connect_text(&self) -> Client {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        Client { stream, input: Vec::new() }
    }
}

struct Client {
    stream: TcpStream,
    input: Vec<u8>,
}

impl Client {
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads more input; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            // A reply shorter than the one expected ends here: show it.
            Err(e) => {
                panic!("read failed: {e}; got so far {:?}", String::from_utf8_lossy(&self.input))
            }
        }
    }

    /// Asserts that exactly `want` comes next.
    fn expect(&mut self, want: &str) {
        while self.input.len() < want.len() {
            assert!(
                self.fill(),
                "closed; got {:?}, want {want:?}",
                String::from_utf8_lossy(&self.input)
            );
        }
        let got: Vec<u8> = self.input.drain(..want.len()).collect();
        assert_eq!(String::from_utf8_lossy(&got), want);
    }

    /// Sends `request` and asserts the reply is exactly `want`.
    fn call(&mut self, request: &str, want: &str) {
        self.send(request.as_bytes());
        self.expect(want);
    }

    /// The next line, without `\r\n`.
    fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.input.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.input.drain(..i + 2).collect();
                return String::from_utf8_lossy(&line[..i]).into_owned();
            }
            assert!(self.fill(), "closed before a whole line");
        }
    }

    /// Sends `command` and returns the lines up to `END`.
    fn lines_to_end(&mut self, command: &str) -> Vec<String> {
        self.send(command.as_bytes());
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "END" {
                return lines;
            }
            lines.push(line);
        }
    }

    fn is_closed(&mut self) -> bool {
        !self.input.is_empty() || !self.fill()
    }
}

fn cas_of(value_line: &str) -> u64 {
    value_line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn storage_and_retrieval() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    c.call("set k 5 0 2\r\nhi\r\n", "STORED\r\n");
    c.call("get k missing\r\n", "VALUE k 5 2\r\nhi\r\nEND\r\n");
    c.call("add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    c.call("replace nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    c.call("append nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n");
    c.call("append k 0 0 1\r\n>\r\n", "STORED\r\n");
    c.call("prepend k 0 0 1\r\n<\r\n", "STORED\r\n");
    c.call("get k\r\n", "VALUE k 5 4\r\n<hi>\r\nEND\r\n");
    // gets and cas.
    c.send(b"gets k\r\n");
    let head = c.line();
    assert!(head.starts_with("VALUE k 5 4 "), "{head}");
    let cas = cas_of(&head);
    c.expect("<hi>\r\nEND\r\n");
    c.call(&format!("cas k 1 0 3 {}\r\nnew\r\n", cas + 1), "EXISTS\r\n");
    c.call(&format!("cas k 1 0 3 {cas}\r\nnew\r\n"), "STORED\r\n");
    c.call(&format!("cas k 1 0 3 {cas}\r\nold\r\n"), "EXISTS\r\n");
    c.call("cas gone 0 0 1 5\r\nx\r\n", "NOT_FOUND\r\n");
    c.call("cas k 0 0 1 0\r\nx\r\n", "EXISTS\r\n");
    c.call("get k\r\n", "VALUE k 1 3\r\nnew\r\nEND\r\n");
    // Multi-get keeps the request order and skips misses.
    c.call("set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n", "STORED\r\nSTORED\r\n");
    c.call("get b x a\r\n", "VALUE b 0 1\r\n2\r\nVALUE a 0 1\r\n1\r\nEND\r\n");
    // Binary-safe values, including \r\n inside.
    c.call("set bin 0 0 4\r\n\r\n\0\x01\r\n", "STORED\r\n");
    c.call("get bin\r\n", "VALUE bin 0 4\r\n\r\n\0\x01\r\nEND\r\n");
    // Keys may hold control bytes, as in memcached (memcaslap sends them).
    c.call(
        "set \x10k\x01 0 0 1\r\nx\r\nget \x10k\x01\r\n",
        "STORED\r\nVALUE \x10k\x01 0 1\r\nx\r\nEND\r\n",
    );
    c.call("delete bin\r\n", "DELETED\r\n");
    c.call("delete bin\r\n", "NOT_FOUND\r\n");
    c.call("delete bin 0\r\n", "NOT_FOUND\r\n");
    c.call(
        "delete bin 5\r\n",
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
    // A value over 1 MiB is refused, swallowed, and unlinks the old value.
    let big = "x".repeat(1024 * 1024 + 1);
    c.call(
        &format!("set k 0 0 {}\r\n{big}\r\n", big.len()),
        "SERVER_ERROR object too large for cache\r\n",
    );
    c.call("get k\r\n", "END\r\n");
    // A value of exactly 1 MiB goes through the by-reference output path.
    let max = "y".repeat(1024 * 1024);
    c.call(&format!("set big 0 0 {}\r\n{max}\r\n", max.len()), "STORED\r\n");
    c.call("get big\r\n", &format!("VALUE big 0 {}\r\n{max}\r\nEND\r\n", max.len()));
}

#[test]
fn counters_touch_flush_and_misc() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    c.call("incr n 1\r\n", "NOT_FOUND\r\n");
    c.call("set n 0 0 2\r\n10\r\n", "STORED\r\n");
    c.call("incr n 5\r\n", "15\r\n");
    c.call("decr n 100\r\n", "0\r\n");
    c.call("incr n 18446744073709551615\r\n", "18446744073709551615\r\n");
    c.call("incr n 2\r\n", "1\r\n");
    c.call("incr n x\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n");
    c.call("set s 0 0 3\r\nabc\r\n", "STORED\r\n");
    c.call("incr s 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    c.call("decr s 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    // touch / gat / gats.
    c.call("touch s 100\r\n", "TOUCHED\r\n");
    c.call("touch nope 100\r\n", "NOT_FOUND\r\n");
    c.call("touch s x\r\n", "CLIENT_ERROR invalid exptime argument\r\n");
    c.call("gat 0 s nope\r\n", "VALUE s 0 3\r\nabc\r\nEND\r\n");
    c.send(b"gats 0 s\r\n");
    assert!(c.line().starts_with("VALUE s 0 3 "));
    c.expect("abc\r\nEND\r\n");
    // A negative expiration kills the item.
    c.call("touch s -1\r\n", "TOUCHED\r\n");
    c.call("get s\r\n", "END\r\n");
    c.call("set dead 0 -1 1\r\nx\r\n", "STORED\r\n");
    c.call("get dead\r\n", "END\r\n");
    // Misc.
    c.call("version\r\n", "VERSION 1.6.18\r\n");
    c.call("verbosity 1\r\n", "OK\r\n");
    c.call("bogus\r\n", "ERROR\r\n");
    c.call("\r\n", "ERROR\r\n");
    c.call("get\r\n", "ERROR\r\n");
    c.call("flush_all\r\n", "OK\r\n");
    c.call("get n\r\n", "END\r\n");
    c.call("set later 0 0 1\r\nx\r\n", "STORED\r\n");
    c.call("flush_all 3600\r\n", "OK\r\n");
    c.call("get later\r\n", "VALUE later 0 1\r\nx\r\nEND\r\n");
    c.call("flush_all 0 noreply\r\nget later\r\n", "END\r\n");
    // quit closes without a reply.
    c.send(b"quit\r\n");
    assert!(c.is_closed());
}

#[test]
fn stats_groups_match_the_binary_ones() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    c.call("set k 0 0 1\r\nx\r\nget k\r\n", "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
    let general = c.lines_to_end("stats\r\n");
    assert!(general.iter().any(|l| l.starts_with("STAT pid ")), "{general:?}");
    assert!(general.contains(&"STAT get_hits 1".to_string()), "{general:?}");
    assert!(general.contains(&"STAT curr_items 1".to_string()), "{general:?}");
    let settings = c.lines_to_end("stats settings\r\n");
    assert!(settings.contains(&"STAT binding_protocol auto-negotiate".to_string()), "{settings:?}");
    // No quota set: maxbytes 0, and ejection is memcached's "evictions on".
    assert!(settings.contains(&"STAT maxbytes 0".to_string()), "{settings:?}");
    assert!(settings.contains(&"STAT evictions on".to_string()), "{settings:?}");
    c.call("cache_memlimit 100\r\n", "OK\r\n");
    c.call("cache_memlimit 0\r\n", "CLIENT_ERROR bad command line format\r\n");
    let settings = c.lines_to_end("stats settings\r\n");
    assert!(settings.contains(&"STAT maxbytes 104857600".to_string()), "{settings:?}");
    c.send(b"stats engine\r\n");
    while c.line() != "END" {}
    c.call("stats detail on\r\n", "OK\r\n");
    c.call("stats reset\r\n", "RESET\r\n");
    c.call("stats no-such-group\r\n", "ERROR\r\n");
}

#[test]
fn noreply_suppresses_replies_and_errors() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    c.send(
        b"set a 0 0 1 noreply\r\n1\r\n\
          add a 0 0 1 noreply\r\n2\r\n\
          replace zz 0 0 1 noreply\r\n3\r\n\
          incr a 4 noreply\r\n\
          incr s x noreply\r\n\
          touch a 100 noreply\r\n\
          delete gone noreply\r\n\
          append a 0 0 1 noreply\r\n!\r\n\
          verbosity 1 noreply\r\n\
          get a\r\n",
    );
    c.expect("VALUE a 0 2\r\n5!\r\nEND\r\n");
}

#[test]
fn meta_commands() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    c.call("ms k 2 F7 T0 c\r\nhi\r\n", "");
    let hd = c.line();
    assert!(hd.starts_with("HD c"), "{hd}");
    let cas: u64 = hd[4..].parse().unwrap();
    c.call("mg k v f s t k Oxyz\r\n", "VA 2 f7 s2 t-1 kk Oxyz\r\nhi\r\n");
    c.call("mg k\r\n", "HD\r\n");
    c.call("mg nope v\r\n", "EN\r\n");
    c.call("mg nope v q\r\nmg nope v k q Oa\r\nmn\r\n", "MN\r\n");
    c.call("mg k c\r\n", &format!("HD c{cas}\r\n"));
    // Compare-and-swap, modes.
    c.call(&format!("ms k 1 C{}\r\nx\r\n", cas + 1), "EX\r\n");
    c.call("ms gone 1 C5\r\nx\r\n", "NF\r\n");
    c.call(&format!("ms k 3 C{cas} q\r\nnew\r\nmn\r\n"), "MN\r\n");
    c.call("ms k 1 ME\r\nx\r\n", "NS\r\n");
    c.call("ms nope 1 MR\r\nx\r\n", "NS\r\n");
    c.call("ms k 1 MA\r\n>\r\nms k 1 MP\r\n<\r\n", "HD\r\nHD\r\n");
    c.call("mg k v\r\n", "VA 5\r\n<new>\r\n");
    c.call("ms k 1 MX\r\nx\r\n", "CLIENT_ERROR invalid mode for ms M token\r\n");
    c.call("mg k v v\r\n", "CLIENT_ERROR duplicate flag\r\n");
    // TTLs: set, read, touch through mg T.
    // The clock has whole seconds and each durable reply waits for a sync,
    // so a second may tick between the set and the read: the remaining TTL
    // is the one given or one less, never more.
    c.call("ms t 1 T100\r\nx\r\n", "HD\r\n");
    c.send(b"mg t t\r\n");
    let hd = c.line();
    assert!(hd == "HD t100" || hd == "HD t99", "{hd}");
    c.send(b"mg t T500 t v\r\n");
    let va = c.line();
    assert!(va == "VA 1 t500" || va == "VA 1 t499", "{va}");
    c.expect("x\r\n");
    // Base64 keys.
    c.call("ms Zm9v 3 b\r\nbar\r\n", "HD\r\n");
    c.call("get foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n");
    c.call("mg Zm9v b k v\r\n", "VA 3 kZm9v b\r\nbar\r\n");
    // Delete.
    c.call("md nope\r\n", "NF\r\n");
    c.call("md foo q\r\nmn\r\n", "MN\r\n");
    c.call("get foo\r\n", "END\r\n");
    c.call("md t C1\r\n", "EX\r\n");
    c.call("md t x\r\n", "HD\r\n");
    c.call("mg t s v\r\n", "VA 0 s0\r\n\r\n");
    // Arithmetic.
    c.call("ma n\r\n", "NF\r\n");
    c.call("ma n N0 J10 v\r\n", "VA 2\r\n10\r\n");
    c.call("ma n v\r\n", "VA 2\r\n11\r\n");
    c.call("ma n MD D20 v\r\n", "VA 1\r\n0\r\n");
    c.call("ma n D5\r\n", "HD\r\n");
    c.call("ma n q\r\nmn\r\n", "MN\r\n");
    c.call("mg n v\r\n", "VA 1\r\n6\r\n");
    c.call("ma k\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
    // Vivify on miss: the first client wins, later ones see the placeholder.
    c.call("mg fresh N30 v\r\n", "VA 0 W\r\n\r\n");
    c.call("mg fresh v\r\n", "VA 0\r\n\r\n");
    // Debug.
    c.call("me nope\r\n", "EN\r\n");
    c.send(b"me n\r\n");
    let me = c.line();
    assert!(me.starts_with("ME n exp=-1 la=0 cas=") && me.ends_with(" size=1"), "{me}");
    c.call("mn\r\n", "MN\r\n");
}

/// A run of `noreply` sets (or quiet `ms`) followed by any command that
/// answers is acknowledged only once every one of them is durable, as a
/// SETQ…NOOP pipeline is.
#[test]
fn a_reply_after_noreply_sets_means_durable() {
    let server = TestServer::start();
    let mut c = server.connect_text();
    let mut batch = String::new();
    for i in 0..1000 {
        write!(batch, "set d{i} 0 0 7 noreply\r\ndurable\r\n").unwrap();
    }
    batch.push_str("mn\r\n");
    c.call(&batch, "MN\r\n");
    let high = server.check.high_seqno();
    assert!(server.check.persisted().seqno >= high, "MN answered before the commit");
    assert_eq!(server.check.len(), 1000);

    let mut batch = String::new();
    for i in 0..1000 {
        write!(batch, "ms q{i} 7 q\r\ndurable\r\n").unwrap();
    }
    batch.push_str("version\r\n");
    c.call(&batch, "VERSION 1.6.18\r\n");
    let high = server.check.high_seqno();
    assert!(server.check.persisted().seqno >= high, "VERSION answered before the commit");
    assert_eq!(server.check.len(), 2000);
}

/// Hostile input closes (or confuses) only its own connection.
#[test]
fn hostile_input_neither_panics_nor_blocks_others() {
    let server = TestServer::start();
    let mut bystander = server.connect_text();
    bystander.call("set ok 0 0 2\r\nok\r\n", "STORED\r\n");

    // An endless line: closed without a reply at 2048 bytes.
    let mut endless = server.connect_text();
    endless.send(&[b'a'; 4096]);
    assert!(endless.is_closed());
    bystander.call("get ok\r\n", "VALUE ok 0 2\r\nok\r\nEND\r\n");

    // A byte count that promises more than is sent: the connection waits
    // for the data (as memcached does), the others are served meanwhile.
    let mut liar = server.connect_text();
    liar.send(b"set lie 0 0 100\r\nshort\r\n");
    bystander.call("get ok\r\n", "VALUE ok 0 2\r\nok\r\nEND\r\n");
    // A byte count that is too small: bad data chunk; the declared bytes
    // and two more are consumed, the rest (here an empty line) is read as
    // commands, as memcached does.
    let mut short = server.connect_text();
    short.call("set k 0 0 2\r\nabcd\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n");
    short.call("version\r\n", "VERSION 1.6.18\r\n");
    short.call("set k 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n");
    short.call("set k 0 0 99999999999999999999\r\n", "CLIENT_ERROR bad command line format\r\n");
    let long_key = "k".repeat(251);
    short.call(&format!("get {long_key}\r\n"), "CLIENT_ERROR bad command line format\r\n");

    // Binary garbage after a text start: every garbage line is an ERROR,
    // and a long run without a newline closes.
    let mut garbage = server.connect_text();
    garbage.send(b"version\r\n");
    garbage.expect("VERSION 1.6.18\r\n");
    let mut noise = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..64 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        noise.push((x >> 24) as u8);
    }
    garbage.send(&noise);
    // Whatever it answered, the server stays up and serves others.
    bystander.call("get ok\r\n", "VALUE ok 0 2\r\nok\r\nEND\r\n");
    drop(garbage);
    drop(liar);
    // A binary connection on the same port still works.
    let mut binary = server.connect_text();
    let mut noop = [0u8; 24];
    noop[0] = 0x80;
    noop[1] = 0x0a;
    binary.send(&noop);
    let mut reply = [0u8; 24];
    binary.stream.read_exact(&mut reply).unwrap();
    assert_eq!((reply[0], reply[1]), (0x81, 0x0a));
    bystander.call("get ok\r\n", "VALUE ok 0 2\r\nok\r\nEND\r\n");
}

#[test]
fn text_clients_are_refused_when_auth_is_required() {
    let users = server::Users::parse("alice:pw\n", "test").unwrap();
    let config = server::Config { require_auth: true, ..server::Config::default() };
    let server = TestServer::start_with(config, Some(users));
    let mut c = server.connect_text();
    c.send(b"get k\r\n");
    assert!(c.is_closed(), "memcached with SASL binds binary only: a text client is closed");
    // Without --require-auth a users file still allows text on the default bucket.
    let users = server::Users::parse("alice:pw\n", "test").unwrap();
    let server = TestServer::start_with(server::Config::default(), Some(users));
    let mut c = server.connect_text();
    c.call("set k 0 0 1\r\nx\r\nget k\r\n", "STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
}
