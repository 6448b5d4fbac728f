//! The store: memcached's item semantics over the item table, with every
//! change recorded in the dirty set for the flusher.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use extent::ExtentBuf;
use tokio::sync::watch;

use crate::apply::{Apply, applier_loop};
use crate::backend::{Backend, BackendKind, LoadSummary, Reader};
use crate::clock::Clock;
use crate::dirty::{Dirty, Version};
use crate::error::Error;
use crate::feed::{Ring, Subscription, TimeIndex};
use crate::item::{Item, Record, Tombstone, Value};
use crate::stats::{Counters, add, inc};
use crate::table::{Shard, Table, lock};
use crate::wal::{self, Log};

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
    /// Whether [`Store::open`] loads every item before it returns.
    pub warmup: Warmup,
    /// The time source.
    pub clock: Clock,
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
        }
    }
}

/// How a store loads its items at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Warmup {
    /// [`Store::open`] returns once every item is in memory, and fails if a
    /// record does not decode.
    #[default]
    Blocking,
    /// [`Store::open`] returns at once; a thread loads the items while the
    /// store serves. A key it has not loaded yet is read from the engine on
    /// first use, so answers are the same as after a full warmup.
    Background,
}

/// The memcached outcomes that are not successes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpError {
    /// No such item (or a CAS on a missing item).
    NotFound,
    /// ADD of an existing item, or a stale CAS.
    Exists,
    /// APPEND/PREPEND of a missing item.
    NotStored,
    /// INCR/DECR of a value that is not a decimal number.
    BadDelta,
    /// The result would exceed the value size limit.
    TooLarge,
}

/// A successful mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mutation {
    /// The item's CAS after the operation (0 after a delete).
    pub cas: u64,
    /// The mutation's sequence number: wait for [`Store::persisted`] to
    /// reach it before acknowledging in persist-before-ack mode.
    pub seqno: u64,
}

/// A found item, as GET returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The value.
    pub value: Value,
    /// The client flags.
    pub flags: u32,
    /// The item's CAS.
    pub cas: u64,
    /// Absolute expiry time in Unix seconds, 0 for never (see
    /// [`Store::ttl`] for the remaining seconds).
    pub exptime: u32,
}

impl Hit {
    fn of(item: &Item) -> Hit {
        Hit { value: item.value.clone(), flags: item.flags, cas: item.cas, exptime: item.exptime }
    }
}

/// How a store request treats an existing item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the bytes after the existing value.
    Append,
    /// Add the bytes before the existing value.
    Prepend,
}

/// INCR or DECR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// The INCR/DECR expiration that means "do not create a missing item".
pub const NO_AUTO_CREATE: u32 = 0xffff_ffff;

/// Seqnos skipped on every open, so a CAS handed out but never persisted
/// before a crash is never handed out again.
const RESTART_SEQNO_GAP: u64 = 1 << 32;

/// What a store reports about its persistence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistState {
    /// Every mutation with a seqno up to this one is durable.
    pub seqno: u64,
}

pub(crate) struct Inner {
    config: Config,
    pub(crate) table: Table,
    pub(crate) dirty: Mutex<Dirty>,
    /// Signals the flusher that `dirty` has work (or that it should stop).
    wake: Condvar,
    persisted: watch::Sender<PersistState>,
    pub(crate) counters: Counters,
    /// Items in the largest group commit so far (a maximum, not a sum: kept
    /// out of the striped counters).
    flusher_max_batch: AtomicU64,
    /// Delayed FLUSH deadline (Unix seconds), 0 when none is pending.
    flush_at: AtomicU32,
    shutting_down: AtomicBool,
    /// Someone waits for persistence: commit now, even in write-behind mode.
    urgent: AtomicBool,
    curr_items: std::sync::atomic::AtomicU64,
    mem_bytes: std::sync::atomic::AtomicU64,
    pub(crate) backend_name: &'static str,
    pub(crate) engine_stats: Mutex<Vec<(String, String)>>,
    /// The engine's reader: the warmup scan, and lookups of keys it has
    /// not loaded yet.
    /// Dropped when the warmup is done (or the store closes), so that the
    /// engine is released with the flusher.
    reader: std::sync::RwLock<Option<Arc<dyn Reader>>>,
    /// True until every stored record is in the table: misses consult the
    /// engine.
    warming: AtomicBool,
    /// The warmup's report once it is done.
    warm: watch::Sender<Option<WarmupReport>>,
    /// Seqno of the last FLUSH (0: none since the store was created).
    flush_seqno: AtomicU64,
    /// Highest seqno of a tombstone dropped after its retention.
    purged_seqno: AtomicU64,
    /// Named change-feed cursors (TAP registered clients).
    cursors: Mutex<HashMap<Bytes, u64>>,
    time_index: Mutex<TimeIndex>,
    /// Lsn of the last batch in the commit log.
    pub(crate) log_lsn: AtomicU64,
    /// Lsn of the last batch the engine has applied.
    pub(crate) applied_lsn: AtomicU64,
    /// Lsn up to which the engine is synced (the log before it is reusable).
    pub(crate) checkpoint_lsn: AtomicU64,
    /// Segment files of the commit log.
    log_segments: AtomicU64,
}

