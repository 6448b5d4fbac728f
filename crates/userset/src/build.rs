//! Building a set from a file of names, in parallel.
//!
//! Two passes over the file, each split across the worker threads: the
//! first finds the code alphabet (the bytes of names of at most 12 bytes)
//! and counts names per length, the second turns each name into its code
//! (or keeps it for front coding). Then each length's codes are radix
//! sorted, de-duplicated and compressed, one length per thread at a time,
//! and freed; the peak is about 8 bytes per name plus the finished set.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;

use crate::error::Error;
use crate::fc::{FrontCoded, mark};
use crate::pef::Pef;
use crate::set::{ALPHABET_SAMPLE_LEN, Coder, MAX_NAME_LEN, Sampler, UserSet};

/// Bytes read per step.
const READ_BLOCK: usize = 32 << 20;

/// Receives progress from long operations.
pub trait Progress: Sync {
    /// A new phase begins; `total` is its amount of work (0 if unknown).
    fn phase(&self, name: &str, total: u64);
    /// `done` more units of the current phase are finished.
    fn advance(&self, done: u64);
}

/// No progress reports.
impl Progress for () {
    fn phase(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// What a build read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    /// Bytes of input.
    pub bytes: u64,
    /// Non-empty lines (names, with duplicates).
    pub lines: u64,
    /// Empty lines, which are skipped.
    pub empty_lines: u64,
    /// Distinct names in the set.
    pub names: u64,
}

/// Calls `f(offset, name)` for every line of `buf` (which starts at file
/// offset `base`), without its `\n` or a `\r` before it; a last line
/// without `\n` counts too.
///
/// # Errors
/// The first error `f` returns.
pub fn for_each_line<'a>(
    buf: &'a [u8],
    base: u64,
    mut f: impl FnMut(u64, &'a [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut start = 0usize;
    while start < buf.len() {
        let end = buf[start..].iter().position(|&b| b == b'\n').map_or(buf.len(), |p| start + p);
        let mut line = &buf[start..end];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        f(base + start as u64, line)?;
        start = end + 1;
    }
    Ok(())
}

/// Reads `path` in blocks that end at a line end and hands each block,
/// split into `threads` parts at line ends, to `work(part, offset)` on
/// the worker threads, then each part's result to `merge`, in file order.
/// Work on one part of a block: the bytes and their file offset.
type PartWork<'a, T> = &'a (dyn Fn(&[u8], u64) -> Result<T, Error> + Sync);

fn scan<T: Send>(
    path: &Path,
    threads: usize,
    progress: &dyn Progress,
    work: PartWork<'_, T>,
    merge: &mut dyn FnMut(T),
) -> Result<(), Error> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; READ_BLOCK];
    let mut filled = 0usize;
    let mut offset = 0u64;
    loop {
        let n = read_full(&mut f, &mut buf[filled..])?;
        filled += n;
        let at_end = filled < buf.len();
        let cut = if at_end {
            filled
        } else {
            match buf[..filled].iter().rposition(|&b| b == b'\n') {
                Some(p) => p + 1,
                None => return Err(Error::NameTooLong { offset, len: filled }),
            }
        };
        let block = &buf[..cut];
        let parts = split_lines(block, threads);
        let outs: Vec<Result<T, Error>> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .iter()
                .map(|&(a, b)| s.spawn(move || work(&block[a..b], offset + a as u64)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for o in outs {
            merge(o?);
        }
        progress.advance(cut as u64);
        offset += cut as u64;
        if at_end {
            return Ok(());
        }
        buf.copy_within(cut..filled, 0);
        filled -= cut;
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> Result<usize, Error> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// Up to `parts` ranges of `block` that each end at a line end.
fn split_lines(block: &[u8], parts: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 1..=parts {
        if start >= block.len() {
            break;
        }
        let mut end = if i == parts { block.len() } else { (block.len() * i / parts).max(start) };
        while end < block.len() && end > 0 && block[end - 1] != b'\n' {
            end += 1;
        }
        out.push((start, end));
        start = end;
    }
    out
}

struct Census {
    present: [u64; 4],
    sample: Sampler,
    lines: u64,
    empty: u64,
    per_len: Vec<u64>,
}

struct Encoded {
    codes: Vec<Vec<u64>>,
    rest: Vec<u8>,
    rest_ends: Vec<usize>,
}

/// Builds a set from the names in `path`, one per line (`\n` or `\r\n`;
/// empty lines are skipped; any other bytes are part of the name), using
/// `threads` threads.
///
/// # Errors
/// I/O errors, and [`Error::NameTooLong`] with the line's offset.
pub fn build_file(
    path: &Path,
    threads: usize,
    progress: &dyn Progress,
) -> Result<(UserSet, BuildStats), Error> {
    let threads = threads.max(1);
    let bytes = std::fs::metadata(path)?.len();

    progress.phase("scanning", bytes);
    let mut present = [0u64; 4];
    let mut per_len = vec![0u64; 66];
    let mut stats = BuildStats { bytes, ..BuildStats::default() };
    let mut sample = Sampler::new();
    scan(
        path,
        threads,
        progress,
        &|part, base| {
            let mut c = Census {
                present: [0; 4],
                sample: Sampler::new(),
                lines: 0,
                empty: 0,
                per_len: vec![0; 66],
            };
            for_each_line(part, base, |off, name| {
                if name.is_empty() {
                    c.empty += 1;
                    return Ok(());
                }
                if name.len() > MAX_NAME_LEN {
                    return Err(Error::NameTooLong { offset: off, len: name.len() });
                }
                if name.len() <= ALPHABET_SAMPLE_LEN {
                    mark(&mut c.present, name);
                }
                c.sample.add(name);
                c.lines += 1;
                c.per_len[name.len().min(65)] += 1;
                Ok(())
            })?;
            Ok(c)
        },
        // Folded in file order as the parts finish.
        &mut |c: Census| {
            sample.merge(&c.sample);
            for (p, q) in present.iter_mut().zip(c.present) {
                *p |= q;
            }
            for (p, q) in per_len.iter_mut().zip(&c.per_len) {
                *p += q;
            }
            stats.lines += c.lines;
            stats.empty_lines += c.empty;
        },
    )?;
    let mut coder = Coder::new(present);
    coder.choose(&sample.per_len);
    drop(sample);

    progress.phase("encoding", bytes);
    let Encoded { codes: all_codes, rest, rest_ends } =
        encode(path, threads, progress, &coder, &per_len)?;

    progress.phase("sorting and compressing", stats.lines);
    let set = finish(&coder, all_codes, &rest, &rest_ends, threads, progress);
    stats.names = set.len();
    Ok((set, stats))
}

/// The second pass: every name's code, or its bytes when the coder has
/// none, in file order (the order does not matter: each class is sorted).
fn encode(
    path: &Path,
    threads: usize,
    progress: &dyn Progress,
    coder: &Coder,
    per_len: &[u64],
) -> Result<Encoded, Error> {
    let mut all_codes: Vec<Vec<u64>> = (0..coder.classes)
        .map(|len| Vec::with_capacity(per_len.get(len).copied().unwrap_or(0) as usize))
        .collect();
    let mut rest: Vec<u8> = Vec::new();
    let mut rest_ends: Vec<usize> = Vec::new();
    // Each part's buffers go back here once merged and are reused by a later
    // part: large buffers freed and allocated anew each block went back to
    // the system and were faulted in (zeroed) again, a quarter of the
    // build's CPU time.
    let spare: Mutex<Vec<Encoded>> = Mutex::new(Vec::new());
    scan(
        path,
        threads,
        progress,
        &|part, base| {
            let reused = spare.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
            let mut e = reused.unwrap_or_else(|| Encoded {
                codes: vec![Vec::new(); coder.classes],
                rest: Vec::new(),
                rest_ends: Vec::new(),
            });
            for_each_line(part, base, |_, name| {
                if name.is_empty() {
                    return Ok(());
                }
                if let Some(c) = coder.encode(name) {
                    e.codes[name.len()].push(c);
                } else {
                    e.rest.extend_from_slice(name);
                    e.rest_ends.push(e.rest.len());
                }
                Ok(())
            })?;
            Ok(e)
        },
        &mut |mut e: Encoded| {
            for (all, mine) in all_codes.iter_mut().zip(&mut e.codes) {
                all.extend_from_slice(mine);
                mine.clear();
            }
            let shift = rest.len();
            rest.extend_from_slice(&e.rest);
            rest_ends.extend(e.rest_ends.iter().map(|&x| x + shift));
            e.rest.clear();
            e.rest_ends.clear();
            spare.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(e);
        },
    )?;
    Ok(Encoded { codes: all_codes, rest, rest_ends })
}

enum Job {
    Class(usize, Vec<u64>),
    Rest,
}

enum Done {
    Class(usize, Box<Pef>),
    Rest(Box<FrontCoded>),
}

/// Sorts, de-duplicates and compresses every class (and the rest), largest
/// first, on `threads` threads.
fn finish(
    coder: &Coder,
    per_class: Vec<Vec<u64>>,
    rest: &[u8],
    rest_ends: &[usize],
    threads: usize,
    progress: &dyn Progress,
) -> UserSet {
    let mut jobs: Vec<(usize, Job)> =
        per_class.into_iter().enumerate().map(|(len, c)| (c.len(), Job::Class(len, c))).collect();
    jobs.push((rest_ends.len(), Job::Rest));
    jobs.sort_by_key(|(size, _)| *size); // popped from the back: largest first
    let nclasses = coder.classes;
    let queue = Mutex::new(jobs);
    let done = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
                    let Some((size, job)) = job else { break };
                    let out = match job {
                        Job::Class(len, mut c) => {
                            let bits = coder.bits(len, coder.kinds[len]);
                            radix_sort(&mut c, bits);
                            c.dedup();
                            Done::Class(len, Box::new(Pef::build(&c, bits)))
                        }
                        Job::Rest => {
                            let mut names: Vec<&[u8]> = Vec::with_capacity(rest_ends.len());
                            let mut start = 0;
                            for &end in rest_ends {
                                names.push(&rest[start..end]);
                                start = end;
                            }
                            names.sort_unstable();
                            names.dedup();
                            Done::Rest(Box::new(FrontCoded::build(&names)))
                        }
                    };
                    progress.advance(size as u64);
                    done.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(out);
                }
            });
        }
    });
    let mut classes = vec![Pef::default(); nclasses];
    let mut fc = FrontCoded::empty();
    for d in done.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner) {
        match d {
            Done::Class(len, p) => classes[len] = *p,
            Done::Rest(f) => fc = *f,
        }
    }
    UserSet {
        alphabet: coder.alphabet.clone(),
        base: coder.base,
        kinds: coder.kinds.clone(),
        anagram: coder.anagram.clone(),
        classes,
        fc,
    }
}

