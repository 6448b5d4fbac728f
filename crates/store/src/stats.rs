//! Item-level counters, named as memcached names them where it has a name,
//! [`Striped`], which keeps hot counters off each other's cache lines, and
//! the rendering of every store statistic.
//!
//! Every GET bumps a few counters. Were they single atomics, the worker
//! threads would pass their cache lines back and forth on every request (an
//! atomic add on a line another core just wrote costs a cross-core
//! transfer). So each thread adds to its own stripe, and a STAT sums the
//! stripes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::apply::EngineProgress;
use crate::core::Core;
use crate::fetch::FetchStats;
use crate::flusher::CommitState;
use crate::table::lock;
use crate::warmup::WarmupReport;

/// Stripes per striped counter set: threads beyond this share stripes
/// (still correct, only less spread).
const STRIPES: usize = 8;

/// One stripe, on cache lines of its own (128 bytes: adjacent-line
/// prefetching pairs 64-byte lines on x86).
#[derive(Default, Debug)]
#[repr(align(128))]
struct Stripe<T>(T);

/// `T` (a set of atomic counters) once per thread stripe. Dereferences to
/// the calling thread's stripe; [`Striped::sum`] adds a counter up over all
/// of them.
#[derive(Debug)]
pub struct Striped<T> {
    stripes: Box<[Stripe<T>]>,
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Striped { stripes: (0..STRIPES).map(|_| Stripe::default()).collect() }
    }
}

/// The calling thread's stripe number, handed out round-robin.
fn stripe_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    INDEX.with(|i| *i)
}

impl<T> Striped<T> {
    /// Zeroes the counters `fields` picks, in every stripe.
    pub fn reset<'a, const N: usize>(&'a self, fields: impl Fn(&'a T) -> [&'a AtomicU64; N]) {
        for s in &*self.stripes {
            for c in fields(&s.0) {
                c.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The sum of the counter `field` picks, over all stripes.
    pub fn sum(&self, field: impl Fn(&T) -> &AtomicU64) -> u64 {
        self.stripes.iter().map(|s| field(&s.0).load(Ordering::Relaxed)).sum()
    }
}

impl<T> std::ops::Deref for Striped<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.stripes[stripe_index()].0
    }
}

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counters kept by the store (all monotonic since start-up), one
        /// set per thread stripe (see [`Striped`]).
        #[derive(Default, Debug)]
        pub struct CounterSet {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// The store's counters, striped by thread.
        pub type Counters = Striped<CounterSet>;

        impl Striped<CounterSet> {
            /// Every counter as a `(name, value)` pair, in a fixed order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.sum(|c| &c.$name)),)*]
            }

            /// Sets the counters named in `names` to zero in every stripe.
            fn zero(&self, names: &[&str]) {
                for s in &*self.stripes {
                    $(if names.contains(&stringify!($name)) {
                        s.0.$name.store(0, Ordering::Relaxed);
                    })*
                }
            }
        }
    };
}

counters! {
    /// GET-family requests.
    cmd_get,
    /// Store-family requests (SET, ADD, REPLACE, APPEND, PREPEND, CAS).
    cmd_set,
    /// TOUCH and GAT requests.
    cmd_touch,
    /// FLUSH requests.
    cmd_flush,
    /// GETs that found the item.
    get_hits,
    /// GETs that did not.
    get_misses,
    /// GETs that found only an expired item.
    get_expired,
    /// DELETEs that removed an item.
    delete_hits,
    /// DELETEs of a missing item.
    delete_misses,
    /// INCRs of an existing item.
    incr_hits,
    /// INCRs of a missing item.
    incr_misses,
    /// DECRs of an existing item.
    decr_hits,
    /// DECRs of a missing item.
    decr_misses,
    /// CAS operations that matched.
    cas_hits,
    /// CAS operations on a missing item.
    cas_misses,
    /// CAS operations with a stale CAS.
    cas_badval,
    /// TOUCH/GAT of an existing item.
    touch_hits,
    /// TOUCH/GAT of a missing item.
    touch_misses,
    /// Items stored since start-up.
    total_items,
    /// Items removed because they expired (lazily or by the purger).
    expired_items,
    /// Group commits written to the engine.
    flusher_batches,
    /// Writes in group commits (after the dirty set's coalescing).
    engine_writes,
    /// Failed commit-log appends and engine reads (each append retried).
    engine_errors,
    /// Microseconds spent in engine commits.
    flusher_commit_us,
    /// Writes refused because the memory quota was full.
    ep_tmp_oom_errors,
    /// Values ejected by the pager.
    ep_num_value_ejects,
    /// Unused values the pager could not eject (not in the engine yet).
    ep_num_eject_failures,
    /// Pager passes that started above the high watermark.
    ep_num_pager_runs,
    /// Ejected values read back on the caller's thread (no background
    /// fetch was asked for first).
    ep_bg_fetched_inline,
}

