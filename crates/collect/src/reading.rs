//! [`Reading`]: one sensor value with its time, serial and extra fields,
//! and how it is stored — the key `reading/<iso-time>_<serial>`, the key
//! `sensor/<serial>/latest`, and a JSON object as the value.

use std::fmt::Write as _;

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
        let mut k = String::with_capacity(READING_PREFIX.len() + ISO_LEN + 1 + self.serial.len());
        k.push_str(READING_PREFIX);
        self.time.write_iso(&mut k);
        k.push('_');
        k.push_str(&self.serial);
        k
    }

    /// `sensor/<serial>/latest`.
    pub fn latest_key(&self) -> String {
        latest_key(&self.serial)
    }

    /// The stored value: `{"ts":…,"serial":…,"reading":…, extra…}`.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(64 + self.serial.len() + 24 * self.extra.len());
        s.push_str("{\"ts\":\"");
        self.time.write_iso(&mut s);
        s.push_str("\",\"serial\":");
        json_str(&mut s, &self.serial);
        s.push_str(",\"reading\":");
        json_value(&mut s, &self.value);
        for (name, v) in &self.extra {
            s.push(',');
            json_str(&mut s, name);
            s.push(':');
            json_value(&mut s, v);
        }
        s.push('}');
        s
    }
}

/// `sensor/<serial>/latest`.
pub fn latest_key(serial: &str) -> String {
    format!("sensor/{serial}/latest")
}

fn json_value(out: &mut String, v: &Value) {
    // Writing into a String cannot fail.
    let _ = match v {
        // Debug prints the shortest text that reads back as the same f64,
        // with an exponent for very large or small magnitudes ("1e300"):
        // valid JSON for every finite value, which is all a Value holds.
        Value::Float(f) => write!(out, "{f:?}"),
        Value::Int(i) => write!(out, "{i}"),
        Value::UInt(u) => write!(out, "{u}"),
        Value::Bool(b) => write!(out, "{b}"),
        Value::Str(s) => {
            json_str(out, s);
            Ok(())
        }
    };
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
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
