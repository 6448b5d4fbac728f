//! Crash safety of `mammoth serve`: drive SETQ…NOOP batches, `kill -9` the
//! server at a random moment, restart it, and check that every item whose
//! NOOP reply arrived is there with its exact value and flags. Many rounds,
//! both engines, one data directory per engine across all rounds.
//!
//! A third run does the same under a memory limit far below the data, so
//! values are ejected to the engine and read back while the server is
//! killed; a write refused with ETMPFAIL is treated as unacknowledged.
//!
//! `MAMMOTH_CRASH_ROUNDS` sets the rounds per engine (default 6).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use memcache::binary::{Batch, Limits, Opcode, Request, ResponseDecoder, Status};

use crate::serve_support;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn value_for(key: &str, version: u64) -> Vec<u8> {
    let len = (version as usize * 37 + key.len() * 11) % 700;
    let mut v = format!("{key}@{version}:").into_bytes();
    v.extend((0..len).map(|i| (i as u64 ^ version) as u8));
    v
}

/// What the client knows: per key, the acknowledged version, plus every
/// version sent after it but not acknowledged (any of them may survive a
/// crash: a group commit can cut a client's batch anywhere).
#[derive(Default)]
struct Model {
    acked: HashMap<String, u64>,
    pending: HashMap<String, Vec<u64>>,
    /// The keys of `acked`, for picking one at random.
    keys: Vec<String>,
}

/// Writes batches until the connection dies; returns when it does.
fn drive(port: u16, model: &mut Model, rng: &mut Rng, round: u64) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return };
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut decoder = ResponseDecoder::new(Limits::default());
    let mut input = BytesMut::new();
    for batch_no in 0.. {
        let mut out = BytesMut::new();
        let mut batch = Batch::new(&mut out, 1);
        let mut sent = Vec::new();
        for i in 0..=rng.below(200) {
            // Half new keys, half overwrites of keys from earlier rounds.
            let key = if rng.below(2) == 0 || model.keys.is_empty() {
                format!("r{round}-b{batch_no}-i{i}")
            } else {
                let n = rng.below(model.keys.len() as u64) as usize;
                model.keys[n].clone()
            };
            let version = round * 1_000_000 + batch_no * 1000 + i;
            let opaque = batch.setq(key.as_bytes(), &value_for(&key, version), version as u32, 0);
            sent.push((key, version, opaque));
        }
        let noop = batch.noop();
        for (k, v, _) in &sent {
            model.pending.entry(k.clone()).or_default().push(*v);
        }
        let mut refused = Vec::new();
        if stream.write_all(&out).is_err() {
            return;
        }
        loop {
            match decoder.decode(&mut input) {
                Ok(Some(r)) if r.status == Status::ETMPFAIL => refused.push(r.opaque),
                Ok(Some(r)) => {
                    assert_eq!(r.status, Status::SUCCESS, "unexpected error reply {r:?}");
                    if r.opcode == Opcode::NOOP && r.opaque == noop {
                        // A refused write stays a possible version (pending)
                        // and the acknowledged one stays what it was.
                        for (k, v, _) in sent.drain(..).filter(|s| !refused.contains(&s.2)) {
                            model.pending.remove(&k);
                            if model.acked.insert(k.clone(), v).is_none() {
                                model.keys.push(k);
                            }
                        }
                        break;
                    }
                }
                Ok(None) => {
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk) {
                        Ok(n) if n > 0 => input.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                Err(e) => panic!("bad reply stream: {e}"),
            }
        }
    }
}

fn verify(port: u16, model: &Model) -> usize {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut decoder = ResponseDecoder::new(Limits::default());
    let mut input = BytesMut::new();
    let mut checked = 0;
    for (key, &acked) in &model.acked {
        let mut out = BytesMut::new();
        Request::get(key.clone().into_bytes()).encode(&mut out);
        stream.write_all(&out).unwrap();
        let r = loop {
            if let Some(r) = decoder.decode(&mut input).unwrap() {
                break r;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "server closed during verification");
            input.extend_from_slice(&chunk[..n]);
        };
        assert_eq!(r.status, Status::SUCCESS, "acknowledged key {key} lost");
        let flags = r.flags().unwrap();
        let pending = model.pending.get(key).map_or(&[][..], Vec::as_slice);
        let version = std::iter::once(acked)
            .chain(pending.iter().copied())
            .find(|&v| v as u32 == flags)
            .unwrap_or_else(|| panic!("{key}: flags {flags} match no acknowledged version"));
        assert_eq!(r.value, value_for(key, version), "{key}: value differs");
        checked += 1;
    }
    checked
}

fn crash_rounds(backend: &str, extra: &[&str]) {
    let rounds: u64 =
        std::env::var("MAMMOTH_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let seed = Instant::now().elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut rng = Rng(seed | 1);
    let mut model = Model::default();
    for round in 0..rounds {
        let served = serve_support::start(dir.path(), &[&["--backend", backend], extra].concat());
        let port = served.port;
        let checked = verify(port, &model);
        assert_eq!(checked, model.acked.len());
        // Writers race a kill at a random moment.
        // Every third round outlives the applier's 500 ms merge window, so
        // the engine is written (for fjall: merged batches ingested as
        // tables) before the kill, not only by the replay at restart.
        let kill_after = if round % 3 == 2 {
            Duration::from_millis(600 + rng.below(900))
        } else {
            Duration::from_millis(20 + rng.below(400))
        };
        let killer = std::thread::spawn(move || {
            std::thread::sleep(kill_after);
            drop(served); // SIGKILL, then reap
        });
        drive(port, &mut model, &mut rng, round + 1);
        killer.join().unwrap();
        // Whatever was pending and is not acknowledged may or may not be
        // there; keep it as an allowed alternative for the next check only.
        eprintln!(
            "{backend} round {round}: {} acknowledged keys, {} in flight at the kill",
            model.acked.len(),
            model.pending.len()
        );
    }
    let served = serve_support::start(dir.path(), &[&["--backend", backend], extra].concat());
    assert_eq!(verify(served.port, &model), model.acked.len());
    assert!(!model.acked.is_empty(), "the rounds acknowledged nothing: the test proved nothing");
}

#[test]
fn kill_9_loses_no_acknowledged_write_fjall() {
    crash_rounds("fjall", &[]);
}

#[test]
fn kill_9_loses_no_acknowledged_write_while_values_are_ejected() {
    // A few MiB of items against a 2 MiB quota: most values live only in
    // the engine, and verification reads them back.
    crash_rounds("fjall", &["--memory-limit", "2MiB"]);
}

#[test]
fn kill_9_loses_no_acknowledged_write_sqlite() {
    crash_rounds("sqlite", &[]);
}
