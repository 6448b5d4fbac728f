//! Hadoop's bloom filter layer ([`seqfile::hash`], [`seqfile::bloom`]).
//!
//! * Every hash, vector-size and bit-position vector Hadoop 3.5 computed
//!   (`tests/hadoop-vectors.json`).
//! * Properties: serialization round trips; the bits set are exactly those
//!   of a simple model built from [`positions`]; no false negatives; reading
//!   truncated, corrupted or random bytes returns an error and never panics,
//!   and hostile counts fail before anything is allocated for them.
//! * Real Hadoop (through `MAMMOTH_HADOOP_PEER`, as in `tests/hadoop.rs`):
//!   each Hadoop-written `bloom` file is rebuilt from the keys of its `data`
//!   file and must be byte-identical, and membership answers must equal
//!   Hadoop's `probablyHasKey`, also for filters written by mammoth. The
//!   files are the 4 BloomMapFiles of the peer's `write-corpus --small` (the
//!   full corpus has the same 4 with more keys; it passes too) and 4 that
//!   Hadoop writes from our records with `write-bloom`: 2 to 30 rows, both
//!   hashes, Text, BytesWritable and LongWritable keys.

use crate::common;

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use proptest::prelude::*;
use seqfile::bloom::{BloomFilter, BloomParams, DynamicBloomFilter, HASH_COUNT, vector_size};
use seqfile::hash::{HashType, jenkins, murmur, positions};
use seqfile::{ErrorKind, Reader};

// ------------------------------------------------------------ Hadoop's vectors

fn vectors() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hadoop-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("hadoop-vectors.json"))
        .expect("vectors are JSON")
}

fn as_i32(v: &serde_json::Value) -> i32 {
    i32::try_from(v.as_i64().expect("an integer")).expect("an i32")
}

