//! Writing a TAP stream as Hadoop files (the layout: [`crate::layout`] and
//! `docs/tap-export.md`).
//!
//! * [`Snapshot`]: the state of the store at the end of a backfill, as one
//!   SequenceFile (`part-00000.seq`, in arrival order) or one MapFile /
//!   BloomMapFile directory (`part-00000/`, sorted as Hadoop's
//!   `BytesWritable` comparator sorts: unsigned bytes, a prefix first).
//!   Written under a temporary name and renamed when complete. The number
//!   is [`ExportOptions::part`]: a cluster export writes one part per node
//!   into one directory, which Spark and Hive then read as one data set
//!   (Hadoop's input formats read a MapFile directory's `data` file).
//! * [`Segments`]: live changes after it (`--follow`), item layout only, as
//!   rolled SequenceFiles `seg-000001.seq`, `seg-000002.seq`, … each renamed
//!   into place when closed. Deletes and flushes are records (kinds 2, 3).
//!
//! * [`export`]: the whole run over a TAP stream — snapshot, then live
//!   segments until stopped — as `mammoth tap export` drives it.
//!
//! Replaying the snapshot then the segments in name order reproduces the
//! store (`part-*` sorts before `seg-*`);
//! `mammoth import DIR` does exactly that.

mod job;

pub use job::{ExportJob, ExportReport, ExportSummary, KeepKeys, KeyPredicate, export};

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use seqfile::map::{MapWriter, MapWriterOptions};
use seqfile::writable::{BytesWritable, Writable};
use seqfile::{Compression, Metadata, Writer, WriterOptions};

use crate::consumer::Mutation;
use crate::error::{Error, Result};
use crate::layout::{self, Kind, Meta};

/// Output file kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A SequenceFile.
    Seq,
    /// A MapFile directory.
    MapFile,
    /// A BloomMapFile directory.
    BloomMap,
}

impl Format {
    /// The compression used when none is asked for: none for a
    /// SequenceFile; BLOCK with `DefaultCodec` (zlib) for the map kinds —
    /// readable by any Hadoop without native code, and 3–4× faster to write
    /// than `MapFile.Writer`'s RECORD default.
    pub fn default_compression(self) -> Compression {
        match self {
            Format::Seq => Compression::None,
            Format::MapFile | Format::BloomMap => Compression::Block(seqfile::Codec::Default),
        }
    }
}

/// Record layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Header + value (keeps flags, expiry, CAS, seqno; tombstones).
    Item,
    /// The value alone.
    Raw,
}

/// How to write.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// File kind of the snapshot (segments are always SequenceFiles).
    pub format: Format,
    /// Record layout.
    pub layout: Layout,
    /// Compression (MapFile default in Hadoop: RECORD with `DefaultCodec`).
    pub compression: Compression,
    /// Extra metadata entries (`mammoth.source`, …).
    pub metadata: Vec<(String, String)>,
    /// The snapshot's number: it is written as `part-NNNNN.seq` or
    /// `part-NNNNN/` (five digits or more, as Hadoop names its outputs).
    pub part: u32,
}

impl ExportOptions {
    fn metadata(&self, kind: &str) -> Metadata {
        let mut m = Metadata::new();
        let layout = match self.layout {
            Layout::Item => layout::ITEM_V1,
            Layout::Raw => layout::RAW,
        };
        m.set(layout::LAYOUT_KEY, layout);
        m.set("mammoth.file", kind.to_string());
        for (k, v) in &self.metadata {
            m.set(k.clone(), v.clone());
        }
        m
    }
}

/// The snapshot's file or directory name: `part-NNNNN.seq` or
/// `part-NNNNN`.
pub fn snapshot_name(format: Format, part: u32) -> String {
    match format {
        Format::Seq => format!("part-{part:05}.seq"),
        Format::MapFile | Format::BloomMap => format!("part-{part:05}"),
    }
}

/// `b` serialized as a `BytesWritable` (big-endian i32 length, the bytes)
/// into `out`, replacing what it held.
fn ser(b: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&(b.len() as i32).to_be_bytes());
    out.extend_from_slice(b);
}

/// An item-layout value serialized as a `BytesWritable` into `out`, in one
/// copy of `value`.
fn ser_item(kind: Kind, meta: &Meta, value: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let len = layout::HEADER_LEN + value.len();
    out.extend_from_slice(&(len as i32).to_be_bytes());
    layout::encode(kind, meta, value, out);
}

fn file_err(path: &Path) -> impl FnOnce(seqfile::Error) -> Error + '_ {
    move |source| Error::File { path: path.to_path_buf(), source }
}

fn fs_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Fs { path: path.to_path_buf(), source }
}

struct Entry {
    meta: Meta,
    value: Bytes,
}

