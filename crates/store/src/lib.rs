//! mammoth's item store: memcached items kept in memory and made durable by
//! group commits to an embedded engine.
//!
//! # Design
//!
//! This is the ep-engine (membase) model:
//!
//! * **Memory first, within a quota.** Every live item's key and metadata
//!   are in a sharded in-memory table, and its value unless the quota is
//!   short: a pager ejects the values of items the engine already holds and
//!   that were not used recently (CLOCK), and an operation that needs an
//!   ejected value reads it back ([`Store::fetch`] does that off the
//!   caller's thread; concurrent misses share one read). When memory is full
//!   of changes the engine does not have yet, writes fail with
//!   [`OpError::TempFail`] until it catches up. See [`memory`] and
//!   `docs/memory.md`.
//! * **A dirty set, coalesced per key.** Each mutation gets a sequence number
//!   (which is also its CAS) and records the key's latest version in the
//!   dirty set; ten SETs of one key before the next commit become one engine
//!   write.
//! * **One flusher, one fdatasync per batch.** A thread drains the whole
//!   dirty set into one batch, appends it to the store's commit log and
//!   syncs it once, for every connection at once (group commit). It then
//!   publishes "persisted up to seqno N".
//! * **The engine is written behind the log.** An applier thread writes each
//!   logged batch to the engine without syncing and syncs the engine once
//!   per log segment (a checkpoint), after which the segment file is reused
//!   in place (so a log append allocates nothing and its sync writes data
//!   pages only). Opening a store replays the log records the engine had not
//!   applied (it stores the log position of its last batch). The applier
//!   merges the batches that arrive within 500 ms (latest change per key);
//!   fjall writes a merged batch of 2048 or more changes straight out as one
//!   sorted table (its ingestion; fjall first flushes what its memtable
//!   holds), skipping its journal — the log already made the changes
//!   durable. While compaction is behind (20 level-0 tables) batches go
//!   through fjall's journal and its write stall instead, and the backend
//!   seals fjall's memtables when the journal outgrows 64 MiB, which fjall
//!   would otherwise only do when one fills.
//! * **Durability is the caller's choice per reply.** In
//!   [`Durability::PersistBeforeAck`] the server waits
//!   ([`Store::wait_persisted`]) for the seqno of the last mutation before a
//!   reply goes out — for a pipeline of quiet SETQs, before the closing
//!   NOOP's reply. In [`Durability::WriteBehind`] it replies at once; the
//!   dirty set is bounded by [`Config::max_dirty_bytes`] and writers wait when
//!   it is full ([`Store::over_dirty_limit`]).
//!
//! Engines sit behind the narrow [`Backend`] trait: fjall (an LSM tree, the
//! default) and SQLite (`WITHOUT ROWID`, WAL), the comparison the 2011
//! "LevelDB is ten times faster than SQLite on inserts" result was about.
//!
//! CAS values are never reused: every batch stores the sequence high-water
//! mark, and a reopened store skips 2^32 sequence numbers past it, so even
//! CAS values handed out but lost in a crash are not handed out again.
//!
//! Limits: keys and metadata always stay in memory (no full ejection yet,
//! so the number of keys is bounded by the quota); a delayed FLUSH that is
//! pending at shutdown is forgotten.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use store::{Config, Store, Write};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(Config::new(dir.path()))?;
//! let m = store.write(Write::set("k", "v").flags(7)).unwrap();
//! store.sync(); // or `store.wait_persisted(m.seqno).await` in a server
//! assert!(store.persisted().seqno >= m.seqno);
//! store.close();
//!
//! // Everything acknowledged is there after a restart.
//! let store = Store::open(Config::new(dir.path()))?;
//! let hit = store.get(b"k").unwrap();
//! assert_eq!((hit.value.to_bytes(), hit.flags), (Bytes::from("v"), 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod backend;
mod clock;
mod config;
mod core;
mod dirty;
mod error;
pub mod feed;
mod fetch;
mod flusher;
mod health;
mod item;
pub mod memory;
mod pager;
mod ring;
mod stats;
mod store;
mod table;
mod wal;
mod warmup;

pub use crate::backend::{
    Backend, BackendKind, Batch, DEFAULT_ENGINE_CACHE, FjallBackend, LoadSummary, Reader,
    SqliteBackend, meta_u64, read_meta_u64,
};
pub use crate::clock::{Clock, RELATIVE_EXPIRY_LIMIT};
pub use crate::config::{Config, Durability, Warmup};
pub use crate::error::Error;
pub use crate::feed::{Backfill, Candidate, Change, ChangeKind, Lagged, Subscription};
pub use crate::fetch::Fetch;
pub use crate::item::{Item, Record, Tombstone, Value};
pub use crate::memory::{Budget, Eviction, parse_size};
pub use crate::stats::{CounterSet, Counters, Striped};
pub use crate::store::{
    Arith, COPY_BELOW, Counter, Create, Hit, Mutation, OpError, PersistState, Store, StoreMode,
    Write,
};
pub use crate::warmup::WarmupReport;

/// Renders a key for messages: printable ASCII as is, anything else escaped.
pub fn show_key(key: &[u8]) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    out.push('"');
    out.extend(key.escape_ascii().map(char::from));
    out.push('"');
    out
}
