//! MapFile, SetFile, ArrayFile and BloomMapFile interop with real Hadoop
//! (3.5, through `interop/hadoop/peer.sh`).
//!
//! * Hadoop → mammoth: every map of the peer's reference corpus
//!   (`write-corpus`) is read with [`MapReader`]: records, classes and codec
//!   against the manifest; `get` of every key (a sample of big maps),
//!   `get_closest` both ways and `final_key` against a model (the sorted
//!   records); `get`, `get_closest` and `mid_key`/`index` against Hadoop's own
//!   `MapFile.Reader` (`peer.sh get`, `peer.sh dump --index`), duplicate keys
//!   included; bloom membership against the manifest's probes.
//! * mammoth → Hadoop: maps written with [`MapWriter`], [`SetWriter`] and
//!   [`ArrayWriter`] (Text, LongWritable, IntWritable and BytesWritable keys;
//!   NONE, RECORD and BLOCK data; index intervals 128 to 1; runs of duplicate
//!   keys; bloom variants) are re-read and checked by Hadoop
//!   (`verify-corpus`), Hadoop's bloom answers for absent keys must equal
//!   [`MapReader::probably_has_key`], and a few maps are also written by
//!   Hadoop from the same records (`write-map`/`write-bloom`) to compare the
//!   index (and the `bloom` file) entry for entry.
//! * Hostile map directories (no peer needed) fail with errors naming the
//!   file and offset, never a panic.
//!
//! The peer is found through `MAMMOTH_HADOOP_PEER` (path to `peer.sh`;
//! `scripts/test` sets it). Without it the Hadoop tests are skipped with a
//! notice, or fail when `CI` is set. Hadoop's corpus is written with
//! `--small` (maps of up to 2,001 records; the run takes 30–40 s) unless
//! `MAMMOTH_HADOOP_FULL_CORPUS` is set (up to 20,001 records, indexes of up to
//! 94 entries, a 10-row bloom filter, lookups sampled past 4,000 keys; about
//! 25 s more).

use crate::common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use hex::encode as to_hex;
use seqfile::bloom::BloomParams;
use seqfile::dump::Dump;
use seqfile::hash::HashType;
use seqfile::map::{
    ArrayWriter, MapReader, MapReaderOptions, MapWriter, MapWriterOptions, SetWriter, array_get,
    display_key,
};
use seqfile::order::KeyOrder;
use seqfile::writable::{BytesWritable, IntWritable, LongWritable, NullWritable, Text, Writable};
use seqfile::{Codec, Compression, ErrorKind, Reader, Record, Writer, WriterOptions};

// ------------------------------------------------------------------ the peer

/// `peer.sh`, or `None` (after a notice) when the Hadoop tests are skipped.
fn peer() -> Option<PathBuf> {
    let found = common::find_peer("MapFile interop tests", "hadoop_map")?;
    ensure_setup(&found);
    Some(found)
}

/// Runs `setup.sh` (next to `peer.sh`) once per test process, so that the
/// tests' concurrent first `peer.sh` calls do not all recompile the peer.
fn ensure_setup(peer: &Path) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let setup = peer.with_file_name("setup.sh");
        if !setup.is_file() {
            return;
        }
        let out = Command::new("bash")
            .arg(&setup)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", setup.display()));
        assert!(out.status.success(), "{} failed: {}", setup.display(), describe(&out));
    });
}

/// One `peer.sh` invocation: arguments and optional standard input.
struct Job {
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
}

impl Job {
    fn new<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> Job {
        Job { args: args.into_iter().map(|s| s.as_ref().to_owned()).collect(), stdin: None }
    }

    /// A short name for logs (the key lists are long).
    fn label(&self) -> String {
        let mut s = self.args.iter().take(5).cloned().collect::<Vec<_>>().join(" ");
        if self.args.len() > 5 {
            let _ = write!(s, " … ({} arguments)", self.args.len());
        }
        s
    }
}

/// Runs `peer.sh` with Java's stdout forced to UTF-8.
fn run_peer(peer: &Path, job: &Job) -> Output {
    let mut opts = std::env::var("HADOOP_PEER_JAVA_OPTS").unwrap_or_default();
    opts.push_str(" -Dfile.encoding=UTF-8 -Dsun.stdout.encoding=UTF-8 -Dstdout.encoding=UTF-8");
    let mut c = Command::new("bash");
    c.arg(peer).args(&job.args).env("HADOOP_PEER_JAVA_OPTS", opts);
    c.stdin(if job.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", peer.display()));
    if let Some(input) = &job.stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        // Written before reading the output: peer commands read all input first.
        pipe.write_all(input).unwrap_or_else(|e| panic!("peer.sh {}: stdin: {e}", job.label()));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("peer.sh {}: {e}", job.label()));
    eprintln!("peer.sh {}: {:?}, {:.1?}", job.label(), out.status, start.elapsed());
    out
}

/// JVMs started at once (each is ~1 s of mostly single-threaded start-up).
const PEER_JOBS: usize = 3;

/// Runs every job, [`PEER_JOBS`] at a time; outputs in job order.
fn run_peer_jobs(peer: &Path, jobs: &[Job]) -> Vec<Output> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Output>>> = Mutex::new(jobs.iter().map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..PEER_JOBS.min(jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let out = run_peer(peer, job);
                    results.lock().expect("results lock")[i] = Some(out);
                }
            });
        }
    });
    results.into_inner().expect("results lock").into_iter().map(|o| o.expect("job ran")).collect()
}

/// Starts the jobs in the background, so that mammoth's checks overlap the JVMs.
fn spawn_peer_jobs(peer: &Path, jobs: Vec<Job>) -> std::thread::JoinHandle<Vec<Output>> {
    let peer = peer.to_path_buf();
    std::thread::spawn(move || run_peer_jobs(&peer, &jobs))
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
        out.status,
        tail(&String::from_utf8_lossy(&out.stdout), 40),
        tail(&String::from_utf8_lossy(&out.stderr), 40)
    )
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// A key as a `peer.sh` command-line argument (any class: its serialized bytes).
fn key_arg(key: &[u8]) -> String {
    format!("hex:{}", to_hex(key))
}

/// Hadoop's answers of `get`/`bloom-probe` (one `ARG TAB ANSWER` line per
/// argument, in order): the answers, or why the output does not fit.
fn parse_answers(out: &Output, args: &[String]) -> Result<Vec<String>, String> {
    if !out.status.success() {
        return Err(describe(out));
    }
    let text = stdout_of(out);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != args.len() {
        return Err(format!(
            "{} answer lines for {} keys\n{}",
            lines.len(),
            args.len(),
            describe(out)
        ));
    }
    lines
        .iter()
        .zip(args)
        .map(|(line, arg)| match line.split_once('\t') {
            Some((a, answer)) if a == arg => Ok(answer.to_owned()),
            _ => Err(format!("answer line {line:?} is not for {arg}")),
        })
        .collect()
}

/// Compares Hadoop's answers with mammoth's, one failure line per difference.
fn compare_answers(
    what: &str,
    class: &str,
    keys: &[Vec<u8>],
    mammoth: &[String],
    out: &Output,
    failures: &mut Vec<String>,
) -> usize {
    let args: Vec<String> = keys.iter().map(|k| key_arg(k)).collect();
    let hadoop = match parse_answers(out, &args) {
        Ok(h) => h,
        Err(e) => {
            failures.push(format!("{what}: unusable Hadoop output: {e}"));
            return 0;
        }
    };
    let mut differ = 0;
    for (i, ((k, h), m)) in keys.iter().zip(&hadoop).zip(mammoth).enumerate() {
        if h != m {
            differ += 1;
            if differ <= 12 {
                failures.push(format!(
                    "{what}: query #{i} key {} ({}):\n      Hadoop  {h}\n      mammoth {m}",
                    display_key(class, k),
                    key_arg(k)
                ));
            }
        }
    }
    if differ > 12 {
        failures.push(format!("{what}: … {differ} answers differ in all"));
    }
    keys.len()
}

fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{what}: {} problem(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

// ------------------------------------------------------------------ keys

fn ser<W: Writable>(w: &W) -> Vec<u8> {
    let mut v = Vec::new();
    w.write_to(&mut v);
    v
}

fn text(s: &str) -> Vec<u8> {
    ser(&Text::from(s))
}

fn bytes_key(b: &[u8]) -> Vec<u8> {
    ser(&BytesWritable(Bytes::copy_from_slice(b)))
}

/// The key classes these tests know how to make probes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    Text,
    Long,
    Int,
    Bytes,
    Other,
}

impl KeyType {
    fn of(class: &str) -> KeyType {
        match class {
            "org.apache.hadoop.io.Text" => KeyType::Text,
            "org.apache.hadoop.io.LongWritable" => KeyType::Long,
            "org.apache.hadoop.io.IntWritable" => KeyType::Int,
            "org.apache.hadoop.io.BytesWritable" => KeyType::Bytes,
            _ => KeyType::Other,
        }
    }

