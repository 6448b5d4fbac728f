//! The canonical dump: a text form of a SequenceFile that the real-Hadoop
//! peer prints too, so any two files can be compared line for line.
//!
//! ```text
//! #path      <path>                 header lines start with '#', TAB-separated
//! #kind      seq
//! #version   6
//! #key_class / #value_class / #compression NONE|RECORD|BLOCK / #codec <class or ->
//! #meta      <hex name> <hex value> name=value
//! #sync      <32 hex digits>
//! <hex(serialized key)> TAB <hex(serialized value)>      one line per record
//! #records   N
//! #sha256    sha256 over exactly the record lines, each ending in "\n"
//! ```

use std::io::{self, Write};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::header::Header;
use crate::writable::parse_hex;

/// Appends the lowercase hex of `b`.
fn push_hex(out: &mut Vec<u8>, b: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * b.len(), 0);
    // The slice is exactly twice as long as `b`, so this cannot fail.
    let _ = hex::encode_to_slice(b, &mut out[start..]);
}

/// Lowercase hex of `b`.
fn to_hex(b: &[u8]) -> String {
    hex::encode(b)
}

/// Writes header lines of the dump of a SequenceFile (`#path` … `#sync`).
///
/// # Errors
///
/// I/O errors of `out`.
pub fn write_header(out: &mut impl Write, path: &str, kind: &str, h: &Header) -> io::Result<()> {
    writeln!(out, "#path\t{path}")?;
    writeln!(out, "#kind\t{kind}")?;
    writeln!(out, "#version\t{}", h.version)?;
    writeln!(out, "#key_class\t{}", h.key_class)?;
    writeln!(out, "#value_class\t{}", h.value_class)?;
    writeln!(out, "#compression\t{}", h.compression.type_name())?;
    writeln!(out, "#codec\t{}", h.compression.codec().map_or("-", |c| c.class_name()))?;
    for (n, v) in h.metadata.iter() {
        writeln!(
            out,
            "#meta\t{}\t{}\t{}={}",
            to_hex(n),
            to_hex(v),
            String::from_utf8_lossy(n),
            String::from_utf8_lossy(v)
        )?;
    }
    if kind == "seq" {
        writeln!(out, "#sync\t{}", to_hex(&h.sync))?;
    }
    Ok(())
}

/// Record lines plus their count and SHA-256, optionally printed.
pub struct Dump<W> {
    out: Option<W>,
    sha: Sha256,
    count: u64,
    line: Vec<u8>,
}

impl<W: Write> Dump<W> {
    /// A dump that prints record lines to `out`, or only hashes them.
    pub fn new(out: Option<W>) -> Self {
        Dump { out, sha: Sha256::new(), count: 0, line: Vec::new() }
    }

    /// Adds one record.
    ///
    /// # Errors
    ///
    /// I/O errors of the output.
    pub fn record(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.line.clear();
        push_hex(&mut self.line, key);
        self.line.push(b'\t');
        push_hex(&mut self.line, value);
        self.line.push(b'\n');
        self.sha.update(&self.line);
        self.count += 1;
        if let Some(o) = self.out.as_mut() {
            o.write_all(&self.line)?;
        }
        Ok(())
    }

    /// Records so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Prints `#records` and `#sha256` (if printing) and returns count and hash.
    ///
    /// # Errors
    ///
    /// I/O errors of the output.
    pub fn finish(self) -> io::Result<(u64, String)> {
        let sha = to_hex(&self.sha.finalize());
        if let Some(mut o) = self.out {
            writeln!(o, "#records\t{}", self.count)?;
            writeln!(o, "#sha256\t{sha}")?;
            o.flush()?;
        }
        Ok((self.count, sha))
    }
}

/// Parses a record line `hexkey TAB hexvalue` into serialized key and value.
///
/// Returns `Ok(None)` for header lines (starting with `#`) and blank lines.
///
/// # Errors
///
/// `InvalidInput` for a line without a TAB or with bad hex.
pub fn parse_record_line(line: &str) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (k, v) = line.split_once('\t').ok_or_else(|| Error::invalid("dump line has no TAB"))?;
    Ok(Some((parse_hex(k)?, parse_hex(v)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_over_record_lines_only() {
        let mut out = Vec::new();
        let mut d = Dump::new(Some(&mut out));
        d.record(b"\x01a", b"").unwrap();
        let (n, sha) = d.finish().unwrap();
        assert_eq!(n, 1);
        let want = to_hex(&Sha256::digest(b"0161\t\n"));
        assert_eq!(sha, want);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("0161\t\n#records\t1\n#sha256\t{want}\n")
        );
    }

    #[test]
    fn record_lines_parse() {
        assert_eq!(
            parse_record_line("0161\t00ff\n").unwrap(),
            Some((vec![1, 0x61], vec![0, 0xff]))
        );
        assert_eq!(parse_record_line("#records\t1").unwrap(), None);
        assert!(parse_record_line("0161").is_err());
        assert!(parse_record_line("016\t").is_err());
    }
}
