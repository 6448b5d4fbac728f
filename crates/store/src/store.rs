//! The store: memcached's item semantics over the item table, with every
//! change recorded in the dirty set for the flusher.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use extent::ExtentBuf;
use tokio::sync::watch;

use crate::apply::{EngineProgress, applier_loop};
use crate::backend::Backend;
use crate::config::{Config, Durability, Warmup};
use crate::core::{Core, META_FLUSH_SEQNO, META_PURGED_SEQNO};
use crate::dirty::Dirty;
use crate::error::Error;
use crate::feed::{Cursors, Subscription};
use crate::fetch::{Fetch, Fetcher};
use crate::flusher::{CommitState, Threads, flusher_loop, replay_log};
use crate::item::{Item, Value};
use crate::memory::QueueCharge;
use crate::pager::pager_loop;
use crate::ring::Ring;
use crate::stats::inc;
use crate::table::{MAX_KEY_LEN, Table, lock};
use crate::warmup::{WarmState, WarmupReport, warm_up};

/// Values shorter than this are copied out of the buffer they arrived in
/// when stored (see [`Store::write`]): the server reads into 64 KiB
/// buffers, so a shorter value shares its buffer with other requests and a
/// slice of it would keep the whole buffer alive. A longer one mostly has a
/// buffer of its own and is kept without a copy.
pub const COPY_BELOW: usize = 64 * 1024;

/// `value` in an allocation of its own when it is short (see [`COPY_BELOW`]).
fn own(value: Bytes) -> Bytes {
    if value.len() < COPY_BELOW { Bytes::copy_from_slice(&value) } else { value }
}

/// A copy of `key` in an allocation of its own, for the dirty set (never a
/// slice of a read buffer).
fn owned_key(key: &[u8]) -> Bytes {
    Bytes::copy_from_slice(key)
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
    /// The memory quota is full of changes not yet in the engine: try
    /// again shortly (binary `ETMPFAIL`).
    TempFail,
    /// The memory quota is full and nothing may be ejected
    /// ([`Eviction::None`](crate::Eviction::None); binary `ENOMEM`).
    OutOfMemory,
    /// Writes cannot be made durable now (a full disk, an I/O error on the
    /// commit log or the engine): refused at once; try again later (binary
    /// `ETMPFAIL`). See [`Store::unwritable`].
    Unwritable,
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
    fn of(item: Item) -> Hit {
        Hit { value: item.value, flags: item.flags, cas: item.cas, exptime: item.exptime }
    }
}

pub use memcache::ops::{Arith, StoreMode};

/// A SET-family request for [`Store::write`]: the mode, the item, and an
/// optional CAS check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// SET, ADD, REPLACE, APPEND or PREPEND.
    pub mode: StoreMode,
    /// The key.
    pub key: Bytes,
    /// The value, or the bytes APPEND/PREPEND add.
    pub value: Bytes,
    /// Item flags (kept from the old item by APPEND/PREPEND).
    pub flags: u32,
    /// Protocol expiration: 0 never, up to 30 days relative, else absolute
    /// Unix seconds (kept from the old item by APPEND/PREPEND).
    pub exptime: u32,
    /// Compare-and-swap: the write applies only if the item's CAS is this
    /// (0: no check).
    pub cas: u64,
}