/// LSD radix sort of values below `1 << bits`, 11 bits per pass.
pub(crate) fn radix_sort(v: &mut Vec<u64>, bits: u32) {
    const DIGIT: u32 = 11;
    const BUCKETS: usize = 1 << DIGIT;
    if v.len() < 1 << 14 {
        v.sort_unstable();
        return;
    }
    let passes = bits.div_ceil(DIGIT) as usize;
    let mut counts = vec![[0usize; BUCKETS]; passes];
    for &x in v.iter() {
        for (p, c) in counts.iter_mut().enumerate() {
            c[((x >> (DIGIT as usize * p)) as usize) & (BUCKETS - 1)] += 1;
        }
    }
    let mut tmp = vec![0u64; v.len()];
    let mut src_is_v = true;
    for (p, c) in counts.iter().enumerate() {
        if c.contains(&v.len()) {
            continue; // every value has the same digit here
        }
        let mut next = [0usize; BUCKETS];
        let mut sum = 0;
        for (n, &k) in next.iter_mut().zip(c.iter()) {
            *n = sum;
            sum += k;
        }
        let (src, dst): (&[u64], &mut [u64]) = if src_is_v { (v, &mut tmp) } else { (&tmp, v) };
        let shift = DIGIT as usize * p;
        for &x in src {
            let d = ((x >> shift) as usize) & (BUCKETS - 1);
            dst[next[d]] = x;
            next[d] += 1;
        }
        src_is_v = !src_is_v;
    }
    if !src_is_v {
        *v = tmp;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_sorts() {
        let mut v: Vec<u64> =
            (0..100_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 7).collect();
        let mut want = v.clone();
        want.sort_unstable();
        radix_sort(&mut v, 57);
        assert_eq!(v, want);
    }

    #[test]
    fn split_lines_ends_parts_at_line_ends() {
        let block = b"aa\nbbbb\nc\ndddddd\ne\n";
        for parts in 1..6 {
            let p = split_lines(block, parts);
            assert_eq!(p.first().unwrap().0, 0);
            assert_eq!(p.last().unwrap().1, block.len());
            for w in p.windows(2) {
                assert_eq!(w[0].1, w[1].0);
            }
            for &(_, b) in &p {
                assert_eq!(block[b - 1], b'\n');
            }
        }
    }
}

/// What [`check_file`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Names looked up (non-empty lines).
    pub names: u64,
    /// Names found.
    pub present: u64,
    /// The first absent names (up to 10) with their byte offsets.
    pub absent_examples: Vec<(u64, Vec<u8>)>,
}

