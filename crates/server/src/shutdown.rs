//! The shutdown signal that open connections wait on between requests.
//!
//! Each connection listens on a [`Notify`] of its own, registered here for
//! its lifetime. A connection polls its signal every time it waits for the
//! socket, so the signal must be cheap to poll: with one channel shared by
//! all connections, every such poll took a lock that both worker threads
//! contended for (about 1.5% of the server's time under a GET load). A
//! connection's own `Notify` is locked only by its own thread, and by
//! [`Shutdown::trigger`] once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::sync::futures::Notified;

/// Registry of the connections' signals.
#[derive(Default)]
pub(crate) struct Shutdown {
    started: AtomicBool,
    next_id: AtomicU64,
    listeners: Mutex<HashMap<u64, Arc<Notify>>>,
}

/// One connection's signal; unregistered on drop.
pub(crate) struct Listener<'a> {
    shutdown: &'a Shutdown,
    id: u64,
    notify: Arc<Notify>,
}

impl Shutdown {
    /// Registers a signal. One registered after [`Shutdown::trigger`]
    /// fires at once.
    pub(crate) fn listen(&self) -> Listener<'_> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        self.lock().insert(id, Arc::clone(&notify));
        // `trigger` sets the flag before it takes the lock: either it sees
        // this signal in the map, or this sees the flag.
        if self.started.load(Ordering::Acquire) {
            notify.notify_one();
        }
        Listener { shutdown: self, id, notify }
    }

    /// Fires every signal, present and future.
    pub(crate) fn trigger(&self) {
        self.started.store(true, Ordering::Release);
        for notify in self.lock().values() {
            // Stores a permit when nobody waits yet: never lost.
            notify.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Notify>>> {
        self.listeners.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Listener<'_> {
    /// Completes once shutdown starts. Keep one pinned across polls: a
    /// registered `Notified` is re-polled under its own lock only.
    pub(crate) fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        self.shutdown.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn fires_listeners_registered_before_and_after_the_trigger() {
        let shutdown = Shutdown::default();
        let early = shutdown.listen();
        {
            let waiting = early.notified();
            tokio::pin!(waiting);
            // Not fired yet.
            assert!(tokio::time::timeout(Duration::from_millis(20), &mut waiting).await.is_err());
            shutdown.trigger();
            tokio::time::timeout(Duration::from_secs(5), &mut waiting)
                .await
                .expect("early listener fired");
        }
        let late = shutdown.listen();
        tokio::time::timeout(Duration::from_secs(5), late.notified())
            .await
            .expect("late listener fired");
        assert_eq!(shutdown.lock().len(), 2);
        drop(early);
        drop(late);
        assert!(shutdown.lock().is_empty(), "listeners unregister on drop");
    }
}
