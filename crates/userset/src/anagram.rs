//! The anagram code: a name as (which multiset of symbols, which
//! arrangement of it).
//!
//! A name of length `L` over `σ` symbols, with symbol ranks `r_0 … r_{L-1}`,
//! gets the number `M · L! + A`:
//!
//! * `M` ranks the name's multiset of symbols in the combinatorial number
//!   system: with the ranks sorted, `s_0 ≤ … ≤ s_{L-1}`, the values
//!   `d_i = s_i + i` are strictly increasing below `σ + L - 1`, and
//!   `M = Σ C(d_i, i + 1)`, a number below `C(σ + L - 1, L)`;
//! * `A` is the Lehmer code of the arrangement, `Σ c_i · (L - 1 - i)!` where
//!   `c_i` counts the later symbols smaller than `r_i`: below `L!`, and
//!   different for different arrangements of one multiset (the digits give
//!   back the symbols one by one).
//!
//! So the code is injective (a set of names is a set of codes), though not
//! order-preserving across multisets, which membership does not need. Its
//! universe, `C(σ + L - 1, L) · L!`, is larger than `σ^L`, so on scattered
//! names it costs a bit or two more per name than the plain base-`σ` code;
//! but names that are rearrangements of one another (anagrams) get nearby
//! codes, and successive permutations in lexicographic order get
//! *consecutive* codes when their symbols are distinct. The builder keeps
//! whichever code makes a length's sequence smaller.

/// Longest length that can have an anagram code (`20!` is the largest
/// factorial below `2^63`).
pub(crate) const MAX_LEN: usize = 20;

const FACT: [u64; MAX_LEN + 1] = {
    let mut f = [1u64; MAX_LEN + 1];
    let mut i = 1;
    while i <= MAX_LEN {
        f[i] = f[i - 1] * i as u64;
        i += 1;
    }
    f
};

/// The anagram code for one alphabet size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Anagram {
    base: u64,
    /// The longest length whose codes stay below `2^63`.
    max_len: usize,
    /// `binom[n * (max_len + 1) + k] = C(n, k)` (saturated), for
    /// `n < base + max_len`, `k <= max_len`.
    binom: Vec<u64>,
}

/// `C(base + len - 1, len) · len!`, if it is at most `2^63`.
fn universe(base: u64, len: usize) -> Option<u64> {
    if len > MAX_LEN {
        return None;
    }
    let mut c: u128 = 1;
    for i in 1..=len as u128 {
        // C(base - 1 + i, i) = C(base - 2 + i, i - 1) · (base - 1 + i) / i
        c = c.checked_mul(u128::from(base) - 1 + i)? / i;
        if c > 1 << 63 {
            return None;
        }
    }
    let u = c.checked_mul(u128::from(FACT[len]))?;
    (u <= 1 << 63).then_some(u as u64)
}

impl Anagram {
    /// The code for alphabets of `base` symbols (`2..=256`).
    pub(crate) fn new(base: u64) -> Anagram {
        let mut max_len = 0;
        while max_len < MAX_LEN && universe(base, max_len + 1).is_some() {
            max_len += 1;
        }
        let rows = base as usize + max_len;
        let cols = max_len + 1;
        let mut binom = vec![0u64; rows * cols];
        for n in 0..rows {
            binom[n * cols] = 1;
            for k in 1..cols.min(n + 1) {
                let above = binom[(n - 1) * cols + k];
                let left = binom[(n - 1) * cols + k - 1];
                binom[n * cols + k] = above.saturating_add(left);
            }
        }
        Anagram { base, max_len, binom }
    }

    /// Code width of length `len`, if it has an anagram code.
    pub(crate) fn bits(&self, len: usize) -> Option<u32> {
        if len > self.max_len {
            return None;
        }
        let u = universe(self.base, len)?;
        Some(64 - (u - 1).leading_zeros())
    }

    #[inline]
    fn c(&self, n: usize, k: usize) -> u64 {
        self.binom.get(n * (self.max_len + 1) + k).copied().unwrap_or(u64::MAX)
    }

