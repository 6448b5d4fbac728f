//! `git memo sequence`: test every commit of a range, oldest first, in
//! separate worktrees.
//!
//! The worktrees live in `$GIT_COMMON_DIR/memo/worktrees/wt-N` and are kept
//! between runs, so build caches in ignored directories (`target/`,
//! `node_modules/`) survive; before each commit the worktree is force-checked
//! out and cleaned of untracked, non-ignored files. The user's own checkout,
//! index and HEAD are never touched. Each worktree is held through a lock
//! file naming our process id, so concurrent runs use different worktrees.

use crate::error::{Error, Result};
use crate::exec::{self, Finished, GIT_LOCATION_VARS, Output};
use crate::key::{self, Key};
use crate::record::{ExitInfo, Outcome, Record};
use crate::repo::{Repo, git, git_clean_env};
use crate::run::{Settings, fingerprint, human_ms, now, short};
use crate::store::Store;
use git2::{Oid, RevparseMode, Sort};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Options of `git memo sequence`.
#[derive(Debug, Clone, Default)]
pub struct SequenceOptions {
    /// The range (`A..B`, `A...B`, or one commit); default `@{upstream}..HEAD`.
    pub range: Option<String>,
    /// The command.
    pub argv: Vec<OsString>,
    /// Continue after a failure.
    pub keep_going: bool,
    /// Parallel worktrees.
    pub jobs: usize,
    /// Follow only first parents (allows merges in the range).
    pub first_parent: bool,
    /// Do not refuse to run with staged changes.
    pub allow_dirty: bool,
}

/// One commit to test.
struct Item {
    commit: Oid,
    tree: Oid,
    subject: String,
    key: Key,
}

/// Resolve `range` into commits, oldest first.
///
/// # Errors
///
/// [`Error::BadRange`], [`Error::MergeInRange`], [`Error::UnbornHead`],
/// [`Error::DetachedHead`].
pub fn resolve(repo: &Repo, range: Option<&str>, first_parent: bool) -> Result<Vec<Oid>> {
    let g = &repo.git;
    let head_unborn = g.head().is_err_and(|e| e.code() == git2::ErrorCode::UnbornBranch);
    let spec = if let Some(r) = range {
        r.to_owned()
    } else {
        if head_unborn {
            return Err(Error::UnbornHead { branch: head_branch(repo) });
        }
        if g.head_detached().unwrap_or(false) {
            return Err(Error::DetachedHead {
                needed_for: "the default range @{upstream}..HEAD".to_owned(),
            });
        }
        "@{upstream}..HEAD".to_owned()
    };
    let bad = |reason: String| Error::BadRange { range: spec.clone(), reason };
    let rs = g.revparse(&spec).map_err(|e| {
        if head_unborn {
            Error::UnbornHead { branch: head_branch(repo) }
        } else {
            bad(e.message().to_owned())
        }
    })?;
    let peel = |o: &git2::Object<'_>| {
        o.peel_to_commit().map(|c| c.id()).map_err(|e| bad(e.message().to_owned()))
    };
    let mut walk = g.revwalk().map_err(Error::git("starting a revision walk"))?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).map_err(Error::git("sorting commits"))?;
    if first_parent {
        walk.simplify_first_parent().map_err(Error::git("walking first parents"))?;
    }
    let mode = rs.mode();
    if mode.contains(RevparseMode::SINGLE) {
        let Some(from) = rs.from() else { return Err(bad("names nothing".to_owned())) };
        return Ok(vec![peel(from)?]);
    }
    let (Some(from), Some(to)) = (rs.from(), rs.to()) else {
        return Err(bad("needs both ends (A..B)".to_owned()));
    };
    let (from, to) = (peel(from)?, peel(to)?);
    walk.push(to).map_err(Error::git("walking the range"))?;
    if mode.contains(RevparseMode::MERGE_BASE) {
        walk.push(from).map_err(Error::git("walking the range"))?;
        if let Ok(base) = g.merge_base(from, to) {
            walk.hide(base).map_err(Error::git("walking the range"))?;
        }
    } else {
        walk.hide(from).map_err(Error::git("walking the range"))?;
    }
    let commits: Vec<Oid> =
        walk.collect::<std::result::Result<_, _>>().map_err(Error::git("walking the range"))?;
    if commits.is_empty() {
        return Err(bad("contains no commits".to_owned()));
    }
    if !first_parent {
        for id in &commits {
            let c = g.find_commit(*id).map_err(Error::git(format!("reading commit {id}")))?;
            if c.parent_count() > 1 {
                return Err(Error::MergeInRange {
                    commit: short(*id),
                    subject: c.summary().ok().flatten().unwrap_or("").to_owned(),
                });
            }
        }
    }
    Ok(commits)
}

