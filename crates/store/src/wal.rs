//! The commit log: where a group commit becomes durable.
//!
//! The flusher appends each batch to this log and syncs it (one `pwrite` and
//! one `fdatasync`), then acknowledges; a second thread applies the same
//! batches to the engine without syncing, and every full log segment the
//! engine is synced once (a checkpoint) so the segment can be reused. The
//! engine's own journal write, memtable insert and sync are thereby off the
//! path a client waits on, and the log's sync is the cheapest one a file
//! system offers: segments are reused in place, so after their first round
//! an append allocates no blocks and the sync writes data pages only. When
//! the log is growing (the active segment is half full and no other segment
//! is free to take over), a background thread writes the next segment file
//! full of zeros before the log needs it (`spare.tmp`, renamed when taken),
//! so that its first round is such a round too: appending into a sparse file
//! allocates blocks on every write and each sync then commits file-system
//! metadata as well (p50 115 µs against 90 µs per 2 KiB append +
//! `fdatasync` on this VM). The first segment of a new log is sparse: a
//! store that never writes 16 MiB of log never writes 32 MiB of zeros. The
//! zeros go out 1 MiB per sync, because a group commit's `fdatasync` on the
//! same file system waits for whatever unsynced data the journal holds (32
//! MiB of dirty zeros took the append + sync of 2 KiB from p50 0.13 ms to
//! 1–8 ms here; synced per MiB, 0.3–1.8 ms).
//!
//! # Layout
//!
//! `DIR/wal/NNNN.seg`: segment files of about [`SEGMENT_BYTES`] (a batch
//! larger than that gets a segment of its own). Each holds records back to
//! back from offset 0; a reused segment keeps stale records of its previous
//! round after the new ones. A record, big-endian:
//!
//! ```text
//! magic u32 "MMWL" | crc32 u32 of the rest | segment id u64 | lsn u64 |
//! payload length u32 | payload
//! ```
//!
//! Segment ids grow by one for every segment started, so the first record of
//! a file names the file's current round and a record with another id is
//! stale. Log sequence numbers (lsn) grow by one per batch; the engine
//! stores the lsn of the last batch it applied (meta `wal_lsn`), so recovery
//! replays exactly the records after it, in order, and fails loudly on a
//! gap. A payload is the batch: a flag byte (bit 0: clear), the high seqno,
//! then tagged entries (put, tombstone, delete, meta) with u32 lengths.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{BufMut, Bytes};

use crate::backend::Batch;
use crate::error::Error;
use crate::item::{self, Record};

/// Size at which the log moves on to the next segment.
pub(crate) const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;
/// The segment file being zero-filled ahead of need (not a `.seg` file, so
/// recovery never reads it; a leftover one is removed on open).
const SPARE_NAME: &str = "spare.tmp";
/// Zeros written per call while preparing a spare segment.
const FILL_CHUNK: usize = 1024 * 1024;
/// Meta name under which the engine stores the lsn of its last batch.
pub(crate) const META_WAL_LSN: &str = "wal_lsn";

const MAGIC: u32 = 0x4d4d_574c; // "MMWL"
const HEADER_LEN: usize = 4 + 4 + 8 + 8 + 4;
const TAG_PUT: u8 = 1;
const TAG_TOMBSTONE: u8 = 2;
const TAG_DELETE: u8 = 3;
const TAG_META: u8 = 4;

struct Segment {
    file: File,
    path: PathBuf,
    /// Id of the round the file holds (0: none yet).
    id: u64,
    /// Highest lsn written in this round (0: none).
    last_lsn: u64,
}

/// The append side of the log, owned by the flusher.
pub(crate) struct Log {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// Index of the segment being appended to, if any.
    active: Option<usize>,
    /// Write offset in the active segment.
    offset: u64,
    next_id: u64,
    /// Set when a record started a new segment; see [`Log::take_rolled`].
    rolled: bool,
    buf: Vec<u8>,
    /// The next segment file, being zero-filled in the background.
    spare: Option<Spare>,
    /// Whether the active segment has been checked, once half full, for a
    /// successor (see [`Log::maybe_prepare_spare`]).
    spare_checked: bool,
}

/// A segment file being zero-filled by a background thread.
struct Spare {
    thread: std::thread::JoinHandle<io::Result<File>>,
    /// Asks the thread to stop early (the log is closing).
    cancel: Arc<AtomicBool>,
}

