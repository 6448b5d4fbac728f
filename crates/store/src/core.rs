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
use crate::health::Health;
use crate::item::{Item, Record, Tombstone};
use crate::memory::{Eviction, ITEM_OVERHEAD, LARGE_OVERHEAD, TOMBSTONE_OVERHEAD};
use crate::stats::{Counters, add, inc};
use crate::store::{Mutation, OpError};
use crate::table::{LARGE, Meta, Old, Shard, Slot, Table, header_len};

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
    /// Bytes charged for items (keys, resident values, allocations).
    mem_bytes: AtomicU64,
    /// Bytes charged for tombstones.
    tomb_bytes: AtomicU64,
    /// Bytes of the hash tables as the pager last measured them.
    table_bytes: AtomicU64,
    /// Items whose value is ejected.
    non_resident: AtomicU64,
    /// Seqno of the last FLUSH (0: none since the store was created).
    flush_seqno: AtomicU64,
    /// Highest seqno of a tombstone dropped after its retention.
    purged_seqno: AtomicU64,
    /// True until every stored record is in the table: misses consult the
    /// engine.
    warming: AtomicBool,
    /// The engine's reader: the warmup scan, lookups of keys it has not
    /// loaded yet, and ejected values read back. Dropped when the store
    /// closes, so that the engine is released with the flusher.
    reader: RwLock<Option<Arc<dyn Reader>>>,
    /// Whether writes can be made durable (the flusher and the applier
    /// report; writes are refused while they fail).
    pub(crate) health: Arc<Health>,
}

/// What one [`Core::page`] step did.
#[derive(Default, Debug)]
pub(crate) struct Paged {
    /// Entries looked at.
    pub(crate) visited: usize,
    /// Values ejected.
    pub(crate) ejected: u64,
    /// Unused entries that could not be ejected (not in the engine yet).
    pub(crate) failed: u64,
    /// The step reached the end of the shard.
    pub(crate) wrapped: bool,
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
            tomb_bytes: AtomicU64::new(0),
            table_bytes: AtomicU64::new(0),
            non_resident: AtomicU64::new(0),
            flush_seqno: AtomicU64::new(marks.0),
            purged_seqno: AtomicU64::new(marks.1),
            warming: AtomicBool::new(true),
            reader: RwLock::new(Some(reader)),
            health: Arc::default(),
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

