//! The fjall engine: one keyspace for items, one for store metadata.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Backend, BackendKind, Batch, LoadSummary, Reader, claim_dir};
use crate::error::Error;
use crate::item::{self, Item, Record, Tombstone};

const NAME: &str = "fjall";
const HIGH_SEQNO: &[u8] = b"high_seqno";
/// The keyspace holding the items.
const ITEMS: &str = "items";
/// fjall's block cache: the 64 MiB SQLite's writer connection has
/// (`cache_size = -65536`), so the two engines compare on one budget.
/// Engine reads serve the warmup (a scan, and lookups of keys it has not
/// reached yet): at 8 MiB, random point reads of a 4M-item store ran at half
/// SQLite's rate (`examples/engine_inserts`), at 32 MiB at 0.8–1.3× of it.
/// The cache fills only as blocks are read.
const ENGINE_CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Journal size at which fjall flushes the memtables that keep its oldest
/// journal alive (fjall's least). The small `meta` keyspace would otherwise
/// pin every journal up to fjall's default of 512 MiB, all of which a
/// restart after a crash reads back.
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// fjall's background threads (flushes and compactions). One: with two,
/// fjall's first worker hands every compaction request back to the shared
/// queue to keep itself free for flushes, and while the other worker is busy
/// compacting it receives the same request again at once, spinning (10% of
/// the server's CPU under a write-behind SET load in `perf`). Flushes are
/// rare here anyway: big batches are ingested as tables.
const ENGINE_WORKERS: usize = 1;
/// Size at which fjall seals a memtable and writes it out as a table.
const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;
/// Sealed memtables of the items keyspace (waiting for fjall's worker to
/// write them out) at which a batch waits before it returns. fjall asks its
/// one worker to seal a full memtable and goes on writing into it until the
/// worker gets to the request; behind a long compaction the memtable grew
/// to 44 MiB of 2 MiB allowed in a load of 4 KiB values (heaptrack). The
/// backend seals it itself (see [`FjallBackend::bound_memtables`]), and
/// with this bound the memtables hold at most three times their size.
const MAX_SEALED_MEMTABLES: usize = 2;
/// Batches with at least this many item writes skip fjall's journal and
/// memtable: they are sorted and written straight out as a new table
/// (fjall's ingestion). The commit log in front of the engine already made
/// them durable, so the journal copy only cost CPU, and inserting tens of
/// thousands of random keys into the memtable's skip list, then walking it
/// again to write the same table, was the engine's largest cost.
#[cfg(not(test))]
const INGEST_MIN_WRITES: usize = 2048;
/// Small under tests, so that most test batches take the ingestion path.
#[cfg(test)]
const INGEST_MIN_WRITES: usize = 8;
/// Level-0 tables of the items keyspace at which batches stop being
/// ingested and go through fjall's journal and memtable again: ingestion
/// bypasses fjall's write stall, and each ingestion adds up to two level-0
/// tables (the flushed memtable and the batch), so when compaction falls
/// behind the journal path's back-pressure (fjall stalls writers from 20
/// level-0 runs and halts them at 30) takes over until it catches up.
const INGEST_MAX_L0_TABLES: usize = 20;

/// The items keyspace, shared with the readers: FLUSH replaces it (drops the
/// keyspace and creates a new one), and readers must follow.
type SharedKeyspace = Arc<RwLock<Keyspace>>;

fn current(items: &SharedKeyspace) -> Keyspace {
    items.read().unwrap_or_else(PoisonError::into_inner).clone()
}

/// Items in a fjall database under `DIR/fjall`.
pub struct FjallBackend {
    db: Database,
    items: Keyspace,
    /// The same keyspace handle as `items`, for readers.
    shared_items: SharedKeyspace,
    meta: Keyspace,
    path: PathBuf,
    /// Batches written as tables of their own (see [`INGEST_MIN_WRITES`]).
    ingested_batches: u64,
    /// Batches big enough to ingest that went through the journal while
    /// compaction was behind (see [`INGEST_MAX_L0_TABLES`]).
    deferred_batches: u64,
    /// Memtable size of the items keyspace (kept for its re-creation).
    memtable_bytes: u64,
    /// Bytes written to the items memtable since it was last sealed.
    memtable_written: u64,
}