impl Write {
    /// A write of `value` under `key` in `mode`, flags and expiration 0, no
    /// CAS check.
    pub fn new(mode: StoreMode, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Write {
        Write { mode, key: key.into(), value: value.into(), flags: 0, exptime: 0, cas: 0 }
    }

    /// A plain SET.
    pub fn set(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Write {
        Write::new(StoreMode::Set, key, value)
    }

    /// With these item flags.
    #[must_use]
    pub fn flags(mut self, flags: u32) -> Write {
        self.flags = flags;
        self
    }

    /// With this protocol expiration.
    #[must_use]
    pub fn exptime(mut self, exptime: u32) -> Write {
        self.exptime = exptime;
        self
    }

    /// Only if the item's CAS is `cas` (0: no check).
    #[must_use]
    pub fn cas(mut self, cas: u64) -> Write {
        self.cas = cas;
        self
    }
}

/// An INCR or DECR for [`Store::arith`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// INCR or DECR.
    pub mode: Arith,
    /// The key.
    pub key: Bytes,
    /// Amount to add or subtract.
    pub delta: u64,
    /// Create a missing counter (the delta is not applied to it); `None`
    /// answers a missing counter with [`OpError::NotFound`].
    pub create: Option<Create>,
    /// Compare-and-swap, checked only against an existing item (0: none).
    pub cas: u64,
}

/// How [`Counter`] creates a missing counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Create {
    /// The new counter's value.
    pub initial: u64,
    /// Its protocol expiration.
    pub exptime: u32,
}

impl Counter {
    /// `mode` by `delta` on `key`; a missing counter is not created, no CAS
    /// check.
    pub fn new(mode: Arith, key: impl Into<Bytes>, delta: u64) -> Counter {
        Counter { mode, key: key.into(), delta, create: None, cas: 0 }
    }

    /// Creates a missing counter with `initial` and `exptime`.
    #[must_use]
    pub fn create(mut self, initial: u64, exptime: u32) -> Counter {
        self.create = Some(Create { initial, exptime });
        self
    }

    /// Only if an existing item's CAS is `cas` (0: no check).
    #[must_use]
    pub fn cas(mut self, cas: u64) -> Counter {
        self.cas = cas;
        self
    }
}

/// Seqnos skipped on every open, so a CAS handed out but never persisted
/// before a crash is never handed out again.
const RESTART_SEQNO_GAP: u64 = 1 << 32;

/// What a store reports about its persistence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistState {
    /// Every mutation with a seqno up to this one is durable.
    pub seqno: u64,
}

/// Batches the flusher may be ahead of the engine before it waits (each is
/// durable in the commit log already; this bounds the memory they hold).
const APPLY_QUEUE: usize = 16;

/// A durable memcached item store. Cheap to clone (one `Arc`); every clone
/// is the same store.
///
/// Dropping the last clone closes the store (see [`Store::close`]).
#[derive(Clone)]
pub struct Store {
    parts: Arc<Parts>,
}

/// What a store is made of; each thread holds only the parts it uses.
struct Parts {
    core: Arc<Core>,
    commit: Arc<CommitState>,
    engine: Arc<EngineProgress>,
    cursors: Cursors,
    warm: Arc<WarmState>,
    fetcher: Arc<Fetcher>,
    backend_name: &'static str,
    /// Declared last: dropped (threads stopped and joined) after the rest
    /// has no more users.
    threads: Threads,
}

impl Store {
    /// Opens (or creates) the store in `config.dir`, replays the commit
    /// log into the engine, starts the flusher and applier threads and
    /// loads the items into memory — before returning with
    /// [`Warmup::Blocking`], in a thread of its own with
    /// [`Warmup::Background`].
    ///
    /// # Errors
    ///
    /// Fails when the engine cannot be opened or a stored record is corrupt (the error names its key).
    pub fn open(config: Config) -> Result<Store, Error> {
        let backend = config.backend.open_with_cache(&config.dir, config.engine_cache_bytes)?;
        Store::open_with_backend(config, backend)
    }

