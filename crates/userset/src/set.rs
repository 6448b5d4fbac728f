//! The set: integer-coded classes per name length plus the front-coded rest.

use crate::anagram::{self, Anagram};
use crate::error::Error;
use crate::fc::{ABSENT, Alphabet, FrontCoded, mark};
use crate::pef::{Pef, Step};

/// The longest name a set accepts, in bytes.
pub const MAX_NAME_LEN: usize = 65_535;

/// Names up to this many bytes decide the code alphabet.
pub(crate) const ALPHABET_SAMPLE_LEN: usize = 12;

/// Names per lookup group in [`UserSet::contains_batch`].
const GROUP: usize = 32;

/// Names of each length (the first ones, in input order) that decide the
/// length's code.
pub(crate) const CHOICE_SAMPLE: usize = 1 << 16;

/// How a length's names become numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeKind {
    /// The base-`|Σ|` number of the symbol ranks (order-preserving).
    Lex,
    /// The [`anagram`] code: multiset rank times `L!` plus the Lehmer code.
    Anagram,
}

impl CodeKind {
    pub(crate) fn from_word(w: u64) -> Option<CodeKind> {
        match w {
            0 => Some(CodeKind::Lex),
            1 => Some(CodeKind::Anagram),
            _ => None,
        }
    }

    pub(crate) fn word(self) -> u64 {
        match self {
            CodeKind::Lex => 0,
            CodeKind::Anagram => 1,
        }
    }
}

/// An immutable exact set of byte strings.
///
/// A name of length `L` whose bytes all belong to the code alphabet `Σ`
/// (the bytes of the set's names of at most 12 bytes) is the number whose
/// base-`|Σ|` digits are its bytes' ranks in `Σ`, an order-preserving code
/// below `|Σ|^L`; each length has its own partitioned Elias–Fano sequence of
/// codes, for lengths where `|Σ|^L < 2^63`. Every other name (longer, or
/// with a byte outside `Σ`) is in one front-coded dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSet {
    pub(crate) alphabet: Alphabet,
    pub(crate) base: u64,
    /// `kinds[L]`: how names of length `L` are coded.
    pub(crate) kinds: Vec<CodeKind>,
    pub(crate) anagram: Anagram,
    /// `classes[L]` holds the codes of the coded names of length `L`.
    pub(crate) classes: Vec<Pef>,
    pub(crate) fc: FrontCoded,
}

/// The longest name length whose codes stay below 2^63 in base `base`.
pub(crate) fn code_lengths(base: u64) -> usize {
    let mut len = 0usize;
    let mut u: u128 = 1;
    while len < 64 {
        u *= u128::from(base);
        if u > 1 << 63 {
            break;
        }
        len += 1;
    }
    len
}

/// Bits needed for codes of length `len` in base `base` (below `base^len`).
pub(crate) fn class_bits(base: u64, len: usize) -> u32 {
    let u = (0..len).fold(1u128, |u, _| u * u128::from(base));
    128 - (u - 1).leading_zeros()
}

/// How names are split between the coded classes and the rest.
#[derive(Clone, Debug)]
pub(crate) struct Coder {
    pub(crate) alphabet: Alphabet,
    pub(crate) base: u64,
    /// Names shorter than this can be coded.
    pub(crate) classes: usize,
    pub(crate) kinds: Vec<CodeKind>,
    pub(crate) anagram: Anagram,
}

impl Coder {
    /// The coder of an alphabet, every length with the plain code.
    pub(crate) fn new(present: [u64; 4]) -> Coder {
        let alphabet = Alphabet::from_mask(present);
        let base = (alphabet.len() as u64).max(2);
        let classes = code_lengths(base) + 1;
        Coder {
            classes,
            alphabet,
            base,
            kinds: vec![CodeKind::Lex; classes],
            anagram: Anagram::new(base),
        }
    }

    /// The code of `name`, if it has one.
    #[inline]
    pub(crate) fn encode(&self, name: &[u8]) -> Option<u64> {
        encode(&self.alphabet, self.base, &self.kinds, &self.anagram, name)
    }

    /// Code width of length `len` (a coded length) under `kind`.
    pub(crate) fn bits(&self, len: usize, kind: CodeKind) -> u32 {
        kind_bits(self.base, &self.anagram, len, kind).unwrap_or(63)
    }