impl CheckStats {
    /// Names not found.
    pub fn absent(&self) -> u64 {
        self.names - self.present
    }
}

/// Looks up every name in the file at `path` (one per line, as
/// [`build_file`] reads them) on `threads` threads with batched lookups.
///
/// # Errors
/// I/O errors and [`Error::NameTooLong`].
pub fn check_file(
    set: &UserSet,
    path: &Path,
    threads: usize,
    progress: &dyn Progress,
) -> Result<CheckStats, Error> {
    let bytes = std::fs::metadata(path)?.len();
    progress.phase("checking", bytes);
    let mut stats = CheckStats::default();
    scan(
        path,
        threads.max(1),
        progress,
        &|part, base| {
            let mut part_stats = CheckStats::default();
            let mut names: Vec<&[u8]> = Vec::with_capacity(4096);
            let mut offsets: Vec<u64> = Vec::with_capacity(4096);
            let mut answers = vec![false; 4096];
            let mut flush = |names: &mut Vec<&[u8]>, offsets: &mut Vec<u64>, s: &mut CheckStats| {
                set.contains_batch(names, &mut answers);
                for ((name, off), &a) in names.iter().zip(offsets.iter()).zip(&answers) {
                    s.names += 1;
                    if a {
                        s.present += 1;
                    } else if s.absent_examples.len() < 10 {
                        s.absent_examples.push((*off, name.to_vec()));
                    }
                }
                names.clear();
                offsets.clear();
            };
            for_each_line(part, base, |off, name| {
                if !name.is_empty() {
                    if name.len() > MAX_NAME_LEN {
                        return Err(Error::NameTooLong { offset: off, len: name.len() });
                    }
                    names.push(name);
                    offsets.push(off);
                    if names.len() == 4096 {
                        flush(&mut names, &mut offsets, &mut part_stats);
                    }
                }
                Ok(())
            })?;
            flush(&mut names, &mut offsets, &mut part_stats);
            Ok(part_stats)
        },
        &mut |s: CheckStats| {
            stats.names += s.names;
            stats.present += s.present;
            let room = 10 - stats.absent_examples.len().min(10);
            stats.absent_examples.extend(s.absent_examples.into_iter().take(room));
        },
    )?;
    Ok(stats)
}