    fn class(self) -> &'static str {
        match self {
            KeyType::Text => Text::CLASS_NAME,
            KeyType::Long => LongWritable::CLASS_NAME,
            KeyType::Int => IntWritable::CLASS_NAME,
            KeyType::Bytes => BytesWritable::CLASS_NAME,
            KeyType::Other => "unknown",
        }
    }

    /// The smallest key above `key` (nothing sorts strictly between them):
    /// Text and BytesWritable append a 0 byte, numbers add 1.
    fn successor(self, key: &[u8]) -> Option<Vec<u8>> {
        match self {
            KeyType::Text => {
                let mut p = Text::payload(key).ok()?.to_vec();
                p.push(0);
                Some(ser(&Text(Bytes::from(p))))
            }
            KeyType::Bytes => {
                let mut p = key.get(4..)?.to_vec();
                p.push(0);
                Some(bytes_key(&p))
            }
            KeyType::Long => {
                let v = i64::from_be_bytes(key.try_into().ok()?);
                v.checked_add(1).map(|v| v.to_be_bytes().to_vec())
            }
            KeyType::Int => {
                let v = i32::from_be_bytes(key.try_into().ok()?);
                v.checked_add(1).map(|v| v.to_be_bytes().to_vec())
            }
            KeyType::Other => None,
        }
    }

    /// The smallest possible key and a very large one.
    fn extremes(self) -> Vec<Vec<u8>> {
        match self {
            KeyType::Text => vec![text(""), text("\u{10FFFF}\u{10FFFF}\u{10FFFF}")],
            KeyType::Bytes => vec![bytes_key(&[]), bytes_key(&[0xff; 40])],
            KeyType::Long => vec![i64::MIN.to_be_bytes().to_vec(), i64::MAX.to_be_bytes().to_vec()],
            KeyType::Int => vec![i32::MIN.to_be_bytes().to_vec(), i32::MAX.to_be_bytes().to_vec()],
            KeyType::Other => Vec::new(),
        }
    }
}

// ------------------------------------------------------------------ model

/// Serialized records in key order, as the map must hold them.
struct Model {
    class: String,
    order: KeyOrder,
    kt: KeyType,
    recs: Vec<(Vec<u8>, Vec<u8>)>,
    values: HashMap<Vec<u8>, Vec<Vec<u8>>>,
}

impl Model {
    fn new(class: &str, recs: Vec<(Vec<u8>, Vec<u8>)>) -> Model {
        let mut values: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        for (k, v) in &recs {
            values.entry(k.clone()).or_default().push(v.clone());
        }
        Model {
            class: class.to_owned(),
            order: KeyOrder::for_class(class),
            kt: KeyType::of(class),
            recs,
            values,
        }
    }

    /// Count and dump SHA-256 of the records.
    fn dump(&self) -> (u64, String) {
        let mut d = Dump::new(None::<Vec<u8>>);
        for (k, v) in &self.recs {
            d.record(k, v).expect("hashing cannot fail");
        }
        d.finish().expect("hashing cannot fail")
    }

    /// The first pair of neighbouring records out of order, if any.
    fn order_violation(&self) -> Option<usize> {
        self.recs.windows(2).position(|w| self.order.compare(&w[0].0, &w[1].0).is_gt())
    }

    fn show(&self, key: &[u8]) -> String {
        display_key(&self.class, key)
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.values.contains_key(key)
    }

    fn distinct_keys(&self) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = Vec::new();
        for (k, _) in &self.recs {
            if out.last().is_none_or(|l| *l != &k[..]) {
                out.push(k);
            }
        }
        out
    }

    fn duplicated_keys(&self) -> Vec<&[u8]> {
        self.distinct_keys().into_iter().filter(|k| self.values[*k].len() > 1).collect()
    }

    /// First record with key ≥ `q`.
    fn at_or_after(&self, q: &[u8]) -> Option<&(Vec<u8>, Vec<u8>)> {
        let i = self.recs.partition_point(|(k, _)| self.order.compare(k, q).is_lt());
        self.recs.get(i)
    }

    /// Last record with key ≤ `q`.
    fn at_or_before(&self, q: &[u8]) -> Option<&(Vec<u8>, Vec<u8>)> {
        let i = self.recs.partition_point(|(k, _)| self.order.compare(k, q).is_le());
        i.checked_sub(1).map(|i| &self.recs[i])
    }

    /// An evenly spread sample of about `n` distinct keys, first and last included.
    fn sample(&self, n: usize) -> Vec<Vec<u8>> {
        let distinct = self.distinct_keys();
        let step = (distinct.len() / n.max(1)).max(1);
        let mut out: Vec<Vec<u8>> = distinct.iter().step_by(step).map(|k| k.to_vec()).collect();
        if let Some(last) = distinct.last()
            && out.last().is_none_or(|l| l != last)
        {
            out.push(last.to_vec());
        }
        out
    }

    /// Keys for Hadoop's `get`: a sample, every duplicated key, absent keys.
    fn get_probes(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for (i, k) in self.sample(200).into_iter().enumerate() {
            if i % 4 == 1 {
                keys.extend(self.kt.successor(&k).filter(|s| !self.contains(s)));
            }
            keys.push(k);
        }
        keys.extend(self.duplicated_keys().into_iter().map(<[u8]>::to_vec));
        keys.extend(self.kt.extremes());
        keys
    }

    /// Probes for `get_closest`: sampled keys, each followed by its successor
    /// (usually absent, between two keys), and both extremes.
    fn closest_probes(&self, n: usize) -> Vec<Vec<u8>> {
        let mut keys = self.kt.extremes();
        keys.truncate(1);
        for k in self.sample(n) {
            let s = self.kt.successor(&k);
            keys.push(k);
            keys.extend(s);
        }
        keys.extend(self.kt.extremes().into_iter().skip(1));
        keys
    }
}

fn fmt_get(v: Option<&[u8]>) -> String {
    v.map_or_else(|| "null".to_owned(), to_hex)
}

fn fmt_closest(r: Option<&Record>) -> String {
    r.map_or_else(|| "null".to_owned(), |r| format!("{}\t{}", to_hex(&r.key), to_hex(&r.value)))
}

/// Records of a map read with `rewind` + `next_record`.
fn read_all(r: &mut MapReader) -> seqfile::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    r.rewind()?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push((rec.key.to_vec(), rec.value.to_vec()));
    }
    Ok(out)
}

/// `get`, `get_closest` (both ways) and `final_key` against the model.
fn check_lookups(name: &str, r: &mut MapReader, m: &Model, failures: &mut Vec<String>) -> usize {
    let mut n = 0;
    let distinct = m.distinct_keys();
    let mut present: Vec<Vec<u8>> = if distinct.len() <= 4000 {
        distinct.iter().map(|k| k.to_vec()).collect()
    } else {
        m.sample(3200)
    };
    present.extend(m.duplicated_keys().into_iter().map(<[u8]>::to_vec));
    for k in &present {
        n += 1;
        match r.get(k) {
            Ok(Some(v)) if m.values[k].iter().any(|x| x[..] == v[..]) => {}
            other => failures.push(format!(
                "{name}: get({}) = {:?}, want one of {} value(s) of that key",
                m.show(k),
                other.map(|o| o.map(|v| to_hex(&v))),
                m.values[k].len()
            )),
        }
    }
    let mut absent: Vec<Vec<u8>> = m.kt.extremes();
    absent.extend(m.sample(300).iter().filter_map(|k| m.kt.successor(k)));
    for k in absent.iter().filter(|k| !m.contains(k)) {
        n += 1;
        match r.get(k) {
            Ok(None) => {}
            other => failures.push(format!("{name}: get(absent {}) = {other:?}", m.show(k))),
        }
    }
    for q in m.closest_probes(300) {
        for before in [false, true] {
            n += 1;
            let want = if before { m.at_or_before(&q) } else { m.at_or_after(&q) };
            let got = r.get_closest(&q, before);
            let ok = match (&got, want) {
                (Ok(None), None) => true,
                (Ok(Some(rec)), Some((wk, _))) => {
                    rec.key[..] == wk[..] && m.values[wk].iter().any(|x| x[..] == rec.value[..])
                }
                _ => false,
            };
            if !ok {
                failures.push(format!(
                    "{name}: get_closest({}, before={before}) = {:?}, model says key {:?}",
                    m.show(&q),
                    got.map(|o| o.map(|rec| m.show(&rec.key))),
                    want.map(|(k, _)| m.show(k))
                ));
            }
        }
    }
    let want_final = m.recs.last().map(|(k, _)| to_hex(k));
    match r.final_key() {
        Ok(fk) if fk.as_deref().map(to_hex) == want_final => {}
        other => failures.push(format!("{name}: final_key {other:?}, want {want_final:?}")),
    }
    n + 1
}

