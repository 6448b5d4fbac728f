//! Errors, each with its own exit status.
//!
//! `git memo run` passes the command's own exit status through, so our own
//! failures use statuses a test command rarely uses, in the shell's
//! tradition (126/127 for "cannot execute"/"not found", 128 as git's fatal).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Exit statuses of git-memo's own failures (see `git memo --help`).
pub mod exit {
    /// Command line not understood (clap's usage error status).
    pub const USAGE: u8 = 2;
    /// `sequence`: RANGE names no commits or does not resolve.
    pub const BAD_RANGE: u8 = 119;
    /// The repository is bare (there is no working state to test).
    pub const BARE: u8 = 120;
    /// HEAD is unborn (no commit yet) where a commit is needed.
    pub const UNBORN_HEAD: u8 = 121;
    /// HEAD is detached where a branch is needed (default RANGE).
    pub const DETACHED_HEAD: u8 = 122;
    /// `sequence`: the index has staged changes that no tested commit holds.
    pub const DIRTY_INDEX: u8 = 123;
    /// `sequence`: RANGE contains a merge commit (use `--first-parent`).
    pub const MERGE_IN_RANGE: u8 = 124;
    /// Anything else going wrong inside git-memo (I/O, git failures).
    pub const INTERNAL: u8 = 125;
    /// The command exists but cannot be executed.
    pub const NOT_EXECUTABLE: u8 = 126;
    /// The command does not exist.
    pub const NOT_FOUND: u8 = 127;
    /// Not inside a git repository.
    pub const NOT_A_REPOSITORY: u8 = 128;
}

/// Everything that can go wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No repository at or above this directory.
    NotARepository {
        /// Where we looked from.
        path: PathBuf,
    },
    /// The repository has no worktree.
    BareRepository {
        /// Its git directory.
        path: PathBuf,
    },
    /// HEAD has no commit yet.
    UnbornHead {
        /// The branch HEAD points to.
        branch: String,
    },
    /// HEAD is detached and we needed a branch.
    DetachedHead {
        /// What we needed it for.
        needed_for: String,
    },
    /// Staged changes that a `sequence` run would not test.
    DirtyIndex {
        /// Number of staged paths.
        paths: usize,
    },
    /// A range that does not resolve or is empty.
    BadRange {
        /// The range as given.
        range: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A merge commit inside a `sequence` range.
    MergeInRange {
        /// Its abbreviated id.
        commit: String,
        /// Its subject line.
        subject: String,
    },
    /// The test command does not exist.
    CommandNotFound {
        /// `argv[0]`.
        program: String,
    },
    /// The test command exists but cannot be run.
    CommandNotExecutable {
        /// `argv[0]`.
        program: String,
        /// The OS error.
        source: io::Error,
    },
    /// libgit2 failed.
    Git {
        /// What we were doing.
        context: String,
        /// libgit2's error.
        source: git2::Error,
    },
    /// The git CLI failed.
    GitCommand {
        /// Its arguments (after `git`).
        args: Vec<String>,
        /// Its exit status, if it exited.
        status: Option<i32>,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A file operation failed.
    Io {
        /// What we were doing, naming the file.
        context: String,
        /// The OS error.
        source: io::Error,
    },
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotARepository { .. } => exit::NOT_A_REPOSITORY,
            Error::BareRepository { .. } => exit::BARE,
            Error::UnbornHead { .. } => exit::UNBORN_HEAD,
            Error::DetachedHead { .. } => exit::DETACHED_HEAD,
            Error::DirtyIndex { .. } => exit::DIRTY_INDEX,
            Error::BadRange { .. } => exit::BAD_RANGE,
            Error::MergeInRange { .. } => exit::MERGE_IN_RANGE,
            Error::CommandNotFound { .. } => exit::NOT_FOUND,
            Error::CommandNotExecutable { .. } => exit::NOT_EXECUTABLE,
            Error::Git { .. } | Error::GitCommand { .. } | Error::Io { .. } => exit::INTERNAL,
        }
    }

    /// Wrap a libgit2 error with what we were doing.
    pub fn git(context: impl Into<String>) -> impl FnOnce(git2::Error) -> Error {
        let context = context.into();
        move |source| Error::Git { context, source }
    }

    /// Wrap an I/O error with what we were doing.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotARepository { path } => {
                write!(f, "not a git repository (or any parent up to /): {}", path.display())
            }
            Error::BareRepository { path } => write!(
                f,
                "{} is a bare repository: there is no working tree to test \
                 (run git memo inside a clone or worktree)",
                path.display()
            ),
            Error::UnbornHead { branch } => {
                write!(
                    f,
                    "HEAD ({branch}) has no commits yet: make a first commit, or give a RANGE"
                )
            }
            Error::DetachedHead { needed_for } => {
                write!(
                    f,
                    "HEAD is detached, but {needed_for} needs a branch: give a RANGE explicitly"
                )
            }
            Error::DirtyIndex { paths } => write!(
                f,
                "the index has {paths} staged change(s) that are in no commit of the range, so \
                 sequence would not test them: commit or stash them, or pass --allow-dirty"
            ),
            Error::BadRange { range, reason } => write!(f, "bad range {range:?}: {reason}"),
            Error::MergeInRange { commit, subject } => write!(
                f,
                "the range contains merge commit {commit} ({subject}): pass --first-parent to \
                 test the first-parent line, or give a range without merges"
            ),
            Error::CommandNotFound { program } => write!(f, "command not found: {program}"),
            Error::CommandNotExecutable { program, .. } => write!(f, "cannot execute {program}"),
            Error::Git { context, source } => write!(f, "{context}: {}", source.message()),
            Error::GitCommand { args, status, stderr } => {
                write!(f, "`git {}` failed", args.join(" "))?;
                if let Some(s) = status {
                    write!(f, " with exit status {s}")?;
                }
                if !stderr.is_empty() {
                    write!(f, ": {stderr}")?;
                }
                Ok(())
            }
            Error::Io { context, .. } => f.write_str(context),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Git { source, .. } => Some(source),
            Error::Io { source, .. } | Error::CommandNotExecutable { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let errs = [
            Error::NotARepository { path: "/x".into() },
            Error::BareRepository { path: "/x".into() },
            Error::UnbornHead { branch: "main".into() },
            Error::DetachedHead { needed_for: "x".into() },
            Error::DirtyIndex { paths: 1 },
            Error::BadRange { range: "a..b".into(), reason: "r".into() },
            Error::MergeInRange { commit: "abc".into(), subject: "s".into() },
            Error::CommandNotFound { program: "p".into() },
            Error::CommandNotExecutable { program: "p".into(), source: io::Error::other("x") },
            Error::Io { context: "c".into(), source: io::Error::other("x") },
        ];
        let mut codes: Vec<u8> = errs.iter().map(Error::exit_code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errs.len());
        assert!(errs.iter().all(|e| !e.to_string().is_empty()));
    }
}
