//! Hadoop's 32-bit hashes for bloom filters (`org.apache.hadoop.util.hash`)
//! and the bit positions a key sets (`org.apache.hadoop.util.bloom.HashFunction`).
//!
//! * [`murmur`] is Hadoop's `MurmurHash`, which is **not** reference
//!   `MurmurHash2`: its 1–3 byte tail is sign-extended and taken in reversed
//!   order (`docs/hadoop-io.md` §5.5), so no stock Murmur2 crate matches it.
//! * [`jenkins`] is Bob Jenkins' lookup3 `hashlittle` (§5.6).
//! * [`positions`] chains the hash: each of the `nbHash` rounds is seeded with
//!   the previous round's signed result, and the position is Java's
//!   `Math.abs(h % vectorSize)` (§5.4).
//!
//! All three are checked against values computed by Hadoop 3.5.
//!
//! # Example
//!
//! ```
//! use seqfile::hash::{HashType, jenkins, murmur, positions};
//!
//! // Text "key-00000007" serialized: VInt length 12, then the UTF-8 bytes.
//! let key = b"\x0ckey-00000007";
//! assert_eq!(murmur(key, 0), 709_293_949);
//! assert_eq!(jenkins(key, 0), -953_437_941);
//!
//! let mut pos = [0u32; 5];
//! positions(HashType::Murmur, key, 5, 12_321_010, &mut pos)?;
//! assert_eq!(pos, [6_996_379, 1_832_171, 4_369_592, 11_569_833, 3_647_680]);
//!
//! // Hadoop refuses to hash an empty key.
//! assert!(positions(HashType::Murmur, b"", 5, 12_321_010, &mut pos).is_err());
//! # Ok::<(), seqfile::Error>(())
//! ```

use crate::error::{Error, Result};

/// Which hash a bloom filter uses (`org.apache.hadoop.util.hash.Hash`).
///
/// The discriminant is the byte stored in a serialized filter's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum HashType {
    /// `JenkinsHash` (type byte 0): lookup3 `hashlittle`.
    Jenkins = 0,
    /// `MurmurHash` (type byte 1), Hadoop's default (`hadoop.util.hash.type=murmur`).
    #[default]
    Murmur = 1,
}

impl HashType {
    /// The type for a header byte: 0 Jenkins, 1 Murmur, anything else `None`
    /// (Hadoop fails with "hashType must be known").
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(HashType::Jenkins),
            1 => Some(HashType::Murmur),
            _ => None,
        }
    }

    /// The header byte: 0 Jenkins, 1 Murmur.
    pub fn as_byte(self) -> u8 {
        self as u8
    }

    /// The type for a value of Hadoop's `hadoop.util.hash.type` setting:
    /// `"jenkins"` or `"murmur"`, ignoring case as `Hash.parseHashType` does
    /// (Java's `equalsIgnoreCase`, no trimming). Anything else is `None`
    /// (Hadoop's invalid type -1, which fails when a filter is made).
    pub fn from_config_name(name: &str) -> Option<Self> {
        if java_equals_ignore_case(name, "jenkins") {
            Some(HashType::Jenkins)
        } else if java_equals_ignore_case(name, "murmur") {
            Some(HashType::Murmur)
        } else {
            None
        }
    }

    /// The setting's value for this type: `"jenkins"` or `"murmur"`.
    pub fn config_name(self) -> &'static str {
        match self {
            HashType::Jenkins => "jenkins",
            HashType::Murmur => "murmur",
        }
    }

    /// Hashes `bytes` with this function and `seed`.
    pub fn hash(self, bytes: &[u8], seed: i32) -> i32 {
        match self {
            HashType::Jenkins => jenkins(bytes, seed),
            HashType::Murmur => murmur(bytes, seed),
        }
    }
}

