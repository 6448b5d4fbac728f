//! The flusher: cuts the dirty set into batches, makes each durable with
//! one commit-log append and `fdatasync` (the group commit), publishes the
//! persisted seqno and hands the batch to the applier. Also the log replay
//! at open and the threads' shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::apply::Apply;
use crate::backend::{Backend, LoadSummary};
use crate::config::Durability;
use crate::core::Core;
use crate::error::Error;
use crate::feed::TimeIndex;
use crate::fetch::Fetcher;
use crate::health::Part;
use crate::pager::PagerStop;
use crate::stats::{add, inc};
use crate::store::PersistState;
use crate::table::lock;
use crate::wal::{self, Log};

/// What the flusher publishes about the commit log.
pub(crate) struct CommitState {
    pub(crate) persisted: watch::Sender<PersistState>,
    /// Lsn of the last batch in the commit log.
    pub(crate) log_lsn: AtomicU64,
    /// Segment files of the commit log.
    pub(crate) log_segments: AtomicU64,
    /// Items in the largest group commit so far (a maximum, not a sum: kept
    /// out of the striped counters).
    pub(crate) max_batch: AtomicU64,
    /// (time, seqno) samples for TAP's BACKFILL-from-a-time.
    pub(crate) time_index: Mutex<TimeIndex>,
}

impl CommitState {
    pub(crate) fn new(high_seqno: u64, lsn: u64, segments: usize) -> CommitState {
        CommitState {
            persisted: watch::channel(PersistState { seqno: high_seqno }).0,
            log_lsn: lsn.into(),
            log_segments: (segments as u64).into(),
            max_batch: AtomicU64::new(0),
            time_index: Mutex::new(TimeIndex::default()),
        }
    }
}

/// The store's threads; [`Threads::stop`] (or dropping the last store
/// handle) runs the final commit and joins them.
pub(crate) struct Threads {
    core: Arc<Core>,
    fetcher: Arc<Fetcher>,
    /// The pager, stopped first.
    pub(crate) pager: Mutex<Option<JoinHandle<()>>>,
    pub(crate) pager_stop: Arc<PagerStop>,
    pub(crate) flusher: Mutex<Option<JoinHandle<()>>>,
    /// The applier, which ends after the flusher.
    pub(crate) applier: Mutex<Option<JoinHandle<()>>>,
    /// A background warmup, stopped and joined first.
    pub(crate) warmup: Mutex<Option<JoinHandle<()>>>,
}

impl Threads {
    pub(crate) fn new(core: Arc<Core>, fetcher: Arc<Fetcher>) -> Threads {
        Threads {
            core,
            fetcher,
            pager: Mutex::new(None),
            pager_stop: Arc::default(),
            flusher: Mutex::new(None),
            applier: Mutex::new(None),
            warmup: Mutex::new(None),
        }
    }

