//! `mammoth collect` as an operator runs it: a real `mammoth serve` that is
//! killed (SIGKILL) and restarted mid-stream, multicast readings on
//! loopback, SIGTERM for a clean stop, and the history exported with
//! `mammoth tap export --key-prefix reading/` and read back.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use collect::send::{SeqFormat, Sequence, send};
use seqfile::Reader;

use crate::serve_support;

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The collector process; killed (SIGKILL) if a failing test leaves it running.
struct Collecting {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Collecting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collecting {
    fn start(args: &[&str]) -> Collecting {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
            .arg("collect")
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let c = Collecting { child, lines };
        c.wait_for("collect: listening on");
        c
    }

    /// The first stderr line containing `what` (at most 20 s).
    fn wait_for(&self, what: &str) -> String {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(l) if l.contains(what) => return l,
                Ok(l) => seen.push(l),
                Err(e) => {
                    panic!("no line with {what:?} ({e}); stderr so far:\n{}", seen.join("\n"))
                }
            }
        }
    }
}

/// `name N` in a status line.
fn count(line: &str, name: &str) -> u64 {
    let at = line.find(&format!("{name} ")).unwrap_or_else(|| panic!("{name} in {line}"));
    line[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{name} count in {line}"))
}

fn export_records(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut r = Reader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        // BytesWritable: a 4-byte length, then the bytes.
        out.push((rec.key[4..].to_vec(), rec.value[4..].to_vec()));
    }
    out
}

#[test]
fn collect_survives_server_kill_and_exports_history() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_tcp_port();
    let served = serve_support::start_on(&data, port, &[]);
    let group = SocketAddr::from((Ipv4Addr::new(225, 0, 0, 37), free_udp_port()));
    let to = format!("127.0.0.1:{port}");
    let c = Collecting::start(&[
        "--group",
        &group.to_string(),
        "--interface",
        "127.0.0.1",
        "--to",
        &to,
        "--flush-ms",
        "10",
        "--status-every",
        "1",
    ]);

    let seq = Sequence { format: SeqFormat::Ibutton, run: "CLI".into(), sensors: 4 };
    let total = 20_000u64;
    let tx = collect::socket::sender_socket(group, Ipv4Addr::LOCALHOST, 0).unwrap();
    let stop = AtomicBool::new(false);
    let (sent, served) = std::thread::scope(|s| {
        let sending = s.spawn(|| {
            send(&tx, &seq, 0, total, Some(10_000), Duration::from_secs(30), &stop).unwrap()
        });
        std::thread::sleep(Duration::from_millis(700));
        // SIGKILL: whatever the collector had in flight is unacknowledged.
        drop(served);
        std::thread::sleep(Duration::from_millis(300));
        let served = serve_support::start_on(&data, port, &[]);
        (sending.join().unwrap(), served)
    });
    assert_eq!((sent.sent, served.port), (total, port));
    // Malformed input is counted and logged, not fatal.
    tx.send(b"garbage\n").unwrap();
    c.wait_for("malformed line from");
    c.wait_for(&format!("received {} datagrams", total + 1));

    Command::new("kill").args(["-TERM", &c.child.id().to_string()]).status().unwrap();
    let done = c.wait_for("collect: done after");
    assert_eq!(count(&done, "stored"), total, "{done}");
    assert_eq!(count(&done, "malformed"), 1, "{done}");
    assert_eq!(count(&done, "dropped"), 0, "{done}");
    assert!(count(&done, "reconnects") >= 1, "the kill was not noticed: {done}");
    let mut c = c;
    assert!(c.child.wait().unwrap().success());

    // Everything is on the server, and the history exports by prefix.
    let out = tmp.path().join("export");
    let status = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["tap", "export", "--from", &to, "--layout", "raw", "--key-prefix", "reading/"])
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let records = export_records(&out.join("part-00000.seq"));
    assert_eq!(records.len() as u64, total);
    let mut keys: Vec<Vec<u8>> = records.iter().map(|(k, _)| k.clone()).collect();
    keys.sort();
    let mut want: Vec<Vec<u8>> = (0..total).map(|n| seq.key(n).into_bytes()).collect();
    want.sort();
    assert!(keys == want, "exported keys differ from the keys sent");
    let (k, v) = records.iter().find(|(k, _)| *k == seq.key(12_345).into_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(v).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"ts": "2024-01-01T00:00:00.012345000Z", "serial": "CLI0001",
                           "reading": -6.55, "seq": 12345.0}),
        "{}",
        String::from_utf8_lossy(k)
    );
    drop(served);
}
