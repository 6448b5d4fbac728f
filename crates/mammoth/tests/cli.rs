//! The `mammoth` binary, run as a user would.

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
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: &[u8]) -> String {
    let out = mammoth(args, stdin);
    assert!(
        out.status.success(),
        "mammoth {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn dump_records(dump: &str) -> Vec<&str> {
    dump.lines().filter(|l| !l.starts_with('#')).collect()
}

fn dump_field<'a>(dump: &'a str, name: &str) -> &'a str {
    dump.lines()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in dump"))
        .trim()
}

#[test]
fn help_lists_only_working_commands() {
    let help = ok(&["--help"], b"");
    for cmd in ["serve", "seq", "map", "bench", "userset", "tap", "import"] {
        assert!(help.contains(&format!("  {cmd} ")), "{cmd} missing: {help}");
    }
    // `export` is `tap export`, not a command of its own.
    assert!(!help.contains("  export "), "{help}");
    let tap_help = ok(&["tap", "--help"], b"");
    for sub in ["mirror", "export"] {
        assert!(tap_help.contains(&format!("  {sub} ")), "{sub} missing: {tap_help}");
    }
    let seq_help = ok(&["seq", "--help"], b"");
    for sub in ["cat", "head", "stat", "write", "convert"] {
        assert!(seq_help.contains(sub), "{sub} missing: {seq_help}");
    }
    assert!(ok(&["--version"], b"").starts_with("mammoth "));
}

#[test]
fn tsv_in_text_out_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.seq");
    let input = "apple\t1\nbanana\t\nwith\\ttab\tnew\\nline\n😀\t\\\\\n";
    ok(&["seq", "write", p(&f), "--compression", "record", "--codec", "bzip2"], input.as_bytes());
    assert_eq!(ok(&["seq", "cat", p(&f)], b""), input);
    assert_eq!(ok(&["seq", "head", "-n", "2", p(&f)], b""), "apple\t1\nbanana\t\n");
    let json = ok(&["seq", "cat", "--json", p(&f)], b"");
    assert_eq!(json.lines().next().unwrap(), r#"{"key":"apple","value":"1"}"#);
    assert_eq!(json.lines().nth(2).unwrap(), r#"{"key":"with\ttab","value":"new\nline"}"#);
}

#[test]
fn typed_classes_from_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.seq");
    let input =
        "{\"key\": -9223372036854775808, \"value\": \"00ff\"}\n{\"key\": 7, \"value\": \"\"}\n";
    ok(
        &[
            "seq",
            "write",
            p(&f),
            "--input-format",
            "json",
            "--key-class",
            "LongWritable",
            "--value-class",
            "BytesWritable",
        ],
        input.as_bytes(),
    );
    assert_eq!(ok(&["seq", "cat", p(&f)], b""), "-9223372036854775808\t00ff\n7\t\n");
    assert_eq!(
        ok(&["seq", "cat", "--bytes", "base64", p(&f)], b""),
        "-9223372036854775808\tAP8=\n7\t\n"
    );
    // The dump shows serialized bytes: an 8-byte long and a 4-byte length prefix.
    let dump = ok(&["seq", "cat", "--dump", p(&f)], b"");
    assert_eq!(
        dump_records(&dump),
        ["8000000000000000\t0000000200ff", "0000000000000007\t00000000"]
    );
}

#[test]
fn dump_and_write_dump_and_convert_preserve_records() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.seq");
    let tsv = (0..3000)
        .map(|i| format!("key-{i:05}\t{}\n", "v".repeat(i % 300)))
        .collect::<Vec<_>>()
        .concat();
    ok(
        &[
            "seq",
            "write",
            p(&src),
            "--compression",
            "none",
            "--sync-interval",
            "2000",
            "--meta",
            "a=b",
        ],
        tsv.as_bytes(),
    );
    let dump = ok(&["seq", "cat", "--dump", p(&src)], b"");
    assert_eq!(dump_field(&dump, "#records"), "3000");
    let sha = dump_field(&dump, "#sha256").to_owned();
    assert!(dump.contains("#meta\t61\t62\ta=b\n"));

    let from_dump = dir.path().join("from-dump.seq");
    ok(
        &[
            "seq",
            "write",
            p(&from_dump),
            "--input-format",
            "dump",
            "--compression",
            "block",
            "--codec",
            "lz4",
        ],
        dump.as_bytes(),
    );
    assert_eq!(dump_field(&ok(&["seq", "cat", "--dump", p(&from_dump)], b""), "#sha256"), sha);

    for (layout, codec) in
        [("record", "gzip"), ("block", "zstd"), ("block", "snappy"), ("none", "default")]
    {
        let out = dir.path().join(format!("{layout}-{codec}.seq"));
        ok(
            &[
                "seq",
                "convert",
                p(&src),
                p(&out),
                "--compression",
                layout,
                "--codec",
                codec,
                "--block-size",
                "5000",
            ],
            b"",
        );
        let d = ok(&["seq", "cat", "--dump", p(&out)], b"");
        assert_eq!(dump_field(&d, "#sha256"), sha, "{layout} {codec}");
        assert_eq!(dump_field(&d, "#compression"), layout.to_uppercase());
        assert!(d.contains("#meta\t61\t62\ta=b\n"), "metadata kept");
    }
}

