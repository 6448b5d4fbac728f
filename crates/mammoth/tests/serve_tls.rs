//! `mammoth serve --tls-cert`: real TLS clients (pymemcache over Python's
//! ssl module, `openssl s_client`) against mammoth and, with the same
//! script, against Debian's `memcached -Z` as the reference. Certificates
//! come from the `openssl` command; `interop/memcached/install-deps.sh`
//! installs what these tests use.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn interop() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/memcached")
}

/// A self-signed certificate for 127.0.0.1 (and localhost) with subject
/// CN=`name`: `name.pem` and `name-key.pem` in `dir`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}-key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "2", "-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (run interop/memcached/install-deps.sh)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts mammoth with TLS on one address and a plain one beside it;
/// returns the server and both ports (TLS, plain).
fn serve_tls(dir: &Path, cert: &Path, key: &Path) -> (Killed, u16, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--port", "0", "-l", "127.0.0.1,notls:127.0.0.1:0", "--tls-cert"])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .arg("--dir")
        .arg(dir.join("data"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut tls, mut plain) = (None, None);
    while tls.is_none() || plain.is_none() {
        let line = lines.next().expect("server exited before listening").unwrap();
        let Some(addr) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        else {
            continue;
        };
        match addr.strip_suffix(" (TLS)") {
            Some(a) => tls = Some(a.rsplit(':').next().unwrap().parse().unwrap()),
            None => plain = Some(addr.rsplit(':').next().unwrap().parse().unwrap()),
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Killed(child), tls.unwrap(), plain.unwrap())
}

fn tls_script(port: u16, ca: &Path) -> String {
    let script = interop().join("tls_client.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .args(["127.0.0.1", &port.to_string()])
        .arg(ca)
        .output()
        .expect("python3 (run interop/memcached/install-deps.sh)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("{text}");
    text
}

/// The subject `openssl s_client` sees on `port`.
fn served_subject(port: u16) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no subject in {text}"))
        .to_owned()
}

/// The same script passes against memcached -Z and mammoth; the `notls:`
/// listener beside the TLS one stays plain.
#[test]
fn real_tls_clients_work_as_with_memcached() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "first");

    // The reference: Debian's memcached with TLS.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let reference = Command::new("memcached")
        .args(["-Z", "-l", "127.0.0.1", "-U", "0", "-u", "root", "-p", &port.to_string(), "-o"])
        .arg(format!("ssl_chain_cert={},ssl_key={}", cert.display(), key.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Killed)
        .expect("memcached (run interop/memcached/install-deps.sh)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "memcached did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = tls_script(port, &cert);
    assert!(text.contains("tls: 8 passed, 0 failed"), "memcached -Z: {text}");
    drop(reference);

    let (_server, tls, plain) = serve_tls(dir.path(), &cert, &key);
    let text = tls_script(tls, &cert);
    assert!(text.contains("tls: 8 passed, 0 failed"), "mammoth: {text}");
    // What pymemcache stored over TLS, read over the plain listener.
    let mut t = BufReader::new(std::net::TcpStream::connect(("127.0.0.1", plain)).unwrap());
    t.get_mut().write_all(b"get c\r\n").unwrap();
    let mut line = String::new();
    t.read_line(&mut line).unwrap();
    assert_eq!(line, "VALUE c 0 3\r\n");
}

/// SIGHUP reads the certificate files again, as memcached does: new
/// connections get the new certificate.
#[test]
fn sighup_reloads_the_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "first");
    let (server, tls, _) = serve_tls(dir.path(), &cert, &key);
    assert!(served_subject(tls).contains("first"));
    let (second, second_key) = certificate(dir.path(), "second");
    std::fs::copy(&second, &cert).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    let pid = server.0.id().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let subject = served_subject(tls);
        if subject.contains("second") {
            break;
        }
        assert!(Instant::now() < deadline, "still serving {subject}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The server is still up and serving.
    assert!(tls_script(tls, &cert).contains("tls: 8 passed, 0 failed"));
}

/// Mistakes in the TLS flags are refused at start with the file named.
#[test]
fn bad_tls_flags_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mammoth"))
            .args(["serve", "--port", "0", "--dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = dir.path().join("missing.pem");
    let err = run(&["--tls-cert", missing.to_str().unwrap()]);
    assert!(err.contains(&format!("cannot read {}", missing.display())), "{err}");
    let err = run(&["-l", "notls:127.0.0.1"]);
    assert!(err.contains("notls"), "{err}");
    let (cert, key) = certificate(dir.path(), "first");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let err = run(&["--tls-cert", cert, "--tls-key", key, "--tls-verify", "require"]);
    assert!(err.contains("needs --tls-ca"), "{err}");
    let err = run(&["--tls-cert", cert]);
    assert!(err.contains("no usable PEM private key in"), "{err}");
}

/// `mammoth bench load` (the driver of scripts/bench-tls) measures a real
/// server and reports error replies apart.
#[test]
fn bench_load_reports_throughput_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let served = crate::serve_support::start(dir.path(), &[]);
    let addr = format!("127.0.0.1:{}", served.port);
    let load = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mammoth"))
            .args(["bench", "load", "--addr", &addr, "--secs", "0.5", "-c", "2"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let sets = load(&["--keys", "10", "set", "k{key}", "0", "0", "{len}"]);
    assert!(sets.contains(" ops/s, 0 errors, p50 "), "{sets}");
    let ops: f64 = sets.split(' ').next().unwrap().parse().unwrap();
    assert!(ops > 0.0, "{sets}");
    let bad = load(&["incr", "k{key}", "1"]);
    assert!(bad.contains("first error: CLIENT_ERROR"), "a non-numeric value: {bad}");
}

/// A CA in `dir` (`ca.pem`) and two certificates it signs: `server.pem`
/// for 127.0.0.1 and `client.pem` for client authentication (keys in
/// `NAME-key.pem`). rustls, unlike OpenSSL, refuses a self-signed CA
/// certificate as a peer's own, so its clients need this chain.
fn ca_and_leaves(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca = ["-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca-key.pem", "-out", "ca.pem"];
    openssl(&[&["req", "-x509"][..], &ec, &ca].concat());
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("basicConstraints=CA:FALSE\n{ext}"),
        )
        .unwrap();
        let key = format!("{name}-key.pem");
        let req = format!("{name}.req");
        openssl(
            &[&["req"][..], &ec, &["-subj", &format!("/CN={name}"), "-keyout", &key, "-out", &req]]
                .concat(),
        );
        let (cert, ext) = (format!("{name}.pem"), format!("{name}.ext"));
        openssl(&[
            "x509",
            "-req",
            "-in",
            &req,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ]);
    }
}

/// The TAP consumers speak TLS to a server that serves it, with a client
/// certificate when the server asks for one: `tap export` from
/// `tls://HOST:PORT` gets every item; without the certificate it fails and
/// says so.
#[test]
fn tap_export_reads_a_tls_server_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    ca_and_leaves(dir.path());
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["serve", "--port", "0", "-l", "127.0.0.1,notls:127.0.0.1:0"])
        .args(["--tls-cert", &p("server.pem"), "--tls-key", &p("server-key.pem")])
        .args(["--tls-ca", &p("ca.pem"), "--dir", &p("data")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let _server = Killed(child);
    let (mut tls, mut plain) = (None::<u16>, None::<u16>);
    while tls.is_none() || plain.is_none() {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(a) =
            line.strip_prefix("mammoth: serving memcached protocol (binary and text) on ")
        {
            match a.strip_suffix(" (TLS)") {
                Some(a) => tls = a.rsplit(':').next().unwrap().parse().ok(),
                None => plain = a.rsplit(':').next().unwrap().parse().ok(),
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let mut t =
        BufReader::new(std::net::TcpStream::connect(("127.0.0.1", plain.unwrap())).unwrap());
    for i in 0..3 {
        t.get_mut().write_all(format!("set key{i} 0 0 6\r\nvalue{i}\r\n").as_bytes()).unwrap();
        let mut line = String::new();
        t.read_line(&mut line).unwrap();
        assert_eq!(line, "STORED\r\n");
    }
    let from = format!("tls://127.0.0.1:{}", tls.unwrap());
    let export = |out: &str, client_cert: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mammoth"));
        cmd.args(["tap", "export", "--from", &from, "--out", &p(out), "--tls-ca", &p("ca.pem")]);
        if client_cert {
            cmd.args(["--tls-cert", &p("client.pem"), "--tls-key", &p("client-key.pem")]);
        }
        cmd.output().unwrap()
    };
    let out = export("snap", true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["seq", "cat", &p("snap/part-00000.seq")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    for i in 0..3 {
        // Keys are BytesWritable, printed in hex.
        let key = format!("6b6579{:02x}", b'0' + i);
        assert!(text.lines().any(|l| l.starts_with(&key)), "{text}");
    }
    // Refused for good, not retried forever.
    let refused = export("refused", false);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("TLS: ") && err.to_lowercase().contains("certificate"), "{err}");
}