    pub(crate) fn stop(&self) {
        self.pager_stop.stop();
        if let Some(thread) = lock(&self.pager).take() {
            let _ = thread.join();
        }
        self.core.queue().stop();
        // Release the engine's reader (a background warmup stops at its
        // next record and drops its own handle).
        self.core.drop_reader();
        if let Some(thread) = lock(&self.warmup).take() {
            let _ = thread.join();
        }
        self.core.queue().notify();
        // Threads retrying a failing disk give up from here on.
        self.core.health.close();
        if let Some(thread) = lock(&self.flusher).take() {
            let _ = thread.join();
        }
        if let Some(thread) = lock(&self.applier).take() {
            let _ = thread.join();
        }
        self.fetcher.stop();
        self.core.release_budget();
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Applies the commit log's batches the engine has not got (a crash left
/// them only in the log), syncs the engine, and returns the engine's
/// metadata as it is afterwards.
pub(crate) fn replay_log(
    backend: &mut dyn Backend,
    dir: &std::path::Path,
) -> Result<(LoadSummary, wal::Recovered), Error> {
    let started = Instant::now();
    let summary = backend.read_meta()?;
    let engine_lsn = summary.meta_u64(wal::META_WAL_LSN).unwrap_or_default();
    let recovered = wal::recover(&dir.join("wal"), engine_lsn, &mut |batch| {
        backend.write_batch(&batch, false)
    })?;
    if recovered.replayed == 0 {
        return Ok((summary, recovered));
    }
    backend.sync()?;
    tracing::info!(
        batches = recovered.replayed,
        lsn = recovered.last_lsn,
        ms = started.elapsed().as_millis() as u64,
        "replayed the commit log into the engine"
    );
    Ok((backend.read_meta()?, recovered))
}

/// The flusher thread's loop; `checkpoint` is the applier's synced lsn
/// (the log may reuse segments up to it).
pub(crate) fn flusher_loop(
    core: &Core,
    commit: &CommitState,
    checkpoint: &AtomicU64,
    mut log: Log,
    to_applier: &SyncSender<Apply>,
) {
    let queue = core.queue();
    let config = &core.config;
    let write_behind = config.durability == Durability::WriteBehind;
    let mut last_purge = Instant::now();
    let mut lsn = commit.log_lsn.load(Ordering::Acquire);
    loop {
        let (stopping, batch) = {
            let mut dirty = queue.lock();
            // Read under the lock `stop` sets it under: no lost wake-up.
            let stopping = queue.stopping();
            if dirty.is_empty() && !stopping {
                let wait = config.purge_interval.saturating_sub(last_purge.elapsed());
                dirty = queue.wait(dirty, wait.max(Duration::from_millis(10)));
            }
            let urgent = queue.take_urgent();
            if write_behind && !stopping && !urgent && !dirty.is_empty() {
                // Let changes gather for up to flush_interval unless the set
                // is already big.
                let age = dirty.oldest.map_or(Duration::ZERO, |t| t.elapsed());
                if age < config.flush_interval && dirty.bytes < config.max_dirty_bytes / 2 {
                    let wait = config.flush_interval.saturating_sub(age);
                    drop(dirty);
                    std::thread::sleep(wait.min(Duration::from_millis(20)));
                    continue;
                }
            }
            (stopping, if dirty.is_empty() { None } else { Some(dirty.take_batch()) })
        };
        if let Some((mut batch, charged)) = batch {
            let started = Instant::now();
            lsn += 1;
            let writes = batch.writes() as u64;
            batch.meta.push((wal::META_WAL_LSN.to_string(), crate::backend::meta_u64(lsn)));
            let mut attempt = 0u32;
            // The group commit: one log append and one fdatasync.
            let mut abandoned = false;
            while let Err(e) = log.append(lsn, &batch, checkpoint.load(Ordering::Acquire)) {
                attempt += 1;
                inc(&core.counters.engine_errors);
                core.health.failed(Part::Log, &e);
                if core.health.closing() {
                    // Closing with a log that takes nothing: these changes
                    // were never acknowledged as durable (write-behind ones
                    // were, from memory), and cannot be kept.
                    tracing::error!(
                        error = &e as &dyn std::error::Error,
                        items = writes,
                        "closing: changes not made durable are dropped"
                    );
                    abandoned = true;
                    break;
                }
                tracing::error!(
                    error = &e as &dyn std::error::Error,
                    attempt,
                    items = writes,
                    "group commit failed; retrying"
                );
                // Up to a second apart: space that comes back is used soon.
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempt.min(20))));
            }
            if abandoned {
                return;
            }
            core.health.recovered(Part::Log);
            let c = &core.counters;
            inc(&c.flusher_batches);
            add(&c.engine_writes, writes);
            commit.max_batch.fetch_max(writes, Ordering::Relaxed);
            add(&c.flusher_commit_us, started.elapsed().as_micros() as u64);
            commit.log_lsn.store(lsn, Ordering::Release);
            commit.log_segments.store(log.segments() as u64, Ordering::Relaxed);
            commit.persisted.send_replace(PersistState { seqno: batch.high_seqno });
            lock(&commit.time_index).record(config.clock.now(), batch.high_seqno);
            // Waits while the engine is APPLY_QUEUE batches behind.
            let _ = to_applier.send(Apply::Batch(lsn, batch, charged));
            if log.take_rolled() {
                let _ = to_applier.send(Apply::Checkpoint);
            }
        } else if stopping {
            return;
        }
        if last_purge.elapsed() >= config.purge_interval {
            last_purge = Instant::now();
            core.purge_expired();
        }
    }
}
