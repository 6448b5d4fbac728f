//! Interop with real Hadoop (3.5, through `interop/hadoop/peer.sh`).
//!
//! * Hadoop → mammoth: the peer's reference corpus (`write-corpus`) is read
//!   with [`Reader`], whole and as input splits, and every file's canonical
//!   dump (count + SHA-256) and header are compared with the peer's manifest.
//! * mammoth → Hadoop: files written with [`Writer`] in every layout and every
//!   codec Hadoop can read here are re-read by Hadoop (`verify-corpus`), and
//!   Hadoop's `dump` of one of them must print our header lines.
//! * zstd (Hadoop here has no `ZStandardCodec`): the stored values and block
//!   buffers must be standard zstd frames, checked with the `zstd` crate.
//!
//! The peer is found through `MAMMOTH_HADOOP_PEER` (path to `peer.sh`;
//! `scripts/test` sets it). Without it the Hadoop tests are skipped with a
//! notice, or fail when `CI` is set.

use crate::common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use bytes::Bytes;
use seqfile::dump::{Dump, write_header};
use seqfile::writable::{BytesWritable, IntWritable, LongWritable, NullWritable, Text, Writable};
use seqfile::{Codec, Compression, Header, Reader, Record, Writer, WriterOptions};

// ------------------------------------------------------------------ the peer

/// `peer.sh`, or `None` (after a notice) when the Hadoop tests are skipped.
fn peer() -> Option<PathBuf> {
    common::find_peer("SequenceFile interop tests", "hadoop")
}

/// A `peer.sh` command, with Java's stdout forced to UTF-8 (metadata is non-ASCII).
fn peer_command(peer: &Path, args: &[&str]) -> Command {
    let mut opts = std::env::var("HADOOP_PEER_JAVA_OPTS").unwrap_or_default();
    opts.push_str(" -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 -Dstdout.encoding=UTF-8");
    let mut c = Command::new("bash");
    c.arg(peer).args(args).env("HADOOP_PEER_JAVA_OPTS", opts);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn spawn_peer(peer: &Path, args: &[&str]) -> (std::process::Child, Instant, String) {
    let child = peer_command(peer, args)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", peer.display()));
    (child, Instant::now(), args.join(" "))
}

fn wait_peer((child, start, what): (std::process::Child, Instant, String)) -> Output {
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("peer.sh {what}: {e}"));
    eprintln!("peer.sh {what}: {:?}, {:.1?}", out.status, start.elapsed());
    out
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 60),
        tail(&String::from_utf8_lossy(&out.stderr), 60)
    )
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

// ------------------------------------------------------------ dumping files

/// Count and SHA-256 of the canonical dump of `records` (raw key/value bytes).
fn dump_of<'a>(records: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> (u64, String) {
    let mut d = Dump::new(None::<Vec<u8>>);
    for (k, v) in records {
        d.record(k, v).expect("hashing cannot fail");
    }
    d.finish().expect("hashing cannot fail")
}

/// Header, record count and dump SHA-256 of a whole file read with [`Reader`].
fn read_dump(path: &Path) -> (Header, u64, String) {
    let mut r = Reader::open(path).unwrap_or_else(|e| panic!("mammoth cannot open {e}"));
    let header = r.header().clone();
    let mut d = Dump::new(None::<Vec<u8>>);
    while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("mammoth read error: {e}")) {
        d.record(&rec.key, &rec.value).expect("hashing cannot fail");
    }
    let (n, sha) = d.finish().expect("hashing cannot fail");
    (header, n, sha)
}

/// The records of `path` read as `splits` input splits; one vector per split.
fn read_splits(path: &Path, splits: usize) -> Vec<Vec<Record>> {
    seqfile::split::read_parallel(path, splits, Vec::new, |v: &mut Vec<Record>, rec| {
        v.push(Record {
            key: Bytes::copy_from_slice(rec.key),
            value: Bytes::copy_from_slice(rec.value),
        });
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{} as {splits} splits: {e}", path.display()))
}

// -------------------------------------------------- Hadoop -> mammoth

fn manifest_str<'a>(e: &'a serde_json::Value, field: &str) -> &'a str {
    e[field].as_str().unwrap_or_else(|| panic!("manifest entry without string {field:?}: {e}"))
}

