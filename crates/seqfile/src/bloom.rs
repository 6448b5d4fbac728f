//! Hadoop's bloom filters (`org.apache.hadoop.util.bloom`), bit-for-bit: the
//! `bloom` file of a BloomMapFile (`docs/hadoop-io.md` §5).
//!
//! * A [`BloomFilter`] is one row: `nbHash` hash rounds ([`crate::hash`]),
//!   a vector of `vectorSize` bits stored least significant bit first in
//!   each byte, exactly as serialized.
//! * A [`DynamicBloomFilter`] is a list of rows that grows by one row each
//!   time a key arrives while the last row already holds `nr` keys; a key is
//!   "probably present" if any row has all its bits set.
//! * [`vector_size`] is BloomMapFile's sizing formula, reproduced with Java's
//!   float, double and 32-bit integer semantics; [`BloomParams`] holds the
//!   three BloomMapFile settings.
//!
//! Reading ([`DynamicBloomFilter::read_from`]) treats the bytes as hostile:
//! every count and length is checked against the bytes that remain before
//! anything is allocated for it, and every failure is an [`Error`] with the
//! byte offset of the offending field.
//!
//! # Example
//!
//! ```
//! use seqfile::bloom::{BloomParams, DynamicBloomFilter};
//!
//! let params = BloomParams { nr: 100, ..BloomParams::default() };
//! let mut filter = DynamicBloomFilter::new(params)?;
//! assert_eq!(filter.vector_size(), 1176);
//! for i in 0..250 {
//!     // What is hashed is the key's serialized form (here a Text: VInt length + UTF-8).
//!     let key = format!("key-{i:05}");
//!     let mut bytes = vec![key.len() as u8];
//!     bytes.extend_from_slice(key.as_bytes());
//!     filter.add(&bytes)?;
//! }
//! assert_eq!(filter.rows().len(), 3);
//! assert_eq!(filter.current_nb_record(), 50);
//! assert!(filter.membership_test(b"\x09key-00042"));
//!
//! let mut file = Vec::new();
//! filter.write_to(&mut file);
//! assert_eq!(file.len(), 25 + 3 * (13 + 147));
//! assert_eq!(DynamicBloomFilter::read_from(&file)?, filter);
//! # Ok::<(), seqfile::Error>(())
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::hash::{HashType, Positions};

/// Number of hash rounds BloomMapFile uses (`BloomMapFile.HASH_COUNT`).
pub const HASH_COUNT: i32 = 5;

/// Hadoop's `Filter.VERSION`, the first field of a versioned filter header.
const VERSION: i32 = -1;

/// Bytes in a versioned filter header: version, nbHash, hashType, vectorSize.
const HEADER_LEN: usize = 13;

/// Fewest bytes a row can take: an old (unversioned) header of nbHash and
/// vectorSize, then at least one byte of bits.
const MIN_ROW_LEN: usize = 4 + 4 + 1;

/// Rows whose positions [`DynamicBloomFilter::membership_test`] computes
/// once and shares, when they have this many hash rounds or fewer.
const SHARED_POSITIONS: usize = 32;

/// The BloomMapFile settings that shape its filter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BloomParams {
    /// Keys per row, `io.mapfile.bloom.size` (default 1,048,576).
    pub nr: i32,
    /// Wanted false-positive rate, `io.mapfile.bloom.error.rate` (default
    /// 0.005). Hadoop reads it as a Java `float`.
    pub error_rate: f32,
    /// The hash, `hadoop.util.hash.type` (default Murmur).
    pub hash: HashType,
}

impl Default for BloomParams {
    fn default() -> Self {
        BloomParams { nr: 1_048_576, error_rate: 0.005, hash: HashType::Murmur }
    }
}

