//! `mammoth userset …`: the exact username set (crate `userset`).
//!
//! `gen` writes test data (the 2011 challenge's generator and two variants),
//! `build` compresses a file of names into a set file, `check` and `verify`
//! look names up in a saved set, and `bench` runs the whole challenge beside
//! a 2011-style baseline in one process.

// Timings and ratios are printed, not stored: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use userset::generate::{Kind, generate};
use userset::{Progress, UserSet, build_file, check_file};

/// Exact username sets.
#[derive(Subcommand, Debug)]
pub(crate) enum UsersetCommand {
    /// Write N generated usernames, one per line.
    ///
    /// Default: the 2011 challenge's generator (gist 1189242: glibc
    /// `rand()` seeded with 718472382, runs of permutations of 6-11 distinct
    /// `[a-z0-9]` characters, exact duplicates dropped), byte-identical on
    /// every platform. `--iid`: the same alphabet and length law with
    /// independent names. `--realistic`: mixed-case names with digits, `_`
    /// and `.`, 3 to 32 bytes.
    Gen(GenArgs),
    /// Build a set file from a file of names.
    ///
    /// One name per line: any bytes except `\n`, up to 65,535 bytes; a `\r`
    /// before the `\n` is dropped, empty lines are skipped, duplicates and
    /// any order are fine, an empty file gives an empty set. Runs on all
    /// cores. The set file has a checksummed header and a format version;
    /// `check` and `verify` load it without rebuilding.
    Build(BuildArgs),
    /// Look names up in a set file.
    ///
    /// Reads names (one per line) from NAMES, or standard input when NAMES
    /// is `-` or missing, and prints how many are present. Exit status: 0
    /// when every name is present, 1 when some are absent, 2 on an error (as grep).
    Check(CheckArgs),
    /// Assert that every name of NAMES is in the set (the 2011 benchmark).
    ///
    /// Parallel, batched lookups over the whole file; prints the time and
    /// the first absent names with their byte offsets. Exit status: 0 when
    /// all are present, 1 when some are absent, 2 on an error (as grep).
    Verify(VerifyArgs),
    /// The 2011 challenge end to end: mammoth, `fst::Set` and a 2011-style
    /// baseline side by side, on the three kinds of names.
    ///
    /// For each input (by default N gist names, N `--iid` names and N
    /// `--realistic` names, generated into files one after the other)
    /// builds mammoth's set, an `fst::Set` (read the file, sort, build in
    /// memory) and the baseline (whole file in one buffer, u32 offsets,
    /// sort, binary search; one thread, as in 2011), and measures build time
    /// and peak memory (the high-water mark above the process's size before
    /// the build), structure bytes per name, verify-all time (every name in
    /// file order plus 4 absent ones; mammoth and fst on all threads) and
    /// random lookups per second (every 10th name, at most 10M, shuffled;
    /// the first 1M of them for fst and the baseline). Prints a table per
    /// input with the ratios and the information floor, then one summary
    /// table of all inputs.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub(crate) struct GenArgs {
    /// Number of names.
    n: u64,
    /// Independent names (same alphabet and length law, no runs).
    #[arg(long, conflicts_with = "realistic")]
    iid: bool,
    /// Real-looking usernames (mixed case, digits, `_`, `.`, up to 32 bytes).
    #[arg(long)]
    realistic: bool,
    /// Output file (default: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct BuildArgs {
    /// File of names, one per line.
    names: PathBuf,
    /// Set file to write (default: NAMES with `.uset` appended).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Set file.
    set: PathBuf,
    /// Names to look up, one per line (`-` or missing: standard input).
    names: Option<PathBuf>,
    /// Print every name with its answer (`present` or `absent`, a tab, the name).
    #[arg(long)]
    print: bool,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// Set file.
    set: PathBuf,
    /// Names that must all be present, one per line.
    names: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Number of names per input.
    #[arg(default_value_t = 100_000_000)]
    n: u64,
    /// Only the gist's names (default: all three kinds).
    #[arg(long, conflicts_with_all = ["iid", "realistic"])]
    gist: bool,
    /// Only independent names.
    #[arg(long, conflicts_with = "realistic")]
    iid: bool,
    /// Only real-looking usernames.
    #[arg(long)]
    realistic: bool,
    /// Skip the 2011-style baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Skip `fst::Set`.
    #[arg(long)]
    no_fst: bool,
    /// Use this file of names instead of generating names.
    #[arg(long, conflicts_with_all = ["gist", "iid", "realistic"])]
    names: Option<PathBuf>,
    /// Directory for the names and set files (default: a temporary
    /// directory, removed after).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Worker threads for mammoth's build and verify (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

pub(crate) fn run(cmd: UsersetCommand) -> Result<ExitCode> {
    match cmd {
        UsersetCommand::Gen(a) => gen_cmd(&a),
        UsersetCommand::Build(a) => build_cmd(&a),
        UsersetCommand::Check(a) => check_cmd(&a),
        UsersetCommand::Verify(a) => verify_cmd(&a),
        UsersetCommand::Bench(a) => bench_cmd(&a),
    }
}

fn kind(iid: bool, realistic: bool) -> Kind {
    if iid {
        Kind::Iid
    } else if realistic {
        Kind::Realistic
    } else {
        Kind::Gist
    }
}

fn threads(t: Option<usize>) -> usize {
    t.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
        .max(1)
}

/// indicatif behind the library's progress trait: one bar per phase.
struct Bar {
    bar: Mutex<Option<ProgressBar>>,
}

impl Bar {
    fn new() -> Self {
        Bar { bar: Mutex::new(None) }
    }
    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            b.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: u64) {
        let mut slot = self.bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
        let pb = ProgressBar::new(total);
        let template = if name == "sorting and compressing" {
            "{msg} [{bar:40}] {human_pos}/{human_len} names ({elapsed})"
        } else {
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})"
        };
        pb.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(name.to_owned());
        *slot = Some(pb);
    }
    fn advance(&self, done: u64) {
        if let Some(b) = self.bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref()
        {
            b.inc(done);
        }
    }
}

