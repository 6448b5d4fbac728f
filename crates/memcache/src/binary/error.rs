//! Protocol errors: what went wrong with a request, what to answer, and
//! whether the connection survives it (spec §8).

use std::fmt;

use super::{Opcode, Status};

/// A request the codec refuses, with everything a server needs to act on it:
/// [`ProtocolError::status`] to answer (if any), [`ProtocolError::closes`]
/// to decide whether the connection ends, and [`ProtocolError::skip`] for
/// how many bytes of input the refused packet occupies when it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The request's opcode, echoed in the reply.
    pub opcode: Opcode,
    /// The request's opaque, echoed in the reply.
    pub opaque: u32,
    /// What went wrong.
    pub kind: ErrorKind,
    /// For a SET refused as too large, its key: memcached then removes the
    /// key's old item, so that a client never reads the value it just tried
    /// to replace ([`RequestDecoder`](super::RequestDecoder) fills it in).
    pub unlink: Option<bytes::Bytes>,
}

/// The kinds of [`ProtocolError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The first byte of a packet is not the expected magic. No reply; close.
    BadMagic {
        /// The byte found.
        found: u8,
    },
    /// Extras and key do not fit in the body. memcached answers
    /// `UNKNOWN_COMMAND` and closes.
    LengthMismatch {
        /// Extras length from the header.
        extras_len: u8,
        /// Key length from the header.
        key_len: u16,
        /// Total body length from the header.
        body_len: u32,
    },
    /// The body is longer than [`Limits::max_body_len`](super::Limits). `EINVAL`;
    /// close without reading it.
    BodyTooLong {
        /// Total body length from the header.
        body_len: u32,
        /// The limit.
        max: u32,
    },
    /// A key longer than [`Limits::max_key_len`](super::Limits) (250). `EINVAL`; close.
    KeyTooLong {
        /// Key length from the header.
        key_len: u16,
        /// The limit.
        max: u16,
    },
    /// A known opcode with extras, key or value that its command forbids or
    /// lacks. `EINVAL`, even for quiet opcodes; close.
    Shape {
        /// Extras length from the header.
        extras_len: u8,
        /// Key length from the header.
        key_len: u16,
        /// Value length (body minus extras and key).
        value_len: u32,
        /// What the command takes, in words.
        expected: &'static str,
    },
    /// A value longer than [`Limits::max_value_len`](super::Limits). `E2BIG`;
    /// the packet is skipped and the connection stays open.
    ValueTooLarge {
        /// Value length (body minus extras and key).
        value_len: u32,
        /// The limit.
        max: u32,
        /// Total body length, to skip.
        body_len: u32,
    },
    /// An opcode this codec does not serve (including range and TAP event
    /// opcodes sent to a server). `UNKNOWN_COMMAND`; skipped; open.
    UnknownCommand {
        /// Total body length, to skip.
        body_len: u32,
    },
    /// `TAP_CONNECT` arguments that do not match its flags. `EINVAL`; the
    /// packet was complete, so the connection may stay open.
    TapConnect(TapError),
    /// A `LUA_CALL` value whose length-prefixed arguments do not add up (or
    /// fewer of them than the declared keys). `EINVAL`; the packet was
    /// complete, so the connection stays open.
    LuaArgs {
        /// Byte offset in the value where decoding stopped.
        offset: usize,
    },
    /// The buffer handed to a parse function is not exactly one packet
    /// (a caller bug: it was not split at the length `check` gave). Close.
    FrameLength {
        /// Bytes given.
        given: usize,
        /// Bytes the header says the packet has.
        expected: usize,
    },
}

impl ProtocolError {
    pub(crate) fn new(opcode: Opcode, opaque: u32, kind: ErrorKind) -> ProtocolError {
        ProtocolError { opcode, opaque, kind, unlink: None }
    }

    /// The status to answer with, or `None` when memcached answers nothing
    /// (bad magic: the peer is not speaking this protocol).
    pub fn status(&self) -> Option<Status> {
        Some(match self.kind {
            ErrorKind::BadMagic { .. } => return None,
            ErrorKind::LengthMismatch { .. } | ErrorKind::UnknownCommand { .. } => {
                Status::UNKNOWN_COMMAND
            }
            ErrorKind::ValueTooLarge { .. } => Status::E2BIG,
            ErrorKind::BodyTooLong { .. }
            | ErrorKind::KeyTooLong { .. }
            | ErrorKind::Shape { .. }
            | ErrorKind::TapConnect(_)
            | ErrorKind::LuaArgs { .. }
            | ErrorKind::FrameLength { .. } => Status::EINVAL,
        })
    }