/// What [`recover`] found.
pub(crate) struct Recovered {
    pub(crate) log: Log,
    /// The lsn of the last record in the log (or the engine's, if larger).
    pub(crate) last_lsn: u64,
    /// Batches replayed into the engine.
    pub(crate) replayed: u64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, offset: u64, detail: impl Into<String>) -> Error {
    Error::CorruptLog { path: path.to_path_buf(), offset, detail: detail.into() }
}

/// Opens the log in `dir` and hands every batch after `engine_lsn` to
/// `apply`, in order. The caller syncs the engine afterwards; from then on
/// every segment may be reused.
pub(crate) fn recover(
    dir: &Path,
    engine_lsn: u64,
    apply: &mut dyn FnMut(Batch) -> Result<(), Error>,
) -> Result<Recovered, Error> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.extension().is_none_or(|e| e != "seg") {
            continue;
        }
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io_err(&path))?;
        let id = first_id(&file, &path)?;
        segments.push(Segment { file, path, id, last_lsn: 0 });
    }
    segments.sort_by_key(|s| s.id);
    let mut expected = engine_lsn + 1;
    let mut replayed = 0;
    let mut max_id = 0;
    let mut last_lsn = engine_lsn;
    for seg in &mut segments {
        if seg.id == 0 {
            continue;
        }
        max_id = max_id.max(seg.id);
        let mut reader = SegmentReader::new(&seg.file, &seg.path)?;
        let mut prev: Option<u64> = None;
        while let Some((offset, lsn, payload)) = reader.next(seg.id)? {
            if prev.is_some_and(|p| lsn != p + 1) {
                // Not this round's continuation: stale bytes of an older one.
                break;
            }
            prev = Some(lsn);
            seg.last_lsn = lsn;
            if lsn < expected {
                continue;
            }
            if lsn > expected {
                return Err(corrupt(
                    &seg.path,
                    offset,
                    format!(
                        "log record {lsn} follows {}: batches after the engine's lsn {engine_lsn} are missing",
                        expected - 1
                    ),
                ));
            }
            apply(decode(&Bytes::from(payload)).map_err(|d| corrupt(&seg.path, offset, d))?)?;
            replayed += 1;
            expected += 1;
            last_lsn = lsn;
        }
    }
    // A spare left by the last run may be half written: start over.
    let leftover = dir.join(SPARE_NAME);
    if leftover.exists() {
        fs::remove_file(&leftover).map_err(io_err(&leftover))?;
    }
    let log = Log {
        dir: dir.to_path_buf(),
        segments,
        active: None,
        offset: 0,
        next_id: max_id + 1,
        rolled: false,
        buf: Vec::new(),
        spare: None,
        spare_checked: false,
    };
    Ok(Recovered { log, last_lsn, replayed })
}

/// The segment id of a file's first valid record (0 when it has none).
fn first_id(file: &File, path: &Path) -> Result<u64, Error> {
    let mut reader = SegmentReader::new(file, path)?;
    let mut header = [0u8; HEADER_LEN];
    if !reader.read_exact_or_eof(&mut header)? {
        return Ok(0);
    }
    let id = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
    let mut reader = SegmentReader::new(file, path)?;
    Ok(match reader.next(id)? {
        Some(_) => id,
        None => 0,
    })
}

struct SegmentReader<'f> {
    reader: io::BufReader<&'f File>,
    path: &'f Path,
    len: u64,
    offset: u64,
}

impl<'f> SegmentReader<'f> {
    fn new(file: &'f File, path: &'f Path) -> Result<Self, Error> {
        let len = file.metadata().map_err(io_err(path))?.len();
        let mut reader = io::BufReader::with_capacity(256 * 1024, file);
        io::Seek::seek(&mut reader, io::SeekFrom::Start(0)).map_err(io_err(path))?;
        Ok(SegmentReader { reader, path, len, offset: 0 })
    }

