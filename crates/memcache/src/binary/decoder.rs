//! Stream decoders: check, split and parse in one call over a read buffer,
//! including the skipping of refused packets whose bodies have not all
//! arrived yet. No I/O: the caller reads into the `BytesMut`.

use bytes::{Bytes, BytesMut};

use super::error::{ErrorKind, ProtocolError};
use super::frame::{Check, check_response, checked_request};
use super::{HEADER_LEN, Limits, Opcode, Request, Response};

/// Turns a server connection's read buffer into [`Request`]s.
///
/// ```
/// use bytes::BytesMut;
/// use memcache::binary::{Limits, Request, RequestDecoder};
///
/// let mut input = BytesMut::new();
/// Request::get(&b"k"[..]).encode(&mut input);
/// let mut decoder = RequestDecoder::new(Limits::default());
/// let request = decoder.decode(&mut input).unwrap().unwrap();
/// assert_eq!(request, Request::get(&b"k"[..]));
/// assert!(decoder.decode(&mut input).unwrap().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct RequestDecoder {
    limits: Limits,
    skipping: u64,
}

impl RequestDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder { limits, skipping: 0 }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes of a refused packet still to be discarded as they arrive.
    pub fn skipping(&self) -> u64 {
        self.skipping
    }

    /// The next request at the start of `buf`, which is advanced past it.
    ///
    /// - `Ok(Some(request))`: key and value share `buf`'s memory.
    /// - `Ok(None)`: read more input and call again.
    /// - `Err(e)` with `!e.closes()`: answer with [`ProtocolError::write_reply`]
    ///   and keep decoding; the refused packet is discarded, now or as the
    ///   rest of it arrives.
    /// - `Err(e)` with `e.closes()`: answer (if `e.status()` is some), flush,
    ///   and close. The buffer is left as it was.
    ///
    /// # Errors
    /// As above.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
        if !crate::skip::discard(&mut self.skipping, buf) {
            return Ok(None);
        }
        match checked_request(buf, &self.limits) {
            Ok((Check::Complete(n), Some(header))) => {
                let frame = buf.split_to(n).freeze();
                Request::from_checked(&header, frame).map(Some)
            }
            Ok(_) => Ok(None),
            Err(mut e) => {
                if matches!(e.kind, ErrorKind::ValueTooLarge { .. })
                    && e.opcode.loud() == Opcode::SET
                {
                    // The key follows the header and extras; wait for it
                    // (at most 255 + 65,535 bytes, far below any value
                    // limit) so the old item can be removed.
                    let extras = usize::from(buf[4]);
                    let key_len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                    let end = HEADER_LEN + extras + key_len;
                    if buf.len() < end {
                        return Ok(None);
                    }
                    e.unlink = Some(Bytes::copy_from_slice(&buf[HEADER_LEN + extras..end]));
                }
                if let Some(skip) = e.skip() {
                    self.skipping = skip;
                    crate::skip::discard(&mut self.skipping, buf);
                }
                Err(e)
            }
        }
    }
}

/// Turns a client connection's read buffer into [`Response`]s.
#[derive(Clone, Debug, Default)]
pub struct ResponseDecoder {
    limits: Limits,
}

impl ResponseDecoder {
    /// A decoder with these limits (only `max_body_len` applies).
    pub fn new(limits: Limits) -> ResponseDecoder {
        ResponseDecoder { limits }
    }

    /// The next response at the start of `buf`, which is advanced past it;
    /// `Ok(None)` when more input is needed.
    ///
    /// # Errors
    /// Bad magic, inconsistent lengths or a body over the limit: the stream
    /// cannot be framed any more; close it.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Response>, ProtocolError> {
        match check_response(buf, &self.limits)? {
            Check::Incomplete { .. } => Ok(None),
            Check::Complete(n) => Response::parse(buf.split_to(n).freeze(), &self.limits).map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binary::{Opcode, Status, encode_raw};

    #[test]
    fn skips_an_oversized_value_across_reads() {
        let limits = Limits { max_value_len: 10, ..Limits::default() };
        let mut dec = RequestDecoder::new(limits);
        let mut wire = BytesMut::new();
        encode_raw(&mut wire, Opcode::SETQ, 1, 0, 0, &[0; 8], b"k", &[b'x'; 100]);
        Request::noop().with_opaque(2).encode(&mut wire);
        // Deliver in 7-byte pieces.
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(7) {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(r)) => got.push(Ok(r)),
                    Ok(None) => break,
                    Err(e) => {
                        assert!(!e.closes());
                        got.push(Err(e));
                    }
                }
            }
        }
        assert_eq!(got.len(), 2);
        let e = got[0].clone().unwrap_err();
        assert_eq!((e.status(), e.opcode, e.opaque), (Some(Status::E2BIG), Opcode::SETQ, 1));
        assert_eq!(got[1], Ok(Request::noop().with_opaque(2)));
        assert!(buf.is_empty());
        assert_eq!(dec.skipping(), 0);
    }

    #[test]
    fn unknown_opcode_skips_exactly_its_body() {
        // memcached over-skips after VERBOSITY-like unknown packets (spec §8);
        // we skip exactly 24 + bodylen.
        let mut dec = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::new();
        encode_raw(&mut buf, Opcode(0x1f), 9, 0, 0, &[1, 2, 3, 4], b"", &[]);
        Request::noop().encode(&mut buf);
        let e = dec.decode(&mut buf).unwrap_err();
        assert_eq!(e.status(), Some(Status::UNKNOWN_COMMAND));
        assert_eq!(dec.decode(&mut buf), Ok(Some(Request::noop())));
    }

    #[test]
    fn fatal_errors_leave_the_buffer() {
        let mut dec = RequestDecoder::new(Limits::default());
        let mut buf = BytesMut::from(&b"stats\r\n"[..]);
        let e = dec.decode(&mut buf).unwrap_err();
        assert!(e.closes());
        assert_eq!(buf.len(), 7);
    }
}
