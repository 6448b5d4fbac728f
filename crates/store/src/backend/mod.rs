//! Durable engines behind one narrow trait.
//!
//! The item table is the source of truth for reads; an engine only has to
//! apply batches atomically and durably and to stream everything back at
//! start-up. That keeps the trait small enough that every engine runs the
//! same tests and benchmarks.

use std::ops::ControlFlow;
use std::path::Path;

use bytes::Bytes;

use crate::error::Error;
use crate::item::{Item, Record, Tombstone};

mod fjall;
mod sqlite;

pub use self::fjall::FjallBackend;
pub use self::sqlite::SqliteBackend;

/// The engines' cache by default: fjall's block cache, SQLite's page cache.
pub const DEFAULT_ENGINE_CACHE: u64 = 64 << 20;

/// Which engine to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// fjall, an embedded LSM tree in pure Rust (the default).
    #[default]
    Fjall,
    /// SQLite (bundled), one `WITHOUT ROWID` table keyed by the item key, WAL.
    Sqlite,
}

impl BackendKind {
    /// The name used on the command line and in stats.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Fjall => "fjall",
            BackendKind::Sqlite => "sqlite",
        }
    }

    /// Parses a name as printed by [`BackendKind::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fjall" => Some(BackendKind::Fjall),
            "sqlite" => Some(BackendKind::Sqlite),
            _ => None,
        }
    }

    /// Opens (or creates) this engine's files inside `dir`.
    ///
    /// # Errors
    ///
    /// Fails when the directory belongs to another backend or the engine cannot open it.
    pub fn open(self, dir: &Path) -> Result<Box<dyn Backend>, Error> {
        self.open_with_cache(dir, DEFAULT_ENGINE_CACHE)
    }

    /// [`BackendKind::open`] with the engine's cache of pages or blocks
    /// bounded to `cache_bytes`.
    ///
    /// # Errors
    ///
    /// As [`BackendKind::open`].
    pub fn open_with_cache(self, dir: &Path, cache_bytes: u64) -> Result<Box<dyn Backend>, Error> {
        Ok(match self {
            BackendKind::Fjall => Box::new(FjallBackend::open_with_cache(dir, cache_bytes)?),
            BackendKind::Sqlite => Box::new(SqliteBackend::open_with_cache(dir, cache_bytes)?),
        })
    }
}

/// One group commit: everything that changed since the previous batch, each
/// key at most once (the dirty set coalesces repeated writes).
#[derive(Debug, Default)]
pub struct Batch {
    /// Remove every record before applying the rest (FLUSH).
    pub clear: bool,
    /// Items to write (insert or overwrite).
    pub puts: Vec<(Bytes, Item)>,
    /// Deleted keys: their tombstones replace the items.
    pub tombstones: Vec<(Bytes, Tombstone)>,
    /// Records to remove outright (tombstones past their retention).
    pub deletes: Vec<Bytes>,
    /// Named store metadata to write (feed high-water marks, TAP cursors
    /// and filters): numbers as 8 bytes big-endian ([`meta_u64`]), text as
    /// is.
    pub meta: Vec<(String, Bytes)>,
    /// The highest sequence number handed out when the batch was cut. Stored
    /// with the batch so a restart never reuses a CAS or seqno.
    pub high_seqno: u64,
}

impl Batch {
    /// Number of engine writes in the batch (a clear counts as one).
    pub fn writes(&self) -> usize {
        self.puts.len()
            + self.tombstones.len()
            + self.deletes.len()
            + self.meta.len()
            + usize::from(self.clear)
    }
}

/// What [`Backend::load`] reports besides the items.
#[derive(Debug, Default, Clone)]
pub struct LoadSummary {
    /// Records streamed to the callback.
    pub items: u64,
    /// The stored sequence-number high-water mark (0 for a new store).
    pub high_seqno: u64,
    /// Every other named metadata value written with [`Batch::meta`].
    pub meta: Vec<(String, Bytes)>,
}

impl LoadSummary {
    /// The number stored under metadata `name` (see [`meta_u64`]).
    pub fn meta_u64(&self, name: &str) -> Option<u64> {
        self.meta.iter().find(|(n, _)| n == name).and_then(|(_, v)| read_meta_u64(v))
    }
}

/// A number as a metadata value: 8 bytes, big-endian.
pub fn meta_u64(value: u64) -> Bytes {
    Bytes::copy_from_slice(&value.to_be_bytes())
}

