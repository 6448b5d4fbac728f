//! `InfluxDB` line protocol (1.x), one point per line:
//!
//! ```text
//! measurement[,tag=value…] field=value[,field=value…] [timestamp]
//! ```
//!
//! Escapes as `InfluxDB` reads them: `\,` and `\ ` in measurements; `\,`,
//! `\=` and `\ ` in tag keys, tag values and field keys; `\"` and `\\` in
//! string fields. A backslash before anything else is itself. Field values
//! are floats (`1`, `-1.5e3`; finite only), integers (`1i`), unsigned
//! integers (`1u`), strings (`"…"`) and booleans (`t`, `T`, `true`,
//! `True`, `TRUE` and the same for false).
//!
//! How a point becomes a [`Reading`]:
//!
//! * **serial** — the value of the tag named [`InfluxOptions::serial_tag`]
//!   (default `serial`), else the measurement;
//! * **reading** — the field named [`InfluxOptions::reading_field`]
//!   (default `reading`), else the point's first field;
//! * **extra** — `measurement`, then the other tags (as strings), then the
//!   other fields, in line order; a name used twice (or one of `ts`,
//!   `serial`, `reading`, `measurement`) makes the line malformed rather
//!   than silently dropping one value;
//! * **time** — the timestamp in [`InfluxOptions::precision`] units, or,
//!   like `InfluxDB`, the time the datagram arrived when there is none.

use crate::error::{ParseError, ParseErrorKind as K};
use crate::ibutton::number;
use std::borrow::Cow;

use crate::reading::{ExtraRef, RESERVED, Reading, ReadingRef, ValueRef, valid_serial};
use crate::time::Timestamp;

/// Units of line protocol timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// Nanoseconds (`InfluxDB`'s default).
    #[default]
    Nanoseconds,
    /// Microseconds.
    Microseconds,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Precision {
    fn nanos(self) -> i64 {
        match self {
            Precision::Nanoseconds => 1,
            Precision::Microseconds => 1_000,
            Precision::Milliseconds => 1_000_000,
            Precision::Seconds => 1_000_000_000,
        }
    }
}

/// Options of the line protocol format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfluxOptions {
    /// The tag that names the sensor (default `serial`).
    pub serial_tag: String,
    /// The field that holds the reading (default `reading`).
    pub reading_field: String,
    /// Timestamp units (default nanoseconds).
    pub precision: Precision,
}

impl Default for InfluxOptions {
    fn default() -> InfluxOptions {
        InfluxOptions {
            serial_tag: "serial".into(),
            reading_field: "reading".into(),
            precision: Precision::Nanoseconds,
        }
    }
}

struct Scan<'a> {
    s: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn col(&self) -> usize {
        self.at + 1
    }

    /// Bytes up to the first unescaped byte of `stops` (or the end),
    /// unescaping `\X` for X in `escapable` (borrowed when there is none).
    fn token(&mut self, stops: &[u8], escapable: &[u8]) -> Cow<'a, str> {
        let start = self.at;
        let mut out: Option<String> = None;
        let mut run = start;
        while let Some(b) = self.peek() {
            if stops.contains(&b) {
                break;
            }
            if b == b'\\' && self.b.get(self.at + 1).is_some_and(|n| escapable.contains(n)) {
                let o = out.get_or_insert_with(String::new);
                // Byte positions next to ASCII are char boundaries.
                o.push_str(&self.s[run..self.at]);
                run = self.at + 1;
                self.at += 2;
                continue;
            }
            self.at += 1;
        }
        match out {
            None => Cow::Borrowed(&self.s[start..self.at]),
            Some(mut o) => {
                o.push_str(&self.s[run..self.at]);
                Cow::Owned(o)
            }
        }
    }

    fn spaces(&mut self) -> usize {
        let start = self.at;
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        self.at - start
    }

    /// A string field's body after the opening quote, through the closing
    /// one (borrowed when it has no escape).
    fn string(&mut self) -> Result<Cow<'a, str>, ParseError> {
        let open = self.col() - 1;
        let mut out: Option<String> = None;
        let start = self.at;
        let mut run = self.at;
        loop {
            match self.peek() {
                None => return Err(ParseError::new(open, K::UnterminatedString)),
                Some(b'"') => {
                    let body = match out {
                        None => Cow::Borrowed(&self.s[start..self.at]),
                        Some(mut o) => {
                            o.push_str(&self.s[run..self.at]);
                            Cow::Owned(o)
                        }
                    };
                    self.at += 1;
                    return Ok(body);
                }
                Some(b'\\') if matches!(self.b.get(self.at + 1), Some(b'"' | b'\\')) => {
                    out.get_or_insert_with(String::new).push_str(&self.s[run..self.at]);
                    run = self.at + 1;
                    self.at += 2;
                }
                Some(_) => self.at += 1,
            }
        }
    }
}

