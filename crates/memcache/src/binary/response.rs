//! Responses: [`Reply`] writes a server's response headers into a
//! `BytesMut` (the value travels separately, for one vectored write of
//! header + value); [`Response`] is a client's decoded response.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::{ErrorKind, ProtocolError};
use super::frame::{Check, check_response};
use super::{HEADER_LEN, Header, Limits, Opcode, Status};

/// Where a reply goes: the request's opcode (quiet twin included) and
/// opaque. Get one from [`super::Request::reply`] or [`ProtocolError`].
///
/// The high-level writers apply quiet suppression (spec §4) themselves and
/// return whether they wrote anything, so a server cannot answer a SETQ
/// success or a GETQ miss by mistake. [`Reply::head`] never suppresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Echoed opcode.
    pub opcode: Opcode,
    /// Echoed opaque.
    pub opaque: u32,
}

impl Reply {
    /// A reply to `opcode` with `opaque`.
    pub const fn new(opcode: Opcode, opaque: u32) -> Reply {
        Reply { opcode, opaque }
    }

    /// Appends a response header followed by `extras` and `key`, for a value
    /// of `value_len` bytes that the caller sends right after (appended to
    /// `out`, or as the next slice of a vectored write). No suppression.
    ///
    /// # Panics
    /// If `extras` is over 255 bytes, `key` over 65,535, or the body over 4 GiB.
    pub fn head(
        self,
        out: &mut BytesMut,
        status: Status,
        cas: u64,
        extras: &[u8],
        key: &[u8],
        value_len: usize,
    ) {
        let body = extras.len() + key.len() + value_len;
        let mut h = Header::response(
            self.opcode,
            status,
            u8::try_from(extras.len()).expect("extras fit in 255 bytes"),
            u16::try_from(key.len()).expect("key fits in 65535 bytes"),
            u32::try_from(body).expect("body fits in 4 GiB"),
        );
        h.opaque = self.opaque;
        h.cas = cas;
        out.reserve(HEADER_LEN + extras.len() + key.len());
        h.put(out);
        out.put_slice(extras);
        out.put_slice(key);
    }

    /// Whether a reply with `status` is suppressed for this opcode.
    pub fn suppressed(self, status: Status) -> bool {
        self.opcode.suppresses(status)
    }

    /// A bodiless success carrying `cas` (SET/ADD/REPLACE/APPEND/PREPEND
    /// give the new CAS; DELETE, NOOP, FLUSH, QUIT, VERBOSITY give 0).
    /// Suppressed for quiet mutations.
    pub fn ok(self, out: &mut BytesMut, cas: u64) -> bool {
        self.with_value(out, Status::SUCCESS, cas, &[])
    }

    /// A complete reply with `value` copied in (VERSION, SASL, small bodies).
    /// Suppressed per spec §4.
    pub fn with_value(self, out: &mut BytesMut, status: Status, cas: u64, value: &[u8]) -> bool {
        if self.suppressed(status) {
            return false;
        }
        self.head(out, status, cas, &[], &[], value.len());
        out.put_slice(value);
        true
    }

    /// An error with memcached's message for `status` as the body. Only a
    /// GETQ/GATQ-family miss is suppressed; a GETK/GATK miss should use
    /// [`Reply::miss`] instead, which echoes the key as memcached does.
    pub fn error(self, out: &mut BytesMut, status: Status) -> bool {
        self.with_value(out, status, 0, status.message().as_bytes())
    }

    /// A GET/GAT miss (`KEY_ENOENT`): GETK/GATK echo `key` with no text (as
    /// memcached's `write_bin_miss_response`), the others carry "Not found".
    /// Suppressed for the quiet twins.
    pub fn miss(self, out: &mut BytesMut, key: &[u8]) -> bool {
        if self.suppressed(Status::KEY_ENOENT) {
            return false;
        }
        if self.opcode.echoes_key() {
            self.head(out, Status::KEY_ENOENT, 0, &[], key, 0);
            true
        } else {
            self.error(out, Status::KEY_ENOENT)
        }
    }

    /// The head of a GET/GAT hit: 4 flag bytes as extras, the key for
    /// GETK/GATK, then the caller sends the `value_len` value bytes.
    pub fn hit(self, out: &mut BytesMut, flags: u32, cas: u64, key: &[u8], value_len: usize) {
        let key = if self.opcode.echoes_key() { key } else { &[] };
        self.head(out, Status::SUCCESS, cas, &flags.to_be_bytes(), key, value_len);
    }

    /// A TOUCH success: memcached returns the item flags as extras, no value.
    pub fn touched(self, out: &mut BytesMut, flags: u32, cas: u64) {
        self.head(out, Status::SUCCESS, cas, &flags.to_be_bytes(), &[], 0);
    }

    /// An INCR/DECR success: the new value as 8 bytes, no extras.
    /// Suppressed for INCREMENTQ/DECREMENTQ.
    pub fn counter(self, out: &mut BytesMut, value: u64, cas: u64) -> bool {
        self.with_value(out, Status::SUCCESS, cas, &value.to_be_bytes())
    }