// -------------------------------------------------- Hadoop -> mammoth

fn manifest_str<'a>(e: &'a serde_json::Value, field: &str) -> &'a str {
    e[field].as_str().unwrap_or_else(|| panic!("manifest entry without string {field:?}: {e}"))
}

/// A map of Hadoop's corpus, its records and the jobs asking Hadoop about it.
struct CorpusMap {
    rel: String,
    dir: PathBuf,
    model: Model,
    get_keys: Vec<Vec<u8>>,
    closest_keys: Vec<Vec<u8>>,
    get_job: usize,
    after_job: usize,
    before_job: Option<usize>,
    index_job: usize,
}

/// Opens a corpus map, checks header and records against the manifest, and
/// queues the Hadoop jobs for it.
fn load_corpus_map(
    root: &Path,
    e: &serde_json::Value,
    jobs: &mut Vec<Job>,
    failures: &mut Vec<String>,
) -> Option<CorpusMap> {
    let rel = manifest_str(e, "path").to_owned();
    let dir = root.join(&rel);
    let mut r = match MapReader::open(&dir) {
        Ok(r) => r,
        Err(err) => {
            failures.push(format!("{rel}: MapReader::open: {err}"));
            return None;
        }
    };
    let h = r.header().clone();
    for (field, got) in [
        ("key_class", h.key_class.as_str()),
        ("value_class", h.value_class.as_str()),
        ("compression", h.compression.type_name()),
        ("codec", h.compression.codec().map_or("-", Codec::class_name)),
    ] {
        if got != manifest_str(e, field) {
            failures.push(format!("{rel}: {field} {got}, Hadoop says {}", manifest_str(e, field)));
        }
    }
    let recs = match read_all(&mut r) {
        Ok(recs) => recs,
        Err(err) => {
            failures.push(format!("{rel}: reading the records: {err}"));
            return None;
        }
    };
    let model = Model::new(&h.key_class, recs);
    let (n, sha) = model.dump();
    let want_n = e["records"].as_u64().expect("records");
    if (n, sha.as_str()) != (want_n, manifest_str(e, "sha256")) {
        failures
            .push(format!("{rel}: {n} records, sha256 {sha}; Hadoop: {want_n}, {}", e["sha256"]));
    }
    if let Some(i) = model.order_violation() {
        failures.push(format!("{rel}: records {i} and {} out of key order", i + 1));
    }
    let block = matches!(h.compression, Compression::Block(_));
    let d = dir.to_str().expect("utf-8 path").to_owned();
    let get_keys = model.get_probes();
    let closest_keys = model.closest_probes(120);
    let with_keys = |mut head: Vec<String>, keys: &[Vec<u8>]| {
        head.extend(keys.iter().map(|k| key_arg(k)));
        Job { args: head, stdin: None }
    };
    let get_job = jobs.len();
    jobs.push(with_keys(vec!["get".into(), d.clone()], &get_keys));
    let after_job = jobs.len();
    jobs.push(with_keys(vec!["get".into(), "--closest".into(), d.clone()], &closest_keys));
    // Hadoop's before=true is broken on BLOCK data (spec §4.2) and throws
    // EOFException on an empty map: no oracle there.
    let before_job = (!block && n > 0).then(|| {
        jobs.push(with_keys(
            vec!["get".into(), "--closest".into(), "--before".into(), d.clone()],
            &closest_keys,
        ));
        jobs.len() - 1
    });
    let index_job = jobs.len();
    jobs.push(Job::new(["dump", "--summary", "--index", d.as_str()]));
    Some(CorpusMap {
        rel,
        dir,
        model,
        get_keys,
        closest_keys,
        get_job,
        after_job,
        before_job,
        index_job,
    })
}

/// What mammoth answers to the queries sent to Hadoop.
struct Answers {
    get: Vec<String>,
    after: Vec<String>,
    before: Vec<String>,
    index: Vec<(String, u64)>,
    mid: Option<String>,
}

/// Mammoth-only checks of one corpus map, and mammoth's answers to Hadoop's queries.
fn check_corpus_map(
    e: &serde_json::Value,
    m: &CorpusMap,
    failures: &mut Vec<String>,
) -> Option<(Answers, usize)> {
    let rel = &m.rel;
    let mut r = MapReader::open(&m.dir).ok()?;
    let mut checks = check_lookups(rel, &mut r, &m.model, failures);
    let kind = manifest_str(e, "kind");
    if let Some(want) = e["index_entries"].as_str() {
        let got = r.index().count().to_string();
        if got != want {
            failures.push(format!("{rel}: {got} index entries loaded, Hadoop wrote {want}"));
        }
    }
    if kind == "bloom" {
        checks += check_corpus_bloom(e, &r, &m.model, failures);
    }
    if kind == "array" {
        checks += check_array(rel, &mut r, &m.model, failures);
    }
    if kind == "set" && m.model.recs.iter().any(|(_, v)| !v.is_empty()) {
        failures.push(format!("{rel}: a SetFile value is not empty"));
    }
    let answers = Answers {
        get: m.get_keys.iter().map(|k| fmt_get(r.get(k).ok().flatten().as_deref())).collect(),
        after: m
            .closest_keys
            .iter()
            .map(|k| fmt_closest(r.get_closest(k, false).ok().flatten().as_ref()))
            .collect(),
        before: m
            .closest_keys
            .iter()
            .map(|k| fmt_closest(r.get_closest(k, true).ok().flatten().as_ref()))
            .collect(),
        index: r.index().map(|(k, p)| (to_hex(k), p)).collect(),
        mid: r.mid_key().map(to_hex),
    };
    checks += answers.get.len() + 2 * answers.after.len();
    // After all those seeks, a rewind reads the whole map again.
    match read_all(&mut r) {
        Ok(again) if again == m.model.recs => {}
        Ok(again) => failures.push(format!("{rel}: {} records after rewind", again.len())),
        Err(err) => failures.push(format!("{rel}: reading after rewind: {err}")),
    }
    Some((answers, checks))
}

/// Bloom filter parameters against the manifest, membership of every key,
/// and Hadoop's recorded answers for absent keys.
fn check_corpus_bloom(
    e: &serde_json::Value,
    r: &MapReader,
    m: &Model,
    failures: &mut Vec<String>,
) -> usize {
    let rel = manifest_str(e, "path");
    let Some(b) = r.bloom() else {
        failures.push(format!("{rel}: no bloom filter loaded"));
        return 0;
    };
    let summary: HashMap<&str, &str> =
        manifest_str(e, "bloom").split(' ').filter_map(|f| f.split_once('=')).collect();
    for (field, got) in [
        ("nbHash", b.nb_hash().to_string()),
        ("hashType", b.hash_type().as_byte().to_string()),
        ("vectorSize", b.vector_size().to_string()),
        ("nr", b.nr().to_string()),
        ("currentNbRecord", b.current_nb_record().to_string()),
        ("rows", b.rows().len().to_string()),
    ] {
        if summary.get(field).copied() != Some(got.as_str()) {
            failures.push(format!("{rel}: bloom {field} {got}, Hadoop {:?}", summary.get(field)));
        }
    }
    let mut n = 0;
    for (k, _) in &m.recs {
        n += 1;
        if !r.probably_has_key(k) {
            failures.push(format!("{rel}: bloom says present key {} is absent", m.show(k)));
        }
    }
    for probe in manifest_str(e, "probes_hexkey_answer").split(',') {
        n += 1;
        let (hex, answer) = probe.split_once(':').expect("probe is hexkey:answer");
        let key = hex::decode(hex).expect("probe hex");
        if r.probably_has_key(&key) != (answer == "1") {
            failures.push(format!(
                "{rel}: probably_has_key({}) = {}, Hadoop {answer}",
                m.show(&key),
                r.probably_has_key(&key)
            ));
        }
    }
    n
}

/// An ArrayFile: keys 0..n, `array_get` finds each value.
fn check_array(rel: &str, r: &mut MapReader, m: &Model, failures: &mut Vec<String>) -> usize {
    for (i, (k, _)) in m.recs.iter().enumerate() {
        if k[..] != (i as i64).to_be_bytes() {
            failures.push(format!("{rel}: ArrayFile key #{i} is {}", m.show(k)));
            return 0;
        }
    }
    let n = m.recs.len() as i64;
    let mut checks = 0;
    for i in (0..n).step_by(7).chain([n - 1, n, -1, i64::MAX]) {
        checks += 1;
        let want = usize::try_from(i).ok().and_then(|i| m.recs.get(i)).map(|(_, v)| to_hex(v));
        match array_get(r, i) {
            Ok(got) if got.as_deref().map(to_hex) == want => {}
            other => failures.push(format!("{rel}: array_get({i}) = {other:?}, want {want:?}")),
        }
    }
    checks
}

