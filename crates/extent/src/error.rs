//! The error of the `try_` methods.

use std::fmt;

/// An offset or range outside a buffer, returned by the `try_` methods
/// (their panicking twins panic with the same message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtentError {
    /// An offset past the end of the buffer.
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The buffer's length.
        len: u64,
    },
    /// A range that ends past the end of the buffer or starts after it ends.
    RangeOutOfRange {
        /// Start of the range asked for.
        start: u64,
        /// End (exclusive) of the range asked for.
        end: u64,
        /// The buffer's length.
        len: u64,
    },
}

impl fmt::Display for ExtentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExtentError::OffsetOutOfRange { offset, len } => {
                write!(f, "offset {offset} is out of range for a buffer of {len} bytes")
            }
            ExtentError::RangeOutOfRange { start, end, len } => {
                write!(f, "range {start}..{end} is out of range for a buffer of {len} bytes")
            }
        }
    }
}

impl std::error::Error for ExtentError {}