    fn read_exact_or_eof(&mut self, buf: &mut [u8]) -> Result<bool, Error> {
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::Io { path: self.path.to_path_buf(), source: e }),
        }
    }

    /// The next valid record of round `id`: (offset, lsn, payload). `None`
    /// at the end of the round: end of file, zeros, a torn or stale record.
    fn next(&mut self, id: u64) -> Result<Option<(u64, u64, Vec<u8>)>, Error> {
        let at = self.offset;
        let mut header = [0u8; HEADER_LEN];
        if !self.read_exact_or_eof(&mut header)? {
            return Ok(None);
        }
        let magic = u32::from_be_bytes(header[0..4].try_into().unwrap_or_default());
        let crc = u32::from_be_bytes(header[4..8].try_into().unwrap_or_default());
        let seg = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
        let lsn = u64::from_be_bytes(header[16..24].try_into().unwrap_or_default());
        let len = u64::from(u32::from_be_bytes(header[24..28].try_into().unwrap_or_default()));
        // The length is checked against the file before anything is allocated.
        if magic != MAGIC || seg != id || at + HEADER_LEN as u64 + len > self.len {
            return Ok(None);
        }
        let mut payload = vec![0u8; len as usize];
        if !self.read_exact_or_eof(&mut payload)? {
            return Ok(None);
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&header[8..]);
        hasher.update(&payload);
        if hasher.finalize() != crc {
            return Ok(None);
        }
        self.offset = at + HEADER_LEN as u64 + len;
        Ok(Some((at, lsn, payload)))
    }
}

impl Log {
    /// Appends `batch` as record `lsn` and syncs it. `checkpoint` is the
    /// highest lsn the engine has synced: segments whose records are all at
    /// or below it may be reused. A failed append may be retried with the
    /// same arguments (it rewrites the record in place).
    pub(crate) fn append(&mut self, lsn: u64, batch: &Batch, checkpoint: u64) -> Result<(), Error> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(HEADER_LEN, 0);
        encode(batch, &mut buf);
        let len = buf.len() as u64;
        let index = match self.active {
            Some(i) if self.offset == 0 || self.offset + len <= SEGMENT_BYTES => i,
            _ => {
                self.rolled |= self.active.is_some();
                self.start_segment(checkpoint)?
            }
        };
        let payload_len = u32::try_from(len - HEADER_LEN as u64).map_err(|_| Error::Io {
            path: self.dir.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "batch larger than 4 GiB"),
        })?;
        let seg = &mut self.segments[index];
        buf[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        buf[8..16].copy_from_slice(&seg.id.to_be_bytes());
        buf[16..24].copy_from_slice(&lsn.to_be_bytes());
        buf[24..28].copy_from_slice(&payload_len.to_be_bytes());
        let crc = crc32fast::hash(&buf[8..]);
        buf[4..8].copy_from_slice(&crc.to_be_bytes());
        let written = seg
            .file
            .write_all_at(&buf, self.offset)
            .and_then(|()| seg.file.sync_data())
            .map_err(io_err(&seg.path));
        // Reused, but a bulk load's largest batch does not stay allocated.
        buf.truncate(1 << 20);
        buf.shrink_to(1 << 20);
        self.buf = buf;
        written?;
        seg.last_lsn = lsn;
        self.offset += len;
        self.maybe_prepare_spare(checkpoint);
        Ok(())
    }

    /// Once the active segment is half full, starts preparing the next
    /// segment file if the log will have to grow to roll over: no other
    /// segment is free at the engine's `checkpoint`. (Checked once per
    /// segment; a segment freed later leaves the spare for the next growth.)
    fn maybe_prepare_spare(&mut self, checkpoint: u64) {
        if self.spare_checked || self.offset < SEGMENT_BYTES / 2 {
            return;
        }
        self.spare_checked = true;
        if self.reusable(checkpoint).is_none() {
            self.prepare_spare();
        }
    }

    /// The oldest segment other than the active one whose records are all
    /// at or below the engine's `checkpoint`: the next round may overwrite it.
    fn reusable(&self, checkpoint: u64) -> Option<usize> {
        self.segments
            .iter()
            .enumerate()
            .filter(|(i, s)| Some(*i) != self.active && s.last_lsn <= checkpoint)
            .min_by_key(|(_, s)| s.id)
            .map(|(i, _)| i)
    }

    /// True once after a record started a new segment: the caller then asks
    /// the engine for a checkpoint, so the earlier segments become reusable.
    pub(crate) fn take_rolled(&mut self) -> bool {
        std::mem::take(&mut self.rolled)
    }

    /// Picks a reusable segment (or creates one) and starts a new round in it.
    fn start_segment(&mut self, checkpoint: u64) -> Result<usize, Error> {
        let index = if let Some(i) = self.reusable(checkpoint) {
            i
        } else {
            let path = self.dir.join(format!("{:04}.seg", self.segments.len()));
            let file = if let Some(file) = self.take_spare(&path) {
                file
            } else {
                // No zero-filled file ready: a sparse one now, rather than
                // making this commit wait for 32 MiB of zeros.
                // Not `create_new`: a file left here by an attempt that
                // failed after creating it (the append is retried) is not
                // in `segments` yet and is started over.
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                file.set_len(SEGMENT_BYTES).map_err(io_err(&path))?;
                file.sync_all().map_err(io_err(&path))?;
                file
            };
            File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.dir))?;
            self.segments.push(Segment { file, path, id: 0, last_lsn: 0 });
            self.segments.len() - 1
        };
        let seg = &mut self.segments[index];
        seg.id = self.next_id;
        seg.last_lsn = 0;
        self.next_id += 1;
        self.active = Some(index);
        self.offset = 0;
        self.spare_checked = false;
        Ok(index)
    }

    /// Number of segment files.
    pub(crate) fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Starts zero-filling a spare segment file unless one is on its way.
    fn prepare_spare(&mut self) {
        if self.spare.is_some() {
            return;
        }
        let path = self.dir.join(SPARE_NAME);
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancel);
        let spawned = std::thread::Builder::new()
            .name("mammoth-walprep".into())
            .spawn(move || zero_fill(&path, &stop));
        match spawned {
            Ok(thread) => self.spare = Some(Spare { thread, cancel }),
            // No thread, no spare: segments are then created sparse.
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "could not start the log's segment preparer"
            ),
        }
    }

    /// The spare file, renamed to `path`, if it is ready; `None` while it is
    /// still being written (it stays on its way) or when preparing or
    /// renaming it failed (the caller then creates the segment sparse).
    fn take_spare(&mut self, path: &Path) -> Option<File> {
        let spare = self.spare.take()?;
        if !spare.thread.is_finished() {
            self.spare = Some(spare);
            return None;
        }
        let from = self.dir.join(SPARE_NAME);
        match spare.thread.join() {
            Ok(Ok(file)) => match fs::rename(&from, path) {
                Ok(()) => Some(file),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = &e as &dyn std::error::Error, "could not take the prepared log segment; creating it sparse");
                    let _ = fs::remove_file(&from);
                    None
                }
            },
            Ok(Err(e)) => {
                tracing::warn!(path = %from.display(), error = &e as &dyn std::error::Error, "preparing a log segment failed; creating it sparse");
                let _ = fs::remove_file(&from);
                None
            }
            Err(_) => {
                let _ = fs::remove_file(&from);
                None
            }
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Some(spare) = self.spare.take() {
            spare.cancel.store(true, Ordering::Relaxed);
            // The thread stops within one chunk (one write and one sync);
            // what it wrote is removed here, or on the next open if the
            // thread panicked or the process dies first.
            if spare.thread.join().is_ok() {
                let _ = fs::remove_file(self.dir.join(SPARE_NAME));
            }
        }
    }
}