fn head_branch(repo: &Repo) -> String {
    repo.git
        .find_reference("HEAD")
        .ok()
        .and_then(|r| {
            r.symbolic_target()
                .ok()
                .flatten()
                .map(|s| s.trim_start_matches("refs/heads/").to_owned())
        })
        .unwrap_or_else(|| "HEAD".to_owned())
}

fn staged_changes(repo: &Repo) -> Result<usize> {
    let Ok(head) = repo.git.head().and_then(|h| h.peel_to_tree()) else { return Ok(0) };
    let index = repo.git.index().map_err(Error::git("reading the index"))?;
    let diff = repo
        .git
        .diff_tree_to_index(Some(&head), Some(&index), None)
        .map_err(Error::git("comparing the index with HEAD"))?;
    Ok(diff.deltas().len())
}

/// A memo worktree held by this process.
struct Worktree {
    path: PathBuf,
    lock: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

fn lock_is_stale(lock: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(lock) else { return false };
    let Ok(pid) = text.trim().parse::<u32>() else { return true };
    Path::new("/proc").is_dir() && !Path::new(&format!("/proc/{pid}")).exists()
}

fn acquire_worktrees(repo: &Repo, n: usize, first: Oid) -> Result<Vec<Worktree>> {
    let dir = repo.common_dir().join("memo").join("worktrees");
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n {
        let path = dir.join(format!("wt-{i}"));
        let lock = dir.join(format!("wt-{i}.lock"));
        i += 1;
        if lock.exists() && lock_is_stale(&lock) {
            let _ = std::fs::remove_file(&lock);
        }
        let Ok(mut f) = std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) else {
            continue;
        };
        let _ = std::io::Write::write_all(&mut f, format!("{}\n", std::process::id()).as_bytes());
        let wt = Worktree { path, lock };
        prepare(repo, &wt.path, first)?;
        out.push(wt);
    }
    Ok(out)
}