/// Checks one `"kind": "seq"` manifest entry; true if it carries the peer's
/// standard metadata (the 52 main files).
fn check_hadoop_seq(root: &Path, e: &serde_json::Value) -> bool {
    let rel = manifest_str(e, "path");
    let path = root.join(rel);
    let (h, n, sha) = read_dump(&path);
    assert_eq!(n, e["records"].as_u64().expect("records"), "{rel}: record count");
    assert_eq!(sha, manifest_str(e, "sha256"), "{rel}: dump sha256 differs from Hadoop's");
    assert_eq!(h.key_class, manifest_str(e, "key_class"), "{rel}: key class");
    assert_eq!(h.value_class, manifest_str(e, "value_class"), "{rel}: value class");
    assert_eq!(h.compression.type_name(), manifest_str(e, "compression"), "{rel}: compression");
    let codec = h.compression.codec().map_or("-", Codec::class_name);
    assert_eq!(codec, manifest_str(e, "codec"), "{rel}: codec");
    assert_eq!(h.version, 6, "{rel}: version");
    if h.metadata.get(b"kv").is_none() {
        return false;
    }
    let meta =
        |k: &str| h.metadata.get(k.as_bytes()).map(|v| String::from_utf8_lossy(v).into_owned());
    assert_eq!(meta("creator").as_deref(), Some("HadoopPeer"), "{rel}: metadata creator");
    assert_eq!(meta("unicode-ü").as_deref(), Some("värde 😀"), "{rel}: non-ASCII metadata");
    assert_eq!(h.metadata.len(), 4, "{rel}: metadata entries");
    true
}

/// Reads a MapFile-like directory's `data` file as a SequenceFile.
fn check_hadoop_map_data(root: &Path, e: &serde_json::Value) {
    let rel = manifest_str(e, "path");
    let (h, n, sha) = read_dump(&root.join(rel).join("data"));
    // MapFile.Reader.next (how the manifest was made) reads `data` in order,
    // so the data file's dump is the manifest's.
    assert_eq!(n, e["records"].as_u64().expect("records"), "{rel}/data: record count");
    assert_eq!(sha, manifest_str(e, "sha256"), "{rel}/data: dump sha256");
    assert_eq!(h.key_class, manifest_str(e, "key_class"), "{rel}/data: key class");
}

