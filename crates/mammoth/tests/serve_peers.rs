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
