//! `git memo`: remember passing test runs by git tree hash, in git's own
//! object store.
//!
//! Re-running a test suite on a state that already passed is wasted time:
//! after a rebase that changed nothing, after switching back to a branch,
//! when checking every commit of a series before pushing. `git memo run --
//! CMD…` keys a run by
//!
//! * the command as an **argv list** (no shell string),
//! * the **tree id of the whole working state** — tracked changes and
//!   untracked, non-ignored files, captured through a throwaway copy of the
//!   index, so the user's index is never touched ([`repo`]),
//! * the **directory** it runs in, relative to the worktree root,
//! * an **environment fingerprint**: platform, an allow-list of variables and
//!   toolchain probes such as `rustc -vV`, configurable in git config
//!   ([`env`](mod@env)),
//!
//! all computed *before* the command runs ([`key`]). A key with a recorded
//! pass answers "cached pass" and exits 0 without running anything; otherwise
//! the command runs with its output streamed, and the result — pass *or*
//! failure, with exit status and duration — is recorded ([`store`]). A
//! failure never counts as a pass, and the command's exit status is passed
//! through. Because the key holds the tree and not the commit, a rebase or
//! amend that leaves the tree alone keeps its result.
//!
//! `git memo sequence RANGE -- CMD…` tests each commit of a range, oldest
//! first, in separate worktrees ([`sequence`]).
//!
//! Passes are stored as unreferenced blobs (zero setup, `git gc` expires
//! them) and, with `--share`, as notes on tree objects in `refs/notes/memo`,
//! which can be pushed and fetched like any ref.
//!
//! # Example
//!
//! The key is a pure function of its inputs; any change to one of them —
//! here the argv split — gives a different key:
//!
//! ```
//! use std::ffi::OsString;
//! let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
//! let argv = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
//! let a = git_memo::key::compute(&argv(&["cargo", "test"]), tree, "", b"env");
//! let b = git_memo::key::compute(&argv(&["cargo test"]), tree, "", b"env");
//! assert_ne!(a, b);
//! assert_eq!(a, git_memo::key::compute(&argv(&["cargo", "test"]), tree, "", b"env"));
//! ```
//!
//! Records are single text lines, shared by the journal and notes:
//!
//! ```
//! use git_memo::record::Record;
//! let line = format!(
//!     "git-memo/1 {} fail exit=101 ms=2300 at=1700000000 tree={} argv=[\"cargo\",\"test\"]",
//!     "ab".repeat(32), "4b825dc642cb6eb9a060e54bf8d69288fbee4904");
//! let r = Record::parse(&line).unwrap();
//! assert!(!r.passed());
//! assert_eq!(r.to_string(), line);
//! ```

pub mod clear;
pub mod env;
pub mod error;
pub mod exec;
pub mod key;
pub mod record;
pub mod repo;
pub mod run;
pub mod sequence;
pub mod store;

pub use error::{Error, Result};
