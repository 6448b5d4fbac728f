//! The set: integer-coded classes per name length plus the front-coded rest.

use crate::error::Error;
use crate::fc::{ABSENT, Alphabet, FrontCoded, mark};
use crate::pef::{Pef, Step};

/// The longest name a set accepts, in bytes.
pub const MAX_NAME_LEN: usize = 65_535;

/// Names up to this many bytes decide the code alphabet.
pub(crate) const ALPHABET_SAMPLE_LEN: usize = 12;

/// Names per lookup group in [`UserSet::contains_batch`].
const GROUP: usize = 32;

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
}

impl Coder {
    pub(crate) fn new(present: [u64; 4]) -> Coder {
        let alphabet = Alphabet::from_mask(present);
        let base = (alphabet.len() as u64).max(2);
        Coder { classes: code_lengths(base) + 1, alphabet, base }
    }

    /// The order-preserving code of `name`, if it has one.
    #[inline]
    pub(crate) fn encode(&self, name: &[u8]) -> Option<u64> {
        encode(&self.alphabet, self.base, self.classes, name)
    }
}

/// The base-`base` number of `name`'s byte ranks, if `name` is shorter than
/// `classes` bytes and all its bytes are in `alphabet`.
#[inline]
fn encode(alphabet: &Alphabet, base: u64, classes: usize, name: &[u8]) -> Option<u64> {
    if name.len() >= classes {
        return None;
    }
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
}

impl UserSet {
    /// Builds a set from names in memory (any order, duplicates allowed;
    /// single-threaded, see [`crate::build_file`] for large inputs).
    ///
    /// # Errors
    /// [`Error::NameTooLong`] (its offset is the name's index) for a name
    /// longer than [`MAX_NAME_LEN`].
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> Result<UserSet, Error> {
        let names: Vec<&[u8]> = names.into_iter().collect();
        let mut present = [0u64; 4];
        for (i, n) in names.iter().enumerate() {
            if n.len() > MAX_NAME_LEN {
                return Err(Error::NameTooLong { offset: i as u64, len: n.len() });
            }
            if n.len() <= ALPHABET_SAMPLE_LEN {
                mark(&mut present, n);
            }
        }
        let coder = Coder::new(present);
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
                Pef::build(&c, class_bits(coder.base, len))
            })
            .collect();
        rest.sort_unstable();
        rest.dedup();
        Ok(UserSet {
            alphabet: coder.alphabet,
            base: coder.base,
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
        }
    }

    #[inline]
    fn encode(&self, name: &[u8]) -> Option<u64> {
        encode(&self.alphabet, self.base, self.classes.len(), name)
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
