//! Test data: the 2011 challenge's username generator and two variants.
//!
//! * [`Kind::Gist`] reproduces the published generator (gist 1189242) with
//!   glibc's `rand()` seeded by `srand(718472382)`: each *run* picks a length
//!   6..=11 (`rand() % 6 + 6`), shuffles a persistent 36-character alphabet
//!   with libstdc++'s `random_shuffle`, takes the first `length` characters
//!   and emits up to `rand() % 1000` successive `next_permutation`s of them
//!   (never the base arrangement; a run stops at the last permutation).
//!   Exact duplicates are dropped without consuming random numbers (the
//!   original used a clock-seeded Bloom filter, so its output was never
//!   reproducible). The output is byte-identical to the check values in
//!   `docs/userset.md`.
//! * [`Kind::Iid`]: the same alphabet, length law and distinct-character law,
//!   but every name independent (no runs of permutations).
//! * [`Kind::Realistic`]: names that look like real usernames: syllable
//!   words, mixed case, digits, `_` and `.`, 3..=32 bytes.

use std::fmt;

use crate::glibc_rand::GlibcRand;

/// The seed of the 2011 generator.
pub const GIST_SEED: u32 = 718_472_382;

const ALPHABET36: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Which data set to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The 2011 challenge's generator (runs of permutations).
    Gist,
    /// Independent names with the gist's alphabet and length law.
    Iid,
    /// Mixed-case names with digits, `_` and `.`, up to 32 bytes.
    Realistic,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Gist => "gist",
            Kind::Iid => "iid",
            Kind::Realistic => "realistic",
        })
    }
}

/// What a generation produced besides the names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenStats {
    /// Names emitted.
    pub names: u64,
    /// Runs started (gist) or candidates drawn (others).
    pub runs: u64,
    /// Candidates dropped because they were already emitted.
    pub duplicates: u64,
}

/// Generates `n` distinct names of `kind`, calling `emit` for each in order.
/// Stops at the first error `emit` returns.
///
/// # Errors
/// Whatever `emit` returns.
pub fn generate<E>(
    kind: Kind,
    n: u64,
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<GenStats, E> {
    let mut seen = SeenSet::with_expected(n);
    let mut stats = GenStats::default();
    match kind {
        Kind::Gist => {
            let mut rng = GlibcRand::new(GIST_SEED);
            let mut alphabet = *ALPHABET36;
            'runs: while stats.names < n {
                stats.runs += 1;
                let length = (rng.next_u31() % 6 + 6) as usize;
                shuffle(&mut alphabet, &mut rng);
                let mut word = [0u8; 11];
                word[..length].copy_from_slice(&alphabet[..length]);
                let word = &mut word[..length];
                let permutations = rng.next_u31() % 1000;
                for _ in 0..permutations {
                    if !next_permutation(word) {
                        break;
                    }
                    if seen.insert(code37(word)) {
                        emit(word)?;
                        stats.names += 1;
                        if stats.names == n {
                            break 'runs;
                        }
                    } else {
                        stats.duplicates += 1;
                    }
                }
            }
        }
        Kind::Iid => {
            let mut rng = GlibcRand::new(GIST_SEED);
            let mut alphabet = *ALPHABET36;
            while stats.names < n {
                stats.runs += 1;
                let length = (rng.next_u31() % 6 + 6) as usize;
                shuffle(&mut alphabet, &mut rng);
                let word = &alphabet[..length];
                if seen.insert(code37(word)) {
                    emit(word)?;
                    stats.names += 1;
                } else {
                    stats.duplicates += 1;
                }
            }
        }
        Kind::Realistic => {
            let mut rng = SplitMix(0x6d61_6d6d_6f74_6875);
            let mut name = Vec::with_capacity(64);
            while stats.names < n {
                stats.runs += 1;
                realistic_name(&mut rng, &mut name);
                if seen.insert(hash_name(&name)) {
                    emit(&name)?;
                    stats.names += 1;
                } else {
                    stats.duplicates += 1;
                }
            }
        }
    }
    Ok(stats)
}