impl FjallBackend {
    /// Opens or creates the database in `dir`.
    ///
    /// # Errors
    ///
    /// Fails when the directory belongs to another backend or fjall cannot open it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        FjallBackend::open_with_cache(dir, ENGINE_CACHE_BYTES)
    }

    /// [`FjallBackend::open`] with a block cache of `cache_bytes` (and
    /// memtables of a quarter of that, between 2 and 16 MiB).
    ///
    /// # Errors
    ///
    /// As [`FjallBackend::open`].
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, Error> {
        claim_dir(dir, BackendKind::Fjall)?;
        let path = dir.join("fjall");
        let err = |context: &str| {
            let context = format!("{context} {}", path.display());
            move |e| Error::engine(NAME, context, e)
        };
        // Journal writes are persisted only where we ask (one sync per
        // batch). The item table already holds every item in memory, so the
        // engine's own caches only need to serve the warmup: a 64 MiB block
        // cache and 16 MiB memtables (fjall's defaults are 32 MiB and 64
        // MiB) keep its memory well below the data's.
        let db = Database::builder(&path)
            .manual_journal_persist(true)
            .cache_size(cache_bytes)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .worker_threads(ENGINE_WORKERS)
            .open()
            .map_err(err("open"))?;
        let memtable_bytes = (cache_bytes / 4).clamp(2 << 20, MEMTABLE_BYTES);
        let items = open_items(&db, memtable_bytes).map_err(err("open keyspace in"))?;
        let meta =
            db.keyspace("meta", KeyspaceCreateOptions::default).map_err(err("open keyspace in"))?;
        let shared_items = Arc::new(RwLock::new(items.clone()));
        Ok(FjallBackend {
            db,
            items,
            shared_items,
            meta,
            path,
            ingested_batches: 0,
            deferred_batches: 0,
            memtable_bytes,
            memtable_written: 0,
        })
    }
}

/// Opens (or creates) the items keyspace.
fn open_items(db: &Database, memtable_bytes: u64) -> fjall::Result<Keyspace> {
    db.keyspace(ITEMS, || KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes))
}

/// One item write of a batch, for sorting.
enum Op<'a> {
    Put(&'a Item),
    Tombstone(Tombstone),
    Delete,
}

