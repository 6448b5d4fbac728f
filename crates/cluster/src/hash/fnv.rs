//! The four FNV variants. Bytes are sign-extended as nutcracker's `char`
//! reads give them ([`super::widen`]).

use super::widen;

const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME_64: u64 = 0x0000_0100_0000_01b3;
const OFFSET_32: u32 = 0x811c_9dc5;
const PRIME_32: u32 = 0x0100_0193;

/// FNV-1 over a 64-bit state (multiply, then xor), low 32 bits.
pub(super) fn fnv1_64(key: &[u8]) -> u32 {
    let mut h = OFFSET_64;
    for &b in key {
        h = h.wrapping_mul(PRIME_64);
        h ^= i64::from(b.cast_signed()).cast_unsigned();
    }
    h as u32
}

/// FNV-1a with both 64-bit constants cut to their low 32 bits; the whole
/// computation stays in 32 bits (xor, then multiply).
pub(super) fn fnv1a_64(key: &[u8]) -> u32 {
    let mut h = OFFSET_64 as u32;
    for &b in key {
        h ^= widen(b);
        h = h.wrapping_mul(PRIME_64 as u32);
    }
    h
}

/// 32-bit FNV-1 (multiply, then xor).
pub(super) fn fnv1_32(key: &[u8]) -> u32 {
    let mut h = OFFSET_32;
    for &b in key {
        h = h.wrapping_mul(PRIME_32);
        h ^= widen(b);
    }
    h
}

/// 32-bit FNV-1a (xor, then multiply).
pub(super) fn fnv1a_32(key: &[u8]) -> u32 {
    let mut h = OFFSET_32;
    for &b in key {
        h ^= widen(b);
        h = h.wrapping_mul(PRIME_32);
    }
    h
}
