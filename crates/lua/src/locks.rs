//! Key locks: what makes a call atomic over its declared keys.
//!
//! A fixed array of async mutexes (stripes); a key maps to one stripe by a
//! hash. A call locks the stripes of all its keys in ascending stripe order
//! (each stripe once), so two calls can never wait on each other in a
//! cycle: no deadlock. Calls whose keys fall in different stripes run in
//! parallel; two keys sharing a stripe only costs some parallelism, never
//! correctness. Waiters are served first come, first served (tokio's
//! mutex is fair).
//!
//! Plain protocol writes consult the same stripes with
//! [`KeyLocks::try_enter`] (or [`KeyLocks::enter`], which waits): the
//! writer announces itself on its stripe's counter (one atomic add, and a
//! subtract when the ticket is dropped) before it checks; a call, once it
//! holds its stripes, waits until no announced writer is left on them.
//! Either the writer sees the call and queues behind it, or the call sees
//! the writer and lets it finish first (both sides write, then read, with
//! sequential consistency). Hold the ticket only around the store
//! operation itself.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, MutexGuard};

/// Stripes by default: enough that unrelated keys rarely share one.
pub const DEFAULT_STRIPES: usize = 1024;

/// One stripe: the lock calls take, and the plain writers announced on it
/// (opaque; named only by [`Ticket`]).
pub struct Stripe {
    lock: Mutex<()>,
    plain: AtomicUsize,
}

/// Striped async key locks. A call locks its keys' stripes in ascending
/// order ([`KeyLocks::lock`]: deadlock-free); plain writes take a ticket
/// with [`KeyLocks::try_enter`] or [`KeyLocks::enter`] (one atomic add and
/// load while no call is around).
pub struct KeyLocks {
    stripes: Box<[Stripe]>,
    /// Stripes held by calls right now (plain writers' guards not counted).
    held: AtomicUsize,
    hasher: foldhash::fast::FixedState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks::new(DEFAULT_STRIPES)
    }
}

impl std::fmt::Debug for KeyLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyLocks")
            .field("stripes", &self.stripes.len())
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl KeyLocks {
    /// Locks with `stripes` stripes (at least one).
    pub fn new(stripes: usize) -> KeyLocks {
        KeyLocks {
            stripes: (0..stripes.max(1))
                .map(|_| Stripe { lock: Mutex::new(()), plain: AtomicUsize::new(0) })
                .collect(),
            held: AtomicUsize::new(0),
            hasher: foldhash::fast::FixedState::with_seed(0x6d61_6d6d_6f74_6821),
        }
    }

    fn stripe(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) % self.stripes.len() as u64) as usize
    }

    /// Locks every stripe `keys` map to, in ascending order, and returns
    /// the guard that holds them until dropped.
    pub async fn lock<K: AsRef<[u8]>>(&self, keys: &[K]) -> CallGuard<'_> {
        let mut idx: Vec<usize> = keys.iter().map(|k| self.stripe(k.as_ref())).collect();
        idx.sort_unstable();
        idx.dedup();
        // Counted before waiting: a plain writer that sees a call coming
        // queues behind it rather than racing it.
        self.held.fetch_add(idx.len(), Ordering::SeqCst);
        let mut guards = Vec::with_capacity(idx.len());
        let pending = PendingCount { locks: self, n: idx.len() };
        for &i in &idx {
            guards.push(self.stripes[i].lock.lock().await);
        }
        // Let the plain writes that announced themselves before we came
        // finish (each is one store operation).
        for &i in &idx {
            while self.stripes[i].plain.load(Ordering::SeqCst) != 0 {
                tokio::task::yield_now().await;
            }
        }
        std::mem::forget(pending);
        CallGuard { locks: self, guards }
    }

    /// True when no call holds or waits for any stripe: one atomic load,
    /// for the plain write path's fast case.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.held.load(Ordering::SeqCst) == 0
    }

    /// For a plain protocol write of `key`, exactly: returns a ticket to
    /// hold while the store operation runs (and no longer). Without a call
    /// on the key's stripe that costs one atomic add and one load (and a
    /// subtract on drop); otherwise it waits for the stripe.
    pub async fn enter(&self, key: &[u8]) -> Ticket<'_> {
        let stripe = &self.stripes[self.stripe(key)];
        stripe.plain.fetch_add(1, Ordering::SeqCst);
        if self.held.load(Ordering::SeqCst) == 0 {
            return Ticket::Announced(stripe);
        }
        stripe.plain.fetch_sub(1, Ordering::SeqCst);
        Ticket::Locked(stripe.lock.lock().await)
    }

    /// [`KeyLocks::enter`] without waiting: `None` when a call holds (or
    /// waits for) `key`'s stripe, and the write must wait with `enter`.
    pub fn try_enter(&self, key: &[u8]) -> Option<Ticket<'_>> {
        let stripe = &self.stripes[self.stripe(key)];
        stripe.plain.fetch_add(1, Ordering::SeqCst);
        if self.held.load(Ordering::SeqCst) == 0 {
            return Some(Ticket::Announced(stripe));
        }
        stripe.plain.fetch_sub(1, Ordering::SeqCst);
        stripe.lock.try_lock().ok().map(Ticket::Locked)
    }

    /// True when `a` and `b` share a stripe (they then serialize).
    pub fn same_stripe(&self, a: &[u8], b: &[u8]) -> bool {
        self.stripe(a) == self.stripe(b)
    }
}

