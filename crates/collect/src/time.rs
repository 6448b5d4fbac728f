//! [`Timestamp`]: an instant as Unix seconds plus nanoseconds, parsed from
//! the sensors' calendar times and written as the fixed-width UTC string
//! that keys are made of.
//!
//! Calendar arithmetic is Howard Hinnant's `days_from_civil` /
//! `civil_from_days` (proleptic Gregorian), in `i64`, so no input can
//! overflow it: years are limited to 0000–9999 before any arithmetic.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds in a second.
const NANOS: u32 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Unix seconds of 0000-01-01T00:00:00Z and of 9999-12-31T23:59:59Z: the
/// range a key's ISO string can spell.
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// Length of [`Timestamp::write_iso`]'s output:
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub const ISO_LEN: usize = 30;

/// An instant between 0000-01-01 and 9999-12-31 (UTC), to the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Why a time did not parse; [`crate::ParseError`] adds where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeError {
    /// Not `YYYY/MM/DD HH:MM:SS[.f]` or `YYYY-MM-DDTHH:MM:SS[.f][Z|±HH:MM]`.
    Syntax,
    /// A month, day, hour, minute, second or offset out of range.
    Range,
    /// Outside 0000–9999 once the zone offset is applied.
    Year,
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// From Unix seconds and nanoseconds; `None` when `nanos` is a second or
    /// more, or the instant is outside 0000–9999.
    pub fn from_unix(secs: i64, nanos: u32) -> Option<Timestamp> {
        ((MIN_SECS..=MAX_SECS).contains(&secs) && nanos < NANOS)
            .then_some(Timestamp { secs, nanos })
    }

    /// From nanoseconds since the Unix epoch (any `i64` is in range).
    pub fn from_unix_nanos(n: i64) -> Timestamp {
        let nanos = n.rem_euclid(i64::from(NANOS)) as u32;
        Timestamp { secs: n.div_euclid(i64::from(NANOS)), nanos }
    }

    /// The system clock now (the epoch if the clock is before it).
    pub fn now() -> Timestamp {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = i64::try_from(d.as_secs()).unwrap_or(MAX_SECS).min(MAX_SECS);
        Timestamp { secs, nanos: d.subsec_nanos() }
    }

    /// Whole seconds since the Unix epoch (negative before it).
    pub fn unix_secs(self) -> i64 {
        self.secs
    }

    /// The nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    /// Appends `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` ([`ISO_LEN`] bytes): fixed
    /// width, so keys sort by time as bytes.
    pub fn write_iso(self, out: &mut String) {
        // The bytes are ASCII digits and punctuation.
        out.extend(self.iso().iter().map(|&b| char::from(b)));
    }

    /// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` as bytes, without the formatting
    /// machinery (the collector writes two per reading).
    pub(crate) fn iso(self) -> [u8; ISO_LEN] {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let sod = self.secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let mut o = *b"0000-00-00T00:00:00.000000000Z";
        // Years are 0000–9999 by construction (MIN_SECS..=MAX_SECS).
        digits(&mut o[0..4], y.clamp(0, 9999) as u64);
        digits(&mut o[5..7], u64::from(m));
        digits(&mut o[8..10], u64::from(d));
        digits(&mut o[11..13], (sod / 3600) as u64);
        digits(&mut o[14..16], (sod / 60 % 60) as u64);
        digits(&mut o[17..19], (sod % 60) as u64);
        digits(&mut o[20..29], u64::from(self.nanos));
        o
    }

    /// Parses a calendar time: the notebook's `YYYY/MM/DD HH:MM:SS.ffffff`
    /// or ISO 8601 `YYYY-MM-DDTHH:MM:SS[.f][Z|±HH:MM|±HHMM]` (a space may
    /// stand for the `T`, 0–9 fraction digits). A time without a zone is
    /// taken to be `default_offset_secs` east of UTC.
    pub(crate) fn parse_calendar(
        s: &[u8],
        default_offset_secs: i32,
    ) -> Result<Timestamp, TimeError> {
        let mut c = Cursor { s, at: 0 };
        let year = c.digits(4)?;
        let sep = c.one_of(b"/-")?;
        let month = c.digits(2)?;
        c.expect(sep)?;
        let day = c.digits(2)?;
        c.one_of(b" T")?;
        let hour = c.digits(2)?;
        c.expect(b':')?;
        let minute = c.digits(2)?;
        c.expect(b':')?;
        let second = c.digits(2)?;
        let mut nanos = 0u32;
        if c.peek() == Some(b'.') {
            c.at += 1;
            let start = c.at;
            while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                if c.at - start == 9 {
                    return Err(TimeError::Syntax);
                }
                nanos = nanos * 10 + u32::from(b - b'0');
                c.at += 1;
            }
            let n = c.at - start;
            if n == 0 {
                return Err(TimeError::Syntax);
            }
            nanos *= 10u32.pow(9 - n as u32);
        }
        let offset = match c.peek() {
            None => i64::from(default_offset_secs),
            Some(b'Z') => {
                c.at += 1;
                0
            }
            Some(sign @ (b'+' | b'-')) => {
                c.at += 1;
                let h = c.digits(2)?;
                if c.peek() == Some(b':') {
                    c.at += 1;
                }
                let m = c.digits(2)?;
                if h > 23 || m > 59 {
                    return Err(TimeError::Range);
                }
                let o = i64::from(h * 3600 + m * 60);
                if sign == b'-' { -o } else { o }
            }
            Some(_) => return Err(TimeError::Syntax),
        };
        if c.at != s.len() {
            return Err(TimeError::Syntax);
        }
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(i64::from(year), month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimeError::Range);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let local = days * SECS_PER_DAY + i64::from(hour * 3600 + minute * 60 + second);
        Timestamp::from_unix(local - offset, nanos).ok_or(TimeError::Year)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(ISO_LEN);
        self.write_iso(&mut s);
        f.write_str(&s)
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn digits(&mut self, n: usize) -> Result<u32, TimeError> {
        let mut v = 0u32;
        for _ in 0..n {
            let b = self.peek().filter(u8::is_ascii_digit).ok_or(TimeError::Syntax)?;
            v = v * 10 + u32::from(b - b'0');
            self.at += 1;
        }
        Ok(v)
    }

    fn expect(&mut self, want: u8) -> Result<(), TimeError> {
        if self.peek() == Some(want) {
            self.at += 1;
            Ok(())
        } else {
            Err(TimeError::Syntax)
        }
    }

    fn one_of(&mut self, set: &[u8]) -> Result<u8, TimeError> {
        let b = self.peek().filter(|b| set.contains(b)).ok_or(TimeError::Syntax)?;
        self.at += 1;
        Ok(b)
    }
}