#[test]
fn hash_vectors_from_hadoop() {
    let v = vectors();
    let seeds: Vec<i32> =
        v["hash_seeds"].as_array().expect("hash_seeds").iter().map(as_i32).collect();
    assert_eq!(seeds, [0, -1, 1, 0x1234_5678]);
    let mut checked = 0;
    for (name, f) in [("murmur", murmur as fn(&[u8], i32) -> i32), ("jenkins", jenkins)] {
        let rows = v[name].as_array().expect("hash vectors");
        assert!(rows.len() >= 17, "{name}: only {} inputs", rows.len());
        for row in rows {
            let row = row.as_array().expect("a vector row");
            let bytes = hex::decode(row[0].as_str().expect("hex input")).expect("hex");
            assert_eq!(row.len(), seeds.len() + 1);
            for (seed, want) in seeds.iter().zip(&row[1..]) {
                assert_eq!(
                    f(&bytes, *seed),
                    as_i32(want),
                    "{name}({}, {seed})",
                    hex::encode(&bytes)
                );
                let t = HashType::from_config_name(name).expect("hash name");
                assert_eq!(t.hash(&bytes, *seed), as_i32(want));
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 17 * 4);
}

#[test]
fn vector_size_vectors_from_hadoop() {
    let v = vectors();
    let table = v["bloom_vector_size"].as_object().expect("bloom_vector_size");
    assert!(table.len() >= 5);
    for (k, want) in table {
        // "nr@rate", optionally with a "_note" suffix.
        let (nr, rate) = k.split_once('@').expect("nr@rate");
        let rate = rate.split('_').next().expect("rate");
        let nr: i32 = nr.parse().expect("nr");
        let rate: f32 = rate.parse().expect("rate");
        let want = u32::try_from(want.as_u64().expect("size")).expect("u32");
        assert_eq!(vector_size(nr, rate, HASH_COUNT).expect(k), want, "{k}");
        let f =
            DynamicBloomFilter::new(BloomParams { nr, error_rate: rate, hash: HashType::Jenkins })
                .expect(k);
        assert_eq!(f.vector_size(), want);
    }
    // docs/hadoop-io.md §5.1.
    for (nr, rate, want) in
        [(1_048_576, 0.005, 12_321_010), (100, 0.005, 1176), (500, 0.005, 5876), (1000, 0.01, 9849)]
    {
        assert_eq!(vector_size(nr, rate, 5).unwrap(), want);
    }
}

#[test]
fn position_vectors_from_hadoop() {
    let v = vectors();
    let mut checked = 0;
    for (name, t) in [
        ("bloom_positions_murmur", HashType::Murmur),
        ("bloom_positions_jenkins", HashType::Jenkins),
    ] {
        for row in v[name].as_array().expect("positions") {
            let key = hex::decode(row[0].as_str().expect("key")).expect("hex");
            let size = u32::try_from(row[1].as_u64().expect("vector size")).expect("u32");
            let want: Vec<u32> = row[2]
                .as_array()
                .expect("positions")
                .iter()
                .map(|p| u32::try_from(p.as_u64().expect("position")).expect("u32"))
                .collect();
            let mut got = vec![0; want.len()];
            positions(t, &key, want.len(), size, &mut got).unwrap();
            assert_eq!(got, want, "{name} {}", hex::encode(&key));

            // A filter with these parameters sets exactly these bits.
            let mut row = BloomFilter::new(size, 5, t).unwrap();
            row.add(&key).unwrap();
            let set: Vec<u32> = (0..size).filter(|&i| row.bit(i)).collect();
            let mut want_set = want.clone();
            want_set.sort_unstable();
            want_set.dedup();
            assert_eq!(set, want_set);
            assert!(row.membership_test(&key));
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
}

// ------------------------------------------------------- hostile input

fn be(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

/// A versioned filter header.
fn header(nb_hash: i32, hash: u8, vector_size: i32) -> Vec<u8> {
    let mut v = be(&[-1, nb_hash]);
    v.push(hash);
    v.extend_from_slice(&vector_size.to_be_bytes());
    v
}

/// The error of reading `bytes`, which must fail with an offset that its
/// message names.
fn fails(bytes: &[u8]) -> seqfile::Error {
    let e = DynamicBloomFilter::read_from(bytes).expect_err("must not parse");
    let offset = e.offset().expect("every read error has an offset");
    assert!(e.to_string().contains(&format!("offset {offset}")), "{e}");
    e
}

#[test]
fn hostile_counts_fail_before_allocating() {
    let outer = header(5, 1, 100);
    // rows = 2^31 - 1 in a 25-byte file.
    let mut f = outer.clone();
    f.extend(be(&[100, 0, i32::MAX]));
    let e = fails(&f);
    assert!(
        matches!(e.kind(), ErrorKind::LengthExceedsInput { len: 0x7fff_ffff, remaining: 0, .. }),
        "{e}"
    );
    assert_eq!(e.offset(), Some(21));
    // rows = 2^31 (negative as an i32), and 0.
    for rows in [i32::MIN, -1, 0] {
        let mut f = outer.clone();
        f.extend(be(&[100, 0, rows]));
        f.extend(header(5, 1, 8));
        f.push(0);
        let e = fails(&f);
        assert!(
            matches!(e.kind(), ErrorKind::BadLength { len, .. } if *len == i64::from(rows)),
            "{e}"
        );
        assert_eq!(e.offset(), Some(21));
    }
    // More rows than 9-byte rows could fit.
    let mut f = outer.clone();
    f.extend(be(&[100, 0, 3]));
    f.extend([0; 26]);
    let e = fails(&f);
    assert!(matches!(e.kind(), ErrorKind::LengthExceedsInput { len: 3, remaining: 26, .. }), "{e}");

    // A row of 2^31 - 1 bits with 7 bytes left.
    let mut f = header(5, 1, i32::MAX);
    f.extend([0; 7]);
    assert_eq!(f.len(), 20);
    let e = BloomFilter::read_prefix(&f).expect_err("a 20-byte row of 2^31 - 1 bits");
    assert!(
        matches!(e.kind(), ErrorKind::LengthExceedsInput { len: 268_435_456, remaining: 7, .. }),
        "{e}"
    );
    assert_eq!(e.offset(), Some(13));
    // The same inside a filter (the outer header's size allocates nothing).
    let mut f = header(5, 1, i32::MAX);
    f.extend(be(&[100, 0, 1]));
    f.extend(header(5, 1, i32::MAX));
    f.extend([0; 7]);
    let e = fails(&f);
    assert!(matches!(e.kind(), ErrorKind::LengthExceedsInput { len: 268_435_456, .. }), "{e}");
    assert_eq!(e.offset(), Some(38));
}

#[test]
fn bad_headers_are_typed_errors_with_offsets() {
    let good_tail = |f: &mut Vec<u8>| {
        f.extend(be(&[100, 0, 1]));
        f.extend(header(5, 1, 8));
        f.push(0);
    };
    let mut ok = header(5, 1, 8);
    good_tail(&mut ok);
    assert!(DynamicBloomFilter::read_from(&ok).is_ok());

    for version in [0, -2, i32::MIN] {
        let mut f = be(&[version, 5]);
        f.push(1);
        f.extend(be(&[8]));
        good_tail(&mut f);
        let e = fails(&f);
        assert!(matches!(e.kind(), ErrorKind::InvalidInput(m) if m.contains("version")), "{e}");
        assert_eq!(e.offset(), Some(0));
    }
    for hash in [2u8, 0x7f, 0xff] {
        let mut f = header(5, hash, 8);
        good_tail(&mut f);
        let e = fails(&f);
        assert!(matches!(e.kind(), ErrorKind::InvalidInput(m) if m.contains("hash type")), "{e}");
        assert_eq!(e.offset(), Some(8));
    }
    for nb in [0, -5] {
        let mut f = header(nb, 1, 8);
        good_tail(&mut f);
        let e = fails(&f);
        assert!(matches!(e.kind(), ErrorKind::BadLength { .. }) && e.offset() == Some(4), "{e}");
    }
    for size in [0, -8, i32::MIN] {
        let mut f = header(5, 1, size);
        good_tail(&mut f);
        let e = fails(&f);
        assert!(matches!(e.kind(), ErrorKind::BadLength { .. }) && e.offset() == Some(9), "{e}");
        // In a row too.
        let mut f = header(5, 1, 8);
        f.extend(be(&[100, 0, 1]));
        f.extend(header(5, 1, size));
        f.push(0);
        let e = fails(&f);
        assert!(matches!(e.kind(), ErrorKind::BadLength { .. }) && e.offset() == Some(34), "{e}");
    }
    // Every truncation is `Truncated` (or a length that no longer fits).
    for n in 0..ok.len() {
        let e = fails(&ok[..n]);
        assert!(
            matches!(e.kind(), ErrorKind::Truncated { .. } | ErrorKind::LengthExceedsInput { .. }),
            "{n}: {e}"
        );
        assert!(e.offset().is_some_and(|at| at <= n as u64), "{n}: {e}");
    }
    let e = fails(&[]);
    assert!(matches!(e.kind(), ErrorKind::Truncated { needed: 4, available: 0, .. }), "{e}");
    assert_eq!(e.offset(), Some(0));
}

#[test]
fn old_unversioned_rows_read_as_jenkins() {
    // Outer header and row in the pre-versioned form: nbHash, vectorSize.
    let mut built = DynamicBloomFilter::with_vector_size(203, 3, HashType::Jenkins, 4).unwrap();
    for k in [&b"one"[..], b"two", b"three", b"four", b"five", b"six"] {
        built.add(k).unwrap();
    }
    let f = unversioned(&built, false);
    let read = DynamicBloomFilter::read_from(&f).unwrap();
    assert_eq!(read, built);
    for k in [&b"one"[..], b"two", b"three", b"four", b"five", b"six"] {
        assert!(read.membership_test(k));
    }
    // Written back, it is the versioned form.
    let mut out = Vec::new();
    read.write_to(&mut out);
    assert_eq!(out.len(), f.len() + 3 * 5); // version and type byte in 3 headers
    assert_eq!(&out[..4], [0xff; 4]);
    // Unused high bits of a row's last byte are ignored.
    let noisy = unversioned(&built, true);
    assert_ne!(noisy, f);
    assert_eq!(DynamicBloomFilter::read_from(&noisy).unwrap(), built);
}

/// `filter` in the old unversioned layout (only for Jenkins filters), with
/// the unused bits of each row's last byte set if `noise`.
fn unversioned(filter: &DynamicBloomFilter, noise: bool) -> Vec<u8> {
    let int = |v: u32| i32::try_from(v).expect("fits");
    assert_eq!(filter.hash_type(), HashType::Jenkins);
    let mut out = be(&[int(filter.nb_hash()), int(filter.vector_size())]);
    out.extend(be(&[filter.nr(), filter.current_nb_record()]));
    out.extend(be(&[i32::try_from(filter.rows().len()).expect("rows")]));
    for row in filter.rows() {
        out.extend(be(&[int(row.nb_hash()), int(row.vector_size())]));
        let mut bits = row.bits().to_vec();
        if noise && row.vector_size() % 8 != 0 {
            *bits.last_mut().expect("a byte") |= 0xff << (row.vector_size() % 8);
        }
        out.extend(bits);
    }
    out
}

#[test]
fn empty_keys_are_refused() {
    let mut f = DynamicBloomFilter::with_vector_size(64, 5, HashType::Murmur, 2).unwrap();
    let e = f.add(b"").expect_err("empty key");
    assert!(e.to_string().contains("key length must be > 0"), "{e}");
    assert_eq!((f.rows().len(), f.current_nb_record()), (1, 0));
    assert!(!f.membership_test(b""));
    let mut row = BloomFilter::new(64, 5, HashType::Jenkins).unwrap();
    assert!(row.add(b"").is_err());
    assert!(!row.membership_test(b""));
    let mut p = [0; 5];
    assert!(positions(HashType::Murmur, b"", 5, 64, &mut p).is_err());
}

// ------------------------------------------------------------------ properties

/// A model of the filter: per row, the set bit positions.
struct Model {
    nr: i32,
    count: i32,
    rows: Vec<Vec<bool>>,
}

impl Model {
    fn add(&mut self, key: &[u8], t: HashType, nb_hash: usize, size: u32) {
        if self.count >= self.nr {
            self.rows.push(vec![false; size as usize]);
            self.count = 0;
        }
        let mut pos = vec![0; nb_hash];
        positions(t, key, nb_hash, size, &mut pos).unwrap();
        let row = self.rows.last_mut().unwrap();
        for p in pos {
            row[p as usize] = true;
        }
        self.count += 1;
    }

    fn bytes(row: &[bool]) -> Vec<u8> {
        let mut v = vec![0u8; row.len().div_ceil(8)];
        for (i, &b) in row.iter().enumerate() {
            if b {
                v[i / 8] |= 1 << (i % 8);
            }
        }
        v
    }
}

fn hash_type() -> impl Strategy<Value = HashType> {
    prop_oneof![Just(HashType::Jenkins), Just(HashType::Murmur)]
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..24), 0..120)
}

fn build(size: u32, nb_hash: u32, t: HashType, nr: i32, keys: &[Vec<u8>]) -> DynamicBloomFilter {
    let mut f = DynamicBloomFilter::with_vector_size(size, nb_hash, t, nr).unwrap();
    for k in keys {
        f.add(k).unwrap();
    }
    f
}

/// Cut points for truncation: all of them for small inputs, a spread otherwise.
fn cuts(len: usize) -> Vec<usize> {
    if len <= 1500 {
        (0..len).collect()
    } else {
        let mut v: Vec<usize> = (0..len).step_by(len / 500).collect();
        v.extend(0..40);
        v.extend(len - 40..len);
        v
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn round_trip_and_model(
        size in 1u32..2500,
        nb_hash in 1u32..9,
        t in hash_type(),
        nr in -1i32..40,
        keys in keys(),
        tail in prop::collection::vec(any::<u8>(), 0..20),
    ) {
        let f = build(size, nb_hash, t, nr, &keys);
        // The bits are exactly the model's.
        let mut m = Model { nr, count: 0, rows: vec![vec![false; size as usize]] };
        for k in &keys {
            m.add(k, t, nb_hash as usize, size);
        }
        prop_assert_eq!(f.rows().len(), m.rows.len());
        prop_assert_eq!(f.current_nb_record(), m.count);
        for (row, want) in f.rows().iter().zip(&m.rows) {
            prop_assert_eq!(row.bits(), &Model::bytes(want)[..]);
            prop_assert_eq!((row.nb_hash(), row.hash_type(), row.vector_size()), (nb_hash, t, size));
        }
        // No false negatives.
        for k in &keys {
            prop_assert!(f.membership_test(k));
        }
        // Round trip, with trailing bytes ignored.
        let mut out = Vec::new();
        f.write_to(&mut out);
        prop_assert_eq!(out.len(), f.serialized_len());
        prop_assert_eq!(out.len(), 25 + m.rows.len() * (13 + size.div_ceil(8) as usize));
        let back = DynamicBloomFilter::read_from(&out).unwrap();
        prop_assert_eq!(&back, &f);
        let mut again = Vec::new();
        back.write_to(&mut again);
        prop_assert_eq!(&again, &out);
        let mut longer = out.clone();
        longer.extend_from_slice(&tail);
        let (back, used) = DynamicBloomFilter::read_prefix(&longer).unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(&back, &f);
        // Each row on its own.
        let (row, used) = BloomFilter::read_prefix(&out[25..]).unwrap();
        prop_assert_eq!(used, 13 + size.div_ceil(8) as usize);
        prop_assert_eq!(&row, &f.rows()[0]);
    }

    #[test]
    fn truncated_input_is_an_error(
        size in 1u32..300,
        t in hash_type(),
        nr in 1i32..10,
        keys in keys(),
    ) {
        let f = build(size, 5, t, nr, &keys);
        let mut out = Vec::new();
        f.write_to(&mut out);
        for n in cuts(out.len()) {
            prop_assert!(DynamicBloomFilter::read_from(&out[..n]).is_err(), "{} of {}", n, out.len());
        }
    }

    #[test]
    fn corrupted_input_never_panics(
        size in 1u32..300,
        t in hash_type(),
        nr in 1i32..10,
        keys in keys(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        probes in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..10), 0..10),
    ) {
        let f = build(size, 5, t, nr, &keys);
        let mut out = Vec::new();
        f.write_to(&mut out);
        for (i, b) in edits {
            let i = i.index(out.len());
            out[i] = b;
        }
        if let Ok(g) = DynamicBloomFilter::read_from(&out) {
            // Whatever parsed is a usable filter.
            if g.rows().iter().all(|r| r.nb_hash() <= 64) && g.nb_hash() <= 64 {
                for p in probes.iter().chain(&keys) {
                    let _ = g.membership_test(p);
                }
            }
            let mut again = Vec::new();
            g.write_to(&mut again);
            prop_assert_eq!(DynamicBloomFilter::read_from(&again).unwrap(), g);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = DynamicBloomFilter::read_from(&bytes);
        let _ = BloomFilter::read_prefix(&bytes);
        // With a plausible start, so the fuzzing reaches the rows.
        let mut f = header(5, 1, 64);
        f.extend(be(&[10, 3, 2]));
        f.extend(&bytes);
        let _ = DynamicBloomFilter::read_from(&f);
    }
}

// ------------------------------------------------------------------ the peer

/// `peer.sh`, or `None` (after a notice) when the Hadoop tests are skipped;
/// the same policy as `tests/hadoop.rs`.
fn peer() -> Option<PathBuf> {
    common::find_peer("bloom filter tests", "bloom")
}

/// A running `peer.sh` command.
struct Job {
    child: Child,
    start: Instant,
    what: String,
}

/// Starts `peer.sh ARGS` (`-D` options first), stdin from `stdin` if given.
fn spawn_peer(peer: &Path, args: &[String], stdin: Option<&Path>) -> Job {
    let mut opts = std::env::var("HADOOP_PEER_JAVA_OPTS").unwrap_or_default();
    opts.push_str(" -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 -Dstdout.encoding=UTF-8");
    let mut c = Command::new("bash");
    c.arg(peer).args(args).env("HADOOP_PEER_JAVA_OPTS", opts);
    match stdin {
        Some(p) => c.stdin(File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))),
        None => c.stdin(Stdio::null()),
    };
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let what = args.iter().take(6).cloned().collect::<Vec<_>>().join(" ");
    let child = c.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", peer.display()));
    Job { child, start: Instant::now(), what }
}

/// Waits for a job; panics with its output unless it succeeded.
fn wait_peer(job: Job) -> Output {
    let out = job.child.wait_with_output().unwrap_or_else(|e| panic!("peer.sh {}: {e}", job.what));
    eprintln!("peer.sh {}: {:?}, {:.1?}", job.what, out.status, job.start.elapsed());
    assert!(
        out.status.success(),
        "peer.sh {} failed: status {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        job.what,
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout)),
        tail(&String::from_utf8_lossy(&out.stderr)),
    );
    out
}

