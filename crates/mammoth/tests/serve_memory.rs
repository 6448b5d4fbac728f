//! `mammoth serve` under a memory limit: a data set several times the
//! limit loads (writes refused with ETMPFAIL are retried, as clients do),
//! the server's resident memory stays bounded while it loads, while every
//! value is read back exactly, and again after a `kill -9` and restart.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use memcache::binary::{Batch, Opcode, Request, Response, Status};

use crate::serve_support;

/// The quota the server gets, in MiB.
const LIMIT_MIB: u64 = 32;
/// Items loaded: 4 KiB values, four times the quota.
const ITEMS: usize = 4 * (LIMIT_MIB as usize) * 256;
const VALUE_LEN: usize = 4000;

fn value(n: usize) -> Vec<u8> {
    let mut v = format!("value-{n}:").into_bytes();
    v.extend((0..VALUE_LEN - v.len()).map(|i| (i * 31 + n * 7) as u8));
    v
}

fn key(n: usize) -> String {
    format!("mem:{n:06}")
}

/// The resident set of process `pid` in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

struct Client(serve_support::BinaryConn);

impl Client {
    fn connect(port: u16) -> Client {
        Client(serve_support::BinaryConn::connect(port))
    }

    fn reply(&mut self) -> Response {
        self.0.reply()
    }

    fn load(&mut self, keys: &[usize]) -> Vec<usize> {
        let mut out = BytesMut::new();
        let mut batch = Batch::new(&mut out, 1);
        let mut opaques = Vec::new();
        for &n in keys {
            opaques.push((batch.setq(key(n).as_bytes(), &value(n), n as u32, 0), n));
        }
        let noop = batch.noop();
        self.0.stream.write_all(&out).unwrap();
        let mut refused = Vec::new();
        loop {
            let r = self.reply();
            if r.opcode == Opcode::NOOP && r.opaque == noop {
                return refused;
            }
            assert_eq!(r.status, Status::ETMPFAIL, "unexpected reply {r:?}");
            refused.push(opaques.iter().find(|(o, _)| *o == r.opaque).unwrap().1);
        }
    }

    /// GETs every item in pipelined groups and checks each value.
    fn verify(&mut self, pid: u32, peak: &mut u64) {
        for group in (0..ITEMS).collect::<Vec<_>>().chunks(64) {
            let mut out = BytesMut::new();
            for &n in group {
                Request::get(key(n).into_bytes()).encode(&mut out);
            }
            self.0.stream.write_all(&out).unwrap();
            for &n in group {
                let r = self.reply();
                assert_eq!(r.status, Status::SUCCESS, "{} lost", key(n));
                assert_eq!(r.flags(), Some(n as u32), "{}", key(n));
                assert!(r.value == value(n), "{}: value differs", key(n));
            }
            *peak = (*peak).max(rss(pid));
        }
    }
}

/// `stats engine` over the text protocol, as name → value.
fn engine_stats(port: u16) -> std::collections::HashMap<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(b"stats engine\r\n").unwrap();
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    while !text.ends_with(b"END\r\n") {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "server closed during stats");
        text.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(text)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            if parts.next() != Some("STAT") {
                return None;
            }
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

fn stat(stats: &std::collections::HashMap<String, String>, name: &str) -> u64 {
    stats.get(name).unwrap_or_else(|| panic!("no stat {name}")).parse().unwrap()
}

#[test]
fn a_data_set_four_times_the_limit_loads_and_reads_back_within_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let limit = format!("{LIMIT_MIB}MiB");
    let served = serve_support::start(dir.path(), &["--memory-limit", &limit]);
    let pid = served.child.id();
    let mut client = Client::connect(served.port);
    let mut peak = rss(pid);
    let mut refused_total = 0;
    let keys: Vec<usize> = (0..ITEMS).collect();
    for chunk in keys.chunks(100) {
        let mut todo = chunk.to_vec();
        let mut tries = 0;
        while !todo.is_empty() {
            todo = client.load(&todo);
            refused_total += todo.len();
            tries += 1;
            assert!(tries < 2000, "writes kept failing: the engine never caught up");
            if !todo.is_empty() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        peak = peak.max(rss(pid));
    }
    client.verify(pid, &mut peak);
    let bound = (LIMIT_MIB * 3 / 2 + 64) << 20;
    eprintln!(
        "loaded {} MiB into a {LIMIT_MIB} MiB quota: peak RSS {} MiB (bound {} MiB), {refused_total} writes retried",
        (ITEMS * VALUE_LEN) >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(peak <= bound, "RSS peaked at {} MiB, over {} MiB", peak >> 20, bound >> 20);
    // The values came back through background fetches, not reads on the
    // worker thread.
    let stats = engine_stats(served.port);
    let (fetched, inline) = (stat(&stats, "ep_bg_fetched"), stat(&stats, "ep_bg_fetched_inline"));
    assert!(fetched > (ITEMS / 2) as u64, "only {fetched} values read back: nothing was ejected?");
    assert!(inline * 100 < fetched, "{inline} of {fetched} values read on the worker thread");
    assert!(stat(&stats, "mem_used") <= LIMIT_MIB << 20);

    // kill -9, restart: the warmup stops at the quota, and every value is
    // there.
    drop(client);
    drop(served);
    let served = serve_support::start(dir.path(), &["--memory-limit", &limit]);
    let pid = served.child.id();
    let mut client = Client::connect(served.port);
    let mut peak = rss(pid);
    client.verify(pid, &mut peak);
    eprintln!("after kill -9 and restart: peak RSS {} MiB", peak >> 20);
    assert!(peak <= bound, "RSS peaked at {} MiB after restart", peak >> 20);
}
