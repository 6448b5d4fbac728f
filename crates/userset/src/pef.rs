//! A sorted set of distinct `u64` codes as partitioned Elias–Fano.
//!
//! The codes are cut into chunks of up to [`MAX_CHUNK`] consecutive values.
//! Each chunk's first value is stored plainly; the other values
//! are stored relative to it as a small Elias–Fano sequence whose universe is
//! the chunk's own span, so clustered codes (runs of similar names) cost
//! fewer bits than a single sequence over the whole universe would give
//! them, and scattered codes cost about the same. Chunks end where that is
//! cheapest per value (the builder prices every length up to the maximum),
//! which puts chunk ends at the gaps between clusters. A radix directory over the top bits
//! of the universe finds the chunk: usually one or two candidates, at worst a
//! binary search over the candidates the directory leaves.
//!
//! Chunk `j`'s head is the pair `heads[2j]` (its first value) and
//! `heads[2j + 1]` (its offset word), side by side so that one cache line
//! serves both the search among the directory's candidates and the chunk's
//! location; a last pair `(0, end of the data)` closes the array. The chunk's
//! data is at bit offset `off & OFF_MASK` of `data`, with
//! `k = (off >> 48) & 255` values after the first and `l = off >> 56` low
//! bits: the values `e = v - first - 1` of those `k` values, first their `k`
//! low parts (`l` bits each), then their high parts `e >> l` in unary
//! (element `i` sets bit `(e_i >> l) + i`), then one closing zero.

use crate::bits::{BitWriter, get_bits_at as get_bits, mask, ones, select};
use crate::words::Words;

/// Most values per chunk.
pub(crate) const MAX_CHUNK: usize = 256;
pub(crate) const OFF_MASK: u64 = (1 << 48) - 1;
/// Bits per chunk outside its data: head, offset word, directory share.
const CHUNK_META_BITS: u64 = 160;

/// A lookup after its chunk's unary part: where its bucket starts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Cursor {
    /// Bit offset of the chunk's low parts.
    start: u64,
    /// Index of the bucket's first value, and the bucket's size.
    idx: u64,
    count: u64,
    l: u32,
    low: u64,
}

/// What [`Pef::locate`] found.
#[derive(Clone, Copy)]
pub(crate) enum Step {
    Found,
    Absent,
    Scan(Cursor),
}

/// One partitioned Elias–Fano sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pef {
    pub(crate) n: u64,
    /// Codes are below `1 << bits`.
    pub(crate) bits: u32,
    /// Directory entry `t` covers codes `t << shift .. (t + 1) << shift`.
    pub(crate) shift: u32,
    /// Per chunk `j`: `heads[2j]` its first value, `heads[2j + 1]` its
    /// offset word (chunk `j` starts at bit `off & OFF_MASK` and has
    /// `(off >> 48) & 255` values after its first, with `off >> 56` low bits
    /// each); then `0` and the end of the data.
    pub(crate) heads: Words<u64>,
    /// `dir[t]`: the number of chunks whose first value is below `t << shift`.
    pub(crate) dir: Words<u32>,
    pub(crate) data: Words<u64>,
}

/// The directory shift: between nchunks/2 and nchunks entries.
fn dir_shift(bits: u32, nchunks: usize) -> u32 {
    let want = (usize::BITS - nchunks.max(1).leading_zeros()).saturating_sub(1);
    bits.saturating_sub(want)
}

/// Low bits per value of a chunk of `k` values after its first, spanning `span`.
fn low_bits(k: u64, span: u64) -> u32 {
    if k > 0 && span > k { (span / k).ilog2() } else { 0 }
}

/// Data bits of such a chunk.
fn chunk_bits(k: u64, span: u64) -> u64 {
    if k == 0 {
        return 1;
    }
    let l = low_bits(k, span);
    k * u64::from(l) + k + ((span - 1) >> l) + 1
}

/// The length of the chunk starting at `values[0]` that costs least per value.
fn best_chunk(values: &[u64]) -> usize {
    let max = values.len().min(MAX_CHUNK);
    // (bits, values) of the cheapest chunk so far, compared per value.
    let mut best = (u128::MAX, 1u128);
    let mut best_m = 1;
    for m in 1..=max {
        let bits =
            u128::from(CHUNK_META_BITS + chunk_bits(m as u64 - 1, values[m - 1] - values[0]));
        if bits * best.1 <= best.0.saturating_mul(m as u128) {
            best = (bits, m as u128);
            best_m = m;
        }
    }
    best_m
}