/// Bits per row for `nr` keys per row at `error_rate` with `nb_hash` rounds,
/// as BloomMapFile computes it:
/// `(int) ceil((double) (-nbHash * nr) / ln(1 - errorRate^(1 / nbHash)))`,
/// with `-nbHash * nr` a wrapping 32-bit product, the `f32` error rate
/// widened to `f64`, and Java's saturating conversion to `int`.
///
/// Defaults: `vector_size(1_048_576, 0.005, 5) == Ok(12_321_010)`.
///
/// # Errors
///
/// `InvalidInput` when `nb_hash` is not positive or the result is not a
/// positive `i32` (zero or negative `nr`, an error rate outside (0, 1), or
/// a product that overflowed to a positive number): Hadoop fails to build
/// such a filter ("maxValue must be > 0").
pub fn vector_size(nr: i32, error_rate: f32, nb_hash: i32) -> Result<u32> {
    if nb_hash <= 0 {
        return Err(Error::invalid(format!("bloom filter nbHash {nb_hash} must be > 0")));
    }
    let numerator = f64::from(nb_hash.wrapping_neg().wrapping_mul(nr));
    let denominator = (1.0 - f64::from(error_rate).powf(1.0 / f64::from(nb_hash))).ln();
    // Java's (int) of a double: NaN is 0, out-of-range values saturate; so is Rust's `as`.
    let size = (numerator / denominator).ceil() as i32;
    if size <= 0 {
        return Err(Error::invalid(format!(
            "bloom filter size for nr {nr}, error rate {error_rate}, nbHash {nb_hash} \
             comes out as {size} bits; it must be > 0"
        )));
    }
    Ok(size as u32)
}

/// Most hash rounds per key a filter may have. Hadoop's BloomMapFile uses 5
/// and a useful filter never needs more than a few dozen; a file claiming
/// more is corrupt, and honouring it would make every lookup crawl.
pub const MAX_NB_HASH: u32 = 256;

/// Checks the filter parameters Hadoop's `HashFunction` checks, plus
/// [`MAX_NB_HASH`].
fn check_params(vector_size: u32, nb_hash: u32) -> Result<()> {
    if vector_size == 0 || vector_size > i32::MAX as u32 {
        return Err(Error::invalid(format!(
            "bloom filter vector size {vector_size} is not in 1..=2147483647"
        )));
    }
    if nb_hash == 0 || nb_hash > MAX_NB_HASH {
        return Err(Error::invalid(format!(
            "bloom filter nbHash {nb_hash} is not in 1..={MAX_NB_HASH}"
        )));
    }
    Ok(())
}

/// Bytes of a bit vector of `vector_size` bits.
fn n_bytes(vector_size: u32) -> usize {
    vector_size.div_ceil(8) as usize
}

/// Mask of the used bits of the last byte of a vector of `vector_size` bits.
fn last_byte_mask(vector_size: u32) -> u8 {
    match vector_size % 8 {
        0 => 0xff,
        r => (1u8 << r) - 1,
    }
}

fn empty_key() -> Error {
    Error::invalid("bloom filter key length must be > 0 (Hadoop cannot hash an empty key)")
}

/// Writes a versioned filter header (Hadoop always writes the versioned form).
fn write_header(out: &mut Vec<u8>, nb_hash: u32, hash: HashType, vector_size: u32) {
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&nb_hash.to_be_bytes());
    out.push(hash.as_byte());
    out.extend_from_slice(&vector_size.to_be_bytes());
}

/// One bloom filter row (`org.apache.hadoop.util.bloom.BloomFilter`).
///
/// Invariants: `nb_hash` and `vector_size` are in `1..=i32::MAX`, the bit
/// vector has `(vector_size + 7) / 8` bytes, and the unused high bits of its
/// last byte are 0.
#[derive(Clone, PartialEq, Eq)]
pub struct BloomFilter {
    nb_hash: u32,
    hash: HashType,
    vector_size: u32,
    bits: Vec<u8>,
}

impl std::fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bit vector can be megabytes; show how full it is instead.
        let set: u64 = self.bits.iter().map(|b| u64::from(b.count_ones())).sum();
        f.debug_struct("BloomFilter")
            .field("nb_hash", &self.nb_hash)
            .field("hash", &self.hash)
            .field("vector_size", &self.vector_size)
            .field("bits_set", &set)
            .finish()
    }
}

