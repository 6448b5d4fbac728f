//! `mammoth userset …`: the exact username set (crate `userset`).
//!
//! `gen` writes test data (the 2011 challenge's generator and two variants),
//! `build` compresses a file of names into a set file, `check` and `verify`
//! look names up in a saved set, and `bench` runs the whole challenge beside
//! `fst::Set` and a 2011-style array in one process (the harness is
//! `mammoth_bench::userset`).

// Timings and ratios are printed, not stored: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use userset::generate::Kind;
use userset::{Progress, UserSet, build_file, check_file, check_reader};

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
    w: impl Write,
    pb: Option<&ProgressBar>,
) -> Result<(userset::generate::GenStats, u64)> {
    let mut progress = |count| {
        if let Some(pb) = pb {
            pb.set_position(count);
        }
    };
    Ok(userset::generate::write_lines(kind, n, w, &mut progress)?)
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

fn check_cmd(a: &CheckArgs) -> Result<ExitCode> {
    let set = load(&a.set)?;
    let (input, label): (Box<dyn Read>, String) = match &a.names {
        Some(p) if p.as_os_str() != "-" => (
            Box::new(File::open(p).with_context(|| format!("opening {}", p.display()))?),
            p.display().to_string(),
        ),
        _ => (Box::new(io::stdin().lock()), "standard input".to_owned()),
    };
    let r = io::BufReader::with_capacity(1 << 20, input);
    let mut out = BufWriter::new(io::stdout().lock());
    let mut print = |name: &[u8], found: bool| {
        if a.print {
            out.write_all(if found { b"present\t" } else { b"absent\t" })?;
            out.write_all(name)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    let (names, present) =
        check_reader(&set, r, &mut print).with_context(|| format!("checking {label}"))?;
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

fn bench_cmd(a: &BenchArgs) -> Result<ExitCode> {
    let inputs = if a.names.is_some() {
        Vec::new()
    } else if a.gist || a.iid || a.realistic {
        vec![kind(a.iid, a.realistic)]
    } else {
        vec![Kind::Gist, Kind::Iid, Kind::Realistic]
    };
    mammoth_bench::userset::run(&mammoth_bench::userset::Bench {
        n: a.n,
        inputs,
        names: a.names.clone(),
        dir: a.dir.clone(),
        threads: threads(a.threads),
        fst: !a.no_fst,
        baseline: !a.no_baseline,
    })?;
    Ok(ExitCode::SUCCESS)
}
