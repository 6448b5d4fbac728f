//! Mercurial: `pull` (history only), then `.` to the newest descendant of `.` on its
//! branch, then `update --check` to that revision.
//!
//! `hg pull -u` is split around the spool: the pull leaves the working copy alone, so
//! the diff is saved before anything visible changes, and the update names the exact
//! revision that was spooled. `--check` refuses to merge uncommitted changes.

use serde::Deserialize;

use crate::config::Repo;
use crate::error::Error;
use crate::exec;

use super::{Commit, Incoming};

/// Plain, scriptable output in UTF-8 whatever the user's hgrc says.
const ENV: &[(&str, &str)] = &[("HGPLAIN", "1"), ("HGENCODING", "utf-8")];

/// The newest descendant of the working directory's parent on the same branch.
const TARGET: &str = "max(descendants(.) and branch(.))";

/// One JSON object per line (`\\n` is the template's own escape).
const TEMPLATE: &str = "{dict(node, author=author|person, email=author|email, date=date|rfc3339date, subject=desc|firstline)|json}\\n";

fn hg(repo: &Repo, args: &[&str]) -> Result<String, Error> {
    exec::run_text(&repo.path, "hg", args, ENV)
}

#[derive(Deserialize)]
struct LogEntry {
    node: String,
    author: String,
    email: String,
    date: String,
    subject: String,
}

pub(super) fn incoming(repo: &Repo) -> Result<Option<Incoming>, Error> {
    hg(repo, &["pull", "--quiet"])?;
    let from = hg(repo, &["log", "-r", ".", "-T", "{node}"])?.trim().to_string();
    let to = hg(repo, &["log", "-r", TARGET, "-T", "{node}"])?.trim().to_string();
    if from == to || to.is_empty() {
        return Ok(None);
    }
    let revset = format!("only({to}, {from})");
    let log = hg(repo, &["log", "-r", &revset, "-T", TEMPLATE])?;
    let commits = parse_log(&log)?;
    let diff = exec::run(&repo.path, "hg", &["diff", "--git", "-r", &from, "-r", &to], ENV)?;
    Ok(Some(Incoming { from, to, commits, diff }))
}

fn parse_log(log: &str) -> Result<Vec<Commit>, Error> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let e: LogEntry = serde_json::from_str(l).map_err(|e| Error::Parse {
                what: "hg log output".into(),
                message: e.to_string(),
            })?;
            Ok(Commit {
                id: e.node,
                author: e.author,
                email: e.email,
                date: e.date,
                subject: e.subject,
            })
        })
        .collect()
}

pub(super) fn update(repo: &Repo, incoming: &Incoming) -> Result<(), Error> {
    hg(repo, &["update", "--check", "--quiet", "-r", &incoming.to]).map(|_| ())
}