fn tail(s: &str) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(40)..].join("\n")
}

fn manifest_str<'a>(e: &'a serde_json::Value, field: &str) -> &'a str {
    e[field].as_str().unwrap_or_else(|| panic!("manifest entry without string {field:?}: {e}"))
}

/// The keys (raw serialized bytes) of a map directory's `data` file.
fn data_keys(dir: &Path) -> Vec<Vec<u8>> {
    let path = dir.join("data");
    let mut r = Reader::open(&path).unwrap_or_else(|e| panic!("mammoth cannot open {e}"));
    let mut keys = Vec::new();
    while let Some(rec) = r.next_record().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        keys.push(rec.key.to_vec());
    }
    keys
}

/// Rebuilds `dir/bloom` from the keys of `dir/data` with `params` and checks
/// that it is byte-identical to Hadoop's and that both answer true for every
/// key; returns the filter and the keys.
fn rebuild(dir: &Path, params: BloomParams) -> (DynamicBloomFilter, Vec<Vec<u8>>) {
    let name = dir.display();
    let hadoop = std::fs::read(dir.join("bloom")).unwrap_or_else(|e| panic!("{name}/bloom: {e}"));
    let (theirs, used) = DynamicBloomFilter::read_prefix(&hadoop)
        .unwrap_or_else(|e| panic!("{name}/bloom does not parse: {e}"));
    assert_eq!(used, hadoop.len(), "{name}/bloom: bytes after the filter");

    let keys = data_keys(dir);
    let mut ours = DynamicBloomFilter::new(params).expect("params");
    for k in &keys {
        ours.add(k).unwrap_or_else(|e| panic!("{name}: adding {}: {e}", hex::encode(k)));
    }
    let mut bytes = Vec::new();
    ours.write_to(&mut bytes);
    if bytes != hadoop {
        let at = bytes.iter().zip(&hadoop).position(|(a, b)| a != b);
        panic!(
            "{name}/bloom: mammoth's filter differs from Hadoop's: {} vs {} bytes, first \
             difference at {at:?}; ours {ours:?}, Hadoop's {theirs:?}",
            bytes.len(),
            hadoop.len()
        );
    }
    assert_eq!(theirs, ours, "{name}");
    for k in &keys {
        assert!(ours.membership_test(k), "{name}: false negative for {}", hex::encode(k));
        assert!(theirs.membership_test(k), "{name}: false negative for {}", hex::encode(k));
    }
    (ours, keys)
}

