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
    assert!(help.contains("seq") && help.contains("map") && help.contains("bench"));
    for cmd in ["serve", "tap", "userset"] {
        assert!(!help.contains(&format!("  {cmd} ")), "{cmd} is not built yet: {help}");
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
            "--input",
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
            "--input",
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