#[test]
fn stat_counts_records_blocks_and_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("s.seq");
    let tsv = (0..1000).map(|i| format!("{i}\t{}\n", "x".repeat(90))).collect::<Vec<_>>().concat();
    ok(
        &[
            "seq",
            "write",
            p(&f),
            "--key-class",
            "IntWritable",
            "--compression",
            "block",
            "--block-size",
            "10000",
        ],
        tsv.as_bytes(),
    );
    let s: serde_json::Value =
        serde_json::from_str(&ok(&["seq", "stat", "--json", p(&f)], b"")).unwrap();
    assert_eq!(s["records"], 1000);
    assert_eq!(s["key_class"], "org.apache.hadoop.io.IntWritable");
    assert_eq!(s["compression"], "BLOCK");
    // 4 + 91 raw bytes per record: a block closes after 106 records.
    assert_eq!(s["blocks"], 10);
    assert_eq!(s["raw_key_bytes"], 4000);
    let text = ok(&["seq", "stat", p(&f)], b"");
    assert!(text.contains("records      1000\n"), "{text}");
}

#[test]
fn errors_name_the_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.seq");
    ok(&["seq", "write", p(&f), "--compression", "none"], b"a\tb\nc\td\n");
    let mut bytes = std::fs::read(&f).unwrap();
    let len = bytes.len();
    bytes.truncate(len - 1);
    let cut = dir.path().join("cut.seq");
    std::fs::write(&cut, &bytes).unwrap();
    let out = mammoth(&["seq", "cat", p(&cut)], b"");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.seq: offset 90:"), "{err}");

    let out = mammoth(&["seq", "write", p(&f), "--key-class", "IntWritable"], b"1\tx\nnope\ty\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 2"), "{err}");

    let out = mammoth(&["seq", "write", p(&f), "--codec", "lzo"], b"");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown codec")
    );
}

#[test]
fn map_build_sorts_stably_even_when_spilling_and_answers_lookups() {
    let dir = tempfile::tempdir().unwrap();
    // 40,000 records of ~120 bytes (~5 MB) with a 1 MiB sort budget: several runs.
    let n = 40_000u64;
    let key = |i: u64| (i * 7919) % 10_000; // every key 4 times, unsorted
    let tsv = (0..n).map(|i| format!("{}\t{i:0100}\n", key(i))).collect::<Vec<_>>().concat();
    let map = dir.path().join("m");
    let out = mammoth(
        &[
            "map",
            "build",
            p(&map),
            "--key-class",
            "LongWritable",
            "--bloom",
            "--sort-memory-mb",
            "1",
        ],
        tsv.as_bytes(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sorted runs"), "spilled");
    assert!(
        !dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("sort"))
    );

    let cat = ok(&["map", "cat", p(&map)], b"");
    let lines: Vec<(u64, u64)> = cat
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.parse().unwrap(), v.parse().unwrap())
        })
        .collect();
    let mut want: Vec<(u64, u64)> = (0..n).map(|i| (key(i), i)).collect();
    want.sort_by_key(|&(k, _)| k); // stable: equal keys keep input order
    assert_eq!(lines, want);

    let got = mammoth(&["map", "get", p(&map), "42", "10000", "7"], b"");
    assert_eq!(got.status.code(), Some(1), "a missing key makes the exit status 1");
    let first_42 = want.iter().find(|(k, _)| *k == 42).unwrap().1;
    let first_7 = want.iter().find(|(k, _)| *k == 7).unwrap().1;
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        format!("42\t{first_42:0100}\n7\t{first_7:0100}\n")
    );
    let closest = ok(&["map", "get", "--closest", "--before", p(&map), "20000"], b"");
    assert!(closest.starts_with("9999\t"), "{closest}");
    let probe = ok(&["map", "probe", p(&map), "42", "hex:00000000000f4240"], b"");
    assert!(probe.starts_with("42\ttrue\nhex:00000000000f4240\t"), "{probe}");
    let stat: serde_json::Value =
        serde_json::from_str(&ok(&["map", "stat", "--json", p(&map)], b"")).unwrap();
    assert_eq!(stat["records"], n);
    assert_eq!(stat["kind"], "bloom");
    assert_eq!(stat["final_key"], "9999");
}

