//! Reading SequenceFiles: every version Hadoop accepts, all three layouts.

use std::fs::File;
use std::io::{Read, Seek};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::Decompressor;
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Compression, Header, SYNC_ENTRY_LEN, SYNC_LEN};
use crate::source::Source;
use crate::vint;
use crate::writable::Writable;

/// Headers larger than this are refused (Hadoop's are a few hundred bytes;
/// metadata can make them larger, never this large in practice).
const MAX_HEADER_LEN: usize = 64 << 20;

/// One record: the key's and the value's serialized bytes.
///
/// Both are shared slices of the read buffer or of a decompressed block; no
/// bytes are copied to hand them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Serialized key.
    pub key: Bytes,
    /// Serialized value (decompressed for RECORD and BLOCK files).
    pub value: Bytes,
}

/// A record borrowed from the reader; see [`Reader::next_ref`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Serialized key.
    pub key: &'a [u8],
    /// Serialized value (decompressed for RECORD and BLOCK files).
    pub value: &'a [u8],
}

/// Decoded values of a block: the bytes, the offsets, and whether complete.
type DecodedValues = (Vec<u8>, Vec<usize>, bool);

/// The record `next_key` stopped at, whose value `value` fetches.
#[derive(Clone, Copy)]
enum Current {
    None,
    /// A NONE/RECORD record still in the read buffer (its bytes are consumed lazily).
    Plain {
        at: u64,
        key_len: usize,
        rec_len: usize,
    },
    /// Record `index` of the current block.
    Block {
        index: usize,
    },
}

/// Where the bytes lent by `next_ref` live.
enum Lent {
    /// The current block's decompressed buffers.
    Block,
    /// The read buffer (NONE files).
    Buffer,
    /// Key in the read buffer, value in `value_buf` (RECORD files).
    Decompressed,
}

/// Reader settings.
#[derive(Clone, Debug)]
pub struct ReaderOptions {
    /// Largest record, or decompressed buffer, the reader will materialize.
    /// Protects against corrupt lengths and decompression bombs. Default 1 GiB.
    pub max_buffer_len: usize,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions { max_buffer_len: 1 << 30 }
    }
}

/// Decoded records of the current block (BLOCK files).
///
/// Values are decompressed only when a value of the block is asked for, as
/// Hadoop does: a MapFile lookup that scans keys never pays for them.
#[derive(Default)]
struct Block {
    /// Records in the block.
    n: usize,
    keys: Bytes,
    /// `n + 1` offsets into `keys`.
    key_offs: Vec<usize>,
    values: Bytes,
    /// `n + 1` offsets into `values`, once decoded.
    value_offs: Vec<usize>,
    /// The still-compressed value lengths and values.
    values_stored: Option<(Bytes, Bytes)>,
    /// The next record to return.
    next: usize,
}

/// A SequenceFile reader over any byte source.
///
/// Sequential reading needs only [`Read`]; [`seek`](Reader::seek),
/// [`sync`](Reader::sync) and split reading need [`Seek`] too.
///
/// ```
/// # fn main() -> Result<(), seqfile::Error> {
/// use seqfile::{Compression, Codec, Reader, Writer, WriterOptions};
/// use seqfile::writable::{LongWritable, Text};
///
/// let opts = WriterOptions::new::<LongWritable, Text>().compression(Compression::Block(Codec::Default));
/// let mut w = Writer::new(Vec::new(), opts)?;
/// w.append(&LongWritable(1), &Text::from("one"))?;
/// let file = w.finish()?;
///
/// let mut r = Reader::new(&file[..])?;
/// let (k, v): (LongWritable, Text) = r.next_typed()?.unwrap();
/// assert_eq!((k.0, v.to_string()), (1, "one".to_string()));
/// assert!(r.next_record()?.is_none());
/// # Ok(()) }
/// ```
pub struct Reader<R> {
    src: Source<R>,
    header: Header,
    header_len: u64,
    path: Option<Arc<Path>>,
    decompressor: Option<Decompressor>,
    opts: ReaderOptions,
    block: Block,
    /// Sync entries at or past this offset end the reading (split end).
    end: u64,
    done: bool,
    /// Offset of the block being read (for error messages).
    block_at: u64,
    blocks_read: u64,
    syncs_seen: u64,
    /// Offset of the block held in `block`, while it is intact (seeking back
    /// to it rewinds instead of reading and decompressing it again).
    block_valid_at: Option<u64>,
    /// Bytes of the record last lent out by `next_ref`, skipped on the next call.
    consume: usize,
    /// Decompressed value lent out by `next_ref` (RECORD files).
    value_buf: Vec<u8>,
    current: Current,
}