/// Hadoop's index of a map (`dump --index`): (hex key, position) per entry.
fn parse_index(out: &Output) -> Result<Vec<(String, u64)>, String> {
    if !out.status.success() {
        return Err(describe(out));
    }
    stdout_of(out)
        .lines()
        .filter_map(|l| l.strip_prefix("#index\t"))
        .map(|l| {
            let (k, p) = l.split_once('\t').ok_or_else(|| format!("bad #index line {l:?}"))?;
            Ok((k.to_owned(), p.parse().map_err(|e| format!("bad position in {l:?}: {e}"))?))
        })
        .collect()
}

/// Compares mammoth's answers with Hadoop's outputs for one corpus map.
fn compare_corpus_map(
    m: &CorpusMap,
    a: &Answers,
    outs: &[Output],
    failures: &mut Vec<String>,
) -> usize {
    let (rel, class) = (&m.rel, m.model.class.as_str());
    let mut n = compare_answers(
        &format!("{rel}: get"),
        class,
        &m.get_keys,
        &a.get,
        &outs[m.get_job],
        failures,
    );
    n += compare_answers(
        &format!("{rel}: get_closest(before=false)"),
        class,
        &m.closest_keys,
        &a.after,
        &outs[m.after_job],
        failures,
    );
    if let Some(job) = m.before_job {
        n += compare_answers(
            &format!("{rel}: get_closest(before=true)"),
            class,
            &m.closest_keys,
            &a.before,
            &outs[job],
            failures,
        );
    }
    match parse_index(&outs[m.index_job]) {
        Err(e) => failures.push(format!("{rel}: dump --index: {e}")),
        Ok(index) => {
            // MapFile.Reader.readIndex keeps every entry (io.map.index.skip 0;
            // its "same position as before" test compares with a variable that
            // stays -1), and midKey() is entry (count - 1) / 2.
            let mid = (!index.is_empty()).then(|| index[(index.len() - 1) / 2].0.clone());
            if a.mid != mid {
                failures.push(format!("{rel}: mid_key {:?}, Hadoop's midKey {mid:?}", a.mid));
            }
            if a.index != index {
                failures.push(format!(
                    "{rel}: index differs from Hadoop's: mammoth {} entries, Hadoop {}",
                    a.index.len(),
                    index.len()
                ));
            }
            n += 2;
        }
    }
    n
}

#[test]
fn hadoop_written_maps_read_in_mammoth() {
    let Some(peer) = peer() else { return };
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("corpus");
    let root_arg = root.to_str().expect("utf-8 path");
    let full = std::env::var_os("MAMMOTH_HADOOP_FULL_CORPUS").is_some_and(|v| !v.is_empty());
    let args = if full {
        vec!["write-corpus", root_arg]
    } else {
        vec!["write-corpus", "--small", root_arg]
    };
    let out = run_peer(&peer, &Job::new(args));
    assert!(out.status.success(), "peer.sh write-corpus failed: {}", describe(&out));
    let written = t0.elapsed();

    let text = std::fs::read_to_string(root.join("manifest.json")).expect("manifest.json");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let entries: Vec<&serde_json::Value> = manifest["files"]
        .as_array()
        .expect("manifest files")
        .iter()
        .filter(|e| manifest_str(e, "kind") != "seq")
        .collect();
    let mut kinds: HashMap<&str, usize> = HashMap::new();
    for e in &entries {
        *kinds.entry(manifest_str(e, "kind")).or_default() += 1;
    }
    assert!(
        kinds.get("map") >= Some(&6)
            && kinds.get("set") >= Some(&1)
            && kinds.get("array") >= Some(&1)
            && kinds.get("bloom") >= Some(&4),
        "too few maps in Hadoop's corpus: {kinds:?}"
    );

    // The slowest (BLOCK) maps first, for both Hadoop's jobs and mammoth's checks.
    let mut entries = entries;
    entries.sort_by_key(|e| (manifest_str(e, "compression") != "BLOCK", manifest_str(e, "path")));
    let mut failures = Vec::new();
    let mut jobs = Vec::new();
    let maps: Vec<(&serde_json::Value, CorpusMap)> = entries
        .iter()
        .filter_map(|e| load_corpus_map(&root, e, &mut jobs, &mut failures).map(|m| (*e, m)))
        .collect();
    let job_count = jobs.len();
    let hadoop = spawn_peer_jobs(&peer, jobs);

    let mut checks = 0;
    let mut answers = Vec::new();
    for (e, m) in &maps {
        let a = check_corpus_map(e, m, &mut failures);
        if let Some((a, n)) = a {
            checks += n;
            answers.push((m, a));
        }
    }
    let mammoth_done = t0.elapsed();
    let outs = hadoop.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let mut compared = 0;
    for (m, a) in &answers {
        compared += compare_corpus_map(m, a, &outs, &mut failures);
    }
    let records: usize = maps.iter().map(|(_, m)| m.model.recs.len()).sum();
    eprintln!(
        "Hadoop -> mammoth: {} maps ({kinds:?}), {records} records, {checks} mammoth lookups \
         checked against the model, {compared} answers compared with Hadoop's in {job_count} \
         peer calls; write-corpus {written:.1?}, mammoth done at {mammoth_done:.1?}, total {:.1?}",
        maps.len(),
        t0.elapsed()
    );
    assert_no_failures("Hadoop-written maps read by mammoth", &failures);
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

    /// Text from pieces that make many prefixes and non-ASCII characters.
    fn text(&mut self, pieces: usize) -> String {
        const PIECES: [&str; 16] = [
            "a", "b", "ab", "z", "A", "key", "é", "ü", "中文", "😀", "\u{FFFF}", "𐍈", " ", "\u{0}",
            "0", "-",
        ];
        (0..pieces).map(|_| PIECES[self.below(PIECES.len())]).collect()
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// `n` distinct keys of a class in Hadoop order, edge cases included.
fn gen_keys(kt: KeyType, n: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = match kt {
        KeyType::Text => {
            ["", "B", "a", &"a".repeat(130), "ab", "b", "é", "\u{FFFF}", "😀", "a\u{0}"]
                .iter()
                .map(|s| text(s))
                .collect()
        }
        // Long maps end before i64::MAX and Int maps start after i32::MIN, so
        // that probes after the last and before the first key exist.
        KeyType::Long => [i64::MIN, i64::MIN + 1, -5, -1, 0, 1, 5, i64::MAX - 1]
            .iter()
            .map(|v| v.to_be_bytes().to_vec())
            .collect(),
        KeyType::Int => [i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX]
            .iter()
            .map(|v| v.to_be_bytes().to_vec())
            .collect(),
        KeyType::Bytes => [&[][..], &[1], &[1, 9, 9], &[2], &[0x7f, 0], &[0x80], &[0xff; 3]]
            .iter()
            .map(|b| bytes_key(b))
            .collect(),
        KeyType::Other => unreachable!("no generator"),
    };
    keys.truncate(n);
    let order = KeyOrder::for_class(kt.class());
    let mut tries = 0;
    while keys.len() < n && tries < 100 * n {
        tries += 1;
        let k = match kt {
            KeyType::Text => {
                let pieces = 1 + rng.below(7);
                text(&rng.text(pieces))
            }
            KeyType::Long => {
                (rng.next() as i64 >> rng.below(40)).min(i64::MAX - 1).to_be_bytes().to_vec()
            }
            KeyType::Int => {
                (rng.next() as i32 >> rng.below(20)).max(i32::MIN + 1).to_be_bytes().to_vec()
            }
            KeyType::Bytes => {
                let len = 1 + rng.below(12);
                bytes_key(&rng.bytes(len))
            }
            KeyType::Other => unreachable!(),
        };
        keys.push(k);
        if keys.len() == n {
            keys.sort_by(|a, b| order.compare(a, b));
            keys.dedup_by(|a, b| order.compare(a, b).is_eq());
        }
    }
    keys.sort_by(|a, b| order.compare(a, b));
    keys.dedup_by(|a, b| order.compare(a, b).is_eq());
    if kt == KeyType::Text && n >= 10 {
        // Hadoop's Text order (spec §2, verified with Hadoop): UTF-8 bytes
        // after the length, a prefix first, U+FFFF before a non-BMP character.
        let long_a = "a".repeat(130);
        let want = ["", "B", "a", "a\u{0}", &long_a, "ab", "b", "é", "\u{FFFF}", "😀"];
        let at: Vec<usize> = want
            .iter()
            .map(|s| keys.iter().position(|k| *k == text(s)).expect("edge key kept"))
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "Text edge keys sorted as {at:?}");
    }
    keys
}

/// Keys with runs of 2–5 equal keys, and one run of 3 around record
/// `2 * interval` (an index entry for NONE/RECORD data: it straddles it).
fn with_runs(keys: Vec<Vec<u8>>, interval: usize, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(keys.len() * 5 / 4);
    for k in keys {
        let n = if rng.below(9) == 0 { 2 + rng.below(4) } else { 1 };
        out.extend(std::iter::repeat_n(k, n));
    }
    let p = 2 * interval;
    if p + 1 < out.len() {
        let k = out[p - 1].clone();
        out.insert(p, k.clone());
        out.insert(p, k);
    }
    out
}

fn value_for(kt: KeyType, i: usize, rng: &mut Rng) -> Vec<u8> {
    let len = match i % 50 {
        0 => 500 + rng.below(3000),
        7 => 0,
        _ => rng.below(120),
    };
    match kt {
        KeyType::Text | KeyType::Long => {
            let pieces = len / 3;
            ser(&Text::from(format!("v{i} {}", rng.text(pieces))))
        }
        _ => {
            let mut b = (i as u32).to_be_bytes().to_vec();
            b.extend(rng.bytes(len));
            bytes_key(&b)
        }
    }
}

fn value_class(kt: KeyType) -> &'static str {
    match kt {
        KeyType::Text | KeyType::Long => Text::CLASS_NAME,
        _ => BytesWritable::CLASS_NAME,
    }
}

