//! The change feed: every mutation, delete and flush in sequence-number
//! order, for replication and export (the TAP producer in `server` reads it).
//!
//! A reader catches up in two phases, the way membase's TAP backfill and
//! Couchbase's DCP do:
//!
//! 1. **Backfill** from seqno `S`: a scan of the item table, shard by shard,
//!    sending every item and every tombstone whose seqno lies in `(S, H]`,
//!    where `H` is the high seqno when the reader subscribed. The scan is in
//!    table order, not seqno order, and sends each key at most once. An item
//!    changed after `H` is skipped: its new version is in the ring.
//! 2. **Live**: the ring of recent changes, in seqno order, from `H` on.
//!    Subscribing enables the ring under the same lock that hands out
//!    seqnos, so every change after `H` is in it.
//!
//! The ring is bounded (entries and bytes). A reader that falls further
//! behind than the ring reaches gets [`Lagged`] and backfills again from
//! its cursor, so a slow consumer never grows the server's memory.
//!
//! Deletes leave [`Tombstone`](crate::Tombstone)s (in memory and in the
//! engine) for the configured retention, so a backfill from an older seqno
//! still sends them. When a reader's seqno is older than a FLUSH or than
//! the oldest tombstone purged, a delta is impossible: the backfill then
//! starts with a flush and sends everything ([`Backfill::flush_first`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::apply::EngineProgress;
use crate::backend::{meta_u64, read_meta_u64};
use crate::core::Core;
use crate::item::{Item, Record};
use crate::table::lock;

/// Value bytes a range-scan chunk takes at most (one value may pass it).
const RANGE_CHUNK_BYTES: u64 = 8 << 20;
/// Metadata name prefix of a named cursor (the name follows in hex).
const META_CURSOR: &str = "tap_cursor:";
/// Metadata name prefix of a named cursor's filter text.
const META_FILTER: &str = "tap_filter:";

/// One change, as the feed delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The change's sequence number.
    pub seqno: u64,
    /// The key (empty for a flush).
    pub key: Bytes,
    /// What happened.
    pub kind: ChangeKind,
}

/// What a [`Change`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key now holds this item.
    Mutation(Item),
    /// The key was deleted (or expired).
    Delete,
    /// Every item was removed.
    Flush,
}

/// The reader asked for changes the ring no longer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged {
    /// The reader's cursor.
    pub after: u64,
    /// The ring holds every change after this seqno.
    pub ring_start: u64,
}

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "change feed reader at seqno {} fell behind the ring (it starts after {})",
            self.after, self.ring_start
        )
    }
}

impl std::error::Error for Lagged {}

/// (time, seqno) samples taken after group commits, to turn TAP's BACKFILL
/// time into a seqno. Not persisted: times before the store opened map to
/// "everything".
#[derive(Default)]
pub(crate) struct TimeIndex {
    samples: VecDeque<(u32, u64)>,
}

/// Samples kept: one per second with commits, about a day of them.
const TIME_SAMPLES: usize = 100_000;

impl TimeIndex {
    pub(crate) fn record(&mut self, now: u32, seqno: u64) {
        if self.samples.back().is_none_or(|&(t, _)| t < now) {
            self.samples.push_back((now, seqno));
            if self.samples.len() > TIME_SAMPLES {
                self.samples.pop_front();
            }
        }
    }

    /// A seqno such that every change made at or after `time` has a larger
    /// one (the seqno of the last sample taken before `time`; 0 if none).
    pub(crate) fn since(&self, time: u32) -> u64 {
        let i = self.samples.partition_point(|&(t, _)| t < time);
        if i == 0 { 0 } else { self.samples[i - 1].1 }
    }
}

/// How a backfill from a given seqno has to be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backfill {
    /// The reader's copy cannot be patched (a FLUSH happened after its
    /// seqno, or deletes it missed are forgotten): send a flush first, then
    /// everything.
    pub flush_first: bool,
    /// Send items with a seqno above this (0: every item).
    pub since: u64,
    /// Send tombstones with a seqno above this; `None` for none (the
    /// reader's copy is empty, or flushed first).
    pub deletes_since: Option<u64>,
    /// ... and at most this: the high seqno when the backfill was planned.
    /// Changes after it come from the ring.
    pub upto: u64,
}

