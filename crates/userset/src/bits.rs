//! Bit strings stored in `u64` words, least significant bit first.
//!
//! Readers never panic: a read past the end sees zero bits, so a corrupt
//! structure gives wrong answers (the checksum rejects it first) but never a
//! panic or an endless loop.

/// Appends bits to a growing word vector.
#[derive(Default, Debug)]
pub(crate) struct BitWriter {
    pub(crate) words: Vec<u64>,
    pub(crate) len: u64,
}

impl BitWriter {
    /// Appends the low `width` bits of `value` (`width` at most 64).
    pub(crate) fn push(&mut self, value: u64, width: u32) {
        if width == 0 {
            return;
        }
        let value = value & mask(width);
        let shift = (self.len % 64) as u32;
        if shift == 0 {
            self.words.push(value);
        } else {
            if let Some(last) = self.words.last_mut() {
                *last |= value << shift;
            }
            if shift + width > 64 {
                self.words.push(value >> (64 - shift));
            }
        }
        self.len += u64::from(width);
    }

    /// Appends `count` zero bits.
    pub(crate) fn zeros(&mut self, mut count: u64) {
        while count > 0 {
            let step = count.min(64) as u32;
            self.push(0, step);
            count -= u64::from(step);
        }
    }

    /// Elias gamma code of `v >= 1`: `bits(v) - 1` zeros, a one, then the
    /// low `bits(v) - 1` bits of `v`.
    pub(crate) fn gamma(&mut self, v: u64) {
        debug_assert!(v >= 1);
        let nbits = 64 - v.leading_zeros();
        self.zeros(u64::from(nbits - 1));
        self.push(1, 1);
        self.push(v, nbits - 1);
    }
}

/// The low `width` bits set (`width` at most 64).
#[inline]
pub(crate) fn mask(width: u32) -> u64 {
    if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
}

/// `width` bits (at most 64) starting at bit `pos`: reads the second word
/// only when the field straddles two, the better choice where successive
/// reads are predictable (decoding a stream).
#[inline]
pub(crate) fn get_bits(words: &[u64], pos: u64, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let i = (pos / 64) as usize;
    let shift = (pos % 64) as u32;
    let lo = words.get(i).copied().unwrap_or(0) >> shift;
    let v = if shift + width > 64 {
        lo | (words.get(i + 1).copied().unwrap_or(0) << (64 - shift))
    } else {
        lo
    };
    v & mask(width)
}

/// [`get_bits`] without the branch on straddling (always reads two words):
/// for lookups at unpredictable positions, where that branch would
/// mispredict half the time.
#[inline]
pub(crate) fn get_bits_at(words: &[u64], pos: u64, width: u32) -> u64 {
    let i = (pos / 64) as usize;
    let shift = (pos % 64) as u32;
    let lo = words.get(i).copied().unwrap_or(0) >> shift;
    // `<< 1 << (63 - shift)` is `<< (64 - shift)` without the shift by 64
    // that `shift == 0` would ask for.
    let hi = words.get(i + 1).copied().unwrap_or(0) << 1 << (63 - shift);
    (lo | hi) & mask(width)
}

/// Set bits in each byte of `x`, one count per byte.
#[inline]
fn byte_counts(x: u64) -> u64 {
    let s = x - ((x >> 1) & 0x5555_5555_5555_5555);
    let s = (s & 0x3333_3333_3333_3333) + ((s >> 2) & 0x3333_3333_3333_3333);
    (s + (s >> 4)) & 0x0F0F_0F0F_0F0F_0F0F
}

/// Set bits of `x` (a population count that needs no `popcnt` instruction,
/// which the baseline x86-64 target lacks).
#[inline]
pub(crate) fn ones(x: u64) -> u32 {
    (byte_counts(x).wrapping_mul(ONES_8) >> 56) as u32
}

const ONES_8: u64 = 0x0101_0101_0101_0101;
const HIGHS_8: u64 = 0x8080_8080_8080_8080;

