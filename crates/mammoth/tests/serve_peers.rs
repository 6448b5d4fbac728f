//! `mammoth serve` against the reference tools: memcapable and our probe
//! (interop/memcached/conformance.sh, binary and ASCII) and real Python
//! clients in binary and text mode (interop/memcached/clients.py). The tools come from Debian packages that
//! `interop/memcached/install-deps.sh` installs (scripts/test runs it); when
//! they are missing these tests fail and say so.

use std::path::PathBuf;
use std::process::Command;

use crate::serve_support;

fn interop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/memcached")
}

fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (run interop/memcached/install-deps.sh)"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn conformance_suite_passes_for_both_engines() {
    for backend in ["fjall", "sqlite"] {
        let dir = tempfile::tempdir().unwrap();
        let served = serve_support::start(dir.path(), &["--backend", backend]);
        let script = interop().join("conformance.sh");
        let port = served.port.to_string();
        let text = run_tool("bash", &[script.to_str().unwrap(), "127.0.0.1", &port]);
        let last = text.lines().rev().find(|l| l.contains(" passed, ")).unwrap_or_default();
        assert!(last.ends_with(" 0 failed"), "{backend}: {last}");
        let passed: u32 = last.split(' ').next().unwrap().parse().unwrap();
        // memccapable's 27 binary tests and probe's 45 checks, TAP's included.
        assert!(passed >= 72, "{backend}: only {passed} checks ran");
        assert!(!text.contains("SKIP  tap"), "{backend}: TAP checks skipped\n{text}");
    }
}

/// memccapable's 27 binary and 27 ASCII tests, all passing, over one port.
#[test]
fn conformance_suite_passes_in_ascii_too() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_support::start(dir.path(), &[]);
    let script = interop().join("conformance.sh");
    let port = served.port.to_string();
    let out = Command::new("bash")
        .args([script.to_str().unwrap(), "127.0.0.1", &port])
        .env("CONFORMANCE_ASCII", "1")
        .env("SKIP_TOOLS", "probe")
        .output()
        .unwrap_or_else(|e| panic!("bash: {e}"));
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    assert!(text.contains("ASCII protocol: yes"), "{text}");
    assert!(text.contains("== memccapable  54 passed, 0 failed"), "{text}");
    assert!(out.status.success(), "{text}");
}

#[test]
fn python_clients_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_support::start(dir.path(), &[]);
    let script = interop().join("clients.py");
    let text = run_tool(
        "/usr/bin/python3",
        &[script.to_str().unwrap(), "127.0.0.1", &served.port.to_string()],
    );
    assert!(text.contains("clients: 32 passed, 0 failed"), "{text}");
}

/// Under systemd (`Type=notify`) the server says `READY=1` once it listens,
/// and `STOPPING=1` when told to stop.
#[test]
fn tells_systemd_when_ready_and_when_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1", "--port", "0", "--dir"])
        .arg(dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(ready.contains(&format!("MAINPID={}", child.id())), "{ready}");
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
}

/// `verbosity 2` turns on the server's debug log (protocol errors are
/// logged at debug), `verbosity 0` turns it off again.
#[test]
fn verbosity_changes_the_log_level() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1", "--port", "0", "--dir"])
        .arg(dir.path())
        .env_remove("MAMMOTH_LOG")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(a) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        {
            break a.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let bad_command = |expect_logged: bool| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        s.write_all(b"bogus\r\n").unwrap();
        let mut reply = [0u8; 7];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"ERROR\r\n");
        let wait = std::time::Duration::from_secs(if expect_logged { 10 } else { 1 });
        let until = std::time::Instant::now() + wait;
        let mut logged = false;
        while let Some(left) = until.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(l) if l.contains("protocol error") => {
                    logged = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        assert_eq!(logged, expect_logged);
    };
    bad_command(false);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"verbosity 2\r\n").unwrap();
    let mut ok = [0u8; 4];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK\r\n");
    bad_command(true);
    let _ = child.kill();
    let _ = child.wait();
}

