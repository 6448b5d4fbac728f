//! MapFile, SetFile, ArrayFile and BloomMapFile: sorted SequenceFiles with a
//! sparse index, Hadoop's SSTable.
//!
//! A map is a directory holding `data` (every record, keys in the order of
//! the key class's raw comparator, see [`KeyOrder`]) and `index` (every
//! `interval`-th key with the byte offset of its record — or, for BLOCK data,
//! of its block — always BLOCK-compressed with `DefaultCodec`). A
//! BloomMapFile adds `bloom`, a [`DynamicBloomFilter`] over the serialized
//! keys, so that a lookup of an absent key usually touches no data at all.
//!
//! The writer follows Hadoop's rules exactly (spec §4.1): equal keys are
//! allowed, a smaller key is refused with Hadoop's "key out of order" message,
//! and an index entry is written before record `count` when
//! `count >= last_indexed + interval` and the data position moved.
//!
//! ```
//! # fn main() -> Result<(), seqfile::Error> {
//! use seqfile::map::{MapReader, MapWriter, MapWriterOptions};
//! use seqfile::writable::{Text, LongWritable, Writable};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("words.map");
//! let mut w = MapWriter::create(&path, MapWriterOptions::new::<Text, LongWritable>().bloom_default())?;
//! for (i, word) in ["apple", "banana", "cherry"].iter().enumerate() {
//!     w.append(&Text::from(*word), &LongWritable(i as i64))?;
//! }
//! w.finish()?;
//!
//! let mut r = MapReader::open(&path)?;
//! let mut key = Vec::new();
//! Text::from("banana").write_to(&mut key);
//! let value = r.get(&key)?.unwrap();
//! assert_eq!(LongWritable::read_from(&value)?, LongWritable(1));
//! key.clear();
//! Text::from("durian").write_to(&mut key);
//! assert!(r.get(&key)?.is_none());
//! # Ok(()) }
//! ```

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::Codec;
use crate::bloom::{BloomParams, DynamicBloomFilter};
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Compression, Metadata};
use crate::order::KeyOrder;
use crate::reader::{Reader, Record};
use crate::writable::{Class, Datum, LongWritable, NullWritable, Writable};
use crate::writer::{Writer, WriterOptions};

/// Name of the data file in a map directory.
pub const DATA: &str = "data";
/// Name of the index file.
pub const INDEX: &str = "index";
/// Name of the bloom filter file (BloomMapFile only).
pub const BLOOM: &str = "bloom";
/// Hadoop's default `io.map.index.interval`.
pub const DEFAULT_INDEX_INTERVAL: u64 = 128;
/// Raw bytes per block of BLOCK-compressed map data: 64 KiB, not Hadoop's
/// 1,000,000. A lookup decodes the block it lands in, so small blocks make
/// gets an order of magnitude cheaper, and deflate, Snappy and LZ4 only look
/// back 32–64 KiB anyway, so files grow by well under 1%. Hadoop reads any
/// block size; set [`MapWriterOptions::block_size`] to match Hadoop exactly.
pub const DEFAULT_MAP_BLOCK_SIZE: usize = 64 * 1024;

/// Prints a serialized key as its class prints it (hex for unknown classes).
pub fn display_key(class: &str, key: &[u8]) -> String {
    Class::from_java_name(class)
        .and_then(|c| Datum::decode(c, &Bytes::copy_from_slice(key)).ok())
        .map_or_else(|| hex::encode(key), |d| d.to_string())
}

/// How to write a map.
#[derive(Clone, Debug)]
pub struct MapWriterOptions {
    key_class: String,
    value_class: String,
    compression: Compression,
    metadata: Metadata,
    interval: u64,
    bloom: Option<BloomParams>,
    block_size: usize,
}

impl MapWriterOptions {
    /// A map from `K` to `V`; data RECORD-compressed with `DefaultCodec` (what
    /// Hadoop's `MapFile.Writer` does without a compression option).
    pub fn new<K: Writable, V: Writable>() -> Self {
        Self::with_classes(K::CLASS_NAME, V::CLASS_NAME)
    }

