//! The SequenceFile header: magic, version, classes, compression, metadata, sync marker.

use bytes::Bytes;

use crate::codec::Codec;
use crate::error::{Error, ErrorKind, Result};
use crate::vint;

/// The version every writer writes.
pub const CURRENT_VERSION: u8 = 6;
/// Length of a sync marker.
pub const SYNC_LEN: usize = 16;
/// A sync entry: the `-1` escape plus the marker.
pub const SYNC_ENTRY_LEN: usize = 4 + SYNC_LEN;

/// How records are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Keys and values stored as serialized.
    None,
    /// Each value is its own codec stream; keys are not compressed.
    Record(Codec),
    /// Records are grouped into blocks of four codec streams.
    Block(Codec),
}

impl Compression {
    /// `NONE`, `RECORD` or `BLOCK`, as Hadoop names the type.
    pub fn type_name(self) -> &'static str {
        match self {
            Compression::None => "NONE",
            Compression::Record(_) => "RECORD",
            Compression::Block(_) => "BLOCK",
        }
    }

    /// The codec, if compressed.
    pub fn codec(self) -> Option<Codec> {
        match self {
            Compression::None => None,
            Compression::Record(c) | Compression::Block(c) => Some(c),
        }
    }

    /// Builds a compression from a type name (`none`, `record`, `block`, any case) and codec.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an unknown type name.
    pub fn from_parts(type_name: &str, codec: Codec) -> Result<Self> {
        match type_name.to_ascii_uppercase().as_str() {
            "NONE" => Ok(Compression::None),
            "RECORD" => Ok(Compression::Record(codec)),
            "BLOCK" => Ok(Compression::Block(codec)),
            other => Err(Error::invalid(format!(
                "compression type {other:?} is not NONE, RECORD or BLOCK"
            ))),
        }
    }
}

/// File metadata: name/value pairs of Text, kept sorted by name bytes as
/// Hadoop's `TreeMap<Text, Text>` keeps them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(Vec<(Bytes, Bytes)>);

impl Metadata {
    /// No entries.
    pub fn new() -> Self {
        Metadata(Vec::new())
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(n, _)| n.as_ref().cmp(name.as_ref())) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// The value for `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Bytes> {
        self.0.binary_search_by(|(n, _)| n.as_ref().cmp(name)).ok().map(|i| &self.0[i].1)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &Bytes)> {
        self.0.iter().map(|(n, v)| (n, v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A parsed SequenceFile header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version, 1–6.
    pub version: u8,
    /// Java class of the keys.
    pub key_class: String,
    /// Java class of the values.
    pub value_class: String,
    /// Compression type and codec.
    pub compression: Compression,
    /// Metadata (empty before version 6).
    pub metadata: Metadata,
    /// The 16-byte sync marker (all zero before version 2, which had none).
    pub sync: [u8; SYNC_LEN],
}

impl Header {
    /// Serializes a version-6 header.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"SEQ");
        out.push(CURRENT_VERSION);
        write_text(out, self.key_class.as_bytes());
        write_text(out, self.value_class.as_bytes());
        out.push(u8::from(self.compression != Compression::None));
        out.push(u8::from(matches!(self.compression, Compression::Block(_))));
        if let Some(codec) = self.compression.codec() {
            write_text(out, codec.class_name().as_bytes());
        }
        out.extend_from_slice(&(self.metadata.len() as i32).to_be_bytes());
        for (n, v) in self.metadata.iter() {
            write_text(out, n);
            write_text(out, v);
        }
        out.extend_from_slice(&self.sync);
    }

    /// Parses a header from the start of `b`.
    ///
    /// Returns `Ok(None)` when `b` is too short to hold the whole header, so a
    /// caller can read more and try again; the header length otherwise.
    ///
    /// # Errors
    ///
    /// Bad magic, unsupported version, invalid flags, unknown codec or a bad
    /// metadata count, with the offset of the offending field.
    pub fn parse(b: &[u8]) -> Result<Option<(Header, usize)>> {
        let mut c = Cursor { b, pos: 0 };
        let Some(magic) = c.take(3) else { return Ok(None) };
        if magic != b"SEQ" {
            let mut m = [0u8; 3];
            m.copy_from_slice(magic);
            return Err(Error::new(ErrorKind::BadMagic(m)).at(0));
        }
        let Some(version) = c.u8() else { return Ok(None) };
        if !(1..=CURRENT_VERSION).contains(&version) {
            return Err(Error::new(ErrorKind::UnsupportedVersion(version)).at(3));
        }
        let class = |c: &mut Cursor<'_>| -> Result<Option<String>> {
            let at = c.pos;
            let raw = if version >= 4 { c.text().map_err(|e| e.at(at as u64))? } else { c.utf8() };
            Ok(raw.map(|r| String::from_utf8_lossy(r).into_owned()))
        };
        let Some(key_class) = class(&mut c)? else { return Ok(None) };
        let Some(value_class) = class(&mut c)? else { return Ok(None) };
        let flags_at = c.pos;
        let compressed = if version >= 3 {
            match c.u8() {
                Some(v) => v != 0,
                None => return Ok(None),
            }
        } else {
            false
        };
        let block = if version >= 4 {
            match c.u8() {
                Some(v) => v != 0,
                None => return Ok(None),
            }
        } else {
            false
        };
        if block && !compressed {
            return Err(Error::new(ErrorKind::InvalidCompressionFlags).at(flags_at as u64));
        }
        let compression = if compressed {
            let codec = if version >= 5 {
                let at = c.pos;
                let Some(name) = c.text().map_err(|e| e.at(at as u64))? else { return Ok(None) };
                let name = String::from_utf8_lossy(name);
                Codec::from_class_name(&name).ok_or_else(|| {
                    Error::new(ErrorKind::UnknownCodec(name.into_owned())).at(at as u64)
                })?
            } else {
                Codec::Default
            };
            if block { Compression::Block(codec) } else { Compression::Record(codec) }
        } else {
            Compression::None
        };
        let mut metadata = Metadata::new();
        if version >= 6 {
            let at = c.pos;
            let Some(count) = c.i32() else { return Ok(None) };
            if count < 0 {
                return Err(Error::new(ErrorKind::BadLength {
                    what: "metadata count",
                    len: i64::from(count),
                })
                .at(at as u64));
            }
            for _ in 0..count {
                let at = c.pos;
                let Some(n) = c.text().map_err(|e| e.at(at as u64))? else { return Ok(None) };
                let at = c.pos;
                let Some(v) = c.text().map_err(|e| e.at(at as u64))? else { return Ok(None) };
                metadata.set(Bytes::copy_from_slice(n), Bytes::copy_from_slice(v));
            }
        }
        let mut sync = [0u8; SYNC_LEN];
        if version >= 2 {
            let Some(s) = c.take(SYNC_LEN) else { return Ok(None) };
            sync.copy_from_slice(s);
        }
        Ok(Some((Header { version, key_class, value_class, compression, metadata, sync }, c.pos)))
    }
}