/// The number in a metadata value written by [`meta_u64`] (`None` when it
/// is not 8 bytes long).
pub fn read_meta_u64(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// A durable engine.
pub trait Backend: Send {
    /// Engine name for stats and errors.
    fn name(&self) -> &'static str;

    /// Applies `batch` atomically. With `sync`, the batch is on stable
    /// storage when this returns (one `fdatasync` or equivalent).
    ///
    /// # Errors
    ///
    /// Any engine or I/O failure; the batch may then be partly applied but is not acknowledged, and the caller retries it whole.
    fn write_batch(&mut self, batch: &Batch, sync: bool) -> Result<(), Error>;

    /// Makes every batch written so far durable (a checkpoint of the
    /// commit log: the log's records up to here are no longer needed).
    ///
    /// # Errors
    ///
    /// Any engine or I/O failure.
    fn sync(&mut self) -> Result<(), Error>;

    /// Reads the stored metadata (`items` is left 0).
    ///
    /// # Errors
    ///
    /// Engine failures, and metadata that does not decode.
    fn read_meta(&mut self) -> Result<LoadSummary, Error>;

    /// A reader that works beside this backend's writes, from any thread:
    /// the warmup's full scan and read-through lookups while it runs.
    ///
    /// # Errors
    ///
    /// When the engine cannot open another handle.
    fn reader(&self) -> Result<Box<dyn Reader>, Error>;

    /// Streams every stored record (items and tombstones) to `each` (in any
    /// order) and returns the stored metadata.
    ///
    /// # Errors
    ///
    /// Engine failures, and records that do not decode.
    fn load(&mut self, each: &mut dyn FnMut(Bytes, Record)) -> Result<LoadSummary, Error> {
        let mut summary = self.read_meta()?;
        summary.items = self.reader()?.scan(&mut |key, record| {
            each(key, record);
            ControlFlow::Continue(())
        })?;
        Ok(summary)
    }

    /// A cheap estimate of the number of stored items (0 when unknown), used
    /// to size the in-memory table before loading.
    fn approximate_len(&self) -> u64 {
        0
    }

    /// Engine statistics as name/value pairs (sizes on disk and the like).
    fn stats(&self) -> Vec<(String, String)>;
}

/// Concurrent reads of an engine's records.
pub trait Reader: Send + Sync {
    /// The record stored under `key`.
    ///
    /// # Errors
    ///
    /// Engine failures, and a record that does not decode (naming its key).
    fn get(&self, key: &[u8]) -> Result<Option<Record>, Error>;

    /// Streams every record to `each` (in key order) until it returns
    /// `Break`; returns how many records it was given.
    ///
    /// # Errors
    ///
    /// Engine failures, and records that do not decode.
    fn scan(&self, each: &mut dyn FnMut(Bytes, Record) -> ControlFlow<()>) -> Result<u64, Error> {
        self.scan_range(&[], None, each)
    }

    /// Streams the records whose key lies in `[from, to)` (`to` `None`: no
    /// end) to `each` **in key order** (bytewise), until it returns
    /// `Break`; returns how many records it was given. Reads only that
    /// part of the key space.
    ///
    /// # Errors
    ///
    /// Engine failures, and records that do not decode.
    fn scan_range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        each: &mut dyn FnMut(Bytes, Record) -> ControlFlow<()>,
    ) -> Result<u64, Error>;
}