/// One map to write.
#[derive(Clone, Copy)]
struct Plan {
    name: &'static str,
    /// `map`, `set`, `array` or `bloom` (the manifest's kind).
    kind: &'static str,
    kt: KeyType,
    keys: usize,
    compression: Compression,
    interval: u64,
    block_size: usize,
    bloom: Option<BloomParams>,
}

const fn plan(
    name: &'static str,
    kt: KeyType,
    keys: usize,
    compression: Compression,
    interval: u64,
    block_size: usize,
) -> Plan {
    Plan { name, kind: "map", kt, keys, compression, interval, block_size, bloom: None }
}

const fn bloom_plan(p: Plan, params: BloomParams) -> Plan {
    Plan { kind: "bloom", bloom: Some(params), ..p }
}

fn plans() -> Vec<Plan> {
    use Compression::{Block, None as Plain, Record};
    let big = seqfile::DEFAULT_BLOCK_SIZE;
    let default = BloomParams::default();
    vec![
        plan("text-none-ix128", KeyType::Text, 1500, Plain, 128, big),
        plan("text-record-default-ix32", KeyType::Text, 1200, Record(Codec::Default), 32, big),
        plan("text-record-gzip-ix7", KeyType::Text, 600, Record(Codec::Gzip), 7, big),
        plan("text-none-ix1", KeyType::Text, 400, Plain, 1, big),
        plan("text-block-default-ix32", KeyType::Text, 1200, Block(Codec::Default), 32, 3000),
        plan("long-block-default-ix128", KeyType::Long, 3000, Block(Codec::Default), 128, 4096),
        plan("long-block-snappy-ix7", KeyType::Long, 1500, Block(Codec::Snappy), 7, 2048),
        plan("int-block-lz4-ix1", KeyType::Int, 1500, Block(Codec::Lz4), 1, 1024),
        plan("int-none-ix32", KeyType::Int, 1000, Plain, 32, big),
        plan("bytes-none-ix1", KeyType::Bytes, 500, Plain, 1, big),
        plan("bytes-record-default-ix7", KeyType::Bytes, 800, Record(Codec::Default), 7, big),
        plan("empty", KeyType::Text, 0, Record(Codec::Default), 128, big),
        Plan {
            kind: "set",
            ..plan("set-text", KeyType::Text, 800, Record(Codec::Default), 128, big)
        },
        Plan {
            kind: "array",
            ..plan("array-text", KeyType::Long, 700, Record(Codec::Default), 128, big)
        },
        bloom_plan(
            plan("bloom-text-default", KeyType::Text, 1000, Record(Codec::Default), 128, big),
            default,
        ),
        bloom_plan(
            plan("bloom-text-nr100", KeyType::Text, 1000, Plain, 32, big),
            BloomParams { nr: 100, ..default },
        ),
        bloom_plan(
            plan("bloom-long-jenkins", KeyType::Long, 1200, Block(Codec::Snappy), 7, 4096),
            BloomParams { nr: 500, hash: HashType::Jenkins, ..default },
        ),
        bloom_plan(
            plan("bloom-bytes-err0.01", KeyType::Bytes, 700, Plain, 128, big),
            BloomParams { nr: 300, error_rate: 0.01, ..default },
        ),
        bloom_plan(
            plan("bloom-int-err0.3", KeyType::Int, 500, Block(Codec::Lz4), 16, 2048),
            BloomParams { nr: 64, error_rate: 0.3, ..default },
        ),
    ]
}

/// A map mammoth wrote, with the records it was given.
struct Written {
    plan: Plan,
    dir: PathBuf,
    model: Model,
}

/// The records of a plan (keys in Hadoop order), made without any reader.
fn plan_records(p: &Plan, seed: u64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rng = Rng(seed);
    match p.kind {
        "array" => (0..p.keys)
            .map(|i| ((i as i64).to_be_bytes().to_vec(), value_for(KeyType::Text, i, &mut rng)))
            .collect(),
        "set" => {
            let keys = with_runs(gen_keys(p.kt, p.keys, &mut rng), 128, &mut rng);
            keys.into_iter().map(|k| (k, Vec::new())).collect()
        }
        _ => {
            let keys = gen_keys(p.kt, p.keys, &mut rng);
            let keys = with_runs(keys, p.interval as usize, &mut rng);
            keys.into_iter().enumerate().map(|(i, k)| (k, value_for(p.kt, i, &mut rng))).collect()
        }
    }
}