    /// A map for any classes (records appended as raw serialized bytes).
    pub fn with_classes(key_class: impl Into<String>, value_class: impl Into<String>) -> Self {
        MapWriterOptions {
            key_class: key_class.into(),
            value_class: value_class.into(),
            compression: Compression::Record(Codec::Default),
            metadata: Metadata::new(),
            interval: DEFAULT_INDEX_INTERVAL,
            bloom: None,
            block_size: DEFAULT_MAP_BLOCK_SIZE,
        }
    }

    /// Compression of the data file (the index is always BLOCK/`DefaultCodec`).
    #[must_use]
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Metadata of the data file.
    #[must_use]
    pub fn metadata(mut self, m: Metadata) -> Self {
        self.metadata = m;
        self
    }

    /// Records per index entry (Hadoop's `io.map.index.interval`, default 128).
    #[must_use]
    pub fn index_interval(mut self, n: u64) -> Self {
        self.interval = n.max(1);
        self
    }

    /// Raw bytes per block when the data is BLOCK-compressed (default
    /// [`DEFAULT_MAP_BLOCK_SIZE`]).
    #[must_use]
    pub fn block_size(mut self, n: usize) -> Self {
        self.block_size = n;
        self
    }

    /// Also write a bloom filter (a BloomMapFile) with these parameters.
    #[must_use]
    pub fn bloom(mut self, p: BloomParams) -> Self {
        self.bloom = Some(p);
        self
    }

    /// A BloomMapFile with Hadoop's default parameters.
    #[must_use]
    pub fn bloom_default(self) -> Self {
        self.bloom(BloomParams::default())
    }
}

/// Writes a MapFile (or BloomMapFile) directory. Keys must come in order.
pub struct MapWriter {
    dir: PathBuf,
    data: Writer<BufWriter<File>>,
    index: Writer<BufWriter<File>>,
    order: KeyOrder,
    key_class: String,
    last_key: Option<Vec<u8>>,
    interval: u64,
    count: u64,
    last_index_count: Option<u64>,
    last_index_pos: Option<u64>,
    bloom: Option<DynamicBloomFilter>,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl std::fmt::Debug for MapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapWriter")
            .field("dir", &self.dir)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl MapWriter {
    /// Creates the directory (if needed) and its `data` and `index` files.
    ///
    /// # Errors
    ///
    /// I/O errors naming the path.
    pub fn create(dir: impl AsRef<Path>, opts: MapWriterOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::from(e).with_path(&dir))?;
        let data = Writer::create(
            dir.join(DATA),
            WriterOptions::with_classes(&opts.key_class, &opts.value_class)
                .compression(opts.compression)
                .metadata_map(opts.metadata)
                .block_size(opts.block_size),
        )?;
        let index = Writer::create(
            dir.join(INDEX),
            WriterOptions::with_classes(&opts.key_class, LongWritable::CLASS_NAME)
                .compression(Compression::Block(Codec::Default)),
        )?;
        let bloom = opts.bloom.map(DynamicBloomFilter::new).transpose()?;
        // Hadoop's writer keeps no stale filter from an earlier map in the same place.
        if bloom.is_none() {
            let _ = std::fs::remove_file(dir.join(BLOOM));
        }
        Ok(MapWriter {
            order: KeyOrder::for_class(&opts.key_class),
            key_class: opts.key_class,
            dir,
            data,
            index,
            last_key: None,
            interval: opts.interval,
            count: 0,
            last_index_count: None,
            last_index_pos: None,
            bloom,
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        })
    }

    /// Records appended so far.
    pub fn records(&self) -> u64 {
        self.count
    }