    /// The code of a name given as symbol ranks (each below the base; at
    /// most [`bits`](Self::bits)-eligible length, else the result is
    /// meaningless but still computed without panicking).
    #[inline]
    pub(crate) fn code(&self, r: &[u8]) -> u64 {
        let l = r.len().min(MAX_LEN);
        let r = &r[..l];
        if self.base <= 64 {
            // Distinct symbols (the common case): one bit mask gives both
            // the Lehmer digits (smaller symbols seen to the right) and the
            // sorted multiset (the mask's bits in order).
            let mut seen = 0u64;
            let mut dup = 0u64;
            let mut lehmer = 0u64;
            for (i, &x) in r.iter().enumerate().rev() {
                let bit = 1u64 << (x & 63);
                dup |= seen & bit;
                let smaller = u64::from((seen & (bit - 1)).count_ones());
                lehmer = lehmer.wrapping_add(smaller.wrapping_mul(FACT[l - 1 - i]));
                seen |= bit;
            }
            if dup == 0 {
                let mut m = 0u64;
                let mut i = 0usize;
                while seen != 0 {
                    let pos = seen.trailing_zeros() as usize;
                    m = m.wrapping_add(self.c(pos + i, i + 1));
                    seen &= seen - 1;
                    i += 1;
                }
                return m.wrapping_mul(FACT[l]).wrapping_add(lehmer);
            }
        }
        // Repeated symbols (or a large alphabet): count and sort directly.
        let mut lehmer = 0u64;
        for (i, &x) in r.iter().enumerate() {
            let smaller = r[i + 1..].iter().filter(|&&y| y < x).count() as u64;
            lehmer = lehmer.wrapping_add(smaller.wrapping_mul(FACT[l - 1 - i]));
        }
        let mut sorted = [0u8; MAX_LEN];
        sorted[..l].copy_from_slice(r);
        sorted[..l].sort_unstable();
        let m = sorted[..l]
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &s)| m.wrapping_add(self.c(usize::from(s) + i, i + 1)));
        m.wrapping_mul(FACT[l]).wrapping_add(lehmer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Every string of `len` symbols over `base`, in lexicographic order.
    fn all(base: u8, len: usize) -> Vec<Vec<u8>> {
        let mut out = vec![vec![]];
        for _ in 0..len {
            out = out
                .into_iter()
                .flat_map(|p| {
                    (0..base).map(move |s| {
                        let mut q = p.clone();
                        q.push(s);
                        q
                    })
                })
                .collect();
        }
        out
    }

    #[test]
    fn injective_and_within_the_universe() {
        for base in [2u8, 3, 5, 7] {
            let a = Anagram::new(u64::from(base));
            for len in 0..=5 {
                let Some(bits) = a.bits(len) else { continue };
                let u = universe(u64::from(base), len).unwrap();
                let mut seen = HashSet::new();
                for name in all(base, len) {
                    let c = a.code(&name);
                    assert!(c < u && (u == 1 || c >> bits == 0), "{name:?}: {c} vs {u}");
                    assert!(seen.insert(c), "{name:?} collides");
                }
            }
        }
    }

    #[test]
    fn large_alphabets_take_the_general_path() {
        let a = Anagram::new(200);
        let mut seen = HashSet::new();
        for x in 0..200u8 {
            for y in [0u8, 1, 99, 199] {
                for z in [5u8, 150] {
                    assert!(seen.insert(a.code(&[x, y, z])));
                }
            }
        }
        assert!(a.bits(3).is_some());
    }

    #[test]
    fn successive_permutations_get_successive_codes() {
        let a = Anagram::new(36);
        // The permutations of 0..5 scaled into the alphabet, in order.
        let mut p = [3u8, 7, 9, 20, 31];
        let mut last = a.code(&p);
        for _ in 1..120 {
            // next_permutation
            let i = (0..4).rev().find(|&i| p[i] < p[i + 1]).unwrap();
            let j = (i + 1..5).rev().find(|&j| p[j] > p[i]).unwrap();
            p.swap(i, j);
            p[i + 1..].reverse();
            let c = a.code(&p);
            assert_eq!(c, last + 1, "{p:?}");
            last = c;
        }
    }

    #[test]
    fn lengths_with_a_code() {
        assert_eq!(Anagram::new(36).max_len, 11);
        assert_eq!(Anagram::new(2).max_len, 19);
        assert!(Anagram::new(256).max_len >= 6);
    }
}