impl Pef {
    /// Builds from strictly increasing codes, each below `1 << bits`
    /// (`bits` at most 63).
    pub(crate) fn build(values: &[u64], bits: u32) -> Pef {
        debug_assert!(values.windows(2).all(|w| w[0] < w[1]));
        let mut w = BitWriter::default();
        let mut firsts = Vec::new();
        let mut offs = Vec::new();
        let mut at = 0;
        while at < values.len() {
            let m = best_chunk(&values[at..]);
            let chunk = &values[at..at + m];
            at += m;
            let first = chunk[0];
            firsts.push(first);
            let rest = &chunk[1..];
            let k = rest.len() as u64;
            // The e values lie in 0..span.
            let l = low_bits(k, rest.last().map_or(0, |&last| last - first));
            offs.push(w.len | (k << 48) | (u64::from(l) << 56));
            for &v in rest {
                w.push(v - first - 1, l);
            }
            let mut high = 0u64;
            for &v in rest {
                let h = (v - first - 1) >> l;
                w.zeros(h - high);
                high = h;
                w.push(1, 1);
            }
            w.push(0, 1);
        }
        offs.push(w.len);
        let nchunks = firsts.len();
        let mut heads = Vec::with_capacity(2 * nchunks + 2);
        for (&f, &o) in firsts.iter().chain([&0]).zip(&offs) {
            heads.push(f);
            heads.push(o);
        }
        let shift = dir_shift(bits, nchunks);
        let entries = (1usize << (bits - shift)) + 1;
        let mut dir = Vec::with_capacity(entries);
        let mut j = 0usize;
        for t in 0..entries as u64 {
            let bound = t << shift;
            while j < nchunks && firsts[j] < bound {
                j += 1;
            }
            dir.push(j as u32);
        }
        Pef {
            n: values.len() as u64,
            bits,
            shift,
            heads: heads.into(),
            dir: dir.into(),
            data: w.words.into(),
        }
    }

    /// Bytes of the structure's arrays.
    pub(crate) fn heap_bytes(&self) -> u64 {
        8 * (self.heads.len() + self.data.len()) as u64 + 4 * self.dir.len() as u64
    }

    /// The directory slot of `x` (first stage of a lookup).
    #[inline]
    pub(crate) fn slot(&self, x: u64) -> usize {
        (x >> self.shift) as usize
    }

    /// The directory entries [`chunk_of`](Self::chunk_of) reads.
    #[inline]
    pub(crate) fn dir_entries(&self, slot: usize) -> &[u32] {
        self.dir.get(slot..slot.saturating_add(2)).unwrap_or(&[])
    }

    /// Number of chunks.
    #[inline]
    pub(crate) fn chunks(&self) -> usize {
        (self.heads.len() / 2).saturating_sub(1)
    }

    /// Chunk `j`'s first value.
    #[inline]
    fn first(&self, j: usize) -> Option<u64> {
        self.heads.get(2 * j).copied()
    }

    /// Chunk `j`'s offset word (`j == chunks()`: the end of the data).
    #[inline]
    fn off(&self, j: usize) -> Option<u64> {
        self.heads.get(2 * j + 1).copied()
    }

    /// The candidate chunks of a slot, `lo..hi`.
    #[inline]
    fn candidates(&self, slot: usize) -> Option<(usize, usize)> {
        let (&lo, &hi) = (self.dir.get(slot)?, self.dir.get(slot.checked_add(1)?)?);
        Some(((lo as usize).saturating_sub(1), (hi as usize).min(self.chunks())))
    }

    /// The heads of a slot's candidate chunks and the pair after them: what
    /// [`chunk_of`](Self::chunk_of) and [`layout`](Self::layout) read.
    #[inline]
    pub(crate) fn head_candidates(&self, slot: usize) -> &[u64] {
        self.candidates(slot)
            .and_then(|(lo, hi)| self.heads.get(2 * lo..(2 * hi + 2).max(2 * lo)))
            .unwrap_or(&[])
    }