    /// Appends typed key and value.
    ///
    /// # Errors
    ///
    /// As [`MapWriter::append_raw`], and `InvalidInput` for the wrong classes.
    pub fn append<K: Writable, V: Writable>(&mut self, key: &K, value: &V) -> Result<()> {
        let mut k = std::mem::take(&mut self.key_buf);
        let mut v = std::mem::take(&mut self.value_buf);
        k.clear();
        v.clear();
        key.write_to(&mut k);
        value.write_to(&mut v);
        let r =
            if K::CLASS_NAME == self.key_class && V::CLASS_NAME == self.data.header().value_class {
                self.append_raw(&k, &v)
            } else {
                Err(Error::invalid(format!(
                    "map holds {} -> {}, not {} -> {}",
                    self.key_class,
                    self.data.header().value_class,
                    K::CLASS_NAME,
                    V::CLASS_NAME
                )))
            };
        self.key_buf = k;
        self.value_buf = v;
        r
    }

    /// Appends serialized key and value bytes.
    ///
    /// # Errors
    ///
    /// `KeyOutOfOrder` when `key` sorts before the previous key (nothing is
    /// written then); I/O errors.
    pub fn append_raw(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if let Some(prev) = &self.last_key
            && self.order.compare(prev, key).is_gt()
        {
            return Err(Error::new(ErrorKind::KeyOutOfOrder {
                key: display_key(&self.key_class, key),
                previous: display_key(&self.key_class, prev),
            })
            .with_path(self.dir.join(DATA))
            .at(self.data.position()));
        }
        if self.bloom.is_some() && key.is_empty() {
            return Err(Error::invalid(
                "a BloomMapFile cannot hold zero-length keys (NullWritable)",
            )
            .with_path(&self.dir));
        }
        let pos = self.data.position();
        let due = self.last_index_count.is_none_or(|last| self.count >= last + self.interval);
        if due && self.last_index_pos.is_none_or(|last| pos > last) {
            let mut p = Vec::with_capacity(8);
            LongWritable(pos as i64).write_to(&mut p);
            self.index.append_raw(key, &p)?;
            self.last_index_pos = Some(pos);
            self.last_index_count = Some(self.count);
        }
        self.data.append_raw(key, value)?;
        if let Some(b) = self.bloom.as_mut() {
            b.add(key)?;
        }
        match &mut self.last_key {
            Some(k) => {
                k.clear();
                k.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        self.count += 1;
        Ok(())
    }

    /// Finishes `data` and `index`, then writes `bloom` (if any).
    ///
    /// # Errors
    ///
    /// I/O errors naming the path.
    pub fn finish(self) -> Result<()> {
        self.data.finish()?;
        self.index.finish()?;
        if let Some(b) = &self.bloom {
            let path = self.dir.join(BLOOM);
            let mut bytes = Vec::new();
            b.write_to(&mut bytes);
            std::fs::write(&path, bytes).map_err(|e| Error::from(e).with_path(&path))?;
        }
        Ok(())
    }
}

/// Reader settings for maps.
#[derive(Clone, Debug, Default)]
pub struct MapReaderOptions {
    /// Keep only every (skip+1)-th index entry (Hadoop's `io.map.index.skip`).
    pub index_skip: usize,
    /// Do not load the bloom filter even if there is one.
    pub ignore_bloom: bool,
}

/// Reads a MapFile, SetFile, ArrayFile or BloomMapFile directory.
pub struct MapReader {
    dir: PathBuf,
    data: Reader<File>,
    order: KeyOrder,
    keys: Vec<Bytes>,
    positions: Vec<u64>,
    first_pos: u64,
    bloom: Option<DynamicBloomFilter>,
    /// A record read past during a seek, returned by the next `next`.
    pending: Option<Record>,
    /// Hadoop's lookup state: the index entry the last seek started from
    /// (`None` for "before the first entry") and the last key it read. A
    /// lookup between that key and the next index key starts from the same
    /// entry instead of searching again; with duplicate keys this decides
    /// which duplicate is found, so it is kept exactly as Hadoop keeps it.
    seek_index: Option<usize>,
    seek_position: u64,
    /// The last key the last seek read (empty before any seek).
    next_key: Vec<u8>,
    has_next_key: bool,
}

impl std::fmt::Debug for MapReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MapReader")
            .field("dir", &self.dir)
            .field("index_entries", &self.keys.len())
            .field("bloom", &self.bloom.is_some())
            .finish_non_exhaustive()
    }
}

