//! The stream decoder: finds a whole line (and a whole data block) in the
//! read buffer before building anything, enforces the line limits, and
//! discards the data blocks of refused storage commands as they arrive.

use bytes::{Buf, Bytes, BytesMut};

use super::TextLimits;
use super::error::{TextError, TextErrorKind};
use super::request::{Parsed, TextRequest, parse};

/// Turns a server connection's read buffer into [`TextRequest`]s.
///
/// ```
/// use bytes::BytesMut;
/// use memcache::text::{TextDecoder, TextLimits, TextRequest};
///
/// let mut input = BytesMut::from(&b"set k 5 0 2\r\nhi\r\nget k\r\n"[..]);
/// let mut decoder = TextDecoder::new(TextLimits::default());
/// let Some(TextRequest::Store(set)) = decoder.decode(&mut input).unwrap() else { panic!() };
/// assert_eq!((&set.key[..], &set.value[..], set.flags), (&b"k"[..], &b"hi"[..], 5));
/// let Some(TextRequest::Get(get)) = decoder.decode(&mut input).unwrap() else { panic!() };
/// assert_eq!(get.keys, vec![&b"k"[..]]);
/// assert!(decoder.decode(&mut input).unwrap().is_none());
/// ```
#[derive(Clone, Debug)]
pub struct TextDecoder {
    limits: TextLimits,
    skipping: u64,
}

impl TextDecoder {
    /// A decoder with these limits.
    pub fn new(limits: TextLimits) -> TextDecoder {
        TextDecoder { limits, skipping: 0 }
    }

    /// The limits in force.
    pub fn limits(&self) -> &TextLimits {
        &self.limits
    }

    /// Bytes of a refused data block still to be discarded as they arrive.
    pub fn skipping(&self) -> u64 {
        self.skipping
    }

    /// The next request at the start of `buf`, which is advanced past it.
    ///
    /// - `Ok(Some(request))`: keys and values share `buf`'s memory.
    /// - `Ok(None)`: read more input and call again (a whole line, or a
    ///   storage command's data block, has not arrived; nothing consumed).
    /// - `Err(e)` with `!e.closes()`: answer with [`TextError::write_reply`]
    ///   and keep decoding; the refused line (and data block, now or as it
    ///   arrives) is discarded.
    /// - `Err(e)` with `e.closes()`: a line over the limit; close without a
    ///   reply. The buffer is left as it was.
    ///
    /// # Errors
    /// As above.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<TextRequest>, TextError> {
        if !crate::skip::discard(&mut self.skipping, buf) {
            return Ok(None);
        }
        let Some(line_len) = self.find_line(buf)? else {
            return Ok(None);
        };
        let no_slice = |_: &[u8]| Bytes::new();
        // Storage commands: is their data block complete? Other lines are
        // whole already, and are parsed once, below.
        let mut data_len = 0;
        if is_storage(&buf[..line_len]) {
            match parse(&buf[..line_len - 1], &buf[line_len..], &self.limits, &no_slice) {
                Ok(Parsed::NeedData(_)) => return Ok(None),
                Ok(Parsed::Request(_, n)) => data_len = n,
                Err(e) => return Err(self.refuse(buf, line_len, e)),
            }
        }
        let frame = buf.split_to(line_len + data_len).freeze();
        let slice = |s: &[u8]| frame.slice_ref(s);
        match parse(&frame[..line_len - 1], &frame[line_len..], &self.limits, &slice) {
            Ok(Parsed::Request(r, _)) => Ok(Some(r)),
            // Unreachable: storage lines were checked above with the same bytes.
            Ok(Parsed::NeedData(len)) => {
                Err(TextError::new(TextErrorKind::BadDataChunk { len: len as u64 }))
            }
            Err(mut e) => {
                // Data already split off with the line.
                e.consumed = 0;
                self.skipping = e.swallow;
                Err(e)
            }
        }
    }

    /// Consumes a refused line and what it owns; arranges the swallowing.
    fn refuse(&mut self, buf: &mut BytesMut, line_len: usize, e: TextError) -> TextError {
        buf.advance((line_len + e.consumed).min(buf.len()));
        self.skipping = e.swallow;
        crate::skip::discard(&mut self.skipping, buf);
        e
    }

    /// The length of the first line (`\n` included), `None` if it has not
    /// all arrived, or the close-the-connection error over the limits.
    fn find_line(&self, buf: &BytesMut) -> Result<Option<usize>, TextError> {
        let long = is_multiget(buf);
        let max = if long { self.limits.max_get_line_len } else { self.limits.max_line_len };
        let window = &buf[..buf.len().min(max)];
        match memchr_newline(window) {
            Some(i) => Ok(Some(i + 1)),
            None if buf.len() >= max => {
                Err(TextError::new(TextErrorKind::LineTooLong { len: buf.len(), max }))
            }
            None => Ok(None),
        }
    }
}

fn memchr_newline(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// memcached lets a line grow past 2048 bytes only if it starts (after at
/// most 100 spaces) with `get ` or `gets `.
fn is_multiget(buf: &[u8]) -> bool {
    let spaces = buf.iter().take(101).take_while(|&&b| b == b' ').count();
    if spaces > 100 {
        return false;
    }
    let rest = &buf[spaces..];
    rest.starts_with(b"get ") || rest.starts_with(b"gets ")
}

/// Whether a line is a storage command (which has a data block after it).
fn is_storage(line: &[u8]) -> bool {
    let start = line.iter().position(|&b| b != b' ').unwrap_or(line.len());
    let rest = &line[start..];
    let end =
        rest.iter().position(|&b| b == b' ' || b == b'\r' || b == b'\n').unwrap_or(rest.len());
    match &rest[..end] {
        b"set" | b"add" | b"replace" | b"append" | b"prepend" | b"cas" | b"ms" => true,
        // `lua load <lib> <bytes>` carries the library as its data block.
        b"lua" => rest[end..].trim_ascii_start().starts_with(b"load "),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiget_prefix() {
        assert!(is_multiget(b"get a"));
        assert!(is_multiget(b"   gets a"));
        assert!(!is_multiget(b"gat 1 a"));
        assert!(!is_multiget(&[b' '; 300]));
    }

    #[test]
    fn swallows_a_large_value_across_reads() {
        let limits = TextLimits { max_value_len: 10, ..TextLimits::default() };
        let mut dec = TextDecoder::new(limits);
        let mut wire = b"set k 0 0 100 noreply\r\n".to_vec();
        wire.extend_from_slice(&[b'x'; 100]);
        wire.extend_from_slice(b"\r\nmn\r\n");
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(7) {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(r)) => got.push(Ok(r)),
                    Ok(None) => break,
                    Err(e) => got.push(Err(e)),
                }
            }
        }
        assert_eq!(got.len(), 2, "{got:?}");
        let e = got[0].clone().unwrap_err();
        assert!(matches!(e.kind, TextErrorKind::TooLarge { len: 100, max: 10, unlink: true }));
        assert!(e.noreply && !e.closes());
        assert_eq!(got[1], Ok(TextRequest::MetaNoop));
        assert!(buf.is_empty());
    }
}
