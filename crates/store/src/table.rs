//! The in-memory item table: a fixed number of mutex-protected hash tables.
//!
//! Every item's key and metadata are here, and its value unless the pager
//! ejected it (then the engine is read for it). A shard lock is held only
//! for the few hundred nanoseconds an operation needs, and across I/O only
//! on the slow path that reads an ejected value on the caller's thread.
//!
//! # One block per item
//!
//! An item is a [`Slot`]: one heap block holding a fixed header (flags,
//! expiry, CAS, seqno, key length, state bits), the key, and the value when
//! it is shorter than [`LARGE`]. A bucket of the hash table is the block's
//! 16-byte pointer, so 1M items of 12-byte keys and 100-byte values cost a
//! 139-byte block and a bucket each, where separate key, value and item
//! allocations cost four times that. Ejecting a value shrinks the block to
//! header and key. Reads copy the value out of the block (as memcached
//! copies a value into its reply). A value of [`LARGE`] bytes or more is
//! kept as shared blocks ([`Value`]) in a side map of the shard, so that
//! large values and APPENDs to them are never copied.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use extent::ExtentBuf;
use hashbrown::HashTable;

use crate::item::{Item, Tombstone, Value};

/// The hasher of every key map in the store: foldhash, seeded per map at
/// random. `SipHash` cost as much as the rest of a SET; foldhash is a few
/// nanoseconds for a memcached key, and the random seed keeps chosen keys
/// from colliding on purpose.
pub(crate) type KeyHasher = foldhash::fast::RandomState;

/// Number of shards: enough that two cores (or sixteen) rarely collide.
const SHARDS: usize = 64;

/// Values at least this long live in the shard's side map as shared
/// blocks, not in the item's block.
pub(crate) const LARGE: u64 = crate::store::COPY_BELOW as u64;

/// The longest key a slot can hold (the binary protocol's limit; text
/// clients are held to 250 bytes by the server).
pub(crate) const MAX_KEY_LEN: usize = u16::MAX as usize;

// The layout of a slot's block; numbers are little-endian.
const FLAGS: usize = 0;
const EXPTIME: usize = 4;
const CAS: usize = 8;
const SEQNO: usize = 16;
const KEY_LEN: usize = 24;
const STATE: usize = 26;
/// Bytes of a slot's header, before the key.
pub(crate) const HEADER: usize = 27;

/// State bit: the value was dropped from memory (the engine holds the
/// version with this seqno).
const EJECTED: u8 = 1;
/// State bit: used since the pager last passed (CLOCK's reference bit).
const REFERENCED: u8 = 2;
/// State bit: the value is in the shard's side map of large values.
const IN_SIDE_MAP: u8 = 4;

/// An item's metadata, as a slot's header holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) flags: u32,
    pub(crate) exptime: u32,
    pub(crate) cas: u64,
    pub(crate) seqno: u64,
}

impl Meta {
    pub(crate) fn of(item: &Item) -> Meta {
        Meta { flags: item.flags, exptime: item.exptime, cas: item.cas, seqno: item.seqno }
    }
}

/// One item in the table: header, key and (small, resident) value in one
/// block.
pub(crate) struct Slot(Box<[u8]>);

impl Slot {
    /// A slot for `key` holding `value` inline (empty for an ejected value
    /// or one in the side map).
    fn new(key: &[u8], meta: Meta, value: &Value, state: u8) -> Slot {
        debug_assert!(key.len() <= MAX_KEY_LEN, "keys are checked before they are stored");
        let len = HEADER + key.len() + value.len() as usize;
        let mut block = Vec::with_capacity(len);
        block.extend_from_slice(&meta.flags.to_le_bytes());
        block.extend_from_slice(&meta.exptime.to_le_bytes());
        block.extend_from_slice(&meta.cas.to_le_bytes());
        block.extend_from_slice(&meta.seqno.to_le_bytes());
        block.extend_from_slice(&(key.len() as u16).to_le_bytes());
        block.push(state);
        block.extend_from_slice(key);
        for chunk in value.chunks() {
            block.extend_from_slice(chunk);
        }
        Slot(block.into_boxed_slice())
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from(self.u32_at(at)) | (u64::from(self.u32_at(at + 4)) << 32)
    }