fn gen_cmd(a: &GenArgs) -> Result<ExitCode> {
    let kind = kind(a.iid, a.realistic);
    let start = Instant::now();
    let (stats, bytes) = match &a.output {
        Some(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let pb = ProgressBar::new(a.n);
            pb.set_style(
                ProgressStyle::with_template(
                    "generating [{bar:40}] {human_pos}/{human_len} names ({per_sec}, {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            let r = write_names(kind, a.n, BufWriter::with_capacity(1 << 20, f), Some(&pb))
                .with_context(|| format!("writing {}", path.display()))?;
            pb.finish_and_clear();
            r
        }
        None => {
            write_names(kind, a.n, BufWriter::with_capacity(1 << 20, io::stdout().lock()), None)?
        }
    };
    let to =
        a.output.as_ref().map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    eprintln!(
        "wrote {} {kind} names ({bytes} bytes; {} runs, {} duplicates dropped) to {to} in {:.1} s",
        stats.names,
        stats.runs,
        stats.duplicates,
        start.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn write_names(
    kind: Kind,
    n: u64,
    mut w: impl Write,
    pb: Option<&ProgressBar>,
) -> Result<(userset::generate::GenStats, u64)> {
    let mut bytes = 0u64;
    let mut count = 0u64;
    let stats = generate(kind, n, |name| {
        w.write_all(name)?;
        w.write_all(b"\n")?;
        bytes += name.len() as u64 + 1;
        count += 1;
        if let Some(pb) = pb
            && count.is_multiple_of(65_536)
        {
            pb.set_position(count);
        }
        Ok::<(), io::Error>(())
    })?;
    w.flush()?;
    Ok((stats, bytes))
}

fn build_cmd(a: &BuildArgs) -> Result<ExitCode> {
    let out = a.output.clone().unwrap_or_else(|| {
        let mut p = a.names.clone().into_os_string();
        p.push(".uset");
        PathBuf::from(p)
    });
    let start = Instant::now();
    let bar = Bar::new();
    let (set, stats) = build_file(&a.names, threads(a.threads), &bar)
        .with_context(|| format!("building from {}", a.names.display()))?;
    bar.finish();
    let built = start.elapsed();
    set.save(&out).with_context(|| format!("writing {}", out.display()))?;
    let s = set.stats();
    let file_len = std::fs::metadata(&out).map_or(0, |m| m.len());
    eprintln!(
        "built {} ({} names from {} lines, {} duplicates, {} empty lines skipped) in {:.2} s; \
         {} bytes = {:.3} bytes/name ({} coded over a {}-symbol alphabet, {} of them in the \
         anagram code; {} front-coded)",
        out.display(),
        stats.names,
        stats.lines,
        stats.lines - stats.names,
        stats.empty_lines,
        built.as_secs_f64(),
        file_len,
        per_name(file_len, s.names),
        s.coded,
        s.alphabet,
        s.anagram_coded,
        s.front_coded,
    );
    Ok(ExitCode::SUCCESS)
}

fn per_name(bytes: u64, names: u64) -> f64 {
    if names == 0 { 0.0 } else { bytes as f64 / names as f64 }
}

fn load(path: &Path) -> Result<UserSet> {
    UserSet::load(path).with_context(|| format!("loading set {}", path.display()))
}

/// Names per batched lookup in `check`.
const BATCH: usize = 4096;

fn check_cmd(a: &CheckArgs) -> Result<ExitCode> {
    let set = load(&a.set)?;
    let (input, label): (Box<dyn Read>, String) = match &a.names {
        Some(p) if p.as_os_str() != "-" => (
            Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
            p.display().to_string(),
        ),
        _ => (Box::new(io::stdin().lock()), "standard input".to_owned()),
    };
    let mut r = io::BufReader::with_capacity(1 << 20, input);
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut names, mut present) = (0u64, 0u64);
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut answers = vec![false; BATCH];
    let mut flush =
        |buf: &mut Vec<u8>, ends: &mut Vec<usize>, out: &mut BufWriter<_>| -> Result<()> {
            let mut refs = Vec::with_capacity(ends.len());
            let mut start = 0;
            for &e in ends.iter() {
                refs.push(&buf[start..e]);
                start = e;
            }
            set.contains_batch(&refs, &mut answers);
            for (name, &a_) in refs.iter().zip(&answers) {
                names += 1;
                present += u64::from(a_);
                if a.print {
                    out.write_all(if a_ { b"present\t" } else { b"absent\t" })?;
                    out.write_all(name)?;
                    out.write_all(b"\n")?;
                }
            }
            buf.clear();
            ends.clear();
            Ok(())
        };
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {label} at offset {offset}"))?;
        if n == 0 {
            break;
        }
        let mut name = line.as_slice();
        if let [rest @ .., b'\n'] = name {
            name = rest;
        }
        if let [rest @ .., b'\r'] = name {
            name = rest;
        }
        if name.len() > userset::MAX_NAME_LEN {
            bail!(
                "{label}: name at offset {offset} is {} bytes; names may be at most {} bytes",
                name.len(),
                userset::MAX_NAME_LEN
            );
        }
        offset += n as u64;
        if name.is_empty() {
            continue;
        }
        buf.extend_from_slice(name);
        ends.push(buf.len());
        if ends.len() == BATCH {
            flush(&mut buf, &mut ends, &mut out)?;
        }
    }
    flush(&mut buf, &mut ends, &mut out)?;
    out.flush()?;
    eprintln!("{present} of {names} names present, {} absent", names - present);
    Ok(if present == names { ExitCode::SUCCESS } else { crate::ui::NOT_FOUND })
}

fn verify_cmd(a: &VerifyArgs) -> Result<ExitCode> {
    let start = Instant::now();
    let set = load(&a.set)?;
    let loaded = start.elapsed();
    let bar = Bar::new();
    let t = Instant::now();
    let stats = check_file(&set, &a.names, threads(a.threads), &bar)
        .with_context(|| format!("reading {}", a.names.display()))?;
    bar.finish();
    let verified = t.elapsed();
    for (off, name) in &stats.absent_examples {
        eprintln!(
            "absent: {} (offset {off} of {})",
            String::from_utf8_lossy(name),
            a.names.display()
        );
    }
    eprintln!(
        "{} of {} names present ({} absent); load {:.2} s, verify {:.2} s ({:.1} M names/s)",
        stats.present,
        stats.names,
        stats.absent(),
        loaded.as_secs_f64(),
        verified.as_secs_f64(),
        stats.names as f64 / verified.as_secs_f64().max(1e-9) / 1e6
    );
    Ok(if stats.absent() == 0 { ExitCode::SUCCESS } else { crate::ui::NOT_FOUND })
}

// ---------------------------------------------------------------- bench

/// `VmRSS` and `VmHWM` of this process, in bytes (0 where unavailable).
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Measures the extra peak memory of `f` over the resident size before it
/// (Linux resets the high-water mark through `clear_refs`).
fn peak_of<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, u64)> {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (before, _) = rss();
    let v = f()?;
    let (_, hwm) = rss();
    Ok((v, hwm.saturating_sub(before)))
}

/// The 2011-style program: the whole file in one buffer with `\n` turned
/// into NUL, u32 offsets, sorted by comparing the strings, binary search.
struct Baseline {
    text: Vec<u8>,
    offs: Vec<u32>,
}

impl Baseline {
    fn load(path: &Path) -> Result<Baseline> {
        let mut text =
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if u32::try_from(text.len()).is_err() {
            bail!(
                "{}: the baseline's u32 offsets cannot address {} bytes",
                path.display(),
                text.len()
            );
        }
        let mut offs = Vec::new();
        let mut start = 0u32;
        for (i, b) in text.iter_mut().enumerate() {
            if *b == b'\n' {
                *b = 0;
                offs.push(start);
                start = i as u32 + 1;
            }
        }
        offs.shrink_to_fit();
        let t = &text;
        offs.sort_unstable_by(|&a, &b| cstr(t, a).cmp(cstr(t, b)));
        Ok(Baseline { text, offs })
    }

    fn contains(&self, name: &[u8]) -> bool {
        self.offs.binary_search_by(|&o| cstr(&self.text, o).cmp(name)).is_ok()
    }

    fn bytes(&self) -> u64 {
        (self.text.len() + 4 * self.offs.len()) as u64
    }
}

fn cstr(text: &[u8], off: u32) -> &[u8] {
    let s = &text[off as usize..];
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

struct Row {
    name: &'static str,
    bytes: u64,
    peak_build: u64,
    build: Duration,
    load: Option<Duration>,
    verify: Duration,
    verify_threads: usize,
    random_1: f64,
    random_batched: Option<f64>,
    random_all: Option<f64>,
}

/// Every 10th name (at most 10M) of the file, shuffled.
fn sample(path: &Path, n: u64) -> Result<(Vec<u8>, Vec<usize>)> {
    let want = (n / 10).clamp(1, 10_000_000) as usize;
    let text = std::fs::read(path)?;
    let mut names: Vec<&[u8]> =
        text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).step_by(10).take(want).collect();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for i in (1..names.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        names.swap(i, (x % (i as u64 + 1)) as usize);
    }
    let mut buf = Vec::with_capacity(names.iter().map(|n| n.len()).sum());
    let mut ends = Vec::with_capacity(names.len());
    for n in names {
        buf.extend_from_slice(n);
        ends.push(buf.len());
    }
    Ok((buf, ends))
}

fn refs<'a>(buf: &'a [u8], ends: &[usize]) -> Vec<&'a [u8]> {
    let mut start = 0;
    ends.iter()
        .map(|&e| {
            let r = &buf[start..e];
            start = e;
            r
        })
        .collect()
}

