//! Blocked front coding with a compact symbol code: the general path, for
//! names the integer codes cannot hold (long names, rare bytes).
//!
//! The sorted distinct names are cut into blocks of [`BLOCK`]. A block's
//! first name is stored whole, each later one as the length of the prefix it
//! shares with its predecessor plus the rest; lengths are Elias gamma codes
//! and characters are ranks in the names' own alphabet, `ceil(log2 σ)` bits
//! each. `heads` keeps each block's first 8 bytes (big-endian, zero padded)
//! so the block search touches the bit stream only on ties.

use std::cmp::Ordering;

use crate::bits::{BitWriter, get_bits, read_gamma};
use crate::words::Words;

/// Names per block.
pub(crate) const BLOCK: usize = 32;

/// A byte alphabet: which bytes occur, and each byte's rank among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Alphabet {
    pub(crate) present: [u64; 4],
    rank: [u16; 256],
    symbols: Vec<u8>,
}

pub(crate) const ABSENT: u16 = u16::MAX;

impl Alphabet {
    pub(crate) fn from_mask(present: [u64; 4]) -> Alphabet {
        let mut rank = [ABSENT; 256];
        let mut symbols = Vec::new();
        for b in 0..=255u8 {
            if present[usize::from(b / 64)] >> (b % 64) & 1 == 1 {
                rank[usize::from(b)] = symbols.len() as u16;
                symbols.push(b);
            }
        }
        Alphabet { present, rank, symbols }
    }

    pub(crate) fn len(&self) -> usize {
        self.symbols.len()
    }

    #[inline]
    pub(crate) fn rank(&self, b: u8) -> u16 {
        self.rank[usize::from(b)]
    }

    /// Bits per symbol of a fixed-width code.
    pub(crate) fn width(&self) -> u32 {
        match self.symbols.len() {
            0 | 1 => 0,
            s => usize::BITS - (s - 1).leading_zeros(),
        }
    }

    fn symbol(&self, code: u64) -> Option<u8> {
        self.symbols.get(code as usize).copied()
    }
}

/// Marks the bytes of `name` in a 256-bit mask.
pub(crate) fn mark(mask: &mut [u64; 4], name: &[u8]) {
    for &b in name {
        mask[usize::from(b / 64)] |= 1 << (b % 64);
    }
}

/// The front-coded names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FrontCoded {
    pub(crate) n: u64,
    pub(crate) alphabet: Alphabet,
    pub(crate) heads: Words<u64>,
    /// Bit offset of each block, then the end.
    pub(crate) offs: Words<u64>,
    pub(crate) data: Words<u64>,
}

fn head(name: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let k = name.len().min(8);
    b[..k].copy_from_slice(&name[..k]);
    u64::from_be_bytes(b)
}

impl FrontCoded {
    /// Builds from strictly increasing names.
    pub(crate) fn build(names: &[&[u8]]) -> FrontCoded {
        let mut present = [0u64; 4];
        for n in names {
            mark(&mut present, n);
        }
        let alphabet = Alphabet::from_mask(present);
        let width = alphabet.width();
        let mut w = BitWriter::default();
        let mut heads = Vec::with_capacity(names.len().div_ceil(BLOCK));
        let mut offs = Vec::with_capacity(heads.capacity() + 1);
        for block in names.chunks(BLOCK) {
            heads.push(head(block[0]));
            offs.push(w.len);
            let mut prev: &[u8] = &[];
            for (i, name) in block.iter().enumerate() {
                let lcp = if i == 0 {
                    0
                } else {
                    prev.iter().zip(name.iter()).take_while(|(a, b)| a == b).count()
                };
                if i > 0 {
                    w.gamma(lcp as u64 + 1);
                }
                w.gamma((name.len() - lcp) as u64 + 1);
                for &b in &name[lcp..] {
                    w.push(u64::from(alphabet.rank(b)), width);
                }
                prev = name;
            }
        }
        offs.push(w.len);
        FrontCoded {
            n: names.len() as u64,
            alphabet,
            heads: heads.into(),
            offs: offs.into(),
            data: w.words.into(),
        }
    }

    pub(crate) fn empty() -> FrontCoded {
        FrontCoded::build(&[])
    }

    pub(crate) fn heap_bytes(&self) -> u64 {
        8 * (self.heads.len() + self.offs.len() + self.data.len()) as u64 + 256 * 2
    }

