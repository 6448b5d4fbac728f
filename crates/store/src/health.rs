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
    message: String,
    since: Instant,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Health {
    log_failing: AtomicBool,
    engine_failing: AtomicBool,
    /// Each part's current failure (log, engine): set with its flag.
    failures: Mutex<[Option<Failure>; 2]>,
    /// Writes refused because the store could not make them durable.
    pub(crate) refused: AtomicU64,
    /// Times a failure began.
    pub(crate) episodes: AtomicU64,
    /// The store is closing: retrying threads give up (what the engine has
    /// not got stays in the commit log and is replayed on the next open).
    closing: AtomicBool,
}

impl Part {
    fn index(self) -> usize {
        match self {
            Part::Log => 0,
            Part::Engine => 1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Part::Log => "commit log",
            Part::Engine => "engine",
        }
    }
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
        if self.flag(part).load(Ordering::Acquire) {
            return;
        }
        // The whole chain: the OS's reason (no space left) is the cause.
        let mut message = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        tracing::error!(part = part.name(), error = %message, "writes cannot be made durable; refusing new writes until this clears");
        lock(&self.failures)[part.index()] = Some(Failure { message, since: Instant::now() });
        if !self.flag(part).swap(true, Ordering::AcqRel) {
            self.episodes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `part`'s last attempt succeeded.
    pub(crate) fn recovered(&self, part: Part) {
        if self.flag(part).swap(false, Ordering::AcqRel) {
            let lasted = lock(&self.failures)[part.index()].take().map(|f| f.since.elapsed());
            tracing::warn!(part = part.name(), ?lasted, "writes are durable again");
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

    /// What fails, why, and for how long (the longest-failing part; for
    /// `stats`); `None` while writes can be made durable.
    pub(crate) fn describe(&self) -> Option<(String, Duration)> {
        let failures = lock(&self.failures);
        [Part::Log, Part::Engine]
            .into_iter()
            .filter_map(|p| failures[p.index()].as_ref().map(|f| (p, f)))
            .max_by_key(|(_, f)| f.since.elapsed())
            .map(|(p, f)| (format!("{}: {}", p.name(), f.message), f.since.elapsed()))
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
        let (why, _) = h.describe().unwrap();
        assert!(why.starts_with("engine: ") && why.contains("No space left"), "{why}");
        h.recovered(Part::Engine);
        assert!(!h.failing());
        assert!(h.describe().is_none());
    }
}
