//! The store's error type.

use std::fmt;

/// Errors from opening or persisting a store. `Display` describes this
/// layer; the engine's or the OS's error is the [`source`](std::error::Error::source).
/// Memcached-level outcomes (a
/// miss, a CAS mismatch) are not errors: see [`crate::OpError`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The storage engine failed; `engine` names it.
    Engine {
        /// Engine name (`fjall`, `sqlite`).
        engine: &'static str,
        /// What was being done.
        context: String,
        /// The engine's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record on disk could not be decoded.
    Corrupt {
        /// The key of the record.
        key: Vec<u8>,
        /// What is wrong with it.
        detail: String,
    },
    /// The commit log is damaged where it must not be (a record that
    /// cannot be decoded, or missing batches).
    CorruptLog {
        /// The log segment.
        path: std::path::PathBuf,
        /// Byte offset of the record in it.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// A file-system operation failed.
    Io {
        /// The path involved.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store directory was created by another backend.
    WrongBackend {
        /// The directory.
        path: std::path::PathBuf,
        /// The backend that wrote it.
        found: String,
        /// The backend asked for.
        wanted: &'static str,
    },
}

impl Error {
    pub(crate) fn engine(
        engine: &'static str,
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Engine { engine, context: context.into(), source: Box::new(source) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Engine { engine, context, .. } => write!(f, "{engine} engine: {context}"),
            Error::Corrupt { key, detail } => {
                write!(f, "corrupt record for key {}: {detail}", crate::show_key(key))
            }
            Error::CorruptLog { path, offset, detail } => {
                write!(f, "commit log {} at offset {offset}: {detail}", path.display())
            }
            Error::Io { path, .. } => write!(f, "{}", path.display()),
            Error::WrongBackend { path, found, wanted } => write!(
                f,
                "{}: store was created by the {found} backend, not {wanted} \
                 (pick --backend {found}, or another directory)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Engine { source, .. } => Some(source.as_ref()),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
