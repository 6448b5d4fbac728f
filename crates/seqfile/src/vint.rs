//! Hadoop's zero-compressed variable-length integers (`WritableUtils.writeVLong`).
//!
//! Values in -112..=127 take one byte. Anything else is a length byte
//! (-113..=-120 for 1–8 positive bytes, -121..=-128 for 1–8 negative ones,
//! whose payload is the one's complement) followed by the big-endian bytes.

use crate::error::{Error, ErrorKind, Result};

/// Longest encoding of a VLong.
pub const MAX_VLONG_LEN: usize = 9;

/// Appends the shortest Hadoop encoding of `v` to `out`.
pub fn write_vlong(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; MAX_VLONG_LEN];
    let n = encode_vlong(v, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Appends the encoding of an `i32` (identical to the VLong encoding).
pub fn write_vint(out: &mut Vec<u8>, v: i32) {
    write_vlong(out, i64::from(v));
}

/// Encodes `v` into `buf` and returns the number of bytes used (1–9).
pub fn encode_vlong(v: i64, buf: &mut [u8; MAX_VLONG_LEN]) -> usize {
    if (-112..=127).contains(&v) {
        buf[0] = v as u8;
        return 1;
    }
    let (u, base) = if v < 0 { (!v as u64, -120i32) } else { (v as u64, -112i32) };
    let n = (8 - u.leading_zeros() as usize / 8).max(1);
    buf[0] = (base - n as i32) as u8;
    let be = u.to_be_bytes();
    buf[1..=n].copy_from_slice(&be[8 - n..]);
    n + 1
}

/// Length in bytes of the encoding whose first byte is `first`.
pub fn decoded_len(first: u8) -> usize {
    let b = first as i8;
    if b >= -112 {
        1
    } else if b < -120 {
        (-119 - i32::from(b)) as usize
    } else {
        (-111 - i32::from(b)) as usize
    }
}

/// Decodes a VLong from the front of `bytes`; returns the value and its length.
///
/// Non-shortest forms are accepted, as Hadoop accepts them.
///
/// # Errors
///
/// `Truncated` when `bytes` ends inside the integer.
pub fn read_vlong(bytes: &[u8]) -> Result<(i64, usize)> {
    let Some(&first) = bytes.first() else {
        return Err(Error::truncated("variable-length integer", 1, 0));
    };
    let b = first as i8;
    if b >= -112 {
        return Ok((i64::from(b), 1));
    }
    let len = decoded_len(first);
    let Some(payload) = bytes.get(1..len) else {
        return Err(Error::truncated("variable-length integer", len as u64, bytes.len() as u64));
    };
    let mut u: u64 = 0;
    for &byte in payload {
        u = (u << 8) | u64::from(byte);
    }
    let v = if b < -120 { !(u as i64) } else { u as i64 };
    Ok((v, len))
}

/// Decodes a VInt: a VLong that must fit in `i32`.
///
/// # Errors
///
/// `Truncated`, or `BadVInt` when the value does not fit in 32 bits.
pub fn read_vint(bytes: &[u8]) -> Result<(i32, usize)> {
    let (v, n) = read_vlong(bytes)?;
    let v = i32::try_from(v)
        .map_err(|_| Error::new(ErrorKind::BadVInt("value too long to fit in integer")))?;
    Ok((v, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_the_spec() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0xff]),
            (127, &[0x7f]),
            (-112, &[0x90]),
            (128, &[0x8f, 0x80]),
            (-113, &[0x87, 0x70]),
            (256, &[0x8e, 0x01, 0x00]),
            (-129, &[0x87, 0x80]),
            (-257, &[0x86, 0x01, 0x00]),
            (i64::MAX, &[0x88, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            (i64::MIN, &[0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ];
        for &(v, bytes) in cases {
            let mut out = Vec::new();
            write_vlong(&mut out, v);
            assert_eq!(out, bytes, "encoding {v}");
            assert_eq!(read_vlong(bytes).unwrap(), (v, bytes.len()), "decoding {v}");
        }
    }

    #[test]
    fn non_shortest_form_is_accepted() {
        assert_eq!(read_vlong(&[0x8f, 0x05]).unwrap(), (5, 2));
    }

    #[test]
    fn truncated_and_overflow_are_errors() {
        assert!(read_vlong(&[]).is_err());
        assert!(read_vlong(&[0x8e, 0x01]).is_err());
        assert!(read_vint(&[0x8b, 0x01, 0x00, 0x00, 0x00, 0x00]).is_err());
        assert_eq!(read_vint(&[0x84, 0x7f, 0xff, 0xff, 0xff]).unwrap(), (i32::MIN, 5));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(v: i64) {
            let mut out = Vec::new();
            write_vlong(&mut out, v);
            proptest::prop_assert_eq!(out.len(), decoded_len(out[0]));
            proptest::prop_assert_eq!(read_vlong(&out).unwrap(), (v, out.len()));
        }
    }
}