impl Backfill {
    fn item_wanted(&self, seqno: u64) -> bool {
        seqno > self.since && seqno <= self.upto
    }

    fn delete_wanted(&self, seqno: u64) -> bool {
        self.deletes_since.is_some_and(|since| seqno > since && seqno <= self.upto)
    }
}

/// An item or tombstone a backfill scan is about to take, as
/// [`Subscription::scan_selected`] shows it to its caller.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The change's seqno.
    pub seqno: u64,
    /// The item's flags (0 for a tombstone).
    pub flags: u32,
    /// The value, when it is in memory in one piece (`None` when it is
    /// ejected, large, or this is a tombstone).
    pub value: Option<&'a [u8]>,
    /// A tombstone: the key was deleted.
    pub deleted: bool,
}

/// A change-feed reader. While it lives the store keeps recent changes in
/// its ring. Dropping it unsubscribes.
pub struct Subscription {
    core: Arc<Core>,
    engine: Arc<EngineProgress>,
    /// The high seqno when the subscription was taken.
    snapshot: u64,
}

impl Subscription {
    pub(crate) fn new(core: Arc<Core>, engine: Arc<EngineProgress>) -> Subscription {
        let mut dirty = core.queue().lock();
        let snapshot = dirty.high_seqno;
        dirty.ring.subscribe(snapshot);
        drop(dirty);
        Subscription { core, engine, snapshot }
    }

    /// The high seqno when this subscription was taken: the ring holds every
    /// change after it (until it laps a slow reader).
    pub fn snapshot(&self) -> u64 {
        self.snapshot
    }

    /// Plans a backfill of the changes after `since`, up to the store's
    /// high seqno now; the ring holds what comes after that (read it from
    /// [`Backfill::upto`] once the scan is done).
    pub fn backfill(&self, since: u64) -> Backfill {
        let upto = self.core.high_seqno();
        let (flush, purged) = self.core.feed_marks();
        if since > 0 && (since < flush || since < purged) {
            Backfill { flush_first: true, since: 0, deletes_since: None, upto }
        } else {
            Backfill {
                flush_first: false,
                since,
                deletes_since: (since > 0).then_some(since),
                upto,
            }
        }
    }

    /// [`Subscription::backfill`] for a reader whose copy may hold
    /// something even at `since` 0 (a backfill it did not finish): deletes
    /// are sent from `since` on, and a flush first when some it missed are
    /// forgotten or a FLUSH came after `since`.
    pub fn backfill_held(&self, since: u64) -> Backfill {
        let upto = self.core.high_seqno();
        let (flush, purged) = self.core.feed_marks();
        if since < flush || since < purged {
            Backfill { flush_first: true, since: 0, deletes_since: None, upto }
        } else {
            Backfill { flush_first: false, since, deletes_since: Some(since), upto }
        }
    }

    /// Number of table shards a backfill scans ([`Subscription::scan`]).
    pub fn shards(&self) -> usize {
        self.core.shard_count()
    }

    /// Appends shard `shard`'s part of `backfill`: live items (and, for a
    /// delta backfill, tombstones) whose seqno is in `(since, upto]` and
    /// whose key starts with `prefix`. Holds the shard lock while copying
    /// the items out (values under 64 KiB are copied, larger ones shared);
    /// ejected values are read from the engine after the lock is released.
    pub fn scan(&self, shard: usize, backfill: &Backfill, prefix: &[u8], out: &mut Vec<Change>) {
        self.scan_selected(shard, backfill, &mut |c| c.key.starts_with(prefix), out);
    }