/// `SELECT_IN_BYTE[r][b]`: the position of the `r`-th (from 0) set bit of
/// byte `b`, 8 when there is none.
static SELECT_IN_BYTE: [[u8; 256]; 8] = {
    let mut t = [[8u8; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut r = 0;
        let mut bit = 0;
        while bit < 8 {
            if b >> bit & 1 == 1 {
                t[r][b] = bit as u8;
                r += 1;
            }
            bit += 1;
        }
        b += 1;
    }
    t
};

/// The position of the `r`-th (from 0) set bit of `x`; 64 or more when `x`
/// has at most `r` set bits. Broadword: byte counts, their running sums by
/// one multiplication, the byte holding the bit by a bytewise comparison,
/// then a table for the bit within the byte. No loop, no branch.
#[inline]
pub(crate) fn select(x: u64, r: u32) -> u32 {
    if r >= 64 {
        return 64;
    }
    let sums = byte_counts(x).wrapping_mul(ONES_8);
    // High bit of byte i set when sums_i <= r (all values below 128, so the
    // subtraction borrows across no byte).
    let le = (((u64::from(r) * ONES_8) | HIGHS_8) - sums) & HIGHS_8;
    let byte = ((le >> 7).wrapping_mul(ONES_8) >> 56) as u32;
    if byte >= 8 {
        return 64;
    }
    let before = ((sums << 8) >> (8 * byte)) as u32 & 0xFF;
    let in_byte = (x >> (8 * byte)) as usize & 0xFF;
    8 * byte + u32::from(SELECT_IN_BYTE[(r - before) as usize & 7][in_byte])
}

/// Reads one Elias gamma value at `*pos`, advancing it; `None` on a code
/// longer than 64 bits (only corrupt data has one).
#[inline]
pub(crate) fn read_gamma(words: &[u64], pos: &mut u64) -> Option<u64> {
    let window = get_bits(words, *pos, 64);
    let zeros = window.trailing_zeros();
    if zeros >= 32 {
        return None;
    }
    let rest = get_bits(words, *pos + u64::from(zeros) + 1, zeros);
    *pos += u64::from(2 * zeros + 1);
    Some((1u64 << zeros) | rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_and_read_back() {
        let mut w = BitWriter::default();
        let items: Vec<(u64, u32)> =
            (0..500u64).map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15), (i % 65) as u32)).collect();
        for &(v, width) in &items {
            w.push(v, width);
        }
        let mut pos = 0;
        for &(v, width) in &items {
            assert_eq!(get_bits(&w.words, pos, width), v & mask(width));
            assert_eq!(get_bits_at(&w.words, pos, width), v & mask(width));
            pos += u64::from(width);
        }
        assert_eq!(pos, w.len);
    }

    #[test]
    fn select_and_ones_match_a_loop() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut words = vec![0, u64::MAX, 1, 1 << 63, 0x8000_0000_0000_0001];
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            words.push(x);
            words.push(x & (x >> 3) & (x >> 7));
        }
        for &w in &words {
            assert_eq!(ones(w), w.count_ones(), "{w:#x}");
            let set: Vec<u32> = (0..64).filter(|b| w >> b & 1 == 1).collect();
            for r in 0..70u32 {
                let want = set.get(r as usize).copied().unwrap_or(64);
                assert_eq!(select(w, r).min(64), want, "select({w:#x}, {r})");
            }
        }
    }

    #[test]
    fn gamma_round_trip() {
        let mut w = BitWriter::default();
        let values = [1u64, 2, 3, 4, 7, 8, 255, 256, 65_535, 1 << 31, (1 << 32) - 1];
        for &v in &values {
            w.gamma(v);
        }
        let mut pos = 0;
        for &v in &values {
            assert_eq!(read_gamma(&w.words, &mut pos), Some(v));
        }
        assert_eq!(pos, w.len);
        // Past the end there are only zeros: no value, no panic.
        assert_eq!(read_gamma(&w.words, &mut pos), None);
    }
}
