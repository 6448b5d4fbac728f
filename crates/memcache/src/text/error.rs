//! Text-protocol errors: the line memcached answers with, whether the
//! connection survives, and how much input after the line to discard.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// A request line (or data block) the codec refuses.
///
/// A server writes [`TextError::write_reply`] (which honours `noreply`) and
/// then closes if [`TextError::closes`]; otherwise it keeps decoding: the
/// [`TextDecoder`](super::TextDecoder) has already consumed the line and
/// discards [`TextError::swallow`] further bytes as they arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextError {
    /// What went wrong.
    pub kind: TextErrorKind,
    /// The line ended in `noreply` and memcached had seen it before it
    /// failed: the reply is suppressed.
    pub noreply: bool,
    /// Bytes after the line that belong to the refused request (a data
    /// block plus its `\r\n`) and are discarded, now or as they arrive.
    pub swallow: u64,
    /// The request's key, when the error concerns one (set for
    /// [`TextErrorKind::TooLarge`]; base64-decoded for `ms … b`).
    pub key: Option<Bytes>,
    /// Bytes after the line the parser consumed (a bad data chunk).
    pub(crate) consumed: usize,
}

/// The kinds of [`TextError`], each with memcached's exact reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextErrorKind {
    /// A line over the limit (with or without its newline). No reply; close.
    LineTooLong {
        /// Bytes of the line seen so far.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// Unknown command, empty line, or a wrong number of tokens: `ERROR`.
    UnknownCommand,
    /// `CLIENT_ERROR bad command line format`: a key over 250 bytes, a
    /// malformed number, a negative length.
    BadFormat,
    /// `delete` with arguments other than `0` and `noreply`.
    DeleteUsage,
    /// `CLIENT_ERROR invalid exptime argument` (`touch`, `gat`, `flush_all`).
    InvalidExptime,
    /// `CLIENT_ERROR invalid numeric delta argument` (incr/decr).
    InvalidDelta,
    /// The data block is not followed by `\r\n`: `CLIENT_ERROR bad data chunk`.
    /// Its bytes (and the two after them) have been consumed; the
    /// connection stays open and decoding resumes after them.
    BadDataChunk {
        /// Declared value length.
        len: u64,
    },
    /// `SERVER_ERROR object too large for cache`. The data block is
    /// swallowed. memcached also unlinks the key's current item when
    /// `unlink` is set (`set` and `ms`), so that a stale value cannot survive
    /// a failed overwrite; [`TextError::key`] names it.
    TooLarge {
        /// Declared value length.
        len: u64,
        /// The limit.
        max: u32,
        /// Whether memcached unlinks the existing item.
        unlink: bool,
    },
    /// A meta command's flags were refused: `CLIENT_ERROR <text>`, always
    /// sent (meta errors ignore `q`).
    Meta(MetaErrorKind),
}

/// Why a meta command's flags were refused; each maps to memcached's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaErrorKind {
    /// `CLIENT_ERROR duplicate flag` (mg, ms).
    DuplicateFlag,
    /// `CLIENT_ERROR invalid flag` (mg, ms).
    InvalidFlag,
    /// `CLIENT_ERROR invalid or duplicate flag` (md, ma).
    InvalidOrDuplicateFlag,
    /// `CLIENT_ERROR bad token in command line format`: a flag's number.
    BadToken,
    /// `CLIENT_ERROR incorrect length for M token`.
    ModeLength,
    /// `CLIENT_ERROR invalid mode for ms M token`.
    SetMode,
    /// `CLIENT_ERROR invalid mode for ma M token`.
    ArithmeticMode,
    /// `CLIENT_ERROR invalid numeric initial value` (`J`).
    InitialValue,
    /// `CLIENT_ERROR invalid numeric delta value` (`D`).
    DeltaValue,
    /// `CLIENT_ERROR opaque token too long` (over 32 bytes).
    OpaqueTooLong,
    /// `CLIENT_ERROR options flags are too long` (mg) / `… flags too long`.
    TooManyFlags {
        /// Whether the command is `mg` (memcached words it differently).
        get: bool,
    },
    /// `CLIENT_ERROR error decoding key`: a `b` key that is not base64.
    KeyDecode,
}