/// Batches the flusher may be ahead of the engine before it waits (each is
/// durable in the commit log already; this bounds the memory they hold).
const APPLY_QUEUE: usize = 16;

/// Metadata names for the change feed's marks and cursors.
const META_FLUSH_SEQNO: &str = "flush_seqno";
const META_PURGED_SEQNO: &str = "purged_seqno";
const META_CURSOR: &str = "tap_cursor:";

/// What happened when the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmupReport {
    /// Items loaded into memory.
    pub items: u64,
    /// Items found expired on disk (dropped and purged).
    pub expired: u64,
    /// Time spent loading.
    pub duration: Duration,
}

/// A durable memcached item store. Cheap to clone (one `Arc`); every clone
/// is the same store.
///
/// Dropping the last clone closes the store (see [`Store::close`]).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    handle: Arc<FlusherHandle>,
}

/// Owns the flusher thread; dropping it (with the last `Store` clone) runs
/// the final commit.
struct FlusherHandle {
    inner: Arc<Inner>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The applier, which ends after the flusher.
    applier: Mutex<Option<JoinHandle<()>>>,
    /// A background warmup, stopped and joined with the flusher.
    warmup: Mutex<Option<JoinHandle<()>>>,
}

impl FlusherHandle {
    fn stop(&self) {
        {
            // Under the dirty lock, so the flusher cannot miss the wake-up
            // between its check and its wait.
            let _dirty = lock(&self.inner.dirty);
            self.inner.shutting_down.store(true, Ordering::Release);
        }
        // Release the engine's reader (a background warmup stops at its
        // next record and drops its own handle).
        *self.inner.reader.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        if let Some(thread) = lock(&self.warmup).take() {
            let _ = thread.join();
        }
        self.inner.wake.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
        if let Some(thread) = lock(&self.applier).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FlusherHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Store {
    /// Opens (or creates) the store in `config.dir`, loads every live item
    /// into memory and starts the flusher thread.
    ///
    /// # Errors
    ///
    /// Fails when the engine cannot be opened or a stored record is corrupt (the error names its key).
    pub fn open(config: Config) -> Result<Store, Error> {
        let mut backend = config.backend.open(&config.dir)?;
        let (summary, recovered) = replay_log(backend.as_mut(), &config.dir)?;
        let last_lsn = recovered.last_lsn;
        let reader = backend.reader()?;
        // Sized up front: a million inserts into growing maps rehash ~20 times.
        let table = Table::with_capacity(backend.approximate_len() + backend.approximate_len() / 8);
        // Every batch stores its high seqno with its records, so no stored
        // record has a larger one.
        let high = summary.high_seqno + RESTART_SEQNO_GAP;
        let dirty = Dirty::new(high, Ring::new(config.feed_max_changes, config.feed_max_bytes));
        let meta = |name: &str| summary.meta.iter().find(|(n, _)| n == name).map_or(0, |m| m.1);
        let (flush_seqno, purged_seqno) = (meta(META_FLUSH_SEQNO), meta(META_PURGED_SEQNO));
        let cursors = summary
            .meta
            .iter()
            .filter_map(|(name, seqno)| {
                let hex = name.strip_prefix(META_CURSOR)?;
                Some((Bytes::from(unhex(hex)?), *seqno))
            })
            .collect();
        let (persisted, _) = watch::channel(PersistState { seqno: high });
        let (warm, _) = watch::channel(None);
        let background = config.warmup == Warmup::Background;
        let inner = Arc::new(Inner {
            backend_name: backend.name(),
            engine_stats: Mutex::new(backend.stats()),
            config,
            table,
            dirty: Mutex::new(dirty),
            wake: Condvar::new(),
            persisted,
            counters: Counters::default(),
            flusher_max_batch: AtomicU64::new(0),
            flush_at: AtomicU32::new(0),
            shutting_down: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
            curr_items: 0.into(),
            mem_bytes: 0.into(),
            reader: std::sync::RwLock::new(Some(Arc::from(reader))),
            warming: AtomicBool::new(true),
            warm,
            flush_seqno: flush_seqno.into(),
            purged_seqno: purged_seqno.into(),
            cursors: Mutex::new(cursors),
            time_index: Mutex::new(TimeIndex::default()),
            log_lsn: last_lsn.into(),
            applied_lsn: last_lsn.into(),
            checkpoint_lsn: last_lsn.into(),
            log_segments: (recovered.log.segments() as u64).into(),
        });
        let spawn_err = |source| Error::Io { path: inner.config.dir.clone(), source };
        let (to_applier, applier_rx) = std::sync::mpsc::sync_channel(APPLY_QUEUE);
        let applier_inner = Arc::clone(&inner);
        let applier = std::thread::Builder::new()
            .name("mammoth-applier".into())
            .spawn(move || applier_loop(&applier_inner, backend, &applier_rx))
            .map_err(spawn_err)?;
        let flusher_inner = Arc::clone(&inner);
        let log = recovered.log;
        let handle = std::thread::Builder::new()
            .name("mammoth-flusher".into())
            .spawn(move || flusher_loop(&flusher_inner, log, &to_applier))
            .map_err(spawn_err)?;
        let handle = Arc::new(FlusherHandle {
            inner: Arc::clone(&inner),
            thread: Mutex::new(Some(handle)),
            applier: Mutex::new(Some(applier)),
            warmup: Mutex::new(None),
        });
        let store = Store { inner, handle };
        if background {
            let warming = Arc::clone(&store.inner);
            let thread = std::thread::Builder::new()
                .name("mammoth-warmup".into())
                .spawn(move || {
                    if let Err(e) = warming.warm_up() {
                        tracing::error!(
                            error = %e,
                            "warmup failed; keys not loaded are read from the engine on demand"
                        );
                    }
                })
                .map_err(|source| Error::Io { path: store.inner.config.dir.clone(), source })?;
            *lock(&store.handle.warmup) = Some(thread);
        } else {
            store.inner.warm_up()?;
        }
        Ok(store)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// What loading the store found; waits for a background warmup to
    /// finish.
    pub fn warmup(&self) -> WarmupReport {
        let mut rx = self.inner.warm.subscribe();
        loop {
            if let Some(report) = *rx.borrow_and_update() {
                return report;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits until every stored item is in memory (at once unless the store
    /// warms up in the background). A failed warmup never completes.
    pub async fn wait_warm(&self) {
        let mut rx = self.inner.warm.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// True while a background warmup is still loading items.
    pub fn is_warming(&self) -> bool {
        self.inner.warming.load(Ordering::Acquire)
    }

    /// Looks `key` up; an expired item is removed and reported as a miss.
    pub fn get(&self, key: &[u8]) -> Option<Hit> {
        inc(&self.inner.counters.cmd_get);
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(key);
        let hit = self.inner.live(&mut shard, key, now).map(|item| Hit::of(item));
        drop(shard);
        inc(if hit.is_some() {
            &self.inner.counters.get_hits
        } else {
            &self.inner.counters.get_misses
        });
        hit
    }

    /// Looks `key` up like [`Store::get`] but without counting a GET (for
    /// metadata requests such as the meta protocol's `me`).
    pub fn peek(&self, key: &[u8]) -> Option<Hit> {
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(key);
        self.inner.live(&mut shard, key, now).map(|item| Hit::of(item))
    }

    /// Whole seconds `hit` is sure to live at the store's clock: `-1` for an
    /// item that never expires, 0 once its time has come. (An item dies at
    /// the start of second `exptime`, so it has `exptime - now - 1` full
    /// seconds left; see [`Clock::absolute`].)
    pub fn ttl(&self, hit: &Hit) -> i64 {
        if hit.exptime == 0 {
            -1
        } else {
            i64::from(hit.exptime.saturating_sub(self.inner.config.clock.now()).saturating_sub(1))
        }
    }

    /// SET, ADD, REPLACE, APPEND or PREPEND with an optional CAS check
    /// (`cas` 0 = none). `exptime` is the protocol expiration.
    ///
    /// # Errors
    ///
    /// [`OpError::Exists`] for an ADD of a live item or a stale CAS,
    /// [`OpError::NotFound`] for a REPLACE (or any CAS) of a missing item,
    /// [`OpError::NotStored`] for APPEND/PREPEND of a missing item,
    /// [`OpError::TooLarge`] when APPEND/PREPEND would pass the value limit.
    pub fn store(
        &self,
        mode: StoreMode,
        key: Bytes,
        value: Bytes,
        flags: u32,
        exptime: u32,
        cas: u64,
    ) -> Result<Mutation, OpError> {
        let c = &self.inner.counters;
        inc(&c.cmd_set);
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(&key);
        // Only a plain SET can do without the old item; everything else
        // needs it, from the engine if the warmup has not loaded it yet.
        let blind = mode == StoreMode::Set && cas == 0;
        let existing = self.inner.live_or_read(&mut shard, &key, now, !blind);
        if cas != 0 {
            match &existing {
                None => {
                    inc(&c.cas_misses);
                    return Err(OpError::NotFound);
                }
                Some(item) if item.cas != cas => {
                    inc(&c.cas_badval);
                    return Err(OpError::Exists);
                }
                Some(_) => inc(&c.cas_hits),
            }
        }
        let new = match (mode, existing) {
            (StoreMode::Add, Some(_)) if cas == 0 => return Err(OpError::Exists),
            (StoreMode::Replace, None) => return Err(OpError::NotFound),
            (StoreMode::Append | StoreMode::Prepend, None) => return Err(OpError::NotStored),
            (StoreMode::Append | StoreMode::Prepend, Some(old)) => {
                let total = old.value.len() + value.len() as u64;
                if total > self.inner.config.max_value_len as u64 {
                    return Err(OpError::TooLarge);
                }
                // The old value's blocks are shared, not copied: the new
                // bytes become one more extent.
                let mut joined = old.value.clone();
                if mode == StoreMode::Append {
                    joined.append(value);
                } else {
                    joined.prepend(value);
                }
                Item { value: joined, flags: old.flags, exptime: old.exptime, cas: 0, seqno: 0 }
            }
            _ => Item {
                value: ExtentBuf::from(value),
                flags,
                exptime: self.inner.config.clock.absolute(exptime),
                cas: 0,
                seqno: 0,
            },
        };
        inc(&c.total_items);
        let mut new = new;
        let mutation = self.inner.record(key.clone(), &mut new, true);
        self.inner.remember(&key, &new);
        let key_len = key.len();
        if let Some(old) = shard.put(key, new) {
            self.inner.forget_len(key_len, &old);
        }
        Ok(mutation)
    }

    /// DELETE with an optional CAS check.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item, [`OpError::Exists`] for a
    /// stale CAS.
    pub fn delete(&self, key: &[u8], cas: u64) -> Result<Mutation, OpError> {
        let c = &self.inner.counters;
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(key);
        let Some(item) = self.inner.live(&mut shard, key, now) else {
            inc(&c.delete_misses);
            return Err(OpError::NotFound);
        };
        if cas != 0 && item.cas != cas {
            return Err(OpError::Exists);
        }
        let Some((key, old)) = shard.remove_entry(key) else {
            return Err(OpError::NotFound);
        };
        self.inner.forget(&key, &old);
        inc(&c.delete_hits);
        Ok(self.inner.record_delete(&mut shard, key, now))
    }

    /// INCR or DECR. Returns the new counter value. A missing item is
    /// created with value `initial` (the delta is not applied) unless
    /// `exptime` is [`NO_AUTO_CREATE`]; a CAS is checked only against an
    /// existing item.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item with [`NO_AUTO_CREATE`],
    /// [`OpError::Exists`] for a stale CAS, [`OpError::BadDelta`] when the
    /// value is not a decimal number that fits in 64 bits.
    pub fn arith(
        &self,
        op: Arith,
        key: Bytes,
        delta: u64,
        initial: u64,
        exptime: u32,
        cas: u64,
    ) -> Result<(u64, Mutation), OpError> {
        let c = &self.inner.counters;
        let (hits, misses) = match op {
            Arith::Incr => (&c.incr_hits, &c.incr_misses),
            Arith::Decr => (&c.decr_hits, &c.decr_misses),
        };
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(&key);
        if let Some(item) = self.inner.live(&mut shard, &key, now) {
            if cas != 0 && item.cas != cas {
                return Err(OpError::Exists);
            }
            let current = parse_counter(&item.value.to_bytes()).ok_or(OpError::BadDelta)?;
            let next = match op {
                Arith::Incr => current.wrapping_add(delta),
                Arith::Decr => current.saturating_sub(delta),
            };
            inc(hits);
            let old_len = item.value.len();
            item.value = ExtentBuf::from(next.to_string().into_bytes());
            let grown = item.value.len() as i64 - old_len as i64;
            let mutation = self.inner.record(key, item, true);
            if grown >= 0 {
                self.inner.mem_bytes.fetch_add(grown as u64, Ordering::Relaxed);
            } else {
                self.inner.mem_bytes.fetch_sub(grown.unsigned_abs(), Ordering::Relaxed);
            }
            Ok((next, mutation))
        } else {
            inc(misses);
            if exptime == NO_AUTO_CREATE {
                return Err(OpError::NotFound);
            }
            let mut item = Item {
                value: ExtentBuf::from(initial.to_string().into_bytes()),
                flags: 0,
                exptime: self.inner.config.clock.absolute(exptime),
                cas: 0,
                seqno: 0,
            };
            inc(&c.total_items);
            let mutation = self.inner.record(key.clone(), &mut item, true);
            self.inner.remember(&key, &item);
            shard.put(key, item);
            Ok((initial, mutation))
        }
    }

    /// TOUCH: sets a new expiration, keeps the CAS. Returns the item as GAT
    /// would.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item.
    pub fn touch(&self, key: &[u8], exptime: u32) -> Result<(Hit, Mutation), OpError> {
        let c = &self.inner.counters;
        inc(&c.cmd_touch);
        let now = self.inner.now();
        let mut shard = self.inner.table.lock(key);
        let Some(item) = self.inner.live(&mut shard, key, now) else {
            inc(&c.touch_misses);
            return Err(OpError::NotFound);
        };
        inc(&c.touch_hits);
        item.exptime = self.inner.config.clock.absolute(exptime);
        let hit = Hit::of(item);
        let stored_key = shard.get_key_value(key).map(|(k, _)| k.clone()).unwrap_or_default();
        let item = shard.get_mut(key).ok_or(OpError::NotFound)?;
        let mutation = self.inner.record(stored_key, item, false);
        // A touch to a time already past kills the item now.
        if item.is_expired(now)
            && let Some((key, old)) = shard.remove_entry(key)
        {
            self.inner.forget(&key, &old);
            let deleted = self.inner.record_delete(&mut shard, key, now);
            return Ok((hit, deleted));
        }
        Ok((hit, mutation))
    }

    /// FLUSH: with `delay` 0 every item disappears now; otherwise at the
    /// time the delay names (relative or absolute, as for expirations).
    /// Returns the seqno to wait for.
    pub fn flush(&self, delay: u32) -> u64 {
        inc(&self.inner.counters.cmd_flush);
        if delay == 0 {
            self.inner.flush_at.store(0, Ordering::Release);
            return self.inner.clear_all();
        }
        let at = self.inner.config.clock.deadline(delay);
        self.inner.flush_at.store(at, Ordering::Release);
        let _ = self.inner.now();
        lock(&self.inner.dirty).high_seqno
    }

    /// Removes every expired item from memory and queues its delete.
    /// Returns how many were purged (the flusher also does this periodically).
    pub fn purge_expired(&self) -> u64 {
        self.inner.purge_expired()
    }

    /// The persistence state right now.
    pub fn persisted(&self) -> PersistState {
        *self.inner.persisted.borrow()
    }

    /// The highest seqno handed out so far.
    pub fn high_seqno(&self) -> u64 {
        lock(&self.inner.dirty).high_seqno
    }

    /// Waits until every mutation up to `seqno` is durable.
    pub async fn wait_persisted(&self, seqno: u64) {
        if self.persisted().seqno >= seqno {
            return;
        }
        self.request_flush();
        let mut rx = self.inner.persisted.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|state| state.seqno >= seqno).await;
    }

    /// Blocks until every mutation made so far is durable.
    pub fn sync(&self) {
        let target = self.high_seqno();
        self.request_flush();
        let mut rx = self.inner.persisted.subscribe();
        loop {
            if rx.borrow_and_update().seqno >= target {
                return;
            }
            // The flusher publishes at least once per commit; poll the watch
            // without a runtime.
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Asks the flusher to commit what is pending now rather than after
    /// `flush_interval` (write-behind mode); persist-before-ack always does.
    pub fn request_flush(&self) {
        // Persist-before-ack needs no nudge: the flusher commits as soon as
        // the dirty set is non-empty, and the change that made it so woke
        // it. (A condvar notify is a futex syscall even with no waiter.)
        if self.inner.config.durability == Durability::WriteBehind {
            self.inner.urgent.store(true, Ordering::Release);
            self.inner.wake.notify_one();
        }
    }

    /// True when writers should wait for the flusher before going on
    /// (the dirty set holds more than `max_dirty_bytes`).
    pub fn over_dirty_limit(&self) -> bool {
        lock(&self.inner.dirty).bytes > self.inner.config.max_dirty_bytes
    }

    /// Item and persistence statistics as memcached-style name/value pairs.
    pub fn stats(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut push = |k: &str, v: String| out.push((k.to_string(), v));
        push("curr_items", self.inner.curr_items.load(Ordering::Relaxed).to_string());
        push("bytes", self.inner.mem_bytes.load(Ordering::Relaxed).to_string());
        for (name, value) in self.inner.counters.snapshot() {
            push(name, value.to_string());
        }
        let max_batch = self.inner.flusher_max_batch.load(Ordering::Relaxed);
        push("flusher_max_batch", max_batch.to_string());
        let (queue, queue_bytes, age, mutations, high) = {
            let d = lock(&self.inner.dirty);
            (d.len(), d.bytes, d.oldest.map(|t| t.elapsed()), d.mutations, d.high_seqno)
        };
        let writes = self.inner.counters.sum(|c| &c.engine_writes);
        push("backend", self.inner.backend_name.to_string());
        push("durability", self.inner.config.durability.name().to_string());
        push("flusher_queue_items", queue.to_string());
        push("flusher_queue_bytes", queue_bytes.to_string());
        push("persistence_lag_ms", age.map_or(0, |a| a.as_millis() as u64).to_string());
        push("high_seqno", high.to_string());
        push("persisted_seqno", self.persisted().seqno.to_string());
        push("commit_log_lsn", self.inner.log_lsn.load(Ordering::Relaxed).to_string());
        push("engine_applied_lsn", self.inner.applied_lsn.load(Ordering::Relaxed).to_string());
        push(
            "engine_checkpoint_lsn",
            self.inner.checkpoint_lsn.load(Ordering::Relaxed).to_string(),
        );
        push("commit_log_segments", self.inner.log_segments.load(Ordering::Relaxed).to_string());
        push("mutations", mutations.to_string());
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let ratio = if writes == 0 { 1.0 } else { mutations as f64 / writes as f64 };
        push("coalescing_ratio", format!("{ratio:.3}"));
        let (ring_changes, ring_bytes) = {
            let d = lock(&self.inner.dirty);
            (d.ring.len(), d.ring.bytes())
        };
        let (flush, purged) = self.feed_marks();
        push("feed_ring_changes", ring_changes.to_string());
        push("feed_ring_bytes", ring_bytes.to_string());
        push("feed_flush_seqno", flush.to_string());
        push("feed_purged_seqno", purged.to_string());
        let warm = *self.inner.warm.borrow();
        let state = match warm {
            Some(_) => "done",
            None if self.is_warming() => "loading",
            None => "failed",
        };
        push("warmup_state", state.to_string());
        push("warmup_items", warm.map_or(0, |w| w.items).to_string());
        push("warmup_ms", warm.map_or(0, |w| w.duration.as_millis() as u64).to_string());
        out.extend(lock(&self.inner.engine_stats).iter().cloned());
        out
    }

    /// Subscribes to the change feed (see [`crate::feed`]): from now on the
    /// store keeps recent changes in its ring until the subscription drops.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(self.clone())
    }

    /// A seqno such that every change made at or after Unix time `time` has
    /// a larger one (TAP's BACKFILL time). Conservative: a change made
    /// shortly before `time`, or before the store was opened, may be
    /// included; none made after is left out.
    pub fn seqno_since_time(&self, time: u64) -> u64 {
        let time = u32::try_from(time).unwrap_or(u32::MAX);
        lock(&self.inner.time_index).since(time)
    }

    /// A receiver of the persistence state, for waiting on it without
    /// asking the flusher to hurry (as [`Store::wait_persisted`] does).
    pub fn persisted_watch(&self) -> watch::Receiver<PersistState> {
        self.inner.persisted.subscribe()
    }

    /// The stored position of the named change-feed cursor.
    pub fn cursor(&self, name: &[u8]) -> Option<u64> {
        lock(&self.inner.cursors).get(name).copied()
    }

    /// Every named cursor and its position.
    pub fn cursors(&self) -> Vec<(Bytes, u64)> {
        let mut all: Vec<_> =
            lock(&self.inner.cursors).iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort();
        all
    }

    /// Moves the named cursor to `seqno` (written with the next group
    /// commit, so it survives restarts).
    pub fn set_cursor(&self, name: &[u8], seqno: u64) {
        let mut cursors = lock(&self.inner.cursors);
        if cursors.get(name) == Some(&seqno) {
            return;
        }
        cursors.insert(Bytes::copy_from_slice(name), seqno);
        let mut dirty = lock(&self.inner.dirty);
        let was_empty = dirty.is_empty();
        dirty.set_meta(format!("{META_CURSOR}{}", hex(name)), seqno);
        drop(dirty);
        drop(cursors);
        if was_empty {
            self.inner.wake.notify_one();
        }
    }

    /// (seqno of the last FLUSH, highest seqno of a purged tombstone).
    pub(crate) fn feed_marks(&self) -> (u64, u64) {
        (
            self.inner.flush_seqno.load(Ordering::Acquire),
            self.inner.purged_seqno.load(Ordering::Acquire),
        )
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// Number of live items in memory.
    pub fn len(&self) -> u64 {
        self.inner.curr_items.load(Ordering::Relaxed)
    }

    /// True when the store holds no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the flusher after a final commit of everything pending. Later
    /// mutations are kept in memory only. Idempotent.
    pub fn close(&self) {
        self.handle.stop();
    }
}

impl Inner {
    fn now(&self) -> u32 {
        let now = self.config.clock.now();
        let at = self.flush_at.load(Ordering::Acquire);
        if at != 0 && now >= at && self.flush_at.swap(0, Ordering::AcqRel) == at {
            self.clear_all();
        }
        now
    }

    /// The live item under `key`, removing it (and recording the delete) if
    /// it has expired.
    fn live<'s>(&self, shard: &'s mut Shard, key: &[u8], now: u32) -> Option<&'s mut Item> {
        self.live_or_read(shard, key, now, true)
    }

    /// [`Inner::live`], reading a key the warmup has not loaded yet from the
    /// engine only with `read_through` (a plain SET does not need the old
    /// item: the loader will find the key newer in the table and skip it).
    fn live_or_read<'s>(
        &self,
        shard: &'s mut Shard,
        key: &[u8],
        now: u32,
        read_through: bool,
    ) -> Option<&'s mut Item> {
        let expired = if let Some(item) = shard.items.get(key) {
            item.is_expired(now)
        } else {
            if !read_through {
                return None;
            }
            self.read_through(shard, key)?;
            shard.items.get(key).is_some_and(|i| i.is_expired(now))
        };
        if expired {
            if let Some((key, item)) = shard.remove_entry(key) {
                self.forget(&key, &item);
                inc(&self.counters.expired_items);
                inc(&self.counters.get_expired);
                self.record_delete(shard, key, now);
            }
            return None;
        }
        shard.get_mut(key)
    }

    /// While the warmup runs, loads `key` from the engine into `shard` if
    /// the table knows nothing about it. `None` when there is no item.
    fn read_through(&self, shard: &mut Shard, key: &[u8]) -> Option<()> {
        if !self.warming.load(Ordering::Acquire) || shard.tombs.contains_key(key) {
            return None;
        }
        // The shard lock is held: nothing newer than the engine's version
        // can appear for this key meanwhile (the flusher only writes
        // versions that are newer in the table).
        let reader =
            self.reader.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()?;
        match reader.get(key) {
            Ok(Some(Record::Item(item))) => {
                let key = Bytes::copy_from_slice(key);
                self.remember(&key, &item);
                shard.items.insert(key, item);
                Some(())
            }
            Ok(Some(Record::Tombstone(tomb))) => {
                shard.tombs.insert(Bytes::copy_from_slice(key), tomb);
                None
            }
            Ok(None) => None,
            Err(e) => {
                inc(&self.counters.engine_errors);
                tracing::error!(error = %e, "read-through during warmup failed");
                None
            }
        }
    }

    /// Loads every stored record the table does not know yet (a key
    /// mutated, read through or deleted meanwhile is newer in the table).
    fn warm_up(&self) -> Result<WarmupReport, Error> {
        let started = Instant::now();
        let now = self.config.clock.now();
        let (mut items, mut expired) = (0u64, 0u64);
        let reader = self.reader.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let Some(reader) = reader else { return Ok(WarmupReport::default()) };
        reader.scan(&mut |key, record| {
            if self.shutting_down.load(Ordering::Acquire) {
                return ControlFlow::Break(());
            }
            let mut shard = self.table.lock(&key);
            // A FLUSH during the warmup ends it (`warming` is cleared with
            // every shard locked): nothing left in the engine's old
            // contents is wanted, so the scan stops there.
            if !self.warming.load(Ordering::Acquire) {
                return ControlFlow::Break(());
            }
            if shard.items.contains_key(&key) || shard.tombs.contains_key(&key) {
                return ControlFlow::Continue(());
            }
            match record {
                Record::Item(item) if item.is_expired(now) => {
                    expired += 1;
                    self.record_delete(&mut shard, key, now);
                }
                Record::Item(item) => {
                    items += 1;
                    self.remember(&key, &item);
                    shard.items.insert(key, item);
                }
                Record::Tombstone(tomb) => {
                    shard.tombs.insert(key, tomb);
                }
            }
            ControlFlow::Continue(())
        })?;
        drop(reader);
        if self.shutting_down.load(Ordering::Acquire) {
            return Ok(WarmupReport::default());
        }
        self.warming.store(false, Ordering::Release);
        *self.reader.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let report = WarmupReport { items, expired, duration: started.elapsed() };
        tracing::info!(
            backend = self.backend_name,
            items,
            expired,
            ms = report.duration.as_millis() as u64,
            "store warmed up"
        );
        self.warm.send_replace(Some(report));
        Ok(report)
    }

    fn forget(&self, key: &[u8], item: &Item) {
        self.forget_len(key.len(), item);
    }

    fn forget_len(&self, key_len: usize, item: &Item) {
        self.curr_items.fetch_sub(1, Ordering::Relaxed);
        self.mem_bytes.fetch_sub(item.footprint_len(key_len), Ordering::Relaxed);
    }

    fn remember(&self, key: &[u8], item: &Item) {
        self.curr_items.fetch_add(1, Ordering::Relaxed);
        self.mem_bytes.fetch_add(item.footprint(key), Ordering::Relaxed);
    }

    /// Records `item` under `key` in the dirty set with a new seqno; the
    /// caller holds the key's shard lock, which keeps the table and the
    /// dirty set in the same order for that key.
    fn record(&self, key: Bytes, item: &mut Item, new_cas: bool) -> Mutation {
        let mut dirty = lock(&self.dirty);
        // The flusher sleeps on `wake` only while the dirty set is empty, so
        // only the change that makes it non-empty needs to wake it (a futex
        // syscall per mutation otherwise).
        let was_empty = dirty.is_empty();
        let seqno = dirty.next_seqno();
        item.seqno = seqno;
        if new_cas {
            item.cas = seqno;
        }
        dirty.record(key, Version::Put(item.clone()));
        drop(dirty);
        if was_empty {
            self.wake.notify_one();
        }
        Mutation { cas: item.cas, seqno }
    }

    /// Records the delete of `key` (already removed from `shard`'s items):
    /// a tombstone in the shard and in the dirty set.
    fn record_delete(&self, shard: &mut Shard, key: Bytes, now: u32) -> Mutation {
        let mut dirty = lock(&self.dirty);
        let was_empty = dirty.is_empty();
        let seqno = dirty.next_seqno();
        let tomb = Tombstone { seqno, deleted_at: now };
        dirty.record(key.clone(), Version::Tomb(tomb));
        drop(dirty);
        shard.tombs.insert(key, tomb);
        if was_empty {
            self.wake.notify_one();
        }
        Mutation { cas: 0, seqno }
    }

    fn clear_all(&self) -> u64 {
        // Hold every shard so no mutation slips between the clear in memory
        // and the clear marker in the dirty set.
        let mut shards: Vec<_> =
            (0..self.table.shard_count()).map(|i| self.table.lock_shard(i)).collect();
        // Older records in the engine are gone now: stop loading them.
        self.warming.store(false, Ordering::Release);
        let mut dirty = lock(&self.dirty);
        let seqno = dirty.next_seqno();
        dirty.record_clear();
        dirty.set_meta(META_FLUSH_SEQNO.to_string(), seqno);
        self.flush_seqno.store(seqno, Ordering::Release);
        drop(dirty);
        for shard in &mut shards {
            shard.items.clear();
            shard.tombs.clear();
        }
        self.curr_items.store(0, Ordering::Relaxed);
        self.mem_bytes.store(0, Ordering::Relaxed);
        drop(shards);
        self.wake.notify_one();
        seqno
    }

    /// Removes every expired item from memory and queues its delete.
    /// Returns how many were purged. The flusher calls this periodically.
    pub(crate) fn purge_expired(&self) -> u64 {
        if self.warming.load(Ordering::Acquire) {
            // Removing a tombstone now could let the warmup load the item
            // it shadows.
            return 0;
        }
        let now = self.now();
        let retention =
            u32::try_from(self.config.tombstone_retention.as_secs()).unwrap_or(u32::MAX);
        let mut purged = 0;
        let mut purged_seqno = 0;
        for i in 0..self.table.shard_count() {
            let mut shard = self.table.lock_shard(i);
            let dead: Vec<Bytes> = shard
                .iter()
                .filter(|(_, item)| item.is_expired(now))
                .map(|(k, _)| k.clone())
                .collect();
            for key in dead {
                if let Some((key, item)) = shard.remove_entry(&key) {
                    self.forget(&key, &item);
                    self.record_delete(&mut shard, key, now);
                    purged += 1;
                }
            }
            let old: Vec<(Bytes, u64)> = shard
                .tombs
                .iter()
                .filter(|(_, t)| t.deleted_at.saturating_add(retention) < now)
                .map(|(k, t)| (k.clone(), t.seqno))
                .collect();
            if !old.is_empty() {
                let mut dirty = lock(&self.dirty);
                for (key, seqno) in old {
                    shard.tombs.remove(&key);
                    purged_seqno = purged_seqno.max(seqno);
                    dirty.purge(key);
                }
                // The mark goes into the same batch as the removals.
                let marked =
                    self.purged_seqno.fetch_max(purged_seqno, Ordering::AcqRel).max(purged_seqno);
                dirty.set_meta(META_PURGED_SEQNO.to_string(), marked);
                drop(dirty);
                self.wake.notify_one();
            }
        }
        add(&self.counters.expired_items, purged);
        purged
    }
}

/// Lower-case hex of `bytes` (cursor names in metadata keys).
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The inverse of [`hex`]; `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Parses a counter as memcached does: decimal digits, trailing whitespace
/// allowed, must fit in a u64.
fn parse_counter(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii_end();
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Applies the commit log's batches the engine has not got (a crash left
/// them only in the log), syncs the engine, and returns the engine's
/// metadata as it is afterwards.
fn replay_log(
    backend: &mut dyn Backend,
    dir: &std::path::Path,
) -> Result<(LoadSummary, wal::Recovered), Error> {
    let started = Instant::now();
    let summary = backend.read_meta()?;
    let engine_lsn = summary.meta.iter().find(|(n, _)| n == wal::META_WAL_LSN).map_or(0, |m| m.1);
    let recovered = wal::recover(&dir.join("wal"), engine_lsn, &mut |batch| {
        backend.write_batch(&batch, false)
    })?;
    if recovered.replayed == 0 {
        return Ok((summary, recovered));
    }
    backend.sync()?;
    tracing::info!(
        batches = recovered.replayed,
        lsn = recovered.last_lsn,
        ms = started.elapsed().as_millis() as u64,
        "replayed the commit log into the engine"
    );
    Ok((backend.read_meta()?, recovered))
}

fn flusher_loop(inner: &Inner, mut log: Log, to_applier: &std::sync::mpsc::SyncSender<Apply>) {
    let write_behind = inner.config.durability == Durability::WriteBehind;
    let mut last_purge = Instant::now();
    let mut lsn = inner.log_lsn.load(Ordering::Acquire);
    loop {
        let (stopping, batch) = {
            let mut dirty = lock(&inner.dirty);
            // Read under the lock `stop` sets it under: no lost wake-up.
            let stopping = inner.shutting_down.load(Ordering::Acquire);
            if dirty.is_empty() && !stopping {
                let wait = inner.config.purge_interval.saturating_sub(last_purge.elapsed());
                dirty = inner
                    .wake
                    .wait_timeout(dirty, wait.max(Duration::from_millis(10)))
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
            let urgent = inner.urgent.swap(false, Ordering::AcqRel);
            if write_behind && !stopping && !urgent && !dirty.is_empty() {
                // Let changes gather for up to flush_interval unless the set
                // is already big.
                let age = dirty.oldest.map_or(Duration::ZERO, |t| t.elapsed());
                if age < inner.config.flush_interval
                    && dirty.bytes < inner.config.max_dirty_bytes / 2
                {
                    let wait = inner.config.flush_interval.saturating_sub(age);
                    drop(dirty);
                    std::thread::sleep(wait.min(Duration::from_millis(20)));
                    continue;
                }
            }
            (stopping, if dirty.is_empty() { None } else { Some(dirty.take_batch()) })
        };
        if let Some(mut batch) = batch {
            let started = Instant::now();
            lsn += 1;
            let writes = batch.writes() as u64;
            batch.meta.push((wal::META_WAL_LSN.to_string(), lsn));
            let mut attempt = 0u32;
            // The group commit: one log append and one fdatasync.
            while let Err(e) = log.append(lsn, &batch, inner.checkpoint_lsn.load(Ordering::Acquire))
            {
                attempt += 1;
                inc(&inner.counters.engine_errors);
                tracing::error!(error = %e, attempt, items = writes, "group commit failed; retrying");
                std::thread::sleep(Duration::from_millis(100 * u64::from(attempt.min(50))));
            }
            let c = &inner.counters;
            inc(&c.flusher_batches);
            add(&c.engine_writes, writes);
            inner.flusher_max_batch.fetch_max(writes, Ordering::Relaxed);
            add(&c.flusher_commit_us, started.elapsed().as_micros() as u64);
            inner.log_lsn.store(lsn, Ordering::Release);
            inner.log_segments.store(log.segments() as u64, Ordering::Relaxed);
            inner.persisted.send_replace(PersistState { seqno: batch.high_seqno });
            lock(&inner.time_index).record(inner.config.clock.now(), batch.high_seqno);
            // Waits while the engine is APPLY_QUEUE batches behind.
            let _ = to_applier.send(Apply::Batch(lsn, batch));
            if log.take_rolled() {
                let _ = to_applier.send(Apply::Checkpoint);
            }
        } else if stopping {
            return;
        }
        if last_purge.elapsed() >= inner.config.purge_interval {
            last_purge = Instant::now();
            inner.purge_expired();
        }
    }
}
