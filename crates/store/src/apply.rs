//! The applier: writes logged batches to the engine, coalescing them.
//!
//! A batch is durable once it is in the commit log, so the engine may lag
//! behind it. The applier uses that: it merges the batches that arrive
//! within [`WINDOW`] (or until [`MAX_PENDING_BYTES`] of values) into one
//! engine batch, the latest change of each key winning. A key written many
//! times a second then costs the engine one write per window instead of one
//! per group commit — the ep-engine's flusher coalesced the same way.
//! Merging keeps each batch's meaning: a FLUSH (clear) drops what was
//! pending before it and clears the engine first; metadata keeps its latest
//! value; the merged batch carries the last log position, so after a crash
//! the log replays exactly what the engine had not got.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::backend::{Backend, Batch};
use crate::error::Error;
use crate::health::{Health, Part};
use crate::item::{Item, Tombstone};
use crate::memory::QueueCharge;
use crate::table::{KeyHasher, lock};

/// Longest a logged batch waits before it is written to the engine.
pub(crate) const WINDOW: Duration = Duration::from_millis(500);
/// Entries the applier's reusable maps and vectors keep room for between
/// windows.
const KEEP_CAPACITY: usize = 4096;
/// Bytes pending (changes merged, as charged to the memory quota) at which
/// the applier writes without waiting longer; with a quota, an eighth of
/// the quota if that is less.
pub(crate) const MAX_PENDING_BYTES: u64 = 32 * 1024 * 1024;

/// How far the engine has got behind the commit log: what the applier
/// shares with the rest of the store.
#[derive(Default)]
pub(crate) struct EngineProgress {
    /// Lsn of the last batch the engine has applied.
    pub(crate) applied_lsn: AtomicU64,
    /// Lsn up to which the engine is synced (the log before it is reusable).
    pub(crate) checkpoint_lsn: AtomicU64,
    /// Every change with a seqno up to this one is in the engine (readable
    /// there, though maybe not synced): the pager may eject such values.
    pub(crate) applied_seqno: AtomicU64,
    /// Writes that reached the engine (after the applier's coalescing).
    pub(crate) applied_writes: AtomicU64,
    /// Failed engine writes and syncs (each retried).
    pub(crate) errors: AtomicU64,
    /// The engine's own statistics, refreshed every few writes.
    pub(crate) stats: Mutex<Vec<(String, String)>>,
    /// A reader waits for the engine (a range backfill): the next batch
    /// is written at once instead of merged.
    pub(crate) hurry: AtomicBool,
}

impl EngineProgress {
    /// Progress of an engine that has applied the log up to `lsn` and the
    /// changes up to seqno `seqno`.
    pub(crate) fn at(lsn: u64, seqno: u64, stats: Vec<(String, String)>) -> EngineProgress {
        EngineProgress {
            applied_lsn: lsn.into(),
            checkpoint_lsn: lsn.into(),
            applied_seqno: seqno.into(),
            stats: Mutex::new(stats),
            ..EngineProgress::default()
        }
    }
}

/// Work for the applier thread.
pub(crate) enum Apply {
    /// A batch, log record `lsn`, durable in the log, and the bytes charged
    /// to the memory quota for it (released once the engine has it).
    Batch(u64, Batch, u64),
    /// Write what is pending and sync the engine: the log up to here is
    /// then reusable.
    Checkpoint,
}

enum Change {
    Put(Item),
    Tombstone(Tombstone),
    Delete,
}

/// Batches merged since the last engine write.
#[derive(Default)]
struct Pending {
    clear: bool,
    changes: HashMap<Bytes, Change, KeyHasher>,
    meta: HashMap<String, Bytes>,
    high_seqno: u64,
    /// Log position of the last merged batch (0: nothing pending).
    lsn: u64,
    /// Bytes charged to the memory quota for the merged batches
    /// (overwritten changes still count: an upper bound, which only makes
    /// writes come sooner).
    bytes: u64,
    since: Option<Instant>,
}

