//! The 2011 username challenge end to end: mammoth's set beside
//! `fst::Set` and a 2011-style sorted array, on generated or given names,
//! in one run (`mammoth userset bench`). Prints its tables to standard
//! output as it goes.

// Timings and ratios are printed, not stored: f64 precision is plenty.
#![allow(clippy::cast_precision_loss)]

use std::fs::File;
use std::io::{self, BufRead, BufWriter};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use userset::generate::{Kind, write_lines};
use userset::{UserSet, build_file, check_file};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Bench {
    /// Names per generated input.
    pub n: u64,
    /// Generated inputs, one table each (ignored with `names`).
    pub inputs: Vec<Kind>,
    /// A file of distinct names to use instead of generating.
    pub names: Option<PathBuf>,
    /// Directory for the names and set files (`None`: a temporary one).
    pub dir: Option<PathBuf>,
    /// Worker threads for mammoth's build and verify.
    pub threads: usize,
    /// Measure `fst::Set` too.
    pub fst: bool,
    /// Measure the 2011-style array too.
    pub baseline: bool,
}

fn load(path: &Path) -> Result<UserSet> {
    UserSet::load(path).with_context(|| format!("loading set {}", path.display()))
}

fn per_name(bytes: u64, names: u64) -> f64 {
    if names == 0 { 0.0 } else { bytes as f64 / names as f64 }
}

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

/// Runs the bench: per input a table of size, build, verify and lookup
/// rates for each structure, then a summary.
///
/// # Errors
/// Files that cannot be written or read, duplicate names in `names`.
pub fn run(a: &Bench) -> Result<()> {
    let threads = a.threads.max(1);
    let tmp;
    let dir = if let Some(d) = &a.dir {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        d.clone()
    } else {
        tmp = tempfile::Builder::new()
            .prefix("mammoth-userset-")
            .tempdir()
            .context("creating a temporary directory")?;
        tmp.path().to_path_buf()
    };
    let inputs: Vec<Option<Kind>> =
        if a.names.is_some() { vec![None] } else { a.inputs.iter().copied().map(Some).collect() };
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
                    write_lines(kind, a.n, BufWriter::with_capacity(1 << 20, f), &mut |_| {})?;
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
        let fst = if a.fst { Some(bench_fst(&names_path, names, threads, few)?) } else { None };
        let baseline =
            if a.baseline { Some(bench_baseline(&names_path, names, few)?) } else { None };
        let floor = floor_bytes(&names_path)?;
        print_table(names, &mammoth, fst.as_ref(), baseline.as_ref(), floor);
        if input.is_some() {
            let _ = std::fs::remove_file(&names_path);
        }
        summary.push((label, names, mammoth, fst, baseline));
    }
    print_summary(&summary);
    Ok(())
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
    let t = Instant::now();
    let ((set, _), peak_build) = peak_of(|| Ok(build_file(names_path, threads, &())?))?;
    let build = t.elapsed();
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
