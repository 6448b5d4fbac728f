//! Items and their persisted encoding.

use bytes::{BufMut, Bytes};
use extent::ExtentBuf;

use crate::error::Error;

/// The value bytes of an item: an [`ExtentBuf`] of shared blocks.
///
/// Values arrive as `Bytes` slices of a connection's read buffer. The store
/// copies values shorter than [`COPY_BELOW`](crate::COPY_BELOW) into the
/// item's block; longer ones are kept as given, and APPEND/PREPEND add the
/// new bytes to them as another extent instead of copying the old value.
pub type Value = ExtentBuf;

/// One item: the value plus memcached's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The value bytes.
    pub value: Value,
    /// 32 opaque bits the client stores with the value.
    pub flags: u32,
    /// Absolute expiry time in Unix seconds; 0 means never.
    pub exptime: u32,
    /// The item's CAS: changes with every mutation of the value or flags.
    pub cas: u64,
    /// The sequence number of the item's last mutation (a TOUCH changes the
    /// seqno but keeps the CAS).
    pub seqno: u64,
}

impl Item {
    /// True when the item is dead at `now` (Unix seconds).
    pub fn is_expired(&self, now: u32) -> bool {
        self.exptime != 0 && self.exptime <= now
    }
}

/// What a deleted key leaves behind: the delete's sequence number and time,
/// kept (in memory and in the engine) for the tombstone retention window so
/// that a change feed resuming from an older seqno learns about the delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// The sequence number of the delete.
    pub seqno: u64,
    /// When the delete happened (Unix seconds).
    pub deleted_at: u32,
}

/// One stored record: a live item or a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A live item.
    Item(Item),
    /// A deleted key.
    Tombstone(Tombstone),
}

/// Version byte of the persisted item encoding.
const ENCODING_V1: u8 = 1;
/// Version byte of a persisted tombstone.
const TOMBSTONE_V1: u8 = 2;
/// Length of the persisted header: version, flags, exptime, cas, seqno.
pub(crate) const HEADER_LEN: usize = 1 + 4 + 4 + 8 + 8;
/// Length of a persisted tombstone: version, seqno, time of the delete.
const TOMBSTONE_LEN: usize = 1 + 8 + 4;

/// Encodes an item for an engine: a 25-byte big-endian header (version 1,
/// flags, exptime, CAS, seqno) followed by the value bytes.
pub(crate) fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + item.value.len() as usize);
    encode_into(item, &mut out);
    out
}

/// Appends the encoding of [`encode`] to `out`.
pub(crate) fn encode_into(item: &Item, out: &mut Vec<u8>) {
    out.put_u8(ENCODING_V1);
    out.put_u32(item.flags);
    out.put_u32(item.exptime);
    out.put_u64(item.cas);
    out.put_u64(item.seqno);
    for chunk in item.value.chunks() {
        out.put_slice(chunk);
    }
}

/// Encodes a tombstone: version 2, the delete's seqno and time, big-endian.
pub(crate) fn encode_tombstone(tomb: Tombstone) -> Vec<u8> {
    let mut out = Vec::with_capacity(TOMBSTONE_LEN);
    out.push(TOMBSTONE_V1);
    out.extend_from_slice(&tomb.seqno.to_be_bytes());
    out.extend_from_slice(&tomb.deleted_at.to_be_bytes());
    out
}

/// Decodes what [`encode`] or [`encode_tombstone`] wrote. `key` only names
/// the record in errors.
pub(crate) fn decode(key: &[u8], raw: &Bytes) -> Result<Record, Error> {
    let corrupt = |detail: String| Error::Corrupt { key: key.to_vec(), detail };
    if raw.first() == Some(&TOMBSTONE_V1) {
        if raw.len() != TOMBSTONE_LEN {
            return Err(corrupt(format!("tombstone is {} bytes, not {TOMBSTONE_LEN}", raw.len())));
        }
        let mut seqno = [0u8; 8];
        seqno.copy_from_slice(&raw[1..9]);
        let mut at = [0u8; 4];
        at.copy_from_slice(&raw[9..13]);
        return Ok(Record::Tombstone(Tombstone {
            seqno: u64::from_be_bytes(seqno),
            deleted_at: u32::from_be_bytes(at),
        }));
    }
    decode_item(key, raw).map(Record::Item)
}

fn decode_item(key: &[u8], raw: &Bytes) -> Result<Item, Error> {
    let corrupt = |detail: String| Error::Corrupt { key: key.to_vec(), detail };
    if raw.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "record is {} bytes, shorter than the {HEADER_LEN}-byte header",
            raw.len()
        )));
    }
    if raw[0] != ENCODING_V1 {
        return Err(corrupt(format!("unknown record version {}", raw[0])));
    }
    let u32_at = |at: usize| u32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
    let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
    Ok(Item {
        flags: u32_at(1),
        exptime: u32_at(5),
        cas: u64_at(9),
        seqno: u64_at(17),
        value: ExtentBuf::from(raw.slice(HEADER_LEN..)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_layout_is_fixed() {
        let item = Item {
            value: ExtentBuf::from(Bytes::from_static(b"xy")),
            flags: 0x0102_0304,
            exptime: 0x0506_0708,
            cas: 0x1112_1314_1516_1718,
            seqno: 0x2122_2324_2526_2728,
        };
        let raw = encode(&item);
        assert_eq!(
            raw,
            [
                1, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x21,
                0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, b'x', b'y'
            ]
        );
        assert_eq!(decode(b"k", &Bytes::from(raw)).unwrap(), Record::Item(item));
    }

    #[test]
    fn tombstone_layout_is_fixed() {
        let tomb = Tombstone { seqno: 0x0102_0304_0506_0708, deleted_at: 0x1112_1314 };
        let raw = encode_tombstone(tomb);
        assert_eq!(raw, [2, 1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14]);
        assert_eq!(decode(b"k", &Bytes::from(raw)).unwrap(), Record::Tombstone(tomb));
        let err = decode(b"gone", &Bytes::from_static(&[2, 0, 0])).unwrap_err();
        assert!(err.to_string().contains("gone") && err.to_string().contains("tombstone"), "{err}");
    }

    #[test]
    fn short_or_unknown_records_are_errors_naming_the_key() {
        let err = decode(b"key1", &Bytes::from_static(&[1, 2, 3])).unwrap_err();
        assert!(err.to_string().contains("key1"), "{err}");
        let mut raw =
            encode(&Item { value: ExtentBuf::new(), flags: 0, exptime: 0, cas: 1, seqno: 1 });
        raw[0] = 9;
        let err = decode(b"key2", &Bytes::from(raw)).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
    }
}