impl Pending {
    fn merge(&mut self, lsn: u64, batch: Batch, charged: u64) {
        if batch.clear {
            self.clear = true;
            self.changes.clear();
        }
        self.bytes += charged;
        for (key, item) in batch.puts {
            self.changes.insert(key, Change::Put(item));
        }
        for (key, tomb) in batch.tombstones {
            self.changes.insert(key, Change::Tombstone(tomb));
        }
        for key in batch.deletes {
            self.changes.insert(key, Change::Delete);
        }
        self.meta.extend(batch.meta);
        self.high_seqno = self.high_seqno.max(batch.high_seqno);
        self.lsn = lsn;
        self.since.get_or_insert_with(Instant::now);
    }

    fn is_empty(&self) -> bool {
        self.lsn == 0
    }

    /// Moves the merge into `batch` (emptied first), keeping this
    /// side's allocations for the next window; returns the bytes charged
    /// for it.
    fn take_into(&mut self, batch: &mut Batch) -> u64 {
        batch.puts.clear();
        batch.tombstones.clear();
        batch.deletes.clear();
        batch.meta.clear();
        batch.clear = std::mem::take(&mut self.clear);
        batch.high_seqno = std::mem::take(&mut self.high_seqno);
        batch.meta.extend(self.meta.drain());
        for (key, change) in self.changes.drain() {
            match change {
                Change::Put(item) => batch.puts.push((key, item)),
                Change::Tombstone(tomb) => batch.tombstones.push((key, tomb)),
                Change::Delete => batch.deletes.push(key),
            }
        }
        self.lsn = 0;
        self.since = None;
        std::mem::take(&mut self.bytes)
    }
}

