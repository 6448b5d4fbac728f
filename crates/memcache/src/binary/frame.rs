//! Phase one of parsing: is there a whole packet at the start of the buffer,
//! and can its header be trusted? Looks at bytes only; never allocates.

use super::error::{ErrorKind, ProtocolError};
use super::{HEADER_LEN, Header, Limits, Magic, Opcode};

/// The outcome of a successful check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// More input is needed. `needed` is the buffer length at which the
    /// next check can make progress: 24 until the header is in, then the
    /// whole packet's length. It never exceeds the limits' bound on a packet.
    Incomplete {
        /// Total bytes wanted in the buffer.
        needed: usize,
    },
    /// The buffer starts with one whole packet of this many bytes (never
    /// more than the buffer holds). Split it off and parse it.
    Complete(usize),
}

/// Checks the start of a server's input for a request (magic 0x80).
///
/// Everything that decides the connection's fate is read from the header
/// alone, as memcached does, so a refused request never needs its body
/// buffered. Errors, in memcached's order (spec §8):
/// - bad magic (checked on the first byte): no reply, close;
/// - extras + key longer than the body: `UNKNOWN_COMMAND`, close;
/// - body over `limits.max_body_len`: `EINVAL`, close;
/// - key over `limits.max_key_len`: `EINVAL`, close;
/// - a known opcode with the wrong shape: `EINVAL`, close;
/// - an unknown opcode: `UNKNOWN_COMMAND`, skip the packet, stay open;
/// - a value over `limits.max_value_len`: `E2BIG`, skip, stay open.
///
/// # Errors
/// As listed; see [`ProtocolError::closes`] and [`ProtocolError::skip`].
pub fn check_request(buf: &[u8], limits: &Limits) -> Result<Check, ProtocolError> {
    Ok(checked_request(buf, limits)?.0)
}

/// [`check_request`], also returning the header it decoded once the packet
/// is complete (so the parse that follows need not decode it again).
pub(crate) fn checked_request(
    buf: &[u8],
    limits: &Limits,
) -> Result<(Check, Option<Header>), ProtocolError> {
    let header = match trusted_header(buf, limits, Some(Magic::Request))? {
        Ok(h) => h,
        Err(incomplete) => return Ok((incomplete, None)),
    };
    let err = |kind| ProtocolError::new(header.opcode, header.opaque, kind);
    if header.key_len > limits.max_key_len {
        return Err(err(ErrorKind::KeyTooLong {
            key_len: header.key_len,
            max: limits.max_key_len,
        }));
    }
    // `trusted_header` checked that the lengths fit.
    let value_len = header.value_len().unwrap_or(0);
    let carries_value = match shape(header.opcode, header.extras_len, header.key_len, value_len) {
        Ok(carries_value) => carries_value,
        Err(Some(expected)) => {
            return Err(err(ErrorKind::Shape {
                extras_len: header.extras_len,
                key_len: header.key_len,
                value_len,
                expected,
            }));
        }
        Err(None) => {
            return Err(err(ErrorKind::UnknownCommand { body_len: header.body_len }));
        }
    };
    if carries_value && value_len > limits.max_value_len {
        return Err(err(ErrorKind::ValueTooLarge {
            value_len,
            max: limits.max_value_len,
            body_len: header.body_len,
        }));
    }
    Ok(match complete_or_not(buf, &header) {
        c @ Check::Complete(_) => (c, Some(header)),
        c => (c, None),
    })
}

/// Checks the start of a client's input for a response (magic 0x81):
/// magic, consistent lengths and `limits.max_body_len`. Every error closes.
///
/// # Errors
/// Bad magic, inconsistent lengths, a body over the limit.
pub fn check_response(buf: &[u8], limits: &Limits) -> Result<Check, ProtocolError> {
    check_magic(buf, limits, Some(Magic::Response))
}

/// Checks for a packet of either direction, as a TAP consumer reads them
/// (events are requests, a refused `TAP_CONNECT` is a response). Only magic,
/// length consistency and `limits.max_body_len` are checked.
///
/// # Errors
/// Bad magic, inconsistent lengths, a body over the limit.
pub fn check_packet(buf: &[u8], limits: &Limits) -> Result<Check, ProtocolError> {
    check_magic(buf, limits, None)
}

fn check_magic(buf: &[u8], limits: &Limits, magic: Option<Magic>) -> Result<Check, ProtocolError> {
    Ok(match trusted_header(buf, limits, magic)? {
        Ok(h) => complete_or_not(buf, &h),
        Err(incomplete) => incomplete,
    })
}

fn complete_or_not(buf: &[u8], h: &Header) -> Check {
    let len = h.frame_len();
    if buf.len() >= len { Check::Complete(len) } else { Check::Incomplete { needed: len } }
}