    /// Chooses each length's code: the one whose partitioned Elias–Fano
    /// sequence of `samples[L]` (the first names of length `L` in input
    /// order, concatenated) is smaller; the plain code on ties and for
    /// lengths without an anagram code. Only the size depends on this.
    pub(crate) fn choose(&mut self, samples: &[Vec<u8>]) {
        for len in 1..self.classes {
            let Some(abits) = self.anagram.bits(len) else { continue };
            let Some(sample) = samples.get(len).filter(|s| !s.is_empty()) else { continue };
            let mut cost = [0u64; 2];
            for (kind, c) in [CodeKind::Lex, CodeKind::Anagram].into_iter().zip(&mut cost) {
                let kinds = vec![kind; self.classes];
                let mut codes: Vec<u64> = sample
                    .chunks_exact(len)
                    .filter_map(|n| encode(&self.alphabet, self.base, &kinds, &self.anagram, n))
                    .collect();
                codes.sort_unstable();
                codes.dedup();
                let bits = if kind == CodeKind::Lex { class_bits(self.base, len) } else { abits };
                *c = Pef::build(&codes, bits).heap_bytes();
            }
            if cost[1] < cost[0] {
                self.kinds[len] = CodeKind::Anagram;
            }
        }
    }
}

/// Code width of length `len` under `kind`, if that kind can code it.
pub(crate) fn kind_bits(base: u64, anagram: &Anagram, len: usize, kind: CodeKind) -> Option<u32> {
    match kind {
        CodeKind::Lex => Some(class_bits(base, len)),
        CodeKind::Anagram => anagram.bits(len),
    }
}

/// Collects the first [`CHOICE_SAMPLE`] names of each length that can have
/// an anagram code (names concatenated per length).
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    pub(crate) per_len: Vec<Vec<u8>>,
}

impl Sampler {
    pub(crate) fn new() -> Sampler {
        Sampler { per_len: vec![Vec::new(); anagram::MAX_LEN + 1] }
    }

    #[inline]
    pub(crate) fn add(&mut self, name: &[u8]) {
        if let Some(s) = self.per_len.get_mut(name.len())
            && s.len() < CHOICE_SAMPLE * name.len()
        {
            s.extend_from_slice(name);
        }
    }

    /// Appends `other`'s names (which came later in the input) while there
    /// is room.
    pub(crate) fn merge(&mut self, other: &Sampler) {
        for (len, (mine, theirs)) in self.per_len.iter_mut().zip(&other.per_len).enumerate() {
            let room = (CHOICE_SAMPLE * len).saturating_sub(mine.len());
            mine.extend_from_slice(&theirs[..room.min(theirs.len())]);
        }
    }
}

/// The code of `name` under its length's kind, if `name` is shorter than
/// `kinds.len()` bytes and all its bytes are in `alphabet`.
#[inline]
fn encode(
    alphabet: &Alphabet,
    base: u64,
    kinds: &[CodeKind],
    anagram: &Anagram,
    name: &[u8],
) -> Option<u64> {
    match kinds.get(name.len())? {
        CodeKind::Lex => {
            let mut code = 0u64;
            for &b in name {
                let r = alphabet.rank(b);
                if r == ABSENT {
                    return None;
                }
                code = code * base + u64::from(r);
            }
            Some(code)
        }
        CodeKind::Anagram => {
            let mut ranks = [0u8; anagram::MAX_LEN];
            for (slot, &b) in ranks.iter_mut().zip(name) {
                let r = alphabet.rank(b);
                if r == ABSENT {
                    return None;
                }
                *slot = r as u8;
            }
            Some(anagram.code(&ranks[..name.len().min(anagram::MAX_LEN)]))
        }
    }
}

/// Sizes of a set's parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetStats {
    /// Distinct names.
    pub names: u64,
    /// Names held as integer codes.
    pub coded: u64,
    /// Names held front-coded.
    pub front_coded: u64,
    /// Bytes of all the structure's arrays (what a lookup needs in memory).
    pub heap_bytes: u64,
    /// Size of the code alphabet.
    pub alphabet: u32,
    /// Names shorter than this with only alphabet bytes are coded.
    pub coded_lengths: u32,
    /// Coded names held under the anagram code (lengths where it is smaller
    /// than the plain code).
    pub anagram_coded: u64,
}