    fn key_end(&self) -> usize {
        HEADER + usize::from(u16::from_le_bytes([self.0[KEY_LEN], self.0[KEY_LEN + 1]]))
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.0[HEADER..self.key_end()]
    }

    /// The value bytes held in the block (empty when ejected or in the
    /// side map).
    fn inline_value(&self) -> &[u8] {
        &self.0[self.key_end()..]
    }

    /// The value when it is in the block (not ejected, not in the side
    /// map).
    pub(crate) fn value_in_block(&self) -> Option<&[u8]> {
        (!self.is_ejected() && !self.in_side_map()).then(|| self.inline_value())
    }

    pub(crate) fn meta(&self) -> Meta {
        Meta {
            flags: self.u32_at(FLAGS),
            exptime: self.u32_at(EXPTIME),
            cas: self.u64_at(CAS),
            seqno: self.u64_at(SEQNO),
        }
    }

    pub(crate) fn cas(&self) -> u64 {
        self.u64_at(CAS)
    }

    pub(crate) fn seqno(&self) -> u64 {
        self.u64_at(SEQNO)
    }

    /// True when the item is dead at `now` (Unix seconds).
    pub(crate) fn is_expired(&self, now: u32) -> bool {
        let exptime = self.u32_at(EXPTIME);
        exptime != 0 && exptime <= now
    }

    pub(crate) fn is_ejected(&self) -> bool {
        self.0[STATE] & EJECTED != 0
    }

    fn in_side_map(&self) -> bool {
        self.0[STATE] & IN_SIDE_MAP != 0
    }

    pub(crate) fn is_referenced(&self) -> bool {
        self.0[STATE] & REFERENCED != 0
    }

    pub(crate) fn set_referenced(&mut self, on: bool) {
        if on {
            self.0[STATE] |= REFERENCED;
        } else {
            self.0[STATE] &= !REFERENCED;
        }
    }

    /// Drops the inline value: the block shrinks to header and key.
    fn eject(&mut self) {
        let mut block: Box<[u8]> = self.0[..self.key_end()].into();
        block[STATE] = (block[STATE] | EJECTED) & !(REFERENCED | IN_SIDE_MAP);
        self.0 = block;
    }
}

/// What a replaced or removed item held, for the accounting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Old {
    /// Bytes of its value that were in memory.
    pub(crate) resident: u64,
    /// Its value was ejected.
    pub(crate) ejected: bool,
}

/// Bytes one bucket of the item table takes (the slot and its control
/// byte).
pub(crate) const ITEM_BUCKET: u64 = (size_of::<Slot>() + 1) as u64;
/// Bytes one bucket of the side map of large values takes.
pub(crate) const LARGE_BUCKET: u64 = (size_of::<(Bytes, Value)>() + 1) as u64;
/// Bytes one bucket of the tombstone map takes.
pub(crate) const TOMB_BUCKET: u64 = (size_of::<(Bytes, Tombstone)>() + 1) as u64;

/// One shard: live items, plus the tombstones of deleted keys (kept for the
/// change feed's retention window). A key is in at most one of the two.
pub(crate) struct Shard {
    pub(crate) items: HashTable<Slot>,
    /// Resident values of [`LARGE`] bytes or more, by key.
    pub(crate) large: HashMap<Bytes, Value, KeyHasher>,
    pub(crate) tombs: HashMap<Bytes, Tombstone, KeyHasher>,
    /// Where the pager's next step in this shard starts (entries to skip).
    pub(crate) page_cursor: usize,
    /// The item table's hasher (not the one choosing the shard: with the
    /// same one every key of a shard would share its low hash bits).
    hasher: KeyHasher,
}

