//! The SQLite engine: one `WITHOUT ROWID` table keyed by the item key.
//!
//! This is the schema the 2011 "LevelDB is ten times faster than SQLite on
//! inserts" comparison was about: the engine itself is the key index. WAL
//! journal, `synchronous=FULL` (a commit is durable when it returns), one
//! transaction per group commit, prepared statements.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Backend, BackendKind, Batch, LoadSummary, Reader, claim_dir};
use crate::error::Error;
use crate::item::{self, Item, Record};

const NAME: &str = "sqlite";

/// Items in `DIR/items.sqlite`.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
}

fn sql_err(context: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| Error::engine(NAME, context, e)
}

impl SqliteBackend {
    /// Opens or creates the database in `dir`.
    ///
    /// # Errors
    ///
    /// Fails when the directory belongs to another backend or SQLite cannot open it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        SqliteBackend::open_with_cache(dir, 64 << 20)
    }

    /// [`SqliteBackend::open`] with a page cache of `cache_bytes` for the
    /// writer connection.
    ///
    /// # Errors
    ///
    /// As [`SqliteBackend::open`].
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Self, Error> {
        claim_dir(dir, BackendKind::Sqlite)?;
        let path = dir.join("items.sqlite");
        let conn = Connection::open(&path).map_err(sql_err("open database"))?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA cache_size = -{};
             CREATE TABLE IF NOT EXISTS items (
                 key BLOB PRIMARY KEY NOT NULL,
                 record BLOB NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (
                 name TEXT PRIMARY KEY NOT NULL,
                 value INTEGER NOT NULL
             ) WITHOUT ROWID;",
            (cache_bytes / 1024).max(256)
        ))
        .map_err(sql_err("create schema"))?;
        Ok(SqliteBackend { conn, path })
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write_batch(&mut self, batch: &Batch, sync: bool) -> Result<(), Error> {
        // synchronous=FULL makes each commit durable; without `sync` NORMAL
        // is enough (WAL stays consistent, the last commits may roll back).
        let mode = if sync { "FULL" } else { "NORMAL" };
        self.conn.pragma_update(None, "synchronous", mode).map_err(sql_err("set synchronous"))?;
        let tx = self.conn.transaction().map_err(sql_err("begin"))?;
        if batch.clear {
            tx.execute("DELETE FROM items", []).map_err(sql_err("clear items"))?;
        }
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO items (key, record) VALUES (?1, ?2)")
                .map_err(sql_err("prepare insert"))?;
            // In key order: consecutive inserts then land in the same or
            // neighbouring B-tree pages, which are already in the cache
            // (the applier's merged batches come in hash order). The sort
            // is stable, so of two puts of one key the later still wins.
            let mut puts: Vec<&(Bytes, Item)> = batch.puts.iter().collect();
            puts.sort_by(|a, b| a.0.cmp(&b.0));
            for (key, item) in puts {
                put.execute(params![key.as_ref(), item::encode(item)])
                    .map_err(sql_err("insert item"))?;
            }
            for (key, tomb) in &batch.tombstones {
                put.execute(params![key.as_ref(), item::encode_tombstone(*tomb)])
                    .map_err(sql_err("insert tombstone"))?;
            }
            let mut del = tx
                .prepare_cached("DELETE FROM items WHERE key = ?1")
                .map_err(sql_err("prepare delete"))?;
            for key in &batch.deletes {
                del.execute(params![key.as_ref()]).map_err(sql_err("delete item"))?;
            }
            let mut meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")
                .map_err(sql_err("prepare meta"))?;
            // Values are blobs (stores written before text metadata hold
            // numbers as their two's-complement i64; both are read back).
            for (name, value) in &batch.meta {
                meta.execute(params![name, value.as_ref()]).map_err(sql_err("write meta"))?;
            }
            meta.execute(params!["high_seqno", batch.high_seqno.cast_signed()])
                .map_err(sql_err("write high_seqno"))?;
        }
        tx.commit().map_err(sql_err("commit"))
    }

    fn sync(&mut self) -> Result<(), Error> {
        // A commit under synchronous=FULL syncs the WAL file, and with it
        // every earlier commit made under NORMAL.
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(sql_err("set synchronous"))?;
        self.conn
            .execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('synced', 1)", [])
            .map_err(sql_err("sync"))?;
        Ok(())
    }

    fn read_meta(&mut self) -> Result<LoadSummary, Error> {
        let mut summary = LoadSummary::default();
        let mut stmt =
            self.conn.prepare("SELECT name, value FROM meta").map_err(sql_err("scan meta"))?;
        let mut rows = stmt.query([]).map_err(sql_err("scan meta"))?;
        while let Some(row) = rows.next().map_err(sql_err("scan meta"))? {
            let name: String = row.get(0).map_err(sql_err("read meta name"))?;
            let value = match row.get_ref(1).map_err(sql_err("read meta value"))? {
                ValueRef::Integer(n) => super::meta_u64(n.cast_unsigned()),
                ValueRef::Blob(b) => Bytes::copy_from_slice(b),
                other => {
                    return Err(Error::Corrupt {
                        key: name.into_bytes(),
                        detail: format!("meta value of type {:?}", other.data_type()),
                    });
                }
            };
            if name == "high_seqno" {
                summary.high_seqno =
                    super::read_meta_u64(&value).ok_or_else(|| Error::Corrupt {
                        key: name.clone().into_bytes(),
                        detail: format!("the high seqno record is {} bytes, not 8", value.len()),
                    })?;
            } else {
                summary.meta.push((name, value));
            }
        }
        Ok(summary)
    }

    fn reader(&self) -> Result<Box<dyn Reader>, Error> {
        let conn = read_only(&self.path)?;
        Ok(Box::new(SqliteReader { path: self.path.clone(), conn: Mutex::new(conn) }))
    }

    fn stats(&self) -> Vec<(String, String)> {
        let mut out = vec![("engine_path".to_string(), self.path.display().to_string())];
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = self.path.with_extension("sqlite-wal");
        out.push(("engine_disk_bytes".to_string(), (size(&self.path) + size(&wal)).to_string()));
        out
    }
}

