//! [`Error`]: everything that can go wrong talking TAP or memcached, or
//! moving records between a server and Hadoop files. Every variant names
//! the peer, stream offset, opcode, key or file involved.

use std::fmt;
use std::path::PathBuf;

use memcache::binary::tap::TapError;
use memcache::binary::{Opcode, ProtocolError, Status};

/// Why a TAP consumer, a target connection, an export or an import failed.
///
/// `Display` describes this layer only; the cause, when there is one, is
/// [`source`](std::error::Error::source) (print the chain to see both).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Connecting, reading or writing a socket failed.
    Io {
        /// What we were doing (`"connect to 127.0.0.1:11211"`, `"read"`, …).
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS could not be set up: a certificate or key file that cannot be
    /// read or used, or a server name that is not valid.
    Tls {
        /// What failed, with the file or name and rustls's reason.
        what: String,
    },
    /// The peer sent bytes that do not frame or decode.
    Protocol {
        /// Stream offset of the packet's first byte.
        offset: u64,
        /// The packet's opcode, when the header got that far.
        opcode: Option<Opcode>,
        /// The decoder's complaint.
        message: String,
    },
    /// The connection ended inside a packet.
    Truncated {
        /// Stream offset of the packet's first byte.
        offset: u64,
        /// Bytes of it that arrived.
        have: usize,
        /// Bytes the packet needs (24 while the header is incomplete).
        need: usize,
    },
    /// The producer closed the stream without ending it (no
    /// `CLOSE_TAP_STREAM`): the consumer should reconnect.
    Disconnected {
        /// Bytes read from the stream.
        offset: u64,
    },
    /// Nothing arrived for longer than the idle timeout (producers send
    /// NOOPs when idle, so the connection is presumed dead).
    Idle {
        /// Seconds waited.
        secs: u64,
    },
    /// The producer refused `TAP_CONNECT` (its response's status and text).
    Refused {
        /// Status.
        status: Status,
        /// The server's text.
        message: String,
    },
    /// SASL PLAIN authentication failed.
    Auth {
        /// The user.
        user: String,
        /// Status.
        status: Status,
    },
    /// A packet that has no place in the conversation (say, a response other
    /// than a refusal on a TAP stream, or a reply to nothing we sent).
    Unexpected {
        /// Stream offset of the packet.
        offset: u64,
        /// What arrived.
        what: String,
    },
    /// The target server refused a mutation in a way that is not a benign
    /// miss (`E2BIG`, `ENOMEM`, `EINVAL` …).
    Rejected {
        /// The request's opcode.
        opcode: Opcode,
        /// The key (lossy UTF-8).
        key: String,
        /// Status.
        status: Status,
    },
    /// A SequenceFile or MapFile could not be read or written.
    File {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: seqfile::Error,
    },
    /// A record in the mammoth item layout does not decode.
    Layout {
        /// The file.
        path: PathBuf,
        /// Record number (0-based).
        record: u64,
        /// Why.
        source: crate::layout::LayoutError,
    },
    /// The job cannot run as asked (conflicting options, a directory that
    /// holds files the job would contradict).
    Invalid(String),
    /// An export was stopped before its snapshot was complete; nothing of
    /// it was kept.
    Incomplete {
        /// The server being exported.
        source_addr: String,
    },
    /// A file system operation outside the seqfile crate failed.
    Fs {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error, or [`Error::Tls`] when TLS refused the connection (a
    /// certificate refused either way, a fatal alert): reconnecting would
    /// only be refused again.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        if let Some(tls) = source.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>())
            && refused(tls)
        {
            return Error::Tls { what: format!("{}: {tls}", what.into()) };
        }
        Error::Io { what: what.into(), source }
    }

    pub(crate) fn protocol(offset: u64, e: &ProtocolError) -> Error {
        Error::Protocol { offset, opcode: Some(e.opcode), message: e.to_string() }
    }

    pub(crate) fn tap(offset: u64, opcode: Option<Opcode>, e: &TapError) -> Error {
        Error::Protocol { offset, opcode, message: e.to_string() }
    }

    /// Whether reconnecting can help (a dropped, idle or garbled
    /// connection), as opposed to a refusal or a local file problem.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Protocol { .. }
                | Error::Truncated { .. }
                | Error::Disconnected { .. }
                | Error::Idle { .. }
                | Error::Unexpected { .. }
        )
    }
}

/// Whether a TLS error means the peer or this side refuses the other's
/// certificate (for good, until someone changes a file), as opposed to a
/// damaged or cut connection, which reconnecting may mend.
fn refused(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
        rustls::Error::AlertReceived(alert) => matches!(
            alert,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::CertificateRequired
                | A::AccessDenied
        ),
        _ => false,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { what, .. } => f.write_str(what),
            Error::Tls { what } => write!(f, "TLS: {what}"),
            Error::Protocol { offset, opcode: Some(op), message } => {
                write!(f, "bad packet ({op}) at stream offset {offset}: {message}")
            }
            Error::Protocol { offset, opcode: None, message } => {
                write!(f, "bad packet at stream offset {offset}: {message}")
            }
            Error::Truncated { offset, have, need } => write!(
                f,
                "connection closed inside a packet at stream offset {offset} ({have} of {need} bytes)"
            ),
            Error::Disconnected { offset } => {
                write!(f, "producer closed the stream after {offset} bytes without ending it")
            }
            Error::Idle { secs } => write!(f, "nothing received for {secs} s"),
            Error::Refused { status, message } => {
                write!(f, "TAP_CONNECT refused: {status}: {message}")
            }
            Error::Auth { user, status } => {
                write!(f, "SASL PLAIN authentication as {user:?} failed: {status}")
            }
            Error::Unexpected { offset, what } => {
                write!(f, "unexpected packet at stream offset {offset}: {what}")
            }
            Error::Rejected { opcode, key, status } => {
                write!(f, "target refused {opcode} of key {key:?}: {status}")
            }
            // seqfile's error names the file itself.
            Error::File { source, .. } => source.fmt(f),
            Error::Layout { path, record, .. } => write!(f, "{}: record {record}", path.display()),
            Error::Invalid(message) => f.write_str(message),
            Error::Incomplete { source_addr } => {
                write!(f, "export of {source_addr} stopped before the snapshot was complete")
            }
            Error::Fs { path, .. } => write!(f, "{}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Fs { source, .. } => Some(source),
            // Display already is the seqfile error's; go on to its cause.
            Error::File { source, .. } => source.source(),
            Error::Layout { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
