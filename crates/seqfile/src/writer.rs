//! Writing SequenceFiles as Hadoop's writers do: version 6, sync entries every
//! `sync_interval` bytes (NONE/RECORD) or before every block (BLOCK).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::codec::Compressor;
use crate::error::{Error, Result};
use crate::header::{CURRENT_VERSION, Compression, Header, Metadata, SYNC_LEN};
use crate::vint;
use crate::writable::Writable;

/// Hadoop's default sync interval since 2016 (`5 * 1024 * (4 + 16)`).
pub const DEFAULT_SYNC_INTERVAL: u64 = 102_400;
/// Hadoop's default `io.seqfile.compress.blocksize`.
pub const DEFAULT_BLOCK_SIZE: usize = 1_000_000;

/// How to write a file: classes, compression, metadata and Hadoop's tunables.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    key_class: String,
    value_class: String,
    compression: Compression,
    metadata: Metadata,
    sync_interval: u64,
    block_size: usize,
    sync_marker: Option<[u8; SYNC_LEN]>,
    level: Option<u32>,
}

impl WriterOptions {
    /// Options for keys of type `K` and values of type `V`, uncompressed.
    pub fn new<K: Writable, V: Writable>() -> Self {
        Self::with_classes(K::CLASS_NAME, V::CLASS_NAME)
    }

    /// Options for any Java classes; records are then appended as raw bytes.
    pub fn with_classes(key_class: impl Into<String>, value_class: impl Into<String>) -> Self {
        WriterOptions {
            key_class: key_class.into(),
            value_class: value_class.into(),
            compression: Compression::None,
            metadata: Metadata::new(),
            sync_interval: DEFAULT_SYNC_INTERVAL,
            block_size: DEFAULT_BLOCK_SIZE,
            sync_marker: None,
            level: None,
        }
    }

    /// Compression type and codec (default: none).
    #[must_use]
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Adds a metadata entry.
    #[must_use]
    pub fn metadata(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.metadata.set(name, value);
        self
    }

    /// Replaces all metadata.
    #[must_use]
    pub fn metadata_map(mut self, m: Metadata) -> Self {
        self.metadata = m;
        self
    }

    /// Bytes between sync entries in NONE and RECORD files (default 102,400).
    #[must_use]
    pub fn sync_interval(mut self, n: u64) -> Self {
        self.sync_interval = n;
        self
    }

    /// Raw key+value bytes that close a block (default 1,000,000).
    #[must_use]
    pub fn block_size(mut self, n: usize) -> Self {
        self.block_size = n;
        self
    }

    /// A fixed sync marker (default: random), for reproducible files.
    #[must_use]
    pub fn sync_marker(mut self, m: [u8; SYNC_LEN]) -> Self {
        self.sync_marker = Some(m);
        self
    }

    /// Compression level (zlib/gzip 0–9, bzip2 1–9, zstd 1–22); codec default otherwise.
    #[must_use]
    pub fn level(mut self, level: u32) -> Self {
        self.level = Some(level);
        self
    }
}

/// 16 unpredictable bytes: two `SipHash` outputs under the process's random keys,
/// fed with the time and a counter.
fn random_marker() -> [u8; SYNC_LEN] {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; SYNC_LEN];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_u64(n);
        h.write_usize(i);
        h.write_u32(std::process::id());
        half.copy_from_slice(&h.finish().to_be_bytes());
    }
    out
}

/// Records of the pending block.
#[derive(Default)]
struct PendingBlock {
    records: usize,
    key_lens: Vec<u8>,
    keys: Vec<u8>,
    value_lens: Vec<u8>,
    values: Vec<u8>,
}

/// A SequenceFile writer.
///
/// Call [`finish`](Writer::finish) at the end: it writes the last block and
/// flushes. Dropping an unfinished writer finishes it too but ignores errors.
pub struct Writer<W: Write> {
    out: Option<W>,
    path: Option<Arc<Path>>,
    header: Header,
    pos: u64,
    last_sync: u64,
    sync_interval: u64,
    block_size: usize,
    compressor: Option<Compressor>,
    block: PendingBlock,
    scratch: Vec<u8>,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
    records: u64,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl Writer<BufWriter<File>> {
    /// Creates (or truncates) a file.
    ///
    /// # Errors
    ///
    /// I/O errors naming the path.
    pub fn create(path: impl AsRef<Path>, opts: WriterOptions) -> Result<Self> {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let file = File::create(&path).map_err(|e| Error::from(e).in_file(Some(&path)))?;
        let mut w = Writer::new(BufWriter::with_capacity(256 * 1024, file), opts)
            .map_err(|e| e.in_file(Some(&path)))?;
        w.path = Some(path);
        Ok(w)
    }
}

impl<W: Write> Writer<W> {
    /// Writes the header to `out` and returns the writer.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn new(mut out: W, opts: WriterOptions) -> Result<Self> {
        let WriterOptions {
            key_class,
            value_class,
            compression,
            metadata,
            sync_interval,
            block_size,
            sync_marker,
            level,
        } = opts;
        let header = Header {
            version: CURRENT_VERSION,
            key_class,
            value_class,
            compression,
            metadata,
            sync: sync_marker.unwrap_or_else(random_marker),
        };
        let mut buf = Vec::new();
        header.write_to(&mut buf);
        out.write_all(&buf)?;
        let compressor = header.compression.codec().map(|c| Compressor::with_level(c, level));
        Ok(Writer {
            out: Some(out),
            path: None,
            pos: buf.len() as u64,
            header,
            last_sync: 0,
            sync_interval,
            block_size,
            compressor,
            block: PendingBlock::default(),
            scratch: Vec::new(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
            records: 0,
        })
    }