/// `-s PATH` serves a unix-domain socket with `-a` permissions beside TCP;
/// `-l` takes several addresses (IPv6 loopback too, where the host has it).
#[test]
fn listens_on_a_unix_socket_and_several_addresses() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("mammoth.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    let listen = if ipv6 { "127.0.0.1,::1" } else { "127.0.0.1" };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--port", "0", "-l", listen, "-a", "660", "-s"])
        .arg(&sock)
        .arg("--dir")
        .arg(dir.path().join("data"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut serving = Vec::new();
    while serving.len() < if ipv6 { 3 } else { 2 } {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(a) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        {
            serving.push(a.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    assert_eq!(serving.last().unwrap(), &format!("unix:{}", sock.display()));
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    let mut u = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    u.write_all(b"set k 0 0 2\r\nhi\r\n").unwrap();
    let mut reply = [0u8; 8];
    u.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"STORED\r\n");
    u.write_all(b"stats settings\r\n").unwrap();
    let mut settings = Vec::new();
    while !settings.ends_with(b"END\r\n") {
        let mut chunk = [0u8; 4096];
        let n = u.read(&mut chunk).unwrap();
        assert!(n > 0, "closed");
        settings.extend_from_slice(&chunk[..n]);
    }
    let want = format!("STAT domain_socket {}\r\n", sock.display());
    assert!(String::from_utf8_lossy(&settings).contains(&want), "{want}");
    // Every TCP address serves the same store, on the same port.
    let ports: Vec<&str> =
        serving[..serving.len() - 1].iter().map(|a| a.rsplit(':').next().unwrap()).collect();
    assert!(ports.windows(2).all(|w| w[0] == w[1]), "{serving:?}");
    for addr in &serving[..serving.len() - 1] {
        let mut t = std::net::TcpStream::connect(addr.as_str()).unwrap();
        t.write_all(b"get k\r\n").unwrap();
        let want = b"VALUE k 0 2\r\nhi\r\nEND\r\n";
        let mut got = [0u8; 22];
        t.read_exact(&mut got).unwrap();
        assert_eq!(&got, want, "{addr}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `--http ADDR`: `/metrics` in the Prometheus text format (with the
/// bucket label), `/healthz`, 404 elsewhere.
#[test]
fn serves_metrics_and_health_over_http() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--listen", "127.0.0.1", "--port", "0", "--http", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut port, mut http) = (None, None);
    while port.is_none() || http.is_none() {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(a) = line.strip_prefix("mammoth: HTTP (/metrics, /healthz) on ") {
            http = Some(a.to_owned());
        }
        if let Some(a) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        {
            port = Some(a.to_owned());
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let mut m = std::net::TcpStream::connect(port.unwrap()).unwrap();
    m.write_all(b"set k 0 0 1\r\nv\r\nget k\r\n").unwrap();
    let mut reply = [0u8; 8 + 21];
    m.read_exact(&mut reply).unwrap();
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(http.as_deref().unwrap()).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let metrics = get("/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("content-type: text/plain; version=0.0.4"), "{metrics}");
    for want in [
        "# TYPE memcached_current_items gauge",
        "memcached_current_items{bucket=\"default\"} 1",
        "memcached_commands_total{bucket=\"default\",command=\"get\",status=\"hit\"} 1",
        "memcached_commands_total{bucket=\"default\",command=\"set\",status=\"hit\"} 1",
        "memcached_current_connections 1",
        "mammoth_write_failing{bucket=\"default\"} 0",
        "mammoth_persistence_lag_milliseconds{bucket=\"default\"}",
    ] {
        assert!(metrics.contains(want), "{want} missing from\n{metrics}");
    }
    let health = get("/healthz");
    assert!(health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"), "{health}");
    assert!(get("/nope").starts_with("HTTP/1.1 404"));
    let _ = child.kill();
    let _ = child.wait();
}
