//! Printing records for `seq cat`: text lines or JSON lines.

use std::io::Write;

use anyhow::Result;
use base64::Engine;
use clap::ValueEnum;
use seqfile::Header;
use seqfile::writable::{Class, Datum};

/// How byte strings are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum BytesStyle {
    /// Lowercase hex.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// Turns records of one file into output lines.
pub(crate) struct RecordFormatter {
    key: Option<Class>,
    value: Option<Class>,
    bytes: BytesStyle,
    json: bool,
}

impl RecordFormatter {
    pub(crate) fn new(h: &Header, bytes: BytesStyle, json: bool) -> Self {
        RecordFormatter {
            key: Class::from_java_name(&h.key_class),
            value: Class::from_java_name(&h.value_class),
            bytes,
            json,
        }
    }

    /// Appends one line (with its newline) for `rec` to `out`.
    pub(crate) fn format(&self, rec: &seqfile::Record, out: &mut Vec<u8>) -> Result<()> {
        if self.json {
            let obj = serde_json::json!({
                "key": self.json_value(self.key, &rec.key)?,
                "value": self.json_value(self.value, &rec.value)?,
            });
            serde_json::to_writer(&mut *out, &obj)?;
        } else {
            self.text(self.key, &rec.key, out)?;
            out.push(b'\t');
            self.text(self.value, &rec.value, out)?;
        }
        out.push(b'\n');
        Ok(())
    }

    fn bytes_str(&self, b: &[u8]) -> String {
        match self.bytes {
            BytesStyle::Hex => hex::encode(b),
            BytesStyle::Base64 => base64::engine::general_purpose::STANDARD.encode(b),
        }
    }

    fn text(&self, class: Option<Class>, b: &bytes::Bytes, out: &mut Vec<u8>) -> Result<()> {
        match class.map(|c| Datum::decode(c, b)).transpose()? {
            None => out.extend_from_slice(self.bytes_str(b).as_bytes()),
            Some(Datum::Bytes(p)) => out.extend_from_slice(self.bytes_str(&p).as_bytes()),
            Some(Datum::Md5(p)) => out.extend_from_slice(self.bytes_str(&p).as_bytes()),
            Some(Datum::Text(t)) => {
                // Keep one record per line: escape the characters that would split it.
                for &c in &t {
                    match c {
                        b'\t' => out.extend_from_slice(b"\\t"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        _ => out.push(c),
                    }
                }
            }
            Some(d) => write!(out, "{d}")?,
        }
        Ok(())
    }

    fn json_value(&self, class: Option<Class>, b: &bytes::Bytes) -> Result<serde_json::Value> {
        use serde_json::Value;
        Ok(match class.map(|c| Datum::decode(c, b)).transpose()? {
            None => Value::from(self.bytes_str(b)),
            Some(Datum::Bytes(p)) => Value::from(self.bytes_str(&p)),
            Some(Datum::Md5(p)) => Value::from(self.bytes_str(&p)),
            Some(Datum::Text(t)) => Value::from(String::from_utf8_lossy(&t)),
            Some(Datum::Null) => Value::Null,
            Some(Datum::Boolean(v)) => Value::from(v),
            Some(Datum::Int(v) | Datum::VInt(v)) => Value::from(v),
            Some(Datum::Long(v) | Datum::VLong(v)) => Value::from(v),
            Some(Datum::Byte(v)) => Value::from(v),
            Some(Datum::Short(v)) => Value::from(v),
            Some(Datum::Float(v)) => Value::from(f64::from(v)),
            Some(Datum::Double(v)) => Value::from(v),
        })
    }
}

/// Reverses the escaping `seq cat` applies to Text in TSV output
/// (`\t`, `\n`, `\r`, `\\`); other backslashes stay as they are.
pub(crate) fn unescape_tsv(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') {
        return s.into();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') | None => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_escapes_round_trip() {
        assert_eq!(unescape_tsv(r"a\tb\nc\\d\x"), "a\tb\nc\\d\\x");
        assert_eq!(unescape_tsv("plain"), "plain");
    }
}
