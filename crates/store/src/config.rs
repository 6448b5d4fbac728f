//! How a store is opened: its directory, engine, durability and bounds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::BackendKind;
use crate::clock::Clock;
use crate::memory::Budget;

/// When a mutation counts as done for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// A reply is sent only after the group commit holding the mutation is
    /// on disk (for a quiet run: the closing NOOP's reply).
    #[default]
    PersistBeforeAck,
    /// membase's mode: reply from memory; the flusher persists in the
    /// background, bounded by `max_dirty_bytes` (back-pressure).
    WriteBehind,
}

impl Durability {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Durability::PersistBeforeAck => "persist-before-ack",
            Durability::WriteBehind => "write-behind",
        }
    }
}

/// How to open a store.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory for the engine's files.
    pub dir: PathBuf,
    /// The engine.
    pub backend: BackendKind,
    /// When mutations are acknowledged.
    pub durability: Durability,
    /// Largest value APPEND/PREPEND may grow an item to (bytes).
    pub max_value_len: usize,
    /// Dirty bytes above which writers must wait for the flusher.
    pub max_dirty_bytes: u64,
    /// In write-behind mode, how long a change may wait before a commit.
    pub flush_interval: Duration,
    /// How often expired items are purged from memory and disk.
    pub purge_interval: Duration,
    /// How long deleted keys keep a tombstone, so that a change-feed reader
    /// resuming from an older seqno learns about the delete. A reader
    /// older than that gets a flush and a full backfill instead.
    pub tombstone_retention: Duration,
    /// Bound on the change feed's ring of recent changes (bytes of keys and
    /// values it holds); a reader further behind backfills again.
    pub feed_max_bytes: u64,
    /// Bound on the ring's number of changes.
    pub feed_max_changes: usize,
    /// Whether [`Store::open`](crate::Store::open) loads every item before it returns.
    pub warmup: Warmup,
    /// The time source.
    pub clock: Clock,
    /// The engine's own cache (fjall's block cache, SQLite's page cache),
    /// outside the memory quota.
    pub engine_cache_bytes: u64,
    /// The memory quota, shared with every store opened with the same
    /// `Arc` (see [`Budget`]; the default has no limit).
    pub memory: Arc<Budget>,
}

impl Config {
    /// Defaults for a store in `dir`: fjall, persist-before-ack, 1 MiB values.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Config {
            dir: dir.into(),
            backend: BackendKind::default(),
            durability: Durability::default(),
            max_value_len: 1024 * 1024,
            max_dirty_bytes: 256 * 1024 * 1024,
            flush_interval: Duration::from_millis(100),
            purge_interval: Duration::from_secs(60),
            tombstone_retention: Duration::from_secs(24 * 3600),
            feed_max_bytes: 64 * 1024 * 1024,
            feed_max_changes: 256 * 1024,
            warmup: Warmup::default(),
            clock: Clock::system(),
            engine_cache_bytes: crate::backend::DEFAULT_ENGINE_CACHE,
            memory: Arc::new(Budget::unlimited()),
        }
    }
}

/// How a store loads its items at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Warmup {
    /// [`Store::open`](crate::Store::open) returns once every item is in memory, and fails if a
    /// record does not decode.
    #[default]
    Blocking,
    /// [`Store::open`](crate::Store::open) returns at once; a thread loads the items while the
    /// store serves. A key it has not loaded yet is read from the engine on
    /// first use, so answers are the same as after a full warmup.
    Background,
}
