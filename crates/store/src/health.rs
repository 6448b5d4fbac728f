//! Whether the store can make writes durable. The flusher (commit log) and
//! the applier (engine) each report their last attempt; while either fails
//! — a full disk, an I/O error — new writes are refused at once with
//! [`OpError::Unwritable`](crate::OpError::Unwritable) instead of piling up
//! in memory behind a commit that cannot happen, reads go on, and both
//! threads keep retrying, so the store resumes by itself when the cause
//! goes away. Nothing acknowledged is lost: an acknowledgement waits for
//! the commit log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::table::lock;

/// The part of the store that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Appending to or syncing the commit log.
    Log,
    /// Writing to or syncing the engine.
    Engine,
}

/// A failure as the stats show it.
#[derive(Clone, Debug)]
struct Failure {
    part: Part,
    message: String,
    since: Instant,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Health {
    log_failing: AtomicBool,
    engine_failing: AtomicBool,
    last: Mutex<Option<Failure>>,
    /// Writes refused because the store could not make them durable.
    pub(crate) refused: AtomicU64,
    /// Times a failure began.
    pub(crate) episodes: AtomicU64,
    /// The store is closing: retrying threads give up (what the engine has
    /// not got stays in the commit log and is replayed on the next open).
    closing: AtomicBool,
}

impl Health {
    fn flag(&self, part: Part) -> &AtomicBool {
        match part {
            Part::Log => &self.log_failing,
            Part::Engine => &self.engine_failing,
        }
    }

    /// `part`'s last attempt failed with `error`.
    pub(crate) fn failed(&self, part: Part, error: &dyn std::error::Error) {
        // The whole chain: the OS's reason (no space left) is the cause.
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        if !self.flag(part).swap(true, Ordering::AcqRel) {
            self.episodes.fetch_add(1, Ordering::Relaxed);
            tracing::error!(?part, error = %message, "writes cannot be made durable; refusing new writes until this clears");
            *lock(&self.last) = Some(Failure { part, message, since: Instant::now() });
        }
    }

    /// `part`'s last attempt succeeded.
    pub(crate) fn recovered(&self, part: Part) {
        if self.flag(part).swap(false, Ordering::AcqRel) {
            let lasted = lock(&self.last).take().map(|f| f.since.elapsed());
            tracing::warn!(?part, ?lasted, "writes are durable again");
            // The other part may still be failing; keep its story.
            if self.failing() {
                let other = if part == Part::Log { Part::Engine } else { Part::Log };
                *lock(&self.last) = Some(Failure {
                    part: other,
                    message: "still failing".into(),
                    since: Instant::now(),
                });
            }
        }
    }

    /// Tells retrying threads to give up: the store is closing.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// True once the store is closing.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// True while writes cannot be made durable.
    pub(crate) fn failing(&self) -> bool {
        self.log_failing.load(Ordering::Acquire) || self.engine_failing.load(Ordering::Acquire)
    }

    /// What failed, why, and for how long (for `stats`).
    pub(crate) fn describe(&self) -> Option<(String, Duration)> {
        let last = lock(&self.last);
        let f = last.as_ref()?;
        let part = match f.part {
            Part::Log => "commit log",
            Part::Engine => "engine",
        };
        Some((format!("{part}: {}", f.message), f.since.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_until_every_part_recovers() {
        let h = Health::default();
        assert!(!h.failing());
        let enospc = std::io::Error::from_raw_os_error(28);
        h.failed(Part::Log, &enospc);
        h.failed(Part::Engine, &enospc);
        h.failed(Part::Log, &std::io::Error::other("again"));
        assert!(h.failing());
        assert_eq!(h.episodes.load(Ordering::Relaxed), 2);
        assert!(h.describe().unwrap().0.contains("No space left"));
        h.recovered(Part::Log);
        assert!(h.failing(), "the engine still fails");
        h.recovered(Part::Engine);
        assert!(!h.failing());
        assert!(h.describe().is_none());
    }
}
