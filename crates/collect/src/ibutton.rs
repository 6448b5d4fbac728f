//! The notebook's iButton format: one reading per line,
//! `time<TAB>serial<TAB>reading[<TAB>extras]`.
//!
//! * `time` — `YYYY/MM/DD HH:MM:SS[.ffffff]` as the 1-wire collector
//!   writes it (or ISO 8601, optionally with a zone); without a zone it is
//!   [`IbuttonOptions::utc_offset_secs`] east of UTC;
//! * `serial` — the 1-wire ROM id, e.g. `10E8C214000000E4`;
//! * `reading` — a decimal number (°C for the thermometers);
//! * `extras` — optional `name=value` pairs separated by commas, e.g. the
//!   alarm limits `l=12.00,h=23.00`; numbers become JSON numbers, anything
//!   else a string.
//!
//! A line without tabs is split on runs of spaces instead (the date and
//! the clock time are then two words), so a line copied from a terminal or
//! a log still parses.

use crate::error::{ParseError, ParseErrorKind};
use std::borrow::Cow;

use crate::reading::{ExtraRef, RESERVED, Reading, ReadingRef, ValueRef, valid_serial};
use crate::time::Timestamp;

/// Options of the iButton format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IbuttonOptions {
    /// The senders' zone for times without one, in seconds east of UTC
    /// (default 0: UTC).
    pub utc_offset_secs: i32,
}

/// A word of the line and its 1-based column.
type Word<'a> = (usize, &'a str);

/// Parses one line (no line terminator).
///
/// # Errors
/// What is wrong with the line, and where.
pub fn parse_line(line: &[u8], opts: &IbuttonOptions) -> Result<Reading, ParseError> {
    let mut extra = Vec::new();
    let r = parse_into(line, *opts, &mut extra)?;
    Ok(r.into_reading(extra))
}

/// [`parse_line`] without copying: the reading borrows from `line`, and
/// its extra fields are left in `extra` (cleared first).
pub(crate) fn parse_into<'a>(
    line: &'a [u8],
    opts: IbuttonOptions,
    extra: &mut Vec<ExtraRef<'a>>,
) -> Result<ReadingRef<'a>, ParseError> {
    extra.clear();
    let line = std::str::from_utf8(line)
        .map_err(|e| ParseError::new(e.valid_up_to() + 1, ParseErrorKind::NotUtf8))?;
    let mut words: [Option<Word<'_>>; 4] = [None; 4];
    if line.contains('\t') {
        let mut col = 1;
        for (i, w) in line.split('\t').enumerate() {
            match words.get_mut(i) {
                Some(slot) => *slot = Some((col, w)),
                None => return Err(ParseError::new(col, ParseErrorKind::Trailing)),
            }
            col += w.len() + 1;
        }
    } else {
        // date, clock, serial, reading, extras
        let mut it = split_spaces(line);
        let date = it.next();
        let clock = it.next();
        words[0] = match (date, clock) {
            (Some((c, _)), Some((c2, w2))) => Some((c, &line[c - 1..c2 - 1 + w2.len()])),
            (Some(d), None) => Some(d),
            _ => None,
        };
        for slot in &mut words[1..] {
            *slot = it.next();
        }
        if let Some((c, _)) = it.next() {
            return Err(ParseError::new(c, ParseErrorKind::Trailing));
        }
    }
    let end = line.len() + 1;
    let (tc, ts) = words[0].ok_or(ParseError::new(end, ParseErrorKind::Missing("time")))?;
    let time = Timestamp::parse_calendar(ts.as_bytes(), opts.utc_offset_secs)
        .map_err(|e| ParseError::time(tc, e))?;
    let (sc, serial) = words[1].ok_or(ParseError::new(end, ParseErrorKind::Missing("serial")))?;
    if !valid_serial(serial) {
        return Err(ParseError::new(sc, ParseErrorKind::Serial));
    }
    let (rc, reading) = words[2].ok_or(ParseError::new(end, ParseErrorKind::Missing("reading")))?;
    let value = number(reading).ok_or(ParseError::new(rc, ParseErrorKind::Reading))?;
    if let Some((ec, extras)) = words[3] {
        let mut col = ec;
        for pair in extras.split(',') {
            let Some((name, v)) = pair.split_once('=') else {
                return Err(ParseError::new(col, ParseErrorKind::Extra));
            };
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(ParseError::new(col, ParseErrorKind::Extra));
            }
            if RESERVED.contains(&name) || extra.iter().any(|(n, _)| n == name) {
                return Err(ParseError::new(col, ParseErrorKind::DuplicateName(name.to_owned())));
            }
            let v = number(v).map_or(ValueRef::Str(Cow::Borrowed(v)), ValueRef::Float);
            extra.push((Cow::Borrowed(name), v));
            col += pair.len() + 1;
        }
    }
    Ok(ReadingRef { time, serial: Cow::Borrowed(serial), value: ValueRef::Float(value) })
}

/// Words separated by runs of spaces, with their columns.
fn split_spaces(line: &str) -> impl Iterator<Item = Word<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = line.get(at..)?;
        let skip = rest.len() - rest.trim_start_matches(' ').len();
        let start = at + skip;
        let word = line.get(start..)?.split(' ').next().filter(|w| !w.is_empty())?;
        at = start + word.len();
        Some((start + 1, word))
    })
}

