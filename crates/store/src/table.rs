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

// The layout of a slot's block: a state byte, the key's length (one
// byte, two with LONG_KEY), the seqno, then only the metadata that differs
// from the common case (flags and expiry when not zero, the CAS when it is
// not the seqno), the key and the value. Numbers are little-endian. The
// common item (no flags, no expiry, its CAS its seqno) has a 10-byte
// header: with a 12-byte key and a 100-byte value its block fits the
// allocator's 128-byte size class, where a fixed 27-byte header took the
// next one (160).
const STATE: usize = 0;
const KEY_LEN: usize = 1;
/// Bytes of the shortest header (state, one-byte key length, seqno).
pub(crate) const MIN_HEADER: usize = 10;
/// Bytes of the longest header (two-byte key length, every field).
#[cfg(test)]
const MAX_HEADER: usize = 1 + 2 + 8 + 4 + 4 + 8;

/// State bit: the value was dropped from memory (the engine holds the
/// version with this seqno).
const EJECTED: u8 = 1;
/// State bit: used since the pager last passed (CLOCK's reference bit).
const REFERENCED: u8 = 2;
/// State bit: the value is in the shard's side map of large values.
const IN_SIDE_MAP: u8 = 4;
/// Layout bit: the key's length takes two bytes (longer than 255).
const LONG_KEY: u8 = 8;
/// Layout bit: the flags follow the seqno (they are not 0).
const HAS_FLAGS: u8 = 16;
/// Layout bit: the expiry follows (it is not 0).
const HAS_EXPTIME: u8 = 32;
/// Layout bit: the CAS follows (it is not the seqno).
const HAS_CAS: u8 = 64;
/// The bits that describe the layout (kept when a value is ejected).
const LAYOUT: u8 = LONG_KEY | HAS_FLAGS | HAS_EXPTIME | HAS_CAS;

/// The layout bits and header length of a block for `meta` and a key of
/// `key_len` bytes.
fn layout(meta: Meta, key_len: usize) -> (u8, usize) {
    let mut bits = 0;
    let mut len = MIN_HEADER;
    if key_len > usize::from(u8::MAX) {
        bits |= LONG_KEY;
        len += 1;
    }
    if meta.flags != 0 {
        bits |= HAS_FLAGS;
        len += 4;
    }
    if meta.exptime != 0 {
        bits |= HAS_EXPTIME;
        len += 4;
    }
    if meta.cas != meta.seqno {
        bits |= HAS_CAS;
        len += 8;
    }
    (bits, len)
}

/// Bytes of the header of an item with `meta` and a key of `key_len`
/// bytes (what the quota charges beside key and value).
pub(crate) fn header_len(meta: Meta, key_len: usize) -> usize {
    layout(meta, key_len).1
}

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
        let (bits, header) = layout(meta, key.len());
        let mut block = Vec::with_capacity(header + key.len() + value.len() as usize);
        block.push(state | bits);
        if bits & LONG_KEY == 0 {
            block.push(key.len() as u8);
        } else {
            block.extend_from_slice(&(key.len() as u16).to_le_bytes());
        }
        block.extend_from_slice(&meta.seqno.to_le_bytes());
        if bits & HAS_FLAGS != 0 {
            block.extend_from_slice(&meta.flags.to_le_bytes());
        }
        if bits & HAS_EXPTIME != 0 {
            block.extend_from_slice(&meta.exptime.to_le_bytes());
        }
        if bits & HAS_CAS != 0 {
            block.extend_from_slice(&meta.cas.to_le_bytes());
        }
        debug_assert_eq!(block.len(), header);
        block.extend_from_slice(key);
        for chunk in value.chunks() {
            block.extend_from_slice(chunk);
        }
        Slot(block.into_boxed_slice())
    }

    fn bits(&self) -> u8 {
        self.0[STATE]
    }

    fn u32_at(&self, at: usize) -> u32 {
        u32::from_le_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from(self.u32_at(at)) | (u64::from(self.u32_at(at + 4)) << 32)
    }

    /// Where the seqno starts (after the key length).
    fn seqno_at(&self) -> usize {
        if self.bits() & LONG_KEY == 0 { KEY_LEN + 1 } else { KEY_LEN + 2 }
    }

    fn key_len(&self) -> usize {
        if self.bits() & LONG_KEY == 0 {
            usize::from(self.0[KEY_LEN])
        } else {
            usize::from(u16::from_le_bytes([self.0[KEY_LEN], self.0[KEY_LEN + 1]]))
        }
    }

    /// Where the optional fields end and the key starts.
    fn key_at(&self) -> usize {
        let bits = self.bits();
        let mut at = self.seqno_at() + 8;
        if bits & HAS_FLAGS != 0 {
            at += 4;
        }
        if bits & HAS_EXPTIME != 0 {
            at += 4;
        }
        if bits & HAS_CAS != 0 {
            at += 8;
        }
        at
    }

    fn key_end(&self) -> usize {
        self.key_at() + self.key_len()
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.0[self.key_at()..self.key_end()]
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
        let bits = self.bits();
        let seqno = self.seqno();
        let mut at = self.seqno_at() + 8;
        let mut field = |present: u8, len: usize| {
            (bits & present != 0).then(|| {
                let start = at;
                at += len;
                start
            })
        };
        let flags = field(HAS_FLAGS, 4);
        let exptime = field(HAS_EXPTIME, 4);
        let cas = field(HAS_CAS, 8);
        Meta {
            flags: flags.map_or(0, |at| self.u32_at(at)),
            exptime: exptime.map_or(0, |at| self.u32_at(at)),
            cas: cas.map_or(seqno, |at| self.u64_at(at)),
            seqno,
        }
    }

    pub(crate) fn cas(&self) -> u64 {
        self.meta().cas
    }

    pub(crate) fn seqno(&self) -> u64 {
        self.u64_at(self.seqno_at())
    }

    /// Bytes of the block before the key.
    pub(crate) fn header_len(&self) -> usize {
        self.key_at()
    }

    /// True when the item is dead at `now` (Unix seconds).
    pub(crate) fn is_expired(&self, now: u32) -> bool {
        let exptime = self.meta().exptime;
        exptime != 0 && exptime <= now
    }

    pub(crate) fn is_ejected(&self) -> bool {
        self.bits() & EJECTED != 0
    }

    fn in_side_map(&self) -> bool {
        self.bits() & IN_SIDE_MAP != 0
    }

    pub(crate) fn is_referenced(&self) -> bool {
        self.bits() & REFERENCED != 0
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
        block[STATE] = (block[STATE] | EJECTED) & (LAYOUT | EJECTED);
        self.0 = block;
    }
}

