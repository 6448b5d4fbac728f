//! The in-memory item table: a fixed number of mutex-protected hash maps.
//!
//! Every item's key and metadata are here, and its value unless the pager
//! ejected it (then the engine is read for it). A shard lock is held only
//! for the few hundred nanoseconds an operation needs, and across I/O only
//! on the slow path that reads an ejected value on the caller's thread.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::item::{Item, Tombstone};

/// The hasher of every key map in the store: foldhash, seeded per map at
/// random. `SipHash` cost as much as the rest of a SET; foldhash is a few
/// nanoseconds for a memcached key, and the random seed keeps chosen keys
/// from colliding on purpose.
pub(crate) type KeyHasher = foldhash::fast::RandomState;

/// Number of shards: enough that two cores (or sixteen) rarely collide.
const SHARDS: usize = 64;

/// One item in the table: the item, with its value unless ejected, and the
/// pager's reference bit.
pub(crate) struct Entry {
    /// The item. While `ejected`, its value is empty and the engine holds
    /// the real one (the version with this seqno).
    pub(crate) item: Item,
    /// The value was dropped from memory.
    pub(crate) ejected: bool,
    /// Used since the pager last passed (CLOCK's reference bit).
    pub(crate) referenced: bool,
}

impl Entry {
    pub(crate) fn new(item: Item) -> Entry {
        Entry { item, ejected: false, referenced: true }
    }

    /// An entry whose value is in the engine only.
    pub(crate) fn ejected(mut item: Item) -> Entry {
        item.value = crate::item::Value::new();
        Entry { item, ejected: true, referenced: false }
    }
}

/// Bytes one bucket of the item map takes (the entry and its control byte).
pub(crate) const ITEM_BUCKET: u64 = (size_of::<(Bytes, Entry)>() + 1) as u64;
/// Bytes one bucket of the tombstone map takes.
pub(crate) const TOMB_BUCKET: u64 = (size_of::<(Bytes, Tombstone)>() + 1) as u64;

/// One shard: live items, plus the tombstones of deleted keys (kept for the
/// change feed's retention window). A key is in at most one of the two.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) items: HashMap<Bytes, Entry, KeyHasher>,
    pub(crate) tombs: HashMap<Bytes, Tombstone, KeyHasher>,
    /// Where the pager's next step in this shard starts (entries to skip).
    pub(crate) page_cursor: usize,
}

impl Shard {
    /// Bytes of the shard's hash tables (buckets, spare ones included).
    pub(crate) fn table_bytes(&self) -> u64 {
        self.items.capacity() as u64 * ITEM_BUCKET + self.tombs.capacity() as u64 * TOMB_BUCKET
    }
}

pub(crate) struct Table {
    shards: Box<[Mutex<Shard>]>,
    hasher: KeyHasher,
}

impl Table {
    /// A table sized for about `items` items (no rehashing while loading).
    pub(crate) fn with_capacity(items: u64) -> Self {
        let per_shard = usize::try_from(items / SHARDS as u64).unwrap_or(0);
        Table {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        items: HashMap::with_capacity_and_hasher(per_shard, KeyHasher::default()),
                        tombs: HashMap::default(),
                        page_cursor: 0,
                    })
                })
                .collect(),
            hasher: KeyHasher::default(),
        }
    }

    /// Locks the shard that holds `key`.
    pub(crate) fn lock(&self, key: &[u8]) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) as usize) % self.shards.len();
        lock(&self.shards[index])
    }

    /// Locks shard `index` (for scans).
    pub(crate) fn lock_shard(&self, index: usize) -> MutexGuard<'_, Shard> {
        lock(&self.shards[index])
    }

    pub(crate) fn shard_count(&self) -> usize {
        self.shards.len()
    }
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// leaves its data consistent before anything that could panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
