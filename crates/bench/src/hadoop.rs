//! SequenceFile and MapFile benchmarks, mammoth beside real Hadoop.
//!
//! [`seq`] builds one data set (the definition is shared with the Java side,
//! `interop/hadoop/README.md`), writes and reads it with mammoth and with
//! real Hadoop, and reports throughput and the ratio. [`map`] builds maps of
//! the same data and times random lookups of present and absent keys. The
//! Hadoop side runs through the peer harness in `interop/hadoop` (its
//! `setup.sh` installs a JDK and Hadoop's jars once).

// Throughput figures are printed, not stored: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use seqfile::map::{MapReader, MapWriter, MapWriterOptions};
use seqfile::writable::Text;
use seqfile::{Codec, Compression, Reader, Writer, WriterOptions};

/// `bench seq`: what to measure.
#[derive(Clone, Debug)]
pub struct SeqBench {
    /// Records in the data set.
    pub records: u64,
    /// Rounds per measurement; the best round counts.
    pub rounds: u32,
    /// Formats: `none`, `block-snappy`, `block-deflate`, `record-deflate`.
    pub formats: Vec<String>,
    /// Directory for the files (`None`: a temporary directory, removed after).
    pub dir: Option<PathBuf>,
    /// The Hadoop peer harness directory (`None`: mammoth figures only).
    pub hadoop_peer: Option<PathBuf>,
}

impl Default for SeqBench {
    fn default() -> SeqBench {
        SeqBench {
            records: 1_000_000,
            rounds: 3,
            formats: SEQ_FORMATS.iter().map(|s| (*s).to_owned()).collect(),
            dir: None,
            hadoop_peer: None,
        }
    }
}

/// Every format [`seq`] knows.
pub const SEQ_FORMATS: [&str; 4] = ["none", "block-snappy", "block-deflate", "record-deflate"];

/// Every format [`map`] knows.
pub const MAP_FORMATS: [&str; 4] =
    ["map-none", "map-block-deflate", "bloom-none", "bloom-block-deflate"];

/// `bench map`: what to measure.
#[derive(Clone, Debug)]
pub struct MapBench {
    /// Records in the map.
    pub records: u64,
    /// Lookups per measurement (present and absent each).
    pub lookups: u64,
    /// Rounds per measurement; the best round counts.
    pub rounds: u32,
    /// Formats: `map-none`, `map-block-deflate`, `bloom-none`, `bloom-block-deflate`.
    pub formats: Vec<String>,
    /// Directory for the maps (`None`: a temporary directory, removed after).
    pub dir: Option<PathBuf>,
    /// Raw bytes per block of mammoth's BLOCK map data (Hadoop always uses
    /// its 1,000,000 default).
    pub block_size: usize,
    /// The Hadoop peer harness directory (`None`: mammoth figures only).
    pub hadoop_peer: Option<PathBuf>,
}

impl Default for MapBench {
    fn default() -> MapBench {
        MapBench {
            records: 1_000_000,
            lookups: 100_000,
            rounds: 3,
            formats: MAP_FORMATS.iter().map(|s| (*s).to_owned()).collect(),
            dir: None,
            block_size: seqfile::map::DEFAULT_MAP_BLOCK_SIZE,
            hadoop_peer: None,
        }
    }
}

/// One measured operation: mammoth's best time and the peer's.
#[derive(Clone, Debug)]
pub struct Row {
    /// The format (`block-snappy`, `bloom-none`, …).
    pub format: String,
    /// The operation (`write`, `read`, `get-present`, …).
    pub op: &'static str,
    /// mammoth's best round, milliseconds.
    pub mammoth_ms: f64,
    /// Hadoop's best round, milliseconds, when the peer ran.
    pub hadoop_ms: Option<f64>,
}

/// Which table a [`Table`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Seq { raw_bytes: u64 },
    Map { lookups: u64, block_size: usize },
}

/// A benchmark's result; `Display` prints it as the command line shows it.
#[derive(Clone, Debug)]
pub struct Table {
    /// The measurements.
    pub rows: Vec<Row>,
    /// Records in the data set.
    pub records: u64,
    /// Rounds per measurement.
    pub rounds: u32,
    /// Whether the Hadoop side ran.
    pub with_hadoop: bool,
    kind: Kind,
}

/// The shared data set: key `key-%010d`, value 100 letters from one LCG.
pub fn dataset(n: u64) -> Vec<(Text, Text)> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            let value: Vec<u8> = (0..100)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    b'a' + ((state >> 33) % 26) as u8
                })
                .collect();
            (Text::from(format!("key-{i:010}")), Text(value.into()))
        })
        .collect()
}