/// A finite decimal number: digits, sign, point and exponent only (so no
/// `inf`, `NaN` or hex).
pub(crate) fn number(s: &str) -> Option<f64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::Value;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Reading, ParseError> {
        parse_line(s.as_bytes(), &IbuttonOptions::default())
    }

    fn kind(s: &str) -> (usize, ParseErrorKind) {
        let e = parse(s).unwrap_err();
        (e.column, e.kind)
    }

    #[test]
    fn notebook_line() {
        let r = parse("2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93").unwrap();
        assert_eq!(r.time, Timestamp::from_unix(1_310_868_092, 953_335_000).unwrap());
        assert_eq!(r.serial, "10E8C214000000E4");
        assert_eq!(r.value, Value::Float(18.93));
        assert!(r.extra.is_empty());
    }

    #[test]
    fn extras_and_space_separated() {
        let want = Reading {
            time: Timestamp::from_unix(1_310_868_092, 953_335_000).unwrap(),
            serial: "10E8C214000000E4".into(),
            value: Value::Float(18.93),
            extra: vec![
                ("l".into(), Value::Float(12.0)),
                ("h".into(), Value::Float(23.0)),
                ("room".into(), Value::Str("den".into())),
            ],
        };
        assert_eq!(
            parse("2011/07/17 02:01:32.953335\t10E8C214000000E4\t18.93\tl=12.00,h=23.00,room=den")
                .unwrap(),
            want
        );
        // The sample as the notebook's gist prints it (spaces).
        assert_eq!(
            parse("2011/07/17 02:01:32.953335 10E8C214000000E4  18.93 l=12.00,h=23.00,room=den")
                .unwrap(),
            want
        );
    }

    #[test]
    fn zone_option() {
        let o = IbuttonOptions { utc_offset_secs: -7 * 3600 };
        let r = parse_line(b"2011/07/16 19:01:32\tAB\t1", &o).unwrap();
        assert_eq!(r.time.unix_secs(), 1_310_868_092);
        // An explicit zone wins over the option.
        let r = parse_line(b"2011-07-17T02:01:32Z\tAB\t1", &o).unwrap();
        assert_eq!(r.time.unix_secs(), 1_310_868_092);
    }

    #[test]
    fn malformed_lines_say_where() {
        use ParseErrorKind as K;
        assert_eq!(kind(""), (1, K::Missing("time")));
        assert_eq!(kind("2011/07/17 02:01:32"), (20, K::Missing("serial")));
        assert_eq!(kind("2011/07/17 02:01:32\tAB"), (23, K::Missing("reading")));
        assert_eq!(kind("2011/07/17 25:01:32\tAB\t1"), (1, K::TimeRange));
        assert_eq!(kind("17.07.2011 02:01:32\tAB\t1"), (1, K::TimeSyntax));
        assert_eq!(kind("2011/07/17 02:01:32\tA/B\t1"), (21, K::Serial));
        assert_eq!(kind("2011/07/17 02:01:32\t\t1"), (21, K::Serial));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\tNaN"), (24, K::Reading));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\tinf"), (24, K::Reading));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1e999"), (24, K::Reading));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1\tl=1,h"), (30, K::Extra));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1\t=1"), (26, K::Extra));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1\tl=1,l=2"), (30, K::DuplicateName("l".into())));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1\tts=1"), (26, K::DuplicateName("ts".into())));
        assert_eq!(kind("2011/07/17 02:01:32\tAB\t1\tl=1\tx"), (30, K::Trailing));
        assert_eq!(kind("2011/07/17 02:01:32 AB 1 l=1 x"), (30, K::Trailing));
        assert_eq!(
            parse_line(b"2011/07/17 02:01:32\tA\xffB\t1", &IbuttonOptions::default())
                .unwrap_err()
                .kind,
            K::NotUtf8
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_line(&s, &IbuttonOptions::default());
        }

        #[test]
        fn never_panics_on_near_misses(s in "[0-9/: .\t=,A-Fa-z-]{0,60}") {
            let _ = parse(&s);
        }

        /// A line written from parts parses back to those parts.
        #[test]
        fn parts_round_trip(secs in 0i64..253_402_300_799, micros in 0u32..1_000_000,
                            serial in "[0-9A-F]{16}", value in -1000.0f64..1000.0,
                            tabs in any::<bool>()) {
            let t = Timestamp::from_unix(secs, micros * 1000).unwrap();
            let iso = t.to_string();
            // YYYY/MM/DD HH:MM:SS.ffffff, as the collector writes it.
            let notebook = format!("{} {}", iso[..10].replace('-', "/"), &iso[11..26]);
            let sep = if tabs { "\t" } else { " " };
            let r = parse(&format!("{notebook}{sep}{serial}{sep}{value}")).unwrap();
            prop_assert_eq!(r.time, t);
            prop_assert_eq!(r.serial, serial);
            prop_assert_eq!(r.value, Value::Float(value));
        }
    }
}