impl Shard {
    fn with_capacity(items: usize) -> Shard {
        Shard {
            items: HashTable::with_capacity(items),
            large: HashMap::default(),
            tombs: HashMap::default(),
            page_cursor: 0,
            hasher: KeyHasher::default(),
        }
    }

    /// Bytes of the shard's hash tables (buckets, spare ones included).
    pub(crate) fn table_bytes(&self) -> u64 {
        self.items.capacity() as u64 * ITEM_BUCKET
            + self.large.capacity() as u64 * LARGE_BUCKET
            + self.tombs.capacity() as u64 * TOMB_BUCKET
    }

    pub(crate) fn get(&self, key: &[u8]) -> Option<&Slot> {
        self.items.find(self.hasher.hash_one(key), |s| s.key() == key)
    }

    pub(crate) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Slot> {
        self.items.find_mut(self.hasher.hash_one(key), |s| s.key() == key)
    }

    /// The value of `slot` (a slot of this shard): a copy of the bytes
    /// in its block, or a share of the side map's blocks; empty when
    /// ejected.
    pub(crate) fn value(&self, slot: &Slot) -> Value {
        if slot.in_side_map() {
            self.large.get(slot.key()).cloned().unwrap_or_default()
        } else {
            let inline = slot.inline_value();
            if inline.is_empty() {
                ExtentBuf::new()
            } else {
                ExtentBuf::from(Bytes::copy_from_slice(inline))
            }
        }
    }

    /// The item in `slot` (a slot of this shard), its value copied out.
    pub(crate) fn item(&self, slot: &Slot) -> Item {
        let meta = slot.meta();
        Item {
            value: self.value(slot),
            flags: meta.flags,
            exptime: meta.exptime,
            cas: meta.cas,
            seqno: meta.seqno,
        }
    }

    /// Bytes of the value of `slot` in memory.
    fn resident(&self, slot: &Slot) -> u64 {
        if slot.in_side_map() {
            self.large.get(slot.key()).map_or(0, ExtentBuf::len)
        } else {
            slot.inline_value().len() as u64
        }
    }