/// Checks one `"kind": "bloom"` corpus entry; returns (rows, probes, false positives).
fn check_corpus_entry(root: &Path, e: &serde_json::Value) -> (usize, usize, usize) {
    let rel = manifest_str(e, "path");
    let params = BloomParams {
        nr: manifest_str(e, "io.mapfile.bloom.size").parse().expect("bloom size"),
        error_rate: manifest_str(e, "io.mapfile.bloom.error.rate").parse().expect("error rate"),
        hash: HashType::from_config_name(manifest_str(e, "hadoop.util.hash.type")).expect("hash"),
    };
    let (f, keys) = rebuild(&root.join(rel), params);
    assert_eq!(keys.len() as u64, e["records"].as_u64().expect("records"), "{rel}");

    // The peer's summary of Hadoop's file.
    let summary = manifest_str(e, "bloom");
    let field = |name: &str| -> i64 {
        summary
            .split(' ')
            .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_else(|| panic!("{rel}: no {name} in {summary:?}"))
            .parse()
            .expect("a number")
    };
    assert_eq!(field("version"), -1);
    assert_eq!(field("nbHash"), i64::from(f.nb_hash()));
    assert_eq!(field("hashType"), i64::from(f.hash_type().as_byte()));
    assert_eq!(field("vectorSize"), i64::from(f.vector_size()));
    assert_eq!(field("nr"), i64::from(f.nr()));
    assert_eq!(field("currentNbRecord"), i64::from(f.current_nb_record()));
    assert_eq!(field("rows"), f.rows().len() as i64);
    assert_eq!(field("fileBytes"), f.serialized_len() as i64);

    let probes = manifest_str(e, "probes_hexkey_answer");
    let (mut n, mut positives) = (0, 0);
    for p in probes.split(',') {
        let (hex_key, answer) = p.split_once(':').expect("hexkey:answer");
        let key = hex::decode(hex_key).expect("hex key");
        let hadoop = match answer {
            "1" => true,
            "0" => false,
            other => panic!("{rel}: probe answer {other:?}"),
        };
        assert_eq!(f.membership_test(&key), hadoop, "{rel}: probe {hex_key}");
        n += 1;
        positives += usize::from(hadoop && !keys.contains(&key));
    }
    assert_eq!(n, 40, "{rel}: probes");
    (f.rows().len(), n, positives)
}