impl<R> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl Reader<File> {
    /// Opens a file.
    ///
    /// # Errors
    ///
    /// I/O errors and header errors, naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, ReaderOptions::default())
    }

    /// Opens a file with options.
    ///
    /// # Errors
    ///
    /// As [`Reader::open`].
    pub fn open_with(path: impl AsRef<Path>, opts: ReaderOptions) -> Result<Self> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let file = File::open(&path).map_err(|e| Error::from(e).in_file(Some(&path)))?;
        let len = file.metadata().map_err(|e| Error::from(e).in_file(Some(&path)))?.len();
        Reader::build(file, Some(len), Some(path), opts)
    }

    /// Opens the byte range `[start, end)` of a file as one input split.
    ///
    /// The reader returns exactly the records Hadoop's `SequenceFileInputFormat`
    /// gives that split: records before the first sync entry belong to the
    /// split holding offset 0, every later record to the split in which the
    /// sync entry preceding it starts. Reading all the splits of a partition of
    /// `0..len` therefore returns every record exactly once.
    ///
    /// # Errors
    ///
    /// As [`Reader::open`], plus I/O errors while looking for the first sync.
    pub fn open_split(path: impl AsRef<Path>, start: u64, end: u64) -> Result<Self> {
        let mut r = Self::open(path)?;
        r.restrict_to(start, end)?;
        Ok(r)
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header from `inner`, which must be at the start of the file.
    ///
    /// # Errors
    ///
    /// I/O and header errors.
    pub fn new(inner: R) -> Result<Self> {
        Reader::build(inner, None, None, ReaderOptions::default())
    }

    /// As [`Reader::new`], with options and, if known, the input's total length
    /// (lets the reader reject impossible lengths before reading them).
    ///
    /// # Errors
    ///
    /// I/O and header errors.
    pub fn with_options(inner: R, len: Option<u64>, opts: ReaderOptions) -> Result<Self> {
        Reader::build(inner, len, None, opts)
    }

    fn build(
        inner: R,
        len: Option<u64>,
        path: Option<Arc<Path>>,
        opts: ReaderOptions,
    ) -> Result<Self> {
        let mut src = Source::new(inner, 0, len);
        let (header, header_len) = read_header(&mut src).map_err(|e| e.in_file(path.as_ref()))?;
        src.skip(header_len);
        let decompressor =
            header.compression.codec().map(|c| Decompressor::new(c, opts.max_buffer_len));
        Ok(Reader {
            src,
            header,
            header_len: header_len as u64,
            path,
            decompressor,
            opts,
            block: Block::default(),
            end: u64::MAX,
            done: false,
            block_at: 0,
            blocks_read: 0,
            syncs_seen: 0,
            block_valid_at: None,
            consume: 0,
            value_buf: Vec::new(),
            current: Current::None,
        })
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Length of the header in bytes: the offset of the first entry.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// The path, when opened from one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The position a writer would report here: the next record, or for BLOCK
    /// files, once the current block is used up, the next block's sync entry.
    pub fn position(&self) -> u64 {
        self.src.position() + self.consume as u64
    }

    /// Blocks decoded so far (BLOCK files).
    pub fn blocks_read(&self) -> u64 {
        self.blocks_read
    }

    /// Sync entries passed so far (in BLOCK files, one per block).
    pub fn syncs_seen(&self) -> u64 {
        self.syncs_seen
    }

    /// Records of the current block not yet returned (BLOCK files).
    pub fn pending_in_block(&self) -> usize {
        self.block.n - self.block.next
    }

    fn err(&self, e: Error) -> Error {
        e.in_file(self.path.as_ref())
    }

    /// Common start of `next_record`, `next_ref` and `next_key`: forgets the
    /// current record, consumes the one lent last, and says whether reading
    /// may go on.
    fn start_next(&mut self) -> bool {
        self.current = Current::None;
        if self.consume > 0 {
            self.src.skip(self.consume);
            self.consume = 0;
        }
        !self.done
    }

    /// Common end: the end of the input or an error ends the reading; an
    /// error gets the path.
    fn end_next<T>(&mut self, r: Result<Option<T>>) -> Result<Option<T>> {
        match r {
            Ok(Some(t)) => Ok(Some(t)),
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.consume = 0;
                Err(self.err(e))
            }
        }
    }

    /// The next record, or `None` at the end of the file (or split).
    ///
    /// # Errors
    ///
    /// Truncation, corrupt lengths, sync mismatches and codec errors, each with
    /// the path and offset.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if !self.start_next() {
            return Ok(None);
        }
        let r = match self.header.compression {
            Compression::Block(_) => self.next_in_block(),
            _ => self.next_plain(),
        };
        self.end_next(r)
    }

    /// An iterator over the remaining records. It ends after the first error.
    pub fn records(&mut self) -> Records<'_, R> {
        Records { reader: self }
    }

    /// The next record decoded as `K` and `V`.
    ///
    /// # Errors
    ///
    /// As [`Reader::next_record`], plus `InvalidInput` when the header's
    /// classes are not `K` and `V`, and `BadWritable` when the bytes are not.
    pub fn next_typed<K: Writable, V: Writable>(&mut self) -> Result<Option<(K, V)>> {
        if self.header.key_class != K::CLASS_NAME || self.header.value_class != V::CLASS_NAME {
            return Err(self.err(Error::invalid(format!(
                "file holds {} -> {}, not {} -> {}",
                self.header.key_class,
                self.header.value_class,
                K::CLASS_NAME,
                V::CLASS_NAME
            ))));
        }
        let at = self.position();
        let Some(rec) = self.next_record()? else { return Ok(None) };
        let k = K::read_from(&rec.key).map_err(|e| self.err(e.at(at)))?;
        let v = V::read_from(&rec.value).map_err(|e| self.err(e.at(at)))?;
        Ok(Some((k, v)))
    }

    /// Reads the `-1` escape's marker and checks it; `at` is the escape's offset.
    fn check_sync(&mut self, at: u64) -> Result<()> {
        self.src.need(SYNC_LEN, "sync marker")?;
        if self.src.buffered()[..SYNC_LEN] != self.header.sync {
            return Err(Error::new(ErrorKind::SyncMismatch).at(at));
        }
        self.src.skip(SYNC_LEN);
        self.syncs_seen += 1;
        Ok(())
    }

    /// Finds the next record of a NONE/RECORD file, passing sync entries, and
    /// makes sure all of it is buffered; returns its offset, key length and
    /// record length without consuming it.
    fn locate_plain(&mut self) -> Result<Option<(u64, usize, usize)>> {
        loop {
            if self.src.at_eof()? {
                return Ok(None);
            }
            let at = self.src.position();
            self.src.need(4, "record length")?;
            let b = self.src.buffered();
            let rec_len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            if rec_len == -1 && self.header.version >= 2 {
                if at >= self.end {
                    return Ok(None);
                }
                self.src.skip(4);
                self.check_sync(at)?;
                continue;
            }
            self.src.need(8, "key length").map_err(|e| e.at(at))?;
            let b = self.src.buffered();
            let key_len = i32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            if rec_len < 0 {
                return Err(Error::new(ErrorKind::BadLength {
                    what: "record length",
                    len: i64::from(rec_len),
                })
                .at(at));
            }
            if key_len < 0 || key_len > rec_len {
                return Err(Error::new(ErrorKind::BadLength {
                    what: "key length",
                    len: i64::from(key_len),
                })
                .at(at));
            }
            let (rec_len, key_len) = (rec_len as usize, key_len as usize);
            self.check_len("record length", rec_len, at)?;
            self.src.need(8 + rec_len, "record").map_err(|e| e.at(at))?;
            return Ok(Some((at, key_len, rec_len)));
        }
    }

    fn next_plain(&mut self) -> Result<Option<Record>> {
        let Some((at, key_len, rec_len)) = self.locate_plain()? else { return Ok(None) };
        self.src.skip(8);
        let key = self.src.take(key_len, "record key")?;
        let stored = self.src.take(rec_len - key_len, "record value")?;
        let value = match self.decompressor.as_mut() {
            None => stored,
            Some(d) => {
                let mut out = Vec::new();
                d.decompress(&stored, &mut out).map_err(|e| e.at(at))?;
                Bytes::from(out)
            }
        };
        Ok(Some(Record { key, value }))
    }

    /// The next record as slices borrowed from the reader, valid until the
    /// next call. This is the fastest way to scan a file: no reference counts
    /// change and, for RECORD files, one reused buffer holds each value.
    ///
    /// # Errors
    ///
    /// As [`Reader::next_record`].
    pub fn next_ref(&mut self) -> Result<Option<RecordRef<'_>>> {
        if !self.start_next() {
            return Ok(None);
        }
        let found = match self.header.compression {
            Compression::Block(_) => {
                self.locate_in_block().map(|o| o.map(|(k, v)| (Lent::Block, k, v)))
            }
            _ => self.locate_plain().and_then(|o| match o {
                None => Ok(None),
                Some((at, key_len, rec_len)) => {
                    self.consume = 8 + rec_len;
                    if let Some(d) = self.decompressor.as_mut() {
                        self.value_buf.clear();
                        let stored = &self.src.buffered()[8 + key_len..8 + rec_len];
                        d.decompress(stored, &mut self.value_buf).map_err(|e| e.at(at))?;
                    }
                    let lent =
                        if self.decompressor.is_some() { Lent::Decompressed } else { Lent::Buffer };
                    Ok(Some((lent, 8..8 + key_len, 8 + key_len..8 + rec_len)))
                }
            }),
        };
        match self.end_next(found)? {
            None => Ok(None),
            Some((lent, k, v)) => Ok(Some(match lent {
                Lent::Block => RecordRef { key: &self.block.keys[k], value: &self.block.values[v] },
                Lent::Decompressed => {
                    RecordRef { key: &self.src.buffered()[k], value: &self.value_buf }
                }
                Lent::Buffer => {
                    RecordRef { key: &self.src.buffered()[k], value: &self.src.buffered()[v] }
                }
            })),
        }
    }

    /// The next record's key only, borrowed; [`Reader::value`] then fetches
    /// its value. Scanning keys this way skips value decompression (RECORD
    /// values, BLOCK value buffers) for records whose value is not wanted, as
    /// Hadoop's `next(key)` does.
    ///
    /// # Errors
    ///
    /// As [`Reader::next_record`].
    pub fn next_key(&mut self) -> Result<Option<&[u8]>> {
        if !self.start_next() {
            return Ok(None);
        }
        let found = match self.header.compression {
            Compression::Block(_) => self.locate_key_in_block().map(|k| {
                k.inspect(|_| {
                    self.current = Current::Block { index: self.block.next - 1 };
                })
            }),
            _ => self.locate_plain().map(|o| {
                o.map(|(at, key_len, rec_len)| {
                    self.consume = 8 + rec_len;
                    self.current = Current::Plain { at, key_len, rec_len };
                    8..8 + key_len
                })
            }),
        };
        match self.end_next(found)? {
            None => Ok(None),
            Some(k) => Ok(Some(match self.current {
                Current::Block { .. } => &self.block.keys[k],
                _ => &self.src.buffered()[k],
            })),
        }
    }

    /// The value of the record [`Reader::next_key`] returned last. For BLOCK
    /// files this decodes (and verifies) the block's whole value stream.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if there is no such record; codec errors.
    pub fn value(&mut self) -> Result<Bytes> {
        self.value_upto(false)
    }

    /// As [`Reader::value`], but in BLOCK files with zlib codecs inflates the
    /// block's value stream only as far as this record: the cheap way to fetch
    /// one value found by a lookup (Hadoop reads values lazily the same way).
    /// Corruption further on in the block goes unnoticed until it is read.
    ///
    /// # Errors
    ///
    /// As [`Reader::value`].
    pub fn value_lazy(&mut self) -> Result<Bytes> {
        self.value_upto(true)
    }

    fn value_upto(&mut self, lazy: bool) -> Result<Bytes> {
        match self.current {
            Current::None => {
                Err(self.err(Error::invalid("value() needs a record from next_key()")))
            }
            Current::Plain { at, key_len, rec_len } => {
                let stored = &self.src.buffered()[8 + key_len..8 + rec_len];
                match self.decompressor.as_mut() {
                    None => Ok(Bytes::copy_from_slice(stored)),
                    Some(d) => {
                        let mut out = Vec::new();
                        d.decompress(stored, &mut out)
                            .map_err(|e| e.at(at).in_file(self.path.as_ref()))?;
                        Ok(Bytes::from(out))
                    }
                }
            }
            Current::Block { index } => {
                self.block_values_upto(if lazy { index } else { usize::MAX })
                    .map_err(|e| self.err(e))?;
                let offs = &self.block.value_offs;
                Ok(self.block.values.slice(offs[index]..offs[index + 1]))
            }
        }
    }

    fn check_len(&self, what: &'static str, len: usize, at: u64) -> Result<()> {
        if let Some(rem) = self.src.remaining()
            && len as u64 > rem
        {
            return Err(Error::new(ErrorKind::LengthExceedsInput {
                what,
                len: len as u64,
                remaining: rem,
            })
            .at(at));
        }
        if len > self.opts.max_buffer_len {
            return Err(Error::new(ErrorKind::TooLarge {
                what,
                len: len as u64,
                limit: self.opts.max_buffer_len as u64,
            })
            .at(at));
        }
        Ok(())
    }

    fn next_in_block(&mut self) -> Result<Option<Record>> {
        let Some((k, v)) = self.locate_in_block()? else { return Ok(None) };
        Ok(Some(Record { key: self.block.keys.slice(k), value: self.block.values.slice(v) }))
    }

    /// Decompresses the current block's values if that has not happened yet.
    fn block_values(&mut self) -> Result<()> {
        self.block_values_upto(usize::MAX)
    }

    /// Makes sure the values of the current block are decoded at least up to
    /// record `upto` (all of them for `usize::MAX`) and returns the value
    /// offsets' length check state. The stored buffers are dropped only once
    /// the whole value stream decoded and matched its lengths, so a failure
    /// leaves the block as it was (the same error on a retry, never a
    /// half-decoded block).
    fn block_values_upto(&mut self, upto: usize) -> Result<()> {
        let Some((lens, values)) = self.block.values_stored.clone() else { return Ok(()) };
        let at = self.block_at;
        let n = self.block.n;
        let d = self.decompressor.as_mut().expect("BLOCK files always have a codec");
        let decoded = (|| -> Result<Option<DecodedValues>> {
            let mut offs = std::mem::take(&mut self.block.value_offs);
            if offs.is_empty() {
                let mut lens_out = Vec::new();
                d.decompress(&lens, &mut lens_out)?;
                parse_lengths(&lens_out, n, None, "value", &mut offs)?;
            }
            let need = if upto >= n { usize::MAX } else { offs[upto + 1] };
            if need != usize::MAX && need <= self.block.values.len() {
                self.block.value_offs = offs;
                return Ok(None);
            }
            let mut values_out = Vec::new();
            let complete = if need == usize::MAX {
                d.decompress(&values, &mut values_out)?;
                true
            } else {
                d.decompress_prefix(&values, &mut values_out, need)?
            };
            let total = offs[n];
            if complete && values_out.len() != total {
                return Err(Error::new(ErrorKind::BadBlock(format!(
                    "value lengths add up to {total} but the value buffer holds {} bytes",
                    values_out.len()
                ))));
            }
            if !complete && values_out.len() < need {
                return Err(Error::new(ErrorKind::BadBlock(
                    "value buffer is shorter than its lengths".into(),
                )));
            }
            Ok(Some((values_out, offs, complete)))
        })();
        match decoded {
            Ok(None) => Ok(()),
            Ok(Some((values_out, offs, complete))) => {
                let b = &mut self.block;
                b.values = Bytes::from(values_out);
                b.value_offs = offs;
                if complete {
                    b.values_stored = None;
                }
                Ok(())
            }
            Err(e) => {
                self.block.value_offs.clear();
                self.block_valid_at = None;
                Err(e.at(at))
            }
        }
    }

    /// Advances to the next record of the current (or next) block; returns
    /// its key and value ranges in the block's buffers.
    fn locate_in_block(&mut self) -> Result<Option<(Range<usize>, Range<usize>)>> {
        let Some(k) = self.locate_key_in_block()? else { return Ok(None) };
        self.block_values()?;
        let i = self.block.next - 1;
        Ok(Some((k, self.block.value_offs[i]..self.block.value_offs[i + 1])))
    }

    /// Advances to the next record of the current (or next) block and returns
    /// its key range, leaving the block's values compressed.
    fn locate_key_in_block(&mut self) -> Result<Option<Range<usize>>> {
        while self.block.next == self.block.n {
            if !self.read_block()? {
                return Ok(None);
            }
        }
        let b = &mut self.block;
        let k = b.key_offs[b.next]..b.key_offs[b.next + 1];
        b.next += 1;
        Ok(Some(k))
    }

    /// Reads and decodes the next block; false at the end of the file or split.
    fn read_block(&mut self) -> Result<bool> {
        if self.src.at_eof()? {
            return Ok(false);
        }
        let at = self.src.position();
        self.block_at = at;
        if at >= self.end {
            return Ok(false);
        }
        self.block_valid_at = None;
        let escape = self.src.read_i32("block sync entry")?;
        if escape != -1 {
            return Err(Error::new(ErrorKind::BadBlock(format!(
                "expected a sync entry before the block, found {escape}"
            )))
            .at(at));
        }
        self.check_sync(at)?;
        let n = self.src.read_vlong("block record count").map_err(|e| e.at(at))?;
        let n = usize::try_from(n).ok().filter(|_| i32::try_from(n).is_ok()).ok_or_else(|| {
            Error::new(ErrorKind::BadLength { what: "block record count", len: n }).at(at)
        })?;
        self.block.n = 0;
        self.block.next = 0;
        let key_lens = self.block_stored("key lengths", at)?;
        let keys = self.block_stored("keys", at)?;
        let value_lens = self.block_stored("value lengths", at)?;
        let values = self.block_stored("values", at)?;
        let d = self.decompressor.as_mut().expect("BLOCK files always have a codec");
        let mut out = Vec::new();
        d.decompress(&key_lens, &mut out).map_err(|e| e.at(at))?;
        let mut keys_out = Vec::new();
        d.decompress(&keys, &mut keys_out).map_err(|e| e.at(at))?;
        let b = &mut self.block;
        parse_lengths(&out, n, Some(keys_out.len()), "key", &mut b.key_offs)
            .map_err(|e| e.at(at))?;
        b.keys = Bytes::from(keys_out);
        b.values_stored = Some((value_lens, values));
        b.values = Bytes::new();
        b.value_offs.clear();
        b.n = n;
        self.blocks_read += 1;
        self.block_valid_at = Some(at);
        Ok(true)
    }

    /// One compressed buffer of a block, as stored: a VInt length and a codec stream.
    fn block_stored(&mut self, what: &'static str, block_at: u64) -> Result<Bytes> {
        let len = self.src.read_vlong("block buffer length").map_err(|e| e.at(block_at))?;
        let len = usize::try_from(len).map_err(|_| {
            Error::new(ErrorKind::BadLength { what: "block buffer length", len }).at(block_at)
        })?;
        self.check_len("block buffer length", len, block_at)?;
        self.src.take(len, what).map_err(|e| e.at(block_at))
    }
}