    /// The live entry under `key`, removing it (and recording the delete)
    /// if it has expired; with `read_through`, a key the warmup has not
    /// loaded yet is read from the engine (a plain SET does not need the
    /// old item: the loader will find the key newer in the table and skip
    /// it). The value may be ejected: see [`Core::live`].
    pub(crate) fn entry<'s>(
        &self,
        shard: &'s mut Shard,
        key: &[u8],
        now: u32,
        read_through: bool,
    ) -> Option<&'s mut Slot> {
        let expired = if let Some(slot) = shard.get(key) {
            slot.is_expired(now)
        } else {
            if !read_through {
                return None;
            }
            self.read_through(shard, key)?;
            shard.get(key).is_some_and(|s| s.is_expired(now))
        };
        if expired {
            if self.remove(shard, key) {
                inc(&self.counters.expired_items);
                inc(&self.counters.get_expired);
                self.record_delete(shard, Bytes::copy_from_slice(key), now);
            }
            return None;
        }
        let slot = shard.get_mut(key)?;
        slot.set_referenced(true);
        Some(slot)
    }

    /// A copy of the live item under `key`, its value read back from the
    /// engine on this thread if it was ejected (callers that must not
    /// block ask [`Core::needs_fetch`] first).
    pub(crate) fn live(&self, shard: &mut Shard, key: &[u8], now: u32) -> Option<Item> {
        if self.entry(shard, key, now, true)?.is_ejected() {
            inc(&self.counters.ep_bg_fetched_inline);
            self.reload(shard, key)?;
        }
        shard.get(key).map(|slot| shard.item(slot))
    }

    /// True when `key` holds a live item whose value is ejected.
    pub(crate) fn needs_fetch(&self, key: &[u8]) -> bool {
        // With every value in memory (no quota pressure) a GET takes its
        // shard lock once, not twice. A value ejected right after this
        // check is read on the caller's thread: correct, only slower.
        if self.non_resident.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let shard = self.lock(key);
        shard.get(key).is_some_and(Slot::is_ejected)
    }

    /// The item the engine holds under `key` (for a backfill of an ejected
    /// value); `None` when it holds none or cannot be read (logged).
    pub(crate) fn read_engine_item(&self, key: &[u8]) -> Option<Item> {
        match self.reader()?.get(key) {
            Ok(Some(Record::Item(item))) => Some(item),
            Ok(_) => None,
            Err(e) => {
                inc(&self.counters.engine_errors);
                tracing::error!(key = %crate::show_key(key), error = &e as &dyn std::error::Error, "reading an ejected value failed");
                None
            }
        }
    }

    /// Reads the ejected value of `key` from the engine while `shard` is
    /// locked and puts it back. `None` when the engine cannot give it.
    fn reload(&self, shard: &mut Shard, key: &[u8]) -> Option<()> {
        let reader = self.reader()?;
        let record = reader.get(key);
        self.install(shard, key, record).then_some(())
    }

    /// A fetch thread's read of `key`: the engine is read without the
    /// shard lock, and the value goes back only if the item is still the
    /// version the engine holds (a write meanwhile wins).
    pub(crate) fn fetch_value(&self, key: &[u8]) {
        if !self.needs_fetch(key) {
            return;
        }
        let Some(reader) = self.reader() else { return };
        let record = reader.get(key);
        let mut shard = self.lock(key);
        self.install(&mut shard, key, record);
    }

    /// Puts the value of an engine `record` back into the ejected entry
    /// of `key` if the seqnos match. True when the entry is resident after.
    fn install(
        &self,
        shard: &mut Shard,
        key: &[u8],
        record: Result<Option<Record>, crate::error::Error>,
    ) -> bool {
        let Some(slot) = shard.get(key) else { return false };
        if !slot.is_ejected() {
            return true;
        }
        let wanted = slot.seqno();
        match record {
            Ok(Some(Record::Item(item))) if item.seqno == wanted => {
                let old = shard.put(key, &item, false);
                debug_assert!(old.is_some_and(|o| o.ejected && o.resident == 0));
                self.charge_bytes(
                    Self::footprint(0, key.len(), item.value.len())
                        - Self::footprint(0, key.len(), 0),
                );
                self.non_resident.fetch_sub(1, Ordering::Relaxed);
                true
            }
            Ok(found) => {
                inc(&self.counters.engine_errors);
                let found = match found {
                    Some(Record::Item(item)) => format!("seqno {}", item.seqno),
                    Some(Record::Tombstone(t)) => format!("a tombstone (seqno {})", t.seqno),
                    None => "nothing".to_string(),
                };
                tracing::error!(
                    key = %crate::show_key(key),
                    wanted,
                    %found,
                    "an ejected value is not in the engine as it was ejected"
                );
                false
            }
            Err(e) => {
                inc(&self.counters.engine_errors);
                tracing::error!(key = %crate::show_key(key), error = &e as &dyn std::error::Error, "reading an ejected value failed");
                false
            }
        }
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
                self.put(shard, key, &item, false);
                Some(())
            }
            Ok(Some(Record::Tombstone(tomb))) => {
                self.put_tomb(shard, Bytes::copy_from_slice(key), tomb);
                None
            }
            Ok(None) => None,
            Err(e) => {
                inc(&self.counters.engine_errors);
                tracing::error!(key = %crate::show_key(key), error = &e as &dyn std::error::Error, "read-through during warmup failed");
                None
            }
        }
    }

    /// Puts a record the warmup read into the table unless the table
    /// already knows the key (mutated, read through or deleted meanwhile:
    /// the table's version is newer). Past the low watermark the value is
    /// left in the engine. `None` when a FLUSH ended the warmup.
    pub(crate) fn load(&self, key: Bytes, record: Record, now: u32) -> Option<Loaded> {
        let mut shard = self.lock(&key);
        // A FLUSH during the warmup ends it (`warming` is cleared with
        // every shard locked): nothing left in the engine's old contents
        // is wanted.
        if !self.is_warming() {
            return None;
        }
        if shard.get(&key).is_some() || shard.tombs.contains_key(&key) {
            return Some(Loaded::Known);
        }
        let budget = &self.config.memory;
        Some(match record {
            Record::Item(item) if item.is_expired(now) => {
                self.record_delete(&mut shard, key, now);
                Loaded::Expired
            }
            Record::Item(item) => {
                let full =
                    budget.eviction() == Eviction::Value && budget.used() > budget.low_watermark();
                self.put(&mut shard, &key, &item, full);
                Loaded::Item
            }
            Record::Tombstone(tomb) => {
                self.put_tomb(&mut shard, key, tomb);
                Loaded::Tombstone
            }
        })
    }

    fn charge_bytes(&self, bytes: u64) {
        self.mem_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.config.memory.charge(bytes);
    }

    fn release_bytes(&self, bytes: u64) {
        self.mem_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.config.memory.release(bytes);
    }

    /// Bytes an item is charged: key and resident value, the slot's
    /// header of `header` bytes and its allocation, and a large value's
    /// side-map entry.
    fn footprint(header: u64, key_len: usize, resident: u64) -> u64 {
        let side = if resident >= LARGE { key_len as u64 + LARGE_OVERHEAD } else { 0 };
        header + key_len as u64 + resident + ITEM_OVERHEAD + side
    }

    /// Stores `item` under `key` (dropping the key's tombstone), its value
    /// in memory unless `ejected`, keeping the counters.
    pub(crate) fn put(&self, shard: &mut Shard, key: &[u8], item: &Item, ejected: bool) {
        if shard.tombs.remove(key).is_some() {
            self.release_tomb_bytes(key.len());
        }
        let header = header_len(Meta::of(item), key.len()) as u64;
        let resident = if ejected { 0 } else { item.value.len() };
        self.charge_bytes(Self::footprint(header, key.len(), resident));
        if ejected {
            self.non_resident.fetch_add(1, Ordering::Relaxed);
        }
        match shard.put(key, item, ejected) {
            Some(old) => self.uncount(key.len(), old),
            None => {
                self.curr_items.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Removes the item under `key`, keeping the counters; true when there
    /// was one.
    pub(crate) fn remove(&self, shard: &mut Shard, key: &[u8]) -> bool {
        let Some(old) = shard.remove(key) else { return false };
        self.uncount(key.len(), old);
        self.curr_items.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Takes a replaced or removed item out of the byte and residency counters.
    fn uncount(&self, key_len: usize, old: Old) {
        self.release_bytes(Self::footprint(old.header, key_len, old.resident));
        if old.ejected {
            self.non_resident.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn put_tomb(&self, shard: &mut Shard, key: Bytes, tomb: Tombstone) {
        let key_len = key.len();
        if shard.tombs.insert(key, tomb).is_none() {
            self.tomb_bytes.fetch_add(key_len as u64 + TOMBSTONE_OVERHEAD, Ordering::Relaxed);
            self.config.memory.charge(key_len as u64 + TOMBSTONE_OVERHEAD);
        }
    }

    fn release_tomb_bytes(&self, key_len: usize) {
        self.tomb_bytes.fetch_sub(key_len as u64 + TOMBSTONE_OVERHEAD, Ordering::Relaxed);
        self.config.memory.release(key_len as u64 + TOMBSTONE_OVERHEAD);
    }

    /// Fails a write that would add memory when the quota is full.
    pub(crate) fn admit(&self) -> Result<(), OpError> {
        self.admit_durable()?;
        let budget = &self.config.memory;
        if !budget.full() {
            return Ok(());
        }
        inc(&self.counters.ep_tmp_oom_errors);
        Err(match budget.eviction() {
            Eviction::Value => OpError::TempFail,
            Eviction::None => OpError::OutOfMemory,
        })
    }

    /// Refuses a mutation while writes cannot be made durable (a full disk):
    /// at once, rather than after a commit that cannot happen.
    pub(crate) fn admit_durable(&self) -> Result<(), OpError> {
        if self.health.failing() {
            self.health.refused.fetch_add(1, Ordering::Relaxed);
            return Err(OpError::Unwritable);
        }
        Ok(())
    }

    /// Items whose value is not in memory.
    pub(crate) fn non_resident(&self) -> u64 {
        self.non_resident.load(Ordering::Relaxed)
    }

    /// Bytes charged for tombstones.
    pub(crate) fn tomb_bytes(&self) -> u64 {
        self.tomb_bytes.load(Ordering::Relaxed)
    }

    /// One pager step over shard `index`: clears the reference bit of
    /// recently used entries and ejects the values of the others that are
    /// clean (their version is in the engine: seqno up to `applied`),
    /// stopping once the budget is at `target`. Holds the shard lock for
    /// at most `max_visits` entries.
    pub(crate) fn page(&self, index: usize, applied: u64, target: u64, max_visits: usize) -> Paged {
        let mut out = Paged::default();
        let mut guard = self.lock_shard(index);
        let shard = &mut *guard;
        let skip = shard.page_cursor;
        let mut visited = 0;
        for slot in shard.items.iter_mut().skip(skip).take(max_visits) {
            visited += 1;
            if slot.is_ejected() {
                continue;
            }
            if slot.is_referenced() {
                slot.set_referenced(false);
                continue;
            }
            if slot.seqno() > applied {
                out.failed += 1;
                continue;
            }
            let key_len = slot.key().len();
            let freed = Shard::eject(&mut shard.large, slot);
            self.release_bytes(Self::footprint(0, key_len, freed) - Self::footprint(0, key_len, 0));
            self.non_resident.fetch_add(1, Ordering::Relaxed);
            out.ejected += 1;
            if out.ejected % 32 == 0 && self.config.memory.pressure() <= target {
                break;
            }
        }
        out.visited = visited;
        shard.page_cursor = if visited < max_visits { 0 } else { skip + visited };
        out.wrapped = shard.page_cursor == 0;
        out
    }

    /// Measures the hash tables' bytes (the pager calls this each tick);
    /// returns them.
    pub(crate) fn measure_tables(&self) -> u64 {
        let bytes: u64 = (0..self.shard_count()).map(|i| self.lock_shard(i).table_bytes()).sum();
        let old = self.table_bytes.swap(bytes, Ordering::Relaxed);
        self.config.memory.tables_resized(old, bytes);
        bytes
    }

    /// Bytes of the hash tables as last measured.
    pub(crate) fn table_bytes(&self) -> u64 {
        self.table_bytes.load(Ordering::Relaxed)
    }

    /// Gives back everything this store charged to the shared budget (the
    /// store closes).
    pub(crate) fn release_budget(&self) {
        let items = self.mem_bytes.swap(0, Ordering::Relaxed);
        let tombs = self.tomb_bytes.swap(0, Ordering::Relaxed);
        self.config.memory.release(items + tombs);
        let tables = self.table_bytes.swap(0, Ordering::Relaxed);
        self.config.memory.tables_resized(tables, 0);
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
        self.put_tomb(shard, key, tomb);
        Mutation { cas: 0, seqno: tomb.seqno }
    }

    /// Queues a metadata value for the next batch.
    /// [`Core::set_meta`] under a seqno of its own (one with no change):
    /// the values are durable once that seqno is.
    pub(crate) fn set_meta_at_seqno(&self, values: Vec<(String, Bytes)>) -> u64 {
        self.queue.change(|dirty| {
            let seqno = dirty.next_seqno();
            for (name, value) in values {
                dirty.set_meta(name, value);
            }
            seqno
        })
    }

    pub(crate) fn set_meta(&self, values: Vec<(String, Bytes)>) {
        self.queue.change(|dirty| {
            for (name, value) in values {
                dirty.set_meta(name, value);
            }
        });
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
        dirty.set_meta(META_FLUSH_SEQNO.to_string(), crate::backend::meta_u64(seqno));
        self.flush_seqno.store(seqno, Ordering::Release);
        drop(dirty);
        for shard in &mut shards {
            shard.clear_items();
            shard.tombs.clear();
        }
        self.curr_items.store(0, Ordering::Relaxed);
        self.non_resident.store(0, Ordering::Relaxed);
        let items = self.mem_bytes.swap(0, Ordering::Relaxed);
        let tombs = self.tomb_bytes.swap(0, Ordering::Relaxed);
        self.config.memory.release(items + tombs);
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
                .items
                .iter()
                .filter(|slot| slot.is_expired(now))
                .map(|slot| Bytes::copy_from_slice(slot.key()))
                .collect();
            for key in dead {
                if self.remove(&mut shard, &key) {
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
                    if shard.tombs.remove(&key).is_some() {
                        self.release_tomb_bytes(key.len());
                    }
                    purged_seqno = purged_seqno.max(seqno);
                    dirty.purge(key);
                }
                // The mark goes into the same batch as the removals.
                let marked =
                    self.purged_seqno.fetch_max(purged_seqno, Ordering::AcqRel).max(purged_seqno);
                dirty.set_meta(META_PURGED_SEQNO.to_string(), crate::backend::meta_u64(marked));
                drop(dirty);
                self.queue.notify();
            }
        }
        add(&self.counters.expired_items, purged);
        purged
    }
}