fn ok<T>(name: &str, r: seqfile::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn write_plan(root: &Path, p: Plan, seed: u64) -> Written {
    let recs = plan_records(&p, seed);
    let dir = root.join(p.name);
    let name = p.name;
    let key_class = match p.kind {
        "array" => {
            let mut w = ok(name, ArrayWriter::create(&dir, Text::CLASS_NAME, p.compression));
            for (_, v) in &recs {
                ok(name, w.append(v));
            }
            ok(name, w.finish());
            LongWritable::CLASS_NAME
        }
        "set" => {
            let mut w = ok(name, SetWriter::create(&dir, p.kt.class(), p.compression));
            for (k, _) in &recs {
                ok(name, w.append(k));
            }
            ok(name, w.finish());
            p.kt.class()
        }
        _ => {
            let mut opts = MapWriterOptions::with_classes(p.kt.class(), value_class(p.kt))
                .compression(p.compression)
                .index_interval(p.interval)
                .block_size(p.block_size);
            if let Some(b) = p.bloom {
                opts = opts.bloom(b);
            }
            let mut w = ok(name, MapWriter::create(&dir, opts));
            for (k, v) in &recs {
                ok(name, w.append_raw(k, v));
            }
            assert_eq!(w.records(), recs.len() as u64, "{name}: writer's record count");
            ok(name, w.finish());
            p.kt.class()
        }
    };
    let model = Model::new(key_class, recs);
    assert_eq!(model.order_violation(), None, "{name}: generated keys out of Hadoop order");
    Written { plan: p, dir, model }
}

/// Mammoth reads its own map back: records, classes, index rule, lookups.
fn check_written(w: &Written, failures: &mut Vec<String>) -> usize {
    let name = w.plan.name;
    let mut r = match MapReader::open(&w.dir) {
        Ok(r) => r,
        Err(e) => {
            failures.push(format!("{name}: MapReader::open: {e}"));
            return 0;
        }
    };
    if r.header().compression != w.plan.compression {
        failures.push(format!("{name}: data compression {:?}", r.header().compression));
    }
    match read_all(&mut r) {
        Ok(recs) if recs == w.model.recs => {}
        Ok(recs) => failures.push(format!("{name}: read back {} records, differing", recs.len())),
        Err(e) => failures.push(format!("{name}: read back: {e}")),
    }
    // NONE/RECORD data: an index entry every `interval` records (spec §4.1).
    if !matches!(w.plan.compression, Compression::Block(_)) {
        let want: Vec<&[u8]> =
            w.model.recs.iter().step_by(w.plan.interval as usize).map(|(k, _)| &k[..]).collect();
        let got: Vec<&[u8]> = r.index().map(|(k, _)| &k[..]).collect();
        if got != want {
            failures.push(format!(
                "{name}: {} index entries, want {} (one every {} records)",
                got.len(),
                want.len(),
                w.plan.interval
            ));
        }
    }
    let (interval, n) = (w.plan.interval as usize, w.model.recs.len());
    if w.plan.kind == "map" && n > 2 * interval + 1 && {
        let (a, b) = (&w.model.recs[2 * interval - 1].0, &w.model.recs[2 * interval].0);
        a != b
    } {
        failures.push(format!("{name}: no run of equal keys across index entry 2"));
    }
    if matches!(w.plan.compression, Compression::Block(_)) && n > 0 && r.index().count() < 3 {
        failures.push(format!("{name}: only {} index entries: too few blocks", r.index().count()));
    }
    let rows = r.bloom().map(|b| b.rows().len());
    match w.plan.bloom {
        None if rows.is_some() => failures.push(format!("{name}: a bloom filter was loaded")),
        Some(b) if rows != Some(n.div_ceil(b.nr as usize).max(1)) => {
            failures.push(format!("{name}: bloom filter rows {rows:?} for {n} keys, nr {}", b.nr));
        }
        _ => {}
    }
    check_lookups(name, &mut r, &w.model, failures)
}

/// A manifest `verify-corpus` parses: one entry per line, `"name": value`.
fn manifest_json(maps: &[Written]) -> String {
    let mut s =
        String::from("{\n  \"writer\": \"mammoth seqfile tests/hadoop_map.rs\",\n  \"files\": [\n");
    for (i, w) in maps.iter().enumerate() {
        let (n, sha) = w.model.dump();
        let _ = writeln!(
            s,
            "    {{\"path\": \"{}\", \"kind\": \"{}\", \"key_class\": \"{}\", \"value_class\": \"{}\", \
             \"compression\": \"{}\", \"codec\": \"{}\", \"records\": {n}, \"sha256\": \"{sha}\"}}{}",
            w.plan.name,
            w.plan.kind,
            w.model.class,
            if w.plan.kind == "set" { NullWritable::CLASS_NAME } else { value_class(w.plan.kt) },
            w.plan.compression.type_name(),
            w.plan.compression.codec().map_or("-", Codec::class_name),
            if i + 1 < maps.len() { "," } else { "" }
        );
    }
    s.push_str("  ]\n}\n");
    s
}

/// ~200 keys absent from a map (random ones and successors of present
/// ones), plus 20 present ones.
fn bloom_probe_keys(m: &Model, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut keys: Vec<Vec<u8>> = m.sample(60).iter().filter_map(|k| m.kt.successor(k)).collect();
    let random = gen_keys(m.kt, 400, &mut rng);
    keys.extend(random.into_iter().step_by(2));
    keys.retain(|k| !m.contains(k));
    keys.truncate(200);
    keys.extend(m.sample(20));
    keys
}

/// Hadoop writes the same records (`write-map`/`write-bloom` with the same
/// settings); its index (and bloom file) must be what mammoth wrote.
fn twin_job(w: &Written, twins: &Path) -> Job {
    let p = &w.plan;
    let mut args = vec![
        format!("-Dio.map.index.interval={}", p.interval),
        format!("-Dio.seqfile.compress.blocksize={}", p.block_size),
    ];
    if let Some(b) = p.bloom {
        args.push(format!("-Dio.mapfile.bloom.size={}", b.nr));
        args.push(format!("-Dio.mapfile.bloom.error.rate={}", b.error_rate));
        args.push(format!("-Dhadoop.util.hash.type={}", b.hash.config_name()));
    }
    args.push(if p.bloom.is_some() { "write-bloom" } else { "write-map" }.to_owned());
    args.push(twins.join(p.name).to_str().expect("utf-8 path").to_owned());
    args.push(w.model.class.clone());
    args.push(value_class(p.kt).to_owned());
    args.push(p.compression.type_name().to_owned());
    args.push(p.compression.codec().map_or("none", Codec::name).to_owned());
    let mut dump = Vec::new();
    let mut d = Dump::new(Some(&mut dump));
    for (k, v) in &w.model.recs {
        d.record(k, v).expect("write to Vec");
    }
    d.finish().expect("write to Vec");
    Job { args, stdin: Some(dump) }
}

fn read_index_file(path: &Path) -> seqfile::Result<Vec<(Bytes, Bytes)>> {
    let mut r = Reader::open(path)?;
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push((rec.key, rec.value));
    }
    Ok(out)
}

/// Mammoth's map against Hadoop's twin: index keys (and positions and the
/// whole data file, modulo the sync marker, for NONE data), bloom bytes.
fn compare_twin(w: &Written, twin: &Path, out: &Output, failures: &mut Vec<String>) {
    let name = w.plan.name;
    if !out.status.success() {
        failures.push(format!("{name}: Hadoop could not write the twin: {}", describe(out)));
        return;
    }
    let ours = read_index_file(&w.dir.join("index")).expect("mammoth's index");
    let theirs = read_index_file(&twin.join("index")).expect("Hadoop's index");
    let keys = |v: &[(Bytes, Bytes)]| v.iter().map(|(k, _)| to_hex(k)).collect::<Vec<_>>();
    if keys(&ours) != keys(&theirs) {
        failures.push(format!(
            "{name}: index keys differ from Hadoop's for the same records: mammoth {} entries, \
             Hadoop {}; first differing entry {:?}",
            ours.len(),
            theirs.len(),
            ours.iter().zip(&theirs).position(|(a, b)| a.0 != b.0)
        ));
    }
    if w.plan.compression == Compression::None {
        if ours != theirs {
            failures.push(format!("{name}: index positions differ from Hadoop's (NONE data)"));
        }
        let sync = |p: &Path| Reader::open(p).expect("data").header().sync;
        let (our_sync, their_sync) = (sync(&w.dir.join("data")), sync(&twin.join("data")));
        let mut data = std::fs::read(w.dir.join("data")).expect("data");
        let theirs = std::fs::read(twin.join("data")).expect("twin data");
        let mut i = 0;
        while i + 16 <= data.len() {
            if data[i..i + 16] == our_sync {
                data[i..i + 16].copy_from_slice(&their_sync);
                i += 16;
            } else {
                i += 1;
            }
        }
        if data != theirs {
            failures.push(format!(
                "{name}: data file differs from Hadoop's beyond the sync marker ({} vs {} bytes)",
                data.len(),
                theirs.len()
            ));
        }
    }
    if w.plan.bloom.is_some() {
        let ours = std::fs::read(w.dir.join("bloom")).expect("bloom");
        let theirs = std::fs::read(twin.join("bloom")).expect("twin bloom");
        if ours != theirs {
            failures.push(format!(
                "{name}: bloom file differs from Hadoop's ({} vs {} bytes)",
                ours.len(),
                theirs.len()
            ));
        }
    }
}

/// Maps that Hadoop also writes from the same records.
const TWINS: [&str; 6] = [
    "text-none-ix128",
    "int-none-ix32",
    "long-block-snappy-ix7",
    "text-block-default-ix32",
    "bloom-text-nr100",
    "bloom-long-jenkins",
];

#[test]
fn mammoth_written_maps_read_in_hadoop() {
    let Some(peer) = peer() else { return };
    let t0 = Instant::now();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("maps");
    let twins = tmp.path().join("twins");
    std::fs::create_dir_all(&twins).expect("twins dir");
    let maps: Vec<Written> = plans()
        .into_iter()
        .enumerate()
        .map(|(i, p)| write_plan(&root, p, 100 + i as u64))
        .collect();
    std::fs::write(root.join("manifest.json"), manifest_json(&maps)).expect("write manifest");
    let written = t0.elapsed();

    let mut jobs = vec![Job::new(["verify-corpus", root.to_str().expect("utf-8 path")])];
    let mut probe_jobs = Vec::new();
    for (i, w) in maps.iter().enumerate().filter(|(_, w)| w.plan.bloom.is_some()) {
        let keys = bloom_probe_keys(&w.model, 7 + i as u64);
        let mut args = vec!["bloom-probe".to_owned(), w.dir.to_str().expect("utf-8").to_owned()];
        args.extend(keys.iter().map(|k| key_arg(k)));
        probe_jobs.push((w, keys, jobs.len()));
        jobs.push(Job { args, stdin: None });
    }
    let mut twin_jobs = Vec::new();
    for w in maps.iter().filter(|w| TWINS.contains(&w.plan.name)) {
        twin_jobs.push((w, jobs.len()));
        jobs.push(twin_job(w, &twins));
    }
    let hadoop = spawn_peer_jobs(&peer, jobs);

    let mut failures = Vec::new();
    let checks: usize = maps.iter().map(|w| check_written(w, &mut failures)).sum();
    let outs = hadoop.join().unwrap_or_else(|p| std::panic::resume_unwind(p));

    let report = stdout_of(&outs[0]);
    let bad: Vec<&str> = report.lines().filter(|l| !l.starts_with("OK  ")).collect();
    if !(outs[0].status.success() && report.contains(&format!("{} checked, 0 bad", maps.len()))) {
        failures.push(format!(
            "Hadoop's verify-corpus (read + verify-map) rejects mammoth-written maps: {} maps, not \
             OK: {bad:#?}\n{}",
            maps.len(),
            describe(&outs[0])
        ));
    }
    let (mut probed, mut false_positives) = (0, 0);
    for (w, keys, job) in &probe_jobs {
        let r = MapReader::open(&w.dir).expect("open bloom map");
        let mammoth: Vec<String> = keys.iter().map(|k| r.probably_has_key(k).to_string()).collect();
        false_positives +=
            keys.iter().filter(|k| !w.model.contains(k) && r.probably_has_key(k)).count();
        let what = format!("{}: bloom-probe", w.plan.name);
        probed +=
            compare_answers(&what, &w.model.class, keys, &mammoth, &outs[*job], &mut failures);
    }
    for (w, job) in &twin_jobs {
        compare_twin(w, &twins.join(w.plan.name), &outs[*job], &mut failures);
    }
    let records: usize = maps.iter().map(|w| w.model.recs.len()).sum();
    eprintln!(
        "mammoth -> Hadoop: {} maps, {records} records verified by Hadoop; {checks} lookups \
         checked against the model; {probed} bloom answers compared ({false_positives} false \
         positives); {} maps compared with Hadoop-written twins (writing {written:.1?}, total {:.1?})",
        maps.len(),
        twin_jobs.len(),
        t0.elapsed()
    );
    assert!(false_positives > 10, "the error-rate-0.3 filter should give false positives");
    assert_no_failures("mammoth-written maps read by Hadoop", &failures);
}

