//! The key hashes nutcracker offers for `hash:`, each returning the same
//! 32-bit value nutcracker 0.5.0 computes on x86-64 Linux.
//!
//! Two traits of the C code are kept on purpose because placement depends
//! on them:
//!
//! * **Signed bytes.** nutcracker reads keys as `char`, which is signed on
//!   x86-64, and several hashes widen each byte without masking it first.
//!   A byte of 0x80 or more then enters the hash as `0xFFFF_FF80`… rather
//!   than `0x80`. The private `widen` does that widening; the functions that mask
//!   (the CRCs, Jenkins, murmur) take the byte as it is.
//! * **Truncations.** `fnv1_64` and `fnv1a_64` return the low 32 bits of a
//!   64-bit FNV state; `crc32` returns 15 bits (libmemcached's variant);
//!   `crc16` returns its whole 32-bit register, whose low 16 bits are
//!   CRC-16/XMODEM and whose upper bits are what the shifts left there.

mod classic;
mod crc;
mod fnv;
mod jenkins;

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};

use crate::error::UnknownName;

/// One of nutcracker's key hashes, named as in its `hash:` directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyHash {
    /// `one_at_a_time`: Bob Jenkins' one-at-a-time hash.
    OneAtATime,
    /// `md5`: the first four bytes of the MD5 digest, little-endian.
    Md5,
    /// `crc16`: CRC-16/XMODEM in a 32-bit register that is never masked.
    Crc16,
    /// `crc32`: bits 16..31 of CRC-32, masked to 15 bits (libmemcached's).
    Crc32,
    /// `crc32a`: the whole CRC-32 (zlib's `crc32`).
    Crc32a,
    /// `fnv1_64`: FNV-1 over a 64-bit state, low 32 bits returned.
    Fnv1_64,
    /// `fnv1a_64`: FNV-1a with the 64-bit constants truncated to 32 bits
    /// (equal to the low 32 bits of 64-bit FNV-1a); nutcracker's default.
    Fnv1a64,
    /// `fnv1_32`: 32-bit FNV-1.
    Fnv1_32,
    /// `fnv1a_32`: 32-bit FNV-1a.
    Fnv1a32,
    /// `hsieh`: Paul Hsieh's `SuperFastHash`.
    Hsieh,
    /// `murmur`: `MurmurHash2` seeded with `0xdeadbeef * len`.
    Murmur,
    /// `jenkins`: Bob Jenkins' lookup3 `hashlittle` with initval 13.
    Jenkins,
}

impl KeyHash {
    /// Every hash, in nutcracker's order.
    pub const ALL: [KeyHash; 12] = [
        KeyHash::OneAtATime,
        KeyHash::Md5,
        KeyHash::Crc16,
        KeyHash::Crc32,
        KeyHash::Crc32a,
        KeyHash::Fnv1_64,
        KeyHash::Fnv1a64,
        KeyHash::Fnv1_32,
        KeyHash::Fnv1a32,
        KeyHash::Hsieh,
        KeyHash::Murmur,
        KeyHash::Jenkins,
    ];

    /// The name nutcracker's config uses.
    pub fn name(self) -> &'static str {
        match self {
            KeyHash::OneAtATime => "one_at_a_time",
            KeyHash::Md5 => "md5",
            KeyHash::Crc16 => "crc16",
            KeyHash::Crc32 => "crc32",
            KeyHash::Crc32a => "crc32a",
            KeyHash::Fnv1_64 => "fnv1_64",
            KeyHash::Fnv1a64 => "fnv1a_64",
            KeyHash::Fnv1_32 => "fnv1_32",
            KeyHash::Fnv1a32 => "fnv1a_32",
            KeyHash::Hsieh => "hsieh",
            KeyHash::Murmur => "murmur",
            KeyHash::Jenkins => "jenkins",
        }
    }

    /// The 32-bit hash of `key`, as nutcracker computes it.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            KeyHash::OneAtATime => classic::one_at_a_time(key),
            KeyHash::Md5 => md5_word(key, 0),
            KeyHash::Crc16 => crc::crc16(key),
            KeyHash::Crc32 => crc::crc32_libmemcached(key),
            KeyHash::Crc32a => crc::crc32(key),
            KeyHash::Fnv1_64 => fnv::fnv1_64(key),
            KeyHash::Fnv1a64 => fnv::fnv1a_64(key),
            KeyHash::Fnv1_32 => fnv::fnv1_32(key),
            KeyHash::Fnv1a32 => fnv::fnv1a_32(key),
            KeyHash::Hsieh => classic::hsieh(key),
            KeyHash::Murmur => classic::murmur(key),
            KeyHash::Jenkins => jenkins::hashlittle(key, 13),
        }
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyHash {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyHash::ALL.into_iter().find(|h| h.name() == s).ok_or_else(|| UnknownName {
            what: "hash",
            name: s.to_owned(),
            expected: KeyHash::ALL.iter().map(|h| h.name()).collect(),
        })
    }
}

/// Word `index` (0..4) of the MD5 digest of `data`, read little-endian:
/// `hash: md5` uses word 0, each ketama digest gives four points.
pub(crate) fn md5_word(data: &[u8], index: usize) -> u32 {
    let digest = md5_digest(data);
    let at = index * 4;
    u32::from_le_bytes([digest[at], digest[at + 1], digest[at + 2], digest[at + 3]])
}

/// The MD5 digest of `data`.
pub(crate) fn md5_digest(data: &[u8]) -> [u8; 16] {
    Md5::digest(data).into()
}

/// A key byte as C's `(uint32_t)` of a signed `char` gives it: bytes of
/// 0x80 and above are sign-extended.
#[inline]
fn widen(b: u8) -> u32 {
    i32::from(b.cast_signed()).cast_unsigned()
}