/// Serialized `Text`.
fn text(s: &str) -> Vec<u8> {
    let mut v = Vec::new();
    seqfile::vint::write_vint(&mut v, i32::try_from(s.len()).expect("short"));
    v.extend_from_slice(s.as_bytes());
    v
}

/// Serialized `BytesWritable`.
fn bytes_writable(b: &[u8]) -> Vec<u8> {
    let mut v = u32::try_from(b.len()).expect("short").to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

/// `SplitMix64`, for deterministic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A BloomMapFile that Hadoop writes from our records (`write-bloom`).
struct Case {
    name: &'static str,
    /// `-D` options.
    options: Vec<String>,
    key_class: &'static str,
    value_class: &'static str,
    compression: &'static str,
    codec: &'static str,
    params: BloomParams,
    /// Serialized keys in key order, and one value for all.
    keys: Vec<Vec<u8>>,
    value: Vec<u8>,
    /// Serialized keys that are not in the file.
    absent: Vec<Vec<u8>>,
    /// Expected (rows, currentNbRecord).
    shape: (usize, i32),
}

fn cases() -> Vec<Case> {
    let mut r = Rng(7);
    let suffix = ["", "a", "é", "xyz", "\u{1F600}", "bb", "\u{00ff}q", "tail!"];

    // Text keys of every length mod 4, 11 rows of 100, the last with 50.
    let t_keys: Vec<Vec<u8>> =
        (0..1050).map(|i| text(&format!("k{i:05}{}", suffix[i % suffix.len()]))).collect();
    let t_absent = (0..150).map(|i| text(&format!("absent-{i}"))).collect();

    // BytesWritable keys with random payloads (every Jenkins tail length, high
    // bytes), one duplicate; Jenkins, 64 per row, error rate 0.02.
    let mut payloads: Vec<Vec<u8>> =
        (0..599).map(|_| (0..r.below(14)).map(|_| r.next() as u8).collect()).collect();
    payloads.push(payloads[17].clone());
    payloads.sort();
    let b_keys: Vec<Vec<u8>> = payloads.iter().map(|p| bytes_writable(p)).collect();
    let b_absent = (0..150)
        .map(|_| bytes_writable(&(0..=r.below(13)).map(|_| r.next() as u8).collect::<Vec<_>>()))
        .filter(|k| !b_keys.contains(k))
        .collect();

    // LongWritable keys, exactly 2 full rows of 100 (no third row).
    let mut longs: Vec<i64> = (0..200).map(|_| r.next() as i64).collect();
    longs.sort_unstable();
    let l_keys: Vec<Vec<u8>> = longs.iter().map(|v| v.to_be_bytes().to_vec()).collect();
    let l_absent = (0..150).map(|_| (r.next() as i64).to_be_bytes().to_vec()).collect();

    // One key per row (nr = 1, 10-bit rows), Jenkins named in capitals; BLOCK data.
    let o_keys: Vec<Vec<u8>> = (0..30).map(|i| text(&format!("one-{i:03}"))).collect();
    let o_absent = (0..100).map(|i| text(&format!("none-{i:03}"))).collect();

    let d = |s: &str| format!("-D{s}");
    vec![
        Case {
            name: "text-size100",
            options: vec![d("io.mapfile.bloom.size=100")],
            key_class: "Text",
            value_class: "Text",
            compression: "NONE",
            codec: "none",
            params: BloomParams { nr: 100, ..BloomParams::default() },
            keys: t_keys,
            value: text("v"),
            absent: t_absent,
            shape: (11, 50),
        },
        Case {
            name: "bytes-jenkins-size64-err0.02",
            options: vec![
                d("io.mapfile.bloom.size=64"),
                d("io.mapfile.bloom.error.rate=0.02"),
                d("hadoop.util.hash.type=jenkins"),
            ],
            key_class: "BytesWritable",
            value_class: "BytesWritable",
            compression: "RECORD",
            codec: "default",
            params: BloomParams { nr: 64, error_rate: 0.02, hash: HashType::Jenkins },
            keys: b_keys,
            value: bytes_writable(b""),
            absent: b_absent,
            shape: (10, 24),
        },
        Case {
            name: "long-size100",
            options: vec![d("io.mapfile.bloom.size=100"), d("io.mapfile.bloom.error.rate=0.001")],
            key_class: "LongWritable",
            value_class: "Text",
            compression: "NONE",
            codec: "none",
            params: BloomParams { nr: 100, error_rate: 0.001, hash: HashType::Murmur },
            keys: l_keys,
            value: text(""),
            absent: l_absent,
            shape: (2, 100),
        },
        Case {
            name: "text-jenkins-size1",
            options: vec![
                d("io.mapfile.bloom.size=1"),
                d("io.mapfile.bloom.error.rate=0.01"),
                d("hadoop.util.hash.type=JENKINS"),
            ],
            key_class: "Text",
            value_class: "Text",
            compression: "BLOCK",
            codec: "default",
            params: BloomParams { nr: 1, error_rate: 0.01, hash: HashType::Jenkins },
            keys: o_keys,
            value: text("value"),
            absent: o_absent,
            shape: (30, 1),
        },
    ]
}

/// `peer.sh bloom-probe DIR hex:KEY...`, started.
fn spawn_probe(peer: &Path, dir: &Path, keys: &[Vec<u8>]) -> Job {
    let mut args = vec!["bloom-probe".to_owned(), dir.to_str().expect("utf-8 path").to_owned()];
    args.extend(keys.iter().map(|k| format!("hex:{}", hex::encode(k))));
    spawn_peer(peer, &args, None)
}

/// Hadoop's answers from a finished `bloom-probe`, checked against `filter`;
/// returns (probes, false positives: answers "true" for keys not in `present`).
fn check_probes(
    job: Job,
    keys: &[Vec<u8>],
    present: &[Vec<u8>],
    filter: &DynamicBloomFilter,
    what: &str,
) -> (usize, usize) {
    let out = wait_peer(job);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("no readable bloom file"),
        "{what}: Hadoop cannot read the filter: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<&str> = stdout.lines().filter(|l| l.starts_with("hex:")).collect();
    assert_eq!(answers.len(), keys.len(), "{what}: answers\n{stdout}");
    let mut false_positives = 0;
    for (line, key) in answers.iter().zip(keys) {
        let (k, a) = line.split_once('\t').expect("KEY\tANSWER");
        assert_eq!(k, format!("hex:{}", hex::encode(key)), "{what}");
        let hadoop = match a {
            "true" => true,
            "false" => false,
            other => panic!("{what}: answer {other:?}"),
        };
        assert_eq!(filter.membership_test(key), hadoop, "{what}: {k}");
        if present.contains(key) {
            assert!(hadoop, "{what}: Hadoop's false negative for {k}");
        } else {
            false_positives += usize::from(hadoop);
        }
    }
    (keys.len(), false_positives)
}

/// `peer.sh write-bloom` of `case` into `dir/<name>`, started.
fn spawn_write_bloom(peer: &Path, dir: &Path, c: &Case) -> Job {
    let mut dump = String::new();
    for k in &c.keys {
        writeln!(dump, "{}\t{}", hex::encode(k), hex::encode(&c.value)).expect("string");
    }
    let dump_path = dir.join(format!("{}.dump", c.name));
    std::fs::write(&dump_path, dump).expect("write dump");
    let out = dir.join(c.name);
    let mut args = c.options.clone();
    args.extend(
        [
            "write-bloom",
            out.to_str().expect("utf-8"),
            c.key_class,
            c.value_class,
            c.compression,
            c.codec,
        ]
        .map(String::from),
    );
    spawn_peer(peer, &args, Some(&dump_path))
}

/// Filters that mammoth made, not copies of Hadoop's: `first`'s keys in a
/// Jenkins filter of 37 keys per row, written versioned and in the old
/// unversioned layout (with noise in the unused bits) in place of Hadoop's
/// `bloom` file in copies of its directory; Hadoop's probes, started.
fn spawn_own_filter_probes<'a>(peer: &Path, dir: &Path, first: &'a Case) -> Vec<Probe<'a>> {
    let params = BloomParams { nr: 37, error_rate: 0.05, hash: HashType::Jenkins };
    let mut own = DynamicBloomFilter::new(params).expect("params");
    for k in &first.keys {
        own.add(k).expect("key");
    }
    assert_eq!(own.rows().len(), 29);
    let mut ask = first.absent.clone();
    ask.extend(first.keys.iter().step_by(5).cloned());
    let mut versioned = Vec::new();
    own.write_to(&mut versioned);
    let mut jobs = Vec::new();
    for (name, bytes) in
        [("mammoth-versioned", versioned), ("mammoth-unversioned", unversioned(&own, true))]
    {
        let d = dir.join(name);
        std::fs::create_dir(&d).expect("mkdir");
        for f in ["data", "index"] {
            std::fs::copy(dir.join(first.name).join(f), d.join(f)).expect("copy");
        }
        std::fs::write(d.join("bloom"), &bytes).expect("write bloom");
        let read = DynamicBloomFilter::read_from(&bytes).expect("our own file");
        assert_eq!(read, own);
        let job = spawn_probe(peer, &d, &ask);
        jobs.push((job, ask.clone(), &first.keys[..], read, name.to_owned()));
    }
    jobs
}

