//! `mammoth userset …`, run as a user would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn mammoth(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mammoth runs");
    // A command that fails before reading its input closes the pipe early.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
    }
    child.wait_with_output().unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn gen_build_check_verify() {
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("names.txt");
    let set = dir.path().join("names.uset");

    let out = mammoth(&["userset", "gen", "1000"], b"");
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"p48dxvm3ay\n"));
    assert_eq!(
        out.stdout.split(|&b| b == b'\n').count(),
        1001,
        "1000 lines and nothing after the last"
    );

    let out = mammoth(&["userset", "gen", "5000", "--realistic", "-o", p(&names)], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read(&names).unwrap();
    let first: &[u8] = text.split(|&b| b == b'\n').next().unwrap();

    let out = mammoth(&["userset", "build", p(&names), "-o", p(&set)], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("5000 names"));

    let out = mammoth(&["userset", "verify", p(&set), p(&names)], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut query = first.to_vec();
    query.extend_from_slice(b"\r\nno-such-user\n");
    let out = mammoth(&["userset", "check", p(&set), "--print"], &query);
    assert_eq!(out.status.code(), Some(1), "one name is absent (as grep: 1)");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], format!("present\t{}", String::from_utf8_lossy(first)));
    assert_eq!(lines[1], "absent\tno-such-user");

    let out = mammoth(&["userset", "check", p(&set), "-"], first);
    assert_eq!(out.status.code(), Some(0));

    // verify fails (status 1, as grep) on a file with an absent name, naming its offset.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, b"\nnobody-here\n").unwrap();
    let out = mammoth(&["userset", "verify", p(&set), p(&other)], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offset 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn corrupt_set_errors_name_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let names = dir.path().join("names.txt");
    let set = dir.path().join("names.uset");
    std::fs::write(&names, b"alice\nbob\n").unwrap();
    assert!(mammoth(&["userset", "build", p(&names), "-o", p(&set)], b"").status.success());
    let mut bytes = std::fs::read(&set).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&set, &bytes).unwrap();
    let out = mammoth(&["userset", "check", p(&set)], b"alice\n");
    assert_eq!(out.status.code(), Some(2), "an error is status 2, as grep");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(p(&set)) && err.contains("offset") && err.contains("truncated"), "{err}");

    let out = mammoth(&["userset", "verify", p(&names), p(&names)], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a userset file"));
}

#[test]
fn bench_runs_both_sides_at_small_n() {
    let out = mammoth(&["userset", "bench", "20000"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("| mammoth"), "{stdout}");
    assert!(stdout.contains("| 2011-style baseline"), "{stdout}");
    assert!(stdout.contains("information floor"), "{stdout}");
}
