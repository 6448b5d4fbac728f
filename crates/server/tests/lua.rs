//! Server-side Lua functions over real TCP: the `lua` text commands, `@fn:`
//! keys in both protocols, limits, libraries kept across restarts and
//! flushes, calls atomic over their keys without stopping other clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use memcache::binary::{Limits, Request, ResponseDecoder, Status};

use crate::support::TestServer;

const COUNTERS: &str = "\
function bump(keys, args)
  local n = tonumber(mc.get(keys[1]) or '0') + tonumber(args[1])
  mc.set(keys[1], n)
  return n
end
function hello(keys, args) return 'hi ' .. args[1] end
function remember(keys, args) mc.set(keys[1], args[2]) return nil end
function peek(keys, args) return mc.get(args[1]) end
";

struct Text(BufReader<TcpStream>);

impl Text {
    fn new(server: &TestServer) -> Text {
        let s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Text(BufReader::new(s))
    }

    /// Sends `request`, reads lines up to one `end` accepts.
    fn call(&mut self, request: &str) -> Vec<String> {
        self.0.get_mut().write_all(request.as_bytes()).unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "closed after {lines:?}");
            let line = line.trim_end_matches("\r\n").to_owned();
            let done = !line.starts_with("VALUE ")
                && !line.starts_with("LIB ")
                && !line.starts_with("STAT ")
                && !lines.last().is_some_and(|l: &String| l.starts_with("VALUE "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    fn load(&mut self, lib: &str, source: &str) -> Vec<String> {
        self.call(&format!("lua load {lib} {}\r\n{source}\r\n", source.len()))
    }
}

#[test]
fn load_call_list_and_delete_in_the_text_protocol() {
    let server = TestServer::start();
    let mut c = Text::new(&server);
    assert_eq!(c.load("counters", COUNTERS), ["OK"]);
    assert_eq!(c.call("lua list\r\n"), ["LIB counters bump hello peek remember", "END"]);
    assert_eq!(c.call("lua call bump 1 n 5\r\n"), ["VALUE bump 0 1", "5", "END"]);
    assert_eq!(c.call("lua call bump 1 n 7\r\n"), ["VALUE bump 0 2", "12", "END"]);
    assert_eq!(
        c.call("get n\r\n"),
        ["VALUE n 0 2", "12", "END"],
        "the function's write is an item"
    );
    assert_eq!(c.call("lua call remember 1 m m x\r\n"), ["END"], "nil is no value");
    // Errors: unknown function, a key not declared, a runtime error.
    assert_eq!(c.call("lua call nope 0\r\n"), ["SERVER_ERROR unknown function 'nope'"]);
    let reply = c.call("lua call peek 1 a b\r\n");
    assert!(
        reply[0].starts_with("SERVER_ERROR ")
            && reply[0].contains("not among the call's declared keys"),
        "{reply:?}"
    );
    let reply = c.call("lua call bump 1 n\r\n");
    assert!(reply[0].starts_with("SERVER_ERROR counters:2:"), "{reply:?}");
    // A load that does not compile names the line and changes nothing.
    let reply = c.load("counters", "function bump(keys\n  return 1\nend\n");
    assert!(reply[0].starts_with("CLIENT_ERROR counters:2:"), "{reply:?}");
    let reply = c.load("globals", "x = 5\n");
    assert!(
        reply[0].starts_with("CLIENT_ERROR globals:1:") && reply[0].contains("global"),
        "{reply:?}"
    );
    assert_eq!(c.call("lua call hello 0 you\r\n"), ["VALUE hello 0 6", "hi you", "END"]);
    // Malformed commands.
    assert_eq!(c.call("lua call bump x\r\n"), ["CLIENT_ERROR bad command line format"]);
    assert_eq!(c.call("lua frob\r\n"), ["ERROR"]);
    assert_eq!(c.call("lua del counters\r\n"), ["OK"]);
    assert_eq!(c.call("lua del counters\r\n"), ["NOT_FOUND"]);
    assert_eq!(c.call("lua list\r\n"), ["END"]);
    assert_eq!(c.call("lua call hello 0 you\r\n"), ["SERVER_ERROR unknown function 'hello'"]);
    let stats = c.call("stats\r\n");
    for want in ["STAT lua_calls 4", "STAT lua_errors 4", "STAT lua_loads 1"] {
        assert!(stats.iter().any(|l| l == want), "no {want} in {stats:?}");
    }
}

#[test]
fn fn_keys_call_functions_for_get_and_set_in_both_protocols() {
    let server = TestServer::start();
    let mut c = Text::new(&server);
    assert_eq!(c.load("counters", COUNTERS), ["OK"]);
    assert_eq!(c.call("get @fn:hello:world\r\n"), ["VALUE @fn:hello:world 0 8", "hi world", "END"]);
    // SET: name(arg, value), the argument also the one key it may touch.
    assert_eq!(c.call("set @fn:remember:k 0 0 3\r\nabc\r\n"), ["STORED"]);
    assert_eq!(c.call("get k\r\n"), ["VALUE k 0 3", "abc", "END"]);
    assert_eq!(c.call("get @fn:nope:x\r\n")[0], "SERVER_ERROR unknown function 'nope'");

    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = Binary { s, input: BytesMut::new(), dec: ResponseDecoder::new(Limits::default()) };
    let r = b.call(&Request::get("@fn:hello:bin"));
    assert_eq!((r.status, &r.value[..]), (Status::SUCCESS, &b"hi bin"[..]));
    let r = b.call(&Request::set("@fn:remember:k2", "xyz", 0, 0));
    assert_eq!(r.status, Status::SUCCESS);
    let r = b.call(&Request::get("k2"));
    assert_eq!(&r.value[..], b"xyz");
    let r = b.call(&Request::get("@fn:nope:x"));
    assert_eq!((r.status, &r.value[..]), (Status::EINVAL, &b"unknown function 'nope'"[..]));
    // A library stored by a binary SET of its reserved key (as a TAP mirror
    // does) is loaded; one that does not compile is refused.
    let key = [server::LIB_PREFIX, b"more"].concat();
    let r =
        b.call(&Request::set(key.clone(), "function twice(k, a) return a[1] .. a[1] end", 0, 0));
    assert_eq!(r.status, Status::SUCCESS);
    assert_eq!(c.call("lua call twice 0 ab\r\n"), ["VALUE twice 0 4", "abab", "END"]);
    let r = b.call(&Request::set(key.clone(), "function (", 0, 0));
    assert_eq!(r.status, Status::NOT_STORED);
    assert_eq!(
        c.call("lua call twice 0 ab\r\n"),
        ["VALUE twice 0 4", "abab", "END"],
        "old one stays"
    );
    let r = b.call(&Request::delete(key));
    assert_eq!(r.status, Status::SUCCESS);
    assert_eq!(c.call("lua call twice 0 ab\r\n")[0], "SERVER_ERROR unknown function 'twice'");
}

struct Binary {
    s: TcpStream,
    input: BytesMut,
    dec: ResponseDecoder,
}

impl Binary {
    fn call(&mut self, request: &Request) -> memcache::binary::Response {
        let mut out = BytesMut::new();
        request.encode(&mut out);
        self.s.write_all(&out).unwrap();
        self.recv()
    }

    fn recv(&mut self) -> memcache::binary::Response {
        loop {
            if let Some(r) = self.dec.decode(&mut self.input).unwrap() {
                return r;
            }
            let mut chunk = [0u8; 4096];
            let n = self.s.read(&mut chunk).unwrap();
            assert!(n > 0, "closed");
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

#[test]
fn libraries_survive_restarts_and_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let store_config = store::Config::new(dir.path());
    {
        let server =
            TestServer::start_in(dir.path(), &store_config, server::Config::default(), None);
        let mut c = Text::new(&server);
        assert_eq!(c.load("counters", COUNTERS), ["OK"]);
        assert_eq!(c.call("flush_all\r\n"), ["OK"]);
        assert_eq!(c.call("lua call bump 1 n 2\r\n"), ["VALUE bump 0 1", "2", "END"]);
    }
    let server = TestServer::start_in(dir.path(), &store_config, server::Config::default(), None);
    let mut c = Text::new(&server);
    assert_eq!(c.call("lua list\r\n"), ["LIB counters bump hello peek remember", "END"]);
    assert_eq!(c.call("lua call bump 1 n 3\r\n"), ["VALUE bump 0 1", "5", "END"]);
}

#[test]
fn limits_stop_runaway_calls_and_the_server_goes_on() {
    let server = TestServer::start();
    let mut c = Text::new(&server);
    let source = "function spin(k, a) while true do end end\n\
                  function hog(k, a) local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1 << 20) end end\n";
    assert_eq!(c.load("bad", source), ["OK"]);
    let started = Instant::now();
    let reply = c.call("lua call spin 0\r\n");
    assert_eq!(reply, ["SERVER_ERROR time limit of 100 ms exceeded"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    let reply = c.call("lua call hog 0\r\n");
    assert!(reply[0].starts_with("SERVER_ERROR") && reply[0].contains("memory"), "{reply:?}");
    assert_eq!(c.call("set k 0 0 1\r\nv\r\n"), ["STORED"]);
}

/// A call that runs for a while (its limit raised) does not hold up other
/// clients: their GETs are answered meanwhile.
#[test]
fn a_long_call_does_not_block_other_clients() {
    let mut config = server::Config::default();
    config.lua.limits.time = Duration::from_secs(5);
    let server = TestServer::start_with(config, None);
    let mut c = Text::new(&server);
    let busy = "function busy(k, a) local n = 0 for i = 1, tonumber(a[1]) do n = n + i end return 'done' end\n";
    assert_eq!(c.load("busy", busy), ["OK"]);
    assert_eq!(c.call("set k 0 0 1\r\nv\r\n"), ["STORED"]);
    // Calibrate: a loop of about half a second here.
    let mut n: u64 = 1_000_000;
    loop {
        let t = Instant::now();
        assert_eq!(c.call(&format!("lua call busy 0 {n}\r\n"))[1], "done");
        if t.elapsed() > Duration::from_millis(400) || n > 4_000_000_000 {
            break;
        }
        n *= 2;
    }
    let long = std::thread::spawn({
        let mut c = Text::new(&server);
        move || {
            let t = Instant::now();
            assert_eq!(c.call(&format!("lua call busy 0 {n}\r\n"))[1], "done");
            t.elapsed()
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    // Connections go to the two workers in turn: some of these share the
    // call's worker.
    let mut gs: Vec<Text> = (0..4).map(|_| Text::new(&server)).collect();
    let mut slowest = Duration::ZERO;
    let mut gets = 0;
    while !long.is_finished() {
        for g in &mut gs {
            let t = Instant::now();
            assert_eq!(g.call("get k\r\n"), ["VALUE k 0 1", "v", "END"]);
            slowest = slowest.max(t.elapsed());
            gets += 1;
        }
    }
    let long = long.join().unwrap();
    assert!(gets >= 20, "only {gets} GETs during a {long:?} call");
    assert!(slowest < long / 3, "a GET took {slowest:?} during a {long:?} call");
}

/// Calls sharing a key run one at a time: a read-modify-write function
/// from many connections at once loses no update.
#[test]
fn calls_on_one_key_serialize() {
    let server = TestServer::start();
    let mut c = Text::new(&server);
    assert_eq!(c.load("counters", COUNTERS), ["OK"]);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = Text::new(&server);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(c.call("lua call bump 1 shared 1\r\n").len(), 3);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.call("get shared\r\n"), ["VALUE shared 0 3", "400", "END"]);
}

/// A plain write to a key a call holds waits for the call (it is not lost
/// under the call's own write); writes to other keys do not wait.
#[test]
fn plain_writes_wait_for_a_call_on_their_key() {
    let mut config = server::Config::default();
    config.lua.limits.time = Duration::from_secs(5);
    let server = TestServer::start_with(config, None);
    let mut c = Text::new(&server);
    // `started` tells the test the call holds its keys.
    let slow = "function slow(keys, args)\n\
                  local v = mc.get(keys[1])\n\
                  mc.set(keys[2], 'yes')\n\
                  local n = 0 for i = 1, tonumber(args[1]) do n = n + i end\n\
                  mc.set(keys[1], v .. 'L')\n\
                  return 'done'\n\
                end\n";
    assert_eq!(c.load("slow", slow), ["OK"]);
    assert_eq!(c.call("set k 0 0 1\r\nv\r\n"), ["STORED"]);
    let mut n: u64 = 1_000_000;
    loop {
        let t = Instant::now();
        assert_eq!(c.call(&format!("lua call slow 2 k started {n}\r\n"))[1], "done");
        if t.elapsed() > Duration::from_millis(300) || n > 4_000_000_000 {
            break;
        }
        n *= 2;
    }
    assert_eq!(c.call("set k 0 0 1\r\nv\r\n"), ["STORED"]);
    assert_eq!(c.call("delete started\r\n"), ["DELETED"]);
    let call = std::thread::spawn({
        let mut c = Text::new(&server);
        move || {
            assert_eq!(c.call(&format!("lua call slow 2 k started {n}\r\n"))[1], "done");
            Instant::now()
        }
    });
    let mut w = Text::new(&server);
    while w.call("get started\r\n") == ["END"] {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(w.call("set other 0 0 1\r\nx\r\n"), ["STORED"]);
    let other = Instant::now();
    assert_eq!(w.call("append k 0 0 1\r\nP\r\n"), ["STORED"]);
    let call_done = call.join().unwrap();
    // The order is in the value: an append applied during the call would
    // be overwritten by the call's `v .. 'L'` ("vL"), and one applied
    // before it would give "vPL". (The two replies leave the server at
    // nearly the same moment, so the clients' clocks cannot order them.)
    assert_eq!(
        c.call("get k\r\n"),
        ["VALUE k 0 3", "vLP", "END"],
        "the append came after the call"
    );
    // Causal, not timed: the call runs for 300 ms or more.
    assert!(other < call_done, "a write to another key waited for the call");
}

fn binary_request(opcode: memcache::binary::Opcode, command: memcache::binary::Command) -> Request {
    Request { opcode, opaque: 9, cas: 0, vbucket: 0, command }
}

/// `LUA_LOAD` (0x70) and `LUA_CALL` (0x71), mammoth's binary opcodes.
#[test]
fn binary_opcodes_load_and_call() {
    use bytes::Bytes;
    use memcache::binary::{Command, Opcode};
    let server = TestServer::start();
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = Binary { s, input: BytesMut::new(), dec: ResponseDecoder::new(Limits::default()) };
    let load = |lib: &str, source: &str| {
        let (lib, source) =
            (Bytes::copy_from_slice(lib.as_bytes()), Bytes::copy_from_slice(source.as_bytes()));
        binary_request(Opcode::LUA_LOAD, Command::LuaLoad { lib, source })
    };
    let r = b.call(&load("counters", COUNTERS));
    assert_eq!((r.status, r.opaque), (Status::SUCCESS, 9));
    let r = b.call(&load("bad", "function (\n"));
    assert_eq!(r.status, Status::EINVAL);
    assert!(String::from_utf8_lossy(&r.value).starts_with("bad:1:"), "{:?}", r.value);
    let call = |function: &str, keys: &[&str], args: &[&str]| {
        let bytes = |v: &[&str]| v.iter().map(|s| Bytes::copy_from_slice(s.as_bytes())).collect();
        let function = Bytes::copy_from_slice(function.as_bytes());
        binary_request(
            Opcode::LUA_CALL,
            Command::LuaCall { function, keys: bytes(keys), args: bytes(args) },
        )
    };
    let r = b.call(&call("bump", &["n"], &["4"]));
    assert_eq!((r.status, &r.value[..]), (Status::SUCCESS, &b"4"[..]));
    let r = b.call(&call("hello", &[], &["bin"]));
    assert_eq!(&r.value[..], b"hi bin");
    let r = b.call(&call("remember", &["m"], &["m", "x"]));
    assert_eq!(r.status, Status::KEY_ENOENT, "nil");
    let r = b.call(&call("nope", &[], &[]));
    assert_eq!(r.status, Status::EINVAL);
    // A hostile argument length is refused without reading past the value.
    let mut raw = BytesMut::new();
    memcache::binary::encode_raw(
        &mut raw,
        Opcode::LUA_CALL,
        3,
        0,
        0,
        &[0, 1],
        b"bump",
        &[0xff, 0xff, 0xff, 0xff, 1],
    );
    b.s.write_all(&raw).unwrap();
    let r = b.recv();
    assert_eq!((r.status, r.opaque), (Status::EINVAL, 3));
    let r = b.call(&call("hello", &[], &["again"]));
    assert_eq!(&r.value[..], b"hi again", "the connection goes on");
}

/// What a hostile or careless client can send: replies stay one line each,
/// refused loads never run their source as commands, library items cannot
/// expire or be created by anything but a SET that loads, and `@fn:` keys
/// never become items.
#[test]
fn hostile_inputs_stay_contained() {
    let server = TestServer::start();
    let mut c = Text::new(&server);
    let inj = "function inj(k, a) error('x\\r\\nEND', 0) end\n";
    assert_eq!(c.load("inj", inj), ["OK"]);
    assert_eq!(c.call("lua call inj 0\r\n"), ["SERVER_ERROR x  END"]);
    assert_eq!(c.call("version\r\n")[0], "VERSION 1.6.18", "in step after the error");
    let reply = c.load("names", "register('x\\r\\nEND', function() end)\n");
    assert!(
        reply[0].starts_with("CLIENT_ERROR names:1:") && reply[0].contains("not a function name"),
        "{reply:?}"
    );
    assert_eq!(c.call("lua list\r\n"), ["LIB inj inj", "END"]);
    // A refused `lua load` line: its data block is skipped, not run.
    assert_eq!(c.call("lua load bad! 7\r\nversion\r\n"), ["CLIENT_ERROR bad command line format"]);
    assert_eq!(
        c.call("lua load ok 7 extra\r\nversion\r\n"),
        ["CLIENT_ERROR bad command line format"]
    );
    assert_eq!(c.call("get nothing\r\n"), ["END"]);
    // `gets` of a function key is a plain miss (no CAS to give), not a call.
    assert_eq!(c.call("gets @fn:inj:x\r\n"), ["END"]);
    // Function keys never become items.
    assert_eq!(c.call("add @fn:inj:x 0 0 1\r\nv\r\n"), ["NOT_STORED"]);
    assert_eq!(c.call("cas @fn:inj:x 0 0 1 5\r\nv\r\n"), ["NOT_STORED"]);

    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = Binary { s, input: BytesMut::new(), dec: ResponseDecoder::new(Limits::default()) };
    let key = [server::LIB_PREFIX, b"viacas"].concat();
    let source = "function viacas(k, a) return 'live' end";
    // A write of a library item that fails publishes nothing.
    let mut cas_set = Request::set(key.clone(), source, 0, 0);
    cas_set.cas = 987_654_321;
    assert_eq!(b.call(&cas_set).status, Status::KEY_ENOENT);
    assert_eq!(c.call("lua call viacas 0\r\n"), ["SERVER_ERROR unknown function 'viacas'"]);
    // Library items do not expire, and are not counters.
    assert_eq!(b.call(&Request::set(key.clone(), source, 0, 1)).status, Status::NOT_STORED);
    assert_eq!(b.call(&Request::set(key.clone(), source, 0, 0)).status, Status::SUCCESS);
    assert_eq!(c.call("lua call viacas 0\r\n"), ["VALUE viacas 0 4", "live", "END"]);
    let mut touch = Request::get(key.clone());
    touch.opcode = memcache::binary::Opcode::TOUCH;
    touch.command = memcache::binary::Command::Touch { key: key.clone().into(), expiry: 1 };
    assert_eq!(b.call(&touch).status, Status::KEY_ENOENT);
    assert_eq!(c.call("lua call viacas 0\r\n"), ["VALUE viacas 0 4", "live", "END"]);
}