    /// Stores `item` under `key`, its value resident unless `ejected`;
    /// returns what the item it replaced held.
    pub(crate) fn put(&mut self, key: &[u8], item: &Item, ejected: bool) -> Option<Old> {
        let meta = Meta::of(item);
        let hash = self.hasher.hash_one(key);
        let hasher = &self.hasher;
        let large = &mut self.large;
        let entry = self.items.entry(hash, |s| s.key() == key, |s| hasher.hash_one(s.key()));
        // What the old item held; its side-map value goes first, so that a
        // new large value takes its place below.
        let old = match &entry {
            hashbrown::hash_table::Entry::Occupied(found) => {
                let old = found.get();
                let resident = if old.in_side_map() {
                    large.remove(key).map_or(0, |v| v.len())
                } else {
                    old.inline_value().len() as u64
                };
                Some(Old { resident, ejected: old.is_ejected() })
            }
            hashbrown::hash_table::Entry::Vacant(_) => None,
        };
        let empty = ExtentBuf::new();
        let slot = if ejected {
            Slot::new(key, meta, &empty, EJECTED)
        } else if item.value.len() >= LARGE {
            large.insert(Bytes::copy_from_slice(key), item.value.clone());
            Slot::new(key, meta, &empty, REFERENCED | IN_SIDE_MAP)
        } else {
            Slot::new(key, meta, &item.value, REFERENCED)
        };
        match entry {
            hashbrown::hash_table::Entry::Occupied(mut found) => *found.get_mut() = slot,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(slot);
            }
        }
        old
    }

    /// Removes the item under `key`; returns what it held.
    pub(crate) fn remove(&mut self, key: &[u8]) -> Option<Old> {
        let hash = self.hasher.hash_one(key);
        let (slot, _) = self.items.find_entry(hash, |s| s.key() == key).ok()?.remove();
        let resident = self.resident(&slot);
        if slot.in_side_map() {
            self.large.remove(key);
        }
        Some(Old { resident, ejected: slot.is_ejected() })
    }

    /// Ejects the value of `slot` (a slot of this shard, passed apart so
    /// the caller may be iterating the items); returns the bytes freed.
    pub(crate) fn eject(large: &mut HashMap<Bytes, Value, KeyHasher>, slot: &mut Slot) -> u64 {
        let freed = if slot.in_side_map() {
            large.remove(slot.key()).map_or(0, |v| v.len())
        } else {
            slot.inline_value().len() as u64
        };
        slot.eject();
        freed
    }

    /// Drops every item (not the tombstones).
    pub(crate) fn clear_items(&mut self) {
        self.items.clear();
        self.large.clear();
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
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::with_capacity(per_shard))).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(value: Vec<u8>, seqno: u64) -> Item {
        Item { value: ExtentBuf::from(value), flags: 7, exptime: 9, cas: seqno, seqno }
    }

    #[test]
    fn slots_hold_metadata_key_and_value_and_move_between_block_and_side_map() {
        let mut shard = Shard::with_capacity(4);
        let large = vec![b'L'; LARGE as usize];
        assert!(shard.put(b"k", &item(b"small".to_vec(), 1), false).is_none());
        let slot = shard.get(b"k").unwrap();
        assert_eq!((slot.key(), slot.meta().seqno, slot.is_ejected()), (&b"k"[..], 1, false));
        assert_eq!(shard.item(slot), item(b"small".to_vec(), 1));
        // Small to large: the side map takes the value.
        let old = shard.put(b"k", &item(large.clone(), 2), false).unwrap();
        assert_eq!((old.resident, old.ejected), (5, false));
        assert_eq!(shard.large.len(), 1);
        assert_eq!(shard.item(shard.get(b"k").unwrap()), item(large.clone(), 2));
        // Large to large, then large to small: the side map follows.
        let old = shard.put(b"k", &item(large.clone(), 3), false).unwrap();
        assert_eq!(old.resident, LARGE);
        assert_eq!(shard.large.len(), 1);
        let old = shard.put(b"k", &item(b"x".to_vec(), 4), false).unwrap();
        assert_eq!(old.resident, LARGE);
        assert!(shard.large.is_empty());
        // Ejection keeps key and metadata, drops the value.
        shard.put(b"k", &item(large.clone(), 5), false);
        let Shard { items, large: side, hasher, .. } = &mut shard;
        let slot = items.find_mut(hasher.hash_one(b"k"), |s| s.key() == b"k").unwrap();
        assert_eq!(Shard::eject(side, slot), LARGE);
        assert!(side.is_empty());
        let slot = shard.get(b"k").unwrap();
        assert!(slot.is_ejected() && !slot.is_referenced());
        assert_eq!((slot.key(), slot.meta()), (&b"k"[..], Meta::of(&item(Vec::new(), 5))));
        assert!(shard.item(slot).value.is_empty());
        let old = shard.remove(b"k").unwrap();
        assert_eq!((old.resident, old.ejected), (0, true));
        assert!(shard.get(b"k").is_none() && shard.remove(b"k").is_none());
    }

    #[test]
    fn keys_of_any_length_up_to_the_limit_round_trip() {
        let mut shard = Shard::with_capacity(0);
        for len in [0, 1, 250, 300, MAX_KEY_LEN] {
            let key = vec![b'k'; len];
            shard.put(&key, &item(b"v".to_vec(), len as u64), false);
            let slot = shard.get(&key).unwrap();
            assert_eq!((slot.key().len(), slot.seqno()), (len, len as u64));
            assert_eq!(shard.item(slot).value, b"v"[..]);
        }
        assert_eq!(shard.items.len(), 5);
    }
}
