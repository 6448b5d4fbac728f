//! Opening the repository and capturing the working state as a tree.
//!
//! The working state is captured the way `git stash -u` would see it, without
//! touching the user's index: the index file is *copied* to a throwaway file
//! in the git directory (the copy keeps git's stat cache, so unchanged files
//! are not re-read), `git add -A` runs against the copy through
//! `GIT_INDEX_FILE`, and `git write-tree` turns it into a tree id. Tracked
//! changes (staged or not), deletions and untracked, non-ignored files all
//! land in that tree; ignored files do not.
//!
//! This step uses the git CLI on purpose: only git itself applies every rule
//! that decides what a tree holds (all ignore sources, clean filters such as
//! Git LFS, `core.autocrlf`, sparse checkout, submodules), and it is the
//! fastest at it (untracked cache, fsmonitor, parallel stat). Everything else
//! goes through libgit2.

use crate::error::{Error, Result};
use git2::{Oid, Repository, RepositoryOpenFlags};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// An opened non-bare repository.
pub struct Repo {
    /// The libgit2 handle.
    pub git: Repository,
    /// Root of the worktree.
    pub workdir: PathBuf,
}

impl Repo {
    /// Find the repository containing `dir` (honouring `GIT_DIR` and
    /// friends, like git).
    ///
    /// # Errors
    ///
    /// [`Error::NotARepository`], [`Error::BareRepository`], or a libgit2
    /// failure.
    pub fn discover(dir: &Path) -> Result<Repo> {
        let git =
            Repository::open_ext(dir, RepositoryOpenFlags::FROM_ENV, std::iter::empty::<&OsStr>())
                .map_err(|e| {
                    if e.code() == git2::ErrorCode::NotFound {
                        Error::NotARepository { path: dir.to_path_buf() }
                    } else {
                        Error::git(format!("opening the repository at {}", dir.display()))(e)
                    }
                })?;
        let Some(workdir) = git.workdir().map(Path::to_path_buf) else {
            return Err(Error::BareRepository { path: git.path().to_path_buf() });
        };
        Ok(Repo { git, workdir })
    }

    /// The git directory of this worktree (holds its index and HEAD).
    pub fn git_dir(&self) -> &Path {
        self.git.path()
    }

    /// The directory shared by all worktrees (objects, refs, config).
    pub fn common_dir(&self) -> &Path {
        self.git.commondir()
    }

    /// `dir` relative to the worktree root, `/`-separated; empty for the
    /// root or anything outside the worktree.
    pub fn prefix_of(&self, dir: &Path) -> String {
        let root = self.workdir.canonicalize().unwrap_or_else(|_| self.workdir.clone());
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        match dir.strip_prefix(&root) {
            Ok(rel) => rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => String::new(),
        }
    }

    /// All values of a multi-valued config key, in config order.
    pub fn config_values(&self, name: &str) -> Vec<String> {
        let Ok(cfg) = self.git.config() else { return Vec::new() };
        let Ok(entries) = cfg.multivar(name, None) else { return Vec::new() };
        let mut out = Vec::new();
        let mut entries = entries;
        while let Some(Ok(e)) = entries.next() {
            out.push(e.value().unwrap_or("").to_owned());
        }
        out
    }

    /// A boolean config key.
    pub fn config_bool(&self, name: &str) -> Option<bool> {
        self.git.config().ok()?.get_bool(name).ok()
    }

    /// A string config key.
    pub fn config_string(&self, name: &str) -> Option<String> {
        self.git.config().ok()?.get_string(name).ok()
    }

    /// The tree id of the whole working state: tracked files as they are on
    /// disk plus untracked, non-ignored files. Never modifies the user's
    /// index or worktree (new blobs for changed files are written to the
    /// object store, unreferenced, as `git stash` would).
    ///
    /// # Errors
    ///
    /// File or git failures, naming the step.
    pub fn working_state_tree(&self) -> Result<Oid> {
        let tmp = TempIndex::new(self.git_dir());
        let real = self.git_dir().join("index");
        if real.exists() {
            std::fs::copy(&real, &tmp.path).map_err(Error::io(format!(
                "copying the index {} to {}",
                real.display(),
                tmp.path.display()
            )))?;
        }
        let env = [("GIT_INDEX_FILE", tmp.path.as_os_str())];
        git(&self.workdir, &["add", "--all", "--", ":/"], &env)?;
        let out = git(&self.workdir, &["write-tree"], &env)?;
        Oid::from_str(out.trim()).map_err(Error::git(format!(
            "reading the tree id {:?} from git write-tree",
            out.trim()
        )))
    }
}

/// A throwaway index path inside the git directory, removed (with any lock
/// file) on drop.
struct TempIndex {
    path: PathBuf,
}

impl TempIndex {
    fn new(git_dir: &Path) -> TempIndex {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = git_dir.join(format!("memo-index-{}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempIndex { path }
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut lock = self.path.clone().into_os_string();
        lock.push(".lock");
        let _ = std::fs::remove_file(lock);
    }
}

/// Run `git ARGS` in `dir` with extra environment, return its stdout.
///
/// # Errors
///
/// [`Error::GitCommand`] when git cannot be started or exits non-zero.
pub fn git(dir: &Path, args: &[&str], env: &[(&str, &OsStr)]) -> Result<String> {
    let mut cmd = Command::new("git");
    for (k, v) in env {
        cmd.env(k, v);
    }
    git_output(cmd, dir, args)
}

/// Run `git ARGS` in `dir` with the variables that locate a repository
/// (`GIT_DIR`, `GIT_INDEX_FILE`, …) removed, so it works on the repository
/// found from `dir` (a memo worktree), never on the user's.
///
/// # Errors
///
/// [`Error::GitCommand`] when git cannot be started or exits non-zero.
pub fn git_clean_env(dir: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("git");
    for v in crate::exec::GIT_LOCATION_VARS {
        cmd.env_remove(v);
    }
    git_output(cmd, dir, args)
}

fn git_output(mut cmd: Command, dir: &Path, args: &[&str]) -> Result<String> {
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    let fail = |status, stderr: String| Error::GitCommand {
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        status,
        stderr: stderr.trim().to_owned(),
    };
    let out = cmd.output().map_err(|e| fail(None, format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(fail(out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