/// A running `bloom-probe`: the job, the keys asked, the keys present, our
/// filter, a name.
type Probe<'a> = (Job, Vec<Vec<u8>>, &'a [Vec<u8>], DynamicBloomFilter, String);

#[test]
fn hadoop_bloom_files_are_byte_identical() {
    let Some(peer) = peer() else { return };
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("corpus");
    let corpus = spawn_peer(
        &peer,
        &["write-corpus".into(), "--small".into(), root.to_str().expect("utf-8 path").into()],
        None,
    );

    // Hadoop writes our extra cases alongside the corpus.
    let cases = cases();
    let jobs: Vec<Job> = cases.iter().map(|c| spawn_write_bloom(&peer, dir.path(), c)).collect();
    let written: Vec<Output> = jobs.into_iter().map(wait_peer).collect();
    wait_peer(corpus);

    // (a) the corpus.
    let text = std::fs::read_to_string(root.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let (mut entries, mut probes, mut false_pos) = (0, 0, 0);
    let mut hashes = Vec::new();
    for e in manifest["files"].as_array().expect("files") {
        if manifest_str(e, "kind") != "bloom" {
            continue;
        }
        let (_, n, fp) = check_corpus_entry(&root, e);
        entries += 1;
        probes += n;
        false_pos += fp;
        hashes.push(manifest_str(e, "hadoop.util.hash.type").to_owned());
    }
    assert!(entries >= 4, "only {entries} bloom entries in the corpus");
    assert!(hashes.iter().any(|h| h == "jenkins") && hashes.iter().any(|h| h == "murmur"));

    // (b) the extra cases: byte-identical, then Hadoop probes them.
    let mut probe_jobs: Vec<Probe<'_>> = Vec::new();
    for (c, out) in cases.iter().zip(&written) {
        let n = c.keys.len();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&format!("wrote\t{n}")),
            "{}",
            c.name
        );
        let case_dir = dir.path().join(c.name);
        let (f, keys) = rebuild(&case_dir, c.params);
        assert_eq!(keys, c.keys, "{}: Hadoop's data keys", c.name);
        assert_eq!((f.rows().len(), f.current_nb_record()), c.shape, "{}", c.name);
        // Absent keys and a sample of present ones.
        let mut ask = c.absent.clone();
        ask.extend(c.keys.iter().step_by(7).cloned());
        let job = spawn_probe(&peer, &case_dir, &ask);
        probe_jobs.push((job, ask, &c.keys[..], f, c.name.to_owned()));
    }

    // (c) filters that mammoth made, in place of Hadoop's.
    probe_jobs.extend(spawn_own_filter_probes(&peer, dir.path(), &cases[0]));

    let (mut extra_probes, mut extra_absent, mut extra_fp) = (0, 0, 0);
    for (job, keys, present, f, name) in probe_jobs {
        let (n, fp) = check_probes(job, &keys, present, &f, &name);
        let absent = keys.iter().filter(|k| !present.contains(k)).count();
        assert!(fp < absent, "{name}: Hadoop said true for every absent key");
        extra_probes += n;
        extra_absent += absent;
        extra_fp += fp;
    }
    eprintln!(
        "Hadoop bloom: {entries} corpus files and {} written from our records byte-identical; \
         {probes} corpus probes ({false_pos} false positives) and {extra_probes} bloom-probe \
         answers ({extra_absent} absent keys, {extra_fp} false positives) match; {:.1?}",
        cases.len(),
        t0.elapsed()
    );
}