/// Make `path` a registered worktree (detached), creating it if needed.
fn prepare(repo: &Repo, path: &Path, commit: Oid) -> Result<()> {
    if path.join(".git").exists() && checkout(path, commit).is_ok() {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(path);
    git(&repo.workdir, &["worktree", "prune"], &[])?;
    let p = path.to_string_lossy().into_owned();
    git(&repo.workdir, &["worktree", "add", "--quiet", "--detach", &p, &commit.to_string()], &[])?;
    Ok(())
}

fn checkout(path: &Path, commit: Oid) -> Result<()> {
    let c = commit.to_string();
    git_clean_env(path, &["checkout", "--quiet", "--detach", "--force", &c])?;
    git_clean_env(path, &["clean", "-ffdq"])?;
    Ok(())
}

/// The result of testing one commit.
struct Outcome1 {
    index: usize,
    finished: Result<Finished>,
}

/// `git memo sequence`: returns the exit status.
///
/// # Errors
///
/// Bad input (see [`resolve`]) or failures preparing worktrees or stores.
#[allow(clippy::too_many_lines)]
pub fn sequence(cwd: &Path, opts: &SequenceOptions, settings: Settings) -> Result<i32> {
    let repo = Repo::discover(cwd)?;
    let settings = settings.with_config(&repo);
    let commits = resolve(&repo, opts.range.as_deref(), opts.first_parent)?;
    if !opts.allow_dirty {
        let staged = staged_changes(&repo)?;
        if staged > 0 {
            return Err(Error::DirtyIndex { paths: staged });
        }
    }
    let prefix = repo.prefix_of(cwd);
    let fp = fingerprint(&repo, &opts.argv, &repo.workdir).digest();
    let store = Store::open(&repo.git, settings.notes_ref.clone())?;
    let journal = store.journal()?;
    let mut items = Vec::new();
    for id in &commits {
        let c = repo.git.find_commit(*id).map_err(Error::git(format!("reading commit {id}")))?;
        let tree = c.tree_id();
        let key = key::compute(&opts.argv, &tree.to_string(), &prefix, fp.as_bytes());
        items.push(Item {
            commit: *id,
            tree,
            subject: c.summary().ok().flatten().unwrap_or("").to_owned(),
            key,
        });
    }
    let total = items.len();
    let mut todo = Vec::new();
    let mut cached = 0usize;
    for (i, it) in items.iter().enumerate() {
        let passed = !settings.force && store.lookup(&it.key, it.tree, &journal)?.pass.is_some();
        if passed {
            cached += 1;
            eprintln!(
                "git-memo: [{}/{total}] {} {}: cached pass",
                i + 1,
                short(it.commit),
                it.subject
            );
        } else {
            todo.push(i);
        }
    }
    if todo.is_empty() {
        eprintln!("git-memo: all {total} commits already passed");
        return Ok(0);
    }
    let jobs = opts.jobs.max(1).min(todo.len());
    let worktrees = acquire_worktrees(&repo, jobs, items[todo[0]].commit)?;
    let argv = opts.argv.clone();
    let stop_at = AtomicUsize::new(usize::MAX);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome1>();
    let mut failures: Vec<(usize, Finished)> = Vec::new();
    let mut passed = 0usize;
    let mut error: Option<Error> = None;
    std::thread::scope(|s| {
        for wt in &worktrees {
            let tx = tx.clone();
            let (todo, items, argv, stop_at, next, prefix) =
                (&todo, &items, &argv, &stop_at, &next, &prefix);
            let keep_going = opts.keep_going;
            s.spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&index) = todo.get(n) else { break };
                    if !keep_going && index > stop_at.load(Ordering::SeqCst) {
                        break;
                    }
                    let it = &items[index];
                    if jobs == 1 {
                        eprintln!(
                            "git-memo: [{}/{total}] {} {}: testing",
                            index + 1,
                            short(it.commit),
                            it.subject
                        );
                    }
                    let (finished, log) = test_one(&wt.path, it.commit, prefix, argv, jobs > 1);
                    report(index, total, it, &finished, log.as_deref());
                    if !keep_going && !finished.as_ref().is_ok_and(|f| f.exit == ExitInfo::Code(0))
                    {
                        stop_at.fetch_min(index, Ordering::SeqCst);
                    }
                    if tx.send(Outcome1 { index, finished }).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for out in rx {
            let it = &items[out.index];
            let finished = match out.finished {
                Ok(f) => f,
                Err(e) => {
                    stop_at.store(0, Ordering::SeqCst);
                    error.get_or_insert(e);
                    continue;
                }
            };
            let outcome =
                if finished.exit == ExitInfo::Code(0) { Outcome::Pass } else { Outcome::Fail };
            let record = Record {
                key: it.key.as_str().to_owned(),
                outcome,
                exit: finished.exit,
                millis: finished.millis,
                at: now(),
                tree: it.tree.to_string(),
                argv: argv.iter().map(|a| a.to_string_lossy().into_owned()).collect(),
            };
            if let Err(e) = store.record(&it.key, it.tree, &record, settings.share) {
                error.get_or_insert(e);
            }
            if outcome == Outcome::Pass {
                passed += 1;
            } else {
                failures.push((out.index, finished));
            }
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    failures.sort_by_key(|(i, _)| *i);
    let not_tested = total - cached - passed - failures.len();
    eprintln!(
        "git-memo: {total} commits: {cached} cached, {passed} passed, {} failed, {not_tested} not tested",
        failures.len()
    );
    match failures.first() {
        None => Ok(0),
        Some((i, f)) => {
            let it = &items[*i];
            eprintln!(
                "git-memo: first failure: {} {} (exit status {})",
                short(it.commit),
                it.subject,
                f.exit
            );
            Ok(f.exit_status())
        }
    }
}

/// Print one commit's captured output (parallel runs) and its result line,
/// holding stderr so that parallel workers do not interleave.
fn report(index: usize, total: usize, it: &Item, finished: &Result<Finished>, log: Option<&Path>) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let head = format!("git-memo: [{}/{total}] {} {}", index + 1, short(it.commit), it.subject);
    if let Some(log) = log {
        if let Ok(text) = std::fs::read(log) {
            let _ = writeln!(err, "{head}: output:");
            let _ = err.write_all(&text);
        }
        let _ = std::fs::remove_file(log);
    }
    let _ = match finished {
        Ok(f) if f.exit == ExitInfo::Code(0) => {
            writeln!(err, "{head}: passed in {}", human_ms(f.millis))
        }
        Ok(f) => {
            writeln!(err, "{head}: FAILED (exit status {}) after {}", f.exit, human_ms(f.millis))
        }
        Err(_) => Ok(()),
    };
}

fn test_one(
    wt: &Path,
    commit: Oid,
    prefix: &str,
    argv: &[OsString],
    capture: bool,
) -> (Result<Finished>, Option<PathBuf>) {
    if let Err(e) = checkout(wt, commit) {
        return (Err(e), None);
    }
    let dir = if prefix.is_empty() { wt.to_path_buf() } else { wt.join(prefix) };
    let dir = if dir.is_dir() { dir } else { wt.to_path_buf() };
    if !capture {
        return (exec::execute(argv, &dir, Output::Inherit, GIT_LOCATION_VARS), None);
    }
    let log = wt.with_extension(format!("{commit}.log"));
    let file = match std::fs::File::create(&log) {
        Ok(f) => f,
        Err(e) => return (Err(Error::io(format!("creating {}", log.display()))(e)), None),
    };
    (exec::execute(argv, &dir, Output::File(file), GIT_LOCATION_VARS), Some(log))
}