/// Decodes `n` VInt lengths that must exactly fill `raw` and add up to
/// `total` (when known), into `n + 1` running offsets.
fn parse_lengths(
    raw: &[u8],
    n: usize,
    total: Option<usize>,
    what: &str,
    out: &mut Vec<usize>,
) -> Result<()> {
    let total = total.unwrap_or(usize::MAX);
    out.clear();
    // Each length takes at least one byte: a count larger than the buffer is corrupt.
    if n > raw.len() {
        return Err(Error::new(ErrorKind::BadBlock(format!(
            "{n} records but only {} bytes of {what} lengths",
            raw.len()
        ))));
    }
    out.reserve(n + 1);
    out.push(0);
    let mut pos = 0;
    let mut sum: u64 = 0;
    for _ in 0..n {
        let (len, used) = vint::read_vint(&raw[pos..])
            .map_err(|e| Error::new(ErrorKind::BadBlock(format!("{what} length: {e}"))))?;
        let len = u32::try_from(len).map_err(|_| {
            Error::new(ErrorKind::BadBlock(format!("negative {what} length {len}")))
        })?;
        pos += used;
        sum += u64::from(len);
        if sum > total as u64 {
            break;
        }
        out.push(sum as usize);
    }
    if (total == usize::MAX || sum == total as u64) && pos != raw.len() {
        return Err(Error::new(ErrorKind::BadBlock(format!(
            "{} stray bytes after the {what} lengths",
            raw.len() - pos
        ))));
    }
    if total != usize::MAX && sum != total as u64 {
        return Err(Error::new(ErrorKind::BadBlock(format!(
            "{what} lengths add up to {sum} but the {what} buffer holds {total} bytes"
        ))));
    }
    Ok(())
}

