//! The library's error type: every variant names the file, command or item involved.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while collecting, spooling or mailing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read, written, renamed or removed.
    Io {
        /// What we were doing ("write", "rename", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The configuration file is not valid.
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A version-control command could not be started.
    Spawn {
        /// The program (`git`, `hg`, `svn`).
        program: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A version-control command exited with a failure status.
    Command {
        /// The command line, for the log.
        command: String,
        /// The working directory it ran in.
        dir: PathBuf,
        /// Its exit status, as text.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// The local branch has commits the upstream lacks; repo-digest only fast-forwards.
    Diverged {
        /// The repository name from the configuration.
        repo: String,
        /// The upstream it was compared against.
        upstream: String,
    },
    /// A command's output or a spool file did not have the expected shape.
    Parse {
        /// What was being parsed (a command or a file).
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A mail could not be built (bad address, header).
    Mail {
        /// The spool item the mail was for.
        item: String,
        /// What is wrong.
        message: String,
    },
    /// The transport did not accept a mail.
    Send {
        /// The spool item the mail was for.
        item: String,
        /// The transport's answer.
        message: String,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { action, path, .. } => write!(f, "cannot {action} {}", path.display()),
            Error::Config { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Spawn { program, .. } => write!(f, "cannot run {program}"),
            Error::Command { command, dir, status, stderr } => {
                write!(f, "`{command}` in {} failed ({status})", dir.display())?;
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            Error::Diverged { repo, upstream } => write!(
                f,
                "{repo}: HEAD is not an ancestor of {upstream} (local commits?); \
                 repo-digest only fast-forwards, so nothing was spooled"
            ),
            Error::Parse { what, message } => write!(f, "cannot parse {what}: {message}"),
            Error::Mail { item, message } => {
                write!(f, "cannot build the mail for {item}: {message}")
            }
            Error::Send { item, message } => {
                write!(f, "transport refused the mail for {item}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Spawn { source, .. } => Some(source),
            _ => None,
        }
    }
}