const ABSENT: [&[u8]; 4] = [b"not-a-user", b"aaaaaaaaaaaa", b"0", b"zzzzzzzzzzz9x"];

fn bench_cmd(a: &BenchArgs) -> Result<ExitCode> {
    let threads = threads(a.threads);
    let tmp;
    let dir = if let Some(d) = &a.dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        d.clone()
    } else {
        tmp = TempDir::new()?;
        tmp.0.clone()
    };
    let inputs: Vec<Option<Kind>> = if a.names.is_some() {
        vec![None]
    } else if a.gist || a.iid || a.realistic {
        vec![Some(kind(a.iid, a.realistic))]
    } else {
        vec![Some(Kind::Gist), Some(Kind::Iid), Some(Kind::Realistic)]
    };
    let mut summary = Vec::new();
    for input in inputs {
        let (label, names_path, names) = match (input, &a.names) {
            (None, Some(p)) => {
                let (_, stats) = build_file(p, threads, &())
                    .with_context(|| format!("reading {}", p.display()))?;
                if stats.names != stats.lines {
                    bail!(
                        "{}: {} duplicate names; the bench needs distinct names",
                        p.display(),
                        stats.lines - stats.names
                    );
                }
                println!("data: {} ({} names)", p.display(), stats.names);
                (p.display().to_string(), p.clone(), stats.names)
            }
            (kind, _) => {
                let kind = kind.unwrap_or(Kind::Gist);
                let names_path = dir.join(format!("names-{kind}-{}.txt", a.n));
                let t = Instant::now();
                let f = File::create(&names_path)
                    .with_context(|| format!("creating {}", names_path.display()))?;
                let (gstats, file_bytes) =
                    write_names(kind, a.n, BufWriter::with_capacity(1 << 20, f), None)?;
                println!(
                    "data: {} {kind} names, {file_bytes} bytes ({:.3} bytes/name with newlines), generated in {:.1} s",
                    gstats.names,
                    per_name(file_bytes, gstats.names),
                    t.elapsed().as_secs_f64()
                );
                (kind.to_string(), names_path, gstats.names)
            }
        };
        let set_path = dir.join(format!("names-{label}-{names}.uset").replace('/', "_"));
        let (qbuf, qends) = sample(&names_path, names)?;
        let queries = refs(&qbuf, &qends);
        let few = &queries[..queries.len().min(SLOW_QUERIES)];

        let mammoth = bench_mammoth(&names_path, &set_path, threads, &queries)?;
        let _ = std::fs::remove_file(&set_path);
        let fst = if a.no_fst { None } else { Some(bench_fst(&names_path, names, threads, few)?) };
        let baseline =
            if a.no_baseline { None } else { Some(bench_baseline(&names_path, names, few)?) };
        let floor = floor_bytes(&names_path)?;
        print_table(names, &mammoth, fst.as_ref(), baseline.as_ref(), floor);
        if input.is_some() {
            let _ = std::fs::remove_file(&names_path);
        }
        summary.push((label, names, mammoth, fst, baseline));
    }
    print_summary(&summary);
    Ok(ExitCode::SUCCESS)
}

