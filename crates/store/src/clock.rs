//! Time as memcached sees it: whole Unix seconds, and the rule that turns a
//! protocol expiration into an absolute time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Expirations up to this many seconds (30 days) are relative to now; larger
/// ones are absolute Unix times.
pub const RELATIVE_EXPIRY_LIMIT: u32 = 60 * 60 * 24 * 30;

/// A source of the current Unix time in seconds. Tests use [`Clock::manual`]
/// to step time without sleeping.
#[derive(Clone)]
pub struct Clock(Inner);

#[derive(Clone)]
enum Inner {
    System,
    Manual(Arc<AtomicU32>),
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Inner::System)
    }

    /// A clock that stands still at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: u32) -> Self {
        Clock(Inner::Manual(Arc::new(AtomicU32::new(start))))
    }

    /// Moves a manual clock forward; does nothing to the system clock.
    pub fn advance(&self, seconds: u32) {
        if let Inner::Manual(now) = &self.0 {
            now.fetch_add(seconds, Ordering::SeqCst);
        }
    }

    /// The current Unix time in seconds (saturating at `u32::MAX`).
    pub fn now(&self) -> u32 {
        match &self.0 {
            Inner::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
            Inner::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// The moment a FLUSH delay names: 0 is now, up to 30 days relative,
    /// beyond that an absolute Unix time. Exact (no rounding up).
    pub fn deadline(&self, delay: u32) -> u32 {
        match delay {
            0 => self.now(),
            d if d <= RELATIVE_EXPIRY_LIMIT => self.now().saturating_add(d),
            d => d,
        }
    }

    /// Turns a protocol expiration into an absolute Unix time (0 = never):
    /// 0 stays 0, 1..=30 days is relative to now, anything larger is
    /// already absolute (and may lie in the past: the item is then born dead).
    ///
    /// Time has whole-second granularity, so a relative TTL of `e` seconds
    /// ends at the start of second `now + e + 1`: the item lives at least `e`
    /// and at most `e + 1` seconds, never less than asked (memcached's coarse
    /// clock can cut a 1-second TTL to a few milliseconds; a durable server,
    /// whose replies wait for a disk sync, must not).
    pub fn absolute(&self, exptime: u32) -> u32 {
        match exptime {
            0 => 0,
            e if e <= RELATIVE_EXPIRY_LIMIT => self.now().saturating_add(e).saturating_add(1),
            e => e,
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::System => f.write_str("Clock::system()"),
            Inner::Manual(now) => write!(f, "Clock::manual({})", now.load(Ordering::SeqCst)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_edges() {
        let clock = Clock::manual(1_000_000_000);
        assert_eq!(clock.absolute(0), 0);
        assert_eq!(clock.absolute(1), 1_000_000_002);
        // Exactly 30 days is still relative; one more second is absolute
        // (January 1970, long dead).
        assert_eq!(clock.absolute(2_592_000), 1_002_592_001);
        assert_eq!(clock.absolute(2_592_001), 2_592_001);
        clock.advance(5);
        assert_eq!(clock.absolute(10), 1_000_000_016);
    }
}