/// The header, once the magic, length consistency and body limit are
/// checked; `Ok(Err(Incomplete))` while fewer than 24 bytes are in.
fn trusted_header(
    buf: &[u8],
    limits: &Limits,
    magic: Option<Magic>,
) -> Result<Result<Header, Check>, ProtocolError> {
    let opcode = Opcode(buf.get(1).copied().unwrap_or(0));
    if let Some(&first) = buf.first() {
        let ok = match magic {
            Some(m) => first == m as u8,
            None => Magic::from_byte(first).is_some(),
        };
        if !ok {
            return Err(ProtocolError::new(opcode, 0, ErrorKind::BadMagic { found: first }));
        }
    }
    let header = match Header::decode(buf) {
        Some(Ok(h)) => h,
        None => return Ok(Err(Check::Incomplete { needed: HEADER_LEN })),
        // The first byte was checked above.
        Some(Err(found)) => {
            return Err(ProtocolError::new(opcode, 0, ErrorKind::BadMagic { found }));
        }
    };
    let err = |kind| ProtocolError::new(header.opcode, header.opaque, kind);
    if header.value_len().is_none() {
        return Err(err(ErrorKind::LengthMismatch {
            extras_len: header.extras_len,
            key_len: header.key_len,
            body_len: header.body_len,
        }));
    }
    if header.body_len > limits.max_body_len {
        return Err(err(ErrorKind::BodyTooLong {
            body_len: header.body_len,
            max: limits.max_body_len,
        }));
    }
    Ok(Ok(header))
}

