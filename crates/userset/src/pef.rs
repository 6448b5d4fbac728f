//! A sorted set of distinct `u64` codes as partitioned Elias–Fano.
//!
//! The codes are cut into chunks of [`CHUNK`] consecutive values. Each
//! chunk's first value is stored plainly (`firsts`); the other values are
//! stored relative to it as a small Elias–Fano sequence whose universe is the
//! chunk's own span, so clustered codes (runs of similar names) cost fewer
//! bits than a single sequence over the whole universe would give them, and
//! scattered codes cost about the same. A radix directory over the top bits
//! of the universe finds the chunk: usually one or two candidates, at worst a
//! binary search over the candidates the directory leaves.
//!
//! Chunk layout in `data`, at bit offset `offs[j] & OFF_MASK` with
//! `l = offs[j] >> 56` low bits: the values `e = v - first - 1` of the
//! chunk's `k` other elements, first their `k` low parts (`l` bits each),
//! then their high parts `e >> l` in unary (element `i` sets bit
//! `(e_i >> l) + i`), then one closing zero.

use crate::bits::{BitWriter, get_bits, mask};

/// Elements per chunk.
pub(crate) const CHUNK: usize = 128;
pub(crate) const OFF_MASK: u64 = (1 << 56) - 1;

/// One partitioned Elias–Fano sequence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pef {
    pub(crate) n: u64,
    /// Codes are below `1 << bits`.
    pub(crate) bits: u32,
    /// Directory entry `t` covers codes `t << shift .. (t + 1) << shift`.
    pub(crate) shift: u32,
    pub(crate) firsts: Vec<u64>,
    /// Chunk `j` starts at bit `offs[j] & OFF_MASK` with `offs[j] >> 56`
    /// low bits; `offs[nchunks]` is the end of the data.
    pub(crate) offs: Vec<u64>,
    /// `dir[t]`: the number of chunks whose first value is below `t << shift`.
    pub(crate) dir: Vec<u32>,
    pub(crate) data: Vec<u64>,
}

/// The bit width of values below `universe_bits`-bit codes' directory.
fn dir_shift(bits: u32, nchunks: usize) -> u32 {
    let want = usize::BITS - nchunks.max(1).leading_zeros(); // ~log2(nchunks) + 1
    bits.saturating_sub(want)
}

