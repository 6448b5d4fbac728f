//! The access log: one line per request on stderr, in the layout
//! `tracing-subscriber` gives an event (`<RFC 3339 time>  INFO access: …`),
//! but formatted straight into a per-thread buffer. Going through `tracing`
//! cost about a tenth of the proxy's CPU time per small request (field
//! visitors, escaping, per-char writes, one `write` per line).
//!
//! Lines wait in their thread's buffer until [`flush`] runs — the binary
//! calls it whenever a worker thread runs out of work, before it sleeps —
//! or until the buffer holds [`FLUSH_AT`] bytes. So a line is written as
//! soon as the proxy is idle, and a busy proxy writes many lines per
//! `write`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What one access-log line reports.
pub(crate) struct AccessLog {
    pub(crate) peer: SocketAddr,
    pub(crate) method: http::Method,
    pub(crate) target: String,
    pub(crate) status: u16,
    pub(crate) start: Instant,
    pub(crate) bytes: u64,
}

/// Whether access lines are wanted: `RUST_LOG` (or the default `info`)
/// enables target `access` at level INFO. Asked once per request, which
/// costs a cached callsite-interest check.
pub(crate) fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// A thread's buffered lines are written once they reach this many bytes,
/// even if the thread never runs out of work.
pub const FLUSH_AT: usize = 16 * 1024;

thread_local! {
    static LINES: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Adds the line for `log` with its `outcome` to this thread's buffer.
pub(crate) fn write(log: &AccessLog, outcome: &str) {
    let full = LINES.with(|lines| {
        let Ok(mut lines) = lines.try_borrow_mut() else { return false };
        format_line(&mut lines, SystemTime::now(), log, outcome);
        lines.len() >= FLUSH_AT
    });
    if full {
        flush();
    }
}

/// Writes this thread's buffered access-log lines to stderr. Call it when
/// the thread is about to wait for work (the binary's runtimes do, through
/// `on_thread_park`) and before it exits.
pub fn flush() {
    LINES.with(|lines| {
        let Ok(mut lines) = lines.try_borrow_mut() else { return };
        if lines.is_empty() {
            return;
        }
        // A full disk or closed stderr must not take requests down.
        let _ = std::io::stderr().lock().write_all(lines.as_bytes());
        lines.clear();
        if lines.capacity() > 4 * FLUSH_AT {
            // One huge request target must not pin its buffer forever.
            *lines = String::with_capacity(FLUSH_AT);
        }
    });
}

/// `2026-12-07T22:50:01.123456Z  INFO access: PEER METHOD TARGET STATUS
/// BYTES bytes SECONDSs OUTCOME\n`. Control characters in the target (hyper
/// refuses them, but the line must stay one line whatever it is given) are
/// written as `\xNN`.
pub(crate) fn format_line(out: &mut String, now: SystemTime, log: &AccessLog, outcome: &str) {
    rfc3339_micros(out, now);
    let _ = write!(out, "  INFO access: {} {} ", log.peer, log.method);
    for c in log.target.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    let _ = writeln!(
        out,
        " {} {} bytes {:.3}s {}",
        log.status,
        log.bytes,
        log.start.elapsed().as_secs_f64(),
        outcome
    );
}

/// UTC time with microseconds, e.g. `2026-12-07T22:50:01.123456Z`.
fn rfc3339_micros(out: &mut String, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_micros()
    );
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // 2000-02-29 (a leap day in a century year divisible by 400).
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        // 2026-12-07.
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        // 2100-03-01 follows 2100-02-28 (no leap day in 2100).
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
    }

    #[test]
    fn line_layout() {
        let log = AccessLog {
            peer: "127.0.0.1:41240".parse().unwrap(),
            method: http::Method::GET,
            target: "/db/x?y=1\n".to_owned(),
            status: 200,
            start: Instant::now(),
            bytes: 60,
        };
        let now = UNIX_EPOCH + Duration::from_micros(1_796_683_801_123_456);
        let mut line = String::new();
        format_line(&mut line, now, &log, "done");
        let (time, rest) = line.split_once("  ").unwrap();
        assert_eq!(time, "2026-12-07T22:50:01.123456Z");
        assert!(
            rest.starts_with("INFO access: 127.0.0.1:41240 GET /db/x?y=1\\x0a 200 60 bytes 0."),
            "{rest}"
        );
        assert!(rest.ends_with("s done\n"), "{rest}");
        assert_eq!(line.matches('\n').count(), 1);
    }
}