/// A plain write's permission from [`KeyLocks::enter`]; drop it once the
/// store operation is done.
#[must_use = "the write is only covered while the ticket is held"]
pub enum Ticket<'a> {
    /// No call was around: the write is announced on its stripe.
    Announced(&'a Stripe),
    /// A call was around: the write holds its stripe's lock.
    Locked(MutexGuard<'a, ()>),
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if let Ticket::Announced(stripe) = self {
            stripe.plain.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Ticket<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ticket::Announced(_) => "Ticket::Announced",
            Ticket::Locked(_) => "Ticket::Locked",
        })
    }
}

/// Undoes the `held` count when a `lock` future is dropped mid-way.
struct PendingCount<'a> {
    locks: &'a KeyLocks,
    n: usize,
}

impl Drop for PendingCount<'_> {
    fn drop(&mut self) {
        self.locks.held.fetch_sub(self.n, Ordering::SeqCst);
    }
}

/// The stripes a call holds; released when dropped.
#[must_use = "the keys are unlocked when the guard is dropped"]
pub struct CallGuard<'a> {
    locks: &'a KeyLocks,
    guards: Vec<MutexGuard<'a, ()>>,
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        let n = self.guards.len();
        self.guards.clear();
        self.locks.held.fetch_sub(n, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for CallGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallGuard").field("stripes", &self.guards.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn idle_until_a_call_holds_a_key() {
        let locks = KeyLocks::default();
        assert!(locks.is_idle());
        assert!(matches!(locks.try_enter(b"k"), Some(Ticket::Announced(_))));
        let g = locks.lock(&[b"k".as_slice(), b"k"]).await;
        assert!(!locks.is_idle());
        drop(g);
        assert!(locks.is_idle());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_write_waits_for_the_call_holding_its_key() {
        let locks = Arc::new(KeyLocks::default());
        let g = locks.lock(&["a"]).await;
        let l2 = Arc::clone(&locks);
        let waiter = tokio::spawn(async move {
            let _ticket = l2.enter(b"a").await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a plain write went through a locked key");
        drop(g);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_waits_for_an_announced_plain_write_and_queues_later_ones() {
        let locks = Arc::new(KeyLocks::default());
        let ticket = locks.enter(b"a").await;
        assert!(matches!(ticket, Ticket::Announced(_)));
        let l2 = Arc::clone(&locks);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let d2 = Arc::clone(&done);
        let entered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let e2 = Arc::clone(&entered);
        let call = tokio::spawn(async move {
            let g = l2.lock(&["a"]).await;
            e2.store(true, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            d2.store(true, Ordering::SeqCst);
            drop(g);
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!entered.load(Ordering::SeqCst), "the call ran while a plain write was under way");
        drop(ticket);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // The call holds "a" now: a new plain write queues behind it.
        let start = std::time::Instant::now();
        let later = locks.enter(b"a").await;
        assert!(matches!(later, Ticket::Locked(_)));
        assert!(
            done.load(Ordering::SeqCst),
            "the plain write did not wait ({:?})",
            start.elapsed()
        );
        drop(later);
        call.await.unwrap();
        assert!(locks.is_idle());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn opposite_orders_do_not_deadlock() {
        let locks = Arc::new(KeyLocks::new(64));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let locks = Arc::clone(&locks);
            tasks.push(tokio::spawn(async move {
                for _ in 0..200 {
                    let keys: [&[u8]; 3] =
                        if i % 2 == 0 { [b"x", b"y", b"z"] } else { [b"z", b"y", b"x"] };
                    let _g = locks.lock(&keys).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(10), t).await.unwrap().unwrap();
        }
        assert!(locks.is_idle());
    }
}