/// Writes `n` as decimal digits filling `out`, zero-padded on the left.
fn digits(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (`m` 1–12).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iso(t: Timestamp) -> String {
        t.to_string()
    }

    #[test]
    fn notebook_time_as_utc() {
        // `date -u -d @1310868092` prints Sun Jul 17 02:01:32 UTC 2011.
        let t = Timestamp::parse_calendar(b"2011/07/17 02:01:32.953335", 0).unwrap();
        assert_eq!((t.unix_secs(), t.subsec_nanos()), (1_310_868_092, 953_335_000));
        assert_eq!(iso(t), "2011-07-17T02:01:32.953335000Z");
    }

    #[test]
    fn zones_and_default_offset() {
        let utc = Timestamp::parse_calendar(b"2011-07-17T02:01:32Z", 0).unwrap();
        for s in [
            &b"2011-07-16T19:01:32-07:00"[..],
            b"2011-07-16T19:01:32-0700",
            b"2011-07-17 04:01:32+02:00",
        ] {
            assert_eq!(Timestamp::parse_calendar(s, 3600).unwrap(), utc);
        }
        // No zone: the default offset (Pacific daylight time here).
        let pdt = Timestamp::parse_calendar(b"2011/07/16 19:01:32", -7 * 3600).unwrap();
        assert_eq!(pdt, utc);
    }

    #[test]
    fn rejects() {
        for (s, e) in [
            (&b""[..], TimeError::Syntax),
            (b"2011/07/17", TimeError::Syntax),
            (b"2011/07-17 02:01:32", TimeError::Syntax),
            (b"2011/07/17 02:01:32.", TimeError::Syntax),
            (b"2011/07/17 02:01:32.1234567890", TimeError::Syntax),
            (b"2011/07/17 02:01:32 ", TimeError::Syntax),
            (b"2011/13/17 02:01:32", TimeError::Range),
            (b"2011/02/29 02:01:32", TimeError::Range),
            (b"2011/04/31 02:01:32", TimeError::Range),
            (b"2011/07/17 24:00:00", TimeError::Range),
            (b"2011/07/17 02:60:00", TimeError::Range),
            (b"2011/07/17 02:01:60", TimeError::Range),
            (b"2011-07-17T02:01:32+24:00", TimeError::Range),
            (b"0000-01-01T00:00:00+00:01", TimeError::Year),
            (b"9999-12-31T23:59:59-00:01", TimeError::Year),
        ] {
            assert_eq!(Timestamp::parse_calendar(s, 0), Err(e), "{}", String::from_utf8_lossy(s));
        }
        assert!(Timestamp::parse_calendar(b"2012/02/29 00:00:00", 0).is_ok());
        assert!(Timestamp::parse_calendar(b"2000/02/29 00:00:00", 0).is_ok());
        assert!(Timestamp::parse_calendar(b"1900/02/29 00:00:00", 0).is_err());
    }

    #[test]
    fn unix_nanos_before_epoch() {
        let t = Timestamp::from_unix_nanos(-1);
        assert_eq!(iso(t), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(iso(Timestamp::from_unix_nanos(i64::MIN)), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(iso(Timestamp::from_unix_nanos(i64::MAX)), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(Timestamp::from_unix(MAX_SECS + 1, 0), None);
        assert_eq!(
            iso(Timestamp::from_unix(MIN_SECS, 0).unwrap()),
            "0000-01-01T00:00:00.000000000Z"
        );
    }

    /// A day counter that walks the calendar, to check the closed forms.
    #[test]
    fn civil_matches_walking_the_calendar() {
        let (mut y, mut m, mut d) = (1900i64, 1u32, 1u32);
        let first = days_from_civil(1900, 1, 1);
        assert_eq!(first, -25_567);
        for z in first..first + 200 * 366 {
            assert_eq!(civil_from_days(z), (y, m, d));
            assert_eq!(days_from_civil(y, m, d), z);
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    proptest! {
        #[test]
        fn iso_round_trips(secs in MIN_SECS..=MAX_SECS, nanos in 0u32..NANOS) {
            let t = Timestamp::from_unix(secs, nanos).unwrap();
            let s = iso(t);
            prop_assert_eq!(s.len(), ISO_LEN);
            prop_assert_eq!(Timestamp::parse_calendar(s.as_bytes(), 12345), Ok(t));
        }

        /// The hand-rolled digits say what `format!` would.
        #[test]
        fn iso_matches_formatting(secs in MIN_SECS..=MAX_SECS, nanos in 0u32..NANOS) {
            let t = Timestamp::from_unix(secs, nanos).unwrap();
            let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
            let sod = secs.rem_euclid(SECS_PER_DAY);
            let want = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
                               sod / 3600, sod / 60 % 60, sod % 60);
            prop_assert_eq!(iso(t), want);
        }

        #[test]
        fn iso_order_is_time_order(a in MIN_SECS..=MAX_SECS, b in MIN_SECS..=MAX_SECS,
                                   na in 0u32..NANOS, nb in 0u32..NANOS) {
            let (ta, tb) = (Timestamp::from_unix(a, na).unwrap(), Timestamp::from_unix(b, nb).unwrap());
            prop_assert_eq!(ta.cmp(&tb), iso(ta).cmp(&iso(tb)));
        }

        #[test]
        fn parse_never_panics(s in proptest::collection::vec(any::<u8>(), 0..40), off in any::<i32>()) {
            let _ = Timestamp::parse_calendar(&s, off);
        }
    }
}