fn read_header<R: Read>(src: &mut Source<R>) -> Result<(Header, usize)> {
    let mut want = 512;
    loop {
        let complete = src.fill(want)?;
        if let Some(h) = Header::parse(src.buffered())? {
            return Ok(h);
        }
        if !complete {
            let have = src.buffered().len() as u64;
            return Err(Error::truncated("header", have + 1, have).at(0));
        }
        if want >= MAX_HEADER_LEN {
            return Err(Error::new(ErrorKind::TooLarge {
                what: "header",
                len: want as u64,
                limit: MAX_HEADER_LEN as u64,
            })
            .at(0));
        }
        want *= 4;
    }
}

impl<R: Read + Seek> Reader<R> {
    /// Moves to `pos`, which must be a position a writer reported (a record
    /// start or, in BLOCK files, a block's sync entry) or a value from
    /// [`Reader::position`].
    ///
    /// # Errors
    ///
    /// I/O errors. A wrong position shows up as an error on the next read.
    pub fn seek(&mut self, pos: u64) -> Result<()> {
        if self.block_valid_at == Some(pos) && pos < self.end {
            self.block.next = 0;
            self.current = Current::None;
            self.done = false;
            return Ok(());
        }
        self.seek_raw(pos)
    }

    /// Moves the byte source to `pos`, dropping any decoded block.
    fn seek_raw(&mut self, pos: u64) -> Result<()> {
        self.current = Current::None;
        self.block_valid_at = None;
        self.consume = 0;
        self.src.seek(pos).map_err(|e| self.err(e))?;
        self.block = Block::default();
        self.done = false;
        Ok(())
    }

