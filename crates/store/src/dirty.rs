//! The dirty set: every key changed since the last group commit, each with
//! only its latest version (per-key write coalescing), plus the sequence
//! number allocator and, while change-feed readers are subscribed, the
//! recent-change ring they read from.
//!
//! Sequence numbers are handed out under the same lock that records the
//! change, so when the flusher cuts a batch every seqno up to the cut is in
//! that batch or an earlier one: "persisted up to N" is exact. The ring is
//! filled under the same lock, so it is in seqno order.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::backend::Batch;
use crate::feed::{Change, ChangeKind};
use crate::item::{Item, Tombstone};
use crate::ring::Ring;
use crate::table::{KeyHasher, lock};

/// Bookkeeping bytes counted per dirty entry beyond its key and value: the
/// key's and the item's handles in a hash map at its usual load, and the
/// key's allocation. The same change later takes about as much in the
/// batch and in the applier's merge.
pub(crate) const ENTRY_OVERHEAD: u64 = 160;

/// The latest version of a dirty key.
pub(crate) enum Version {
    /// The item as it is now.
    Put(Item),
    /// Deleted: the tombstone replaces the item.
    Tomb(Tombstone),
    /// A tombstone past its retention: remove the record outright.
    Purge,
}

impl Version {
    fn value_len(&self) -> u64 {
        match self {
            Version::Put(item) => item.value.len(),
            Version::Tomb(_) | Version::Purge => 0,
        }
    }
}

#[derive(Default)]
pub(crate) struct Dirty {
    /// The last seqno handed out.
    pub(crate) high_seqno: u64,
    /// Latest version per key.
    entries: HashMap<Bytes, Version, KeyHasher>,
    /// A FLUSH happened before every entry now in `entries`.
    clear: bool,
    /// Metadata to write with the next batch.
    meta: HashMap<String, Bytes>,
    /// Approximate bytes held by `entries`.
    pub(crate) bytes: u64,
    /// When the oldest change in this set was made.
    pub(crate) oldest: Option<Instant>,
    /// Client mutations recorded since the store opened.
    pub(crate) mutations: u64,
    /// Recent changes for change-feed readers.
    pub(crate) ring: Ring,
    /// `bytes`, and the batches cut from them until the applier has
    /// written them, charged to the memory quota.
    pub(crate) charge: std::sync::Arc<crate::memory::QueueCharge>,
}

