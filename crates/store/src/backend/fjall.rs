//! The fjall engine: one keyspace for items, one for store metadata.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Backend, BackendKind, Batch, LoadSummary, Reader, claim_dir};
use crate::error::Error;
use crate::item::{self, Record};

const NAME: &str = "fjall";
const HIGH_SEQNO: &[u8] = b"high_seqno";
/// fjall's block cache.
const ENGINE_CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Journal size at which fjall flushes the memtables that keep its oldest
/// journal alive (fjall's least). The small `meta` keyspace would otherwise
/// pin every journal up to fjall's default of 512 MiB, all of which a
/// restart after a crash reads back.
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
/// Size at which fjall seals a memtable and writes it out as a table.
const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;

/// Items in a fjall database under `DIR/fjall`.
pub struct FjallBackend {
    db: Database,
    items: Keyspace,
    meta: Keyspace,
    path: PathBuf,
}

impl FjallBackend {
    /// Opens or creates the database in `dir`.
    ///
    /// # Errors
    ///
    /// Fails when the directory belongs to another backend or fjall cannot open it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        claim_dir(dir, BackendKind::Fjall)?;
        let path = dir.join("fjall");
        let err = |context: &str| {
            let context = format!("{context} {}", path.display());
            move |e| Error::engine(NAME, context, e)
        };
        // Journal writes are persisted only where we ask (one sync per
        // batch). The item table already holds every item in memory, so the
        // engine's own caches only need to serve the warmup scan: a small
        // block cache and 16 MiB memtables instead of fjall's 32 MiB and
        // 64 MiB keep its memory well below the data's.
        let db = Database::builder(&path)
            .manual_journal_persist(true)
            .cache_size(ENGINE_CACHE_BYTES)
            .max_journaling_size(MAX_JOURNAL_BYTES)
            .open()
            .map_err(err("open"))?;
        let items = db
            .keyspace("items", || {
                KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
            })
            .map_err(err("open keyspace in"))?;
        let meta =
            db.keyspace("meta", KeyspaceCreateOptions::default).map_err(err("open keyspace in"))?;
        Ok(FjallBackend { db, items, meta, path })
    }
}

impl Backend for FjallBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write_batch(&mut self, batch: &Batch, sync: bool) -> Result<(), Error> {
        if batch.clear {
            // Not atomic with the rest of the batch; a crash between the two
            // leaves a cleared store without the batch's later writes, which
            // were never acknowledged.
            self.items.clear().map_err(|e| Error::engine(NAME, "clear items", e))?;
        }
        let mode = if sync { Some(PersistMode::SyncData) } else { Some(PersistMode::Buffer) };
        let mut wb = self.db.batch().durability(mode);
        for (key, item) in &batch.puts {
            wb.insert(&self.items, key.as_ref(), item::encode(item));
        }
        for (key, tomb) in &batch.tombstones {
            wb.insert(&self.items, key.as_ref(), item::encode_tombstone(*tomb));
        }
        for key in &batch.deletes {
            wb.remove(&self.items, key.as_ref());
        }
        for (name, value) in &batch.meta {
            wb.insert(&self.meta, name.as_bytes(), value.to_be_bytes().to_vec());
        }
        wb.insert(&self.meta, HIGH_SEQNO, batch.high_seqno.to_be_bytes().to_vec());
        // One journal write and, with `sync`, one fdatasync for the batch.
        wb.commit().map_err(|e| Error::engine(NAME, "commit batch", e))
    }

    fn sync(&mut self) -> Result<(), Error> {
        self.db.persist(PersistMode::SyncData).map_err(|e| Error::engine(NAME, "sync journal", e))
    }

    fn read_meta(&mut self) -> Result<LoadSummary, Error> {
        let mut summary = LoadSummary::default();
        for guard in self.meta.iter() {
            let (name, raw) =
                guard.into_inner().map_err(|e| Error::engine(NAME, "scan meta", e))?;
            let value: [u8; 8] = raw.as_ref().try_into().map_err(|_| Error::Corrupt {
                key: name.to_vec(),
                detail: format!("meta record is {} bytes, not 8", raw.len()),
            })?;
            let value = u64::from_be_bytes(value);
            if name.as_ref() == HIGH_SEQNO {
                summary.high_seqno = value;
            } else {
                let name = String::from_utf8(name.to_vec()).map_err(|e| Error::Corrupt {
                    key: e.as_bytes().to_vec(),
                    detail: "meta name is not UTF-8".into(),
                })?;
                summary.meta.push((name, value));
            }
        }
        Ok(summary)
    }

    fn reader(&self) -> Result<Box<dyn Reader>, Error> {
        Ok(Box::new(FjallReader { items: self.items.clone() }))
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
        out.push(("engine_table_count".to_string(), self.items.table_count().to_string()));
        out
    }
}

/// A second handle on the items keyspace (fjall handles are shared and
/// thread-safe).
struct FjallReader {
    items: Keyspace,
}

impl Reader for FjallReader {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, Error> {
        let Some(raw) = self.items.get(key).map_err(|e| Error::engine(NAME, "get", e))? else {
            return Ok(None);
        };
        item::decode(key, &Bytes::copy_from_slice(&raw)).map(Some)
    }

    fn scan(&self, each: &mut dyn FnMut(Bytes, Record) -> ControlFlow<()>) -> Result<u64, Error> {
        let mut n = 0;
        for guard in self.items.iter() {
            let (key, value) =
                guard.into_inner().map_err(|e| Error::engine(NAME, "scan items", e))?;
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
