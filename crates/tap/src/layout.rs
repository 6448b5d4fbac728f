//! The record layouts of `mammoth tap export` (see `docs/tap-export.md`).
//!
//! Both layouts use only stock Hadoop classes: key and value are
//! `org.apache.hadoop.io.BytesWritable`.
//!
//! * **raw**: key = the item's key, value = the item's value. What Spark and
//!   Hive want; flags, expiry and CAS are not kept, deletes cannot be
//!   represented.
//! * **item** (`item-v1`, the default): key = the item's key, value = a
//!   25-byte header then the item's value:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | kind: 1 item, 2 delete (tombstone), 3 flush (key empty) |
//! | 1 | 4 | memcached flags, big-endian |
//! | 5 | 4 | expiry as the server sent it (0 = never, else absolute Unix seconds), big-endian |
//! | 9 | 8 | CAS, big-endian |
//! | 17 | 8 | the change's sequence number on the source (0 = unknown), big-endian |
//! | 25 | … | the value (items only; empty for deletes and flushes) |
//!
//! Files in the item layout carry the metadata entry
//! `mammoth.layout = item-v1`; that is how import recognises them.

use std::fmt;

/// Metadata name that marks the layout.
pub const LAYOUT_KEY: &str = "mammoth.layout";
/// [`LAYOUT_KEY`]'s value for the item layout.
pub const ITEM_V1: &str = "item-v1";
/// [`LAYOUT_KEY`]'s value for the raw layout.
pub const RAW: &str = "raw";
/// Bytes before the value in the item layout.
pub const HEADER_LEN: usize = 25;

/// What a record in the item layout stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An item (value follows the header).
    Item = 1,
    /// The key was deleted.
    Delete = 2,
    /// Everything before this record was flushed.
    Flush = 3,
}

/// The header fields of an item-layout record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// memcached flags.
    pub flags: u32,
    /// Expiry (0 = never, else absolute Unix seconds).
    pub expiry: u32,
    /// CAS on the source.
    pub cas: u64,
    /// Sequence number on the source (0 = unknown).
    pub seqno: u64,
}

/// One decoded item-layout value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Kind.
    pub kind: Kind,
    /// Header fields.
    pub meta: Meta,
    /// The value (empty unless `kind` is `Item`).
    pub value: &'a [u8],
}

/// Why an item-layout value does not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// Shorter than the header.
    Short {
        /// Bytes found.
        len: usize,
    },
    /// A kind byte that is not 1, 2 or 3.
    Kind {
        /// The byte.
        byte: u8,
    },
    /// A delete or flush record with value bytes after the header.
    TrailingValue {
        /// The record's kind.
        kind: Kind,
        /// Bytes after the header.
        len: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::Short { len } => {
                write!(f, "item-v1 value of {len} bytes, shorter than its {HEADER_LEN}-byte header")
            }
            LayoutError::Kind { byte } => write!(f, "item-v1 kind byte {byte:#04x} (1, 2 or 3)"),
            LayoutError::TrailingValue { kind, len } => {
                write!(f, "item-v1 {kind:?} record with {len} value bytes (must be empty)")
            }
        }
    }
}

impl std::error::Error for LayoutError {}

/// Appends an item-layout value (header, then `value`) to `out`.
pub fn encode(kind: Kind, meta: &Meta, value: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + value.len());
    out.push(kind as u8);
    out.extend_from_slice(&meta.flags.to_be_bytes());
    out.extend_from_slice(&meta.expiry.to_be_bytes());
    out.extend_from_slice(&meta.cas.to_be_bytes());
    out.extend_from_slice(&meta.seqno.to_be_bytes());
    out.extend_from_slice(value);
}

/// Decodes an item-layout value (the `BytesWritable` payload).
///
/// # Errors
/// See [`LayoutError`].
pub fn decode(payload: &[u8]) -> Result<Decoded<'_>, LayoutError> {
    let Some((h, value)) = payload.split_first_chunk::<HEADER_LEN>() else {
        return Err(LayoutError::Short { len: payload.len() });
    };
    let kind = match h[0] {
        1 => Kind::Item,
        2 => Kind::Delete,
        3 => Kind::Flush,
        byte => return Err(LayoutError::Kind { byte }),
    };
    if kind != Kind::Item && !value.is_empty() {
        return Err(LayoutError::TrailingValue { kind, len: value.len() });
    }
    let be32 = |i: usize| u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
    let be64 = |i: usize| (u64::from(be32(i)) << 32) | u64::from(be32(i + 4));
    Ok(Decoded {
        kind,
        meta: Meta { flags: be32(1), expiry: be32(5), cas: be64(9), seqno: be64(17) },
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_bytes_by_hand() {
        let mut out = Vec::new();
        let meta = Meta { flags: 0x0102_0304, expiry: 0x0a0b_0c0d, cas: 0x1122, seqno: 7 };
        encode(Kind::Item, &meta, b"v", &mut out);
        assert_eq!(
            out,
            [
                &[1u8][..],
                &[1, 2, 3, 4],
                &[0x0a, 0x0b, 0x0c, 0x0d],
                &[0, 0, 0, 0, 0, 0, 0x11, 0x22],
                &[0, 0, 0, 0, 0, 0, 0, 7],
                b"v"
            ]
            .concat()
        );
        assert_eq!(decode(&out).unwrap(), Decoded { kind: Kind::Item, meta, value: b"v" });
    }

    #[test]
    fn bad_values() {
        assert_eq!(decode(&[1; 24]), Err(LayoutError::Short { len: 24 }));
        let mut v = vec![0u8; 25];
        assert_eq!(decode(&v), Err(LayoutError::Kind { byte: 0 }));
        v[0] = 2;
        v.push(9);
        assert_eq!(decode(&v), Err(LayoutError::TrailingValue { kind: Kind::Delete, len: 1 }));
    }

    proptest! {
        #[test]
        fn roundtrip(kind in 1u8..=3, flags: u32, expiry: u32, cas: u64, seqno: u64,
                     value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let kind = match kind { 1 => Kind::Item, 2 => Kind::Delete, _ => Kind::Flush };
            let value = if kind == Kind::Item { value } else { Vec::new() };
            let meta = Meta { flags, expiry, cas, seqno };
            let mut out = Vec::new();
            encode(kind, &meta, &value, &mut out);
            prop_assert_eq!(decode(&out).unwrap(), Decoded { kind, meta, value: &value });
        }
    }
}