impl BloomFilter {
    /// An empty row of `vector_size` bits with `nb_hash` hash rounds.
    ///
    /// # Errors
    ///
    /// `InvalidInput` unless both numbers are in `1..=i32::MAX`.
    pub fn new(vector_size: u32, nb_hash: u32, hash: HashType) -> Result<Self> {
        check_params(vector_size, nb_hash)?;
        Ok(BloomFilter { nb_hash, hash, vector_size, bits: vec![0; n_bytes(vector_size)] })
    }

    /// Hash rounds per key.
    pub fn nb_hash(&self) -> u32 {
        self.nb_hash
    }

    /// The hash function.
    pub fn hash_type(&self) -> HashType {
        self.hash
    }

    /// Bits in the vector.
    pub fn vector_size(&self) -> u32 {
        self.vector_size
    }

    /// The bit vector as serialized: bit `i` is `bits[i / 8] & (1 << (i % 8))`.
    pub fn bits(&self) -> &[u8] {
        &self.bits
    }

    /// Whether bit `i` is set (false past the end).
    pub fn bit(&self, i: u32) -> bool {
        self.bits.get((i / 8) as usize).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    fn positions<'a>(&self, key: &'a [u8]) -> impl Iterator<Item = u32> + use<'a> {
        Positions::new(self.hash, key, self.vector_size).take(self.nb_hash as usize)
    }

    /// Adds a key (its serialized bytes): sets its `nb_hash` bits.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `key` is empty, which Hadoop cannot hash.
    pub fn add(&mut self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(empty_key());
        }
        for p in Positions::new(self.hash, key, self.vector_size).take(self.nb_hash as usize) {
            self.bits[(p / 8) as usize] |= 1 << (p % 8);
        }
        Ok(())
    }

    /// Whether `key` is probably in the filter: all its bits are set.
    /// False positives happen at about the configured rate; false negatives
    /// never. An empty key is never present (no filter can hold one; Hadoop
    /// throws instead).
    pub fn membership_test(&self, key: &[u8]) -> bool {
        !key.is_empty() && self.positions(key).all(|p| self.bit(p))
    }

    /// Bytes [`write_to`](Self::write_to) appends: 13 + `(vector_size + 7) / 8`.
    pub fn serialized_len(&self) -> usize {
        HEADER_LEN + self.bits.len()
    }

    /// Appends Hadoop's serialized form (`BloomFilter.write`): the versioned
    /// header (i32 -1, i32 nbHash, u8 hashType, i32 vectorSize), then the bits.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.serialized_len());
        write_header(out, self.nb_hash, self.hash, self.vector_size);
        out.extend_from_slice(&self.bits);
    }

    /// Reads one serialized row from the front of `bytes`; returns it and the
    /// bytes it took. Old unversioned rows (Jenkins, no hash type byte) are
    /// accepted; unused high bits of the last byte are ignored, as in Hadoop.
    ///
    /// # Errors
    ///
    /// As for [`DynamicBloomFilter::read_from`].
    pub fn read_prefix(bytes: &[u8]) -> Result<(Self, usize)> {
        let mut c = Cursor { bytes, pos: 0 };
        let row = c.row()?;
        Ok((row, c.pos))
    }
}

/// A growing list of bloom filter rows
/// (`org.apache.hadoop.util.bloom.DynamicBloomFilter`).
///
/// The filter's own `nb_hash`, hash type and `vector_size` are what new rows
/// get; each row keeps the parameters it was read with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicBloomFilter {
    nb_hash: u32,
    hash: HashType,
    vector_size: u32,
    nr: i32,
    current_nb_record: i32,
    rows: Vec<BloomFilter>,
}

