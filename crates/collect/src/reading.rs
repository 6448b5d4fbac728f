//! [`Reading`]: one sensor value with its time, serial and extra fields,
//! and how it is stored — the key `reading/<iso-time>_<serial>`, the key
//! `sensor/<serial>/latest`, and a JSON object as the value.

use std::borrow::Cow;
use std::io::Write as _;

use crate::time::{ISO_LEN, Timestamp};

/// Longest serial (bytes). Keys stay far below memcached's 250-byte limit:
/// `reading/` + 30-byte time + `_` + serial is at most 167 bytes.
pub const MAX_SERIAL_LEN: usize = 128;

/// Prefix of every reading's key.
pub const READING_PREFIX: &str = "reading/";

/// A field value: `InfluxDB` line protocol's five types (the iButton format
/// produces floats and strings).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A finite float.
    Float(f64),
    /// A signed integer (`12i`).
    Int(i64),
    /// An unsigned integer (`12u`).
    UInt(u64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

/// One reading, parsed and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// When it was taken.
    pub time: Timestamp,
    /// The sensor's serial (see [`valid_serial`]).
    pub serial: String,
    /// The value.
    pub value: Value,
    /// Other fields, in input order; names are unique and none is `ts`,
    /// `serial` or `reading`.
    pub extra: Vec<(String, Value)>,
}

/// Whether `s` can be a serial: 1–[`MAX_SERIAL_LEN`] bytes, no whitespace,
/// no control character, no `/` (it is a path segment of
/// `sensor/<serial>/latest`).
pub fn valid_serial(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SERIAL_LEN
        && !s.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/')
}

/// The JSON names a reading's own fields use; extra fields may not.
pub(crate) const RESERVED: [&str; 3] = ["ts", "serial", "reading"];

impl Reading {
    /// `reading/<iso-time>_<serial>`: one key per sensor and instant, so a
    /// duplicated datagram overwrites itself, and keys sort by time.
    pub fn key(&self) -> String {
        let mut k = Vec::with_capacity(READING_PREFIX.len() + ISO_LEN + 1 + self.serial.len());
        write_key(&mut k, &self.time.iso(), &self.serial);
        utf8(k)
    }

    /// `sensor/<serial>/latest`.
    pub fn latest_key(&self) -> String {
        latest_key(&self.serial)
    }

    /// The stored value: `{"ts":…,"serial":…,"reading":…, extra…}`.
    pub fn to_json(&self) -> String {
        let mut s = Vec::with_capacity(64 + self.serial.len() + 24 * self.extra.len());
        write_json(
            &mut s,
            &self.time.iso(),
            &self.serial,
            &self.value.as_ref(),
            self.extra.iter().map(|(n, v)| (n.as_str(), v.as_ref())),
        );
        utf8(s)
    }
}

impl Value {
    /// The value borrowed.
    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Float(f) => ValueRef::Float(*f),
            Value::Int(i) => ValueRef::Int(*i),
            Value::UInt(u) => ValueRef::UInt(*u),
            Value::Str(s) => ValueRef::Str(Cow::Borrowed(s)),
            Value::Bool(b) => ValueRef::Bool(*b),
        }
    }
}

/// A [`Value`] that borrows its string from the datagram when it can (an
/// escaped string is unescaped into its own).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Float(f64),
    Int(i64),
    UInt(u64),
    Str(Cow<'a, str>),
    Bool(bool),
}

impl ValueRef<'_> {
    /// The same value, borrowing from this one.
    pub(crate) fn reborrow(&self) -> ValueRef<'_> {
        match self {
            ValueRef::Str(s) => ValueRef::Str(Cow::Borrowed(s)),
            ValueRef::Float(f) => ValueRef::Float(*f),
            ValueRef::Int(i) => ValueRef::Int(*i),
            ValueRef::UInt(u) => ValueRef::UInt(*u),
            ValueRef::Bool(b) => ValueRef::Bool(*b),
        }
    }

    pub(crate) fn into_owned(self) -> Value {
        match self {
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::UInt(u) => Value::UInt(u),
            ValueRef::Str(s) => Value::Str(s.into_owned()),
            ValueRef::Bool(b) => Value::Bool(b),
        }
    }
}