/// Java's `String.equalsIgnoreCase` against an ASCII `target`: same number
/// of characters, each equal after `toUpperCase`, or after `toUpperCase` then
/// `toLowerCase` (so dotless `ı`, dotted `İ` and the Kelvin sign match `i`/`k`).
fn java_equals_ignore_case(name: &str, target: &str) -> bool {
    // Java's simple (one-character) case mappings. Rust gives the full ones;
    // where a full mapping has several characters Java leaves the character
    // unchanged, except `İ`, whose simple lowercase is `i`.
    fn one(mut it: impl Iterator<Item = char>, c: char) -> char {
        match (it.next(), it.next()) {
            (Some(m), None) => m,
            _ => c,
        }
    }
    let upper = |c: char| one(c.to_uppercase(), c);
    let lower = |c: char| if c == '\u{130}' { 'i' } else { one(c.to_lowercase(), c) };
    name.chars().count() == target.len()
        && name
            .chars()
            .zip(target.chars())
            .all(|(a, b)| a == b || upper(a) == upper(b) || lower(upper(a)) == lower(upper(b)))
}

/// Hadoop's `MurmurHash.hash(bytes, seed)` (`docs/hadoop-io.md` §5.5).
///
/// Identical to `MurmurHash2` on whole 4-byte groups; the tail differs: with
/// tail bytes `t0 t1 t2` sign-extended to 32 bits, a 3-byte tail XORs
/// `t0 << 16`, `t1 << 8`, `t2`; a 2-byte tail `t0 << 8`, `t1`; a 1-byte tail `t0`.
pub fn murmur(bytes: &[u8], seed: i32) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's int length; inputs of 2 GiB or more do not exist in Hadoop.
    let mut h = (seed as u32) ^ (bytes.len() as u32);
    let mut groups = bytes.chunks_exact(4);
    for g in &mut groups {
        let mut k = u32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // A Java byte widened to int: sign-extended.
    let s = |b: u8| i32::from(b as i8) as u32;
    match *groups.remainder() {
        [t0, t1, t2] => h ^= (s(t0) << 16) ^ (s(t1) << 8) ^ s(t2),
        [t0, t1] => h ^= (s(t0) << 8) ^ s(t1),
        [t0] => h ^= s(t0),
        _ => {}
    }
    if !groups.remainder().is_empty() {
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Hadoop's `JenkinsHash.hash(bytes, seed)`: lookup3 `hashlittle` with the
/// seed as an unsigned 32-bit value (`docs/hadoop-io.md` §5.6).
///
/// When no bytes remain after the 12-byte rounds (in particular for empty
/// input) `c` is returned without the final mix, as in lookup3.
pub fn jenkins(bytes: &[u8], seed: i32) -> i32 {
    let init = 0xdead_beef_u32.wrapping_add(bytes.len() as u32).wrapping_add(seed as u32);
    let (mut a, mut b, mut c) = (init, init, init);
    let word = |w: &[u8]| u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
    let mut rest = bytes;
    while rest.len() > 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c as i32;
    }
    let mut last = [0u8; 12];
    last[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&last[0..4]));
    b = b.wrapping_add(word(&last[4..8]));
    c = c.wrapping_add(word(&last[8..12]));
    final_mix(&mut a, &mut b, &mut c);
    c as i32
}

/// lookup3's `mix(a, b, c)`.
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// lookup3's `final(a, b, c)`.
fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// The position of hash `h` in a vector of `m` bits: Java's
/// `Math.abs(h % m)` for `m` in `1..=i32::MAX` (never `i32::MIN`, since
/// `|h % m| < m`); the same as `h.unsigned_abs() % m`.
fn java_position(h: i32, m: u32) -> u32 {
    debug_assert!(m >= 1 && i32::try_from(m).is_ok());
    (h % m as i32).unsigned_abs()
}

/// Checks the arguments of [`positions`] that Hadoop checks.
fn check_key_and_size(key: &[u8], vector_size: u32) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(
            "bloom filter key length must be > 0 (Hadoop cannot hash an empty key)",
        ));
    }
    if vector_size == 0 || vector_size > i32::MAX as u32 {
        return Err(Error::invalid(format!(
            "bloom filter vector size {vector_size} is not in 1..=2147483647"
        )));
    }
    Ok(())
}

