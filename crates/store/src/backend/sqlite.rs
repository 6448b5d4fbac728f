//! The SQLite engine: one `WITHOUT ROWID` table keyed by the item key.
//!
//! This is the schema the 2011 "LevelDB is ten times faster than SQLite on
//! inserts" comparison was about: the engine itself is the key index. WAL
//! journal, `synchronous=FULL` (a commit is durable when it returns), one
//! transaction per group commit, prepared statements.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rusqlite::{Connection, params};

use super::{Backend, BackendKind, Batch, LoadSummary, claim_dir};
use crate::error::Error;
use crate::item::{self, Record};

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
        claim_dir(dir, BackendKind::Sqlite)?;
        let path = dir.join("items.sqlite");
        let conn = Connection::open(&path).map_err(sql_err("open database"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA cache_size = -65536;
             CREATE TABLE IF NOT EXISTS items (
                 key BLOB PRIMARY KEY NOT NULL,
                 record BLOB NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (
                 name TEXT PRIMARY KEY NOT NULL,
                 value INTEGER NOT NULL
             ) WITHOUT ROWID;",
        )
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
            for (key, item) in &batch.puts {
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
            // u64 values are stored as their two's-complement i64.
            for (name, value) in &batch.meta {
                meta.execute(params![name, value.cast_signed()]).map_err(sql_err("write meta"))?;
            }
            meta.execute(params!["high_seqno", batch.high_seqno.cast_signed()])
                .map_err(sql_err("write high_seqno"))?;
        }
        tx.commit().map_err(sql_err("commit"))
    }

    fn load(&mut self, each: &mut dyn FnMut(Bytes, Record)) -> Result<LoadSummary, Error> {
        let mut summary = LoadSummary::default();
        {
            let mut stmt =
                self.conn.prepare("SELECT name, value FROM meta").map_err(sql_err("scan meta"))?;
            let mut rows = stmt.query([]).map_err(sql_err("scan meta"))?;
            while let Some(row) = rows.next().map_err(sql_err("scan meta"))? {
                let name: String = row.get(0).map_err(sql_err("read meta name"))?;
                let value: i64 = row.get(1).map_err(sql_err("read meta value"))?;
                if name == "high_seqno" {
                    summary.high_seqno = value.cast_unsigned();
                } else {
                    summary.meta.push((name, value.cast_unsigned()));
                }
            }
        }
        let mut stmt =
            self.conn.prepare("SELECT key, record FROM items").map_err(sql_err("scan items"))?;
        let mut rows = stmt.query([]).map_err(sql_err("scan items"))?;
        while let Some(row) = rows.next().map_err(sql_err("scan items"))? {
            let key: Vec<u8> = row.get(0).map_err(sql_err("read key"))?;
            let record: Vec<u8> = row.get(1).map_err(sql_err("read record"))?;
            let record = item::decode(&key, &Bytes::from(record))?;
            summary.items += 1;
            each(Bytes::from(key), record);
        }
        Ok(summary)
    }

    fn stats(&self) -> Vec<(String, String)> {
        let mut out = vec![("engine_path".to_string(), self.path.display().to_string())];
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let wal = self.path.with_extension("sqlite-wal");
        out.push(("engine_disk_bytes".to_string(), (size(&self.path) + size(&wal)).to_string()));
        out
    }
}
