//! Typed errors that say what went wrong and where.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, without the where. See [`Error`] for the location.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system reported an error.
    Io(io::Error),
    /// The input ended in the middle of a structure.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes that structure needed.
        needed: u64,
        /// Bytes that were left.
        available: u64,
    },
    /// The file does not start with `SEQ`.
    BadMagic([u8; 3]),
    /// A version this reader does not understand (Hadoop writes 6, accepts 1–6).
    UnsupportedVersion(u8),
    /// The header says "block-compressed" but not "compressed".
    InvalidCompressionFlags,
    /// A codec class that this crate does not implement.
    UnknownCodec(String),
    /// A length field is negative or otherwise impossible.
    BadLength {
        /// Which length.
        what: &'static str,
        /// Its value.
        len: i64,
    },
    /// A length field is larger than the bytes that remain in the input.
    LengthExceedsInput {
        /// Which length.
        what: &'static str,
        /// Its value.
        len: u64,
        /// Bytes left in the input.
        remaining: u64,
    },
    /// A length or decompressed size is over the configured limit.
    TooLarge {
        /// Which length.
        what: &'static str,
        /// Its value.
        len: u64,
        /// The limit in force.
        limit: u64,
    },
    /// A sync entry whose 16 bytes differ from the header's marker.
    SyncMismatch,
    /// A codec stream could not be decoded.
    Decompress {
        /// The codec's short name.
        codec: &'static str,
        /// What the decoder said.
        message: String,
    },
    /// A variable-length integer was malformed or out of range.
    BadVInt(&'static str),
    /// A Writable's bytes did not have the shape its class requires.
    BadWritable {
        /// The Java class name.
        class: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The lengths inside a compressed block disagree with its buffers.
    BadBlock(String),
    /// A caller error: the operation does not fit the file or writer state.
    InvalidInput(String),
    /// A MapFile key that sorts before the key appended (or indexed) before it.
    KeyOutOfOrder {
        /// The key, printed as its class prints.
        key: String,
        /// The key before it.
        previous: String,
    },
    /// A MapFile index that does not fit its data file.
    BadIndex(String),
    /// A bloom filter file that cannot be parsed.
    BadBloom(String),
}

/// An error with the file and byte offset where it happened, where known.
///
/// `Display` gives one line: `path: offset N: what happened`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<Arc<Path>>,
    offset: Option<u64>,
}

impl Error {
    /// An error of this kind with no location yet.
    pub fn new(kind: ErrorKind) -> Self {
        Error { kind, path: None, offset: None }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file, when the reader or writer was opened by path.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Byte offset in the file (for a compressed block, the offset of the block).
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    pub(crate) fn at(mut self, offset: u64) -> Self {
        if self.offset.is_none() {
            self.offset = Some(offset);
        }
        self
    }

    pub(crate) fn in_file(mut self, path: Option<&Arc<Path>>) -> Self {
        if self.path.is_none() {
            self.path = path.cloned();
        }
        self
    }

    /// Sets the path (used by higher layers such as MapFile directories).
    #[must_use]
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(Arc::from(path.into()));
        self
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput(msg.into()))
    }

    pub(crate) fn truncated(what: &'static str, needed: u64, available: u64) -> Self {
        Error::new(ErrorKind::Truncated { what, needed, available })
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Self {
        Error::new(kind)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(_) => write!(f, "I/O error"),
            ErrorKind::Truncated { what, needed, available } => {
                write!(f, "truncated {what}: needed {needed} bytes, {available} left")
            }
            ErrorKind::BadMagic(m) => {
                write!(
                    f,
                    "not a SequenceFile (starts with {:02x} {:02x} {:02x}, not SEQ)",
                    m[0], m[1], m[2]
                )
            }
            ErrorKind::UnsupportedVersion(v) => {
                write!(f, "unsupported SequenceFile version {v} (Hadoop writes 6, reads 1 to 6)")
            }
            ErrorKind::InvalidCompressionFlags => {
                write!(f, "header says block-compressed but not compressed")
            }
            ErrorKind::UnknownCodec(name) => write!(f, "unknown compression codec class {name}"),
            ErrorKind::BadLength { what, len } => write!(f, "invalid {what} {len}"),
            ErrorKind::LengthExceedsInput { what, len, remaining } => {
                write!(f, "{what} {len} is larger than the {remaining} bytes that remain")
            }
            ErrorKind::TooLarge { what, len, limit } => {
                write!(f, "{what} {len} is over the limit of {limit} bytes")
            }
            ErrorKind::SyncMismatch => {
                write!(f, "sync marker does not match the header's (corrupt file)")
            }
            ErrorKind::Decompress { codec, message } => {
                write!(f, "{codec} stream is corrupt: {message}")
            }
            ErrorKind::BadVInt(msg) => write!(f, "bad variable-length integer: {msg}"),
            ErrorKind::BadWritable { class, message } => write!(f, "bad {class}: {message}"),
            ErrorKind::BadBlock(msg) => write!(f, "corrupt block: {msg}"),
            ErrorKind::InvalidInput(msg) => write!(f, "{msg}"),
            ErrorKind::KeyOutOfOrder { key, previous } => {
                write!(f, "key out of order: {key} after {previous}")
            }
            ErrorKind::BadIndex(msg) => write!(f, "bad MapFile index: {msg}"),
            ErrorKind::BadBloom(msg) => write!(f, "bad bloom filter: {msg}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(o) = self.offset {
            write!(f, "offset {o}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