fn compression_of(format: &str) -> Result<Compression> {
    Ok(match format {
        "none" => Compression::None,
        "block-snappy" => Compression::Block(Codec::Snappy),
        "block-deflate" => Compression::Block(Codec::Default),
        "record-deflate" => Compression::Record(Codec::Default),
        other => {
            bail!("unknown format {other:?} (none, block-snappy, block-deflate, record-deflate)")
        }
    })
}

fn best<T>(rounds: u32, mut f: impl FnMut() -> Result<T>) -> Result<(Duration, T)> {
    let mut best: Option<(Duration, T)> = None;
    for _ in 0..rounds.max(1) {
        let t = Instant::now();
        let v = f()?;
        let d = t.elapsed();
        if best.as_ref().is_none_or(|(b, _)| d < *b) {
            best = Some((d, v));
        }
    }
    best.context("no rounds")
}

fn write_file(path: &Path, compression: Compression, data: &[(Text, Text)]) -> Result<()> {
    let mut w = Writer::create(path, WriterOptions::new::<Text, Text>().compression(compression))?;
    for (k, v) in data {
        w.append(k, v)?;
    }
    w.finish()?;
    Ok(())
}

/// Reads and decodes every record as Text/Text (what Hadoop's `next(Text, Text)`
/// does), borrowing the bytes instead of copying them into reused objects.
fn read_file(path: &Path) -> Result<u64> {
    let mut r = Reader::open(path)?;
    let mut n = 0;
    while let Some(rec) = r.next_ref()? {
        std::hint::black_box((Text::payload(rec.key)?, Text::payload(rec.value)?));
        n += 1;
    }
    Ok(n)
}

fn read_split(path: &Path, splits: usize) -> Result<u64> {
    let counts = seqfile::split::read_parallel(
        path,
        splits,
        || 0u64,
        |n, rec| {
            std::hint::black_box((Text::payload(rec.key)?, Text::payload(rec.value)?));
            *n += 1;
            Ok(())
        },
    )?;
    Ok(counts.iter().sum())
}