impl MapReader {
    /// Opens a map directory and loads its index (and bloom filter).
    ///
    /// # Errors
    ///
    /// Missing `data` or `index`, an index out of order or pointing outside
    /// the data, a corrupt bloom filter: each naming the file and offset.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, &MapReaderOptions::default())
    }

    /// Opens with options.
    ///
    /// # Errors
    ///
    /// As [`MapReader::open`].
    pub fn open_with(dir: impl AsRef<Path>, opts: &MapReaderOptions) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let data_path = dir.join(DATA);
        let data = Reader::open(&data_path)?;
        let data_len =
            std::fs::metadata(&data_path).map_err(|e| Error::from(e).with_path(&data_path))?.len();
        let key_class = data.header().key_class.clone();
        let order = KeyOrder::for_class(&key_class);
        let first_pos = data.header_len();
        let (keys, positions) =
            load_index(&dir.join(INDEX), &key_class, order, opts.index_skip, first_pos, data_len)?;
        let bloom_path = dir.join(BLOOM);
        let bloom = if opts.ignore_bloom || !bloom_path.exists() {
            None
        } else {
            let bytes =
                std::fs::read(&bloom_path).map_err(|e| Error::from(e).with_path(&bloom_path))?;
            Some(DynamicBloomFilter::read_from(&bytes).map_err(|e| e.with_path(&bloom_path))?)
        };
        Ok(MapReader {
            dir,
            data,
            order,
            keys,
            positions,
            first_pos,
            bloom,
            pending: None,
            seek_index: None,
            seek_position: first_pos,
            next_key: Vec::new(),
            has_next_key: false,
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The data file's header.
    pub fn header(&self) -> &crate::Header {
        self.data.header()
    }

    /// The key order in use.
    pub fn order(&self) -> KeyOrder {
        self.order
    }

    /// The loaded index: keys and data offsets.
    pub fn index(&self) -> impl Iterator<Item = (&Bytes, u64)> {
        self.keys.iter().zip(self.positions.iter().copied())
    }

    /// The bloom filter, for BloomMapFiles.
    pub fn bloom(&self) -> Option<&DynamicBloomFilter> {
        self.bloom.as_ref()
    }

    /// False only when the bloom filter proves `key` absent; true otherwise
    /// (and always true for maps without a filter).
    pub fn probably_has_key(&self, key: &[u8]) -> bool {
        self.bloom.as_ref().is_none_or(|b| b.membership_test(key))
    }

    /// Moves to the start of the data; `next` then returns the first record.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn rewind(&mut self) -> Result<()> {
        self.pending = None;
        self.data.seek(self.first_pos)
    }

    /// The next record in key order.
    ///
    /// # Errors
    ///
    /// Errors of the data file.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if let Some(r) = self.pending.take() {
            return Ok(Some(r));
        }
        self.data.next_record()
    }

    /// Hadoop's index binary search: an index entry equal to `key`, or
    /// `Err(insertion point)`.
    fn search(&self, key: &[u8]) -> std::result::Result<usize, usize> {
        let (mut low, mut high) = (0isize, self.keys.len() as isize - 1);
        while low <= high {
            let mid = ((low + high) as usize) / 2;
            match self.order.compare(&self.keys[mid], key) {
                std::cmp::Ordering::Less => low = mid as isize + 1,
                std::cmp::Ordering::Greater => high = mid as isize - 1,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low as usize)
    }

    /// Positions at the first record whose key is ≥ `key` (it is returned by
    /// the next `next`); true when that record's key equals `key`.
    ///
    /// # Errors
    ///
    /// Errors of the data file.
    pub fn seek(&mut self, key: &[u8]) -> Result<bool> {
        Ok(self.seek_closest(key, false, false)?.is_some_and(|(exact, _)| exact))
    }

    /// Seeks and returns `(exact, record)`: the first record ≥ `key`, or with
    /// `before` the last record ≤ `key`; the record is also left pending.
    /// With `exact_only`, an inexact answer is `None` and its value is never
    /// read (a miss costs no value decompression).
    fn seek_closest(
        &mut self,
        key: &[u8],
        before: bool,
        exact_only: bool,
    ) -> Result<Option<(bool, Record)>> {
        self.pending = None;
        let order = self.order;
        let reuse = match self.seek_index {
            Some(i) => {
                self.has_next_key
                    && i + 1 < self.keys.len()
                    && order.compare(key, &self.keys[i + 1]).is_lt()
                    && order.compare(key, &self.next_key).is_ge()
            }
            None => false,
        };
        if !reuse {
            let entry = match self.search(key) {
                Ok(i) => Some(i),
                Err(0) => None,
                Err(i) => Some(i - 1),
            };
            self.seek_index = entry;
            self.seek_position = entry.map_or(self.first_pos, |i| self.positions[i]);
        }
        self.data.seek(self.seek_position)?;
        let mut prev: Option<Record> = None;
        // Keys only: values are fetched (and decompressed) for the answer
        // alone, and keys are copied only for the last one read.
        while let Some(k) = self.data.next_key()? {
            let c = order.compare(key, k);
            self.next_key.clear();
            self.next_key.extend_from_slice(k);
            self.has_next_key = true;
            if c.is_gt() && !before {
                continue;
            }
            if exact_only && c.is_lt() {
                return Ok(None);
            }
            let rec = Record {
                key: Bytes::copy_from_slice(&self.next_key),
                value: self.data.value_lazy()?,
            };
            if c.is_le() {
                let exact = c.is_eq();
                if before && !exact {
                    // The last record before `key` (None if `key` precedes all);
                    // Hadoop re-reads it, so it is the last key read.
                    if let Some(p) = &prev {
                        self.next_key.clear();
                        self.next_key.extend_from_slice(&p.key);
                    }
                    self.pending = Some(rec);
                    return Ok(prev.map(|p| (false, p)));
                }
                self.pending = Some(rec.clone());
                return Ok(Some((exact, rec)));
            }
            prev = Some(rec);
        }
        Ok(if before { prev.map(|p| (false, p)) } else { None })
    }

    /// The value for `key`, or `None`. With a bloom filter, an absent key
    /// usually returns without reading the data file.
    ///
    /// # Errors
    ///
    /// Errors of the data file.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Bytes>> {
        if !self.probably_has_key(key) {
            return Ok(None);
        }
        Ok(match self.seek_closest(key, false, true)? {
            Some((true, rec)) => Some(rec.value),
            _ => None,
        })
    }

    /// The first record with key ≥ `key` (`before` = false) or the last with
    /// key ≤ `key` (`before` = true); `None` past either end.
    ///
    /// # Errors
    ///
    /// Errors of the data file.
    pub fn get_closest(&mut self, key: &[u8], before: bool) -> Result<Option<Record>> {
        Ok(self.seek_closest(key, before, false)?.map(|(_, r)| r))
    }

    /// The last key of the map.
    ///
    /// # Errors
    ///
    /// Errors of the data file.
    pub fn final_key(&mut self) -> Result<Option<Bytes>> {
        self.pending = None;
        self.data.seek(self.positions.last().copied().unwrap_or(self.first_pos))?;
        let mut last = None;
        while let Some(rec) = self.data.next_ref()? {
            last = Some(rec.key.to_vec());
        }
        self.rewind()?;
        Ok(last.map(Bytes::from))
    }

    /// Hadoop's `midKey`: the middle entry of the loaded index (an
    /// approximation of the median key), `None` for an empty map.
    pub fn mid_key(&self) -> Option<&Bytes> {
        if self.keys.is_empty() { None } else { self.keys.get((self.keys.len() - 1) / 2) }
    }
}