impl Pef {
    /// Builds from strictly increasing codes, each below `1 << bits`
    /// (`bits` at most 63).
    pub(crate) fn build(values: &[u64], bits: u32) -> Pef {
        debug_assert!(values.windows(2).all(|w| w[0] < w[1]));
        let nchunks = values.len().div_ceil(CHUNK);
        let mut w = BitWriter::default();
        let mut firsts = Vec::with_capacity(nchunks);
        let mut offs = Vec::with_capacity(nchunks + 1);
        for chunk in values.chunks(CHUNK) {
            let first = chunk[0];
            firsts.push(first);
            let rest = &chunk[1..];
            let k = rest.len() as u64;
            let l = match rest.last() {
                Some(&last) => {
                    let span = last - first; // the e values lie in 0..span
                    if span > k { 63 - (span / k).leading_zeros() } else { 0 }
                }
                None => 0,
            };
            offs.push(w.len | (u64::from(l) << 56));
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
        Pef { n: values.len() as u64, bits, shift, firsts, offs, dir, data: w.words }
    }

    /// Bytes of the structure's arrays.
    pub(crate) fn heap_bytes(&self) -> u64 {
        8 * (self.firsts.len() + self.offs.len() + self.data.len()) as u64
            + 4 * self.dir.len() as u64
    }

    /// The directory slot of `x` (first stage of a lookup).
    #[inline]
    pub(crate) fn slot(&self, x: u64) -> usize {
        (x >> self.shift) as usize
    }

    /// The chunk that would hold `x`, if any (second stage).
    #[inline]
    pub(crate) fn chunk_of(&self, x: u64, slot: usize) -> Option<usize> {
        let (Some(&lo), Some(&hi)) = (self.dir.get(slot), self.dir.get(slot + 1)) else {
            return None;
        };
        let lo = (lo as usize).saturating_sub(1);
        let hi = (hi as usize).min(self.firsts.len());
        let cands = self.firsts.get(lo..hi)?;
        let below = cands.partition_point(|&f| f <= x);
        (below > 0).then(|| lo + below - 1)
    }

    /// Touches the memory a lookup in chunk `j` reads first.
    #[inline]
    pub(crate) fn touch_chunk(&self, j: usize) -> u64 {
        let off = self.offs.get(j).copied().unwrap_or(0) & OFF_MASK;
        self.data.get((off / 64) as usize).copied().unwrap_or(0)
    }

    /// Membership of `x` (any value).
    pub(crate) fn contains(&self, x: u64) -> bool {
        if x >> self.bits != 0 {
            return false;
        }
        self.chunk_of(x, self.slot(x)).is_some_and(|j| self.in_chunk(x, j))
    }

    /// Whether chunk `j` holds `x` (third stage).
    pub(crate) fn in_chunk(&self, x: u64, j: usize) -> bool {
        let Some(&first) = self.firsts.get(j) else { return false };
        if x == first {
            return true;
        }
        if x < first {
            return false;
        }
        let (Some(&start), Some(&end)) = (self.offs.get(j), self.offs.get(j + 1)) else {
            return false;
        };
        let l = (start >> 56) as u32;
        let start = start & OFF_MASK;
        let end = end & OFF_MASK;
        let chunk_start = (j as u64).saturating_mul(CHUNK as u64);
        let k = self.n.saturating_sub(chunk_start).min(CHUNK as u64).saturating_sub(1);
        let e = x - first - 1;
        let low = e & mask(l);
        let hx = e >> l;
        let high_start = start + k * u64::from(l);
        // Skip `hx` zeros of the unary part.
        let mut pos = high_start;
        let mut need = hx;
        while need > 0 {
            if pos >= end {
                return false;
            }
            let width = (end - pos).min(64) as u32;
            let w = get_bits(&self.data, pos, width);
            let zeros = u64::from(width - w.count_ones());
            if zeros < need {
                need -= zeros;
                pos += u64::from(width);
                continue;
            }
            let mut inv = !w & mask(width);
            for _ in 1..need {
                inv &= inv - 1;
            }
            pos += u64::from(inv.trailing_zeros()) + 1;
            need = 0;
        }
        // The ones that follow are the elements whose high part is `hx`.
        let mut idx = pos - high_start - hx;
        while pos < end && idx < k && get_bits(&self.data, pos, 1) == 1 {
            let v = get_bits(&self.data, start + idx * u64::from(l), l);
            if v == low {
                return true;
            }
            if v > low {
                return false;
            }
            idx += 1;
            pos += 1;
        }
        false
    }

    /// Checks the invariants lookups rely on for sensible answers (they
    /// never panic either way); `Err` names the first broken one.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.bits > 63 || self.shift > self.bits {
            return Err("code width");
        }
        let nchunks = usize::try_from(self.n.div_ceil(CHUNK as u64)).map_err(|_| "count")?;
        if self.firsts.len() != nchunks || self.offs.len() != nchunks + 1 {
            return Err("chunk count");
        }
        if self.firsts.windows(2).any(|w| w[0] >= w[1])
            || self.firsts.last().is_some_and(|&f| f >> self.bits != 0)
        {
            return Err("chunk order");
        }
        let data_bits = self.data.len() as u64 * 64;
        let mut prev = 0;
        for (j, &o) in self.offs.iter().enumerate() {
            let off = o & OFF_MASK;
            if off < prev || off > data_bits || (o >> 56) > 63 {
                return Err("chunk offsets");
            }
            if j > 0 {
                let k = self.n.saturating_sub((j as u64 - 1) * CHUNK as u64).min(CHUNK as u64) - 1;
                let l = self.offs[j - 1] >> 56;
                if off - prev < k * l + k + 1 {
                    return Err("chunk size");
                }
            }
            prev = off;
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