    /// [`Store::open`] over an engine the caller opened (`config.backend`
    /// is then only a name): an engine of one's own, or one wrapped to
    /// inject faults. The commit log still lives in `config.dir`.
    ///
    /// # Errors
    ///
    /// As [`Store::open`].
    pub fn open_with_backend(
        config: Config,
        mut backend: Box<dyn Backend>,
    ) -> Result<Store, Error> {
        let (summary, recovered) = replay_log(backend.as_mut(), &config.dir)?;
        let last_lsn = recovered.last_lsn;
        let reader = backend.reader()?;
        // Sized up front: a million inserts into growing maps rehash ~20 times.
        let table = Table::with_capacity(backend.approximate_len() + backend.approximate_len() / 8);
        // Every batch stores its high seqno with its records, so no stored
        // record has a larger one.
        let high = summary.high_seqno + RESTART_SEQNO_GAP;
        let charge = Arc::new(QueueCharge::new(Arc::clone(&config.memory)));
        let dirty = Dirty::new(
            high,
            Ring::new(config.feed_max_changes, config.feed_max_bytes),
            Arc::clone(&charge),
        );
        let meta = |name: &str| summary.meta_u64(name).unwrap_or_default();
        let marks = (meta(META_FLUSH_SEQNO), meta(META_PURGED_SEQNO));
        let background = config.warmup == Warmup::Background;
        let dir = config.dir.clone();
        let spawn_err = |source| Error::Io { path: dir.clone(), source };
        let core = Arc::new(Core::new(config, table, dirty, marks, Arc::from(reader)));
        let commit = Arc::new(CommitState::new(high, last_lsn, recovered.log.segments()));
        // The log is replayed: the engine holds every change, and the
        // seqnos skipped up to `high` hold none.
        let engine = Arc::new(EngineProgress::at(last_lsn, high, backend.stats()));
        let fetcher = Arc::new(Fetcher::new());
        let parts = Arc::new(Parts {
            core: Arc::clone(&core),
            commit: Arc::clone(&commit),
            engine: Arc::clone(&engine),
            cursors: Cursors::load(&summary.meta),
            warm: Arc::new(WarmState::new()),
            fetcher: Arc::clone(&fetcher),
            backend_name: backend.name(),
            threads: Threads::new(Arc::clone(&core), Arc::clone(&fetcher)),
        });
        let (to_applier, applier_rx) = std::sync::mpsc::sync_channel(APPLY_QUEUE);
        let progress = Arc::clone(&engine);
        let health = Arc::clone(&core.health);
        let applier = std::thread::Builder::new()
            .name("mammoth-applier".into())
            .spawn(move || applier_loop(&progress, &health, &charge, backend, &applier_rx))
            .map_err(spawn_err)?;
        *lock(&parts.threads.applier) = Some(applier);
        fetcher.start(&core).map_err(spawn_err)?;
        let (pager_core, pager_engine) = (Arc::clone(&core), Arc::clone(&engine));
        let stop = Arc::clone(&parts.threads.pager_stop);
        let pager = std::thread::Builder::new()
            .name("mammoth-pager".into())
            .spawn(move || pager_loop(&pager_core, &pager_engine, &stop))
            .map_err(spawn_err)?;
        *lock(&parts.threads.pager) = Some(pager);
        let log = recovered.log;
        let flusher = std::thread::Builder::new()
            .name("mammoth-flusher".into())
            .spawn(move || {
                flusher_loop(&core, &commit, &engine.checkpoint_lsn, log, &to_applier);
            })
            .map_err(spawn_err)?;
        *lock(&parts.threads.flusher) = Some(flusher);
        let store = Store { parts };
        if background {
            let core = Arc::clone(&store.parts.core);
            let warm = Arc::clone(&store.parts.warm);
            let thread = std::thread::Builder::new()
                .name("mammoth-warmup".into())
                .spawn(move || {
                    if let Err(e) = warm_up(&core, &warm) {
                        tracing::error!(
                            error = &e as &dyn std::error::Error,
                            "warmup failed; keys not loaded are read from the engine on demand"
                        );
                    }
                })
                .map_err(spawn_err)?;
            *lock(&store.parts.threads.warmup) = Some(thread);
        } else {
            warm_up(&store.parts.core, &store.parts.warm)?;
        }
        Ok(store)
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &Config {
        &self.parts.core.config
    }

    /// What loading the store found; waits for a background warmup to
    /// finish.
    pub fn warmup(&self) -> WarmupReport {
        let mut rx = self.parts.warm.subscribe();
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
        let mut rx = self.parts.warm.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// True while a background warmup is still loading items.
    pub fn is_warming(&self) -> bool {
        self.parts.core.is_warming()
    }

    /// Looks `key` up; an expired item is removed and reported as a miss.
    pub fn get(&self, key: &[u8]) -> Option<Hit> {
        inc(&self.parts.core.counters.cmd_get);
        let now = self.parts.core.now();
        let mut shard = self.parts.core.lock(key);
        let hit = self.parts.core.live(&mut shard, key, now).map(Hit::of);
        drop(shard);
        inc(if hit.is_some() {
            &self.parts.core.counters.get_hits
        } else {
            &self.parts.core.counters.get_misses
        });
        hit
    }

    /// Looks `key` up like [`Store::get`] but without counting a GET (for
    /// metadata requests such as the meta protocol's `me`).
    pub fn peek(&self, key: &[u8]) -> Option<Hit> {
        let now = self.parts.core.now();
        let mut shard = self.parts.core.lock(key);
        self.parts.core.live(&mut shard, key, now).map(Hit::of)
    }

    /// Whole seconds `hit` is sure to live at the store's clock: `-1` for an
    /// item that never expires, 0 once its time has come. (An item dies at
    /// the start of second `exptime`, so it has `exptime - now - 1` full
    /// seconds left; see [`Clock::absolute`](crate::Clock::absolute).)
    pub fn ttl(&self, hit: &Hit) -> i64 {
        if hit.exptime == 0 {
            -1
        } else {
            i64::from(
                hit.exptime.saturating_sub(self.parts.core.config.clock.now()).saturating_sub(1),
            )
        }
    }

    /// SET, ADD, REPLACE, APPEND or PREPEND, with an optional CAS check.
    ///
    /// Values shorter than [`COPY_BELOW`] are copied into an allocation of
    /// their own (as is the key): a slice of a connection's read buffer
    /// would keep the whole buffer alive. Longer values are kept as given,
    /// without a copy.
    ///
    /// # Errors
    ///
    /// [`OpError::Exists`] for an ADD of a live item or a stale CAS,
    /// [`OpError::NotFound`] for a REPLACE (or any CAS) of a missing item,
    /// [`OpError::NotStored`] for APPEND/PREPEND of a missing item,
    /// [`OpError::TooLarge`] when APPEND/PREPEND would pass the value limit,
    /// [`OpError::TempFail`] or [`OpError::OutOfMemory`] when the memory
    /// quota is full.
    pub fn write(&self, w: Write) -> Result<Mutation, OpError> {
        let Write { mode, key, value, flags, exptime, cas } = w;
        let core = &self.parts.core;
        let c = &core.counters;
        inc(&c.cmd_set);
        if key.len() > MAX_KEY_LEN {
            return Err(OpError::TooLarge);
        }
        core.admit()?;
        let now = core.now();
        let mut shard = core.lock(&key);
        // Only a plain SET can do without the old item; everything else
        // needs it, from the engine if the warmup has not loaded it yet.
        let blind = mode == StoreMode::Set && cas == 0;
        let existing =
            core.entry(&mut shard, &key, now, !blind).map(|slot| (slot.cas(), slot.is_ejected()));
        if cas != 0 {
            match existing {
                None => {
                    inc(&c.cas_misses);
                    return Err(OpError::NotFound);
                }
                Some((found, _)) if found != cas => {
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
            (StoreMode::Append | StoreMode::Prepend, Some(_)) => {
                let old = core.live(&mut shard, &key, now).ok_or(OpError::NotStored)?;
                let total = old.value.len() + value.len() as u64;
                if total > core.config.max_value_len as u64 {
                    return Err(OpError::TooLarge);
                }
                let joined = if total < COPY_BELOW as u64 {
                    // Small: one block of its own, pinning no read buffer.
                    let mut joined = Vec::with_capacity(total as usize);
                    if mode == StoreMode::Prepend {
                        joined.extend_from_slice(&value);
                    }
                    for chunk in old.value.chunks() {
                        joined.extend_from_slice(chunk);
                    }
                    if mode == StoreMode::Append {
                        joined.extend_from_slice(&value);
                    }
                    ExtentBuf::from(Bytes::from(joined))
                } else {
                    // The old value's blocks are shared, not copied: the
                    // new bytes become one more extent.
                    let mut joined = old.value.clone();
                    if mode == StoreMode::Append {
                        joined.append(own(value));
                    } else {
                        joined.prepend(own(value));
                    }
                    joined
                };
                Item { value: joined, flags: old.flags, exptime: old.exptime, cas: 0, seqno: 0 }
            }
            _ => Item {
                value: ExtentBuf::from(own(value)),
                flags,
                exptime: core.config.clock.absolute(exptime),
                cas: 0,
                seqno: 0,
            },
        };
        inc(&c.total_items);
        let mut new = new;
        let mutation = core.record(owned_key(&key), &mut new, true);
        core.put(&mut shard, &key, &new, false);
        Ok(mutation)
    }

    /// DELETE with an optional CAS check.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item, [`OpError::Exists`] for a
    /// stale CAS, [`OpError::Unwritable`] while writes cannot be made
    /// durable.
    pub fn delete(&self, key: &[u8], cas: u64) -> Result<Mutation, OpError> {
        let core = &self.parts.core;
        let c = &core.counters;
        core.admit_durable()?;
        let now = core.now();
        let mut shard = core.lock(key);
        let Some(slot) = core.entry(&mut shard, key, now, true) else {
            inc(&c.delete_misses);
            return Err(OpError::NotFound);
        };
        if cas != 0 && slot.cas() != cas {
            return Err(OpError::Exists);
        }
        if !core.remove(&mut shard, key) {
            return Err(OpError::NotFound);
        }
        inc(&c.delete_hits);
        Ok(core.record_delete(&mut shard, owned_key(key), now))
    }

    /// INCR or DECR. Returns the new counter value. A missing item is
    /// created as [`Counter::create`] says (the delta is not applied); a
    /// CAS is checked only against an existing item.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item without `create`,
    /// [`OpError::Exists`] for a stale CAS, [`OpError::BadDelta`] when the
    /// value is not a decimal number that fits in 64 bits,
    /// [`OpError::TempFail`] or [`OpError::OutOfMemory`] when the memory
    /// quota is full.
    pub fn arith(&self, counter: Counter) -> Result<(u64, Mutation), OpError> {
        let Counter { mode: op, key, delta, create, cas } = counter;
        let core = &self.parts.core;
        let c = &core.counters;
        let (hits, misses) = match op {
            Arith::Incr => (&c.incr_hits, &c.incr_misses),
            Arith::Decr => (&c.decr_hits, &c.decr_misses),
        };
        if key.len() > MAX_KEY_LEN {
            return Err(OpError::TooLarge);
        }
        core.admit()?;
        let now = core.now();
        let mut shard = core.lock(&key);
        if let Some(mut item) = core.live(&mut shard, &key, now) {
            if cas != 0 && item.cas != cas {
                return Err(OpError::Exists);
            }
            let current = parse_counter(&item.value.to_bytes()).ok_or(OpError::BadDelta)?;
            let next = op.apply(current, delta);
            inc(hits);
            item.value = ExtentBuf::from(next.to_string().into_bytes());
            let mutation = core.record(owned_key(&key), &mut item, true);
            core.put(&mut shard, &key, &item, false);
            Ok((next, mutation))
        } else {
            inc(misses);
            let Some(Create { initial, exptime }) = create else {
                return Err(OpError::NotFound);
            };
            let mut item = Item {
                value: ExtentBuf::from(initial.to_string().into_bytes()),
                flags: 0,
                exptime: core.config.clock.absolute(exptime),
                cas: 0,
                seqno: 0,
            };
            inc(&c.total_items);
            let mutation = core.record(owned_key(&key), &mut item, true);
            core.put(&mut shard, &key, &item, false);
            Ok((initial, mutation))
        }
    }

    /// TOUCH: sets a new expiration, keeps the CAS. Returns the item as GAT
    /// would.
    ///
    /// # Errors
    ///
    /// [`OpError::NotFound`] for a missing item, [`OpError::Unwritable`]
    /// while writes cannot be made durable.
    pub fn touch(&self, key: &[u8], exptime: u32) -> Result<(Hit, Mutation), OpError> {
        let core = &self.parts.core;
        let c = &core.counters;
        inc(&c.cmd_touch);
        core.admit_durable()?;
        let now = core.now();
        let mut shard = core.lock(key);
        // The new version goes to the engine whole: the value is needed.
        let Some(mut item) = core.live(&mut shard, key, now) else {
            inc(&c.touch_misses);
            return Err(OpError::NotFound);
        };
        inc(&c.touch_hits);
        item.exptime = core.config.clock.absolute(exptime);
        let hit = Hit::of(item.clone());
        let mutation = core.record(owned_key(key), &mut item, false);
        // A touch to a time already past kills the item now.
        if item.is_expired(now) {
            if core.remove(&mut shard, key) {
                let deleted = core.record_delete(&mut shard, owned_key(key), now);
                return Ok((hit, deleted));
            }
            return Ok((hit, mutation));
        }
        core.put(&mut shard, key, &item, false);
        Ok((hit, mutation))
    }

    /// When `key`'s value is ejected, starts reading it back from the
    /// engine on a fetch thread and returns the [`Fetch`] to await before
    /// running an operation that needs the value (GET, GAT, APPEND,
    /// INCR…); `None` when the value is in memory or there is no item.
    /// Concurrent fetches of one key share one read.
    pub fn fetch(&self, key: &[u8]) -> Option<Fetch> {
        self.parts.core.needs_fetch(key).then(|| self.parts.fetcher.request(key))
    }

    /// FLUSH: with `delay` 0 every item disappears now; otherwise at the
    /// time the delay names (relative or absolute, as for expirations).
    /// Returns the seqno to wait for.
    pub fn flush(&self, delay: u32) -> u64 {
        inc(&self.parts.core.counters.cmd_flush);
        if delay == 0 {
            self.parts.core.flush_at(0);
            return self.parts.core.clear_all();
        }
        let at = self.parts.core.config.clock.deadline(delay);
        self.parts.core.flush_at(at);
        let _ = self.parts.core.now();
        self.parts.core.high_seqno()
    }

    /// Removes every expired item from memory and queues its delete.
    /// Returns how many were purged (the flusher also does this periodically).
    pub fn purge_expired(&self) -> u64 {
        self.parts.core.purge_expired()
    }

    /// The persistence state right now.
    pub fn persisted(&self) -> PersistState {
        *self.parts.commit.persisted.borrow()
    }

    /// The highest seqno handed out so far.
    pub fn high_seqno(&self) -> u64 {
        self.parts.core.high_seqno()
    }

    /// `stats reset`: zeroes the request counters (hits, misses, commands,
    /// `total_items`); gauges and the engine's counters are left alone.
    pub fn reset_stats(&self) {
        self.parts.core.counters.reset_requests();
    }

    /// Why writes cannot be made durable now (the failing part and its
    /// error), or `None` when they can. While this is some, mutations are
    /// refused with [`OpError::Unwritable`]; it clears by itself once the
    /// commit log and the engine accept writes again.
    pub fn unwritable(&self) -> Option<String> {
        let health = &self.parts.core.health;
        if !health.failing() {
            return None;
        }
        Some(health.describe().map_or_else(|| "failing".to_owned(), |(what, _)| what))
    }

    /// How long writes have been failing (see [`Store::unwritable`]).
    pub fn unwritable_for(&self) -> Option<Duration> {
        let health = &self.parts.core.health;
        if !health.failing() {
            return None;
        }
        health.describe().map(|(_, since)| since)
    }

    /// Waits until every mutation up to `seqno` is durable.
    pub async fn wait_persisted(&self, seqno: u64) {
        if self.persisted().seqno >= seqno {
            return;
        }
        self.request_flush();
        let mut rx = self.parts.commit.persisted.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|state| state.seqno >= seqno).await;
    }

    /// Blocks until every mutation made so far is durable.
    pub fn sync(&self) {
        let target = self.high_seqno();
        self.request_flush();
        let mut rx = self.parts.commit.persisted.subscribe();
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
        if self.parts.core.config.durability == Durability::WriteBehind {
            self.parts.core.queue().hurry();
        }
    }

    /// True when writers should wait for the flusher before going on
    /// (the dirty set holds more than `max_dirty_bytes`).
    pub fn over_dirty_limit(&self) -> bool {
        self.parts.core.queue().lock().bytes > self.parts.core.config.max_dirty_bytes
    }

    /// Item and persistence statistics as memcached-style name/value pairs.
    pub fn stats(&self) -> Vec<(String, String)> {
        let p = &self.parts;
        crate::stats::render(&crate::stats::Sources {
            core: &p.core,
            commit: &p.commit,
            engine: &p.engine,
            warm: p.warm.report(),
            fetch: &p.fetcher.stats,
            backend: p.backend_name,
        })
    }

    /// Subscribes to the change feed (see [`crate::feed`]): from now on the
    /// store keeps recent changes in its ring until the subscription drops.
    pub fn subscribe(&self) -> Subscription {
        Subscription::new(Arc::clone(&self.parts.core), Arc::clone(&self.parts.engine))
    }

    /// A seqno such that every change made at or after Unix time `time` has
    /// a larger one (TAP's BACKFILL time). Conservative: a change made
    /// shortly before `time`, or before the store was opened, may be
    /// included; none made after is left out.
    pub fn seqno_since_time(&self, time: u64) -> u64 {
        let time = u32::try_from(time).unwrap_or(u32::MAX);
        lock(&self.parts.commit.time_index).since(time)
    }

    /// A receiver of the persistence state, for waiting on it without
    /// asking the flusher to hurry (as [`Store::wait_persisted`] does).
    pub fn persisted_watch(&self) -> watch::Receiver<PersistState> {
        self.parts.commit.persisted.subscribe()
    }

    /// The stored position of the named change-feed cursor.
    pub fn cursor(&self, name: &[u8]) -> Option<u64> {
        self.parts.cursors.get(name)
    }

    /// The filter text recorded with the named cursor by
    /// [`Store::set_cursor_with_filter`]; `None` when none was (no cursor,
    /// or one written before filters existed).
    pub fn cursor_filter(&self, name: &[u8]) -> Option<Bytes> {
        self.parts.cursors.filter(name)
    }

    /// Moves the named cursor to `seqno` and stores `filter` (any text;
    /// empty for none) with it, in the same group commit: the consumer's
    /// copy now holds what that filter selects up to `seqno`. Returns a
    /// seqno: both are durable once [`Store::wait_persisted`] of it returns.
    pub fn set_cursor_with_filter(&self, name: &[u8], seqno: u64, filter: &[u8]) -> u64 {
        self.parts.cursors.set_with_filter(&self.parts.core, name, seqno, filter)
    }

    /// Every named cursor and its position.
    pub fn cursors(&self) -> Vec<(Bytes, u64)> {
        self.parts.cursors.all()
    }

    /// Moves the named cursor to `seqno` (written with the next group
    /// commit, so it survives restarts).
    pub fn set_cursor(&self, name: &[u8], seqno: u64) {
        self.parts.cursors.set(&self.parts.core, name, seqno);
    }

    /// Number of live items in memory.
    pub fn len(&self) -> u64 {
        self.parts.core.items()
    }

    /// True when the store holds no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the flusher after a final commit of everything pending. Later
    /// mutations are kept in memory only. Idempotent.
    pub fn close(&self) {
        self.parts.threads.stop();
    }
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