enum State {
    Stream(Box<Writer<BufWriter<File>>>),
    /// Changes in arrival order (`None`: deleted); sorted once at the end,
    /// stably, so the last change of a key wins. Cheaper than a tree: one
    /// push per event, one `O(n log n)` sort of pointers.
    Sorted(Vec<(Bytes, Option<Entry>)>),
}

/// A snapshot being written; see the module docs.
pub struct Snapshot {
    opts: ExportOptions,
    tmp: PathBuf,
    path: PathBuf,
    state: State,
    key_buf: Vec<u8>,
    ser_buf: Vec<u8>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot").field("path", &self.path).finish_non_exhaustive()
    }
}

/// An unfinished snapshot leaves nothing behind: its temporary file (or
/// directory) goes. After [`Snapshot::finish`] it was renamed, and there
/// is nothing to remove.
impl Drop for Snapshot {
    fn drop(&mut self) {
        // The writer first: dropping it later would flush into the path.
        self.state = State::Sorted(Vec::new());
        let _ = std::fs::remove_file(&self.tmp);
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

impl Snapshot {
    /// Starts `DIR/part-NNNNN.seq` or `DIR/part-NNNNN/` (creating `dir`).
    ///
    /// # Errors
    /// Creating the directory or the file.
    pub fn create(dir: &Path, opts: ExportOptions) -> Result<Snapshot> {
        std::fs::create_dir_all(dir).map_err(fs_err(dir))?;
        let name = snapshot_name(opts.format, opts.part);
        let tmp = format!(".{name}.tmp");
        let mut s = Snapshot {
            tmp: dir.join(tmp),
            path: dir.join(name),
            state: State::Sorted(Vec::new()),
            opts,
            key_buf: Vec::new(),
            ser_buf: Vec::new(),
        };
        s.restart()?;
        Ok(s)
    }

    fn restart(&mut self) -> Result<()> {
        // Close (drop) the old writer before the new one truncates the file:
        // dropping it later would flush its buffer into the new file.
        self.state = State::Sorted(Vec::new());
        self.state = match self.opts.format {
            Format::Seq => {
                let o = WriterOptions::new::<BytesWritable, BytesWritable>()
                    .compression(self.opts.compression)
                    .metadata_map(self.opts.metadata("snapshot"));
                State::Stream(Box::new(Writer::create(&self.tmp, o).map_err(file_err(&self.tmp))?))
            }
            Format::MapFile | Format::BloomMap => State::Sorted(Vec::new()),
        };
        Ok(())
    }

    /// Records so far (for a sorted snapshot: changes collected, before
    /// duplicates and deletes are folded away).
    pub fn len(&self) -> u64 {
        match &self.state {
            State::Stream(w) => w.records(),
            State::Sorted(m) => m.len() as u64,
        }
    }

    /// Whether nothing was added yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The serialized `BytesWritable` value (length, then the layout's
    /// bytes) into `ser_buf`, in one copy.
    fn encode_value(&mut self, meta: &Meta, value: &[u8]) {
        match self.opts.layout {
            Layout::Item => ser_item(Kind::Item, meta, value, &mut self.ser_buf),
            Layout::Raw => ser(value, &mut self.ser_buf),
        }
    }

    /// Adds an item.
    ///
    /// # Errors
    /// Writing the file.
    pub fn put(&mut self, m: &Mutation) -> Result<()> {
        let meta =
            Meta { flags: m.flags, expiry: m.expiry, cas: m.cas, seqno: m.seqno.unwrap_or(0) };
        match &mut self.state {
            State::Sorted(v) => {
                v.push((m.key.clone(), Some(Entry { meta, value: m.value.clone() })));
                Ok(())
            }
            State::Stream(_) => {
                self.encode_value(&meta, &m.value);
                let State::Stream(w) = &mut self.state else { unreachable!() };
                ser(&m.key, &mut self.key_buf);
                w.append_raw(&self.key_buf, &self.ser_buf).map_err(file_err(&self.tmp))
            }
        }
    }

    /// A delete during the backfill: the key is not in the snapshot. (A
    /// streamed SequenceFile has not written it either: a backfill sends
    /// each key at most once.)
    pub fn delete(&mut self, key: &[u8]) {
        if let State::Sorted(v) = &mut self.state {
            v.push((Bytes::copy_from_slice(key), None));
        }
    }

    /// A flush during the backfill: start over.
    ///
    /// # Errors
    /// Re-creating the file.
    pub fn flush(&mut self) -> Result<()> {
        self.restart()
    }

    /// Writes (a sorted snapshot) and closes the file, then renames it into
    /// place. Returns its path and record count.
    ///
    /// # Errors
    /// Writing, closing or renaming.
    pub fn finish(mut self) -> Result<(PathBuf, u64)> {
        let state = std::mem::replace(&mut self.state, State::Sorted(Vec::new()));
        let n = match state {
            State::Stream(w) => {
                let n = w.records();
                w.finish().map_err(file_err(&self.tmp))?;
                n
            }
            State::Sorted(changes) => {
                // Sort a permutation (4-byte moves, not whole entries);
                // stable, so among equal keys the later change stays later.
                let mut order: Vec<u32> = (0..changes.len() as u32).collect();
                order.sort_by(|&a, &b| changes[a as usize].0.cmp(&changes[b as usize].0));
                if self.tmp.exists() {
                    std::fs::remove_dir_all(&self.tmp).map_err(fs_err(&self.tmp))?;
                }
                let mut o = MapWriterOptions::new::<BytesWritable, BytesWritable>()
                    .compression(self.opts.compression)
                    .metadata(self.opts.metadata("snapshot"));
                if self.opts.format == Format::BloomMap {
                    o = o.bloom_default();
                }
                let mut w = MapWriter::create(&self.tmp, o).map_err(file_err(&self.tmp))?;
                let mut n = 0;
                let mut it = order.iter().map(|&i| &changes[i as usize]).peekable();
                while let Some((key, e)) = it.next() {
                    if it.peek().is_some_and(|next| next.0 == key) {
                        continue; // a later change of the same key follows
                    }
                    let Some(e) = e else { continue };
                    n += 1;
                    self.encode_value(&e.meta, &e.value);
                    ser(key, &mut self.key_buf);
                    w.append_raw(&self.key_buf, &self.ser_buf).map_err(file_err(&self.tmp))?;
                }
                w.finish().map_err(file_err(&self.tmp))?;
                n
            }
        };
        replace(&self.tmp, &self.path)?;
        Ok((self.path.clone(), n))
    }
}

/// Renames `from` onto `to`, removing an old `to` (file or directory).
fn replace(from: &Path, to: &Path) -> Result<()> {
    if to.is_dir() {
        std::fs::remove_dir_all(to).map_err(fs_err(to))?;
    }
    std::fs::rename(from, to).map_err(fs_err(to))
}

/// When to close a segment and start the next.
#[derive(Clone, Copy, Debug)]
pub struct Roll {
    /// At most this many records per segment.
    pub records: u64,
    /// At most this long between a segment's first record and its closing.
    pub age: Duration,
}

impl Default for Roll {
    fn default() -> Roll {
        Roll { records: 1_000_000, age: Duration::from_secs(60) }
    }
}

/// Live changes as rolled SequenceFile segments; see the module docs.
pub struct Segments {
    dir: PathBuf,
    opts: ExportOptions,
    roll: Roll,
    next: u64,
    open: Option<(Writer<BufWriter<File>>, PathBuf, PathBuf, Instant)>,
    key_buf: Vec<u8>,
    ser_buf: Vec<u8>,
    closed: u64,
}

impl std::fmt::Debug for Segments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segments")
            .field("dir", &self.dir)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Segments {
    /// Segments in `dir`, numbered after the highest `seg-N.seq` present.
    ///
    /// # Errors
    /// Listing the directory.
    pub fn new(dir: &Path, opts: ExportOptions, roll: Roll) -> Result<Segments> {
        std::fs::create_dir_all(dir).map_err(fs_err(dir))?;
        let mut next = 1;
        for e in std::fs::read_dir(dir).map_err(fs_err(dir))? {
            let e = e.map_err(fs_err(dir))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(Ok(n)) = name
                .strip_prefix("seg-")
                .and_then(|r| r.strip_suffix(".seq"))
                .map(str::parse::<u64>)
            {
                next = next.max(n + 1);
            }
        }
        Ok(Segments {
            dir: dir.to_path_buf(),
            opts: ExportOptions { format: Format::Seq, layout: Layout::Item, ..opts },
            roll,
            next,
            open: None,
            key_buf: Vec::new(),
            ser_buf: Vec::new(),
            closed: 0,
        })
    }

    /// Segments closed so far.
    pub fn closed(&self) -> u64 {
        self.closed
    }

    /// Appends one change.
    ///
    /// # Errors
    /// Writing or rolling.
    pub fn append(&mut self, kind: Kind, key: &[u8], meta: &Meta, value: &[u8]) -> Result<()> {
        if self.open.is_none() {
            let name = format!("seg-{:06}.seq", self.next);
            self.next += 1;
            let tmp = self.dir.join(format!(".{name}.tmp"));
            let o = WriterOptions::new::<BytesWritable, BytesWritable>()
                .compression(self.opts.compression)
                .metadata_map(self.opts.metadata("segment"));
            let w = Writer::create(&tmp, o).map_err(file_err(&tmp))?;
            self.open = Some((w, tmp, self.dir.join(name), Instant::now()));
        }
        ser(key, &mut self.key_buf);
        ser_item(kind, meta, value, &mut self.ser_buf);
        let Some((w, tmp, _, _)) = &mut self.open else { unreachable!() };
        w.append_raw(&self.key_buf, &self.ser_buf).map_err(file_err(tmp))?;
        if w.records() >= self.roll.records {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the open segment if it is older than the roll age.
    ///
    /// # Errors
    /// Closing it.
    pub fn tick(&mut self) -> Result<()> {
        if self.open.as_ref().is_some_and(|o| o.3.elapsed() >= self.roll.age) {
            self.close()?;
        }
        Ok(())
    }

    /// Closes the open segment (if any) and renames it into place.
    ///
    /// # Errors
    /// Closing or renaming.
    pub fn close(&mut self) -> Result<()> {
        if let Some((w, tmp, path, _)) = self.open.take() {
            w.finish().map_err(file_err(&tmp))?;
            replace(&tmp, &path)?;
            self.closed += 1;
        }
        Ok(())
    }
}

/// `BytesWritable`'s serialized form (for tests and tools).
pub fn bytes_writable(b: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    BytesWritable(Bytes::copy_from_slice(b)).write_to(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqfile::Reader;

    fn m(key: &'static str, value: &'static str, flags: u32) -> Mutation {
        Mutation {
            key: Bytes::from_static(key.as_bytes()),
            value: Bytes::from_static(value.as_bytes()),
            flags,
            expiry: 0,
            cas: 1,
            seqno: None,
            keys_only: false,
        }
    }

    pub(super) fn opts(format: Format, part: u32) -> ExportOptions {
        ExportOptions {
            format,
            layout: Layout::Item,
            compression: Compression::None,
            metadata: vec![],
            part,
        }
    }

    fn read(path: &Path) -> Vec<(Vec<u8>, Vec<u8>, u32)> {
        let data = if path.is_dir() { path.join("data") } else { path.to_path_buf() };
        let mut r = Reader::open(data).unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            let d = layout::decode(&rec.value[4..]).unwrap();
            out.push((rec.key[4..].to_vec(), d.value.to_vec(), d.meta.flags));
        }
        out
    }

    #[test]
    fn sorted_snapshot_keeps_the_last_change_of_each_key_in_byte_order() {
        for format in [Format::MapFile, Format::BloomMap] {
            let dir = tempfile::tempdir().unwrap();
            let opts = opts(format, 3);
            let mut s = Snapshot::create(dir.path(), opts).unwrap();
            s.put(&m("zz", "gone", 0)).unwrap();
            s.flush().unwrap();
            s.put(&m("b", "1", 1)).unwrap();
            s.put(&m("a\u{ff}", "x", 2)).unwrap();
            s.put(&m("a", "1", 3)).unwrap();
            s.put(&m("b", "2", 4)).unwrap();
            s.delete(b"a");
            s.put(&m("c", "1", 5)).unwrap();
            s.delete(b"c");
            s.put(&m("c", "2", 6)).unwrap();
            let (path, n) = s.finish().unwrap();
            assert_eq!(path, dir.path().join("part-00003"));
            assert_eq!(n, 3);
            assert_eq!(
                read(&path),
                vec![
                    ("a\u{ff}".as_bytes().to_vec(), b"x".to_vec(), 2),
                    (b"b".to_vec(), b"2".to_vec(), 4),
                    (b"c".to_vec(), b"2".to_vec(), 6),
                ]
            );
            assert!(!dir.path().join(".part-00003.tmp").exists());
        }
    }

    #[test]
    fn streamed_snapshot_restarts_on_flush() {
        let dir = tempfile::tempdir().unwrap();
        let opts = opts(Format::Seq, 0);
        let mut s = Snapshot::create(dir.path(), opts).unwrap();
        s.put(&m("old", "1", 0)).unwrap();
        s.flush().unwrap();
        s.put(&m("k", "v", 7)).unwrap();
        let (path, n) = s.finish().unwrap();
        assert_eq!(n, 1);
        assert_eq!(path, dir.path().join("part-00000.seq"));
        assert_eq!(read(&path), vec![(b"k".to_vec(), b"v".to_vec(), 7)]);
    }

    #[test]
    fn an_unfinished_snapshot_leaves_nothing() {
        for format in [Format::Seq, Format::MapFile] {
            let dir = tempfile::tempdir().unwrap();
            let opts = opts(format, 1);
            let mut s = Snapshot::create(dir.path(), opts).unwrap();
            s.put(&m("k", "v", 0)).unwrap();
            drop(s);
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{format:?}: {left:?}");
        }
    }
}