/// An extra field as parsed: its name and value, borrowed where possible.
pub(crate) type ExtraRef<'a> = (Cow<'a, str>, ValueRef<'a>);

/// A reading as parsed, borrowing from the datagram; its extra fields are
/// in a vector the caller passed to the parser (reused from line to line,
/// so parsing allocates nothing for a line without escapes).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReadingRef<'a> {
    pub(crate) time: Timestamp,
    pub(crate) serial: Cow<'a, str>,
    pub(crate) value: ValueRef<'a>,
}

impl ReadingRef<'_> {
    /// The owned [`Reading`], with these extra fields.
    pub(crate) fn into_reading(self, extra: Vec<ExtraRef<'_>>) -> Reading {
        Reading {
            time: self.time,
            serial: self.serial.into_owned(),
            value: self.value.into_owned(),
            extra: extra.into_iter().map(|(n, v)| (n.into_owned(), v.into_owned())).collect(),
        }
    }
}

/// Appends `reading/<iso>_<serial>`.
pub(crate) fn write_key(out: &mut Vec<u8>, iso: &[u8; ISO_LEN], serial: &str) {
    out.extend_from_slice(READING_PREFIX.as_bytes());
    out.extend_from_slice(iso);
    out.push(b'_');
    out.extend_from_slice(serial.as_bytes());
}

/// Appends `sensor/<serial>/latest`.
pub(crate) fn write_latest_key(out: &mut Vec<u8>, serial: &str) {
    out.extend_from_slice(b"sensor/");
    out.extend_from_slice(serial.as_bytes());
    out.extend_from_slice(b"/latest");
}

/// Appends a reading's JSON: `{"ts":…,"serial":…,"reading":…, extra…}`.
pub(crate) fn write_json<'v>(
    out: &mut Vec<u8>,
    iso: &[u8; ISO_LEN],
    serial: &str,
    value: &ValueRef<'_>,
    extra: impl IntoIterator<Item = (&'v str, ValueRef<'v>)>,
) {
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(iso);
    out.extend_from_slice(b"\",\"serial\":");
    json_str(out, serial);
    out.extend_from_slice(b",\"reading\":");
    json_value(out, value);
    for (name, v) in extra {
        out.push(b',');
        json_str(out, name);
        out.push(b':');
        json_value(out, &v);
    }
    out.push(b'}');
}

/// `sensor/<serial>/latest`.
pub fn latest_key(serial: &str) -> String {
    format!("sensor/{serial}/latest")
}

