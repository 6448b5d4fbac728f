//! repo-digest: one mail per followed repository with what arrived upstream.
//!
//! A run has two phases, joined by a spool directory:
//!
//! 1. **collect** — for each configured working copy ([`vcs`]: git, Mercurial or
//!    Subversion) fetch the history, describe the range from the working copy to the
//!    new head (commits and diff), write it to the [`spool`] atomically, and only then
//!    move the working copy forward (fast-forward / update, never a merge);
//! 2. **send** — for each spooled item build a mail ([`mail`], bodies from
//!    [`render`]) and hand it to the transport; the item is deleted only once the
//!    transport accepted it, so a failed send is retried by the next run.
//!
//! ```
//! use repo_digest::config::{Config, Kind};
//!
//! let cfg = Config::parse(r#"
//!     spool = "/var/tmp/digest-spool"
//!     [mail]
//!     from = "digest@example.org"
//!     to = ["me@example.org"]
//!     [mail.transport]
//!     kind = "file"
//!     dir = "/var/tmp/digest-out"
//!     [[repo]]
//!     name = "tools"
//!     path = "~/src/tools"
//!     kind = "git"
//! "#, "inline.toml".as_ref()).unwrap();
//! assert_eq!(cfg.repos[0].kind, Kind::Git);
//! assert!(!cfg.repos[0].path.starts_with("~")); // `~` is expanded
//! ```

pub mod config;
pub mod diff;
pub mod error;
mod exec;
pub mod mail;
pub mod paths;
pub mod render;
pub mod run;
pub mod spool;
pub mod vcs;

pub use error::Error;
