//! The item pager: keeps the items of a store within the memory quota by
//! ejecting values that are already in the engine.
//!
//! A thread per store wakes every few milliseconds, measures the store's
//! hash tables into the shared [`Budget`](crate::Budget), and when memory
//! is above the high watermark sweeps the shards (CLOCK): an entry used
//! since the last pass loses its reference bit and stays; an unused entry
//! whose version is in the engine (its seqno is covered by the batches the
//! engine has applied) has its value dropped; an unused dirty entry is
//! counted as an eject failure. The sweep stops at the low watermark, or
//! after two whole rounds that ejected nothing (everything left is dirty
//! or in use: writes then get a temporary failure until the engine catches
//! up). Each step holds one shard lock for a bounded number of entries.

use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::apply::EngineProgress;
use crate::core::Core;
use crate::memory::Eviction;
use crate::stats::{add, inc};
use crate::table::lock;

/// How often the pager looks at the budget.
const TICK: Duration = Duration::from_millis(10);

/// Entries one step visits under a shard lock.
const STEP: usize = 1024;

/// Stops the pager thread.
#[derive(Default)]
pub(crate) struct PagerStop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl PagerStop {
    pub(crate) fn stop(&self) {
        *lock(&self.stopped) = true;
        self.wake.notify_all();
    }

    /// Sleeps up to `timeout`; true once stopped.
    fn sleep(&self, timeout: Duration) -> bool {
        let stopped = lock(&self.stopped);
        if *stopped {
            return true;
        }
        *self
            .wake
            .wait_timeout(stopped, timeout)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    fn is_stopped(&self) -> bool {
        *lock(&self.stopped)
    }
}

pub(crate) fn pager_loop(core: &Core, engine: &EngineProgress, stop: &PagerStop) {
    let budget = &core.config.memory;
    let shards = core.shard_count();
    let mut next = 0;
    let mut warned: Option<std::time::Instant> = None;
    while !stop.sleep(TICK) {
        core.measure_tables();
        if budget.eviction() != Eviction::Value || !budget.over_high() {
            continue;
        }
        inc(&core.counters.ep_num_pager_runs);
        let target = budget.low_watermark();
        let (mut idle_rounds, mut round_ejected, mut steps_in_round) = (0, 0, 0);
        while budget.pressure() > target && idle_rounds < 2 && !stop.is_stopped() {
            let applied = engine.applied_seqno.load(Ordering::Acquire);
            let paged = core.page(next, applied, target, STEP);
            add(&core.counters.ep_num_value_ejects, paged.ejected);
            add(&core.counters.ep_num_eject_failures, paged.failed);
            round_ejected += paged.ejected;
            if paged.wrapped {
                next = (next + 1) % shards;
                steps_in_round += 1;
                if steps_in_round == shards {
                    idle_rounds = if round_ejected == 0 { idle_rounds + 1 } else { 0 };
                    round_ejected = 0;
                    steps_in_round = 0;
                    core.measure_tables();
                }
            }
        }
        // Every value is out and memory is still full: the keys and
        // metadata alone need more than the quota.
        let stuck = budget.full() && core.items() > 0 && core.non_resident() >= core.items();
        if stuck && warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            warned = Some(std::time::Instant::now());
            tracing::warn!(
                items = core.items(),
                used = budget.used(),
                limit = budget.limit(),
                "the memory limit is too small for the keys alone: every value is ejected \
                 and writes are refused; raise the limit"
            );
        }
    }
}