fn read_only(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    Connection::open_with_flags(path, flags).map_err(sql_err("open a reader"))
}

/// Read-only connections beside the writer (WAL lets them read while it
/// commits): one for lookups, and one per scan.
struct SqliteReader {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Reader for SqliteReader {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, Error> {
        let conn = self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let record: Option<Vec<u8>> = conn
            .prepare_cached("SELECT record FROM items WHERE key = ?1")
            .map_err(sql_err("prepare get"))?
            .query_row(params![key], |row| row.get(0))
            .optional()
            .map_err(sql_err("get"))?;
        drop(conn);
        record.map(|r| item::decode(key, &Bytes::from(r))).transpose()
    }

    fn scan_range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        each: &mut dyn FnMut(Bytes, Record) -> ControlFlow<()>,
    ) -> Result<u64, Error> {
        // BLOBs compare with memcmp: the primary key's order is byte order.
        let conn = read_only(&self.path)?;
        let sql = if to.is_some() {
            "SELECT key, record FROM items WHERE key >= ?1 AND key < ?2 ORDER BY key"
        } else {
            "SELECT key, record FROM items WHERE key >= ?1 ORDER BY key"
        };
        let mut stmt = conn.prepare(sql).map_err(sql_err("scan a key range"))?;
        let mut rows = match to {
            Some(to) => stmt.query(params![from, to]),
            None => stmt.query(params![from]),
        }
        .map_err(sql_err("scan a key range"))?;
        let mut n = 0;
        while let Some(row) = rows.next().map_err(sql_err("scan a key range"))? {
            let key: Vec<u8> = row.get(0).map_err(sql_err("read key"))?;
            let record: Vec<u8> = row.get(1).map_err(sql_err("read record"))?;
            let record = item::decode(&key, &Bytes::from(record))?;
            n += 1;
            if each(Bytes::from(key), record).is_break() {
                break;
            }
        }
        Ok(n)
    }
}