impl FjallBackend {
    /// Writes the batch's item changes as one new sorted table. Keys must
    /// reach fjall strictly ascending and once each: where a key appears
    /// more than once, the write that [`Backend::write_batch`]'s journal
    /// path would leave last wins (puts, then tombstones, then deletes).
    fn ingest(&self, batch: &Batch) -> Result<(), Error> {
        let mut ops: Vec<(&[u8], Op<'_>)> =
            Vec::with_capacity(batch.puts.len() + batch.tombstones.len() + batch.deletes.len());
        ops.extend(batch.puts.iter().map(|(k, item)| (k.as_ref(), Op::Put(item))));
        ops.extend(batch.tombstones.iter().map(|(k, t)| (k.as_ref(), Op::Tombstone(*t))));
        ops.extend(batch.deletes.iter().map(|k| (k.as_ref(), Op::Delete)));
        // Stable: equal keys keep the order above, so the last one wins.
        ops.sort_by(|a, b| a.0.cmp(b.0));
        let err = |e| Error::engine(NAME, "ingest batch", e);
        let mut ingestion = self.items.start_ingestion().map_err(err)?;
        let mut value = Vec::new();
        for (i, (key, op)) in ops.iter().enumerate() {
            if ops.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            match op {
                Op::Put(item) => {
                    value.clear();
                    item::encode_into(item, &mut value);
                    ingestion.write(*key, value.as_slice()).map_err(err)?;
                }
                Op::Tombstone(t) => {
                    ingestion.write(*key, item::encode_tombstone(*t)).map_err(err)?;
                }
                Op::Delete => ingestion.write_tombstone(*key).map_err(err)?,
            }
        }
        ingestion.finish().map_err(err)
    }

    /// fjall starts a new journal (and deletes old ones whose writes are all
    /// in tables) only when it flushes a memtable it sealed itself, and it
    /// seals one only when it fills up. Ingestion flushes the items memtable
    /// on its own, so with batches of both sizes neither memtable may fill
    /// for a long time while the journal grows, and a restart after a crash
    /// reads all of it. When the one journal has grown past
    /// [`MAX_JOURNAL_BYTES`] (fjall preallocates 64 MiB per journal file, so
    /// that is when it has outgrown its file), the memtables are sealed
    /// here, which sends fjall down its usual rotation path; while an older
    /// journal still waits for its flushes, fjall is already on that path.
    fn bound_journal(&self) -> Result<(), Error> {
        let err = |context| move |e| Error::engine(NAME, context, e);
        if self.db.journal_count() == 1
            && self.db.journal_disk_space().map_err(err("measure journal"))? > MAX_JOURNAL_BYTES
        {
            self.meta.rotate_memtable().map_err(err("seal meta memtable"))?;
            self.items.rotate_memtable().map_err(err("seal items memtable"))?;
        }
        Ok(())
    }
}

impl FjallBackend {
    /// Seals the items memtable once it holds its size, and waits while
    /// [`MAX_SEALED_MEMTABLES`] sealed ones wait for fjall's worker: the
    /// memtables then stay within a few times their size whatever the
    /// worker is busy with (the applier waits instead, and the writers
    /// behind it wait for their commits, which is the back-pressure a slow
    /// engine should give).
    fn bound_memtables(&mut self) -> Result<(), Error> {
        if self.memtable_written < self.memtable_bytes {
            return Ok(());
        }
        self.memtable_written = 0;
        self.items.rotate_memtable().map_err(|e| Error::engine(NAME, "seal items memtable", e))?;
        // Not forever: a worker that cannot write (a full disk) must not
        // keep the applier from its own error handling.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.items.sealed_memtable_count() >= MAX_SEALED_MEMTABLES
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }
}

impl Backend for FjallBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write_batch(&mut self, batch: &Batch, sync: bool) -> Result<(), Error> {
        if batch.clear {
            // The items keyspace is dropped and created anew rather than
            // cleared: fjall journals a clear and, when it recovers that
            // journal, clears the keyspace again, tables ingested after the
            // clear included (the engine model test found this). A dropped
            // keyspace's journal entries are skipped instead. Not atomic with
            // the rest of the batch: a crash in between leaves the engine's
            // `wal_lsn` before this batch, and the commit log replays it.
            let err = |context| move |e| Error::engine(NAME, context, e);
            self.db.delete_keyspace(self.items.clone()).map_err(err("drop items keyspace"))?;
            self.items = open_items(&self.db, self.memtable_bytes)
                .map_err(err("recreate items keyspace"))?;
            *self.shared_items.write().unwrap_or_else(PoisonError::into_inner) = self.items.clone();
            // Persist a write now, so that a crash before the rest of the
            // batch cannot restart fjall's sequence counter below the new
            // keyspace's creation (fjall recovers the counter from user
            // keyspaces only).
            let mut wb = self.db.batch().durability(Some(PersistMode::SyncData));
            wb.insert(&self.meta, HIGH_SEQNO, batch.high_seqno.to_be_bytes().to_vec());
            wb.commit().map_err(err("persist after recreating items keyspace"))?;
        }
        let mode = if sync { Some(PersistMode::SyncData) } else { Some(PersistMode::Buffer) };
        let mut wb = self.db.batch().durability(mode);
        let item_writes = batch.puts.len() + batch.tombstones.len() + batch.deletes.len();
        let big = item_writes >= INGEST_MIN_WRITES;
        let ingest = big && self.items.l0_table_count() < INGEST_MAX_L0_TABLES;
        if big && !ingest {
            self.deferred_batches += 1;
        }
        if ingest {
            // The items are on disk (table files and fjall's version record
            // synced) before the metadata below is written: a crash between
            // the two leaves the engine's `wal_lsn` behind its items, and
            // the commit log replays those records again, which rewrites the
            // same states.
            self.ingest(batch)?;
            self.ingested_batches += 1;
        } else {
            for (key, item) in &batch.puts {
                let value = item::encode(item);
                self.memtable_written += (key.len() + value.len()) as u64;
                wb.insert(&self.items, key.as_ref(), value);
            }
            for (key, tomb) in &batch.tombstones {
                self.memtable_written += key.len() as u64;
                wb.insert(&self.items, key.as_ref(), item::encode_tombstone(*tomb));
            }
            for key in &batch.deletes {
                wb.remove(&self.items, key.as_ref());
            }
        }
        for (name, value) in &batch.meta {
            wb.insert(&self.meta, name.as_bytes(), value.to_vec());
        }
        wb.insert(&self.meta, HIGH_SEQNO, batch.high_seqno.to_be_bytes().to_vec());
        // One journal write and, with `sync`, one fdatasync for the batch.
        wb.commit().map_err(|e| Error::engine(NAME, "commit batch", e))?;
        if ingest {
            // Ingestion wrote the memtable out first.
            self.memtable_written = 0;
            self.bound_journal()?;
        } else {
            self.bound_memtables()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.db.persist(PersistMode::SyncData).map_err(|e| Error::engine(NAME, "sync journal", e))
    }

    fn read_meta(&mut self) -> Result<LoadSummary, Error> {
        let mut summary = LoadSummary::default();
        for guard in self.meta.iter() {
            let (name, raw) =
                guard.into_inner().map_err(|e| Error::engine(NAME, "scan meta", e))?;
            if name.as_ref() == HIGH_SEQNO {
                summary.high_seqno = super::read_meta_u64(&raw).ok_or_else(|| Error::Corrupt {
                    key: name.to_vec(),
                    detail: format!("the high seqno record is {} bytes, not 8", raw.len()),
                })?;
            } else {
                let name = String::from_utf8(name.to_vec()).map_err(|e| Error::Corrupt {
                    key: e.as_bytes().to_vec(),
                    detail: "meta name is not UTF-8".into(),
                })?;
                summary.meta.push((name, Bytes::copy_from_slice(&raw)));
            }
        }
        Ok(summary)
    }

