//! Three classic string hashes: one-at-a-time, Hsieh's `SuperFastHash` and
//! `MurmurHash2`, in the shape nutcracker gives them.

use super::widen;

/// Bob Jenkins' one-at-a-time hash; bytes are sign-extended.
pub(super) fn one_at_a_time(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        h = h.wrapping_add(widen(b));
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h.wrapping_add(h << 15)
}

/// Two bytes, little-endian.
fn le16(pair: &[u8]) -> u32 {
    u32::from(pair[0]) | (u32::from(pair[1]) << 8)
}

/// Paul Hsieh's `SuperFastHash` with a zero seed; the empty key hashes to 0.
/// In a 3-byte tail the last byte is sign-extended (a signed `char` read),
/// the other tail bytes are not.
pub(super) fn hsieh(key: &[u8]) -> u32 {
    if key.is_empty() {
        return 0;
    }
    let mut h: u32 = 0;
    let mut words = key.chunks_exact(4);
    for w in &mut words {
        h = h.wrapping_add(le16(&w[..2]));
        let tmp = (le16(&w[2..]) << 11) ^ h;
        h = (h << 16) ^ tmp;
        h = h.wrapping_add(h >> 11);
    }
    match *words.remainder() {
        [b0, b1, b2] => {
            h = h.wrapping_add(le16(&[b0, b1]));
            h ^= h << 16;
            h ^= widen(b2) << 18;
            h = h.wrapping_add(h >> 11);
        }
        [b0, b1] => {
            h = h.wrapping_add(le16(&[b0, b1]));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        [b0] => {
            h = h.wrapping_add(u32::from(b0));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => {}
    }
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h.wrapping_add(h >> 6)
}

/// `MurmurHash2` (32-bit), seeded with `0xdeadbeef * len`; 4-byte blocks are
/// read little-endian.
pub(super) fn murmur(key: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // A key is at most a memcached key here; longer inputs wrap the length
    // exactly as the C code's `(uint32_t)length` does.
    let len = key.len() as u32;
    let mut h = 0xdead_beef_u32.wrapping_mul(len) ^ len;
    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}
