//! The in-memory item table: a fixed number of mutex-protected hash maps.
//!
//! Every read is served from here (the ep-engine model); the engine behind
//! the flusher is only read at start-up. A shard lock is held only for the
//! few hundred nanoseconds an operation needs and never across I/O.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::item::{Item, Tombstone};

/// Number of shards: enough that two cores (or sixteen) rarely collide.
const SHARDS: usize = 64;

/// One shard: live items, plus the tombstones of deleted keys (kept for the
/// change feed's retention window). A key is in at most one of the two.
/// Dereferences to the item map, so item code reads like a plain map.
#[derive(Default)]
pub(crate) struct Shard {
    pub(crate) items: HashMap<Bytes, Item>,
    pub(crate) tombs: HashMap<Bytes, Tombstone>,
}

impl Shard {
    /// Inserts a live item, dropping the key's tombstone if it had one.
    pub(crate) fn put(&mut self, key: Bytes, item: Item) -> Option<Item> {
        if !self.tombs.is_empty() {
            self.tombs.remove(&key);
        }
        self.items.insert(key, item)
    }
}

impl std::ops::Deref for Shard {
    type Target = HashMap<Bytes, Item>;
    fn deref(&self) -> &Self::Target {
        &self.items
    }
}

impl std::ops::DerefMut for Shard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.items
    }
}

pub(crate) struct Table {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl Table {
    /// A table sized for about `items` items (no rehashing while loading).
    pub(crate) fn with_capacity(items: u64) -> Self {
        let per_shard = usize::try_from(items / SHARDS as u64).unwrap_or(0);
        Table {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        items: HashMap::with_capacity(per_shard),
                        tombs: HashMap::new(),
                    })
                })
                .collect(),
            hasher: RandomState::new(),
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