/// Writes a segment's worth of zeros to a new file at `path`, syncing each
/// chunk (so that the log's own syncs never wait behind a large backlog of
/// them), unless `cancel` is set first.
fn zero_fill(path: &Path, cancel: &AtomicBool) -> io::Result<File> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(path)?;
    let zeros = vec![0u8; FILL_CHUNK];
    let mut at = 0u64;
    while at < SEGMENT_BYTES {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "log closing"));
        }
        let n = (SEGMENT_BYTES - at).min(FILL_CHUNK as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        file.sync_data()?;
        at += n as u64;
    }
    file.sync_all()?;
    Ok(file)
}

/// Appends the payload of `batch` to `out`.
fn encode(batch: &Batch, out: &mut Vec<u8>) {
    let entry = |out: &mut Vec<u8>, tag: u8, key: &[u8], body_len: usize| {
        out.put_u8(tag);
        out.put_u32(key.len() as u32);
        out.put_slice(key);
        out.put_u32(body_len as u32);
    };
    out.put_u8(u8::from(batch.clear));
    out.put_u64(batch.high_seqno);
    for (key, it) in &batch.puts {
        entry(out, TAG_PUT, key, item::HEADER_LEN + it.value.len() as usize);
        item::encode_into(it, out);
    }
    for (key, tomb) in &batch.tombstones {
        let raw = item::encode_tombstone(*tomb);
        entry(out, TAG_TOMBSTONE, key, raw.len());
        out.put_slice(&raw);
    }
    for key in &batch.deletes {
        entry(out, TAG_DELETE, key, 0);
    }
    for (name, value) in &batch.meta {
        entry(out, TAG_META, name.as_bytes(), value.len());
        out.put_slice(value);
    }
}

