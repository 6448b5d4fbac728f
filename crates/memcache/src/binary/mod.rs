//! The memcached binary protocol (spec: `docs/memcached-binary.md` in the mammoth repository).
//!
//! | module | job |
//! |---|---|
//! | [`opcode`] | every opcode, quiet twins, which replies a quiet opcode suppresses |
//! | [`status`] | status codes and memcached's error texts |
//! | [`header`] | the 24-byte header |
//! | [`frame`] | phase one: is a whole, trustworthy packet in the buffer? |
//! | [`request`] | phase two: the typed [`Request`]; encoding requests |
//! | [`response`] | writing replies ([`Reply`]); decoding [`Response`]s |
//! | [`decoder`] | both phases over a read buffer, with skipping of refused packets |
//! | [`client`] | quiet pipelines ([`Batch`]) and reading their replies |
//! | [`tap`] | `TAP_CONNECT` and the TAP event stream |
//! | [`error`] | [`ProtocolError`]: what to answer, whether to close |

pub mod client;
pub mod decoder;
pub mod error;
pub mod frame;
pub mod header;
pub mod opcode;
pub mod request;
pub mod response;
pub mod status;
pub mod tap;

pub use client::{Batch, read_batch_replies};
pub use decoder::{RequestDecoder, ResponseDecoder};
pub use error::{ErrorKind, ProtocolError};
pub use frame::{Check, check_packet, check_request, check_response};
pub use header::encode_raw;
pub use header::{HEADER_LEN, Header, Magic};
pub use opcode::{Opcode, Quiet};
pub use request::{Command, Request, encode_lua_args};
pub use response::{Reply, Response};
pub use status::Status;

/// Longest key memcached accepts (`KEY_MAX_LENGTH`); longer is `EINVAL` and
/// a closed connection, although the header field has 16 bits.
pub const MAX_KEY_LEN: u16 = 250;

/// Default longest value: 1 MiB. Longer values get `E2BIG` and are skipped
/// without closing the connection.
pub const DEFAULT_MAX_VALUE_LEN: u32 = 1 << 20;

/// Longest body memcached even considers (`ITEM_SIZE_MAX_UPPER_LIMIT`,
/// 1 GiB); longer is `EINVAL` and a closed connection, nothing read.
pub const MAX_BODY_LEN: u32 = 1 << 30;

/// The expiration that means "do not create" in INCR/DECR.
pub const NO_AUTO_CREATE: u32 = 0xffff_ffff;

/// Expirations up to this many seconds (30 days) are relative; above it
/// they are absolute Unix times (spec §6).
pub const RELATIVE_EXPIRY_MAX: u32 = 60 * 60 * 24 * 30;

/// Limits a decoder enforces. A buffer never needs to hold more than
/// `24 + 255 + max_key_len + max_value_len` bytes for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest key (default [`MAX_KEY_LEN`]).
    pub max_key_len: u16,
    /// Longest value of a storage command (default [`DEFAULT_MAX_VALUE_LEN`]).
    pub max_value_len: u32,
    /// Longest body before the header is distrusted (default [`MAX_BODY_LEN`]).
    pub max_body_len: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_key_len: MAX_KEY_LEN,
            max_value_len: DEFAULT_MAX_VALUE_LEN,
            max_body_len: MAX_BODY_LEN,
        }
    }
}