#[test]
fn map_build_refuses_nothing_but_bad_lines_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("m");
    let out = mammoth(&["map", "build", p(&map), "--key-class", "IntWritable"], b"1\ta\nx\tb\n");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    let out = mammoth(&["map", "get", p(&dir.path().join("none")), "k"], b"");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("none/data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn benchmarks_run_without_the_peer() {
    let out = ok(
        &[
            "bench",
            "seq",
            "--no-hadoop",
            "--records",
            "3000",
            "--rounds",
            "1",
            "--formats",
            "none,block-snappy",
        ],
        b"",
    );
    assert!(out.contains("block-snappy    read"), "{out}");
    let out = ok(
        &["bench", "map", "--no-hadoop", "--records", "3000", "--lookups", "200", "--rounds", "1"],
        b"",
    );
    for f in ["map-none", "map-block-deflate", "bloom-none", "bloom-block-deflate"] {
        assert!(out.contains(&format!("{f:<22} get-absent")), "{f}: {out}");
    }
    let bad = mammoth(&["bench", "seq", "--no-hadoop", "--formats", "none,lzo"], b"");
    assert!(!bad.status.success());
}

/// The error line of a failed run: exit status 2 (as grep), one line
/// `mammoth: a: b: c` on stderr.
fn error_line(args: &[&str]) -> String {
    let out = mammoth(args, b"");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "mammoth {args:?}: {stderr}");
    stderr
        .lines()
        .find(|l| l.starts_with("mammoth: ") && !l.starts_with("mammoth: memory"))
        .unwrap_or_else(|| panic!("mammoth {args:?}: no error line in {stderr}"))
        .to_owned()
}

#[test]
fn errors_exit_2_and_say_each_thing_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let under_file = file.join("store");
    let users = dir.path().join("users");
    std::fs::write(&users, b"alice:pw\nno colon here\n").unwrap();
    let missing = dir.path().join("missing.seq");
    let set = dir.path().join("missing.uset");
    let cases: Vec<Vec<&str>> = vec![
        vec!["serve", "--port", "0", "--dir", p(&under_file)],
        vec!["serve", "--port", "0", "--dir", p(dir.path()), "--users", p(&users)],
        vec!["seq", "cat", p(&missing)],
        vec!["seq", "stat", p(&file)],
        vec!["map", "get", p(&missing), "k"],
        vec!["userset", "check", p(&set)],
        vec!["import", p(&missing), "--to", "127.0.0.1:1"],
        vec!["tap", "export", "--from", "127.0.0.1:1", "--out", p(&under_file)],
        vec![
            "tap",
            "mirror",
            "--from",
            "127.0.0.1:1",
            "--to",
            "127.0.0.1:1",
            "--all-buckets",
            "--users",
            p(&users),
        ],
    ];
    for args in &cases {
        let line = error_line(args);
        let segments: Vec<&str> =
            line.trim_start_matches("mammoth: ").split(": ").map(str::trim).collect();
        for (i, a) in segments.iter().enumerate() {
            for (j, b) in segments.iter().enumerate() {
                assert!(
                    i == j || !b.contains(a),
                    "mammoth {args:?}: segment {a:?} repeats in {b:?}: {line}"
                );
            }
        }
    }
}

#[test]
fn lookups_exit_like_grep() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("m");
    ok(&["map", "build", p(&map)], b"a\t1\nb\t2\n");
    assert_eq!(mammoth(&["map", "get", p(&map), "a"], b"").status.code(), Some(0));
    assert_eq!(mammoth(&["map", "get", p(&map), "a", "zz"], b"").status.code(), Some(1));
    assert_eq!(
        mammoth(&["map", "get", p(&dir.path().join("nope")), "a"], b"").status.code(),
        Some(2)
    );
}

#[test]
fn passwords_are_refused_on_the_command_line() {
    for cmd in [
        &["tap", "mirror", "--from", "127.0.0.1:1", "--to", "127.0.0.1:1"][..],
        &["tap", "export", "--from", "127.0.0.1:1", "--out", "/nonexistent/x"][..],
        &["import", "/nonexistent", "--to", "127.0.0.1:1"][..],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--bucket", "b", "--password", "secret"]);
        let line = error_line(&args);
        assert!(line.contains("--password-file") && line.contains("MAMMOTH_PASSWORD"), "{line}");
        assert!(!line.contains("secret"), "the password is not echoed: {line}");
    }
    // Without a password source, --bucket says where one comes from.
    let out = Command::new(env!("CARGO_BIN_EXE_mammoth"))
        .args(["tap", "mirror", "--from", "127.0.0.1:1", "--to", "127.0.0.1:1", "--bucket", "b"])
        .env_remove("MAMMOTH_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-file"));
}