impl UserSet {
    /// Builds a set from names in memory (any order, duplicates allowed;
    /// single-threaded, see [`crate::build_file`] for large inputs).
    ///
    /// # Errors
    /// [`Error::NameTooLong`] (its offset is the name's index) for a name
    /// longer than [`MAX_NAME_LEN`].
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> Result<UserSet, Error> {
        UserSet::from_names_coded(names, None)
    }

    /// [`from_names`](Self::from_names), with every length that can have
    /// it in the code `force` instead of the chosen one.
    pub(crate) fn from_names_coded<'a>(
        names: impl IntoIterator<Item = &'a [u8]>,
        force: Option<CodeKind>,
    ) -> Result<UserSet, Error> {
        let names: Vec<&[u8]> = names.into_iter().collect();
        let mut present = [0u64; 4];
        let mut sampler = Sampler::new();
        for (i, n) in names.iter().enumerate() {
            if n.len() > MAX_NAME_LEN {
                return Err(Error::NameTooLong { offset: i as u64, len: n.len() });
            }
            if n.len() <= ALPHABET_SAMPLE_LEN {
                mark(&mut present, n);
            }
            sampler.add(n);
        }
        let mut coder = Coder::new(present);
        match force {
            None => coder.choose(&sampler.per_len),
            Some(kind) => {
                for (len, k) in coder.kinds.iter_mut().enumerate() {
                    if kind_bits(coder.base, &coder.anagram, len, kind).is_some() {
                        *k = kind;
                    }
                }
            }
        }
        let mut per_class = vec![Vec::new(); coder.classes];
        let mut rest = Vec::new();
        for n in names {
            match coder.encode(n) {
                Some(c) => per_class[n.len()].push(c),
                None => rest.push(n),
            }
        }
        let classes = per_class
            .into_iter()
            .enumerate()
            .map(|(len, mut c)| {
                c.sort_unstable();
                c.dedup();
                Pef::build(&c, coder.bits(len, coder.kinds[len]))
            })
            .collect();
        rest.sort_unstable();
        rest.dedup();
        Ok(UserSet {
            alphabet: coder.alphabet,
            base: coder.base,
            kinds: coder.kinds,
            anagram: coder.anagram,
            classes,
            fc: FrontCoded::build(&rest),
        })
    }

    /// Number of distinct names.
    pub fn len(&self) -> u64 {
        self.classes.iter().map(|c| c.n).sum::<u64>() + self.fc.n
    }

    /// Whether the set has no names.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sizes of the parts.
    pub fn stats(&self) -> SetStats {
        let coded = self.classes.iter().map(|c| c.n).sum();
        SetStats {
            names: coded + self.fc.n,
            coded,
            front_coded: self.fc.n,
            heap_bytes: self.classes.iter().map(Pef::heap_bytes).sum::<u64>()
                + self.fc.heap_bytes(),
            alphabet: self.alphabet.len() as u32,
            coded_lengths: self.classes.len() as u32,
            anagram_coded: self
                .classes
                .iter()
                .zip(&self.kinds)
                .filter(|(_, k)| **k == CodeKind::Anagram)
                .map(|(c, _)| c.n)
                .sum(),
        }
    }

    #[inline]
    fn encode(&self, name: &[u8]) -> Option<u64> {
        encode(&self.alphabet, self.base, &self.kinds, &self.anagram, name)
    }

    /// Whether `name` is in the set.
    pub fn contains(&self, name: &[u8]) -> bool {
        match self.encode(name) {
            Some(code) => self.classes[name.len()].contains(code),
            None => self.fc.contains(name),
        }
    }

    /// Answers `out[i] = contains(names[i])` for every name, several lookups
    /// at a time: each group of 32 walks its lookups through the structure
    /// stage by stage, so their memory accesses overlap instead of waiting
    /// for each other. Much faster than single lookups on sets larger than
    /// the CPU caches.
    ///
    /// # Panics
    /// If `out` is shorter than `names`.
    pub fn contains_batch(&self, names: &[&[u8]], out: &mut [bool]) {
        assert!(out.len() >= names.len(), "contains_batch: output shorter than input");
        let mut probes = [Probe::default(); GROUP];
        // What the next stage reads, per probe: each stage first works out
        // every probe's next addresses from data the previous stage brought
        // into the cache, then `touch` reads them in a tight loop, so all the
        // group's cache misses are in flight at once rather than as many as
        // the CPU's instruction window reaches past one probe's work.
        let mut dirs: [&[u32]; GROUP] = [&[]; GROUP];
        let mut next: [&[u64]; GROUP] = [&[]; GROUP];
        for (group, answers) in names.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            let n = group.len();
            let probes = &mut probes[..n];
            let mut sink = 0u64;
            // Stage 1: the codes; touch their directory entries.
            for ((p, name), d) in probes.iter_mut().zip(group).zip(dirs.iter_mut()) {
                *p = Probe::default();
                *d = &[];
                if let Some(code) = self.encode(name) {
                    let pef = &self.classes[name.len()];
                    if code >> pef.bits == 0 {
                        p.code = code;
                        p.class = name.len() as u32;
                        p.slot = pef.slot(code);
                        *d = pef.dir_entries(p.slot);
                    } else {
                        p.class = NO_CLASS_ABSENT;
                    }
                }
            }
            sink ^= touch(&dirs[..n]);
            // Stage 2: touch the candidate chunk heads.
            for (p, t) in probes.iter().zip(next.iter_mut()) {
                *t = self
                    .classes
                    .get(p.class as usize)
                    .map_or(&[], |pef| pef.head_candidates(p.slot));
            }
            sink ^= touch(&next[..n]);
            // Stage 3: the chunk; touch its unary part.
            for (p, t) in probes.iter_mut().zip(next.iter_mut()) {
                *t = &[];
                if let Some(pef) = self.classes.get(p.class as usize) {
                    p.chunk = pef.chunk_of(p.code, p.slot);
                    if let Some(j) = p.chunk {
                        *t = pef.high_words(j);
                    }
                }
            }
            sink ^= touch(&next[..n]);
            // Stage 4: the bucket; touch its low parts.
            for (p, t) in probes.iter_mut().zip(next.iter_mut()) {
                *t = &[];
                if let (Some(pef), Some(j)) = (self.classes.get(p.class as usize), p.chunk) {
                    p.step = pef.locate(p.code, j);
                    if let Step::Scan(c) = &p.step {
                        *t = pef.low_words(c);
                    }
                }
            }
            sink ^= touch(&next[..n]);
            std::hint::black_box(sink);
            // Stage 5: answers.
            for ((p, name), answer) in probes.iter().zip(group).zip(answers.iter_mut()) {
                *answer = match p.class {
                    NO_CLASS => self.fc.contains(name),
                    NO_CLASS_ABSENT => false,
                    class => match (&p.step, self.classes.get(class as usize)) {
                        (Step::Found, _) => true,
                        (Step::Scan(c), Some(pef)) => pef.scan(c),
                        _ => false,
                    },
                };
            }
        }
    }

    /// How many of `names` are in the set (batched like
    /// [`contains_batch`](Self::contains_batch)).
    pub fn count_present(&self, names: &[&[u8]]) -> usize {
        let mut out = [false; 256];
        names
            .chunks(256)
            .map(|chunk| {
                self.contains_batch(chunk, &mut out);
                out[..chunk.len()].iter().filter(|&&b| b).count()
            })
            .sum()
    }
}