/// Writes and reads the data set in each format, with mammoth and (when
/// `hadoop_peer` is set) with real Hadoop. `log` hears what is running.
///
/// # Errors
/// An unknown format, a file error, a read that does not give back what
/// was written, or a failing peer.
pub fn seq(a: &SeqBench, log: &mut dyn FnMut(&str)) -> Result<Table> {
    let work = WorkDir::new(a.dir.as_deref())?;
    let dir = work.path();
    for f in &a.formats {
        compression_of(f)?;
    }
    log(&format!("generating {} records", a.records));
    let data = dataset(a.records);
    let raw_bytes: u64 = data.iter().map(|(k, v)| (k.0.len() + 1 + v.0.len() + 1) as u64).sum();
    let mut rows = Vec::new();
    for format in &a.formats {
        let compression = compression_of(format)?;
        let path = dir.join(format!("mammoth-{format}.seq"));
        log(&format!("mammoth: {format}"));
        let (write_time, ()) = best(a.rounds, || write_file(&path, compression, &data))?;
        let (read_time, read_count) = best(a.rounds, || read_file(&path))?;
        if read_count != a.records {
            bail!("{}: read {read_count} records, wrote {}", path.display(), a.records);
        }
        let (split_time, split_count) = best(a.rounds, || read_split(&path, 2))?;
        if split_count != a.records {
            bail!(
                "{}: split reading found {split_count} records, wrote {}",
                path.display(),
                a.records
            );
        }
        for (op, time) in
            [("write", write_time), ("read", read_time), ("read, 2 splits", split_time)]
        {
            rows.push(Row { format: format.clone(), op, mammoth_ms: ms(time), hadoop_ms: None });
        }
    }
    drop(data);
    if let Some(peer) = &a.hadoop_peer {
        log("hadoop: running the peer (this takes a while)");
        let args = [
            "bench-seq".to_owned(),
            dir.display().to_string(),
            a.records.to_string(),
            "--rounds".to_owned(),
            a.rounds.to_string(),
            "--formats".to_owned(),
            a.formats.join(","),
        ];
        merge_hadoop(&mut rows, run_hadoop(peer, &args)?, a.records)?;
    }
    Ok(Table {
        rows,
        records: a.records,
        rounds: a.rounds,
        with_hadoop: a.hadoop_peer.is_some(),
        kind: Kind::Seq { raw_bytes },
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The lookup keys shared with the Java side: `n` present keys drawn by an
/// LCG, then `n` absent ones (a drawn key followed by "x").
pub fn lookup_keys(records: u64, n: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut draw = || {
        state =
            state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % records.max(1)
    };
    let ser = |s: String| {
        let mut v = Vec::new();
        seqfile::writable::Writable::write_to(&Text::from(s), &mut v);
        v
    };
    let present = (0..n).map(|_| ser(format!("key-{:010}", draw()))).collect();
    let absent = (0..n).map(|_| ser(format!("key-{:010}x", draw()))).collect();
    (present, absent)
}

fn map_options(format: &str) -> Result<MapWriterOptions> {
    let (bloom, data) = format.split_once('-').context("format")?;
    let c = match data {
        "none" => Compression::None,
        "block-deflate" => Compression::Block(Codec::Default),
        "block-snappy" => Compression::Block(Codec::Snappy),
        "record-deflate" => Compression::Record(Codec::Default),
        other => bail!("unknown data layout {other:?} in {format:?}"),
    };
    let opts = MapWriterOptions::new::<Text, Text>().compression(c);
    match bloom {
        "map" => Ok(opts),
        "bloom" => Ok(opts.bloom_default()),
        other => bail!("unknown map kind {other:?} in {format:?} (map-… or bloom-…)"),
    }
}

/// Builds a map of the data set in each format and times random lookups of
/// present and absent keys, with mammoth and (when `hadoop_peer` is set)
/// with real Hadoop. `log` hears what is running.
///
/// # Errors
/// An unknown format, a file error, a lookup with the wrong answer, or a
/// failing peer.
pub fn map(a: &MapBench, log: &mut dyn FnMut(&str)) -> Result<Table> {
    let work = WorkDir::new(a.dir.as_deref())?;
    let dir = work.path();
    for f in &a.formats {
        map_options(f)?;
    }
    log(&format!("generating {} records and {} lookups", a.records, a.lookups));
    let data = dataset(a.records);
    let (present, absent) = lookup_keys(a.records, a.lookups);
    let mut rows = Vec::new();
    for format in &a.formats {
        let opts = map_options(format)?.block_size(a.block_size);
        let path = dir.join(format!("mammoth-{format}"));
        log(&format!("mammoth: {format}"));
        let (build, ()) = best(1, || {
            let mut w = MapWriter::create(&path, opts.clone())?;
            for (k, v) in &data {
                w.append(k, v)?;
            }
            Ok(w.finish()?)
        })?;
        let mut r = MapReader::open(&path)?;
        let (hit, found) = best(a.rounds, || {
            let mut n = 0u64;
            for k in &present {
                n += u64::from(r.get(k)?.is_some());
            }
            Ok(n)
        })?;
        if found != a.lookups {
            bail!("{}: found {found} of {} present keys", path.display(), a.lookups);
        }
        let (miss, wrongly) = best(a.rounds, || {
            let mut n = 0u64;
            for k in &absent {
                n += u64::from(r.get(k)?.is_some());
            }
            Ok(n)
        })?;
        if wrongly != 0 {
            bail!("{}: found {wrongly} absent keys", path.display());
        }
        for (op, time) in [("build", build), ("get-present", hit), ("get-absent", miss)] {
            rows.push(Row { format: format.clone(), op, mammoth_ms: ms(time), hadoop_ms: None });
        }
    }
    drop(data);
    if let Some(peer) = &a.hadoop_peer {
        log("hadoop: running the peer (this takes a while)");
        let args = [
            "bench-map".to_owned(),
            dir.display().to_string(),
            a.records.to_string(),
            "--lookups".to_owned(),
            a.lookups.to_string(),
            "--rounds".to_owned(),
            a.rounds.to_string(),
            "--formats".to_owned(),
            a.formats.join(","),
        ];
        merge_hadoop(&mut rows, run_hadoop(peer, &args)?, a.records)?;
    }
    Ok(Table {
        rows,
        records: a.records,
        rounds: a.rounds,
        with_hadoop: a.hadoop_peer.is_some(),
        kind: Kind::Map { lookups: a.lookups, block_size: a.block_size },
    })
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Seq { raw_bytes } => self.fmt_seq(f, raw_bytes),
            Kind::Map { lookups, block_size } => self.fmt_map(f, lookups, block_size),
        }
    }
}

impl Table {
    fn fmt_seq(&self, f: &mut fmt::Formatter<'_>, raw_bytes: u64) -> fmt::Result {
        let mbps = |ms: f64| raw_bytes as f64 / 1e6 / (ms / 1000.0);
        writeln!(
            f,
            "SequenceFile throughput, {} Text/Text records ({:.1} MB serialized), best of {} rounds",
            self.records,
            raw_bytes as f64 / 1e6,
            self.rounds
        )?;
        writeln!(
            f,
            "{:<15} {:<15} {:>13} {:>20} {:>8}",
            "format", "operation", "mammoth MB/s", "Hadoop MB/s", "ratio"
        )?;
        for r in &self.rows {
            let (h, ratio) = match r.hadoop_ms {
                Some(h) => (format!("{:.0}", mbps(h)), format!("{:.2}x", h / r.mammoth_ms)),
                None if r.op == "read, 2 splits" && self.with_hadoop => {
                    // Hadoop's single-threaded reader is the baseline for split reading.
                    match self
                        .rows
                        .iter()
                        .find(|x| x.format == r.format && x.op == "read")
                        .and_then(|x| x.hadoop_ms)
                    {
                        Some(h) => (
                            format!("{:.0} (1 thread)", mbps(h)),
                            format!("{:.2}x", h / r.mammoth_ms),
                        ),
                        None => ("-".into(), "-".into()),
                    }
                }
                None => ("-".into(), "-".into()),
            };
            writeln!(
                f,
                "{:<15} {:<15} {:>13.0} {:>20} {:>8}",
                r.format,
                r.op,
                mbps(r.mammoth_ms),
                h,
                ratio
            )?;
        }
        Ok(())
    }

    fn fmt_map(&self, f: &mut fmt::Formatter<'_>, lookups: u64, block_size: usize) -> fmt::Result {
        writeln!(
            f,
            "MapFile lookups: {} Text/Text records, {lookups} random gets per row, best of {} rounds \
             (build: one round); BLOCK data in {block_size}-byte blocks (mammoth) vs 1000000 (Hadoop)",
            self.records, self.rounds
        )?;
        writeln!(
            f,
            "{:<22} {:<12} {:>14} {:>14} {:>8}",
            "format", "operation", "mammoth", "Hadoop", "ratio"
        )?;
        for r in &self.rows {
            let rate = |ms: f64| {
                if r.op == "build" {
                    format!("{:.0} rec/s", self.records as f64 / (ms / 1000.0))
                } else {
                    format!("{:.0} get/s", lookups as f64 / (ms / 1000.0))
                }
            };
            let (h, ratio) = r.hadoop_ms.map_or_else(
                || ("-".into(), "-".into()),
                |h| (rate(h), format!("{:.2}x", h / r.mammoth_ms)),
            );
            writeln!(
                f,
                "{:<22} {:<12} {:>14} {:>14} {:>8}",
                r.format,
                r.op,
                rate(r.mammoth_ms),
                h,
                ratio
            )?;
        }
        Ok(())
    }
}

/// Puts the peer's best times into the matching rows; every line must be
/// about the same number of records as mammoth's side.
fn merge_hadoop(rows: &mut [Row], lines: Vec<serde_json::Value>, records: u64) -> Result<()> {
    for v in lines {
        let (Some(format), Some(op), Some(ms)) =
            (v["format"].as_str(), v["op"].as_str(), v["best_ms"].as_f64())
        else {
            continue;
        };
        if v["records"].as_u64() != Some(records) {
            bail!("Hadoop reported {} records for {format} {op}", v["records"]);
        }
        for row in rows.iter_mut().filter(|r| r.format == format && r.op == op) {
            row.hadoop_ms = Some(ms);
        }
    }
    Ok(())
}

/// Runs one benchmark command of the Hadoop peer with a full JIT (not the
/// C1-only start-up mode `peer.sh` uses) and returns its JSON lines.
fn run_hadoop(peer: &Path, args: &[String]) -> Result<Vec<serde_json::Value>> {
    let setup = peer.join("setup.sh");
    if !setup.exists() {
        bail!(
            "{}: not found; run from the repository root, pass --peer DIR, or use --no-hadoop",
            setup.display()
        );
    }
    let status = Command::new(&setup).stdout(std::process::Stdio::null()).status()?;
    if !status.success() {
        bail!("{} failed", setup.display());
    }
    let home = std::env::var_os("HADOOP_PEER_HOME").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/mammoth/hadoop-peer")
        },
        PathBuf::from,
    );
    let script = format!(
        ". '{}/env.sh' && exec java -XX:+UseParallelGC -Xms2g -Xmx4g -cp \"$HADOOP_PEER_CP\" HadoopPeer \"$@\"",
        home.display()
    );
    let out = Command::new("bash").arg("-c").arg(&script).arg("hadoop-peer").args(args).output()?;
    if !out.status.success() {
        bail!("Hadoop peer failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("peer printed {l:?}")))
        .collect()
}

/// Where a benchmark puts its files: a given directory (kept), or a
/// temporary one removed on drop.
enum WorkDir {
    Given(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    fn new(given: Option<&Path>) -> Result<WorkDir> {
        Ok(match given {
            Some(d) => {
                std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                WorkDir::Given(d.to_path_buf())
            }
            None => WorkDir::Temp(
                tempfile::Builder::new()
                    .prefix("mammoth-bench-")
                    .tempdir()
                    .context("creating a temporary directory")?,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            WorkDir::Given(p) => p,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_is_fixed() {
        let d = dataset(2);
        assert_eq!(d[0].0.to_string(), "key-0000000000");
        assert_eq!(d[1].0.to_string(), "key-0000000001");
        assert_eq!(d[0].1.0.len(), 100);
        assert!(d[0].1.0.iter().all(u8::is_ascii_lowercase));
        assert_ne!(d[0].1, d[1].1);
    }
}
