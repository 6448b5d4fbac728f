//! The fixed 24-byte packet header (spec §1), big-endian throughout.

use bytes::{BufMut, BytesMut};

use super::{Opcode, Status};

/// Length of every packet header.
pub const HEADER_LEN: usize = 24;

/// The magic byte: it alone tells a request from a response. In TAP the
/// server sends requests and the client answers with responses, so a decoder
/// never assumes a direction from who is talking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Magic {
    /// `0x80`.
    Request = 0x80,
    /// `0x81`.
    Response = 0x81,
}

impl Magic {
    /// The magic for a byte, or `None` for anything but `0x80`/`0x81`.
    pub const fn from_byte(b: u8) -> Option<Magic> {
        match b {
            0x80 => Some(Magic::Request),
            0x81 => Some(Magic::Response),
            _ => None,
        }
    }
}

/// A decoded packet header.
///
/// Bytes 6–7 mean the vbucket id in a request and the status in a response;
/// [`Header::vbucket`] and [`Header::status`] read the same field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Request or response.
    pub magic: Magic,
    /// The opcode, exactly as sent (quiet twins included).
    pub opcode: Opcode,
    /// Key length.
    pub key_len: u16,
    /// Extras length.
    pub extras_len: u8,
    /// Data type; 0 (raw bytes) is the only one memcached knows.
    pub data_type: u8,
    /// Bytes 6–7: vbucket id (request) or status (response).
    pub vbucket_or_status: u16,
    /// Total body length: extras + key + value (+ TAP engine-private bytes).
    pub body_len: u32,
    /// Opaque, echoed untouched by the other side.
    pub opaque: u32,
    /// CAS.
    pub cas: u64,
}

impl Header {
    /// A request header with the given lengths; data type, vbucket, opaque
    /// and CAS are 0.
    pub const fn request(opcode: Opcode, extras_len: u8, key_len: u16, body_len: u32) -> Header {
        Header {
            magic: Magic::Request,
            opcode,
            key_len,
            extras_len,
            data_type: 0,
            vbucket_or_status: 0,
            body_len,
            opaque: 0,
            cas: 0,
        }
    }

    /// A response header with the given status and lengths; data type,
    /// opaque and CAS are 0.
    pub const fn response(
        opcode: Opcode,
        status: Status,
        extras_len: u8,
        key_len: u16,
        body_len: u32,
    ) -> Header {
        Header {
            magic: Magic::Response,
            opcode,
            key_len,
            extras_len,
            data_type: 0,
            vbucket_or_status: status.0,
            body_len,
            opaque: 0,
            cas: 0,
        }
    }

    /// Decodes the first 24 bytes of `buf`. `Err(byte)` when the magic byte
    /// is neither 0x80 nor 0x81; `None` when fewer than 24 bytes are given.
    pub fn decode(buf: &[u8]) -> Option<Result<Header, u8>> {
        let h: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        let Some(magic) = Magic::from_byte(h[0]) else {
            return Some(Err(h[0]));
        };
        Some(Ok(Header {
            magic,
            opcode: Opcode(h[1]),
            key_len: u16::from_be_bytes([h[2], h[3]]),
            extras_len: h[4],
            data_type: h[5],
            vbucket_or_status: u16::from_be_bytes([h[6], h[7]]),
            body_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        }))
    }

    /// The 24 header bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = self.magic as u8;
        h[1] = self.opcode.0;
        h[2..4].copy_from_slice(&self.key_len.to_be_bytes());
        h[4] = self.extras_len;
        h[5] = self.data_type;
        h[6..8].copy_from_slice(&self.vbucket_or_status.to_be_bytes());
        h[8..12].copy_from_slice(&self.body_len.to_be_bytes());
        h[12..16].copy_from_slice(&self.opaque.to_be_bytes());
        h[16..24].copy_from_slice(&self.cas.to_be_bytes());
        h
    }

    /// Appends the 24 header bytes to `out`.
    pub fn put(&self, out: &mut BytesMut) {
        out.put_slice(&self.to_bytes());
    }

    /// The status field of a response.
    pub const fn status(&self) -> Status {
        Status(self.vbucket_or_status)
    }

    /// The vbucket field of a request.
    pub const fn vbucket(&self) -> u16 {
        self.vbucket_or_status
    }

    /// The whole packet's length, header included.
    pub const fn frame_len(&self) -> usize {
        HEADER_LEN + self.body_len as usize
    }

    /// `body_len - extras_len - key_len`, or `None` when the lengths are
    /// inconsistent (the extras and key would not fit in the body).
    pub const fn value_len(&self) -> Option<u32> {
        let fixed = self.extras_len as u32 + self.key_len as u32;
        self.body_len.checked_sub(fixed)
    }
}

/// Appends a request packet assembled from its parts. The building block of
/// the borrowing encoders in [`super::client`] and of TAP events; nothing is checked beyond
/// what the header can hold.
///
/// # Panics
/// If `key` is over 65,535 bytes, `extras` over 255, or the body over 4 GiB.
#[allow(clippy::too_many_arguments)]
pub fn encode_raw(
    out: &mut BytesMut,
    opcode: Opcode,
    opaque: u32,
    cas: u64,
    vbucket: u16,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    let mut h = Header::request(
        opcode,
        u8::try_from(extras.len()).expect("extras fit in 255 bytes"),
        u16::try_from(key.len()).expect("key fits in 65535 bytes"),
        u32::try_from(body).expect("body fits in 4 GiB"),
    );
    h.opaque = opaque;
    h.cas = cas;
    h.vbucket_or_status = vbucket;
    out.reserve(HEADER_LEN + body);
    h.put(out);
    out.put_slice(extras);
    out.put_slice(key);
    out.put_slice(value);
}

pub(crate) fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_drafts_get_request() {
        // doc/protocol-binary.txt §4.2.1, "get request" for key "Hello".
        let bytes =
            hex::decode("80000005000000000000000500000000000000000000000048656c6c6f").unwrap();
        let h = Header::decode(&bytes).unwrap().unwrap();
        assert_eq!(h.magic, Magic::Request);
        assert_eq!(h.opcode, Opcode::GET);
        assert_eq!((h.key_len, h.extras_len, h.body_len), (5, 0, 5));
        assert_eq!(h.value_len(), Some(0));
        assert_eq!(h.to_bytes()[..], bytes[..24]);
    }

    #[test]
    fn short_and_bad_magic() {
        assert_eq!(Header::decode(&[0x80; 23]), None);
        let mut b = [0u8; 24];
        b[0] = 0x7f;
        assert_eq!(Header::decode(&b), Some(Err(0x7f)));
    }

    #[test]
    fn inconsistent_lengths_have_no_value_len() {
        let h = Header::request(Opcode::SET, 8, 10, 17);
        assert_eq!(h.value_len(), None);
        let h = Header::request(Opcode::SET, 255, 0xffff, u32::MAX);
        assert_eq!(h.value_len(), Some(u32::MAX - 255 - 0xffff));
    }

    #[test]
    fn fields_are_big_endian() {
        let mut h = Header::response(Opcode::GETKQ, Status::ETMPFAIL, 4, 0x0102, 0x0304_0506);
        h.opaque = 0xdead_beef;
        h.cas = 0x0102_0304_0506_0708;
        assert_eq!(hex::encode(h.to_bytes()), "810d01020400008603040506deadbeef0102030405060708");
    }
}