impl DynamicBloomFilter {
    /// The empty filter a BloomMapFile writer with these settings starts
    /// with: [`HASH_COUNT`] rounds, [`vector_size`] bits per row, one row.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when the settings give no valid vector size.
    pub fn new(params: BloomParams) -> Result<Self> {
        let size = vector_size(params.nr, params.error_rate, HASH_COUNT)?;
        Self::with_vector_size(size, HASH_COUNT as u32, params.hash, params.nr)
    }

    /// An empty filter (one empty row) with explicit parameters, like Hadoop's
    /// `new DynamicBloomFilter(vectorSize, nbHash, hashType, nr)`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` unless `vector_size` and `nb_hash` are in `1..=i32::MAX`.
    pub fn with_vector_size(
        vector_size: u32,
        nb_hash: u32,
        hash: HashType,
        nr: i32,
    ) -> Result<Self> {
        let row = BloomFilter::new(vector_size, nb_hash, hash)?;
        Ok(DynamicBloomFilter {
            nb_hash,
            hash,
            vector_size,
            nr,
            current_nb_record: 0,
            rows: vec![row],
        })
    }

    /// Hash rounds per key for new rows.
    pub fn nb_hash(&self) -> u32 {
        self.nb_hash
    }

    /// The hash function for new rows.
    pub fn hash_type(&self) -> HashType {
        self.hash
    }

    /// Bits per new row.
    pub fn vector_size(&self) -> u32 {
        self.vector_size
    }

    /// Keys per row.
    pub fn nr(&self) -> i32 {
        self.nr
    }

    /// Keys added to the last row.
    pub fn current_nb_record(&self) -> i32 {
        self.current_nb_record
    }

    /// The rows, oldest first (at least one).
    pub fn rows(&self) -> &[BloomFilter] {
        &self.rows
    }