    /// Hadoop's `Reader.sync(pos)`: before the end of the header, go to the
    /// first entry; otherwise to the first sync entry that starts at or after
    /// `pos`, or to the end of the file if there is none.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn sync(&mut self, pos: u64) -> Result<()> {
        if pos <= self.header_len {
            return self.seek_raw(self.header_len);
        }
        self.seek_to_sync_from(pos)
    }

    fn seek_to_sync_from(&mut self, pos: u64) -> Result<()> {
        self.seek_raw(pos)?;
        let mut marker = [0u8; SYNC_ENTRY_LEN];
        marker[..4].copy_from_slice(&(-1i32).to_be_bytes());
        marker[4..].copy_from_slice(&self.header.sync);
        loop {
            let want = SYNC_ENTRY_LEN.max(self.src.buffered().len() + 1);
            let more = self.src.fill(want).map_err(|e| self.err(e.into()))?;
            let found = self.src.buffered().windows(SYNC_ENTRY_LEN).position(|w| w == marker);
            if let Some(i) = found {
                let at = self.src.position() + i as u64;
                return self.seek_raw(at);
            }
            if !more {
                let end = self.src.position() + self.src.buffered().len() as u64;
                self.seek_raw(end)?;
                self.done = true;
                return Ok(());
            }
            // Keep the last bytes so that a marker split across reads is found.
            let keep_from = self.src.buffered().len().saturating_sub(SYNC_ENTRY_LEN - 1);
            self.src.skip(keep_from);
        }
    }

    /// Restricts this reader to the split `[start, end)` (see [`Reader::open_split`]).
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn restrict_to(&mut self, start: u64, end: u64) -> Result<()> {
        if start == 0 {
            self.seek_raw(self.header_len)?;
        } else {
            self.seek_to_sync_from(start.max(self.header_len))?;
        }
        self.end = end;
        if start >= end {
            self.done = true;
        }
        Ok(())
    }
}

/// Iterator over the remaining records of a [`Reader`]; see [`Reader::records`].
#[derive(Debug)]
pub struct Records<'a, R> {
    reader: &'a mut Reader<R>,
}

impl<R: Read> Iterator for Records<'_, R> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next_record().transpose()
    }
}