fn write_text(out: &mut Vec<u8>, b: &[u8]) {
    vint::write_vint(out, b.len() as i32);
    out.extend_from_slice(b);
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }

    fn i32(&mut self) -> Option<i32> {
        self.take(4).map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A Text string; `Ok(None)` if more bytes are needed.
    fn text(&mut self) -> Result<Option<&'a [u8]>> {
        let rest = &self.b[self.pos..];
        if rest.is_empty() || rest.len() < vint::decoded_len(rest[0]) {
            return Ok(None);
        }
        let (len, n) = vint::read_vint(rest)?;
        let len = usize::try_from(len).map_err(|_| {
            Error::new(ErrorKind::BadLength { what: "string length", len: i64::from(len) })
        })?;
        if rest.len() < n + len {
            return Ok(None);
        }
        self.pos += n;
        Ok(self.take(len))
    }

    /// A `UTF8` string: `u16` length then bytes (versions before 4).
    fn utf8(&mut self) -> Option<&'a [u8]> {
        let start = self.pos;
        let len = self.take(2).map(|s| usize::from(u16::from_be_bytes([s[0], s[1]])))?;
        let r = self.take(len);
        if r.is_none() {
            self.pos = start;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(compression: Compression) -> Header {
        let mut metadata = Metadata::new();
        metadata.set(&b"zeta"[..], &b"1"[..]);
        metadata.set(&b"alpha"[..], &b"\xc3\xa9"[..]);
        Header {
            version: 6,
            key_class: "org.apache.hadoop.io.Text".into(),
            value_class: "org.apache.hadoop.io.Text".into(),
            compression,
            metadata,
            sync: *b"0123456789abcdef",
        }
    }

    #[test]
    fn text_text_none_header_is_78_bytes_without_metadata() {
        let mut h = header(Compression::None);
        h.metadata = Metadata::new();
        let mut out = Vec::new();
        h.write_to(&mut out);
        assert_eq!(out.len(), 78);
    }

    #[test]
    fn round_trip_and_every_prefix_asks_for_more() {
        for comp in
            [Compression::None, Compression::Record(Codec::Gzip), Compression::Block(Codec::Snappy)]
        {
            let h = header(comp);
            let mut out = Vec::new();
            h.write_to(&mut out);
            let (parsed, len) = Header::parse(&out).unwrap().unwrap();
            assert_eq!((parsed, len), (h, out.len()));
            for cut in 0..out.len() {
                assert!(Header::parse(&out[..cut]).unwrap().is_none(), "cut {cut}");
            }
        }
    }

    #[test]
    fn metadata_is_sorted_by_name_bytes() {
        let names: Vec<_> =
            header(Compression::None).metadata.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names, [&b"alpha"[..], &b"zeta"[..]]);
    }

    #[test]
    fn bad_headers() {
        let err = Header::parse(b"SEX\x06").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BadMagic(_)));
        let err = Header::parse(b"SEQ\x07").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::UnsupportedVersion(7)));
        let err = Header::parse(b"SEQ\x06\x01a\x01b\x00\x01").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidCompressionFlags));
        assert_eq!(err.offset(), Some(8));
        let err = Header::parse(b"SEQ\x06\x01a\x01b\x01\x00\x03xyz").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::UnknownCodec(n) if n == "xyz"));
        let err = Header::parse(b"SEQ\x06\x01a\x01b\x00\x00\xff\xff\xff\xfe").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::BadLength { .. }));
    }

    #[test]
    fn old_versions_parse() {
        // Version 3: UTF8 class names, compressed flag, implied DefaultCodec.
        let mut v3 = b"SEQ\x03\x00\x01a\x00\x01b\x01".to_vec();
        v3.extend_from_slice(&[9; 16]);
        let (h, len) = Header::parse(&v3).unwrap().unwrap();
        assert_eq!(
            (h.key_class.as_str(), h.compression, len),
            ("a", Compression::Record(Codec::Default), v3.len())
        );
        // Version 1: no flags, no sync.
        let v1 = b"SEQ\x01\x00\x01a\x00\x01b".to_vec();
        let (h, len) = Header::parse(&v1).unwrap().unwrap();
        assert_eq!((h.compression, h.sync, len), (Compression::None, [0; 16], v1.len()));
    }
}