    /// One STAT packet: key = `name`, value = `value`.
    pub fn stat(self, out: &mut BytesMut, name: &[u8], value: &[u8]) {
        self.head(out, Status::SUCCESS, 0, &[], name, value.len());
        out.put_slice(value);
    }

    /// The packet that ends a STAT stream: no key, no value.
    pub fn stat_end(self, out: &mut BytesMut) {
        self.head(out, Status::SUCCESS, 0, &[], &[], 0);
    }
}

/// A decoded response; extras, key and value are slices of the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Opcode, as the request sent it.
    pub opcode: Opcode,
    /// Status.
    pub status: Status,
    /// The request's opaque.
    pub opaque: u32,
    /// CAS.
    pub cas: u64,
    /// Data type (0).
    pub data_type: u8,
    /// Extras (a GET hit's 4 flag bytes).
    pub extras: Bytes,
    /// Key (GETK hits and misses, STAT names).
    pub key: Bytes,
    /// Value (GET data, error text, an 8-byte counter, a stat value).
    pub value: Bytes,
}

impl Response {
    /// Parses one whole response packet: `frame` must be exactly the bytes
    /// [`check_response`] reported as complete.
    ///
    /// # Errors
    /// Those of [`check_response`], and [`ErrorKind::FrameLength`] when
    /// `frame` is not exactly one packet.
    pub fn parse(frame: Bytes, limits: &Limits) -> Result<Response, ProtocolError> {
        let expected = match check_response(&frame, limits)? {
            Check::Complete(n) => n,
            Check::Incomplete { needed } => needed,
        };
        let h = match Header::decode(&frame) {
            Some(Ok(h)) if frame.len() == expected => h,
            _ => {
                let opcode = Opcode(frame.get(1).copied().unwrap_or(0));
                return Err(ProtocolError::new(
                    opcode,
                    0,
                    ErrorKind::FrameLength { given: frame.len(), expected },
                ));
            }
        };
        let mut value = frame;
        value.advance(HEADER_LEN);
        let extras = value.split_to(usize::from(h.extras_len));
        let key = value.split_to(usize::from(h.key_len));
        Ok(Response {
            opcode: h.opcode,
            status: h.status(),
            opaque: h.opaque,
            cas: h.cas,
            data_type: h.data_type,
            extras,
            key,
            value,
        })
    }