    /// The header written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes written so far. Before an append this is a position
    /// [`Reader::seek`](crate::Reader::seek) accepts (for BLOCK files, the
    /// start of the pending block).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Records appended so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn err(&self, e: impl Into<Error>) -> Error {
        e.into().in_file(self.path.as_ref()).at(self.pos)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        let out = self.out.as_mut().ok_or_else(|| Error::invalid("writer is already finished"))?;
        if let Err(e) = out.write_all(b) {
            return Err(self.err(e));
        }
        self.pos += b.len() as u64;
        Ok(())
    }

    fn write_sync_entry(&mut self) -> Result<()> {
        let mut entry = [0xffu8; 4 + SYNC_LEN];
        entry[4..].copy_from_slice(&self.header.sync);
        self.write(&entry)?;
        self.last_sync = self.pos;
        Ok(())
    }

    /// Appends typed key and value.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `K`/`V` are not the header's classes; I/O errors.
    pub fn append<K: Writable, V: Writable>(&mut self, key: &K, value: &V) -> Result<()> {
        if self.header.key_class != K::CLASS_NAME || self.header.value_class != V::CLASS_NAME {
            return Err(self.err(Error::invalid(format!(
                "writer holds {} -> {}, not {} -> {}",
                self.header.key_class,
                self.header.value_class,
                K::CLASS_NAME,
                V::CLASS_NAME
            ))));
        }
        let mut k = std::mem::take(&mut self.key_buf);
        let mut v = std::mem::take(&mut self.value_buf);
        k.clear();
        v.clear();
        key.write_to(&mut k);
        value.write_to(&mut v);
        let r = self.append_raw(&k, &v);
        self.key_buf = k;
        self.value_buf = v;
        r
    }

    /// Appends a record given as serialized key and value bytes.
    ///
    /// # Errors
    ///
    /// I/O errors; `InvalidInput` for keys or values of 2 GiB or more.
    pub fn append_raw(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.len() > i32::MAX as usize || value.len() > i32::MAX as usize {
            return Err(self.err(Error::invalid("keys and values must be under 2 GiB")));
        }
        self.records += 1;
        match self.header.compression {
            Compression::None => self.append_plain(key, value, false),
            Compression::Record(_) => self.append_plain(key, value, true),
            Compression::Block(_) => {
                let b = &mut self.block;
                vint::write_vint(&mut b.key_lens, key.len() as i32);
                b.keys.extend_from_slice(key);
                vint::write_vint(&mut b.value_lens, value.len() as i32);
                b.values.extend_from_slice(value);
                b.records += 1;
                if b.keys.len() + b.values.len() >= self.block_size {
                    self.flush_block()?;
                }
                Ok(())
            }
        }
    }

    fn append_plain(&mut self, key: &[u8], value: &[u8], compress: bool) -> Result<()> {
        if self.header.version >= 2 && self.pos >= self.last_sync + self.sync_interval {
            self.write_sync_entry()?;
        }
        let mut stored = std::mem::take(&mut self.scratch);
        let value = if compress {
            stored.clear();
            let c = self.compressor.as_mut().expect("RECORD files always have a codec");
            if let Err(e) = c.compress(value, &mut stored) {
                self.scratch = stored;
                return Err(self.err(e));
            }
            &stored[..]
        } else {
            value
        };
        let rec_len = key.len() + value.len();
        let r = if rec_len > i32::MAX as usize {
            Err(self.err(Error::invalid("record must be under 2 GiB")))
        } else {
            let mut head = [0u8; 8];
            head[..4].copy_from_slice(&(rec_len as i32).to_be_bytes());
            head[4..].copy_from_slice(&(key.len() as i32).to_be_bytes());
            self.write(&head).and_then(|()| self.write(key)).and_then(|()| self.write(value))
        };
        self.scratch = stored;
        r
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.block.records == 0 {
            return Ok(());
        }
        self.write_sync_entry()?;
        let mut head = Vec::with_capacity(8);
        vint::write_vint(&mut head, self.block.records as i32);
        self.write(&head)?;
        let block = std::mem::take(&mut self.block);
        for buf in [&block.key_lens, &block.keys, &block.value_lens, &block.values] {
            let mut stored = std::mem::take(&mut self.scratch);
            stored.clear();
            let c = self.compressor.as_mut().expect("BLOCK files always have a codec");
            let r = c.compress(buf, &mut stored);
            let r = r.and_then(|()| {
                let mut len = Vec::with_capacity(5);
                vint::write_vint(&mut len, stored.len() as i32);
                self.write(&len)?;
                self.write(&stored)
            });
            self.scratch = stored;
            r?;
        }
        // Keep the allocations for the next block.
        let mut block = block;
        block.records = 0;
        block.key_lens.clear();
        block.keys.clear();
        block.value_lens.clear();
        block.values.clear();
        self.block = block;
        Ok(())
    }

    /// Hadoop's `Writer.sync()`: writes a sync entry now (NONE/RECORD, unless
    /// one was just written) or closes the pending block (BLOCK).
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn sync(&mut self) -> Result<()> {
        match self.header.compression {
            Compression::Block(_) => self.flush_block(),
            _ if self.last_sync == self.pos || self.header.version < 2 => Ok(()),
            _ => self.write_sync_entry(),
        }
    }

    /// Writes the pending block, flushes, and returns the underlying writer.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finish(mut self) -> Result<W> {
        self.finish_inner()?;
        self.out.take().ok_or_else(|| Error::invalid("writer is already finished"))
    }

    fn finish_inner(&mut self) -> Result<()> {
        if self.out.is_none() {
            return Ok(());
        }
        self.flush_block()?;
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            return Err(self.err(e));
        }
        Ok(())
    }
}

impl<W: Write> Drop for Writer<W> {
    fn drop(&mut self) {
        let _ = self.finish_inner();
    }
}