    /// The chunk that would hold `x`, if any (second stage).
    #[inline]
    pub(crate) fn chunk_of(&self, x: u64, slot: usize) -> Option<usize> {
        let (lo, hi) = self.candidates(slot)?;
        // The number of candidates whose first value is at most `x`.
        let (mut base, mut len) = (lo, hi.checked_sub(lo)?);
        while len > 0 {
            let half = len / 2;
            if self.first(base + half)? <= x {
                base += half + 1;
                len -= half + 1;
            } else {
                len = half;
            }
        }
        (base > lo).then(|| base - 1)
    }

    /// Membership of `x` (any value).
    pub(crate) fn contains(&self, x: u64) -> bool {
        if x >> self.bits != 0 {
            return false;
        }
        self.chunk_of(x, self.slot(x)).is_some_and(|j| self.in_chunk(x, j))
    }

    /// Whether chunk `j` holds `x` (the last stages in one).
    pub(crate) fn in_chunk(&self, x: u64, j: usize) -> bool {
        match self.locate(x, j) {
            Step::Found => true,
            Step::Absent => false,
            Step::Scan(c) => self.scan(&c),
        }
    }

    /// Where chunk `j`'s parts are: (low parts start, unary start, end, `l`, `k`).
    #[inline]
    fn layout(&self, j: usize) -> Option<(u64, u64, u64, u32, u64)> {
        let (start, end) = (self.off(j)?, self.off(j + 1)?);
        let l = (start >> 56) as u32;
        let k = (start >> 48) & 255;
        let start = start & OFF_MASK;
        Some((start, start + k * u64::from(l), end & OFF_MASK, l, k))
    }

    /// The words of chunk `j`'s unary part (what [`locate`](Self::locate)
    /// reads).
    #[inline]
    pub(crate) fn high_words(&self, j: usize) -> &[u64] {
        self.layout(j).map_or(&[], |(_, high, end, ..)| self.words(high, end))
    }

    /// The words holding bits `from..to` (at least one word).
    #[inline]
    fn words(&self, from: u64, to: u64) -> &[u64] {
        let first = (from / 64) as usize;
        let last = ((to.saturating_sub(1) / 64) as usize).max(first);
        self.data.get(first..=last.min(self.data.len().saturating_sub(1))).unwrap_or(&[])
    }

    /// Finds `x`'s bucket in chunk `j` (reads the unary part).
    pub(crate) fn locate(&self, x: u64, j: usize) -> Step {
        let Some(first) = self.first(j) else { return Step::Absent };
        if x == first {
            return Step::Found;
        }
        if x < first {
            return Step::Absent;
        }
        let Some((start, high_start, end, l, k)) = self.layout(j) else {
            return Step::Absent;
        };
        let e = x - first - 1;
        let hx = e >> l;
        // Skip `hx` zeros of the unary part: whole windows by counting, then
        // the last one by a broadword select.
        let mut pos = high_start;
        let mut need = hx;
        while need > 0 {
            if pos >= end {
                return Step::Absent;
            }
            let width = (end - pos).min(64) as u32;
            let zeros = !get_bits(&self.data, pos, width) & mask(width);
            let count = u64::from(ones(zeros));
            if count < need {
                need -= count;
                pos += u64::from(width);
                continue;
            }
            pos += u64::from(select(zeros, (need - 1) as u32)) + 1;
            need = 0;
        }
        // The ones that follow are the elements whose high part is `hx`:
        // the bucket.
        let idx = pos - high_start - hx;
        let mut count = 0u64;
        while pos < end {
            let width = (end - pos).min(64) as u32;
            let ones = u64::from(get_bits(&self.data, pos, width).trailing_ones().min(width));
            count += ones;
            if ones < u64::from(width) {
                break;
            }
            pos += u64::from(width);
        }
        let count = count.min(k.saturating_sub(idx));
        Step::Scan(Cursor { start, idx, count, l, low: e & mask(l) })
    }

    /// The words of the bucket's low parts (what [`scan`](Self::scan) reads).
    #[inline]
    pub(crate) fn low_words(&self, c: &Cursor) -> &[u64] {
        let l = u64::from(c.l);
        self.words(c.start + c.idx * l, c.start + (c.idx + c.count) * l)
    }

