//! Background fetches: reading ejected values back from the engine off the
//! caller's thread.
//!
//! A server worker serves many connections, so it must not wait on a disk
//! read. Before it runs an operation that needs a value, it asks
//! [`Store::fetch`](crate::Store::fetch); when the value is ejected that
//! returns a [`Fetch`] to await, and a fetch thread reads the engine,
//! puts the value back into the table and wakes every waiter. Concurrent
//! misses on one key share one read (a per-key in-flight map). The
//! operation then finds the value resident. (Were it ejected again in
//! between, the store reads it on the caller's thread: correct, only
//! slower.) This is ep-engine's background fetch.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::core::Core;
use crate::table::{KeyHasher, lock};

/// Fetch threads per store: engine reads are short (a page-cache hit or
/// one disk read); two keep one read in flight while the other installs.
const THREADS: usize = 2;

/// Keys one thread takes from the queue at a time.
const BATCH: usize = 64;

/// One key's read in flight, shared by everyone who waits for it.
#[derive(Default)]
struct Slot {
    done: AtomicBool,
    notify: Notify,
}

/// A value being read back from the engine; await [`Fetch::wait`], then
/// run the operation.
#[must_use = "a fetch does nothing for the caller unless awaited"]
pub struct Fetch {
    slot: Arc<Slot>,
}

impl Fetch {
    /// Resolves once the value is back in memory (or the read failed: the
    /// operation then reads the engine itself and reports what it finds).
    pub async fn wait(self) {
        loop {
            let notified = self.slot.notify.notified();
            if self.slot.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// True once the read has finished.
    pub fn is_done(&self) -> bool {
        self.slot.done.load(Ordering::Acquire)
    }
}

/// Fetch statistics (Couchbase's `ep_bg_*`).
#[derive(Default)]
pub(crate) struct FetchStats {
    /// Values read back.
    pub(crate) fetched: AtomicU64,
    /// Fetches queued or running.
    pub(crate) remaining: AtomicU64,
    /// Microseconds fetches waited in the queue, summed.
    pub(crate) wait_us: AtomicU64,
    /// Microseconds engine reads took, summed.
    pub(crate) load_us: AtomicU64,
    /// The longest engine read (µs).
    pub(crate) max_load_us: AtomicU64,
    /// Fetches timed.
    pub(crate) samples: AtomicU64,
}

struct Queue {
    keys: VecDeque<(Bytes, Instant)>,
    stopping: bool,
}

/// The fetch threads and the in-flight map.
pub(crate) struct Fetcher {
    inflight: Mutex<HashMap<Bytes, Arc<Slot>, KeyHasher>>,
    queue: Mutex<Queue>,
    ready: Condvar,
    pub(crate) stats: FetchStats,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Fetcher {
    pub(crate) fn new() -> Fetcher {
        Fetcher {
            inflight: Mutex::new(HashMap::default()),
            queue: Mutex::new(Queue { keys: VecDeque::new(), stopping: false }),
            ready: Condvar::new(),
            stats: FetchStats::default(),
            threads: Mutex::new(Vec::new()),
        }
    }

    /// Starts the fetch threads.
    pub(crate) fn start(self: &Arc<Self>, core: &Arc<Core>) -> std::io::Result<()> {
        let mut threads = lock(&self.threads);
        for i in 0..THREADS {
            let fetcher = Arc::clone(self);
            let core = Arc::clone(core);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("mammoth-fetch-{i}"))
                    .spawn(move || fetcher.run(&core))?,
            );
        }
        Ok(())
    }

    /// Queues a read of `key` unless one is in flight; the returned fetch
    /// resolves when it is done.
    pub(crate) fn request(&self, key: &[u8]) -> Fetch {
        let mut inflight = lock(&self.inflight);
        if let Some(slot) = inflight.get(key) {
            return Fetch { slot: Arc::clone(slot) };
        }
        let slot = Arc::new(Slot::default());
        let key = Bytes::copy_from_slice(key);
        inflight.insert(key.clone(), Arc::clone(&slot));
        drop(inflight);
        self.stats.remaining.fetch_add(1, Ordering::Relaxed);
        let mut queue = lock(&self.queue);
        if queue.stopping {
            drop(queue);
            self.finish(&key);
        } else {
            queue.keys.push_back((key, Instant::now()));
            drop(queue);
            self.ready.notify_one();
        }
        Fetch { slot }
    }

    /// Stops the threads (queued fetches are resolved unread: their
    /// callers read the engine themselves, or find the store closed).
    pub(crate) fn stop(&self) {
        let pending: Vec<Bytes> = {
            let mut queue = lock(&self.queue);
            queue.stopping = true;
            queue.keys.drain(..).map(|(k, _)| k).collect()
        };
        self.ready.notify_all();
        for key in pending {
            self.finish(&key);
        }
        for thread in lock(&self.threads).drain(..) {
            let _ = thread.join();
        }
    }

    fn run(&self, core: &Core) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.keys.is_empty() && !queue.stopping {
                    queue =
                        self.ready.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if queue.stopping {
                    return;
                }
                let n = queue.keys.len().min(BATCH);
                batch.extend(queue.keys.drain(..n));
            }
            for (key, queued) in batch.drain(..) {
                let started = Instant::now();
                let wait = started.duration_since(queued).as_micros() as u64;
                core.fetch_value(&key);
                let load = started.elapsed().as_micros() as u64;
                let s = &self.stats;
                s.fetched.fetch_add(1, Ordering::Relaxed);
                s.wait_us.fetch_add(wait, Ordering::Relaxed);
                s.load_us.fetch_add(load, Ordering::Relaxed);
                s.max_load_us.fetch_max(load, Ordering::Relaxed);
                s.samples.fetch_add(1, Ordering::Relaxed);
                self.finish(&key);
            }
        }
    }

    fn finish(&self, key: &[u8]) {
        if let Some(slot) = lock(&self.inflight).remove(key) {
            slot.done.store(true, Ordering::Release);
            slot.notify.notify_waiters();
        }
        self.stats.remaining.fetch_sub(1, Ordering::Relaxed);
    }
}