/// Decodes a payload written by [`encode`]; every length is checked against
/// what is left before it is used.
fn decode(data: &Bytes) -> Result<Batch, String> {
    let mut at = 0usize;
    let take = |at: &mut usize, n: usize| -> Result<Bytes, String> {
        let end = at.checked_add(n).filter(|&e| e <= data.len()).ok_or_else(|| {
            format!("entry at payload byte {at} needs {n} bytes, {} are left", data.len() - *at)
        })?;
        let out = data.slice(*at..end);
        *at = end;
        Ok(out)
    };
    let u32_of = |b: &Bytes| u32::from_be_bytes(b[..4].try_into().unwrap_or_default());
    let u64_of = |b: &Bytes| u64::from_be_bytes(b[..8].try_into().unwrap_or_default());
    let mut batch = Batch { clear: take(&mut at, 1)?[0] & 1 == 1, ..Batch::default() };
    batch.high_seqno = u64_of(&take(&mut at, 8)?);
    while at < data.len() {
        let tag = take(&mut at, 1)?[0];
        let key_len = u32_of(&take(&mut at, 4)?) as usize;
        let key = take(&mut at, key_len)?;
        let body_len = u32_of(&take(&mut at, 4)?) as usize;
        let body = take(&mut at, body_len)?;
        match tag {
            TAG_PUT | TAG_TOMBSTONE => {
                match item::decode(&key, &body).map_err(|e| e.to_string())? {
                    Record::Item(it) if tag == TAG_PUT => batch.puts.push((key, it)),
                    Record::Tombstone(t) if tag == TAG_TOMBSTONE => batch.tombstones.push((key, t)),
                    _ => return Err(format!("entry tag {tag} holds the other record kind")),
                }
            }
            TAG_DELETE => batch.deletes.push(key),
            TAG_META => {
                let name = String::from_utf8(key.to_vec())
                    .map_err(|_| "meta name is not UTF-8".to_string())?;
                batch.meta.push((name, body));
            }
            _ => return Err(format!("unknown entry tag {tag} (body {body_len} bytes)")),
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::{Item, Tombstone};
    use extent::ExtentBuf;

    fn batch(n: u64) -> Batch {
        Batch {
            clear: n.is_multiple_of(7),
            puts: vec![(
                Bytes::from(format!("key{n}")),
                Item {
                    value: ExtentBuf::from(Bytes::from(vec![n as u8; (n % 50) as usize])),
                    flags: n as u32,
                    exptime: 0,
                    cas: n,
                    seqno: n,
                },
            )],
            tombstones: vec![(
                Bytes::from(format!("gone{n}")),
                Tombstone { seqno: n, deleted_at: 5 },
            )],
            deletes: vec![Bytes::from(format!("old{n}"))],
            meta: vec![(META_WAL_LSN.to_string(), crate::backend::meta_u64(n))],
            high_seqno: n * 10,
        }
    }

    /// Record `lsn`: one put whose value is `bytes` long.
    fn sized(lsn: u64, bytes: u64) -> Batch {
        Batch {
            puts: vec![(
                Bytes::from_static(b"big"),
                Item {
                    value: ExtentBuf::from(Bytes::from(vec![7u8; bytes as usize])),
                    flags: 0,
                    exptime: 0,
                    cas: lsn,
                    seqno: lsn,
                },
            )],
            ..Batch::default()
        }
    }

    fn same(a: &Batch, b: &Batch) -> bool {
        a.clear == b.clear
            && a.puts == b.puts
            && a.tombstones == b.tombstones
            && a.deletes == b.deletes
            && a.meta == b.meta
            && a.high_seqno == b.high_seqno
    }

    fn replay(dir: &Path, engine_lsn: u64) -> (Vec<Batch>, Recovered) {
        let mut got = Vec::new();
        let rec = recover(dir, engine_lsn, &mut |b| {
            got.push(b);
            Ok(())
        })
        .unwrap();
        (got, rec)
    }

    #[test]
    fn payload_round_trips() {
        let b = batch(14);
        let mut out = Vec::new();
        encode(&b, &mut out);
        assert!(same(&decode(&Bytes::from(out.clone())).unwrap(), &b));
        // A cut inside the header or an entry is an error; a cut at an
        // entry boundary decodes to a smaller batch (the CRC catches those).
        for cut in 0..out.len() {
            match decode(&Bytes::copy_from_slice(&out[..cut])) {
                Ok(shorter) => assert!(cut >= 9 && !same(&shorter, &b), "cut {cut}"),
                Err(e) => assert!(!e.is_empty()),
            }
        }
    }

    #[test]
    fn replays_only_batches_after_the_engine_lsn() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = replay(dir.path(), 0);
        let mut log = rec.log;
        for lsn in 1..=20 {
            log.append(lsn, &batch(lsn), 0).unwrap();
        }
        drop(log);
        let (got, rec) = replay(dir.path(), 12);
        assert_eq!(rec.last_lsn, 20);
        assert_eq!(got.len(), 8);
        for (i, b) in got.iter().enumerate() {
            assert!(same(b, &batch(13 + i as u64)));
        }
    }

    #[test]
    fn torn_tail_ends_the_log_and_stale_rounds_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = replay(dir.path(), 0);
        let mut log = rec.log;
        for lsn in 1..=10 {
            log.append(lsn, &batch(lsn), 0).unwrap();
        }
        let path = log.segments[0].path.clone();
        let end = log.offset;
        drop(log);
        // Tear the last record: flip a byte in its payload.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xff], end - 3).unwrap();
        let (got, rec) = replay(dir.path(), 0);
        assert_eq!((got.len(), rec.last_lsn), (9, 9));
        // A new round after a restart reuses the file; records of the old
        // round behind the new ones are not replayed.
        let mut log = rec.log;
        log.append(10, &batch(10), 9).unwrap();
        drop(log);
        let (got, rec) = replay(dir.path(), 9);
        assert_eq!((got.len(), rec.last_lsn), (1, 10));
        assert!(same(&got[0], &batch(10)));
    }

    #[test]
    fn a_gap_after_the_engine_lsn_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = replay(dir.path(), 0);
        let mut log = rec.log;
        for lsn in 5..=8 {
            log.append(lsn, &batch(lsn), 0).unwrap();
        }
        drop(log);
        let err = recover(dir.path(), 2, &mut |_| Ok(())).err().unwrap();
        assert!(err.to_string().contains("0000.seg"), "{err}");
        assert!(err.to_string().contains("record 5 follows 2"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Damage anywhere (flipped bytes, a cut) never panics, and what
        /// recovery hands out is an unbroken prefix of what was written.
        #[test]
        fn damaged_logs_replay_a_prefix(
            flips in proptest::collection::vec((0usize..20_000, 1u8..=255), 0..4),
            cut in proptest::option::of(0usize..20_000),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let (_, rec) = replay(dir.path(), 0);
            let mut log = rec.log;
            for lsn in 1..=40 {
                log.append(lsn, &batch(lsn), 0).unwrap();
            }
            let path = log.segments[0].path.clone();
            drop(log);
            let f = OpenOptions::new().read(true).write(true).open(&path).unwrap();
            for (at, x) in &flips {
                let mut b = [0u8];
                f.read_exact_at(&mut b, *at as u64).unwrap();
                f.write_all_at(&[b[0] ^ x], *at as u64).unwrap();
            }
            if let Some(cut) = cut {
                f.set_len(cut as u64).unwrap();
            }
            let mut got = Vec::new();
            let res = recover(dir.path(), 0, &mut |b| {
                got.push(b);
                Ok(())
            });
            // A record whose CRC matches but whose payload does not decode
            // is an error; anything else ends the log early.
            if res.is_ok() {
                for (i, b) in got.iter().enumerate() {
                    proptest::prop_assert!(same(b, &batch(i as u64 + 1)), "batch {}", i + 1);
                }
            }
        }
    }

    #[test]
    fn segments_are_reused_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = replay(dir.path(), 0);
        let mut log = rec.log;
        let big = sized(1, SEGMENT_BYTES / 3);
        let mut rolls = 0;
        for lsn in 1..=12 {
            // The engine keeps up: everything before this record is synced.
            log.append(lsn, &big, lsn - 1).unwrap();
            if log.take_rolled() {
                rolls += 1;
            }
        }
        assert!(rolls >= 4, "{rolls}");
        assert_eq!(log.segments(), 2, "two files take turns");
        drop(log);
        let (got, rec) = replay(dir.path(), 10);
        assert_eq!((got.len(), rec.last_lsn), (2, 12));
        // Without checkpoints the log grows instead of overwriting.
        let mut log = rec.log;
        for lsn in 13..=20 {
            log.append(lsn, &big, 12).unwrap();
        }
        assert!(log.segments() >= 4, "{}", log.segments());
        drop(log);
        let (got, _) = replay(dir.path(), 12);
        assert_eq!(got.len(), 8);
    }

    /// Blocks the file system holds for `path`, in bytes.
    fn allocated(path: &Path) -> u64 {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(path).unwrap().blocks() * 512
    }

    fn wait_for_spare(log: &Log) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !log.spare.as_ref().is_some_and(|s| s.thread.is_finished()) {
            assert!(std::time::Instant::now() < deadline, "spare segment never finished");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    #[test]
    fn a_segment_file_left_by_a_failed_roll_is_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let (_, rec) = replay(dir.path(), 0);
        let mut log = rec.log;
        // A third of a segment: no spare is prepared yet.
        log.append(1, &sized(1, SEGMENT_BYTES / 3), 0).unwrap();
        assert!(log.spare.is_none());
        // What an attempt that failed after creating the next file leaves.
        fs::write(dir.path().join("0001.seg"), b"left over").unwrap();
        // This one does not fit: the roll creates 0001.seg.
        log.append(2, &sized(2, SEGMENT_BYTES * 7 / 10), 0).unwrap();
        assert!(log.take_rolled());
        drop(log);
        let (got, rec) = replay(dir.path(), 0);
        assert_eq!((got.len(), rec.last_lsn), (2, 2));
        assert!(same(&got[1], &sized(2, SEGMENT_BYTES * 7 / 10)));
    }

    #[test]
    fn new_segments_are_zero_filled_only_when_the_log_grows() {
        let dir = tempfile::tempdir().unwrap();
        // A leftover spare of an earlier run is not trusted.
        let spare = dir.path().join(SPARE_NAME);
        fs::write(&spare, b"half written").unwrap();
        let (_, rec) = replay(dir.path(), 0);
        assert!(!spare.exists());
        let mut log = rec.log;
        let big = |lsn| sized(lsn, SEGMENT_BYTES / 3);
        // A new log starts sparse and prepares nothing while it is small.
        log.append(1, &big(1), 0).unwrap();
        assert!(log.spare.is_none());
        let first = dir.path().join("0000.seg");
        assert!(allocated(&first) < SEGMENT_BYTES, "{} bytes allocated", allocated(&first));
        // Half full with nothing checkpointed: the log will grow.
        log.append(2, &big(2), 0).unwrap();
        assert!(log.spare.is_some());
        wait_for_spare(&log);
        assert_eq!(fs::metadata(&spare).unwrap().len(), SEGMENT_BYTES);
        // The second segment is the spare, renamed, every block allocated.
        log.append(3, &big(3), 0).unwrap();
        assert!(log.take_rolled());
        let second = dir.path().join("0001.seg");
        assert!(allocated(&second) >= SEGMENT_BYTES, "{} bytes allocated", allocated(&second));
        assert!(!spare.exists());
        // Half full again, but the engine has synced past the first
        // segment, which will take over: no new file is prepared.
        log.append(4, &big(4), 3).unwrap();
        assert!(log.spare.is_none());
        log.append(5, &big(5), 3).unwrap();
        assert!(log.take_rolled());
        assert_eq!(log.segments(), 2);
        // Half full again with the other segment not yet checkpointed: the
        // check runs afresh in every segment.
        log.append(6, &big(6), 3).unwrap();
        assert!(log.spare.is_some());
        // A closing log removes its spare, finished or not.
        drop(log);
        assert!(!spare.exists());
        let (got, rec) = replay(dir.path(), 3);
        assert_eq!((got.len(), rec.last_lsn), (3, 6));
        assert!(same(&got[2], &big(6)));
    }
}
