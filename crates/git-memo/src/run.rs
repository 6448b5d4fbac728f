//! `git memo run` and `git memo status`: the working state of the current
//! checkout.

use crate::env::{EnvConfig, Fingerprint};
use crate::error::Result;
use crate::exec::{Output, execute};
use crate::key::{self, Key};
use crate::record::{ExitInfo, Outcome, Record};
use crate::repo::Repo;
use crate::store::{Lookup, Source, Store};
use git2::Oid;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Also write results as notes (`--share`, or `memo.share`).
    pub share: bool,
    /// Notes ref (`--notes-ref`, `memo.notesRef`, default `refs/notes/memo`).
    pub notes_ref: Option<String>,
    /// Ignore existing memos (still record the new result).
    pub force: bool,
}

impl Settings {
    /// Fill unset fields from git config.
    #[must_use]
    pub fn with_config(mut self, repo: &Repo) -> Self {
        if !self.share {
            self.share = repo.config_bool("memo.share").unwrap_or(false);
        }
        if self.notes_ref.is_none() {
            self.notes_ref = repo.config_string("memo.notesRef");
        }
        self
    }
}

/// The fingerprint for a command, from `memo.env`/`memo.probe`, with probes
/// run in `dir`.
pub fn fingerprint(repo: &Repo, argv: &[OsString], dir: &Path) -> Fingerprint {
    let argv0 = argv.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    let cfg = EnvConfig::from_values(
        &repo.config_values("memo.env"),
        &repo.config_values("memo.probe"),
        &argv0,
    );
    Fingerprint::collect(&cfg, dir)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Human form of a duration in milliseconds.
pub fn human_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// Human form of "how long ago".
pub fn ago(at: u64) -> String {
    let d = now().saturating_sub(at);
    match d {
        0..60 => format!("{d}s ago"),
        60..3600 => format!("{}m ago", d / 60),
        3600..86_400 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

/// The key and tree of the current working state for `argv`.
pub struct Current {
    /// The opened repository.
    pub repo: Repo,
    /// The working directory.
    pub cwd: PathBuf,
    /// Tree of the whole working state.
    pub tree: Oid,
    /// The memo key.
    pub key: Key,
    /// The fingerprint behind the key.
    pub fingerprint: Fingerprint,
}

impl Current {
    /// Open the repository at `cwd` and compute everything for `argv` —
    /// before anything runs.
    ///
    /// # Errors
    ///
    /// Repository and git failures.
    pub fn compute(cwd: &Path, argv: &[OsString]) -> Result<Current> {
        let repo = Repo::discover(cwd)?;
        let tree = repo.working_state_tree()?;
        let prefix = repo.prefix_of(cwd);
        let fingerprint = fingerprint(&repo, argv, &repo.workdir);
        let key = key::compute(argv, &tree.to_string(), &prefix, fingerprint.digest().as_bytes());
        Ok(Current { repo, cwd: cwd.to_path_buf(), tree, key, fingerprint })
    }
}

fn display_argv(argv: &[OsString]) -> Vec<String> {
    argv.iter().map(|a| a.to_string_lossy().into_owned()).collect()
}

/// `git memo run`: returns the exit status to exit with.
///
/// # Errors
///
/// Anything that stops us from computing the key, running the command, or
/// recording the result.
pub fn run(cwd: &Path, argv: &[OsString], settings: Settings) -> Result<i32> {
    let cur = Current::compute(cwd, argv)?;
    let settings = settings.with_config(&cur.repo);
    let store = Store::open(&cur.repo.git, settings.notes_ref.clone())?;
    let shown = display_argv(argv).join(" ");
    if !settings.force {
        let journal = store.journal()?;
        let found = store.lookup(&cur.key, cur.tree, &journal)?;
        if let Some(source) = found.pass {
            let when = found
                .latest
                .filter(Record::passed)
                .map(|r| format!(", recorded {}, took {}", ago(r.at), human_ms(r.millis)))
                .unwrap_or_default();
            let from = match source {
                Source::Notes => "shared notes",
                Source::ObjectStore => "object store",
            };
            eprintln!(
                "git-memo: cached pass: `{shown}` on tree {} ({from}{when}); not run",
                short(cur.tree)
            );
            return Ok(0);
        }
    }
    let finished = execute(argv, &cur.cwd, Output::Inherit, &[])?;
    let outcome = if finished.exit == ExitInfo::Code(0) { Outcome::Pass } else { Outcome::Fail };
    let record = Record {
        key: cur.key.as_str().to_owned(),
        outcome,
        exit: finished.exit,
        millis: finished.millis,
        at: now(),
        tree: cur.tree.to_string(),
        argv: display_argv(argv),
    };
    store.record(&cur.key, cur.tree, &record, settings.share)?;
    match outcome {
        Outcome::Pass => eprintln!(
            "git-memo: passed in {}; recorded for tree {}{}",
            human_ms(finished.millis),
            short(cur.tree),
            if settings.share { format!(" (and in {})", store.notes_ref()) } else { String::new() }
        ),
        Outcome::Fail => eprintln!(
            "git-memo: FAILED (exit status {}) after {}; recorded as a failure for tree {}",
            finished.exit,
            human_ms(finished.millis),
            short(cur.tree)
        ),
    }
    Ok(finished.exit_status())
}

/// Abbreviated object id.
pub fn short(id: Oid) -> String {
    id.to_string()[..10].to_owned()
}

/// `git memo status`: returns the exit status (with a command: 0 when it
/// has a pass, 1 otherwise; without: 0).
///
/// # Errors
///
/// Repository and store failures.
pub fn status(cwd: &Path, argv: &[OsString], settings: Settings, explain: bool) -> Result<i32> {
    let cur = Current::compute(cwd, argv)?;
    let settings = settings.with_config(&cur.repo);
    let store = Store::open(&cur.repo.git, settings.notes_ref.clone())?;
    let journal = store.journal()?;
    let head = cur.repo.git.head().ok().and_then(|h| h.peel_to_commit().ok());
    let state = match &head {
        Some(c) if c.tree_id() == cur.tree => format!("HEAD {} (clean)", short(c.id())),
        Some(c) => format!("HEAD {} plus uncommitted or untracked changes", short(c.id())),
        None => "no commit yet".to_owned(),
    };
    println!("working state: tree {} ({state})", short(cur.tree));
    let code = if argv.is_empty() {
        let notes = store.note_records(cur.tree)?;
        let tree = cur.tree.to_string();
        let mut rows: Vec<&Record> = Vec::new();
        for r in journal.iter().chain(notes.iter()).filter(|r| r.tree == tree) {
            match rows.iter_mut().find(|x| x.key == r.key) {
                Some(x) if x.at <= r.at => *x = r,
                Some(_) => {}
                None => rows.push(r),
            }
        }
        if rows.is_empty() {
            println!("no recorded runs for this tree");
        }
        for r in rows {
            println!("{}", describe(r));
        }
        0
    } else {
        let found = store.lookup(&cur.key, cur.tree, &journal)?;
        print_lookup(&found, argv);
        i32::from(found.pass.is_none())
    };
    if explain {
        println!("key {}", cur.key);
        for line in cur.fingerprint.describe() {
            println!("  {line}");
        }
    }
    println!(
        "stores: journal {} ({} records), notes {} ({} trees)",
        store.journal_path().display(),
        journal.len(),
        store.notes_ref(),
        store.note_count()
    );
    Ok(code)
}

fn print_lookup(found: &Lookup, argv: &[OsString]) {
    let shown = display_argv(argv).join(" ");
    match (&found.pass, &found.latest) {
        (Some(Source::Notes), _) => println!("passed (shared notes): {shown}"),
        (Some(Source::ObjectStore), _) => println!("passed (object store): {shown}"),
        (None, Some(r)) if !r.passed() => println!("{}", describe(r)),
        (None, _) => println!("not run: {shown}"),
    }
    if let Some(r) = &found.latest
        && found.pass.is_some()
    {
        println!("{}", describe(r));
    }
}

/// One line for a record.
pub fn describe(r: &Record) -> String {
    let what = match r.outcome {
        Outcome::Pass => "pass".to_owned(),
        Outcome::Fail => format!("FAIL (exit {})", r.exit),
    };
    format!("{what:<16} {:>8}  {:<10} {}", human_ms(r.millis), ago(r.at), r.argv.join(" "))
}