const MEASUREMENT_ESC: &[u8] = b", ";
const KEY_ESC: &[u8] = b",= ";

/// Parses one line (no line terminator, not a comment). `received` is used
/// when the point has no timestamp.
///
/// # Errors
/// What is wrong with the line, and where.
pub fn parse_line(
    line: &[u8],
    opts: &InfluxOptions,
    received: Timestamp,
) -> Result<Reading, ParseError> {
    let mut extra = Vec::new();
    let r = parse_into(line, opts, received, &mut extra, &mut Vec::new())?;
    Ok(r.into_reading(extra))
}

/// [`parse_line`] without copying: the reading borrows from `line`, and
/// its extra fields are left in `extra` (cleared first). `cols` is scratch
/// space (the column of each extra field, for errors).
pub(crate) fn parse_into<'a>(
    line: &'a [u8],
    opts: &InfluxOptions,
    received: Timestamp,
    extra: &mut Vec<ExtraRef<'a>>,
    cols: &mut Vec<usize>,
) -> Result<ReadingRef<'a>, ParseError> {
    extra.clear();
    cols.clear();
    let s =
        std::str::from_utf8(line).map_err(|e| ParseError::new(e.valid_up_to() + 1, K::NotUtf8))?;
    let mut c = Scan { s, b: line, at: 0 };
    let measurement = c.token(b", ", MEASUREMENT_ESC);
    if measurement.is_empty() {
        return Err(ParseError::new(1, K::Measurement));
    }
    // `extra` gets the measurement, the tags, then the fields, in line
    // order; the serial tag and the reading field are taken out after.
    extra.push((Cow::Borrowed("measurement"), ValueRef::Str(measurement)));
    cols.push(1);
    while c.peek() == Some(b',') {
        c.at += 1;
        let col = c.col();
        let key = c.token(b",= ", KEY_ESC);
        if c.peek() != Some(b'=') || key.is_empty() {
            return Err(ParseError::new(col, K::Tag));
        }
        c.at += 1;
        let value = c.token(b",= ", KEY_ESC);
        if value.is_empty() || c.peek() == Some(b'=') {
            return Err(ParseError::new(col, K::Tag));
        }
        extra.push((key, ValueRef::Str(value)));
        cols.push(col);
    }
    let first_field = extra.len();
    if c.spaces() == 0 || c.peek().is_none() {
        return Err(ParseError::new(c.col(), K::Missing("fields")));
    }
    loop {
        let col = c.col();
        let key = c.token(b",= ", KEY_ESC);
        if c.peek() != Some(b'=') || key.is_empty() {
            return Err(ParseError::new(col, K::Field));
        }
        if extra[first_field..].iter().any(|(k, _)| *k == key) {
            return Err(ParseError::new(col, K::DuplicateName(key.into_owned())));
        }
        c.at += 1;
        let vcol = c.col();
        let value = if c.peek() == Some(b'"') {
            c.at += 1;
            ValueRef::Str(c.string()?)
        } else {
            let start = c.at;
            while c.peek().is_some_and(|b| b != b',' && b != b' ') {
                c.at += 1;
            }
            typed(&s[start..c.at]).ok_or(ParseError::new(vcol, K::FieldValue))?
        };
        extra.push((key, value));
        cols.push(col);
        match c.peek() {
            Some(b',') => c.at += 1,
            Some(b' ') | None => break,
            Some(_) => return Err(ParseError::new(c.col(), K::Field)),
        }
    }
    c.spaces();
    let time = if c.peek().is_some() {
        let col = c.col();
        let start = c.at;
        while c.peek().is_some_and(|b| b != b' ') {
            c.at += 1;
        }
        let t = &s[start..c.at];
        let n = integer(t)
            .and_then(|n| n.checked_mul(opts.precision.nanos()))
            .ok_or(ParseError::new(col, K::Timestamp))?;
        c.spaces();
        if c.peek().is_some() {
            return Err(ParseError::new(c.col(), K::Trailing));
        }
        Timestamp::from_unix_nanos(n)
    } else {
        received
    };

    let (serial, value) = take_serial_and_reading(extra, cols, first_field, opts)?;
    Ok(ReadingRef { time, serial, value })
}