/// Runs of equal keys that span several index entries (interval 1 and 3):
/// mammoth's `get` and `get_closest` must pick the same duplicate as Hadoop's
/// `MapFile.Reader`, also for a lookup right after a `before` lookup (Hadoop
/// then skips the binary search when the key is within the same index
/// interval, spec §4.2).
#[test]
fn duplicate_keys_answer_as_hadoop() {
    let Some(peer) = peer() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut jobs = Vec::new();
    let mut cases = Vec::new();
    for (i, p) in [
        plan("dups-text-none-ix1", KeyType::Text, 300, Compression::None, 1, 0),
        plan("dups-long-record-ix3", KeyType::Long, 300, Compression::Record(Codec::Default), 3, 0),
    ]
    .into_iter()
    .enumerate()
    {
        let w = write_plan(tmp.path(), p, 500 + i as u64);
        let dups = w.model.duplicated_keys();
        assert!(dups.len() >= 20, "{}: only {} duplicated keys", p.name, dups.len());
        let mut get_keys: Vec<Vec<u8>> = dups.iter().map(|k| k.to_vec()).collect();
        get_keys.extend(w.model.get_probes());
        // Each duplicated key after a `before` lookup just above it, and again.
        let mut before_keys = Vec::new();
        for k in &dups {
            before_keys.extend(w.model.kt.successor(k));
            before_keys.push(k.to_vec());
            before_keys.push(k.to_vec());
        }
        before_keys.extend(w.model.closest_probes(100));
        let d = w.dir.to_str().expect("utf-8").to_owned();
        let job = |head: &[&str], keys: &[Vec<u8>]| {
            let mut args: Vec<String> = head.iter().map(|s| (*s).to_owned()).collect();
            args.push(d.clone());
            args.extend(keys.iter().map(|k| key_arg(k)));
            Job { args, stdin: None }
        };
        jobs.push(job(&["get"], &get_keys));
        jobs.push(job(&["get", "--closest"], &before_keys));
        jobs.push(job(&["get", "--closest", "--before"], &before_keys));
        cases.push((w, get_keys, before_keys));
    }
    let outs = run_peer_jobs(&peer, &jobs);
    let mut failures = Vec::new();
    let mut compared = 0;
    for (i, (w, get_keys, closest_keys)) in cases.iter().enumerate() {
        let mut r = MapReader::open(&w.dir).expect("open");
        let name = w.plan.name;
        let class = &w.model.class;
        let get: Vec<String> =
            get_keys.iter().map(|k| fmt_get(r.get(k).expect("get").as_deref())).collect();
        let closest = |r: &mut MapReader, before: bool| -> Vec<String> {
            closest_keys
                .iter()
                .map(|k| fmt_closest(r.get_closest(k, before).expect("get_closest").as_ref()))
                .collect()
        };
        let after = closest(&mut r, false);
        let before = closest(&mut r, true);
        let outs = &outs[3 * i..3 * i + 3];
        compared += compare_answers(
            &format!("{name}: get"),
            class,
            get_keys,
            &get,
            &outs[0],
            &mut failures,
        );
        compared += compare_answers(
            &format!("{name}: get_closest(before=false)"),
            class,
            closest_keys,
            &after,
            &outs[1],
            &mut failures,
        );
        compared += compare_answers(
            &format!("{name}: get_closest(before=true)"),
            class,
            closest_keys,
            &before,
            &outs[2],
            &mut failures,
        );
    }
    eprintln!("duplicate keys: {compared} answers compared with Hadoop's");
    assert_no_failures(
        "duplicate-key lookups, mammoth vs Hadoop (each before=true list is: succ(K), K, K for \
         every duplicated K, then sampled probes). Hadoop's MapFile.Reader.seekInternal skips the \
         binary search when the key lies between the previous seek's key and the next index key \
         (spec §4.2), so after getClosest(succ(K), before=true) — which ends on the run's last \
         record — it looks K up from the index entry of that last record, and answers K with the \
         run's last duplicate; mammoth's MapReader searches the index afresh on every lookup and \
         answers with the duplicate at whichever index entry of the run its binary search finds",
        &failures,
    );
}

/// Older Hadoop wrote BLOCK MapFile indexes with several entries per block
/// (the same position, increasing keys). Hadoop 3.5's `readIndex` keeps all
/// of them (its "same position as the previous entry" test compares with a
/// variable that is never updated), so `midKey()` is entry (count − 1) / 2
/// of *all* entries. Mammoth must agree, and lookups must still work.
#[test]
fn index_with_repeated_positions_matches_hadoop() {
    let Some(peer) = peer() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = plan("repeated-positions", KeyType::Text, 200, Compression::None, 10, 0);
    let w = write_plan(tmp.path(), p, 900);
    // Rewrite the index: each entry (record n at position P) is followed by
    // entries for the next two larger keys after record n, also pointing at P.
    let index = read_index_file(&w.dir.join("index")).expect("index");
    let order = w.model.order;
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (j, (k, pos)) in index.iter().enumerate() {
        entries.push((k.to_vec(), pos.to_vec()));
        let mut extras = 0;
        for (next, _) in w.model.recs[j * 10..].iter().take(10) {
            let last = &entries.last().expect("an entry").0;
            if extras < 2 && order.compare(next, last).is_gt() {
                entries.push((next.clone(), pos.to_vec()));
                extras += 1;
            }
        }
    }
    // The test only tells the two rules apart if their middle entries differ.
    let all_mid = &entries[(entries.len() - 1) / 2].0;
    let dedup_mid = &index[(index.len() - 1) / 2].0;
    assert_ne!(&all_mid[..], &dedup_mid[..], "choose another index layout");
    let opts = WriterOptions::with_classes(Text::CLASS_NAME, LongWritable::CLASS_NAME)
        .compression(Compression::Block(Codec::Default));
    let mut iw = Writer::create(w.dir.join("index"), opts).expect("index writer");
    for (k, v) in &entries {
        iw.append_raw(k, v).expect("append");
    }
    iw.finish().expect("finish index");

    let out = run_peer(&peer, &Job::new(["verify-map", w.dir.to_str().expect("utf-8")]));
    assert!(out.status.success(), "Hadoop's verify-map rejects the map: {}", describe(&out));
    let report = stdout_of(&out);
    let hadoop_mid =
        report.lines().find_map(|l| l.strip_prefix("midKey\t")).expect("verify-map prints midKey");
    assert_eq!(
        hadoop_mid,
        to_hex(all_mid),
        "Hadoop's midKey is entry (count - 1) / 2 of all entries"
    );
    let mut r = MapReader::open(&w.dir).expect("open");
    let mut failures = Vec::new();
    check_lookups(p.name, &mut r, &w.model, &mut failures);
    let mid = r.mid_key().map(to_hex);
    if mid.as_deref() != Some(hadoop_mid) {
        failures.push(format!(
            "{}: index of {} entries ({} distinct positions): mid_key {} ({:?}), Hadoop's midKey \
             {hadoop_mid} ({})",
            p.name,
            entries.len(),
            index.len(),
            mid.as_deref().unwrap_or("null"),
            r.mid_key().map(|k| display_key(Text::CLASS_NAME, k)),
            display_key(Text::CLASS_NAME, &hex::decode(hadoop_mid).unwrap_or_default())
        ));
    }
    assert_no_failures(
        "index with repeated positions (Hadoop 3.5's MapFile.Reader.readIndex keeps every entry: \
         its `position == lastIndex` test compares with a variable that stays -1; mammoth's \
         load_index, following spec §4.2, drops an entry whose position equals the previous kept \
         one, so its index is shorter and mid_key differs)",
        &failures,
    );
}

// ------------------------------------------------------------ hostile input