/// The shape rule of a request opcode (spec §2 and memcached's
/// `dispatch_bin_command`): `Ok(carries_value)` when extras, key and value
/// lengths fit, `Err(Some(expected))` when they do not, `Err(None)` for an
/// opcode this codec does not serve.
pub(crate) fn shape(
    opcode: Opcode,
    extras: u8,
    key: u16,
    value: u32,
) -> Result<bool, Option<&'static str>> {
    let (ok, carries_value, expected) = match opcode.loud() {
        Opcode::GET | Opcode::GETK | Opcode::DELETE => {
            (extras == 0 && key > 0 && value == 0, false, "no extras, a key, no value")
        }
        Opcode::SET | Opcode::ADD | Opcode::REPLACE => {
            (extras == 8 && key > 0, true, "8 bytes of extras (flags, expiration), a key, a value")
        }
        Opcode::INCREMENT | Opcode::DECREMENT => (
            extras == 20 && key > 0 && value == 0,
            false,
            "20 bytes of extras (delta, initial, expiration), a key, no value",
        ),
        Opcode::QUIT | Opcode::NOOP | Opcode::VERSION | Opcode::SASL_LIST_MECHS => {
            (extras == 0 && key == 0 && value == 0, false, "an empty body")
        }
        Opcode::FLUSH => (
            (extras == 0 || extras == 4) && key == 0 && value == 0,
            false,
            "no extras or 4 (delay), no key, no value",
        ),
        Opcode::APPEND | Opcode::PREPEND => {
            (extras == 0 && key > 0, true, "no extras, a key, a value")
        }
        Opcode::STAT => {
            (extras == 0 && value == 0, false, "no extras, an optional group name as key, no value")
        }
        Opcode::VERBOSITY => (
            extras == 4 && key == 0 && value == 0,
            false,
            "4 bytes of extras (level), no key, no value",
        ),
        Opcode::TOUCH | Opcode::GAT | Opcode::GATK => (
            extras == 4 && key > 0 && value == 0,
            false,
            "4 bytes of extras (expiration), a key, no value",
        ),
        Opcode::SASL_AUTH | Opcode::SASL_STEP => {
            (extras == 0 && key > 0, true, "no extras, a mechanism name as key, a value")
        }
        // Lenient on purpose (spec §10.1): extras of any length, any name.
        Opcode::TAP_CONNECT => (true, true, ""),
        Opcode::LUA_LOAD => {
            (extras == 0 && key > 0, true, "no extras, the library name as key, its source")
        }
        Opcode::LUA_CALL => (
            extras == 2 && key > 0,
            true,
            "2 bytes of extras (number of keys), the function name as key, the arguments",
        ),
        _ => return Err(None),
    };
    if ok { Ok(carries_value) } else { Err(Some(expected)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::Status;

    fn hdr(op: Opcode, extras: u8, key: u16, body: u32) -> Vec<u8> {
        let mut h = Header::request(op, extras, key, body);
        h.opaque = 7;
        h.to_bytes().to_vec()
    }

    #[test]
    fn incomplete_until_the_whole_packet_is_in() {
        let l = Limits::default();
        assert_eq!(check_request(&[], &l), Ok(Check::Incomplete { needed: 24 }));
        assert_eq!(check_request(&[0x80], &l), Ok(Check::Incomplete { needed: 24 }));
        let mut p = hdr(Opcode::GET, 0, 3, 3);
        assert_eq!(check_request(&p, &l), Ok(Check::Incomplete { needed: 27 }));
        p.extend_from_slice(b"abc");
        assert_eq!(check_request(&p, &l), Ok(Check::Complete(27)));
        p.extend_from_slice(b"next packet");
        assert_eq!(check_request(&p, &l), Ok(Check::Complete(27)));
    }

    #[test]
    fn bad_magic_on_the_first_byte() {
        let e = check_request(b"get foo\r\n", &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadMagic { found: b'g' });
        assert!(e.closes());
        assert_eq!(e.status(), None);
        // A response where a request belongs is bad magic too.
        let e = check_request(&[0x81], &Limits::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadMagic { found: 0x81 });
    }

    #[test]
    fn memcached_order_of_fatal_errors() {
        let l = Limits::default();
        let e = check_request(&hdr(Opcode::SET, 8, 10, 17), &l).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::LengthMismatch { .. }));
        assert_eq!((e.status(), e.closes()), (Some(Status::UNKNOWN_COMMAND), true));
        let e = check_request(&hdr(Opcode::SET, 8, 10, (1 << 30) + 1), &l).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::BodyTooLong { .. }));
        assert_eq!((e.status(), e.closes()), (Some(Status::EINVAL), true));
        let e = check_request(&hdr(Opcode::GET, 0, 251, 251), &l).unwrap_err();
        assert_eq!(e.kind, ErrorKind::KeyTooLong { key_len: 251, max: 250 });
        assert_eq!((e.status(), e.closes(), e.opaque), (Some(Status::EINVAL), true, 7));
        // An unknown opcode with a long key still closes (the key check comes first).
        let e = check_request(&hdr(Opcode(0x99), 0, 251, 251), &l).unwrap_err();
        assert!(e.closes());
        assert_eq!(
            check_request(&hdr(Opcode::GET, 0, 250, 250), &l),
            Ok(Check::Incomplete { needed: 274 })
        );
    }

    #[test]
    fn shape_violations_close_with_einval() {
        let l = Limits::default();
        for (op, e, k, b) in [
            (Opcode::GET, 4, 1, 5),
            (Opcode::GETQ, 0, 1, 2),
            (Opcode::SET, 0, 1, 5),
            (Opcode::SETQ, 8, 0, 8),
            (Opcode::INCREMENT, 8, 1, 9),
            (Opcode::DELETE, 0, 1, 2),
            (Opcode::NOOP, 0, 0, 1),
            (Opcode::VERSION, 0, 1, 1),
            (Opcode::QUITQ, 4, 0, 4),
            (Opcode::FLUSH, 8, 0, 8),
            (Opcode::FLUSHQ, 4, 0, 5),
            (Opcode::APPEND, 4, 1, 6),
            (Opcode::TOUCH, 0, 1, 1),
            (Opcode::GATKQ, 4, 0, 4),
            (Opcode::STAT, 4, 0, 4),
            (Opcode::SASL_AUTH, 0, 0, 5),
            (Opcode::VERBOSITY, 0, 0, 0),
        ] {
            let err = check_request(&hdr(op, e, k, b), &l).unwrap_err();
            assert!(matches!(err.kind, ErrorKind::Shape { .. }), "{op:?}: {err}");
            assert_eq!((err.status(), err.closes()), (Some(Status::EINVAL), true));
            assert_eq!(err.opcode, op);
        }
    }

    #[test]
    fn unknown_and_too_large_are_skipped() {
        let l = Limits::default();
        // VERBOSITY-like unknown opcode with extras: skip exactly the packet.
        let e = check_request(&hdr(Opcode::RGET, 4, 0, 4), &l).unwrap_err();
        assert_eq!(e.kind, ErrorKind::UnknownCommand { body_len: 4 });
        assert_eq!(
            (e.status(), e.closes(), e.skip()),
            (Some(Status::UNKNOWN_COMMAND), false, Some(28))
        );
        let e = check_request(&hdr(Opcode::TAP_MUTATION, 16, 1, 20), &l).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::UnknownCommand { .. }));
        // t/binary.t: a value of 1 MiB + 1 is E2BIG and the connection stays.
        let v = (1 << 20) + 1;
        let e = check_request(&hdr(Opcode::SETQ, 8, 3, 11 + v), &l).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::ValueTooLarge { value_len: v, max: 1 << 20, body_len: 11 + v }
        );
        assert_eq!(
            (e.status(), e.closes(), e.skip()),
            (Some(Status::E2BIG), false, Some(24 + 11 + u64::from(v)))
        );
        assert_eq!(
            check_request(&hdr(Opcode::SETQ, 8, 3, 11 + (1 << 20)), &l),
            Ok(Check::Incomplete { needed: 24 + 11 + (1 << 20) })
        );
    }

    #[test]
    fn responses_and_packets() {
        let l = Limits::default();
        let mut r = Header::response(Opcode::GET, Status::KEY_ENOENT, 0, 0, 9).to_bytes().to_vec();
        assert_eq!(check_response(&r, &l), Ok(Check::Incomplete { needed: 33 }));
        r.extend_from_slice(b"Not found");
        assert_eq!(check_response(&r, &l), Ok(Check::Complete(33)));
        assert_eq!(check_packet(&r, &l), Ok(Check::Complete(33)));
        assert!(check_request(&r, &l).is_err());
        let q = hdr(Opcode::NOOP, 0, 0, 0);
        assert!(check_response(&q, &l).is_err());
        assert_eq!(check_packet(&q, &l), Ok(Check::Complete(24)));
    }
}
