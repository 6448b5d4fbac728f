//! One run: collect every repository into the spool, then mail every spooled item.

use std::path::Path;

use crate::config::{Config, Repo};
use crate::diff;
use crate::error::Error;
use crate::mail::{self, Sender};
use crate::render::Highlighter;
use crate::spool::{self, Meta, Spool};
use crate::vcs::{self, Incoming};

/// What a run did; the binary exits non-zero unless [`Summary::clean`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Items written to the spool.
    pub spooled: usize,
    /// Mails the transport accepted (or `.eml` files written in a dry run).
    pub sent: usize,
    /// Items left in the spool because their mail was not accepted or could not be built.
    pub kept: usize,
    /// Repositories that could not be fetched, spooled or updated.
    pub repo_errors: usize,
}

impl Summary {
    /// Nothing failed and nothing stayed behind.
    pub fn clean(&self) -> bool {
        self.kept == 0 && self.repo_errors == 0
    }
}

/// Describes an incoming range for the spool.
pub fn meta_for(repo: &Repo, inc: &Incoming) -> Meta {
    let text = String::from_utf8_lossy(&inc.diff);
    let stats = diff::stats(&diff::parse(&text));
    let mut authors: Vec<String> = Vec::new();
    for c in &inc.commits {
        if !authors.contains(&c.author) {
            authors.push(c.author.clone());
        }
    }
    Meta {
        version: spool::META_VERSION,
        repo: repo.name.clone(),
        kind: repo.kind,
        from: inc.from.clone(),
        to: inc.to.clone(),
        commits: inc.commits.clone(),
        authors,
        stats,
        diff_bytes: inc.diff.len() as u64,
        spooled_at: spool::now_secs(),
    }
}

/// Fetches every repository, spools what arrived and then updates the working copy.
/// Errors are logged to standard error and counted; one repository's failure does not
/// stop the others.
pub fn collect(cfg: &Config, spool: &Spool, summary: &mut Summary) {
    for repo in &cfg.repos {
        match collect_one(repo, spool) {
            Ok(Some(name)) => {
                eprintln!("repo-digest: {}: spooled {name}", repo.name);
                summary.spooled += 1;
            }
            Ok(None) => eprintln!("repo-digest: {}: up to date", repo.name),
            Err(e) => {
                eprintln!("repo-digest: {}: {e}", repo.name);
                summary.repo_errors += 1;
            }
        }
    }
}

fn collect_one(repo: &Repo, spool: &Spool) -> Result<Option<String>, Error> {
    let Some(inc) = vcs::incoming(repo)? else {
        return Ok(None);
    };
    // Nothing to mail (e.g. svn revisions outside this working copy's path): just update.
    if inc.commits.is_empty() && inc.diff.is_empty() {
        vcs::update(repo, &inc)?;
        return Ok(None);
    }
    let item = spool.write(&meta_for(repo, &inc), &inc.diff)?;
    vcs::update(repo, &inc)?;
    Ok(Some(item.name()))
}

/// Dry run of the collection step: fetch and describe, but neither spool nor update.
/// Returns the items as (meta, diff) pairs.
pub fn preview(cfg: &Config, summary: &mut Summary) -> Vec<(Meta, Vec<u8>)> {
    let mut out = Vec::new();
    for repo in &cfg.repos {
        match vcs::incoming(repo) {
            Ok(Some(inc)) if !(inc.commits.is_empty() && inc.diff.is_empty()) => {
                out.push((meta_for(repo, &inc), inc.diff));
            }
            Ok(_) => eprintln!("repo-digest: {}: up to date", repo.name),
            Err(e) => {
                eprintln!("repo-digest: {}: {e}", repo.name);
                summary.repo_errors += 1;
            }
        }
    }
    out
}

/// Mails every spooled item; deletes an item only after its mail was accepted. In a
/// dry run (`sender` is [`Sender::DryRun`]) nothing is deleted.
///
/// # Errors
///
/// Only when the spool itself cannot be listed or an item cannot be deleted; failed
/// mails are counted in `summary.kept` instead.
pub fn send(
    cfg: &Config,
    spool: &Spool,
    sender: &Sender,
    hl: &Highlighter,
    summary: &mut Summary,
) -> Result<(), Error> {
    let dry = matches!(sender, Sender::DryRun(_));
    for item in spool.list()? {
        let item = match item {
            Ok(i) => i,
            Err(e) => {
                eprintln!("repo-digest: {e}");
                summary.kept += 1;
                continue;
            }
        };
        let result = item
            .read_diff()
            .and_then(|diff| mail::build(&item.meta, &diff, &cfg.mail, &cfg.limits, hl))
            .and_then(|digest| sender.send(&digest));
        match result {
            Ok(path) => {
                summary.sent += 1;
                if dry {
                    eprintln!("repo-digest: {}: wrote {}", item.name(), path.display());
                } else {
                    spool.remove(&item)?;
                    eprintln!("repo-digest: {}: sent", item.name());
                }
            }
            Err(e) => {
                eprintln!("repo-digest: {e} (kept in {})", spool.dir().display());
                summary.kept += 1;
            }
        }
    }
    Ok(())
}

/// Writes `.eml` files for in-memory items (the dry-run counterpart of [`send`]).
pub fn write_previews(
    cfg: &Config,
    items: &[(Meta, Vec<u8>)],
    dir: &Path,
    hl: &Highlighter,
    summary: &mut Summary,
) {
    let sender = Sender::DryRun(dir.to_path_buf());
    for (meta, diff) in items {
        match mail::build(meta, diff, &cfg.mail, &cfg.limits, hl).and_then(|d| sender.send(&d)) {
            Ok(path) => {
                summary.sent += 1;
                eprintln!("repo-digest: {}: wrote {}", meta.base_name(), path.display());
            }
            Err(e) => {
                eprintln!("repo-digest: {e}");
                summary.kept += 1;
            }
        }
    }
}