/// Random lookups measured for the slow structures (fst, baseline).
const SLOW_QUERIES: usize = 1_000_000;

/// mammoth: build (peak memory), save, then load and verify as `verify` does.
fn bench_mammoth(
    names_path: &Path,
    set_path: &Path,
    threads: usize,
    queries: &[&[u8]],
) -> Result<Row> {
    let bar = Bar::new();
    let t = Instant::now();
    let ((set, _), peak_build) = peak_of(|| Ok(build_file(names_path, threads, &bar)?))?;
    let build = t.elapsed();
    bar.finish();
    set.save(set_path)?;
    let s = set.stats();
    drop(set);
    let t = Instant::now();
    let set = load(set_path)?;
    let load_time = t.elapsed();
    let t = Instant::now();
    let check = check_file(&set, names_path, threads, &())?;
    let absent_found = ABSENT.iter().filter(|n| set.contains(n)).count();
    let verify = t.elapsed();
    if check.absent() != 0 || absent_found != 0 {
        bail!(
            "mammoth: {} names missing (first at offset {:?}), {absent_found} absent names found",
            check.absent(),
            check.absent_examples.first().map(|e| e.0)
        );
    }
    let random_1 = rate(queries.len(), || queries.iter().filter(|q| set.contains(q)).count())?;
    let random_batched = rate(queries.len(), || set.count_present(queries))?;
    let random_all = rate(queries.len(), || {
        std::thread::scope(|sc| {
            let per = queries.len().div_ceil(threads).max(1);
            let hs: Vec<_> =
                queries.chunks(per).map(|c| sc.spawn(|| set.count_present(c))).collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        })
    })?;
    println!(
        "mammoth set: {} names, {} coded over a {}-symbol alphabet ({} in the anagram code), \
         {} front-coded; set file {} bytes",
        s.names,
        s.coded,
        s.alphabet,
        s.anagram_coded,
        s.front_coded,
        std::fs::metadata(set_path).map_or(0, |m| m.len()),
    );
    Ok(Row {
        name: "mammoth",
        bytes: s.heap_bytes,
        peak_build,
        build,
        load: Some(load_time),
        verify,
        verify_threads: threads,
        random_1,
        random_batched: Some(random_batched),
        random_all: Some(random_all),
    })
}