    /// Compares block `b`'s first name with `x`.
    fn cmp_first(&self, b: usize, x: &[u8]) -> Ordering {
        match self.heads.get(b).copied().unwrap_or(0).cmp(&head(x)) {
            Ordering::Equal => {}
            other => return other,
        }
        let mut pos = self.offs.get(b).copied().unwrap_or(0);
        let Some(len) = read_gamma(&self.data, &mut pos).map(|v| v - 1) else {
            return Ordering::Greater;
        };
        let width = self.alphabet.width();
        for (i, &xb) in x.iter().enumerate() {
            if i as u64 >= len {
                return Ordering::Less;
            }
            let c = self.alphabet.symbol(get_bits(&self.data, pos, width)).unwrap_or(u8::MAX);
            pos += u64::from(width);
            match c.cmp(&xb) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        if len as usize > x.len() { Ordering::Greater } else { Ordering::Equal }
    }

    /// Membership of `x`.
    pub(crate) fn contains(&self, x: &[u8]) -> bool {
        let nblocks = self.heads.len();
        // The last block whose first name is <= x.
        let (mut lo, mut hi) = (0usize, nblocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.cmp_first(mid, x) == Ordering::Greater {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo > 0 && self.in_block(lo - 1, x)
    }

    /// Scans block `b` for `x`, comparing as it decodes: `m` is the length
    /// of the prefix the current name shares with `x` (the current name is
    /// below `x`), so a later name sharing more with its predecessor is
    /// still below `x`, and one sharing less is above it.
    fn in_block(&self, b: usize, x: &[u8]) -> bool {
        let (Some(&start), Some(&end)) = (self.offs.get(b), self.offs.get(b + 1)) else {
            return false;
        };
        let width = self.alphabet.width();
        let block_len = self.n.saturating_sub(b as u64 * BLOCK as u64).min(BLOCK as u64);
        let mut pos = start;
        let mut m = 0usize;
        let mut prev_len = 0u64;
        for i in 0..block_len {
            if pos >= end {
                return false;
            }
            let lcp = if i == 0 {
                0
            } else {
                match read_gamma(&self.data, &mut pos) {
                    Some(v) => v - 1,
                    None => return false,
                }
            };
            let Some(suffix) = read_gamma(&self.data, &mut pos).map(|v| v - 1) else {
                return false;
            };
            if lcp > prev_len {
                return false; // corrupt
            }
            let lcp = lcp as usize;
            if i > 0 && lcp < m {
                return false; // this name is above x, and so are the rest
            }
            let skip_to = pos + suffix * u64::from(width);
            if lcp == m {
                // Compare the suffix with x[m..].
                let mut j = 0u64;
                let mut order = Ordering::Equal;
                while j < suffix {
                    let at = m + j as usize;
                    let Some(&xb) = x.get(at) else {
                        order = Ordering::Greater;
                        break;
                    };
                    let c = self
                        .alphabet
                        .symbol(get_bits(&self.data, pos + j * u64::from(width), width))
                        .unwrap_or(u8::MAX);
                    if c != xb {
                        order = c.cmp(&xb);
                        break;
                    }
                    j += 1;
                }
                let name_len = m as u64 + suffix;
                if order == Ordering::Equal {
                    if name_len == x.len() as u64 {
                        return true;
                    }
                    // A proper prefix of x: below it.
                    m = name_len as usize;
                } else if order == Ordering::Greater {
                    return false;
                } else {
                    m += j as usize;
                }
            }
            prev_len = lcp as u64 + suffix;
            pos = skip_to;
        }
        false
    }

    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        let nblocks = usize::try_from(self.n.div_ceil(BLOCK as u64)).map_err(|_| "count")?;
        if self.heads.len() != nblocks || self.offs.len() != nblocks + 1 {
            return Err("block count");
        }
        if self.heads.windows(2).any(|w| w[0] > w[1]) {
            return Err("block order");
        }
        let data_bits = self.data.len() as u64 * 64;
        if self.offs.windows(2).any(|w| w[0] >= w[1])
            || self.offs.last().is_some_and(|&o| o > data_bits)
        {
            return Err("block offsets");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(mut names: Vec<Vec<u8>>, probes: &[Vec<u8>]) {
        names.sort();
        names.dedup();
        let refs: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let fc = FrontCoded::build(&refs);
        fc.validate().unwrap();
        for n in &names {
            assert!(fc.contains(n), "{n:?} missing");
        }
        for p in probes {
            assert_eq!(fc.contains(p), names.binary_search(p).is_ok(), "probe {p:?}");
        }
    }

    #[test]
    fn prefixes_and_empty() {
        let names: Vec<Vec<u8>> = ["", "a", "ab", "abc", "abd", "b", "ba", "bab"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let probes: Vec<Vec<u8>> = ["", "aa", "abcd", "abe", "c", "bb", "ab\0"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        check(names, &probes);
        check(vec![], &[b"x".to_vec(), vec![]]);
    }

    proptest! {
        #[test]
        fn matches_model(names in proptest::collection::vec(proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', b'b', 255]), 0..12), 0..300),
                         probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..50)) {
            let mut p = probes;
            p.extend(names.iter().map(|n| { let mut n = n.clone(); n.push(0); n }));
            p.extend(names.iter().filter(|n| !n.is_empty()).map(|n| n[..n.len() - 1].to_vec()));
            check(names, &p);
        }
    }
}