/// Names looked up per batch by [`check_reader`].
const CHECK_BATCH: usize = 4096;

/// Looks up every name read from `input` (one per line; `\r\n` and empty
/// lines as [`build_file`] takes them) in batches, in input order, calling
/// `each` with the name and whether it is present. Returns (names, present).
/// Where [`check_file`] splits a file over threads, this streams anything,
/// standard input included.
///
/// # Errors
/// I/O errors of `input` or of `each`, and [`Error::NameTooLong`] naming the
/// offset of a line over [`MAX_NAME_LEN`].
pub fn check_reader(
    set: &UserSet,
    mut input: impl std::io::BufRead,
    each: &mut dyn FnMut(&[u8], bool) -> std::io::Result<()>,
) -> Result<(u64, u64), Error> {
    let (mut names, mut present) = (0u64, 0u64);
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut answers = vec![false; CHECK_BATCH];
    let mut line = Vec::new();
    let mut offset = 0u64;
    let mut flush = |buf: &mut Vec<u8>, ends: &mut Vec<usize>| -> Result<(), Error> {
        let mut refs = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &e in ends.iter() {
            refs.push(&buf[start..e]);
            start = e;
        }
        set.contains_batch(&refs, &mut answers);
        for (name, &found) in refs.iter().zip(&answers) {
            names += 1;
            present += u64::from(found);
            each(name, found)?;
        }
        buf.clear();
        ends.clear();
        Ok(())
    };
    loop {
        line.clear();
        // At most one name, its `\r\n` and one byte more: a line without an
        // end is refused at that length, never buffered whole.
        let limit = MAX_NAME_LEN as u64 + 3;
        let n = std::io::BufRead::read_until(
            &mut std::io::Read::take(&mut input, limit),
            b'\n',
            &mut line,
        )?;
        if n == 0 {
            break;
        }
        if n as u64 == limit && line.last() != Some(&b'\n') {
            return Err(Error::NameTooLong { offset, len: n });
        }
        let mut name = line.as_slice();
        if let [rest @ .., b'\n'] = name {
            name = rest;
        }
        if let [rest @ .., b'\r'] = name {
            name = rest;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong { offset, len: name.len() });
        }
        offset += n as u64;
        if name.is_empty() {
            continue;
        }
        buf.extend_from_slice(name);
        ends.push(buf.len());
        if ends.len() == CHECK_BATCH {
            flush(&mut buf, &mut ends)?;
        }
    }
    flush(&mut buf, &mut ends)?;
    Ok((names, present))
}