    /// [`Subscription::scan`] of the changes `keep` accepts. It sees each
    /// candidate (seqno in range) under the shard lock, its value when that
    /// is in memory in one piece, so a filter can drop what it does not
    /// want before anything is copied. It must be quick: it holds up the
    /// shard's writers.
    pub fn scan_selected(
        &self,
        shard: usize,
        backfill: &Backfill,
        keep: &mut dyn FnMut(&Candidate<'_>) -> bool,
        out: &mut Vec<Change>,
    ) {
        let range = |seqno: u64| backfill.item_wanted(seqno);
        let mut ejected = Vec::new();
        {
            let shard = self.core.lock_shard(shard);
            for slot in &shard.items {
                let seqno = slot.seqno();
                if !range(seqno) {
                    continue;
                }
                let candidate = Candidate {
                    key: slot.key(),
                    seqno,
                    flags: slot.meta().flags,
                    value: slot.value_in_block(),
                    deleted: false,
                };
                if !keep(&candidate) {
                    continue;
                }
                let key = Bytes::copy_from_slice(slot.key());
                if slot.is_ejected() {
                    ejected.push(key);
                    continue;
                }
                out.push(Change { seqno, key, kind: ChangeKind::Mutation(shard.item(slot)) });
            }
            if backfill.deletes_since.is_some() {
                for (key, tomb) in &shard.tombs {
                    if !backfill.delete_wanted(tomb.seqno) {
                        continue;
                    }
                    let candidate =
                        Candidate { key, seqno: tomb.seqno, flags: 0, value: None, deleted: true };
                    if keep(&candidate) {
                        out.push(Change {
                            seqno: tomb.seqno,
                            key: key.clone(),
                            kind: ChangeKind::Delete,
                        });
                    }
                }
            }
        }
        // The engine holds an ejected item's version; if the key changed
        // since, the engine holds that version or an older one, and the
        // newer one (after `upto`) comes from the ring.
        for key in ejected {
            if let Some(item) = self.core.read_engine_item(&key)
                && range(item.seqno)
            {
                out.push(Change { seqno: item.seqno, key, kind: ChangeKind::Mutation(item) });
            }
        }
    }

    /// True once the engine holds every change up to `seqno`, so that
    /// [`Subscription::scan_range`] may read it; until then it asks the
    /// store to write what is pending (call again after a short wait).
    pub fn engine_holds(&self, seqno: u64) -> bool {
        if self.engine.applied_seqno.load(Ordering::Acquire) >= seqno {
            return true;
        }
        self.engine.hurry.store(true, Ordering::Release);
        self.core.queue().hurry();
        false
    }

    /// The part of `backfill` whose keys lie in `[from, to)` (`to` `None`:
    /// no end), read from the engine's ordered key space in key order: at
    /// most `max` records are read (and about 8 MiB of values taken) per
    /// call; the return value is the key to go on from, or `None` when the
    /// range is done (or the store is closing). The cost is what the
    /// range holds, not the size of the store.
    ///
    /// Call it only once [`Subscription::engine_holds`] is true for
    /// `backfill.upto`: the engine then has the version of every key
    /// changed up to it (newer versions are skipped: they come from the
    /// ring).
    ///
    /// # Errors
    ///
    /// The engine's read errors (naming the key where they happened).
    pub fn scan_range(
        &self,
        backfill: &Backfill,
        from: &[u8],
        to: Option<&[u8]>,
        max: usize,
        out: &mut Vec<Change>,
    ) -> Result<Option<Bytes>, crate::Error> {
        let Some(reader) = self.core.reader() else { return Ok(None) };
        let mut resume = None;
        // Records read, taken or not, and value bytes taken: a chunk is
        // bounded whatever the range holds.
        let (mut visited, mut bytes) = (0usize, 0u64);
        reader.scan_range(from, to, &mut |key, record| {
            if visited == max || bytes >= RANGE_CHUNK_BYTES {
                resume = Some(key);
                return ControlFlow::Break(());
            }
            visited += 1;
            match record {
                Record::Item(item) if backfill.item_wanted(item.seqno) => {
                    bytes += item.value.len();
                    out.push(Change { seqno: item.seqno, key, kind: ChangeKind::Mutation(item) });
                }
                Record::Tombstone(tomb) if backfill.delete_wanted(tomb.seqno) => {
                    out.push(Change { seqno: tomb.seqno, key, kind: ChangeKind::Delete });
                }
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        Ok(resume)
    }

    /// Appends up to `max` changes with a seqno in `(after, upto]`, in
    /// seqno order.
    ///
    /// # Errors
    ///
    /// [`Lagged`] when the ring no longer holds the changes right after
    /// `after`: backfill again from `after`.
    pub fn read(
        &self,
        after: u64,
        upto: u64,
        max: usize,
        out: &mut Vec<Change>,
    ) -> Result<(), Lagged> {
        self.core.queue().lock().ring.read(after, upto, max, out)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.core.queue().lock().ring.unsubscribe();
    }
}

/// Named change-feed cursors (TAP registered clients): kept in memory and
/// written with the group commits as store metadata, so a consumer resumes
/// where it stopped, across restarts. A cursor may carry the text of the
/// filter its consumer's copy was made with (empty: none), so a consumer
/// that comes back with another filter can be brought to the new one.
pub(crate) struct Cursors {
    positions: Mutex<HashMap<Bytes, Cursor>>,
}

#[derive(Clone, Default)]
struct Cursor {
    seqno: u64,
    /// What the consumer's copy follows, as its streams record it; `None`
    /// when nothing was recorded (cursors from before filters existed).
    filter: Option<Bytes>,
}

impl Cursors {
    /// The cursors found in the engine's metadata.
    pub(crate) fn load(meta: &[(String, Bytes)]) -> Cursors {
        let mut positions: HashMap<Bytes, Cursor> = HashMap::new();
        for (name, value) in meta {
            if let Some(hex_name) = name.strip_prefix(META_CURSOR)
                && let Ok(name) = hex::decode(hex_name)
                && let Some(seqno) = read_meta_u64(value)
            {
                positions.entry(Bytes::from(name)).or_default().seqno = seqno;
            }
        }
        for (name, value) in meta {
            if let Some(hex_name) = name.strip_prefix(META_FILTER)
                && let Ok(name) = hex::decode(hex_name)
                && let Some(cursor) = positions.get_mut(&name[..])
            {
                cursor.filter = Some(value.clone());
            }
        }
        Cursors { positions: Mutex::new(positions) }
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<u64> {
        lock(&self.positions).get(name).map(|c| c.seqno)
    }

    /// The filter text recorded with cursor `name` (`None`: none recorded).
    pub(crate) fn filter(&self, name: &[u8]) -> Option<Bytes> {
        lock(&self.positions).get(name).and_then(|c| c.filter.clone())
    }

    /// Every cursor and its position, sorted by name.
    pub(crate) fn all(&self) -> Vec<(Bytes, u64)> {
        let mut all: Vec<_> =
            lock(&self.positions).iter().map(|(k, v)| (k.clone(), v.seqno)).collect();
        all.sort();
        all
    }

    /// Moves cursor `name` to `seqno`, queueing the metadata write.
    pub(crate) fn set(&self, core: &Core, name: &[u8], seqno: u64) {
        let mut positions = lock(&self.positions);
        if positions.get(name).is_some_and(|c| c.seqno == seqno) {
            return;
        }
        positions.entry(Bytes::copy_from_slice(name)).or_default().seqno = seqno;
        // Under the cursors' lock: two moves of one cursor reach the dirty
        // set in the order they were made.
        core.set_meta(vec![(cursor_meta(name), meta_u64(seqno))]);
    }

    /// Moves cursor `name` to `seqno` and records `filter` with it; both
    /// reach the engine in the same batch, which is durable once the
    /// returned seqno is.
    pub(crate) fn set_with_filter(
        &self,
        core: &Core,
        name: &[u8],
        seqno: u64,
        filter: &[u8],
    ) -> u64 {
        let mut positions = lock(&self.positions);
        let filter = Bytes::copy_from_slice(filter);
        let cursor = Cursor { seqno, filter: Some(filter.clone()) };
        positions.insert(Bytes::copy_from_slice(name), cursor);
        core.set_meta_at_seqno(vec![
            (format!("{META_FILTER}{}", hex::encode(name)), filter),
            (cursor_meta(name), meta_u64(seqno)),
        ])
    }
}

fn cursor_meta(name: &[u8]) -> String {
    format!("{META_CURSOR}{}", hex::encode(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_index_is_conservative() {
        let mut t = TimeIndex::default();
        assert_eq!(t.since(5), 0);
        t.record(100, 7);
        t.record(100, 9); // same second: first sample kept
        t.record(105, 20);
        assert_eq!(t.since(100), 0);
        assert_eq!(t.since(101), 7);
        assert_eq!(t.since(105), 7);
        assert_eq!(t.since(106), 20);
    }
}