#[test]
fn hadoop_written_files_read_in_mammoth() {
    let Some(peer) = peer() else { return };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("corpus");
    let out = wait_peer(spawn_peer(&peer, &["write-corpus", root.to_str().expect("utf-8 path")]));
    assert!(out.status.success(), "peer.sh write-corpus failed: {}", describe(&out));

    let text = std::fs::read_to_string(root.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let files = manifest["files"].as_array().expect("manifest files");
    let (mut seq, mut standard, mut maps) = (0, 0, 0);
    for e in files {
        match manifest_str(e, "kind") {
            "seq" => {
                seq += 1;
                standard += usize::from(check_hadoop_seq(&root, e));
            }
            "map" | "bloom" | "set" | "array" => {
                // MapFile and bloom semantics are for later; their data files must read.
                check_hadoop_map_data(&root, e);
                maps += 1;
            }
            other => panic!("unknown manifest kind {other:?}"),
        }
    }
    // 4 kv types x (NONE + 6 codecs x RECORD/BLOCK) + 6 special files.
    assert!(seq >= 58, "only {seq} SequenceFiles in the corpus");
    assert!(standard >= 52, "only {standard} files carry the peer's metadata");
    assert!(maps >= 12, "only {maps} MapFile/SetFile/ArrayFile/BloomMapFile entries");

    check_hadoop_splits(&root, files);
    eprintln!(
        "Hadoop -> mammoth: {seq} SequenceFiles and {maps} map data files match; {:.1?}",
        t0.elapsed()
    );
}

/// Split reading of the larger files: every split count gives the whole file.
fn check_hadoop_splits(root: &Path, files: &[serde_json::Value]) {
    let chosen = |p: &str| {
        p.starts_with("seq/none-")
            || p.starts_with("seq/empty-")
            || p == "seq/record-gzip-bytes_bytes.seq"
            || p == "seq/record-snappy-int_null.seq"
            || p == "seq/block-lz4-text_text.seq"
            || p == "seq/block-default-text_text-bigblocks.seq"
    };
    let mut checked = 0;
    for e in files.iter().filter(|e| chosen(manifest_str(e, "path"))) {
        let rel = manifest_str(e, "path");
        let want = (e["records"].as_u64().expect("records"), manifest_str(e, "sha256").to_owned());
        for n in [2, 3, 7] {
            let parts = read_splits(&root.join(rel), n);
            assert_eq!(parts.len(), n, "{rel}: {n} splits");
            let got = dump_of(parts.iter().flatten().map(|r| (&r.key[..], &r.value[..])));
            assert_eq!(got, want, "{rel}: {n} splits concatenated differ from Hadoop's dump");
            if want.0 > 0 {
                let nonempty = parts.iter().filter(|p| !p.is_empty()).count();
                assert!(nonempty >= 2, "{rel}: {n} splits but all records in {nonempty} split");
            }
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files read as splits");
}

// -------------------------------------------------- mammoth -> Hadoop

/// A small deterministic generator (`SplitMix64`).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Text of about `bytes` bytes: words, accents, CJK and non-BMP characters.
    fn text(&mut self, bytes: usize) -> String {
        const PIECES: [&str; 12] =
            ["a", "e", "st", "ing", " ", "é", "ü", "中文", "😀", "𐍈", "\t", "\u{0}"];
        let mut s = String::with_capacity(bytes + 8);
        while s.len() < bytes {
            if self.below(4) == 0 {
                s.push_str(PIECES[self.below(PIECES.len())]);
            } else {
                s.push(char::from(b'!' + self.below(94) as u8));
            }
        }
        s
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Size of the one large value in `text_text` and `bytes_bytes` (several
/// Snappy/LZ4 chunks, several 256 KiB Hadoop codec buffers).
const BIG: usize = 750_000;

fn text_text() -> Vec<(Text, Text)> {
    let mut r = Rng(1);
    let mut v = vec![
        (Text::from(""), Text::from("")),
        (Text::from("😀"), Text::from("non-BMP 😀 𐍈 and BMP é 中")),
        (Text::from("empty value"), Text::from("")),
        (Text::from(""), Text::from("empty key")),
    ];
    for i in 0..2000 {
        let len = if i % 10 == 0 { r.below(4000) } else { r.below(400) };
        let key_len = r.below(20);
        let key = format!("k{i:05}-{}", r.text(key_len));
        v.push((Text::from(key), Text::from(r.text(len))));
        if i == 50 {
            v.push((Text::from("big"), Text::from(r.text(BIG))));
        }
    }
    v
}

fn long_text() -> Vec<(LongWritable, Text)> {
    let mut r = Rng(2);
    let mut v: Vec<_> = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1]
        .into_iter()
        .map(|k| (LongWritable(k), Text::from(format!("{k}"))))
        .collect();
    v.push((LongWritable(42), Text::from("")));
    for _ in 0..1500 {
        let len = r.below(300);
        v.push((LongWritable(r.next() as i64), Text::from(r.text(len))));
    }
    v
}

fn bytes_bytes() -> Vec<(BytesWritable, BytesWritable)> {
    let mut r = Rng(3);
    let b = |v: Vec<u8>| BytesWritable(Bytes::from(v));
    let mut v = vec![
        (b(vec![]), b(vec![])),
        (b(vec![]), b(vec![0, 1, 2, 255])),
        (b(vec![0xff; 3]), b(vec![])),
        (b(vec![0]), b(vec![0; 1000])),
    ];
    for i in 0..1500 {
        let (kl, vl) = (r.below(30), r.below(600));
        v.push((b(r.bytes(kl)), b(r.bytes(vl))));
        if i == 60 {
            // Incompressible: the worst case for Snappy/LZ4 chunk sizes.
            v.push((b(b"big".to_vec()), b(r.bytes(BIG))));
        }
    }
    v
}

fn int_null() -> Vec<(IntWritable, NullWritable)> {
    let mut r = Rng(4);
    let mut v: Vec<_> = [i32::MIN, i32::MAX, 0, -1, 1, i32::MIN + 1, i32::MAX - 1]
        .into_iter()
        .map(|k| (IntWritable(k), NullWritable))
        .collect();
    v.extend((0..2000).map(|_| (IntWritable(r.next() as i32), NullWritable)));
    v
}

/// Serialized (key, value) records.
type Model = Vec<(Vec<u8>, Vec<u8>)>;

/// The serialized records, made with the Writable types (not by the reader).
fn serialize<K: Writable, V: Writable>(records: &[(K, V)]) -> Model {
    records
        .iter()
        .map(|(k, v)| {
            let (mut kb, mut vb) = (Vec::new(), Vec::new());
            k.write_to(&mut kb);
            v.write_to(&mut vb);
            (kb, vb)
        })
        .collect()
}

/// One file written by mammoth, with its expected dump.
struct Written {
    name: String,
    header: Header,
    records: u64,
    sha256: String,
    /// Length of the largest serialized value.
    max_value: usize,
}

/// Writes `records` (typed) to `dir/name`, calling `Writer::sync` every
/// `sync_every` records if given, and checks our own reader agrees.
fn write_file<K: Writable, V: Writable>(
    dir: &Path,
    name: &str,
    opts: WriterOptions,
    records: &[(K, V)],
    sync_every: Option<usize>,
) -> Written {
    let path = dir.join(name);
    let mut w = Writer::create(&path, opts).unwrap_or_else(|e| panic!("{name}: {e}"));
    for (i, (k, v)) in records.iter().enumerate() {
        w.append(k, v).unwrap_or_else(|e| panic!("{name}: append {i}: {e}"));
        if sync_every.is_some_and(|n| (i + 1) % n == 0) {
            w.sync().unwrap_or_else(|e| panic!("{name}: sync: {e}"));
        }
    }
    let header = w.header().clone();
    assert_eq!(w.records(), records.len() as u64, "{name}: writer's record count");
    w.finish().unwrap_or_else(|e| panic!("{name}: finish: {e}"));
    let model = serialize(records);
    let (n, sha) = dump_of(model.iter().map(|(k, v)| (&k[..], &v[..])));
    let (read_header, read_n, read_sha) = read_dump(&path);
    assert_eq!(read_header, header, "{name}: header read back");
    assert_eq!((read_n, &read_sha), (n, &sha), "{name}: mammoth's reader disagrees with the model");
    let max_value = model.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    Written { name: name.to_owned(), header, records: n, sha256: sha, max_value }
}

/// Records in the RECORD + `BZip2` files: the first ones, which hold the edge cases
/// and the large value.
const RECORD_BZIP2_RECORDS: usize = 120;

/// The codecs Hadoop 3.5 reads without native code.
const HADOOP_CODECS: [Codec; 6] =
    [Codec::Default, Codec::Deflate, Codec::Gzip, Codec::BZip2, Codec::Snappy, Codec::Lz4];

fn options<K: Writable, V: Writable>(kv: &str, c: Compression) -> WriterOptions {
    WriterOptions::new::<K, V>()
        .compression(c)
        .metadata("creator", "mammoth")
        .metadata("kv", kv.to_owned())
        .metadata("codec", c.codec().map_or("-", Codec::name))
        .metadata("unicode-ü", "värde 😀 中文")
        .metadata("empty", "")
}

fn file_name(c: Compression, kv: &str) -> String {
    match c.codec() {
        None => format!("none-{kv}.seq"),
        Some(codec) => format!("{}-{}-{kv}.seq", c.type_name().to_lowercase(), codec.name()),
    }
}

/// NONE, and RECORD and BLOCK with every codec Hadoop reads, for one kv type.
fn write_all_codecs<K: Writable, V: Writable>(
    dir: &Path,
    kv: &str,
    records: &[(K, V)],
    sync_interval: u64,
    block_size: usize,
) -> Vec<Written> {
    let mut layouts = vec![Compression::None];
    for c in HADOOP_CODECS {
        layouts.extend([Compression::Record(c), Compression::Block(c)]);
    }
    layouts
        .into_iter()
        .map(|c| {
            let opts = options::<K, V>(kv, c).sync_interval(sync_interval).block_size(block_size);
            // A fresh level-9 bzip2 stream per value costs milliseconds: fewer records.
            let n = if c == Compression::Record(Codec::BZip2) {
                RECORD_BZIP2_RECORDS
            } else {
                usize::MAX
            };
            write_file(dir, &file_name(c, kv), opts, &records[..records.len().min(n)], None)
        })
        .collect()
}

/// Count of sync entries (`-1` + marker) in a file.
fn sync_entries(path: &Path, marker: &[u8; 16]) -> usize {
    let bytes = std::fs::read(path).expect("read file");
    let mut entry = vec![0xff; 4];
    entry.extend_from_slice(marker);
    bytes.windows(entry.len()).filter(|w| *w == &entry[..]).count()
}

/// Writes the whole mammoth corpus into `dir`.
fn write_mammoth_corpus(dir: &Path) -> Vec<Written> {
    let tt = text_text();
    let lt = long_text();
    let bb = bytes_bytes();
    let inn = int_null();
    let files: Vec<Written> = std::thread::scope(|s| {
        let jobs = [
            s.spawn(|| write_all_codecs(dir, "text_text", &tt, 2000, 65536)),
            s.spawn(|| {
                write_all_codecs(dir, "long_text", &lt, seqfile::DEFAULT_SYNC_INTERVAL, 65536)
            }),
            s.spawn(|| write_all_codecs(dir, "bytes_bytes", &bb, 5000, 65536)),
            s.spawn(|| write_all_codecs(dir, "int_null", &inn, 2000, 1024)),
            s.spawn(|| write_special_files(dir, &tt, &lt, &bb, &inn)),
        ];
        jobs.into_iter()
            .flat_map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });

    // Every codec and layout gets a large Text value.
    for f in files.iter().filter(|f| f.name.ends_with("-text_text.seq") && f.records > 0) {
        assert!(f.max_value >= BIG, "{}: largest value only {} bytes", f.name, f.max_value);
    }
    // Several layouts: sync entries and blocks really are there.
    for (name, min_syncs) in [
        ("none-text_text.seq", 200),
        ("record-snappy-text_text.seq", 100),
        ("none-int_null.seq", 10),
        ("block-lz4-text_text.seq", 10),
        ("block-default-int_null.seq", 6),
        ("block-bzip2-bytes_bytes.seq", 8),
    ] {
        let f = files.iter().find(|f| f.name == name).expect("file written");
        let n = sync_entries(&dir.join(name), &f.header.sync);
        assert!(n >= min_syncs, "{name}: only {n} sync entries, expected >= {min_syncs}");
    }
    files
}

/// Empty files, big blocks, explicit `Writer::sync` calls, compression levels.
fn write_special_files(
    dir: &Path,
    tt: &[(Text, Text)],
    lt: &[(LongWritable, Text)],
    bb: &[(BytesWritable, BytesWritable)],
    inn: &[(IntWritable, NullWritable)],
) -> Vec<Written> {
    let plain = |c| WriterOptions::new::<Text, Text>().compression(c);
    let special = vec![
        write_file(dir, "empty-none-text_text.seq", plain(Compression::None), &tt[..0], None),
        write_file(
            dir,
            "empty-record-default-text_text.seq",
            plain(Compression::Record(Codec::Default)),
            &tt[..0],
            None,
        ),
        write_file(
            dir,
            "empty-block-default-text_text.seq",
            plain(Compression::Block(Codec::Default)),
            &tt[..0],
            None,
        ),
        write_file(
            dir,
            "empty-block-snappy-bytes_bytes-meta.seq",
            options::<BytesWritable, BytesWritable>(
                "bytes_bytes",
                Compression::Block(Codec::Snappy),
            ),
            &bb[..0],
            None,
        ),
        write_file(
            dir,
            "block-default-text_text-bigblocks.seq",
            plain(Compression::Block(Codec::Default)),
            tt,
            None,
        ),
        write_file(
            dir,
            "none-text_text-explicit-sync.seq",
            plain(Compression::None).sync_interval(1 << 40),
            tt,
            Some(10),
        ),
        write_file(
            dir,
            "block-gzip-long_text-explicit-sync.seq",
            WriterOptions::new::<LongWritable, Text>()
                .compression(Compression::Block(Codec::Gzip))
                .block_size(1 << 30),
            lt,
            Some(37),
        ),
        write_file(
            dir,
            "record-gzip-long_text-level1.seq",
            WriterOptions::new::<LongWritable, Text>()
                .compression(Compression::Record(Codec::Gzip))
                .level(1),
            lt,
            None,
        ),
        write_file(
            dir,
            "block-bzip2-bytes_bytes-level1.seq",
            WriterOptions::new::<BytesWritable, BytesWritable>()
                .compression(Compression::Block(Codec::BZip2))
                .block_size(65536)
                .level(1),
            bb,
            None,
        ),
        write_file(
            dir,
            "record-default-int_null-level9.seq",
            WriterOptions::new::<IntWritable, NullWritable>()
                .compression(Compression::Record(Codec::Default))
                .level(9),
            inn,
            None,
        ),
    ];
    let explicit = special.iter().find(|f| f.name == "none-text_text-explicit-sync.seq");
    let explicit = explicit.expect("written");
    let n = sync_entries(&dir.join(&explicit.name), &explicit.header.sync);
    assert!(n >= tt.len() / 10 - 1, "Writer::sync wrote only {n} sync entries");
    special
}

/// A manifest `verify-corpus` parses: one entry per line, `"name": value`.
fn manifest_json(files: &[Written]) -> String {
    let mut s =
        String::from("{\n  \"writer\": \"mammoth seqfile tests/hadoop.rs\",\n  \"files\": [\n");
    for (i, f) in files.iter().enumerate() {
        let _ = writeln!(
            s,
            "    {{\"path\": \"{}\", \"kind\": \"seq\", \"key_class\": \"{}\", \"value_class\": \"{}\", \
             \"compression\": \"{}\", \"codec\": \"{}\", \"records\": {}, \"sha256\": \"{}\"}}{}",
            f.name,
            f.header.key_class,
            f.header.value_class,
            f.header.compression.type_name(),
            f.header.compression.codec().map_or("-", Codec::class_name),
            f.records,
            f.sha256,
            if i + 1 < files.len() { "," } else { "" }
        );
    }
    s.push_str("  ]\n}\n");
    s
}

#[test]
fn mammoth_written_files_read_in_hadoop() {
    let Some(peer) = peer() else { return };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let files = write_mammoth_corpus(root);
    let manifest = manifest_json(&files);
    serde_json::from_str::<serde_json::Value>(&manifest).expect("our manifest is valid JSON");
    std::fs::write(root.join("manifest.json"), &manifest).expect("write manifest");
    let written = t0.elapsed();

    // Hadoop's own dump of one file with (non-ASCII) metadata, run alongside verify-corpus.
    let dumped = files.iter().find(|f| f.name == "record-gzip-text_text.seq").expect("written");
    let dumped_path = root.join(&dumped.name);
    let dump_job = spawn_peer(&peer, &["dump", "--summary", dumped_path.to_str().expect("utf-8")]);
    let verify = wait_peer(spawn_peer(&peer, &["verify-corpus", root.to_str().expect("utf-8")]));
    let dump = wait_peer(dump_job);

    let report = stdout_of(&verify);
    let bad: Vec<&str> = report.lines().filter(|l| !l.starts_with("OK  ")).collect();
    assert!(
        verify.status.success() && report.contains(&format!("{} checked, 0 bad", files.len())),
        "Hadoop does not read every mammoth-written file: {} files, not OK: {bad:#?}\n{}",
        files.len(),
        describe(&verify)
    );

    assert!(dump.status.success(), "peer.sh dump failed: {}", describe(&dump));
    let hadoop = stdout_of(&dump);
    let header_lines = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with('#') && !l.starts_with("#path\t"))
            .map(str::to_owned)
            .collect()
    };
    let mut ours = Vec::new();
    write_header(&mut ours, "-", "seq", &dumped.header).expect("write to Vec");
    let ours = String::from_utf8(ours).expect("utf-8 dump header");
    let mut want = header_lines(&ours);
    want.push(format!("#records\t{}", dumped.records));
    want.push(format!("#sha256\t{}", dumped.sha256));
    assert_eq!(
        header_lines(&hadoop),
        want,
        "Hadoop's dump header of {} differs from seqfile::dump::write_header",
        dumped.name
    );
    assert_eq!(dumped.header.metadata.len(), 5);
    assert_eq!(want.iter().filter(|l| l.starts_with("#meta\t")).count(), 5);

    let total: u64 = files.iter().map(|f| f.records).sum();
    eprintln!(
        "mammoth -> Hadoop: {} files, {total} records verified by Hadoop (writing {written:.1?}, \
         total {:.1?})",
        files.len(),
        t0.elapsed()
    );
}

// ------------------------------------------------------------------- zstd

/// Hadoop's VLong (`WritableUtils.readVLong`), decoded here independently.
fn read_vlong(b: &[u8], pos: &mut usize) -> i64 {
    let first = b[*pos] as i8;
    *pos += 1;
    if first >= -112 {
        return i64::from(first);
    }
    let negative = first < -120;
    let len = if negative { -119 - i32::from(first) } else { -111 - i32::from(first) };
    let mut v = 0i64;
    for _ in 1..len {
        v = (v << 8) | i64::from(b[*pos]);
        *pos += 1;
    }
    if negative { !v } else { v }
}

fn read_i32(b: &[u8], pos: &mut usize) -> i32 {
    let v = i32::from_be_bytes(b[*pos..*pos + 4].try_into().expect("4 bytes"));
    *pos += 4;
    v
}

/// Decodes one stored buffer that must be exactly one standard zstd frame.
fn zstd_frame(stored: &[u8], what: &str) -> Vec<u8> {
    assert_eq!(stored.get(..4), Some(&[0x28, 0xb5, 0x2f, 0xfd][..]), "{what}: no zstd magic");
    assert_eq!(
        zstd::zstd_safe::find_frame_compressed_size(stored),
        Ok(stored.len()),
        "{what}: not exactly one zstd frame"
    );
    zstd::stream::decode_all(stored).unwrap_or_else(|e| panic!("{what}: zstd says {e}"))
}

/// Walks a RECORD file by hand; returns (records, sync entries).
fn zstd_record_layout(file: &[u8], r: &Reader<std::fs::File>) -> (Model, usize) {
    let mut pos = usize::try_from(r.header_len()).expect("header length");
    let (mut out, mut syncs) = (Vec::new(), 0);
    while pos < file.len() {
        let rec_len = read_i32(file, &mut pos);
        if rec_len == -1 {
            assert_eq!(file[pos..pos + 16], r.header().sync, "sync entry at {}", pos - 4);
            pos += 16;
            syncs += 1;
            continue;
        }
        let key_len = read_i32(file, &mut pos);
        let (rec_len, key_len) = (rec_len as usize, key_len as usize);
        let key = file[pos..pos + key_len].to_vec();
        let value = zstd_frame(&file[pos + key_len..pos + rec_len], &format!("value at {pos}"));
        pos += rec_len;
        out.push((key, value));
    }
    (out, syncs)
}

/// Walks a BLOCK file by hand; returns (records, blocks).
fn zstd_block_layout(file: &[u8], r: &Reader<std::fs::File>) -> (Model, usize) {
    let mut pos = usize::try_from(r.header_len()).expect("header length");
    let (mut out, mut blocks) = (Vec::new(), 0);
    while pos < file.len() {
        assert_eq!(read_i32(file, &mut pos), -1, "block without sync escape at {}", pos - 4);
        assert_eq!(file[pos..pos + 16], r.header().sync, "block sync at {pos}");
        pos += 16;
        let n = usize::try_from(read_vlong(file, &mut pos)).expect("record count");
        let mut bufs = Vec::new();
        for what in ["key lengths", "keys", "value lengths", "values"] {
            let len = usize::try_from(read_vlong(file, &mut pos)).expect("buffer length");
            bufs.push(zstd_frame(&file[pos..pos + len], &format!("block {blocks} {what}")));
            pos += len;
        }
        let split = |lens: &[u8], data: &[u8]| -> Vec<Vec<u8>> {
            let (mut lp, mut dp) = (0, 0);
            let parts: Vec<Vec<u8>> = (0..n)
                .map(|_| {
                    let l = usize::try_from(read_vlong(lens, &mut lp)).expect("length");
                    dp += l;
                    data[dp - l..dp].to_vec()
                })
                .collect();
            assert_eq!((lp, dp), (lens.len(), data.len()), "block {blocks}: buffers not used up");
            parts
        };
        let keys = split(&bufs[0], &bufs[1]);
        let values = split(&bufs[2], &bufs[3]);
        out.extend(keys.into_iter().zip(values));
        blocks += 1;
    }
    (out, blocks)
}

fn check_zstd<K: Writable, V: Writable>(
    dir: &Path,
    name: &str,
    opts: WriterOptions,
    records: &[(K, V)],
) -> usize {
    let written = write_file(dir, name, opts, records, None);
    let path = dir.join(name);
    let model = serialize(records);
    // Typed read-back, compared with the model record by record.
    let mut r = Reader::open(&path).expect("open");
    for (i, (k, v)) in model.iter().enumerate() {
        let rec = r.next_record().expect("read").unwrap_or_else(|| panic!("{name}: ends at {i}"));
        assert!(rec.key == k[..] && rec.value == v[..], "{name}: record {i} differs");
    }
    assert!(r.next_record().expect("read").is_none(), "{name}: extra records");
    // The stored bytes, walked by hand.
    let file = std::fs::read(&path).expect("read");
    let (got, units) = match written.header.compression {
        Compression::Record(_) => zstd_record_layout(&file, &r),
        Compression::Block(_) => zstd_block_layout(&file, &r),
        Compression::None => unreachable!(),
    };
    assert_eq!(got.len(), model.len(), "{name}: records found walking the file");
    for (i, (g, m)) in got.iter().zip(&model).enumerate() {
        assert!(g == m, "{name}: record {i} decoded with the zstd crate differs from the model");
    }
    units
}

#[test]
fn zstd_files_hold_standard_zstd_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path();
    let (tt, bb, inn) = (text_text(), bytes_bytes(), int_null());
    let rec = Compression::Record(Codec::ZStandard);
    let blk = Compression::Block(Codec::ZStandard);
    let syncs = check_zstd(
        dir,
        "record-zstd-text_text.seq",
        options::<Text, Text>("text_text", rec).sync_interval(2000),
        &tt,
    );
    assert!(syncs >= 100, "record-zstd-text_text: {syncs} sync entries");
    let blocks = check_zstd(
        dir,
        "block-zstd-text_text.seq",
        options::<Text, Text>("text_text", blk).block_size(65536),
        &tt,
    );
    assert!(blocks >= 10, "block-zstd-text_text: {blocks} blocks");
    check_zstd(
        dir,
        "record-zstd-bytes_bytes.seq",
        options::<BytesWritable, BytesWritable>("bytes_bytes", rec),
        &bb,
    );
    let blocks = check_zstd(
        dir,
        "block-zstd-int_null.seq",
        options::<IntWritable, NullWritable>("int_null", blk).block_size(1024).level(19),
        &inn,
    );
    assert!(blocks >= 6, "block-zstd-int_null: {blocks} blocks");
    check_zstd(
        dir,
        "record-zstd-int_null.seq",
        options::<IntWritable, NullWritable>("int_null", rec),
        &inn,
    );
    check_zstd(dir, "block-zstd-empty.seq", options::<Text, Text>("text_text", blk), &tt[..0]);
}