/// Takes the serial (the serial tag, else the measurement) and the reading
/// field (by name, else the first field) out of a point's `extra` —
/// measurement, tags from 1, fields from `first_field` — and checks that
/// the names left are unique.
fn take_serial_and_reading<'a>(
    extra: &mut Vec<ExtraRef<'a>>,
    cols: &mut Vec<usize>,
    first_field: usize,
    opts: &InfluxOptions,
) -> Result<(Cow<'a, str>, ValueRef<'a>), ParseError> {
    // The reading field first (its index does not move when the serial
    // tag, which comes before it, is taken out).
    let reading_at = extra[first_field..]
        .iter()
        .position(|(k, _)| *k == opts.reading_field)
        .map_or(first_field, |i| first_field + i);
    let serial_at = extra[1..first_field].iter().position(|(k, _)| *k == opts.serial_tag);
    let value = extra.remove(reading_at).1;
    cols.remove(reading_at);
    let (scol, serial) = match serial_at {
        Some(i) => {
            let ValueRef::Str(serial) = extra.remove(1 + i).1 else {
                unreachable!("tags are strings")
            };
            (cols.remove(1 + i), serial)
        }
        None => match &extra[0].1 {
            ValueRef::Str(m) => (1, m.clone()),
            _ => unreachable!("the measurement is a string"),
        },
    };
    if !valid_serial(&serial) {
        return Err(ParseError::new(scol, K::Serial));
    }
    // Names must be unique: none reserved, none twice (the measurement's
    // own name included).
    for i in 1..extra.len() {
        let name = &extra[i].0;
        if RESERVED.contains(&name.as_ref()) || extra[..i].iter().any(|(n, _)| n == name) {
            return Err(ParseError::new(cols[i], K::DuplicateName(name.to_string())));
        }
    }
    Ok((serial, value))
}