/// Runs until the flusher drops its sender, then writes what is pending
/// and syncs the engine.
pub(crate) fn applier_loop(
    progress: &EngineProgress,
    health: &Health,
    charge: &QueueCharge,
    backend: Box<dyn Backend>,
    work: &Receiver<Apply>,
) {
    let budget = charge.budget();
    let mut applier = Applier {
        progress,
        health,
        charge,
        backend,
        pending: Pending::default(),
        batch: Batch::default(),
        writes: 0,
    };
    loop {
        let since = applier.pending.since;
        let timeout = since.map_or(WINDOW, |t| WINDOW.saturating_sub(t.elapsed()));
        match work.recv_timeout(timeout) {
            Ok(Apply::Batch(lsn, batch, charged)) => {
                applier.pending.merge(lsn, batch, charged);
                let pending = &applier.pending;
                if pending.bytes >= MAX_PENDING_BYTES.min(budget.limit() / 8)
                    || pending.since.is_some_and(|t| t.elapsed() >= WINDOW)
                    // Memory is short: what is only in the log cannot be
                    // ejected, so it goes to the engine at once.
                    || budget.over_high()
                    || progress.hurry.swap(false, Ordering::AcqRel)
                {
                    applier.write();
                }
            }
            Ok(Apply::Checkpoint) => applier.checkpoint(),
            Err(RecvTimeoutError::Timeout) => applier.write(),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    applier.checkpoint();
    *lock(&progress.stats) = applier.backend.stats();
}

struct Applier<'a> {
    progress: &'a EngineProgress,
    health: &'a Health,
    charge: &'a QueueCharge,
    backend: Box<dyn Backend>,
    pending: Pending,
    /// The engine batch, reused (its vectors keep their capacity).
    batch: Batch,
    writes: u64,
}

impl Applier<'_> {
    /// Runs `op` until it succeeds (true), or until the store closes
    /// (false): the batches are safe in the log meanwhile, and the flusher
    /// waits once the queue is full.
    fn retry(
        &mut self,
        what: &str,
        op: &mut dyn FnMut(&mut dyn Backend) -> Result<(), Error>,
    ) -> bool {
        let mut attempt = 0u32;
        while let Err(e) = op(self.backend.as_mut()) {
            attempt += 1;
            self.progress.errors.fetch_add(1, Ordering::Relaxed);
            self.health.failed(Part::Engine, &e);
            if self.health.closing() {
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    "closing: the engine {what} is left to the commit log's replay on the next open"
                );
                return false;
            }
            tracing::error!(
                error = &e as &dyn std::error::Error,
                attempt,
                "engine {what} failed; retrying (the commit log holds the batches)"
            );
            std::thread::sleep(Duration::from_millis(50 * u64::from(attempt.min(20))));
        }
        self.health.recovered(Part::Engine);
        true
    }

    /// Writes the pending merge to the engine (without a sync).
    fn write(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let lsn = self.pending.lsn;
        let mut batch = std::mem::take(&mut self.batch);
        let charged = self.pending.take_into(&mut batch);
        if !self.retry("write", &mut |b| b.write_batch(&batch, false)) {
            // Closing: the log replays this batch on the next open (the
            // charge goes with the store).
            self.batch = batch;
            return;
        }
        self.progress.applied_seqno.fetch_max(batch.high_seqno, Ordering::Release);
        self.progress.applied_writes.fetch_add(batch.writes() as u64, Ordering::Relaxed);
        // Values are not kept past the write; the vectors' capacity is, up
        // to what a steady stream of small batches needs (a bulk load's
        // peak would otherwise stay allocated, outside the memory quota).
        batch.puts.clear();
        batch.tombstones.clear();
        batch.deletes.clear();
        batch.puts.shrink_to(KEEP_CAPACITY);
        batch.tombstones.shrink_to(KEEP_CAPACITY);
        batch.deletes.shrink_to(KEEP_CAPACITY);
        self.pending.changes.shrink_to(KEEP_CAPACITY);
        self.batch = batch;
        self.charge.release(charged);
        self.progress.applied_lsn.store(lsn, Ordering::Release);
        self.writes += 1;
        if self.writes % 16 == 1 {
            *lock(&self.progress.stats) = self.backend.stats();
        }
    }

    /// Writes what is pending and syncs the engine.
    fn checkpoint(&mut self) {
        self.write();
        if !self.retry("sync", &mut |b| b.sync()) {
            return;
        }
        let applied = self.progress.applied_lsn.load(Ordering::Acquire);
        self.progress.checkpoint_lsn.store(applied, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use extent::ExtentBuf;

    fn put(key: &str, v: &str, seqno: u64) -> (Bytes, Item) {
        let value = ExtentBuf::from(Bytes::from(v.to_string()));
        (Bytes::from(key.to_string()), Item { value, flags: 0, exptime: 0, cas: seqno, seqno })
    }

    #[test]
    fn latest_change_of_each_key_wins_and_clear_drops_what_came_before() {
        let mut p = Pending::default();
        p.merge(
            1,
            Batch {
                puts: vec![put("a", "1", 1), put("b", "1", 2)],
                meta: vec![("m".into(), crate::backend::meta_u64(1))],
                high_seqno: 2,
                ..Batch::default()
            },
            10,
        );
        p.merge(
            2,
            Batch {
                puts: vec![put("a", "2", 3)],
                tombstones: vec![(Bytes::from("b"), Tombstone { seqno: 4, deleted_at: 9 })],
                deletes: vec![Bytes::from("c")],
                meta: vec![("m".into(), crate::backend::meta_u64(2))],
                high_seqno: 4,
                ..Batch::default()
            },
            10,
        );
        let mut b = Batch::default();
        assert_eq!(p.take_into(&mut b), 20, "the charges of both batches");
        assert!(!b.clear && p.is_empty());
        assert_eq!(b.puts, vec![put("a", "2", 3)]);
        assert_eq!(b.tombstones, vec![(Bytes::from("b"), Tombstone { seqno: 4, deleted_at: 9 })]);
        assert_eq!(b.deletes, vec![Bytes::from("c")]);
        assert_eq!(
            (b.meta.clone(), b.high_seqno),
            (vec![("m".to_string(), crate::backend::meta_u64(2))], 4)
        );

        p.merge(3, Batch { puts: vec![put("x", "1", 5)], high_seqno: 5, ..Batch::default() }, 1);
        p.merge(
            4,
            Batch { clear: true, puts: vec![put("y", "1", 6)], high_seqno: 6, ..Batch::default() },
            2,
        );
        p.merge(5, Batch { deletes: vec![Bytes::from("y")], high_seqno: 6, ..Batch::default() }, 3);
        assert_eq!(p.lsn, 5);
        assert_eq!(p.take_into(&mut b), 6, "a clear drops changes, not their charge");
        assert!(b.clear && b.puts.is_empty(), "x is gone with the clear, y was deleted after it");
        assert_eq!(b.deletes, vec![Bytes::from("y")]);
    }
}