    /// The item flags of a GET/GAT/TOUCH hit (4 bytes of extras).
    pub fn flags(&self) -> Option<u32> {
        let b: [u8; 4] = self.extras.as_ref().try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// The new value of a successful INCR/DECR (an 8-byte value).
    pub fn counter(&self) -> Option<u64> {
        if !self.status.is_success() {
            return None;
        }
        let b: [u8; 8] = self.value.as_ref().try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }

    /// Whether this ends a STAT stream (success, no key, no value).
    pub fn is_stat_end(&self) -> bool {
        self.status.is_success() && self.key.is_empty() && self.value.is_empty()
    }

    /// Appends the encoded response to `out` (for tests and proxies).
    ///
    /// # Panics
    /// If the parts do not fit the header's length fields.
    pub fn encode(&self, out: &mut BytesMut) {
        let body = self.extras.len() + self.key.len() + self.value.len();
        let mut h = Header::response(
            self.opcode,
            self.status,
            u8::try_from(self.extras.len()).expect("extras fit in 255 bytes"),
            u16::try_from(self.key.len()).expect("key fits in 65535 bytes"),
            u32::try_from(body).expect("body fits in 4 GiB"),
        );
        h.opaque = self.opaque;
        h.cas = self.cas;
        h.data_type = self.data_type;
        out.reserve(HEADER_LEN + body);
        h.put(out);
        out.put_slice(&self.extras);
        out.put_slice(&self.key);
        out.put_slice(&self.value);
    }
}

impl ProtocolError {
    /// Appends the reply memcached would send (header plus its message as
    /// the value) to `out`; appends nothing when there is no reply. Quiet
    /// opcodes get it too: no error is ever suppressed here.
    pub fn write_reply(&self, out: &mut BytesMut) {
        if let Some(status) = self.status() {
            Reply::new(self.opcode, self.opaque).error(out, status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(f: impl FnOnce(&mut BytesMut)) -> String {
        let mut out = BytesMut::new();
        f(&mut out);
        hex::encode(out)
    }

    fn parse(hex_str: &str) -> Response {
        Response::parse(Bytes::from(hex::decode(hex_str).unwrap()), &Limits::default()).unwrap()
    }

    // Responses from doc/protocol-binary.txt (§4.1.1 … §4.11.1).
    const NOT_FOUND: &str = "8100000000000001000000090000000000000000000000004e6f7420666f756e64";
    const GET_HIT: &str = "810000000400000000000009000000000000000000000001deadbeef576f726c64";
    // The draft's figure says body length 0x09 here; its field list says
    // 0x0e, which is the right sum (4 + 5 + 5).
    const GETK_HIT: &str =
        "81000005040000000000000e000000000000000000000001deadbeef48656c6c6f576f726c64";
    const ADD_OK: &str = "810200000000000000000000000000000000000000000001";
    const INCR_OK: &str = "8105000000000000000000080000000000000000000000050000000000000000";
    const VERSION_OK: &str = "810b00000000000000000005000000000000000000000000312e332e31";
    const STAT_PID: &str = "81100003000000000000000700000000000000000000000070696433303738";

    #[test]
    fn writes_the_drafts_responses() {
        let get = Reply::new(Opcode::GET, 0);
        assert_eq!(encoded(|o| assert!(get.error(o, Status::KEY_ENOENT))), NOT_FOUND);
        assert_eq!(encoded(|o| assert!(get.miss(o, b"Hello"))), NOT_FOUND);
        assert_eq!(
            encoded(|o| {
                get.hit(o, 0xdead_beef, 1, b"Hello", 5);
                o.put_slice(b"World");
            }),
            GET_HIT
        );
        let getk = Reply::new(Opcode::GETK, 0);
        let mut want = hex::decode(GETK_HIT).unwrap();
        want[1] = 0x0c;
        assert_eq!(
            encoded(|o| {
                getk.hit(o, 0xdead_beef, 1, b"Hello", 5);
                o.put_slice(b"World");
            }),
            hex::encode(want)
        );
        assert_eq!(encoded(|o| assert!(Reply::new(Opcode::ADD, 0).ok(o, 1))), ADD_OK);
        assert_eq!(
            encoded(|o| assert!(Reply::new(Opcode::INCREMENT, 0).counter(o, 0, 5))),
            INCR_OK
        );
        assert_eq!(
            encoded(|o| assert!(Reply::new(Opcode::VERSION, 0).with_value(
                o,
                Status::SUCCESS,
                0,
                b"1.3.1"
            ))),
            VERSION_OK
        );
        assert_eq!(encoded(|o| Reply::new(Opcode::STAT, 0).stat(o, b"pid", b"3078")), STAT_PID);
    }

    #[test]
    fn parses_the_drafts_responses() {
        let r = parse(NOT_FOUND);
        assert_eq!((r.status, &r.value[..]), (Status::KEY_ENOENT, &b"Not found"[..]));
        let r = parse(GETK_HIT);
        assert_eq!(r.flags(), Some(0xdead_beef));
        assert_eq!((&r.key[..], &r.value[..], r.cas), (&b"Hello"[..], &b"World"[..], 1));
        assert_eq!(parse(INCR_OK).counter(), Some(0));
        assert_eq!(parse(INCR_OK).cas, 5);
        let s = parse(STAT_PID);
        assert!(!s.is_stat_end());
        assert_eq!((&s.key[..], &s.value[..]), (&b"pid"[..], &b"3078"[..]));
        for v in [NOT_FOUND, GET_HIT, GETK_HIT, ADD_OK, INCR_OK, VERSION_OK, STAT_PID] {
            let mut out = BytesMut::new();
            parse(v).encode(&mut out);
            assert_eq!(hex::encode(out), v);
        }
    }

    #[test]
    fn quiet_suppression() {
        let mut out = BytesMut::new();
        assert!(!Reply::new(Opcode::SETQ, 1).ok(&mut out, 5));
        assert!(!Reply::new(Opcode::GETKQ, 1).miss(&mut out, b"k"));
        assert!(!Reply::new(Opcode::INCREMENTQ, 1).counter(&mut out, 3, 5));
        assert!(out.is_empty());
        // Quiet failures are sent with the quiet opcode and the opaque.
        assert!(Reply::new(Opcode::ADDQ, 0x55).error(&mut out, Status::KEY_EEXISTS));
        let r = Response::parse(out.split().freeze(), &Limits::default()).unwrap();
        assert_eq!((r.opcode, r.opaque, r.status), (Opcode::ADDQ, 0x55, Status::KEY_EEXISTS));
        assert_eq!(&r.value[..], b"Data exists for key.");
        // GETK misses echo the key and carry no text.
        assert!(Reply::new(Opcode::GETK, 2).miss(&mut out, b"gone"));
        let r = Response::parse(out.split().freeze(), &Limits::default()).unwrap();
        assert_eq!((r.status, &r.key[..], r.value.len()), (Status::KEY_ENOENT, &b"gone"[..], 0));
        // A DELETEQ miss is reported.
        assert!(Reply::new(Opcode::DELETEQ, 3).error(&mut out, Status::KEY_ENOENT));
    }

    #[test]
    fn stat_end_and_touch() {
        let mut out = BytesMut::new();
        Reply::new(Opcode::STAT, 9).stat_end(&mut out);
        let r = Response::parse(out.split().freeze(), &Limits::default()).unwrap();
        assert!(r.is_stat_end());
        assert_eq!(r.opaque, 9);
        Reply::new(Opcode::TOUCH, 0).touched(&mut out, 7, 11);
        let r = Response::parse(out.split().freeze(), &Limits::default()).unwrap();
        assert_eq!((r.flags(), r.cas, r.value.len()), (Some(7), 11, 0));
    }
}
