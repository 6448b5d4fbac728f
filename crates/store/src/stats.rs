//! Item-level counters, named as memcached names them where it has a name.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Counters kept by the store (all monotonic since start-up).
        #[derive(Default, Debug)]
        pub struct Counters {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        impl Counters {
            /// Every counter as a `(name, value)` pair, in a fixed order.
            pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Ordering::Relaxed)),)*]
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
    /// Writes that reached the engine (after the applier's coalescing).
    engine_applied_writes,
    /// Items in the largest batch so far.
    flusher_max_batch,
    /// Failed engine commits (each retried).
    engine_errors,
    /// Microseconds spent in engine commits.
    flusher_commit_us,
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn inc(c: &AtomicU64) {
    add(c, 1);
}