fn load_index(
    path: &Path,
    key_class: &str,
    order: KeyOrder,
    skip: usize,
    first_pos: u64,
    data_len: u64,
) -> Result<(Vec<Bytes>, Vec<u64>)> {
    let mut r = Reader::open(path)?;
    if r.header().key_class != key_class || r.header().value_class != LongWritable::CLASS_NAME {
        return Err(Error::new(ErrorKind::BadIndex(format!(
            "index holds {} -> {}, expected {key_class} -> {}",
            r.header().key_class,
            r.header().value_class,
            LongWritable::CLASS_NAME
        )))
        .with_path(path));
    }
    let (mut keys, mut positions) = (Vec::<Bytes>::new(), Vec::<u64>::new());
    let mut n = 0usize;
    loop {
        let at = r.position();
        let Some(rec) = r.next_record()? else { break };
        let bad = |msg: String| Error::new(ErrorKind::BadIndex(msg)).with_path(path).at(at);
        let pos = LongWritable::read_from(&rec.value).map_err(|e| e.with_path(path).at(at))?.0;
        let pos = u64::try_from(pos).map_err(|_| bad(format!("negative data offset {pos}")))?;
        if pos < first_pos || pos >= data_len.max(first_pos + 1) {
            return Err(bad(format!(
                "data offset {pos} is outside the data file's records ({first_pos}..{data_len})"
            )));
        }
        if let Some(last) = keys.last()
            && order.compare(last, &rec.key).is_gt()
        {
            return Err(Error::new(ErrorKind::KeyOutOfOrder {
                key: display_key(key_class, &rec.key),
                previous: display_key(key_class, last),
            })
            .with_path(path)
            .at(at));
        }
        // Hadoop's rule: its skip counter starts at `skip`, so the kept entries
        // are numbers skip, 2*skip+1, …. Hadoop 3.5 means to drop an entry
        // pointing where the previous one points, but its check never fires
        // (the variable it compares with is never updated), so every such
        // entry is kept, and `mid_key` and duplicate lookups depend on it.
        let keep = n % (skip + 1) == skip;
        n += 1;
        if keep {
            keys.push(rec.key);
            positions.push(pos);
        }
    }
    Ok((keys, positions))
}