/// The bit positions of `key` in a filter of `vector_size` bits with
/// `nb_hash` hash rounds, written to `out[..nb_hash]` in order
/// (Hadoop's `HashFunction.hash`): `seed = 0`, then for each round
/// `seed = hash(key, seed)` and `position = |seed % vector_size|` with Java's
/// remainder.
///
/// # Errors
///
/// `InvalidInput` when `key` is empty (Hadoop: "key length must be > 0"),
/// `vector_size` is 0 or above `i32::MAX`, or `out` is shorter than `nb_hash`.
pub fn positions(
    hash: HashType,
    key: &[u8],
    nb_hash: usize,
    vector_size: u32,
    out: &mut [u32],
) -> Result<()> {
    check_key_and_size(key, vector_size)?;
    let Some(out) = out.get_mut(..nb_hash) else {
        return Err(Error::invalid(format!(
            "{nb_hash} bloom positions asked for, room for {}",
            out.len()
        )));
    };
    for (slot, p) in out.iter_mut().zip(Positions::new(hash, key, vector_size)) {
        *slot = p;
    }
    Ok(())
}

/// The endless sequence of positions of one key (take `nbHash` of them).
///
/// The key must be non-empty and the vector size in `1..=i32::MAX`; the
/// filter types guarantee both before creating one.
#[derive(Clone, Debug)]
pub(crate) struct Positions<'a> {
    hash: HashType,
    key: &'a [u8],
    seed: i32,
    vector_size: u32,
}

impl<'a> Positions<'a> {
    pub(crate) fn new(hash: HashType, key: &'a [u8], vector_size: u32) -> Self {
        Positions { hash, key, seed: 0, vector_size }
    }
}