    /// Adds a key (its serialized bytes, duplicates included) as Hadoop does:
    /// if the last row already holds `nr` keys, a new empty row is appended
    /// and the count restarts; then the key's bits are set in the last row
    /// and the count goes up by one.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `key` is empty (nothing changes; Hadoop would have
    /// added the new row before failing), or if the filter already has
    /// `i32::MAX` rows.
    pub fn add(&mut self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(empty_key());
        }
        if self.current_nb_record >= self.nr || self.rows.is_empty() {
            if self.rows.len() >= i32::MAX as usize {
                return Err(Error::invalid(
                    "bloom filter has 2147483647 rows, the most Hadoop can read",
                ));
            }
            self.rows.push(BloomFilter::new(self.vector_size, self.nb_hash, self.hash)?);
            self.current_nb_record = 0;
        }
        if let Some(row) = self.rows.last_mut() {
            row.add(key)?;
        }
        self.current_nb_record = self.current_nb_record.wrapping_add(1);
        Ok(())
    }

    /// Whether `key` (its serialized bytes) is probably in the filter: some
    /// row has all its bits set. No false negatives; an empty key is never
    /// present (Hadoop throws instead).
    pub fn membership_test(&self, key: &[u8]) -> bool {
        if key.is_empty() {
            return false;
        }
        // Rows normally share the filter's parameters: their positions are
        // hashed once for all of them, and lazily, because an absent key is
        // usually ruled out by its first or second position (each position
        // costs a chained hash round).
        let n = self.nb_hash as usize;
        if n > SHARED_POSITIONS {
            return self.rows.iter().any(|row| row.membership_test(key));
        }
        let mut shared = [0u32; SHARED_POSITIONS];
        let mut computed = 0;
        let mut positions = Positions::new(self.hash, key, self.vector_size);
        self.rows.iter().any(|row| {
            if row.nb_hash != self.nb_hash
                || row.hash != self.hash
                || row.vector_size != self.vector_size
            {
                return row.membership_test(key);
            }
            (0..n).all(|i| {
                while computed <= i {
                    shared[computed] = positions.next().unwrap_or(0);
                    computed += 1;
                }
                row.bit(shared[i])
            })
        })
    }

    /// Bytes [`write_to`](Self::write_to) appends.
    pub fn serialized_len(&self) -> usize {
        HEADER_LEN + 12 + self.rows.iter().map(BloomFilter::serialized_len).sum::<usize>()
    }

    /// Appends Hadoop's serialized form (`DynamicBloomFilter.write`), the
    /// whole `bloom` file of a BloomMapFile: the filter header, i32 nr,
    /// i32 currentNbRecord, i32 rows, then each row with its own header.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.reserve(self.serialized_len());
        write_header(out, self.nb_hash, self.hash, self.vector_size);
        out.extend_from_slice(&self.nr.to_be_bytes());
        out.extend_from_slice(&self.current_nb_record.to_be_bytes());
        // `add` keeps the count within i32.
        out.extend_from_slice(&(self.rows.len() as u32).to_be_bytes());
        for row in &self.rows {
            row.write_to(out);
        }
    }

    /// Reads a serialized filter (a BloomMapFile's `bloom` file). Bytes after
    /// the last row are ignored, as Hadoop ignores them; see
    /// [`read_prefix`](Self::read_prefix) to find where it ended.
    ///
    /// Old unversioned headers (first i32 positive = nbHash, Jenkins, no hash
    /// type byte) are accepted; the unused high bits of each row's last byte
    /// are ignored (and written back as 0), as in Hadoop.
    ///
    /// # Errors
    ///
    /// Each with the byte offset of the field:
    /// * `Truncated` when the bytes end inside a field;
    /// * `InvalidInput` for a version other than -1 or positive, or a hash
    ///   type byte other than 0 or 1;
    /// * `BadLength` for nbHash or vectorSize ≤ 0, or a row count ≤ 0 (Hadoop
    ///   never writes 0 rows; it would answer "absent" for every key);
    /// * `LengthExceedsInput` when a row count or bit vector needs more bytes
    ///   than remain.
    pub fn read_from(bytes: &[u8]) -> Result<Self> {
        Self::read_prefix(bytes).map(|(f, _)| f)
    }

    /// [`read_from`](Self::read_from), also returning the bytes the filter took.
    ///
    /// # Errors
    ///
    /// As for [`read_from`](Self::read_from).
    pub fn read_prefix(bytes: &[u8]) -> Result<(Self, usize)> {
        let mut c = Cursor { bytes, pos: 0 };
        let (nb_hash, hash, vector_size) = c.header()?;
        let nr = c.i32("bloom filter nr")?;
        let current_nb_record = c.i32("bloom filter currentNbRecord")?;
        let at = c.pos;
        let count = c.i32("bloom filter row count")?;
        if count <= 0 {
            let len = i64::from(count);
            return Err(Error::new(ErrorKind::BadLength { what: "bloom filter row count", len })
                .at(at as u64));
        }
        let count = count as usize;
        let remaining = c.remaining();
        if count > remaining / MIN_ROW_LEN {
            return Err(Error::new(ErrorKind::LengthExceedsInput {
                what: "bloom filter row count",
                len: count as u64,
                remaining: remaining as u64,
            })
            .at(at as u64));
        }
        let mut rows = Vec::with_capacity(count);
        for _ in 0..count {
            rows.push(c.row()?);
        }
        let filter = DynamicBloomFilter { nb_hash, hash, vector_size, nr, current_nb_record, rows };
        Ok((filter, c.pos))
    }
}