    /// Whether the connection must be closed after the reply is flushed: the
    /// header itself cannot be trusted, so nothing after it can be framed.
    pub fn closes(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::ValueTooLarge { .. }
                | ErrorKind::UnknownCommand { .. }
                | ErrorKind::TapConnect(_)
                | ErrorKind::LuaArgs { .. }
        )
    }

    /// For errors that keep the connection open, the length of the refused
    /// packet (header included): input to discard before the next request.
    /// It may exceed what has been read so far; the rest must be discarded
    /// as it arrives (see [`RequestDecoder`](super::RequestDecoder)). `None`
    /// for errors that close, and for [`ErrorKind::TapConnect`], whose packet
    /// the parse already consumed.
    pub fn skip(&self) -> Option<u64> {
        match self.kind {
            ErrorKind::ValueTooLarge { body_len, .. } | ErrorKind::UnknownCommand { body_len } => {
                Some(super::HEADER_LEN as u64 + u64::from(body_len))
            }
            _ => None,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} request (opaque {:#x}): ", self.opcode, self.opaque)?;
        match &self.kind {
            ErrorKind::BadMagic { found } => {
                write!(f, "bad magic byte {found:#04x}, expected 0x80 or 0x81")
            }
            ErrorKind::LengthMismatch { extras_len, key_len, body_len } => write!(
                f,
                "extras ({extras_len}) and key ({key_len}) do not fit in a body of {body_len} bytes"
            ),
            ErrorKind::BodyTooLong { body_len, max } => {
                write!(f, "body of {body_len} bytes is over the limit of {max}")
            }
            ErrorKind::KeyTooLong { key_len, max } => {
                write!(f, "key of {key_len} bytes is over the limit of {max}")
            }
            ErrorKind::Shape { extras_len, key_len, value_len, expected } => write!(
                f,
                "extras {extras_len}, key {key_len}, value {value_len} bytes; expected {expected}"
            ),
            ErrorKind::ValueTooLarge { value_len, max, .. } => {
                write!(f, "value of {value_len} bytes is over the limit of {max}")
            }
            ErrorKind::UnknownCommand { .. } => write!(f, "unknown command"),
            ErrorKind::TapConnect(e) => write!(f, "{e}"),
            ErrorKind::LuaArgs { offset } => write!(
                f,
                "LUA_CALL arguments do not decode at value offset {offset} (u32 length, bytes; keys first)"
            ),
            ErrorKind::FrameLength { given, expected } => {
                write!(f, "given {given} bytes to parse, but the packet has {expected}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Why `TAP_CONNECT` arguments or a TAP event do not decode.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TapError {
    /// `TAP_CONNECT` extras that are neither 0, 4, nor all zeros.
    Extras {
        /// Extras length.
        len: u8,
    },
    /// The value ends before a flag's argument does.
    MissingArgument {
        /// The flag whose argument is cut short.
        flag: &'static str,
        /// Value offset where its argument starts.
        offset: usize,
        /// Bytes that argument needs from there.
        need: usize,
    },
    /// Bytes after the last argument.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An event's extras are shorter than its opcode needs.
    EventExtras {
        /// The event opcode.
        opcode: Opcode,
        /// Extras length found.
        len: u8,
        /// Length needed.
        need: u8,
    },
    /// An engine-private length that does not fit in the body.
    EnginePrivate {
        /// The engine-private length.
        len: u16,
        /// Bytes left for it after extras and key.
        available: u32,
    },
    /// An event value of the wrong length (vbucket state, checkpoint id,
    /// or an opaque code missing from the engine-private bytes).
    EventValue {
        /// The event opcode.
        opcode: Opcode,
        /// Bytes found.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A request opcode that is not a TAP event or NOOP.
    NotAnEvent {
        /// The opcode.
        opcode: Opcode,
    },
    /// The packet itself is refused (magic, lengths, limits, framing).
    Frame(Box<ProtocolError>),
}

impl fmt::Display for TapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TapError::Extras { len } => {
                write!(f, "TAP_CONNECT extras of {len} bytes: expected 0 or 4 (or zeros)")
            }
            TapError::MissingArgument { flag, offset, need } => write!(
                f,
                "TAP_CONNECT value ends inside the {flag} argument ({need} bytes at offset {offset})"
            ),
            TapError::TrailingBytes { count } => {
                write!(f, "TAP_CONNECT value has {count} bytes after its arguments")
            }
            TapError::EventExtras { opcode, len, need } => {
                write!(f, "{opcode} event: extras of {len} bytes, need {need}")
            }
            TapError::EnginePrivate { len, available } => write!(
                f,
                "TAP event: engine-private length {len} but only {available} body bytes after extras and key"
            ),
            TapError::EventValue { opcode, len, need } => {
                write!(f, "{opcode} event: {len} bytes where {need} are needed")
            }
            TapError::NotAnEvent { opcode } => write!(f, "{opcode} is not a TAP event"),
            TapError::Frame(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for TapError {}
