//! Per-VCS fetch, incoming range and update.
//!
//! Every backend works in two steps so that the spool can be written in between:
//! [`incoming`] brings the repository's history up to date *without touching the
//! working copy* and describes the range from the working copy to the new head;
//! [`update`] then moves the working copy to exactly that head. Because the range
//! starts at the working copy and not at "what was new in this fetch", a run that
//! failed after fetching is repeated in full by the next run.

mod git;
mod hg;
mod svn;

use serde::{Deserialize, Serialize};

use crate::config::{Kind, Repo};
use crate::error::Error;

/// One incoming commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The id (`git`/`hg` hash, or `r123` for Subversion).
    pub id: String,
    /// Author name.
    pub author: String,
    /// Author e-mail, when the VCS records one.
    #[serde(default)]
    pub email: String,
    /// Author date as the VCS prints it (RFC 3339 for git and hg, ISO 8601 for svn).
    pub date: String,
    /// First line of the message.
    pub subject: String,
}

/// What arrived: the range, its commits and the diff.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The working copy's revision before the update.
    pub from: String,
    /// The revision the update moves to.
    pub to: String,
    /// Commits in the range, oldest first.
    pub commits: Vec<Commit>,
    /// The diff from `from` to `to`, as the VCS printed it.
    pub diff: Vec<u8>,
}

/// Fetches and describes the incoming range; `None` when the working copy is current.
///
/// # Errors
///
/// The working copy is missing, a VCS command fails, its output does not parse,
/// or (git) the local branch has diverged from its upstream.
pub fn incoming(repo: &Repo) -> Result<Option<Incoming>, Error> {
    if !repo.path.is_dir() {
        return Err(Error::io(
            "open working copy",
            &repo.path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    match repo.kind {
        Kind::Git => git::incoming(repo),
        Kind::Hg => hg::incoming(repo),
        Kind::Svn => svn::incoming(repo),
    }
}

/// Moves the working copy to `incoming.to` (fast-forward / update, never a merge).
///
/// # Errors
///
/// The VCS refuses to move the working copy (e.g. conflicting local changes).
pub fn update(repo: &Repo, incoming: &Incoming) -> Result<(), Error> {
    match repo.kind {
        Kind::Git => git::update(repo, incoming),
        Kind::Hg => hg::update(repo, incoming),
        Kind::Svn => svn::update(repo, incoming),
    }
}