/// The 2011-style program, one thread: load and index, verify every name
/// in file order, random lookups.
fn bench_baseline(names_path: &Path, names: u64, queries: &[&[u8]]) -> Result<Row> {
    let t = Instant::now();
    let (base, peak) = peak_of(|| Baseline::load(names_path))?;
    let build = t.elapsed();
    let t = Instant::now();
    let mut found = 0u64;
    let mut f = io::BufReader::with_capacity(1 << 20, File::open(names_path)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if f.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !line.is_empty() {
            found += u64::from(base.contains(&line));
        }
    }
    let absent_found = ABSENT.iter().filter(|n| base.contains(n)).count();
    let verify = t.elapsed();
    if found != names || absent_found != 0 {
        bail!("baseline: found {found} of {names} names and {absent_found} absent ones");
    }
    let random_1 = rate(queries.len(), || queries.iter().filter(|q| base.contains(q)).count())?;
    Ok(Row {
        name: "2011-style baseline",
        bytes: base.bytes(),
        peak_build: peak,
        build,
        load: None,
        verify,
        verify_threads: 1,
        random_1,
        random_batched: None,
        random_all: None,
    })
}

/// `fst::Set`: read the file, sort and de-duplicate the names, build the
/// automaton in memory; verify on all threads (the file split at line
/// ends), random lookups on one thread and on all.
fn bench_fst(names_path: &Path, names: u64, threads: usize, queries: &[&[u8]]) -> Result<Row> {
    let t = Instant::now();
    let (set, peak) = peak_of(|| {
        let text = std::fs::read(names_path)
            .with_context(|| format!("reading {}", names_path.display()))?;
        let mut lines = lines_of(&text);
        lines.sort_unstable();
        lines.dedup();
        let mut b = fst::SetBuilder::memory();
        for n in lines {
            b.insert(n).context("building the fst")?;
        }
        Ok(fst::Set::new(b.into_inner().context("building the fst")?)?)
    })?;
    let build = t.elapsed();
    let t = Instant::now();
    let text =
        std::fs::read(names_path).with_context(|| format!("reading {}", names_path.display()))?;
    let found: u64 = std::thread::scope(|sc| {
        let parts = split_at_lines(&text, threads);
        let set = &set;
        let hs: Vec<_> = parts
            .into_iter()
            .map(|part| {
                sc.spawn(move || lines_of(part).iter().filter(|n| set.contains(n)).count() as u64)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    drop(text);
    let absent_found = ABSENT.iter().filter(|n| set.contains(n)).count();
    let verify = t.elapsed();
    if found != names || absent_found != 0 {
        bail!("fst: found {found} of {names} names and {absent_found} absent ones");
    }
    let random_1 = rate(queries.len(), || queries.iter().filter(|q| set.contains(q)).count())?;
    let random_all = rate(queries.len(), || {
        std::thread::scope(|sc| {
            let per = queries.len().div_ceil(threads).max(1);
            let set = &set;
            let hs: Vec<_> = queries
                .chunks(per)
                .map(|c| sc.spawn(move || c.iter().filter(|q| set.contains(q)).count()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        })
    })?;
    Ok(Row {
        name: "fst::Set",
        bytes: set.as_fst().as_bytes().len() as u64,
        peak_build: peak,
        build,
        load: None,
        verify,
        verify_threads: threads,
        random_1,
        random_batched: None,
        random_all: Some(random_all),
    })
}

/// The non-empty lines of `text` (without `\r` before the `\n`).
fn lines_of(text: &[u8]) -> Vec<&[u8]> {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
        .collect()
}

/// `text` in up to `parts` pieces that end at line ends.
fn split_at_lines(text: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = text;
    for i in (1..=parts.max(1)).rev() {
        if rest.is_empty() {
            break;
        }
        let mut cut = rest.len() / i;
        while cut < rest.len() && cut > 0 && rest[cut - 1] != b'\n' {
            cut += 1;
        }
        let (a, b) = rest.split_at(cut.max(1).min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

fn print_table(
    n: u64,
    mammoth: &Row,
    fst: Option<&Row>,
    baseline: Option<&Row>,
    floor: (f64, usize),
) {
    println!();
    println!(
        "| {:<20} | {:>10} | {:>13} | {:>8} | {:>7} | {:>14} | {:>14} | {:>15} | {:>14} |",
        "structure",
        "bytes/name",
        "peak build MB",
        "build s",
        "load s",
        "verify-all s",
        "random 1 thr",
        "batched 1 thr",
        "batched all"
    );
    println!(
        "|{:-<22}|{:->12}|{:->15}|{:->10}|{:->9}|{:->16}|{:->16}|{:->17}|{:->16}|",
        "", "", "", "", "", "", "", "", ""
    );
    for r in std::iter::once(mammoth).chain(fst).chain(baseline) {
        println!(
            "| {:<20} | {:>10.3} | {:>13.0} | {:>8.2} | {:>7} | {:>14} | {:>14} | {:>15} | {:>14} |",
            r.name,
            per_name(r.bytes, n),
            r.peak_build as f64 / 1e6,
            r.build.as_secs_f64(),
            r.load.map_or_else(|| "-".to_owned(), |d| format!("{:.2}", d.as_secs_f64())),
            format!("{:.2} ({} thr)", r.verify.as_secs_f64(), r.verify_threads),
            format!("{:.2} M/s", r.random_1 / 1e6),
            r.random_batched.map_or_else(|| "-".to_owned(), |v| format!("{:.2} M/s", v / 1e6)),
            r.random_all.map_or_else(|| "-".to_owned(), |v| format!("{:.2} M/s", v / 1e6)),
        );
    }
    println!();
    if let Some(f) = fst {
        println!(
            "mammoth vs fst::Set: {:.2}x the bytes, {:.2}x the build time, {:.2}x the verify-all time, \
             {:.1}x the random lookups/s (all threads)",
            mammoth.bytes as f64 / f.bytes.max(1) as f64,
            mammoth.build.as_secs_f64() / f.build.as_secs_f64().max(1e-9),
            mammoth.verify.as_secs_f64() / f.verify.as_secs_f64().max(1e-9),
            mammoth.random_all.unwrap_or(0.0) / f.random_all.unwrap_or(f.random_1).max(1e-9),
        );
    }
    if let Some(b) = baseline {
        println!(
            "mammoth vs baseline: {:.1}x less memory, {:.1}x less peak build memory, build {:.1}x faster, \
             verify-all {:.1}x faster, random lookups {:.1}x faster (1 thread, batched) / {:.1}x (all threads)",
            b.bytes as f64 / mammoth.bytes.max(1) as f64,
            b.peak_build as f64 / mammoth.peak_build.max(1) as f64,
            b.build.as_secs_f64() / mammoth.build.as_secs_f64(),
            b.verify.as_secs_f64() / mammoth.verify.as_secs_f64(),
            mammoth.random_batched.unwrap_or(0.0) / b.random_1,
            mammoth.random_all.unwrap_or(0.0) / b.random_1,
        );
    }
    println!(
        "information floor (random set with this length mix over the {}-symbol alphabet): {:.3} bytes/name; mammoth is {:+.1}% of it",
        floor.1,
        floor.0,
        (per_name(mammoth.bytes, n) / floor.0 - 1.0) * 100.0
    );
}

type Measured = (String, u64, Row, Option<Row>, Option<Row>);

/// One line per input and structure: the figures #31 asks about.
fn print_summary(all: &[Measured]) {
    println!();
    println!("summary (random lookups: all threads where measured, else one)");
    println!(
        "| {:<10} | {:>11} | {:<20} | {:>10} | {:>8} | {:>12} | {:>14} |",
        "input", "names", "structure", "bytes/name", "build s", "verify-all s", "random lookups"
    );
    println!(
        "|{:-<12}|{:->13}|{:-<22}|{:->12}|{:->10}|{:->14}|{:->16}|",
        "", "", "", "", "", "", ""
    );
    for (label, n, m, f, b) in all {
        for r in std::iter::once(m).chain(f).chain(b) {
            println!(
                "| {:<10} | {:>11} | {:<20} | {:>10.3} | {:>8.2} | {:>12.2} | {:>10.2} M/s |",
                label,
                n,
                r.name,
                per_name(r.bytes, *n),
                r.build.as_secs_f64(),
                r.verify.as_secs_f64(),
                r.random_all.unwrap_or(r.random_1) / 1e6,
            );
        }
    }
}

/// Lookups per second of `f` over `n` queries (which must all be found).
fn rate(n: usize, f: impl FnOnce() -> usize) -> Result<f64> {
    let t = Instant::now();
    let found = f();
    let secs = t.elapsed().as_secs_f64();
    if found != n {
        bail!("random lookups: {found} of {n} present names found");
    }
    Ok(n as f64 / secs.max(1e-9))
}

/// `log2 C(σ^L, n_L)` summed over the name lengths `L`, in bytes per name, and `σ`.
fn floor_bytes(path: &Path) -> Result<(f64, usize)> {
    let mut per_len: std::collections::BTreeMap<usize, u64> = std::collections::BTreeMap::new();
    let mut present = [false; 256];
    let mut f = io::BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut line = Vec::new();
    let mut total = 0u64;
    loop {
        line.clear();
        if f.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        for &b in &line {
            present[usize::from(b)] = true;
        }
        *per_len.entry(line.len()).or_default() += 1;
        total += 1;
    }
    let sigma = present.iter().filter(|&&p| p).count();
    let bits: f64 = per_len
        .iter()
        .map(|(&len, &n)| log2_binomial(len as f64 * (sigma.max(2) as f64).log2(), n as f64))
        .sum();
    Ok((bits / 8.0 / (total.max(1) as f64), sigma))
}

/// `log2 C(U, n)` for `U = 2^log2_u` (Stirling; exact enough for sizes here).
fn log2_binomial(log2_u: f64, n: f64) -> f64 {
    if n < 1.0 {
        return 0.0;
    }
    let ln_fact = |x: f64| {
        if x < 1.0 {
            0.0
        } else {
            x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
        }
    };
    let u = log2_u.exp2();
    let ln_u = log2_u * std::f64::consts::LN_2;
    // ln(U! / (U-n)!) = n ln U + (U - n) ln(U / (U - n)) - n, to first order.
    let ratio = n / u;
    let falling = if ratio < 1.0 { n * ln_u - (u - n) * (-ratio).ln_1p() - n } else { ln_fact(u) };
    (falling - ln_fact(n)) / std::f64::consts::LN_2
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let base = std::env::temp_dir();
        for i in 0..1000u32 {
            let p = base.join(format!("mammoth-userset-{}-{i}", std::process::id()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        bail!("cannot create a temporary directory in {}", base.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::log2_binomial;

    #[test]
    fn binomial_floor() {
        // log2 C(2^20, 1000) = 10,000.9... by direct summation.
        let exact: f64 = (0..1000)
            .map(|i| ((1u64 << 20) as f64 - f64::from(i)).log2() - f64::from(i + 1).log2())
            .sum();
        assert!(
            (log2_binomial(20.0, 1000.0) - exact).abs() < 0.5,
            "{} vs {exact}",
            log2_binomial(20.0, 1000.0)
        );
    }
}