    /// Compares the bucket's low parts with `x`'s: a binary search, since a
    /// chunk that spans two clusters puts a whole cluster in one bucket.
    pub(crate) fn scan(&self, c: &Cursor) -> bool {
        if c.count == 0 {
            return false;
        }
        // Branch-free lower bound: the comparisons are unpredictable, so
        // each step moves `base` by arithmetic rather than a jump.
        let l = u64::from(c.l);
        let (mut base, mut len) = (c.idx, c.count);
        while len > 1 {
            let half = len / 2;
            let v = get_bits(&self.data, c.start + (base + half) * l, c.l);
            base += u64::from(v <= c.low) * half;
            len -= half;
        }
        get_bits(&self.data, c.start + base * l, c.l) == c.low
    }

    /// Checks the invariants lookups rely on for sensible answers (they
    /// never panic either way); `Err` names the first broken one.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.bits > 63 || self.shift > self.bits {
            return Err("code width");
        }
        let nchunks = self.chunks();
        if !self.heads.len().is_multiple_of(2)
            || self.heads.len() < 2
            || (nchunks as u64) > self.n
            || self.n > (nchunks * MAX_CHUNK) as u64
        {
            return Err("chunk count");
        }
        let firsts = || self.heads.chunks_exact(2).take(nchunks).map(|p| p[0]);
        if firsts().zip(firsts().skip(1)).any(|(a, b)| a >= b)
            || nchunks
                .checked_sub(1)
                .and_then(|j| self.first(j))
                .is_some_and(|f| f >> self.bits != 0)
            || self.first(nchunks) != Some(0)
        {
            return Err("chunk order");
        }
        let data_bits = self.data.len() as u64 * 64;
        let mut values = 0u64;
        for j in 0..nchunks {
            let (Some(o), Some(next)) = (self.off(j), self.off(j + 1)) else {
                return Err("chunk offsets");
            };
            let (off, next) = (o & OFF_MASK, next & OFF_MASK);
            let (k, l) = ((o >> 48) & 255, o >> 56);
            if next < off || next > data_bits || l > 63 || next - off < k * l + k + 1 {
                return Err("chunk offsets");
            }
            values += k + 1;
        }
        if values != self.n || self.off(nchunks).is_some_and(|o| o >> 48 != 0) {
            return Err("chunk sizes");
        }
        if self.dir.len() as u64 != (1u64 << (self.bits - self.shift)) + 1 {
            return Err("directory size");
        }
        if self.dir.windows(2).any(|w| w[0] > w[1])
            || self.dir.last().is_some_and(|&d| d as usize != nchunks)
        {
            return Err("directory order");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(values: &[u64], bits: u32, probes: &[u64]) {
        let pef = Pef::build(values, bits);
        pef.validate().unwrap();
        for &v in values {
            assert!(pef.contains(v), "{v} missing");
        }
        for &p in probes {
            assert_eq!(pef.contains(p), values.binary_search(&p).is_ok(), "probe {p}");
        }
    }

    #[test]
    fn empty_and_tiny() {
        check(&[], 10, &[0, 1, 1023, 5000]);
        check(&[0], 0, &[0, 1]);
        check(&[5], 3, &[4, 5, 6, 7]);
        check(&[0, 1, 2, 3, 4, 5, 6, 7], 3, &[0, 7, 8]);
    }

    #[test]
    fn dense_and_sparse_and_clustered() {
        let dense: Vec<u64> = (0..10_000).collect();
        check(&dense, 14, &[10_000, 16_383]);
        let sparse: Vec<u64> = (0..5_000u64).map(|i| i * 1_000_003 + 17).collect();
        check(&sparse, 33, &[0, 16, 18, 1_000_020, 1_000_019]);
        let mut clustered: Vec<u64> =
            (0..50u64).flat_map(|c| (0..300u64).map(move |i| (c << 40) + i * 7)).collect();
        clustered.sort_unstable();
        check(&clustered, 46, &[(3 << 40) + 8, (3 << 40) + 7, 1 << 45]);
    }

    proptest! {
        #[test]
        fn matches_binary_search(mut v in proptest::collection::vec(0u64..(1 << 40), 0..2000), probes in proptest::collection::vec(0u64..(1 << 40), 0..200), shift in 0u32..24) {
            for x in &mut v { *x >>= shift; }
            v.sort_unstable();
            v.dedup();
            let mut p = probes;
            p.extend(v.iter().map(|x| x + 1));
            check(&v, 40, &p);
        }
    }
}