/// A position in the bytes being read.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let Some(s) = self.bytes.get(self.pos..).and_then(|rest| rest.get(..n)) else {
            return Err(
                Error::truncated(what, n as u64, self.remaining() as u64).at(self.pos as u64)
            );
        };
        self.pos += n;
        Ok(s)
    }

    fn i32(&mut self, what: &'static str) -> Result<i32> {
        let b = self.take(4, what)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A positive i32 (nbHash, vectorSize).
    fn positive(&mut self, what: &'static str) -> Result<u32> {
        let at = self.pos;
        let v = self.i32(what)?;
        if v <= 0 {
            return Err(Error::new(ErrorKind::BadLength { what, len: i64::from(v) }).at(at as u64));
        }
        Ok(v as u32)
    }

    /// `Filter.readFields`: (nbHash, hash type, vectorSize).
    fn header(&mut self) -> Result<(u32, HashType, u32)> {
        let at = self.pos;
        let version = self.i32("bloom filter header")?;
        let (nb_hash, hash) = if version > 0 {
            (version as u32, HashType::Jenkins)
        } else if version == VERSION {
            let nb_hash = self.positive("bloom filter nbHash")?;
            let at = self.pos;
            let b = self.take(1, "bloom filter hash type")?[0];
            let Some(hash) = HashType::from_byte(b) else {
                return Err(Error::invalid(format!(
                    "unknown bloom filter hash type {} (0 is Jenkins, 1 Murmur)",
                    b as i8
                ))
                .at(at as u64));
            };
            (nb_hash, hash)
        } else {
            return Err(Error::invalid(format!(
                "unsupported bloom filter version {version} (Hadoop writes -1)"
            ))
            .at(at as u64));
        };
        if nb_hash > MAX_NB_HASH {
            return Err(Error::invalid(format!(
                "bloom filter nbHash {nb_hash} is over the limit of {MAX_NB_HASH}"
            ))
            .at(at as u64));
        }
        let vector_size = self.positive("bloom filter vectorSize")?;
        Ok((nb_hash, hash, vector_size))
    }

    /// `BloomFilter.readFields`: a header, then the bits.
    fn row(&mut self) -> Result<BloomFilter> {
        let (nb_hash, hash, vector_size) = self.header()?;
        let at = self.pos;
        let len = n_bytes(vector_size);
        if len > self.remaining() {
            return Err(Error::new(ErrorKind::LengthExceedsInput {
                what: "bloom filter bit vector",
                len: len as u64,
                remaining: self.remaining() as u64,
            })
            .at(at as u64));
        }
        let mut bits = self.take(len, "bloom filter bit vector")?.to_vec();
        if let Some(last) = bits.last_mut() {
            *last &= last_byte_mask(vector_size);
        }
        Ok(BloomFilter { nb_hash, hash, vector_size, bits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        assert_eq!(vector_size(1_048_576, 0.005, HASH_COUNT).unwrap(), 12_321_010);
        let f = DynamicBloomFilter::new(BloomParams::default()).unwrap();
        assert_eq!(f.vector_size(), 12_321_010);
        assert_eq!(f.nb_hash(), 5);
        assert_eq!(f.hash_type(), HashType::Murmur);
        assert_eq!(f.nr(), 1_048_576);
        assert_eq!(f.rows().len(), 1);
        // docs/hadoop-io.md §5.3: 13 + 12 + 13 + 1,540,127.
        assert_eq!(f.serialized_len(), 1_540_165);
        let mut out = Vec::new();
        f.write_to(&mut out);
        assert_eq!(out.len(), 1_540_165);
    }

    #[test]
    fn vector_size_rejects_what_hadoop_rejects() {
        assert!(vector_size(0, 0.005, 5).is_err());
        assert!(vector_size(-1, 0.005, 5).is_err());
        assert!(vector_size(100, 0.0, 5).is_err());
        assert!(vector_size(100, 1.0, 5).is_err());
        assert!(vector_size(100, 1.5, 5).is_err());
        assert!(vector_size(100, -0.1, 5).is_err());
        assert!(vector_size(100, f32::NAN, 5).is_err());
        assert!(vector_size(100, 0.005, 0).is_err());
        assert!(vector_size(100, 0.005, -5).is_err());
        // -5 * 429,496,730 wraps to a positive int: a negative size.
        assert!(vector_size(429_496_730, 0.005, 5).is_err());
        // Just below the wrap: huge, saturated at i32::MAX by Java's (int).
        assert_eq!(vector_size(429_496_729, 0.005, 5).unwrap(), i32::MAX as u32);
        // -5 * 900,000,000 wraps to -205,032,704, still negative: a valid size.
        let p = (-5i32).wrapping_mul(900_000_000);
        assert_eq!(p, -205_032_704);
        let want = (f64::from(p) / (1.0 - f64::from(0.005f32).powf(0.2)).ln()).ceil() as i32;
        assert_eq!(vector_size(900_000_000, 0.005, 5).unwrap(), want as u32);
        // A tiny error rate saturates too.
        assert_eq!(vector_size(1_048_576, 1e-30, 5).unwrap(), i32::MAX as u32);
    }

    #[test]
    fn row_growth_matches_hadoop() {
        // §5.4: 1000 keys with nr = 100 give exactly 10 rows and count 100.
        let mut f = DynamicBloomFilter::with_vector_size(1176, 5, HashType::Murmur, 100).unwrap();
        for i in 0..1000u32 {
            f.add(&i.to_be_bytes()).unwrap();
        }
        assert_eq!(f.rows().len(), 10);
        assert_eq!(f.current_nb_record(), 100);
        f.add(b"x").unwrap();
        assert_eq!(f.rows().len(), 11);
        assert_eq!(f.current_nb_record(), 1);
        assert!(f.add(b"").is_err());
        assert_eq!((f.rows().len(), f.current_nb_record()), (11, 1));
        for i in 0..1000u32 {
            assert!(f.membership_test(&i.to_be_bytes()));
        }
        assert!(!f.membership_test(b""));

        // nr <= 0: a new row for every key (Hadoop's `>=` test).
        let mut f = DynamicBloomFilter::with_vector_size(64, 3, HashType::Jenkins, 0).unwrap();
        for k in [b"a", b"b", b"c"] {
            f.add(k).unwrap();
        }
        assert_eq!((f.rows().len(), f.current_nb_record()), (4, 1));
    }

    #[test]
    fn bits_are_lsb_first_and_tail_bits_zero() {
        let mut row = BloomFilter::new(11, 7, HashType::Murmur).unwrap();
        for k in 0..200u8 {
            row.add(&[k, 1]).unwrap();
        }
        assert_eq!(row.bits().len(), 2);
        assert_eq!(row.bits()[1] & !0b111, 0);
        let mut pos = [0u32; 7];
        crate::hash::positions(HashType::Murmur, b"\x05\x01", 7, 11, &mut pos).unwrap();
        for p in pos {
            assert_ne!(row.bits()[(p / 8) as usize] & (1 << (p % 8)), 0);
        }
        assert_eq!(last_byte_mask(8), 0xff);
        assert_eq!(last_byte_mask(1), 1);
        assert_eq!(last_byte_mask(12_321_010), 0b11);
    }

    #[test]
    fn reading_masks_unused_bits_and_upgrades_old_headers() {
        // Old format: nbHash 2 (positive first int), vectorSize 3, no type byte.
        let mut old = Vec::new();
        for v in [2i32, 3, 7, 0, 1] {
            old.extend_from_slice(&v.to_be_bytes()); // header, nr 7, count 0, rows 1
        }
        old.extend_from_slice(&2i32.to_be_bytes());
        old.extend_from_slice(&3i32.to_be_bytes());
        old.push(0xff); // bits 0..3 set, 5 unused bits set
        let (f, used) = DynamicBloomFilter::read_prefix(&old).unwrap();
        assert_eq!(used, old.len());
        assert_eq!(f.hash_type(), HashType::Jenkins);
        assert_eq!(f.rows()[0].bits(), [0b111]);
        assert!(f.membership_test(b"anything"));
        let mut out = Vec::new();
        f.write_to(&mut out);
        assert_eq!(out.len(), 13 + 12 + 13 + 1);
        assert_eq!(&out[..4], (-1i32).to_be_bytes());
        assert_eq!(out[8], 0);
        assert_eq!(DynamicBloomFilter::read_from(&out).unwrap(), f);
    }
}