/// Writes a SetFile: a MapFile of keys with `NullWritable` values.
#[derive(Debug)]
pub struct SetWriter(MapWriter);

impl SetWriter {
    /// Creates a set of `key_class` keys.
    ///
    /// # Errors
    ///
    /// As [`MapWriter::create`].
    pub fn create(
        dir: impl AsRef<Path>,
        key_class: &str,
        compression: Compression,
    ) -> Result<Self> {
        let opts = MapWriterOptions::with_classes(key_class, NullWritable::CLASS_NAME)
            .compression(compression);
        Ok(SetWriter(MapWriter::create(dir, opts)?))
    }

    /// Appends a serialized key (keys in order).
    ///
    /// # Errors
    ///
    /// As [`MapWriter::append_raw`].
    pub fn append(&mut self, key: &[u8]) -> Result<()> {
        self.0.append_raw(key, &[])
    }

    /// Finishes the set.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// Writes an ArrayFile: values under `LongWritable` keys 0, 1, 2, ….
#[derive(Debug)]
pub struct ArrayWriter(MapWriter, i64);

impl ArrayWriter {
    /// Creates an array of `value_class` values.
    ///
    /// # Errors
    ///
    /// As [`MapWriter::create`].
    pub fn create(
        dir: impl AsRef<Path>,
        value_class: &str,
        compression: Compression,
    ) -> Result<Self> {
        let opts = MapWriterOptions::with_classes(LongWritable::CLASS_NAME, value_class)
            .compression(compression);
        Ok(ArrayWriter(MapWriter::create(dir, opts)?, 0))
    }

    /// Appends the next value (serialized).
    ///
    /// # Errors
    ///
    /// As [`MapWriter::append_raw`].
    pub fn append(&mut self, value: &[u8]) -> Result<()> {
        self.0.append_raw(&self.1.to_be_bytes(), value)?;
        self.1 += 1;
        Ok(())
    }

    /// Finishes the array.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// Reads element `n` of an ArrayFile.
///
/// # Errors
///
/// Errors of the map.
pub fn array_get(r: &mut MapReader, n: i64) -> Result<Option<Bytes>> {
    r.get(&n.to_be_bytes())
}
