//! The item core: the table, the dirty set with its seqno allocator, and
//! the few steps every memcached command is made of — find the live item,
//! record a new version, record a delete, clear everything, purge what
//! expired — each keeping the table, the dirty set and the counters in
//! step.
//!
//! Lock order: a shard lock, then the dirty set's. A mutation holds its
//! key's shard lock while it takes a seqno and records the change, so the
//! table and the dirty set see every key's versions in the same order.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard, PoisonError, RwLock};

use bytes::Bytes;

use crate::backend::Reader;
use crate::config::Config;
use crate::dirty::{Dirty, Queue, Version};
use crate::item::{Item, Record, Tombstone};
use crate::stats::{Counters, add, inc};
use crate::store::Mutation;
use crate::table::{Shard, Table};

/// Metadata name of the seqno of the last FLUSH.
pub(crate) const META_FLUSH_SEQNO: &str = "flush_seqno";
/// Metadata name of the highest seqno of a purged tombstone.
pub(crate) const META_PURGED_SEQNO: &str = "purged_seqno";

/// The item core of one store.
pub(crate) struct Core {
    pub(crate) config: Config,
    table: Table,
    queue: Queue,
    pub(crate) counters: Counters,
    /// Delayed FLUSH deadline (Unix seconds), 0 when none is pending.
    flush_at: AtomicU32,
    curr_items: AtomicU64,
    mem_bytes: AtomicU64,
    /// Seqno of the last FLUSH (0: none since the store was created).
    flush_seqno: AtomicU64,
    /// Highest seqno of a tombstone dropped after its retention.
    purged_seqno: AtomicU64,
    /// True until every stored record is in the table: misses consult the
    /// engine.
    warming: AtomicBool,
    /// The engine's reader: the warmup scan, and lookups of keys it has
    /// not loaded yet. Dropped when the warmup is done (or the store
    /// closes), so that the engine is released with the flusher.
    reader: RwLock<Option<Arc<dyn Reader>>>,
}

/// What [`Core::load`] did with a record from the engine.
pub(crate) enum Loaded {
    /// The table already knew the key (a newer version): skipped.
    Known,
    /// A live item, now in the table.
    Item,
    /// An item that had expired: dropped, its delete recorded.
    Expired,
    /// A tombstone, now in the table.
    Tombstone,
}

impl Core {
    pub(crate) fn new(
        config: Config,
        table: Table,
        dirty: Dirty,
        marks: (u64, u64),
        reader: Arc<dyn Reader>,
    ) -> Core {
        Core {
            config,
            table,
            queue: Queue::new(dirty),
            counters: Counters::default(),
            flush_at: AtomicU32::new(0),
            curr_items: AtomicU64::new(0),
            mem_bytes: AtomicU64::new(0),
            flush_seqno: AtomicU64::new(marks.0),
            purged_seqno: AtomicU64::new(marks.1),
            warming: AtomicBool::new(true),
            reader: RwLock::new(Some(reader)),
        }
    }

    /// The dirty set and the flusher's wake-up.
    pub(crate) fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Locks the shard that holds `key`.
    pub(crate) fn lock(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        self.table.lock(key)
    }

