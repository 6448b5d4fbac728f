//! git: `fetch`, then `HEAD..@{upstream}` (or the configured branch), then `merge --ff-only`.

use crate::config::Repo;
use crate::error::Error;
use crate::exec;

use super::{Commit, Incoming};

/// No credential prompts from cron; no pager; paths printed as UTF-8.
const ENV: &[(&str, &str)] = &[("GIT_TERMINAL_PROMPT", "0"), ("GIT_PAGER", "cat"), ("LC_ALL", "C")];

fn git(repo: &Repo, args: &[&str]) -> Result<String, Error> {
    exec::run_text(&repo.path, "git", args, ENV)
}

fn rev(repo: &Repo, spec: &str) -> Result<String, Error> {
    let arg = format!("{spec}^{{commit}}");
    Ok(git(repo, &["rev-parse", "--verify", "--quiet", &arg])?.trim().to_string())
}

pub(super) fn incoming(repo: &Repo) -> Result<Option<Incoming>, Error> {
    let upstream = repo.branch.clone().unwrap_or_else(|| "@{upstream}".to_string());
    match &repo.branch {
        // Fetch the remote the configured branch belongs to.
        Some(b) if b.contains('/') => {
            let remote = b.split('/').next().unwrap_or("origin");
            git(repo, &["fetch", "--quiet", remote])?;
        }
        _ => {
            git(repo, &["fetch", "--quiet"])?;
        }
    }
    let from = rev(repo, "HEAD")?;
    let to = rev(repo, &upstream)?;
    if from == to {
        return Ok(None);
    }
    let ancestor =
        exec::output(&repo.path, "git", &["merge-base", "--is-ancestor", &from, &to], ENV)?;
    match ancestor.status.code() {
        Some(0) => {}
        Some(1) => {
            // Upstream is behind HEAD (nothing new) or the histories diverged.
            let behind =
                exec::output(&repo.path, "git", &["merge-base", "--is-ancestor", &to, &from], ENV)?;
            if behind.status.success() {
                return Ok(None);
            }
            return Err(Error::Diverged { repo: repo.name.clone(), upstream });
        }
        _ => {
            return Err(exec::failure(
                &repo.path,
                "git",
                &["merge-base", "--is-ancestor"],
                &ancestor,
            ));
        }
    }
    let range = format!("{from}..{to}");
    let log = exec::run(
        &repo.path,
        "git",
        &[
            "log",
            "--reverse",
            "--no-color",
            "--encoding=UTF-8",
            "-z",
            "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s",
            &range,
        ],
        ENV,
    )?;
    let commits = parse_log(&log);
    let diff = exec::run(
        &repo.path,
        "git",
        &[
            "-c",
            "core.quotepath=off",
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            &from,
            &to,
        ],
        ENV,
    )?;
    Ok(Some(Incoming { from, to, commits, diff }))
}

/// Parses `-z` records of `%H %an %ae %aI %s` separated by 0x1f.
fn parse_log(log: &[u8]) -> Vec<Commit> {
    log.split(|&b| b == 0)
        .filter(|r| !r.is_empty())
        .map(|r| {
            let text = String::from_utf8_lossy(r);
            let mut f = text.trim_start_matches('\n').split('\u{1f}').map(str::to_string);
            let mut next = || f.next().unwrap_or_default();
            Commit { id: next(), author: next(), email: next(), date: next(), subject: next() }
        })
        .collect()
}

pub(super) fn update(repo: &Repo, incoming: &Incoming) -> Result<(), Error> {
    git(repo, &["merge", "--ff-only", "--quiet", &incoming.to]).map(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_records() {
        let log = b"abc\x1fAnn \xc3\x85\x1fa@x\x1f2024-01-02T03:04:05+01:00\x1ffix: it\0def\x1fBob\x1fb@x\x1fd\x1fs\0";
        let c = super::parse_log(log);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].author, "Ann \u{c5}");
        assert_eq!(c[1].subject, "s");
    }
}
