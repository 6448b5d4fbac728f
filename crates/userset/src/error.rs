//! The crate's error type.

use std::fmt;
use std::io;

/// Why building, saving or loading a set failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing failed.
    Io(io::Error),
    /// The file does not start with the set magic.
    NotASet,
    /// The file is a set of a format version this build cannot read.
    Version {
        /// The version in the file.
        found: u32,
    },
    /// The header's checksum does not match (bytes 0..60).
    HeaderChecksum,
    /// The file is shorter or longer than its header says.
    Length {
        /// Bytes the header promises.
        expected: u64,
        /// Bytes present.
        actual: u64,
    },
    /// The body's checksum does not match.
    BodyChecksum,
    /// The body is damaged although its checksum matches.
    Corrupt {
        /// Byte offset in the file of the field that is wrong.
        offset: u64,
        /// What is wrong.
        what: &'static str,
    },
    /// An input name is longer than [`crate::MAX_NAME_LEN`].
    NameTooLong {
        /// Byte offset of the name in the input.
        offset: u64,
        /// Its length.
        len: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::NotASet => f.write_str("not a userset file (bad magic at offset 0)"),
            Error::Version { found } => write!(
                f,
                "userset format version {found} at offset 8 is not supported (this build reads version {})",
                crate::file::VERSION
            ),
            Error::HeaderChecksum => {
                f.write_str("header checksum mismatch (header bytes 0..64 are damaged)")
            }
            Error::Length { expected, actual } => write!(
                f,
                "file is {actual} bytes but its header says {expected} (truncated or extended at offset {})",
                expected.min(actual)
            ),
            Error::BodyChecksum => {
                f.write_str("body checksum mismatch (bytes 64..end are damaged)")
            }
            Error::Corrupt { offset, what } => write!(f, "corrupt set at offset {offset}: {what}"),
            Error::NameTooLong { offset, len } => write!(
                f,
                "name at offset {offset} is {len} bytes; names may be at most {} bytes",
                crate::MAX_NAME_LEN
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Display is the I/O error's own; go on to its cause.
            Error::Io(e) => e.source(),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