impl Iterator for Positions<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        self.seed = self.hash.hash(self.key, self.seed);
        Some(java_position(self.seed, self.vector_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_tables() {
        // docs/hadoop-io.md §5.5 and §5.6.
        let cases: [(&str, [i32; 3]); 4] = [
            ("", [0, -1_285_986_640, 1_540_447_798]),
            ("61", [-1_838_653_602, 713_507_990, 626_045_324]),
            ("f09f9880c3a9ff", [1_817_758_435, 63_543_533, 1_221_974_454]),
            ("0c6b65792d3030303030303037", [709_293_949, 1_940_013_001, -1_249_090_896]),
        ];
        for (hex, want) in cases {
            let b = hex::decode(hex).unwrap();
            for (seed, w) in [0, -1, 1].into_iter().zip(want) {
                assert_eq!(murmur(&b, seed), w, "murmur {hex} seed {seed}");
            }
        }
        assert_eq!(jenkins(b"", 0), 0xdead_beef_u32 as i32);
        assert_eq!(jenkins(b"a", 0), 1_490_454_280);
        assert_eq!(jenkins(b"abc", 0), 238_646_833);
        assert_eq!(jenkins(b"\x0ckey-00000007", 0), -953_437_941);
    }

    #[test]
    fn murmur_tail_is_hadoops_not_reference() {
        // Reference MurmurHash2 tail: t2 << 16 ^ t1 << 8 ^ t0, zero-extended.
        fn reference(bytes: &[u8], seed: i32) -> i32 {
            const M: u32 = 0x5bd1_e995;
            let mut h = (seed as u32) ^ (bytes.len() as u32);
            let mut g = bytes.chunks_exact(4);
            for c in &mut g {
                let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                k = k.wrapping_mul(M);
                k ^= k >> 24;
                h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
            }
            let t = g.remainder();
            for (i, &b) in t.iter().enumerate().rev() {
                h ^= u32::from(b) << (8 * i);
            }
            if !t.is_empty() {
                h = h.wrapping_mul(M);
            }
            h ^= h >> 13;
            h = h.wrapping_mul(M);
            (h ^ (h >> 15)) as i32
        }
        // Same on whole groups and on a one-byte ASCII tail ...
        assert_eq!(murmur(b"abcd", 7), reference(b"abcd", 7));
        assert_eq!(murmur(b"abcde", 7), reference(b"abcde", 7));
        // ... different for 2- and 3-byte tails and for high tail bytes.
        assert_ne!(murmur(b"ab", 7), reference(b"ab", 7));
        assert_ne!(murmur(b"abc", 7), reference(b"abc", 7));
        assert_ne!(murmur(b"\x80", 7), reference(b"\x80", 7));
    }

    #[test]
    fn java_position_edges() {
        // Math.abs(i32::MIN % m) never overflows: |x % m| < m.
        assert_eq!(java_position(i32::MIN, 1), 0);
        assert_eq!(java_position(i32::MIN, i32::MAX as u32), 1);
        assert_eq!(java_position(i32::MIN, 3), 2); // -2147483648 % 3 == -2
        assert_eq!(java_position(i32::MIN, 1 << 30), 0);
        assert_eq!(java_position(-7, 5), 2);
        assert_eq!(java_position(7, 5), 2);
        assert_eq!(java_position(i32::MAX, i32::MAX as u32), 0);
        for h in [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX, 123_456_789, -987_654_321] {
            for m in [1u32, 2, 3, 1176, 12_321_010, i32::MAX as u32] {
                assert_eq!(java_position(h, m), h.unsigned_abs() % m, "h {h} m {m}");
            }
        }
    }

    #[test]
    fn positions_arguments() {
        let mut out = [0u32; 5];
        assert!(positions(HashType::Jenkins, b"", 5, 100, &mut out).is_err());
        assert!(positions(HashType::Jenkins, b"k", 5, 0, &mut out).is_err());
        assert!(positions(HashType::Jenkins, b"k", 5, 1 << 31, &mut out).is_err());
        assert!(positions(HashType::Jenkins, b"k", 6, 100, &mut out).is_err());
        positions(HashType::Jenkins, b"k", 0, 100, &mut out).unwrap();
        positions(HashType::Jenkins, b"k", 3, 1, &mut out).unwrap();
        assert_eq!(out[..3], [0, 0, 0]);
        positions(HashType::Murmur, b"k", 5, i32::MAX as u32, &mut out).unwrap();
        // Chained seeds: round i+1 is seeded with round i's signed hash.
        let h1 = murmur(b"k", 0);
        let h2 = murmur(b"k", h1);
        assert_eq!(out[0], h1.unsigned_abs() % i32::MAX as u32);
        assert_eq!(out[1], h2.unsigned_abs() % i32::MAX as u32);
    }

    #[test]
    fn hash_type_names_and_bytes() {
        assert_eq!(HashType::default(), HashType::Murmur);
        for t in [HashType::Jenkins, HashType::Murmur] {
            assert_eq!(HashType::from_byte(t.as_byte()), Some(t));
            assert_eq!(HashType::from_config_name(t.config_name()), Some(t));
        }
        assert_eq!(HashType::Jenkins.as_byte(), 0);
        assert_eq!(HashType::Murmur.as_byte(), 1);
        assert_eq!(HashType::from_byte(2), None);
        assert_eq!(HashType::from_byte(0xff), None);
        assert_eq!(HashType::from_config_name("MurMur"), Some(HashType::Murmur));
        assert_eq!(HashType::from_config_name("JENKINS"), Some(HashType::Jenkins));
        assert_eq!(HashType::from_config_name(" murmur"), None);
        assert_eq!(HashType::from_config_name("murmur3"), None);
        assert_eq!(HashType::from_config_name(""), None);
        // Java's equalsIgnoreCase (checked with JDK 17): ı, İ and the Kelvin sign fold to ASCII.
        assert_eq!(HashType::from_config_name("JENKıNS"), Some(HashType::Jenkins));
        assert_eq!(HashType::from_config_name("jen\u{212a}ins"), Some(HashType::Jenkins));
        assert_eq!(HashType::from_config_name("jenkİns"), Some(HashType::Jenkins));
        assert_eq!(HashType::from_config_name("\u{17f}"), None);
    }
}