    fn reader(&self) -> Result<Box<dyn Reader>, Error> {
        Ok(Box::new(FjallReader { items: Arc::clone(&self.shared_items) }))
    }

    fn approximate_len(&self) -> u64 {
        self.items.approximate_len() as u64
    }

    fn stats(&self) -> Vec<(String, String)> {
        let mut out = vec![("engine_path".to_string(), self.path.display().to_string())];
        if let Ok(space) = self.db.disk_space() {
            out.push(("engine_disk_bytes".to_string(), space.to_string()));
        }
        out.push(("engine_journal_count".to_string(), self.db.journal_count().to_string()));
        if let Ok(bytes) = self.db.journal_disk_space() {
            out.push(("engine_journal_bytes".to_string(), bytes.to_string()));
        }
        out.push(("engine_ingested_batches".to_string(), self.ingested_batches.to_string()));
        out.push(("engine_ingest_deferred_batches".to_string(), self.deferred_batches.to_string()));
        out.push(("engine_l0_tables".to_string(), self.items.l0_table_count().to_string()));
        out.push(("engine_table_count".to_string(), self.items.table_count().to_string()));
        out
    }
}

/// Reads the items keyspace of the moment (fjall handles are shared and
/// thread-safe): after a FLUSH, the new one.
struct FjallReader {
    items: SharedKeyspace,
}

impl Reader for FjallReader {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, Error> {
        let items = current(&self.items);
        let Some(raw) = items.get(key).map_err(|e| Error::engine(NAME, "get", e))? else {
            return Ok(None);
        };
        item::decode(key, &Bytes::copy_from_slice(&raw)).map(Some)
    }

    fn scan_range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        each: &mut dyn FnMut(Bytes, Record) -> ControlFlow<()>,
    ) -> Result<u64, Error> {
        use std::ops::Bound;
        let mut n = 0;
        let items = current(&self.items);
        let end = to.map_or(Bound::Unbounded, Bound::Excluded);
        for guard in items.range::<&[u8], _>((Bound::Included(from), end)) {
            let (key, value) =
                guard.into_inner().map_err(|e| Error::engine(NAME, "scan a key range", e))?;
            let key = Bytes::copy_from_slice(&key);
            let record = item::decode(&key, &Bytes::copy_from_slice(&value))?;
            n += 1;
            if each(key, record).is_break() {
                break;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use extent::ExtentBuf;

    use super::*;

    /// An item of `size` bytes that do not compress (fjall compresses its
    /// journal).
    fn put(k: usize, size: usize) -> (Bytes, Item) {
        let mut x = k as u64 | 1;
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let value = ExtentBuf::from(bytes);
        (Bytes::from(format!("k{k}")), Item { value, flags: 0, exptime: 0, cas: 1, seqno: 1 })
    }

    /// Batches too small to ingest keep fjall's journal growing while the
    /// ingested ones flush the items memtable before it fills, so fjall
    /// itself never starts a new journal; past `MAX_JOURNAL_BYTES` the
    /// backend seals the memtables and the old journal goes.
    #[test]
    fn journal_stays_bounded_when_ingestion_flushes_the_memtable() {
        let dir = tempfile::tempdir().unwrap();
        let mut backend = FjallBackend::open(dir.path()).unwrap();
        let mut written = 0u64;
        for round in 0..120usize {
            let mut b = Batch { high_seqno: round as u64, ..Batch::default() };
            if round % 10 == 9 {
                b.puts =
                    (0..INGEST_MIN_WRITES).map(|k| put(1_000_000 + round * 100 + k, 10)).collect();
            } else {
                b.puts =
                    (0..INGEST_MIN_WRITES - 1).map(|k| put(round * 100 + k, 100 << 10)).collect();
                written += (INGEST_MIN_WRITES as u64 - 1) * (100 << 10);
            }
            backend.write_batch(&b, false).unwrap();
        }
        assert!(written > MAX_JOURNAL_BYTES + (8 << 20), "the test writes past the bound");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let journal = backend.db.journal_disk_space().unwrap();
            // One preallocated journal file left (fjall sizes each at 64 MiB).
            if journal <= MAX_JOURNAL_BYTES {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "journal still {journal} bytes after writing {written} (bound {MAX_JOURNAL_BYTES})"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Everything is still there.
        let reader = backend.reader().unwrap();
        assert!(reader.get(b"k0").unwrap().is_some());
        assert!(reader.get(b"k11806").unwrap().is_some());
    }
}
