//! The memcached text protocol: the classic ASCII commands and the meta
//! commands of memcached 1.6 (`doc/protocol.txt` in memcached's sources).
//!
//! | module | job |
//! |---|---|
//! | [`decoder`] | phase one (is a whole line, and a whole data block, buffered?) and the swallowing of refused data blocks |
//! | [`request`] | phase two: the typed [`TextRequest`] built from one line and its data |
//! | [`meta`] | meta-command flags ([`MetaFlags`]) and the `mg`/`ms`/`md`/`ma` requests |
//! | [`reply`] | writing every reply line ([`Reply`], [`MetaReply`]) |
//! | [`error`] | [`TextError`]: memcached's reply line, whether to close |
//! | [`client`] | a small client-side encoder and response-line parser |
//!
//! # Limits and memcached's behaviour
//!
//! - **Lines.** A command line longer than [`TextLimits::max_line_len`]
//!   (2048 bytes, `\r\n` included) closes the connection without a reply,
//!   whether or not its newline has arrived: memcached closes a connection
//!   that has sent 2048 bytes without a newline, and (as measured against
//!   memcached 1.6.18) also most complete lines of about that length. Lines
//!   starting with `get ` or `gets ` (after at most 100 spaces) are
//!   multi-gets and may be up to [`TextLimits::max_get_line_len`] (1 MiB by
//!   default: about 4,000 keys of 250 bytes); memcached lets them grow
//!   without bound, which we do not.
//! - **Data blocks.** A storage command's data block must be followed by
//!   `\r\n`; if not, the reply is `CLIENT_ERROR bad data chunk`, the
//!   `<bytes> + 2` bytes after the line are consumed and decoding goes on
//!   after them (the connection stays open, as in memcached).
//! - **Values over [`TextLimits::max_value_len`]** get `SERVER_ERROR object
//!   too large for cache`; the data block is discarded as it arrives without
//!   being buffered. memcached also unlinks the existing item on a refused
//!   `set` (and on any refused `ms`), see [`TextErrorKind::TooLarge`].
//! - **Keys** are at most 250 bytes. Like memcached we do not check their
//!   bytes: `protocol.txt` says keys must not contain control characters,
//!   but memcached accepts them and real clients send them (memcaslap's
//!   keys begin with such bytes), and binary-protocol keys are arbitrary.
//! - **`noreply`** (classic commands) suppresses every reply to that line,
//!   errors included, exactly where memcached does: only errors found before
//!   memcached looked at the last token (wrong token count: `ERROR`) are sent.
//!   [`Reply`] applies this for the server.

pub mod client;
pub mod decoder;
pub mod error;
pub mod lua;
pub mod meta;
pub mod reply;
pub mod request;

pub use client::{Response, ResponseLine, encode_get, encode_gets, encode_set, encode_store};
pub use decoder::TextDecoder;
pub use error::{TextError, TextErrorKind};
pub use lua::LuaRequest;
pub use meta::{MetaArithmetic, MetaDelete, MetaFlags, MetaGet, MetaSet};
pub use reply::{MetaItem, MetaReply, MetaStatus, Reply};
pub use request::{Get, Store, TextRequest};

/// Longest key memcached accepts (`KEY_MAX_LENGTH`).
pub const MAX_KEY_LEN: usize = 250;

/// memcached's limit on a command line (other than a multi-get).
pub const MAX_LINE_LEN: usize = 2048;

/// Default limit on a `get`/`gets` line: 1 MiB.
pub const DEFAULT_MAX_GET_LINE_LEN: usize = 1 << 20;

/// Default longest value: 1 MiB (memcached's default `-I`).
pub const DEFAULT_MAX_VALUE_LEN: u32 = 1 << 20;

/// Longest `O` (opaque) token of a meta command, flag letter included.
pub const MAX_OPAQUE_LEN: usize = 32;

/// Limits a [`TextDecoder`] enforces. A buffer never needs to hold more than
/// `max_get_line_len`, or `max_line_len + max_value_len + 2`, bytes for one
/// request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLimits {
    /// Longest command line, `\r\n` included (default [`MAX_LINE_LEN`]).
    pub max_line_len: usize,
    /// Longest `get`/`gets` line (default [`DEFAULT_MAX_GET_LINE_LEN`]).
    pub max_get_line_len: usize,
    /// Longest key (default [`MAX_KEY_LEN`]).
    pub max_key_len: usize,
    /// Longest value of a storage command (default [`DEFAULT_MAX_VALUE_LEN`]).
    pub max_value_len: u32,
}

impl Default for TextLimits {
    fn default() -> TextLimits {
        TextLimits {
            max_line_len: MAX_LINE_LEN,
            max_get_line_len: DEFAULT_MAX_GET_LINE_LEN,
            max_key_len: MAX_KEY_LEN,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
        }
    }
}

/// The protocol a connection speaks, decided as memcached does from its
/// first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// The first byte is the binary request magic 0x80.
    Binary,
    /// Anything else (including a bad magic byte) is text.
    Text,
}

impl Protocol {
    /// The protocol of a connection whose first byte is `first`.
    ///
    /// ```
    /// use memcache::text::Protocol;
    /// assert_eq!(Protocol::detect(0x80), Protocol::Binary);
    /// assert_eq!(Protocol::detect(b'g'), Protocol::Text);
    /// assert_eq!(Protocol::detect(0x81), Protocol::Text);
    /// ```
    pub fn detect(first: u8) -> Protocol {
        if first == crate::binary::Magic::Request as u8 { Protocol::Binary } else { Protocol::Text }
    }
}