/// What a replaced or removed item held, for the accounting.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Old {
    /// Bytes of its header.
    pub(crate) header: u64,
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
                Some(Old { header: old.header_len() as u64, resident, ejected: old.is_ejected() })
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
        Some(Old { header: slot.header_len() as u64, resident, ejected: slot.is_ejected() })
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
    fn headers_hold_only_the_metadata_that_is_not_the_common_case() {
        let mut shard = Shard::with_capacity(4);
        let plain = Item {
            value: ExtentBuf::from(vec![b'v'; 100]),
            flags: 0,
            exptime: 0,
            cas: 9,
            seqno: 9,
        };
        shard.put(b"key:00000001", &plain, false);
        let slot = shard.get(b"key:00000001").unwrap();
        assert_eq!(slot.header_len(), MIN_HEADER);
        assert_eq!(slot.0.len(), 122, "the common 100-byte item fits a 128-byte block");
        assert_eq!(shard.item(slot), plain);
        // Every combination of fields and both key-length forms round-trips,
        // also once ejected.
        for (n, (flags, exptime, cas)) in
            [(0, 0, 5), (7, 0, 5), (0, 99, 5), (0, 0, 6), (u32::MAX, u32::MAX, u64::MAX)]
                .into_iter()
                .enumerate()
        {
            for key_len in [1, 255, 256, MAX_KEY_LEN] {
                let key = vec![b'a' + n as u8; key_len];
                let it =
                    Item { value: ExtentBuf::from(b"val".to_vec()), flags, exptime, cas, seqno: 5 };
                shard.put(&key, &it, false);
                let slot = shard.get(&key).unwrap();
                assert_eq!((slot.key(), slot.meta(), slot.seqno()), (&key[..], Meta::of(&it), 5));
                assert_eq!(slot.header_len(), header_len(Meta::of(&it), key_len));
                assert!(slot.header_len() <= MAX_HEADER);
                assert_eq!(shard.item(slot), it);
                let Shard { items, large, hasher, .. } = &mut shard;
                let slot = items.find_mut(hasher.hash_one(&key), |s| s.key() == key).unwrap();
                slot.set_referenced(true);
                assert_eq!(Shard::eject(large, slot), 3);
                let slot = shard.get(&key).unwrap();
                assert!(slot.is_ejected() && !slot.is_referenced());
                assert_eq!((slot.key(), slot.meta()), (&key[..], Meta::of(&it)));
            }
        }
        assert_eq!(header_len(Meta { flags: 1, exptime: 1, cas: 1, seqno: 2 }, 300), MAX_HEADER);
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