impl MetaErrorKind {
    fn message(self) -> &'static str {
        match self {
            MetaErrorKind::DuplicateFlag => "CLIENT_ERROR duplicate flag",
            MetaErrorKind::InvalidFlag => "CLIENT_ERROR invalid flag",
            MetaErrorKind::InvalidOrDuplicateFlag => "CLIENT_ERROR invalid or duplicate flag",
            MetaErrorKind::BadToken => "CLIENT_ERROR bad token in command line format",
            MetaErrorKind::ModeLength => "CLIENT_ERROR incorrect length for M token",
            MetaErrorKind::SetMode => "CLIENT_ERROR invalid mode for ms M token",
            MetaErrorKind::ArithmeticMode => "CLIENT_ERROR invalid mode for ma M token",
            MetaErrorKind::InitialValue => "CLIENT_ERROR invalid numeric initial value",
            MetaErrorKind::DeltaValue => "CLIENT_ERROR invalid numeric delta value",
            MetaErrorKind::OpaqueTooLong => "CLIENT_ERROR opaque token too long",
            MetaErrorKind::TooManyFlags { get: true } => "CLIENT_ERROR options flags are too long",
            MetaErrorKind::TooManyFlags { get: false } => "CLIENT_ERROR options flags too long",
            MetaErrorKind::KeyDecode => "CLIENT_ERROR error decoding key",
        }
    }
}

impl TextError {
    pub(crate) fn new(kind: TextErrorKind) -> TextError {
        TextError { kind, noreply: false, swallow: 0, key: None, consumed: 0 }
    }

    pub(crate) fn noreply(mut self, noreply: bool) -> TextError {
        self.noreply = noreply;
        self
    }

    pub(crate) fn swallowing(mut self, n: u64) -> TextError {
        self.swallow = n;
        self
    }

    /// memcached's reply line without `\r\n`, or `None` when the connection
    /// is closed without a reply.
    pub fn message(&self) -> Option<&'static str> {
        Some(match self.kind {
            TextErrorKind::LineTooLong { .. } => return None,
            TextErrorKind::UnknownCommand => "ERROR",
            TextErrorKind::BadFormat => "CLIENT_ERROR bad command line format",
            TextErrorKind::DeleteUsage => {
                "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
            }
            TextErrorKind::InvalidExptime => "CLIENT_ERROR invalid exptime argument",
            TextErrorKind::InvalidDelta => "CLIENT_ERROR invalid numeric delta argument",
            TextErrorKind::BadDataChunk { .. } => "CLIENT_ERROR bad data chunk",
            TextErrorKind::TooLarge { .. } => "SERVER_ERROR object too large for cache",
            TextErrorKind::Meta(m) => m.message(),
        })
    }

    /// Whether the connection must be closed (after flushing what was
    /// already answered): only a line over the limit does this.
    pub fn closes(&self) -> bool {
        matches!(self.kind, TextErrorKind::LineTooLong { .. })
    }

    /// Whether the reply is suppressed by `noreply`.
    pub fn suppressed(&self) -> bool {
        self.noreply
    }

    /// Appends the reply line (with `\r\n`) memcached would send; nothing
    /// when `noreply` suppresses it or the connection closes silently.
    /// Returns whether anything was written.
    pub fn write_reply(&self, out: &mut BytesMut) -> bool {
        match self.message() {
            Some(m) if !self.noreply => {
                out.reserve(m.len() + 2);
                out.put_slice(m.as_bytes());
                out.put_slice(b"\r\n");
                true
            }
            _ => false,
        }
    }
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TextErrorKind::LineTooLong { len, max } => {
                write!(f, "command line of {len} bytes or more is over the limit of {max}")
            }
            TextErrorKind::TooLarge { len, max, .. } => {
                write!(f, "value of {len} bytes is over the limit of {max}")
            }
            TextErrorKind::BadDataChunk { len } => {
                write!(f, "data block of {len} bytes not followed by \\r\\n")
            }
            _ => f.write_str(self.message().unwrap_or("error")),
        }?;
        if self.noreply {
            f.write_str(" (noreply)")?;
        }
        Ok(())
    }
}

impl std::error::Error for TextError {}