/// `-?[0-9]+` as an i64.
fn integer(t: &str) -> Option<i64> {
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn typed(t: &str) -> Option<ValueRef<'static>> {
    match t {
        "t" | "T" | "true" | "True" | "TRUE" => return Some(ValueRef::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Some(ValueRef::Bool(false)),
        _ => {}
    }
    if let Some(i) = t.strip_suffix('i') {
        return integer(i).map(ValueRef::Int);
    }
    if let Some(u) = t.strip_suffix('u') {
        if u.is_empty() || !u.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        return u.parse().ok().map(ValueRef::UInt);
    }
    // InfluxDB takes no leading '+'.
    if t.starts_with('+') {
        return None;
    }
    number(t).map(ValueRef::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::Value;
    use proptest::prelude::*;

    const RX: Timestamp = Timestamp::EPOCH;

    fn parse(s: &str) -> Result<Reading, ParseError> {
        parse_line(s.as_bytes(), &InfluxOptions::default(), RX)
    }

    fn err(s: &str) -> (usize, K) {
        let e = parse(s).unwrap_err();
        (e.column, e.kind)
    }

    fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    #[test]
    fn sensor_point() {
        let r = parse(
            "temp,serial=10E8C214000000E4,room=den reading=18.93,l=12,h=23 1310868092953335000",
        )
        .unwrap();
        assert_eq!(r.time, Timestamp::from_unix(1_310_868_092, 953_335_000).unwrap());
        assert_eq!(r.serial, "10E8C214000000E4");
        assert_eq!(r.value, Value::Float(18.93));
        assert_eq!(
            r.extra,
            vec![
                ("measurement".into(), str("temp")),
                ("room".into(), str("den")),
                ("l".into(), Value::Float(12.0)),
                ("h".into(), Value::Float(23.0)),
            ]
        );
    }

    /// The examples of `InfluxDB` 1.x's line protocol reference.
    #[test]
    fn reference_examples() {
        let r = parse("weather,location=us-midwest temperature=82 1465839830100400200").unwrap();
        assert_eq!((r.serial.as_str(), &r.value), ("weather", &Value::Float(82.0)));
        assert_eq!(r.time, Timestamp::from_unix_nanos(1_465_839_830_100_400_200));
        assert_eq!(r.extra[1], ("location".into(), str("us-midwest")));

        // No timestamp: the arrival time.
        let r = parse("weather,location=us-midwest temperature=82").unwrap();
        assert_eq!(r.time, RX);

        let r = parse(
            "weather,location=us-midwest temperature=82,bug_concentration=98 1465839830100400200",
        )
        .unwrap();
        assert_eq!(r.extra[2], ("bug_concentration".into(), Value::Float(98.0)));

        let r = parse(r#"weather,location=us-midwest temperature="too warm" 1465839830100400200"#)
            .unwrap();
        assert_eq!(r.value, str("too warm"));

        for (t, v) in [
            ("t", true),
            ("T", true),
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("f", false),
            ("F", false),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            assert_eq!(parse(&format!("weather too_hot={t}")).unwrap().value, Value::Bool(v));
        }
        assert_eq!(parse("m v=-12i").unwrap().value, Value::Int(-12));
        assert_eq!(parse("m v=18446744073709551615u").unwrap().value, Value::UInt(u64::MAX));
        assert_eq!(parse("m v=-1.5e3").unwrap().value, Value::Float(-1500.0));

        // Escapes.
        let r = parse(
            r#"wea\,ther\ x,serial=S1,loc\=a\ b=us\,mid\=west\ x temp\ f=1,s="a\"b\\c\d, e=f" 1"#,
        )
        .unwrap();
        assert_eq!(r.serial, "S1");
        // A measurement with a space cannot name a sensor.
        assert_eq!(err(r"wea\ ther v=1"), (1, K::Serial));
        assert_eq!(
            r.extra,
            vec![
                ("measurement".into(), str("wea,ther x")),
                ("loc=a b".into(), str("us,mid=west x")),
                ("s".into(), str(r#"a"b\c\d, e=f"#)),
            ]
        );
        assert_eq!(r.value, Value::Float(1.0));
        // A backslash before other characters stays.
        assert_eq!(parse(r"m\x,t=a\b v=1").unwrap().extra[0].1, str(r"m\x"));
    }

    #[test]
    fn options() {
        let o = InfluxOptions {
            serial_tag: "sensor".into(),
            reading_field: "celsius".into(),
            precision: Precision::Seconds,
        };
        let r = parse_line(b"t,sensor=AB,x=1 f=5,celsius=18.5 1310868092", &o, RX).unwrap();
        assert_eq!(r.serial, "AB");
        assert_eq!(r.value, Value::Float(18.5));
        assert_eq!(r.time.unix_secs(), 1_310_868_092);
        assert_eq!(r.extra.len(), 3);
        // Out of range once scaled.
        assert_eq!(parse_line(b"t f=1 9223372037", &o, RX).unwrap_err().kind, K::Timestamp);
        assert_eq!(
            parse_line(
                b"t f=1 -1",
                &InfluxOptions { precision: Precision::Milliseconds, ..o.clone() },
                RX
            )
            .unwrap()
            .time,
            Timestamp::from_unix_nanos(-1_000_000)
        );
    }

    #[test]
    fn malformed_lines_say_where() {
        assert_eq!(err(",t=1 v=1"), (1, K::Measurement));
        assert_eq!(err("m"), (2, K::Missing("fields")));
        assert_eq!(err("m "), (3, K::Missing("fields")));
        assert_eq!(err("m,t v=1"), (3, K::Tag));
        assert_eq!(err("m,t= v=1"), (3, K::Tag));
        assert_eq!(err("m,=a v=1"), (3, K::Tag));
        assert_eq!(err("m,t=a=b v=1"), (3, K::Tag));
        assert_eq!(err("m v"), (3, K::Field));
        assert_eq!(err("m =1"), (3, K::Field));
        assert_eq!(err("m v=1,"), (7, K::Field));
        assert_eq!(err("m v="), (5, K::FieldValue));
        assert_eq!(err("m v=abc"), (5, K::FieldValue));
        assert_eq!(err("m v=+1"), (5, K::FieldValue));
        assert_eq!(err("m v=NaN"), (5, K::FieldValue));
        assert_eq!(err("m v=1e400"), (5, K::FieldValue));
        assert_eq!(err("m v=1.5i"), (5, K::FieldValue));
        assert_eq!(err("m v=-1u"), (5, K::FieldValue));
        assert_eq!(err("m v=99999999999999999999i"), (5, K::FieldValue));
        assert_eq!(err(r#"m v="abc"#), (5, K::UnterminatedString));
        assert_eq!(err(r#"m v="a"x"#), (8, K::Field));
        assert_eq!(err("m v=1 12x"), (7, K::Timestamp));
        assert_eq!(err("m v=1 99999999999999999999"), (7, K::Timestamp));
        assert_eq!(err("m v=1 1 2"), (9, K::Trailing));
        assert_eq!(err("m,serial=a/b v=1"), (3, K::Serial));
        assert_eq!(err("m,ts=1 v=1"), (3, K::DuplicateName("ts".into())));
        assert_eq!(err("m,a=1 v=1,a=2"), (11, K::DuplicateName("a".into())));
        assert_eq!(err("m v=1,v=2"), (7, K::DuplicateName("v".into())));
        assert_eq!(err("m v=2,measurement=1"), (7, K::DuplicateName("measurement".into())));
        assert_eq!(err("m reading=2,v=1,reading=3"), (17, K::DuplicateName("reading".into())));
        assert_eq!(
            parse_line(b"m v=\"\xff\"", &InfluxOptions::default(), RX).unwrap_err(),
            ParseError::new(6, K::NotUtf8)
        );
    }

    /// A line encoder written here from the reference's escaping rules.
    fn escape(s: &str, specials: &[char]) -> String {
        let mut o = String::new();
        for ch in s.chars() {
            if specials.contains(&ch) {
                o.push('\\');
            }
            o.push(ch);
        }
        o
    }

    fn field_value() -> impl Strategy<Value = (String, Value)> {
        prop_oneof![
            (-1e12f64..1e12).prop_map(|f| (format!("{f:?}"), Value::Float(f))),
            any::<i64>().prop_map(|i| (format!("{i}i"), Value::Int(i))),
            any::<u64>().prop_map(|u| (format!("{u}u"), Value::UInt(u))),
            any::<bool>().prop_map(|b| (b.to_string(), Value::Bool(b))),
            "[ -~é]{0,12}"
                .prop_map(|s| (format!("\"{}\"", escape(&s, &['"', '\\'])), Value::Str(s))),
        ]
    }

    proptest! {
        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_line(&s, &InfluxOptions::default(), RX);
        }

        #[test]
        fn never_panics_on_near_misses(s in r#"[a-z,= "\\0-9.eEiutf-]{0,40}"#) {
            let _ = parse(&s);
        }

        /// Points encoded with every escape parse back to their parts.
        #[test]
        fn encoded_points_round_trip(
            m in "[a-z ,=\\\\é]{1,8}",
            serial in "[A-F0-9,= ]{1,12}",
            tag in ("[a-z]{1,6}", "[a-z0-9 ,=]{1,8}"),
            reading in field_value(),
            other in ("[a-z ,=]{1,6}", field_value()),
            ts in proptest::option::of(any::<i64>()),
        ) {
            prop_assume!(!m.ends_with('\\'));
            prop_assume!(serial.chars().all(|c| !c.is_whitespace()));
            prop_assume!(!RESERVED.contains(&tag.0.as_str()) && tag.0 != "measurement" && tag.0 != "serial");
            prop_assume!(!RESERVED.contains(&other.0.as_str()) && other.0 != tag.0 && other.0 != "measurement");
            let line = format!(
                "{},serial={},{}={} reading={},{}={}{}",
                escape(&m, &[',', ' ']),
                escape(&serial, &[',', '=', ' ']),
                tag.0, escape(&tag.1, &[',', '=', ' ']),
                reading.0,
                escape(&other.0, &[',', '=', ' ']), (other.1).0,
                ts.map(|t| format!(" {t}")).unwrap_or_default(),
            );
            let r = parse(&line).map_err(|e| TestCaseError::fail(format!("{line}: {e}")))?;
            prop_assert_eq!(&r.serial, &serial);
            prop_assert_eq!(&r.value, &reading.1);
            prop_assert_eq!(r.time, ts.map_or(RX, Timestamp::from_unix_nanos));
            prop_assert_eq!(
                r.extra,
                vec![
                    ("measurement".to_owned(), Value::Str(m)),
                    (tag.0, Value::Str(tag.1)),
                    (other.0, (other.1).1),
                ]
            );
        }
    }
}