/// Bytes this module wrote from `str`s and ASCII: valid UTF-8.
fn utf8(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn json_value(out: &mut Vec<u8>, v: &ValueRef<'_>) {
    // Writing into a Vec cannot fail.
    let _ = match v {
        // Debug prints the shortest text that reads back as the same f64,
        // with an exponent for very large or small magnitudes ("1e300"):
        // valid JSON for every finite value, which is all a Value holds.
        ValueRef::Float(f) => write!(out, "{f:?}"),
        ValueRef::Int(i) => write!(out, "{i}"),
        ValueRef::UInt(u) => write!(out, "{u}"),
        ValueRef::Bool(b) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        ValueRef::Str(s) => {
            json_str(out, s);
            Ok(())
        }
    };
}

/// A JSON string: quotes, backslashes and control characters escaped;
/// everything else (UTF-8 included) copied in runs.
fn json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let b = s.as_bytes();
    let mut run = 0;
    for (i, &c) in b.iter().enumerate() {
        let esc: [u8; 6] = match c {
            b'"' | b'\\' => [b'\\', c, 0, 0, 0, 0],
            b'\n' => *b"\\n\0\0\0\0",
            b'\r' => *b"\\r\0\0\0\0",
            b'\t' => *b"\\t\0\0\0\0",
            0..0x20 => {
                [b'\\', b'u', b'0', b'0', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]
            }
            _ => continue,
        };
        out.extend_from_slice(&b[run..i]);
        let len = if esc[1] == b'u' { 6 } else { 2 };
        out.extend_from_slice(&esc[..len]);
        run = i + 1;
    }
    out.extend_from_slice(&b[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Reading {
        Reading {
            time: Timestamp::from_unix(1_310_868_092, 953_335_000).unwrap(),
            serial: "10E8C214000000E4".into(),
            value: Value::Float(18.93),
            extra: vec![
                ("l".into(), Value::Float(12.0)),
                ("note".into(), Value::Str("a\"b\\c\n\u{1}".into())),
            ],
        }
    }

    #[test]
    fn keys() {
        let r = sample();
        assert_eq!(r.key(), "reading/2011-07-17T02:01:32.953335000Z_10E8C214000000E4");
        assert_eq!(r.latest_key(), "sensor/10E8C214000000E4/latest");
    }

    #[test]
    fn json_text() {
        assert_eq!(
            sample().to_json(),
            r#"{"ts":"2011-07-17T02:01:32.953335000Z","serial":"10E8C214000000E4","reading":18.93,"l":12.0,"note":"a\"b\\c\n\u0001"}"#
        );
    }

    #[test]
    fn serials() {
        assert!(valid_serial("10E8C214000000E4"));
        assert!(valid_serial("küche-1"));
        assert!(valid_serial(&"x".repeat(MAX_SERIAL_LEN)));
        for bad in ["", "a b", "a/b", "a\tb", "\u{7f}", "a\u{2003}b"] {
            assert!(!valid_serial(bad), "{bad:?}");
        }
        assert!(!valid_serial(&"x".repeat(MAX_SERIAL_LEN + 1)));
    }

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
            any::<i64>().prop_map(Value::Int),
            any::<u64>().prop_map(Value::UInt),
            any::<bool>().prop_map(Value::Bool),
            any::<String>().prop_map(Value::Str),
        ]
    }

    proptest! {
        /// serde_json (an independent parser) reads back every field exactly.
        #[test]
        fn json_is_valid_and_exact(v in value(), extra in proptest::collection::vec(("[a-z]{1,8}", value()), 0..4),
                                   secs in 0i64..4_000_000_000, serial in "[A-Za-z0-9é._-]{1,20}") {
            let mut seen = std::collections::HashSet::new();
            let extra: Vec<(String, Value)> = extra.into_iter()
                .filter(|(n, _)| !RESERVED.contains(&n.as_str()) && seen.insert(n.clone())).collect();
            let r = Reading { time: Timestamp::from_unix(secs, 5).unwrap(), serial, value: v, extra };
            let j: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
            let obj = j.as_object().unwrap();
            prop_assert_eq!(obj.len(), 3 + r.extra.len());
            prop_assert_eq!(obj["serial"].as_str().unwrap(), r.serial.as_str());
            prop_assert_eq!(obj["ts"].as_str().unwrap(), r.time.to_string());
            for (name, v) in std::iter::once(("reading".to_string(), r.value.clone())).chain(r.extra.clone()) {
                let got = &obj[&name];
                match v {
                    // serde_json parses with `float_roundtrip` here: exact.
                    Value::Float(f) => prop_assert_eq!(got.as_f64().unwrap().to_bits(), f.to_bits()),
                    Value::Int(i) => prop_assert_eq!(got.as_i64().unwrap(), i),
                    Value::UInt(u) => prop_assert_eq!(got.as_u64().unwrap(), u),
                    Value::Bool(b) => prop_assert_eq!(got.as_bool().unwrap(), b),
                    Value::Str(s) => prop_assert_eq!(got.as_str().unwrap(), s.as_str()),
                }
            }
        }
    }
}
