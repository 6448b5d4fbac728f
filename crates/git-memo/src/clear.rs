//! `git memo clear`.

use crate::error::{Error, Result};
use crate::repo::{Repo, git};
use crate::run::Settings;
use crate::store::Store;
use std::path::Path;

/// Forget results (and optionally the memo worktrees); returns exit status 0.
///
/// # Errors
///
/// Store, file or git failures.
pub fn clear(cwd: &Path, settings: &Settings, keep_notes: bool, worktrees: bool) -> Result<i32> {
    let repo = Repo::discover(cwd)?;
    let settings = settings.clone().with_config(&repo);
    let mut store = Store::open(&repo.git, settings.notes_ref.clone())?;
    let s = store.clear(keep_notes)?;
    eprintln!(
        "git-memo: cleared {} journal records and every local pass marker ({} loose blobs deleted)",
        s.journal_records, s.markers_removed
    );
    if s.notes_ref_deleted {
        eprintln!(
            "git-memo: deleted {} ({} trees); copies on remotes remain (git push REMOTE :{})",
            store.notes_ref(),
            s.notes_removed,
            store.notes_ref()
        );
    }
    if worktrees {
        let dir = repo.common_dir().join("memo").join("worktrees");
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir)
                .map_err(Error::io(format!("removing {}", dir.display())))?;
            git(&repo.workdir, &["worktree", "prune"], &[])?;
            eprintln!("git-memo: removed the sequence worktrees in {}", dir.display());
        }
    }
    Ok(0)
}
