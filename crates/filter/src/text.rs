//! Writing byte strings into filter text: bare when that reads back the
//! same bytes, quoted with escapes otherwise.
//!
//! Canonical text is ASCII only. Inside quotes, printable ASCII stands for
//! itself except `"` and `\`, which are escaped; `\n` and `\t` keep their
//! short escapes; every other byte is `\xHH` (lowercase hex).

use std::fmt::{self, Write};

/// Whether `b` may appear in a bare token that canonical text writes.
///
/// The parser accepts more in bare tokens (any byte but whitespace, `(`,
/// `)` and `"`); canonical text keeps bare tokens to printable ASCII and
/// leaves out `\` so that nothing in it looks like an escape.
pub(crate) fn bare_safe(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'"' | b'\\')
}

/// Writes `bytes` bare when it is non-empty, every byte is [`bare_safe`]
/// and `also_bare` accepts the whole token; quoted otherwise.
pub(crate) fn write_token(
    out: &mut impl Write,
    bytes: &[u8],
    also_bare: impl Fn(&[u8]) -> bool,
) -> fmt::Result {
    if !bytes.is_empty() && bytes.iter().all(|&b| bare_safe(b)) && also_bare(bytes) {
        // Printable ASCII, so this is always valid UTF-8.
        bytes.iter().try_for_each(|&b| out.write_char(char::from(b)))
    } else {
        write_quoted(out, bytes)
    }
}

/// Writes `bytes` between double quotes with the filter language's escapes.
pub(crate) fn write_quoted(out: &mut impl Write, bytes: &[u8]) -> fmt::Result {
    out.write_char('"')?;
    for &b in bytes {
        match b {
            b'"' => out.write_str("\\\"")?,
            b'\\' => out.write_str("\\\\")?,
            b'\n' => out.write_str("\\n")?,
            b'\t' => out.write_str("\\t")?,
            0x20..=0x7e => out.write_char(char::from(b))?,
            _ => write!(out, "\\x{b:02x}")?,
        }
    }
    out.write_char('"')
}

/// A byte string shown the way filter text would quote it (for errors and
/// `Debug` output).
pub(crate) struct Quoted<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0)
    }
}

impl fmt::Debug for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_quoted(f, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(bytes: &[u8]) -> String {
        let mut s = String::new();
        write_token(&mut s, bytes, |_| true).unwrap();
        s
    }

    #[test]
    fn bare_when_printable() {
        assert_eq!(token(b"user:42"), "user:42");
        assert_eq!(token(b"a.b-c_d/e"), "a.b-c_d/e");
    }

    #[test]
    fn quoted_otherwise() {
        assert_eq!(token(b""), r#""""#);
        assert_eq!(token(b"a b"), r#""a b""#);
        assert_eq!(token(b"a(b"), r#""a(b""#);
        assert_eq!(token(b"a\\b"), r#""a\\b""#);
        assert_eq!(token(b"q\"q"), r#""q\"q""#);
        assert_eq!(token(b"\n\t\x00\xff\x7f"), r#""\n\t\x00\xff\x7f""#);
        assert_eq!(token("é".as_bytes()), r#""\xc3\xa9""#);
    }

    #[test]
    fn caller_can_refuse_bare() {
        let mut s = String::new();
        write_token(&mut s, b"a..b", |t| !t.windows(2).any(|w| w == b"..")).unwrap();
        assert_eq!(s, r#""a..b""#);
    }
}