/// libstdc++'s C++98 `std::random_shuffle` with `rand()`.
fn shuffle(a: &mut [u8; 36], rng: &mut GlibcRand) {
    for i in 1..a.len() {
        let j = rng.next_u31() as usize % (i + 1);
        a.swap(i, j);
    }
}

/// `std::next_permutation`: false (and the word sorted) after the last one.
fn next_permutation(w: &mut [u8]) -> bool {
    if w.len() < 2 {
        return false;
    }
    let mut i = w.len() - 1;
    while i > 0 && w[i - 1] >= w[i] {
        i -= 1;
    }
    if i == 0 {
        w.reverse();
        return false;
    }
    let mut j = w.len() - 1;
    while w[j] <= w[i - 1] {
        j -= 1;
    }
    w.swap(i - 1, j);
    w[i..].reverse();
    true
}

/// A non-zero injective code for names of at most 12 `[a-z0-9]` characters.
fn code37(w: &[u8]) -> u64 {
    w.iter().fold(0u64, |acc, &b| {
        let digit = match b {
            b'a'..=b'z' => b - b'a' + 1,
            _ => b - b'0' + 27,
        };
        acc * 37 + u64::from(digit)
    })
}

/// 64-bit FNV-1a followed by a finaliser; never 0.
fn hash_name(name: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in name {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = mix64(h);
    if h == 0 { 1 } else { h }
}

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An exact set of non-zero u64 keys (open addressing, linear probing),
/// sized once for the expected count and grown if that is exceeded.
struct SeenSet {
    slots: Vec<u64>,
    len: usize,
}

impl SeenSet {
    fn with_expected(n: u64) -> Self {
        let want = usize::try_from(n.saturating_mul(4) / 3 + 16).unwrap_or(usize::MAX / 16);
        SeenSet { slots: vec![0; want.next_power_of_two()], len: 0 }
    }

    fn insert(&mut self, key: u64) -> bool {
        if (self.len + 1) * 10 > self.slots.len() * 9 {
            let bigger = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            for k in old.into_iter().filter(|&k| k != 0) {
                self.place(k);
            }
        }
        let placed = self.place(key);
        self.len += usize::from(placed);
        placed
    }

    fn place(&mut self, key: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (mix64(key) as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    return true;
                }
                k if k == key => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// A small deterministic RNG for the realistic names (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYLLABLES: &[&[u8]] = &[
    b"a", b"an", b"ar", b"ba", b"be", b"bo", b"ca", b"ch", b"da", b"de", b"di", b"el", b"en",
    b"er", b"fa", b"ge", b"ha", b"he", b"in", b"ja", b"jo", b"ka", b"ke", b"ki", b"la", b"le",
    b"li", b"lo", b"lu", b"ma", b"me", b"mi", b"mo", b"na", b"ne", b"ni", b"no", b"ol", b"on",
    b"or", b"pa", b"pe", b"ra", b"re", b"ri", b"ro", b"sa", b"se", b"sh", b"si", b"so", b"st",
    b"ta", b"te", b"th", b"ti", b"to", b"tr", b"ul", b"va", b"vi", b"wa", b"xa", b"yo", b"za",
    b"zo", b"ck", b"ny", b"ss", b"x",
];

const ALPHABET64: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.";

fn push_word(rng: &mut SplitMix, out: &mut Vec<u8>, capital: bool) {
    let start = out.len();
    let syllables = 1 + rng.below(4);
    for _ in 0..syllables {
        out.extend_from_slice(SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize]);
    }
    if capital {
        out[start] = out[start].to_ascii_uppercase();
    }
}

fn push_digits(rng: &mut SplitMix, out: &mut Vec<u8>) {
    match rng.below(10) {
        0..=3 => {}
        4..=5 => {
            let year = 1950 + rng.below(76);
            out.extend_from_slice(year.to_string().as_bytes());
        }
        _ => {
            let digits = 1 + rng.below(4);
            for _ in 0..digits {
                out.push(b'0' + rng.below(10) as u8);
            }
        }
    }
}

fn push_sep(rng: &mut SplitMix, out: &mut Vec<u8>) {
    out.push(if rng.below(3) == 0 { b'.' } else { b'_' });
}

fn realistic_name(rng: &mut SplitMix, out: &mut Vec<u8>) {
    out.clear();
    let capital = rng.below(5) == 0;
    match rng.below(100) {
        0..=29 => {
            push_word(rng, out, capital);
            push_digits(rng, out);
        }
        30..=54 => {
            push_word(rng, out, capital);
            push_sep(rng, out);
            push_word(rng, out, capital);
            if rng.below(3) == 0 {
                push_digits(rng, out);
            }
        }
        55..=69 => {
            push_word(rng, out, true);
            push_word(rng, out, true);
            push_digits(rng, out);
        }
        70..=79 => {
            out.extend_from_slice(b"xX_");
            push_word(rng, out, capital);
            out.extend_from_slice(b"_Xx");
        }
        80..=89 => {
            let len = 4 + rng.below(13);
            for _ in 0..len {
                out.push(ALPHABET64[rng.below(64) as usize]);
            }
        }
        _ => {
            push_word(rng, out, capital);
            push_sep(rng, out);
            push_word(rng, out, capital);
            push_sep(rng, out);
            push_word(rng, out, capital);
            push_digits(rng, out);
        }
    }
    out.truncate(32);
    while out.len() < 3 {
        out.push(b'0' + rng.below(10) as u8);
    }
}

/// Writes `n` names of `kind` to `w`, one per line, calling `progress` with
/// the count every 65,536 names; returns the generator's statistics and the
/// bytes written.
///
/// # Errors
/// Writing to `w`.
pub fn write_lines(
    kind: Kind,
    n: u64,
    mut w: impl std::io::Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<(GenStats, u64)> {
    let mut bytes = 0u64;
    let mut count = 0u64;
    let stats = generate(kind, n, |name| {
        w.write_all(name)?;
        w.write_all(b"\n")?;
        bytes += name.len() as u64 + 1;
        count += 1;
        if count.is_multiple_of(65_536) {
            progress(count);
        }
        Ok::<(), std::io::Error>(())
    })?;
    w.flush()?;
    Ok((stats, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn output(kind: Kind, n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let stats = generate(kind, n, |name| {
            out.extend_from_slice(name);
            out.push(b'\n');
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(stats.names, n);
        out
    }

    #[test]
    fn gist_matches_check_values() {
        let out = output(Kind::Gist, 1_000_000);
        let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
        assert_eq!(lines[0], b"p48dxvm3ay");
        let first = |k: usize| {
            let end = out.iter().enumerate().filter(|&(_, &b)| b == b'\n').nth(k - 1).unwrap().0;
            hex::encode(Sha256::digest(&out[..=end]))
        };
        assert_eq!(first(1000), "6b195394c447139e25d8d42e0ec07d9b73321aa2bb762269372280e90cc49f0c");
        assert_eq!(
            first(100_000),
            "f77851b7dc022ce46e7721f655c51444d70941f828bf7b4e8d6d7a505581ce45"
        );
        assert_eq!(lines[99_999], b"a4wz1hu0");
        assert_eq!(
            hex::encode(Sha256::digest(&out)),
            "46eff099e6924a4f093826e8a9770d4fdaea7275953e164d3e1892042c5795f5"
        );
    }

    #[test]
    fn variants_are_distinct_and_in_range() {
        for kind in [Kind::Iid, Kind::Realistic] {
            let out = output(kind, 20_000);
            let names: Vec<&[u8]> = out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
            let set: std::collections::HashSet<&[u8]> = names.iter().copied().collect();
            assert_eq!(set.len(), 20_000, "{kind}");
            for n in &names {
                if kind == Kind::Iid {
                    assert!((6..=11).contains(&n.len()));
                    let chars: std::collections::HashSet<u8> = n.iter().copied().collect();
                    assert_eq!(chars.len(), n.len(), "distinct characters");
                } else {
                    assert!((3..=32).contains(&n.len()));
                    assert!(n.iter().all(|b| ALPHABET64.contains(b)));
                }
            }
        }
    }
}