/// What [`render`] reads.
pub(crate) struct Sources<'a> {
    pub(crate) core: &'a Core,
    pub(crate) commit: &'a CommitState,
    pub(crate) engine: &'a EngineProgress,
    pub(crate) warm: Option<WarmupReport>,
    pub(crate) fetch: &'a FetchStats,
    pub(crate) backend: &'static str,
}

/// The counters `stats reset` zeroes: memcached's request counters. The
/// engine's own (group commits, writes, errors) keep counting, since ratios
/// such as the coalescing ratio are computed from them.
const RESETTABLE: &[&str] = &[
    "cmd_get",
    "cmd_set",
    "cmd_touch",
    "cmd_flush",
    "get_hits",
    "get_misses",
    "get_expired",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "cas_hits",
    "cas_misses",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "total_items",
];

impl Counters {
    /// `stats reset`: zeroes memcached's request counters.
    pub fn reset_requests(&self) {
        self.zero(RESETTABLE);
    }
}

/// The store's statistics as memcached-style name/value pairs: items and
/// counters, the flusher's queue, the commit log and the engine's progress,
/// the change feed, the warmup, then the engine's own figures.
pub(crate) fn render(s: &Sources<'_>) -> Vec<(String, String)> {
    let core = s.core;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: String| out.push((k.to_string(), v));
    push("curr_items", core.items().to_string());
    push("bytes", core.bytes().to_string());
    for (name, value) in core.counters.snapshot() {
        if name == "engine_errors" {
            let engine = s.engine.errors.load(Ordering::Relaxed);
            push(name, (value + engine).to_string());
        } else {
            push(name, value.to_string());
        }
    }
    let applied = s.engine.applied_writes.load(Ordering::Relaxed);
    push("engine_applied_writes", applied.to_string());
    push("flusher_max_batch", s.commit.max_batch.load(Ordering::Relaxed).to_string());
    let (queue, queue_bytes, age, mutations, high, ring_changes, ring_bytes, in_flight) = {
        let d = core.queue().lock();
        let age = d.oldest.map(|t| t.elapsed());
        let in_flight = d.charge.bytes();
        (d.len(), d.bytes, age, d.mutations, d.high_seqno, d.ring.len(), d.ring.bytes(), in_flight)
    };
    let writes = core.counters.sum(|c| &c.engine_writes);
    push("backend", s.backend.to_string());
    push("durability", core.config.durability.name().to_string());
    push("flusher_queue_items", queue.to_string());
    push("flusher_queue_bytes", queue_bytes.to_string());
    push("engine_queue_bytes", in_flight.to_string());
    push("persistence_lag_ms", age.map_or(0, |a| a.as_millis() as u64).to_string());
    let health = &core.health;
    let failure = health.describe().filter(|_| health.failing());
    push("write_failing", u8::from(failure.is_some()).to_string());
    push("write_failure", failure.as_ref().map_or_else(String::new, |(what, _)| what.clone()));
    push("write_failure_secs", failure.map_or(0, |(_, d)| d.as_secs()).to_string());
    push("write_failure_episodes", health.episodes.load(Ordering::Relaxed).to_string());
    push("writes_refused_unwritable", health.refused.load(Ordering::Relaxed).to_string());
    push("high_seqno", high.to_string());
    push("persisted_seqno", s.commit.persisted.borrow().seqno.to_string());
    push("commit_log_lsn", s.commit.log_lsn.load(Ordering::Relaxed).to_string());
    push("engine_applied_lsn", s.engine.applied_lsn.load(Ordering::Relaxed).to_string());
    push("engine_checkpoint_lsn", s.engine.checkpoint_lsn.load(Ordering::Relaxed).to_string());
    push("commit_log_segments", s.commit.log_segments.load(Ordering::Relaxed).to_string());
    push("mutations", mutations.to_string());
    #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
    let ratio = if writes == 0 { 1.0 } else { mutations as f64 / writes as f64 };
    push("coalescing_ratio", format!("{ratio:.3}"));
    let (flush, purged) = core.feed_marks();
    push("feed_ring_changes", ring_changes.to_string());
    push("feed_ring_bytes", ring_bytes.to_string());
    push("feed_flush_seqno", flush.to_string());
    push("feed_purged_seqno", purged.to_string());
    let state = match s.warm {
        Some(_) => "done",
        None if core.is_warming() => "loading",
        None => "failed",
    };
    push("warmup_state", state.to_string());
    push("warmup_items", s.warm.map_or(0, |w| w.items).to_string());
    push("warmup_ms", s.warm.map_or(0, |w| w.duration.as_millis() as u64).to_string());
    memory(s, in_flight + ring_bytes, &mut push);
    out.extend(lock(&s.engine.stats).iter().cloned());
    out
}