    /// Locks shard `index` (for scans).
    pub(crate) fn lock_shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.table.lock_shard(index)
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.table.shard_count()
    }

    /// The highest seqno handed out so far.
    pub(crate) fn high_seqno(&self) -> u64 {
        self.queue.lock().high_seqno
    }

    /// (seqno of the last FLUSH, highest seqno of a purged tombstone).
    pub(crate) fn feed_marks(&self) -> (u64, u64) {
        (self.flush_seqno.load(Ordering::Acquire), self.purged_seqno.load(Ordering::Acquire))
    }

    /// Live items in memory.
    pub(crate) fn items(&self) -> u64 {
        self.curr_items.load(Ordering::Relaxed)
    }

    /// Bytes the items account for.
    pub(crate) fn bytes(&self) -> u64 {
        self.mem_bytes.load(Ordering::Relaxed)
    }

    /// True while the warmup is still loading records.
    pub(crate) fn is_warming(&self) -> bool {
        self.warming.load(Ordering::Acquire)
    }

    /// The engine's reader while there is one.
    pub(crate) fn reader(&self) -> Option<Arc<dyn Reader>> {
        self.reader.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Ends read-through: the warmup is done (or the store closes).
    pub(crate) fn drop_reader(&self) {
        *self.reader.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Marks the warmup done: misses no longer consult the engine.
    pub(crate) fn warmed(&self) {
        self.warming.store(false, Ordering::Release);
        self.drop_reader();
    }

    /// The store's clock, running a delayed FLUSH whose time has come.
    pub(crate) fn now(&self) -> u32 {
        let now = self.config.clock.now();
        let at = self.flush_at.load(Ordering::Acquire);
        if at != 0 && now >= at && self.flush_at.swap(0, Ordering::AcqRel) == at {
            self.clear_all();
        }
        now
    }

    /// Schedules a FLUSH at Unix time `at` (0: cancels a pending one).
    pub(crate) fn flush_at(&self, at: u32) {
        self.flush_at.store(at, Ordering::Release);
    }

    /// The live item under `key`, removing it (and recording the delete) if
    /// it has expired.
    pub(crate) fn live<'s>(
        &self,
        shard: &'s mut Shard,
        key: &[u8],
        now: u32,
    ) -> Option<&'s mut Item> {
        self.live_or_read(shard, key, now, true)
    }

    /// [`Core::live`], reading a key the warmup has not loaded yet from the
    /// engine only with `read_through` (a plain SET does not need the old
    /// item: the loader will find the key newer in the table and skip it).
    pub(crate) fn live_or_read<'s>(
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
                self.release(&key, &item);
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
        if !self.is_warming() || shard.tombs.contains_key(key) {
            return None;
        }
        // The shard lock is held: nothing newer than the engine's version
        // can appear for this key meanwhile (the flusher only writes
        // versions that are newer in the table).
        let reader = self.reader()?;
        match reader.get(key) {
            Ok(Some(Record::Item(item))) => {
                let key = Bytes::copy_from_slice(key);
                self.charge(&key, &item);
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

    /// Puts a record the warmup read into the table unless the table
    /// already knows the key (mutated, read through or deleted meanwhile:
    /// the table's version is newer). `None` when a FLUSH ended the warmup.
    pub(crate) fn load(&self, key: Bytes, record: Record, now: u32) -> Option<Loaded> {
        let mut shard = self.lock(&key);
        // A FLUSH during the warmup ends it (`warming` is cleared with
        // every shard locked): nothing left in the engine's old contents
        // is wanted.
        if !self.is_warming() {
            return None;
        }
        if shard.items.contains_key(&key) || shard.tombs.contains_key(&key) {
            return Some(Loaded::Known);
        }
        Some(match record {
            Record::Item(item) if item.is_expired(now) => {
                self.record_delete(&mut shard, key, now);
                Loaded::Expired
            }
            Record::Item(item) => {
                self.charge(&key, &item);
                shard.items.insert(key, item);
                Loaded::Item
            }
            Record::Tombstone(tomb) => {
                shard.tombs.insert(key, tomb);
                Loaded::Tombstone
            }
        })
    }

    /// Counts `item` under `key` into the item and byte counters.
    pub(crate) fn charge(&self, key: &[u8], item: &Item) {
        self.curr_items.fetch_add(1, Ordering::Relaxed);
        self.mem_bytes.fetch_add(item.footprint(key), Ordering::Relaxed);
    }

    /// Counts `item` under `key` out of the item and byte counters.
    pub(crate) fn release(&self, key: &[u8], item: &Item) {
        self.release_len(key.len(), item);
    }

    pub(crate) fn release_len(&self, key_len: usize, item: &Item) {
        self.curr_items.fetch_sub(1, Ordering::Relaxed);
        self.mem_bytes.fetch_sub(item.footprint_len(key_len), Ordering::Relaxed);
    }

    /// Adjusts the byte counter for a value that changed size in place.
    pub(crate) fn resized(&self, old_len: u64, new_len: u64) {
        if new_len >= old_len {
            self.mem_bytes.fetch_add(new_len - old_len, Ordering::Relaxed);
        } else {
            self.mem_bytes.fetch_sub(old_len - new_len, Ordering::Relaxed);
        }
    }

    /// Records `item` under `key` in the dirty set with a new seqno; the
    /// caller holds the key's shard lock, which keeps the table and the
    /// dirty set in the same order for that key.
    pub(crate) fn record(&self, key: Bytes, item: &mut Item, new_cas: bool) -> Mutation {
        self.queue.change(|dirty| {
            let seqno = dirty.next_seqno();
            item.seqno = seqno;
            if new_cas {
                item.cas = seqno;
            }
            dirty.record(key, Version::Put(item.clone()));
            Mutation { cas: item.cas, seqno }
        })
    }

    /// Records the delete of `key` (already removed from `shard`'s items):
    /// a tombstone in the shard and in the dirty set.
    pub(crate) fn record_delete(&self, shard: &mut Shard, key: Bytes, now: u32) -> Mutation {
        let tomb = self.queue.change(|dirty| {
            let seqno = dirty.next_seqno();
            let tomb = Tombstone { seqno, deleted_at: now };
            dirty.record(key.clone(), Version::Tomb(tomb));
            tomb
        });
        shard.tombs.insert(key, tomb);
        Mutation { cas: 0, seqno: tomb.seqno }
    }

    /// Queues a metadata value for the next batch.
    pub(crate) fn set_meta(&self, name: String, value: u64) {
        self.queue.change(|dirty| dirty.set_meta(name, value));
    }

    /// FLUSH now: every item and tombstone goes, in memory and (with the
    /// next batch) in the engine. Returns the clear's seqno.
    pub(crate) fn clear_all(&self) -> u64 {
        // Hold every shard so no mutation slips between the clear in memory
        // and the clear marker in the dirty set.
        let mut shards: Vec<_> = (0..self.shard_count()).map(|i| self.lock_shard(i)).collect();
        // Older records in the engine are gone now: stop loading them.
        self.warming.store(false, Ordering::Release);
        let mut dirty = self.queue.lock();
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
        self.queue.notify();
        seqno
    }

    /// Removes every expired item from memory and queues its delete, and
    /// drops tombstones past their retention. Returns how many items were
    /// purged.
    pub(crate) fn purge_expired(&self) -> u64 {
        if self.is_warming() {
            // Removing a tombstone now could let the warmup load the item
            // it shadows.
            return 0;
        }
        let now = self.now();
        let retention =
            u32::try_from(self.config.tombstone_retention.as_secs()).unwrap_or(u32::MAX);
        let mut purged = 0;
        let mut purged_seqno = 0;
        for i in 0..self.shard_count() {
            let mut shard = self.lock_shard(i);
            let dead: Vec<Bytes> = shard
                .iter()
                .filter(|(_, item)| item.is_expired(now))
                .map(|(k, _)| k.clone())
                .collect();
            for key in dead {
                if let Some((key, item)) = shard.remove_entry(&key) {
                    self.release(&key, &item);
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
                let mut dirty = self.queue.lock();
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
                self.queue.notify();
            }
        }
        add(&self.counters.expired_items, purged);
        purged
    }
}