/// Reads the first and last element of each slice and one in every 64
/// bytes between, so their cache lines are on their way.
#[inline]
fn touch<T: bytemuck::Pod + Into<u64>>(regions: &[&[T]]) -> u64 {
    let step = 64 / size_of::<T>();
    let mut sink = 0u64;
    for r in regions {
        if let (Some(&a), Some(&b)) = (r.first(), r.last()) {
            sink ^= a.into() ^ b.into();
        }
        let mut i = step;
        while i + 1 < r.len() {
            sink ^= r[i].into();
            i += step;
        }
    }
    sink
}

const NO_CLASS: u32 = u32::MAX;
const NO_CLASS_ABSENT: u32 = u32::MAX - 1;

#[derive(Clone, Copy)]
struct Probe {
    class: u32,
    code: u64,
    slot: usize,
    chunk: Option<usize>,
    step: Step,
}

impl Default for Probe {
    fn default() -> Self {
        Probe { class: NO_CLASS, code: 0, slot: 0, chunk: None, step: Step::Absent }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// `name`'s next permutation in byte order, if any (as C++'s
    /// `next_permutation`, repeated bytes included).
    fn next_permutation(name: &mut [u8]) -> bool {
        let Some(i) = (1..name.len()).rev().find(|&i| name[i - 1] < name[i]) else {
            return false;
        };
        let j = (i..name.len()).rev().find(|&j| name[j] > name[i - 1]).unwrap_or(i);
        name.swap(i - 1, j);
        name[i..].reverse();
        true
    }

    /// Both codes, forced, agree with a hash set, single and batched, and
    /// survive a save and load.
    fn check(names: &[Vec<u8>], probes: &[Vec<u8>]) {
        let model: HashSet<&[u8]> = names.iter().map(Vec::as_slice).collect();
        for force in [None, Some(CodeKind::Lex), Some(CodeKind::Anagram)] {
            let set = UserSet::from_names_coded(names.iter().map(Vec::as_slice), force).unwrap();
            assert_eq!(set.len(), model.len() as u64);
            let mut bytes = Vec::new();
            set.write_to(&mut bytes).unwrap();
            let loaded = UserSet::from_bytes(&bytes).unwrap();
            assert_eq!(loaded, set);
            let all: Vec<&[u8]> = names.iter().chain(probes).map(Vec::as_slice).collect();
            let mut batch = vec![false; all.len()];
            loaded.contains_batch(&all, &mut batch);
            for (q, &b) in all.iter().zip(&batch) {
                let want = model.contains(q);
                assert_eq!(set.contains(q), want, "{force:?} {q:?}");
                assert_eq!(b, want, "{force:?} batched {q:?}");
            }
        }
    }

    /// Runs of successive permutations of random words over `alphabet`
    /// (repeats allowed), some names twice, and as probes the permutations
    /// just past each run, its words' other arrangements and near misses.
    fn runs(alphabet: &[u8], words: &[(Vec<usize>, usize)]) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let (mut names, mut probes) = (Vec::new(), Vec::new());
        for (idx, (word, count)) in words.iter().enumerate() {
            let mut w: Vec<u8> = word.iter().map(|&i| alphabet[i % alphabet.len()]).collect();
            let mut reversed = w.clone();
            reversed.reverse();
            probes.push(reversed);
            for i in 0..*count {
                if !next_permutation(&mut w) {
                    break;
                }
                names.push(w.clone());
                if i % 7 == idx % 7 {
                    names.push(w.clone());
                }
            }
            for _ in 0..3 {
                if next_permutation(&mut w) {
                    probes.push(w.clone());
                }
            }
        }
        for n in names.iter().take(300) {
            let mut a = n.clone();
            a.push(n[0]);
            probes.push(a);
            probes.push(n[1..].to_vec());
            let mut c = n.clone();
            c[0] = c[0].wrapping_add(1);
            probes.push(c);
        }
        (names, probes)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn anagram_runs_are_exact(words in proptest::collection::vec((proptest::collection::vec(0usize..40, 1..12), 0usize..300), 0..20),
                                  wide in any::<bool>()) {
            // A 36-symbol alphabet (the bit-mask path) or 100 symbols,
            // most of them above 127 (the general path).
            let alphabet: Vec<u8> = if wide {
                (0..100u8).map(|i| if i < 10 { b'0' + i } else { 100 + i }).collect()
            } else {
                b"abcdefghijklmnopqrstuvwxyz0123456789".to_vec()
            };
            let (mut names, probes) = runs(&alphabet, &words);
            // Every alphabet byte in some short name, so the code alphabet is the whole of it.
            names.extend(alphabet.chunks(3).map(<[u8]>::to_vec));
            check(&names, &probes);
        }

        #[test]
        fn random_names_are_exact_in_both_codes(names in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(b"ab\x00\xffc".to_vec()), 0..14), 0..300),
                                                probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..14), 0..100)) {
            check(&names, &probes);
        }
    }

    #[test]
    fn permutation_runs_choose_the_anagram_code() {
        let mut names = Vec::new();
        let mut w = b"q2ex9t7am".to_vec();
        for _ in 0..5000 {
            names.push(w.clone());
            next_permutation(&mut w);
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let scattered: Vec<Vec<u8>> = (0..5000)
            .map(|_| {
                (0..9)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        b"abcdefghijklmnopqrstuvwxyz0123456789"[(x % 36) as usize]
                    })
                    .collect()
            })
            .collect();
        let runs = UserSet::from_names(names.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(runs.stats().anagram_coded, 5000);
        let plain = UserSet::from_names(scattered.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(plain.stats().anagram_coded, 0);
        check(&names, &scattered);
    }
}