/// The quota, the pager and the background fetches, with memcached's and
/// Couchbase's names; `queues` is what the dirty set, the batches on their
/// way to the engine and the feed's ring hold.
fn memory(s: &Sources<'_>, queues: u64, push: &mut impl FnMut(&str, String)) {
    let core = s.core;
    let budget = &core.config.memory;
    let limit = if budget.is_limited() { budget.limit() } else { 0 };
    push("limit_maxbytes", limit.to_string());
    push("evictions", core.counters.sum(|c| &c.ep_num_value_ejects).to_string());
    push("mem_used", budget.used().to_string());
    push("ep_max_size", limit.to_string());
    let mark = |bytes: u64| if budget.is_limited() { bytes } else { 0 };
    push("ep_mem_high_wat", mark(budget.high_watermark()).to_string());
    push("ep_mem_low_wat", mark(budget.low_watermark()).to_string());
    push("ep_item_eviction_policy", budget.eviction().policy_name().to_string());
    push("ep_kv_size", core.bytes().to_string());
    push("ep_overhead", (core.table_bytes() + core.tomb_bytes() + queues).to_string());
    let (items, ejected) = (core.items(), core.non_resident());
    push("ep_num_non_resident", ejected.to_string());
    let resident = ((items - ejected.min(items)) * 100).checked_div(items).unwrap_or(100);
    push("vb_active_perc_mem_resident", resident.to_string());
    let f = s.fetch;
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let samples = load(&f.samples);
    let avg = |total: u64| total.checked_div(samples).unwrap_or(0);
    push(
        "ep_bg_fetched",
        (load(&f.fetched) + core.counters.sum(|c| &c.ep_bg_fetched_inline)).to_string(),
    );
    push("ep_bg_remaining_jobs", load(&f.remaining).to_string());
    push("ep_bg_num_samples", samples.to_string());
    push("ep_bg_wait_avg", avg(load(&f.wait_us)).to_string());
    push("ep_bg_load_avg", avg(load(&f.load_us)).to_string());
    push("ep_bg_max_load", load(&f.max_load_us).to_string());
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn inc(c: &AtomicU64) {
    add(c, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_sum_what_every_thread_added() {
        let counters = std::sync::Arc::new(Counters::default());
        let threads: Vec<_> = (0..(STRIPES + 3))
            .map(|_| {
                let counters = std::sync::Arc::clone(&counters);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        inc(&counters.cmd_get);
                    }
                    add(&counters.get_hits, 7);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = counters.snapshot();
        let get = |n: &str| snap.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("cmd_get"), 1000 * (STRIPES as u64 + 3));
        assert_eq!(get("get_hits"), 7 * (STRIPES as u64 + 3));
        assert_eq!(get("cmd_set"), 0);
        // More than one stripe was used.
        let used = counters.stripes.iter().filter(|s| s.0.cmd_get.load(Ordering::Relaxed) > 0);
        assert!(used.count() > 1);
    }
}