/// Records which backend created a directory, so a store opened with the
/// wrong `--backend` fails loudly instead of looking empty.
pub(crate) fn claim_dir(dir: &Path, kind: BackendKind) -> Result<(), Error> {
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let marker = dir.join("BACKEND");
    match std::fs::read_to_string(&marker) {
        Ok(found) => {
            let found = found.trim().to_string();
            if found == kind.name() {
                Ok(())
            } else {
                Err(Error::WrongBackend { path: dir.to_path_buf(), found, wanted: kind.name() })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = dir.join("BACKEND.tmp");
            std::fs::write(&tmp, format!("{}\n", kind.name()))
                .map_err(|source| Error::Io { path: tmp.clone(), source })?;
            std::fs::rename(&tmp, &marker)
                .map_err(|source| Error::Io { path: marker.clone(), source })
        }
        Err(source) => Err(Error::Io { path: marker, source }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use extent::ExtentBuf;
    use proptest::prelude::*;

    use super::*;
    use crate::item::{Item, Tombstone};

    /// One change in a generated batch: key index, what to do, a value byte.
    #[derive(Clone, Debug)]
    enum Change {
        Put(u8, u8),
        Tombstone(u8),
        Delete(u8),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            4 => (0..40u8, any::<u8>()).prop_map(|(k, v)| Change::Put(k, v)),
            1 => (0..40u8).prop_map(Change::Tombstone),
            1 => (0..40u8).prop_map(Change::Delete),
        ]
    }

    fn key(k: u8) -> Bytes {
        Bytes::from(format!("key-{k:02}"))
    }

    /// A batch from the changes, with the model's view of it applied: the
    /// puts, then the tombstones, then the deletes, later ones winning.
    fn batch(
        changes: &[Change],
        clear: bool,
        seqno: &mut u64,
        model: &mut BTreeMap<Bytes, Record>,
    ) -> Batch {
        let mut b = Batch { clear, ..Batch::default() };
        if clear {
            model.clear();
        }
        for c in changes {
            *seqno += 1;
            match *c {
                Change::Put(k, v) => {
                    let value = ExtentBuf::from(Bytes::from(vec![v; usize::from(k) + 1]));
                    let item =
                        Item { value, flags: u32::from(v), exptime: 0, cas: *seqno, seqno: *seqno };
                    b.puts.push((key(k), item));
                }
                Change::Tombstone(k) => {
                    b.tombstones.push((key(k), Tombstone { seqno: *seqno, deleted_at: 7 }));
                }
                Change::Delete(k) => b.deletes.push(key(k)),
            }
        }
        for (k, item) in &b.puts {
            model.insert(k.clone(), Record::Item(item.clone()));
        }
        for (k, t) in &b.tombstones {
            model.insert(k.clone(), Record::Tombstone(*t));
        }
        for k in &b.deletes {
            model.remove(k);
        }
        b.high_seqno = *seqno;
        b.meta.push(("wal_lsn".into(), meta_u64(*seqno)));
        b
    }

    fn contents(backend: &dyn Backend) -> BTreeMap<Bytes, Record> {
        scanned(backend.reader().unwrap().as_ref())
    }

    fn scanned(reader: &dyn Reader) -> BTreeMap<Bytes, Record> {
        let mut out = BTreeMap::new();
        reader
            .scan(&mut |k, r| {
                out.insert(k, r);
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Both engines hold exactly what applying the batches in order
        /// gives, after every batch (seen by a fresh reader and by one
        /// opened before the first batch, across FLUSHes), after the commit
        /// log replays a suffix of them again (a crash after the engine
        /// wrote them but before it recorded their log position), and after
        /// reopening; big batches take fjall's ingestion path (sorted table
        /// files), small ones its journal, and keys repeat within and
        /// across a batch's lists.
        #[test]
        fn engines_match_a_model(
            batches in proptest::collection::vec(
                (proptest::collection::vec(change(), 0..30), proptest::bool::weighted(0.05)),
                1..12,
            ),
            replay_from in 0..12usize,
            ranges in proptest::collection::vec((0..45u8, proptest::option::of(0..45u8)), 4),
        ) {
            for kind in [BackendKind::Fjall, BackendKind::Sqlite] {
                let dir = tempfile::tempdir().unwrap();
                let mut model = BTreeMap::new();
                let mut seqno = 0;
                {
                    let mut backend = kind.open(dir.path()).unwrap();
                    let early = backend.reader().unwrap();
                    let mut written = Vec::new();
                    for (changes, clear) in &batches {
                        let b = batch(changes, *clear, &mut seqno, &mut model);
                        backend.write_batch(&b, false).unwrap();
                        prop_assert_eq!(&contents(backend.as_ref()), &model, "{:?}", kind);
                        prop_assert_eq!(&scanned(early.as_ref()), &model, "{:?} early reader", kind);
                        written.push(b);
                    }
                    for b in &written[replay_from.min(written.len() - 1)..] {
                        backend.write_batch(b, false).unwrap();
                    }
                    prop_assert_eq!(&contents(backend.as_ref()), &model, "{:?} replayed", kind);
                    backend.sync().unwrap();
                }
                let mut backend = kind.open(dir.path()).unwrap();
                prop_assert_eq!(&contents(backend.as_ref()), &model, "{:?} reopened", kind);
                let meta = backend.read_meta().unwrap();
                prop_assert_eq!(meta.high_seqno, seqno);
                let wal_lsn = meta.meta_u64("wal_lsn");
                prop_assert_eq!(wal_lsn, Some(seqno));
                for k in 0..40 {
                    let got = backend.reader().unwrap().get(&key(k)).unwrap();
                    prop_assert_eq!(got.as_ref(), model.get(&key(k)), "{:?} get {}", kind, k);
                }
                // Range scans come in key order and hold exactly the
                // model's range (empty and inverted ranges included).
                let reader = backend.reader().unwrap();
                for &(from, to) in &ranges {
                    let (from, to) = (key(from), to.map(key));
                    let mut got = Vec::new();
                    reader
                        .scan_range(&from, to.as_deref(), &mut |k, r| {
                            got.push((k, r));
                            ControlFlow::Continue(())
                        })
                        .unwrap();
                    let want: Vec<_> = model
                        .iter()
                        .filter(|(k, _)| **k >= from && to.as_ref().is_none_or(|t| *k < t))
                        .map(|(k, r)| (k.clone(), r.clone()))
                        .collect();
                    prop_assert_eq!(got, want, "{:?} range {:?}..{:?}", kind, from, to);
                }
            }
        }
    }
}
