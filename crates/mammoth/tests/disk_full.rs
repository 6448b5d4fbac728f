//! `mammoth serve` on a really full file system: a size-limited tmpfs
//! mounted for the test (root only, as CI runs; elsewhere the test says it
//! is skipped).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::serve_support::{self, Served};

/// A tmpfs mounted at a directory, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(server: &Served) -> Client {
        let s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Client(BufReader::new(s))
    }

    /// The reply line to a `set`, or `None` when the server closed the
    /// connection instead.
    fn set(&mut self, key: &str, value: &[u8]) -> Option<String> {
        let mut req = format!("set {key} 0 0 {}\r\n", value.len()).into_bytes();
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
        self.0.get_mut().write_all(&req).ok()?;
        let mut line = String::new();
        match self.0.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end().to_owned()),
        }
    }

    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        self.0.get_mut().write_all(format!("get {key}\r\n").as_bytes()).unwrap();
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        if line == "END\r\n" {
            return None;
        }
        let len: usize = line.trim_end().rsplit(' ').next().unwrap().parse().unwrap();
        let mut data = vec![0; len + 2];
        std::io::Read::read_exact(&mut self.0, &mut data).unwrap();
        data.truncate(len);
        let mut end = String::new();
        self.0.read_line(&mut end).unwrap();
        assert_eq!(end, "END\r\n");
        Some(data)
    }

    fn stat(&mut self, name: &str) -> String {
        self.0.get_mut().write_all(b"stats\r\n").unwrap();
        let want = format!("STAT {name} ");
        let mut found = None;
        loop {
            let mut line = String::new();
            self.0.read_line(&mut line).unwrap();
            if line == "END\r\n" {
                return found.unwrap_or_else(|| panic!("no {name} in stats"));
            }
            if let Some(v) = line.trim_end().strip_prefix(&want) {
                found = Some(v.to_owned());
            }
        }
    }
}

fn value(i: usize) -> Vec<u8> {
    (0..65_536).map(|j| b'a' + ((i * 7 + j) % 26) as u8).collect()
}

/// Fills `path` with zeros until the file system is full, then gives back
/// `leave` bytes: the server fills those itself.
fn ballast(path: &Path, leave: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_gets_answers_in_seconds_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&dir.path().join("mnt"), "96m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let data = fs.0.join("data");
    // A fixed port: recovering fjall restarts the server with its arguments.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = serve_support::start_on(&data, port, &["--write-timeout", "2"]);
    let mut c = Client::connect(&server);
    assert_eq!(c.set("before", b"x").as_deref(), Some("STORED"));
    ballast(&fs.0.join("ballast"), 6 << 20);

    // Writes go on until the disk refuses; then one answer within seconds.
    let mut acked = Vec::new();
    let mut slowest_failure = Duration::ZERO;
    for i in 0..4000 {
        let key = format!("k{i}");
        let started = Instant::now();
        match c.set(&key, &value(i)) {
            Some(reply) if reply == "STORED" => acked.push((key, i)),
            reply => {
                slowest_failure = started.elapsed();
                assert!(
                    reply.as_deref().is_none_or(|r| r.starts_with("SERVER_ERROR")),
                    "{reply:?}"
                );
                break;
            }
        }
        assert!(i < 3999, "the full disk never refused a write");
    }
    eprintln!("{} writes acknowledged; the refusal took {slowest_failure:?}", acked.len());
    assert!(slowest_failure < Duration::from_secs(6), "refused after {slowest_failure:?}");

    // New writes fail fast while the disk is full; reads go on.
    let mut c = Client::connect(&server);
    let started = Instant::now();
    let reply = c.set("during", b"y").unwrap();
    assert!(reply.starts_with("SERVER_ERROR cannot write to disk"), "{reply}");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(c.get("before").as_deref(), Some(&b"x"[..]));
    if let Some((key, i)) = acked.first() {
        assert_eq!(c.get(key), Some(value(*i)));
    }
    assert_eq!(c.stat("write_failing"), "1");

    // Space comes back: the server resumes by itself (fjall, which refuses
    // writes after a failed journal write, by a restart of the process that
    // replays the commit log).
    std::fs::remove_file(fs.0.join("ballast")).unwrap();
    let resumed = Instant::now();
    loop {
        let stored = TcpStream::connect(("127.0.0.1", server.port)).is_ok() && {
            c = Client::connect(&server);
            c.set("after", b"z").as_deref() == Some("STORED")
        };
        if stored {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(60), "writes did not resume");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("writes resumed {:?} after space came back", resumed.elapsed());
    assert_eq!(c.stat("write_failing"), "0");
    for (key, i) in &acked {
        assert_eq!(c.get(key), Some(value(*i)), "{key} was acknowledged");
    }

    // Nothing acknowledged was lost, even across a kill -9.
    drop(server);
    let server = serve_support::start_on(&data, port, &[]);
    let mut c = Client::connect(&server);
    assert_eq!(c.get("before").as_deref(), Some(&b"x"[..]));
    assert_eq!(c.get("after").as_deref(), Some(&b"z"[..]));
    for (key, i) in &acked {
        assert_eq!(c.get(key), Some(value(*i)), "{key} was acknowledged");
    }
}