impl Dirty {
    pub(crate) fn new(
        high_seqno: u64,
        ring: Ring,
        charge: std::sync::Arc<crate::memory::QueueCharge>,
    ) -> Self {
        Dirty { high_seqno, ring, charge, ..Dirty::default() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && !self.clear && self.meta.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Hands out the next seqno.
    pub(crate) fn next_seqno(&mut self) -> u64 {
        self.high_seqno += 1;
        self.high_seqno
    }

    /// Records the latest version of `key` (a put or a tombstone) under the
    /// seqno just handed out.
    pub(crate) fn record(&mut self, key: Bytes, version: Version) {
        if self.ring.active() {
            let kind = match &version {
                Version::Put(item) => Some(ChangeKind::Mutation(item.clone())),
                Version::Tomb(_) => Some(ChangeKind::Delete),
                Version::Purge => None,
            };
            if let Some(kind) = kind {
                self.ring.push(Change { seqno: self.high_seqno, key: key.clone(), kind });
            }
        }
        self.mutations += 1;
        self.insert(key, version);
    }

    /// Queues the removal of an expired tombstone (not a change anyone sees).
    pub(crate) fn purge(&mut self, key: Bytes) {
        self.insert(key, Version::Purge);
    }

    fn insert(&mut self, key: Bytes, version: Version) {
        let key_len = key.len() as u64;
        let add = key_len + version.value_len() + ENTRY_OVERHEAD;
        let replaced = self.entries.insert(key, version);
        let sub = replaced.map_or(0, |old| key_len + old.value_len() + ENTRY_OVERHEAD);
        self.bytes = (self.bytes + add).saturating_sub(sub);
        self.charge.charge(add);
        self.charge.release(sub);
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Records a FLUSH under the seqno just handed out: everything pending
    /// is superseded by the clear.
    pub(crate) fn record_clear(&mut self) {
        if self.ring.active() {
            self.ring.push(Change {
                seqno: self.high_seqno,
                key: Bytes::new(),
                kind: ChangeKind::Flush,
            });
        }
        self.entries.clear();
        self.clear = true;
        self.charge.release(self.bytes);
        self.bytes = 0;
        self.mutations += 1;
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Queues a metadata value for the next batch.
    pub(crate) fn set_meta(&mut self, name: String, value: Bytes) {
        self.meta.insert(name, value);
        self.oldest.get_or_insert_with(Instant::now);
    }

    /// Cuts a batch of everything recorded so far; also returns the bytes
    /// charged for it, which the applier releases once the engine has it.
    pub(crate) fn take_batch(&mut self) -> (Batch, u64) {
        let mut batch = Batch {
            clear: std::mem::take(&mut self.clear),
            high_seqno: self.high_seqno,
            meta: self.meta.drain().collect(),
            ..Batch::default()
        };
        for (key, version) in self.entries.drain() {
            match version {
                Version::Put(item) => batch.puts.push((key, item)),
                Version::Tomb(tomb) => batch.tombstones.push((key, tomb)),
                Version::Purge => batch.deletes.push(key),
            }
        }
        // A bulk load's peak must not stay allocated (outside the quota).
        self.entries.shrink_to(4096);
        let charged = std::mem::take(&mut self.bytes);
        self.oldest = None;
        (batch, charged)
    }
}

/// The dirty set behind its lock, with the flusher's wake-up: writers
/// record changes, the flusher waits for them and cuts batches.
pub(crate) struct Queue {
    dirty: Mutex<Dirty>,
    /// Signals the flusher that `dirty` has work (or that it should stop).
    wake: Condvar,
    /// Set (under the lock) when the store closes.
    stopping: AtomicBool,
    /// Someone waits for persistence: commit now, even in write-behind mode.
    urgent: AtomicBool,
}

impl Queue {
    pub(crate) fn new(dirty: Dirty) -> Queue {
        Queue {
            dirty: Mutex::new(dirty),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            urgent: AtomicBool::new(false),
        }
    }

    /// The dirty set, locked. Lock order: a shard lock first, then this.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Dirty> {
        lock(&self.dirty)
    }

    /// Runs `f` on the dirty set and wakes the flusher if the set was empty.
    /// The flusher sleeps only while the set is empty, so only the change
    /// that makes it non-empty needs to wake it (a futex syscall per
    /// mutation otherwise).
    pub(crate) fn change<R>(&self, f: impl FnOnce(&mut Dirty) -> R) -> R {
        let mut dirty = self.lock();
        let was_empty = dirty.is_empty();
        let result = f(&mut dirty);
        drop(dirty);
        if was_empty {
            self.wake.notify_one();
        }
        result
    }

    /// Wakes the flusher whatever the set holds.
    pub(crate) fn notify(&self) {
        self.wake.notify_one();
    }

    /// Asks the flusher to commit now rather than after its interval.
    pub(crate) fn hurry(&self) {
        self.urgent.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Takes the "commit now" request, if any.
    pub(crate) fn take_urgent(&self) -> bool {
        self.urgent.swap(false, Ordering::AcqRel)
    }

    /// Tells the flusher to make its final commit and end.
    pub(crate) fn stop(&self) {
        {
            // Under the lock, so the flusher cannot miss the wake-up
            // between its check and its wait.
            let _dirty = self.lock();
            self.stopping.store(true, Ordering::Release);
        }
        self.wake.notify_all();
    }

    /// True once [`Queue::stop`] was called (read it under the lock to
    /// pair with a wait).
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Waits on the flusher's wake-up for at most `timeout`.
    pub(crate) fn wait<'a>(
        &self,
        dirty: MutexGuard<'a, Dirty>,
        timeout: Duration,
    ) -> MutexGuard<'a, Dirty> {
        self.wake.wait_timeout(dirty, timeout).unwrap_or_else(std::sync::PoisonError::into_inner).0
    }
}
