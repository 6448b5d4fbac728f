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

/// `width` bits (at most 64) starting at bit `pos`.
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
            pos += u64::from(width);
        }
        assert_eq!(pos, w.len);
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