/// A valid Text→Text bloom map: about 320 records, index interval 16, 4 filter rows.
fn victim(dir: &Path) -> Written {
    let p = bloom_plan(
        plan("victim", KeyType::Text, 280, Compression::None, 16, 0),
        BloomParams { nr: 100, ..BloomParams::default() },
    );
    write_plan(dir, p, 1234)
}

/// Opens a map that must fail; the error, or a panic message naming the case.
fn open_err(dir: &Path, case: &str) -> seqfile::Error {
    let d = dir.to_path_buf();
    let result = std::panic::catch_unwind(move || MapReader::open(&d))
        .unwrap_or_else(|_| panic!("{case}: MapReader::open panicked"));
    match result {
        Ok(_) => panic!("{case}: MapReader::open succeeded"),
        Err(e) => e,
    }
}

/// The error names `file` (its full path) and, if `offset`, some byte offset.
fn assert_names(e: &seqfile::Error, file: &Path, offset: bool, case: &str) {
    let shown = e.to_string();
    assert!(
        shown.contains(&file.display().to_string()) && e.path() == Some(file),
        "{case}: error does not name {}: {shown}",
        file.display()
    );
    if offset {
        assert!(
            e.offset().is_some() && shown.contains("offset "),
            "{case}: error has no offset: {shown}"
        );
    }
}

fn write_index(dir: &Path, class: &str, entries: &[(Vec<u8>, i64)]) {
    let opts = WriterOptions::with_classes(class, LongWritable::CLASS_NAME)
        .compression(Compression::Block(Codec::Default));
    let mut w = Writer::create(dir.join("index"), opts).expect("index writer");
    for (k, p) in entries {
        w.append_raw(k, &p.to_be_bytes()).expect("append");
    }
    w.finish().expect("finish");
}

#[test]
fn index_pointing_outside_the_data_names_index_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = victim(tmp.path());
    let data_len = std::fs::metadata(w.dir.join("data")).expect("data").len() as i64;
    let first = Reader::open(w.dir.join("data")).expect("data").header_len() as i64;
    let key = w.model.recs[0].0.clone();
    for (case, pos) in [
        ("index at the end of data", data_len),
        ("index past data", data_len + 1000),
        ("index far past data", i64::MAX),
        ("index inside the header", first - 1),
        ("index at 0", 0),
        ("negative index position", -5),
    ] {
        write_index(&w.dir, Text::CLASS_NAME, &[(key.clone(), first), (key.clone(), pos)]);
        let e = open_err(&w.dir, case);
        assert!(matches!(e.kind(), ErrorKind::BadIndex(_)), "{case}: {e}");
        assert_names(&e, &w.dir.join("index"), true, case);
        assert!(e.to_string().contains(&pos.to_string()), "{case}: position {pos} not shown: {e}");
    }
}

#[test]
fn index_out_of_order_names_index_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = victim(tmp.path());
    let first = Reader::open(w.dir.join("data")).expect("data").header_len() as i64;
    let (a, b) = (w.model.recs[0].0.clone(), w.model.recs[100].0.clone());
    write_index(&w.dir, Text::CLASS_NAME, &[(b.clone(), first), (a.clone(), first + 1)]);
    let e = open_err(&w.dir, "index out of order");
    assert!(matches!(e.kind(), ErrorKind::KeyOutOfOrder { .. }), "{e}");
    assert_names(&e, &w.dir.join("index"), true, "index out of order");
    let shown = e.to_string();
    let (sa, sb) = (display_key(Text::CLASS_NAME, &a), display_key(Text::CLASS_NAME, &b));
    assert!(shown.contains(&format!("key out of order: {sa} after {sb}")), "{shown}");

    // An index of another key class.
    write_index(&w.dir, IntWritable::CLASS_NAME, &[(0i32.to_be_bytes().to_vec(), first)]);
    let e = open_err(&w.dir, "index of IntWritable keys");
    assert!(matches!(e.kind(), ErrorKind::BadIndex(_)), "{e}");
    assert_names(&e, &w.dir.join("index"), false, "index of IntWritable keys");
}

#[test]
fn missing_or_broken_files_name_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = victim(tmp.path());
    let (data, index) = (w.dir.join("data"), w.dir.join("index"));
    let (data_bytes, index_bytes) = (std::fs::read(&data).unwrap(), std::fs::read(&index).unwrap());

    std::fs::remove_file(&data).unwrap();
    let e = open_err(&w.dir, "missing data");
    assert_names(&e, &data, false, "missing data");
    std::fs::write(&data, &data_bytes).unwrap();

    std::fs::remove_file(&index).unwrap();
    let e = open_err(&w.dir, "missing index");
    assert_names(&e, &index, false, "missing index");

    for cut in [0, 3, index_bytes.len() / 2, index_bytes.len() - 1] {
        std::fs::write(&index, &index_bytes[..cut]).unwrap();
        let case = format!("index cut to {cut} of {} bytes", index_bytes.len());
        let e = open_err(&w.dir, &case);
        assert_names(&e, &index, cut > 0, &case);
    }
    std::fs::write(&index, &index_bytes).unwrap();

    std::fs::write(&data, b"PAR1 this is not a SequenceFile").unwrap();
    let e = open_err(&w.dir, "data not a SequenceFile");
    assert!(matches!(e.kind(), ErrorKind::BadMagic(_)), "{e}");
    assert_names(&e, &data, true, "data not a SequenceFile");

    // Data cut short: opening may still work (the index fits), but reading
    // past the cut is an error naming the data file, never a panic.
    let cut = data_bytes.len() * 3 / 4;
    std::fs::write(&data, &data_bytes[..cut]).unwrap();
    let case = "data cut short";
    let d = w.dir.clone();
    let last = w.model.recs.last().unwrap().0.clone();
    let result = std::panic::catch_unwind(move || -> seqfile::Result<()> {
        let mut r = MapReader::open(&d)?;
        r.get(&last)?;
        r.final_key()?;
        while r.next_record()?.is_some() {}
        Ok(())
    })
    .unwrap_or_else(|_| panic!("{case}: panicked"));
    match result {
        Ok(()) => panic!("{case}: no error reading a map whose data was cut at {cut}"),
        Err(e) if e.path() == Some(index.as_path()) => assert_names(&e, &index, true, case),
        Err(e) => assert_names(&e, &data, true, case),
    }
}

#[test]
fn broken_bloom_files_name_bloom_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let w = victim(tmp.path());
    let bloom = w.dir.join("bloom");
    let bytes = std::fs::read(&bloom).unwrap();
    assert!(bytes.len() > 100, "bloom file of {} bytes", bytes.len());
    for cut in [0, 1, 4, 12, 13, 20, 24, 25, 30, 38, 39, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&bloom, &bytes[..cut]).unwrap();
        let case = format!("bloom cut to {cut} of {} bytes", bytes.len());
        let e = open_err(&w.dir, &case);
        assert_names(&e, &bloom, true, &case);
        // Without the filter the map still answers.
        let opts = MapReaderOptions { ignore_bloom: true, ..MapReaderOptions::default() };
        let mut r = MapReader::open_with(&w.dir, &opts).expect("open without bloom");
        let k = &w.model.recs[17].0;
        assert!(r.get(k).expect("get").is_some(), "{case}: get without the filter");
    }
    // Bad fields Hadoop rejects too: unknown hash type, absurd row counts,
    // a negative vector size.
    let patched = |at: usize, patch: &[u8]| {
        let mut b = bytes.clone();
        b[at..at + patch.len()].copy_from_slice(patch);
        std::fs::write(&bloom, &b).unwrap();
    };
    for (case, at, patch) in [
        ("hash type 7", 8, vec![7u8]),
        ("rows 2^31-1", 21, i32::MAX.to_be_bytes().to_vec()),
        ("rows -1", 21, (-1i32).to_be_bytes().to_vec()),
        ("vectorSize -8", 9, (-8i32).to_be_bytes().to_vec()),
        ("first row's vectorSize -8", 25 + 9, (-8i32).to_be_bytes().to_vec()),
    ] {
        patched(at, &patch);
        let e = open_err(&w.dir, case);
        assert_names(&e, &bloom, true, case);
    }
    // A huge filter-level nbHash: Hadoop never uses it (each row has its
    // own), so refusing it (naming file and offset) and ignoring it are both
    // fine; answering wrongly or panicking is not.
    let case = "filter-level nbHash 1000000";
    patched(4, &1_000_000i32.to_be_bytes());
    let d = w.dir.clone();
    let k = w.model.recs[17].0.clone();
    let result = std::panic::catch_unwind(move || {
        MapReader::open(&d).and_then(|mut r| Ok((r.probably_has_key(&k), r.get(&k)?.is_some())))
    })
    .unwrap_or_else(|_| panic!("{case}: panicked"));
    match result {
        Ok(answers) => assert_eq!(answers, (true, true), "{case}: a present key"),
        Err(e) => assert_names(&e, &bloom, true, case),
    }
}
