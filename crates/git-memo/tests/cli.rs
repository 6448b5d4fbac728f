//! Behaviour of the `git-memo` binary on real repositories made with the git
//! CLI in temporary directories. Every test gets its own HOME and no system
//! config, so the user's git setup never leaks in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Sandbox {
    _tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        let s = Sandbox { _tmp: tmp, home };
        s.git(&s.home, &["config", "--global", "user.name", "Test"]);
        s.git(&s.home, &["config", "--global", "user.email", "test@example.invalid"]);
        s.git(&s.home, &["config", "--global", "init.defaultBranch", "main"]);
        s
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("MEMO_TEST_FLAG");
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        self.env(&mut cmd);
        let out = cmd.args(args).current_dir(dir).output().expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A repository with one commit holding `a.txt` and a .gitignore for `*.log`.
    fn repo(&self, name: &str) -> PathBuf {
        let dir = self.home.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        self.git(&dir, &["init", "-q"]);
        write(&dir, "a.txt", "one\n");
        write(&dir, ".gitignore", "*.log\n");
        self.git(&dir, &["add", "."]);
        self.git(&dir, &["commit", "-qm", "initial"]);
        dir
    }

    fn memo(&self, dir: &Path, args: &[&str]) -> Output {
        self.memo_env(dir, args, &[])
    }

    fn memo_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_git-memo"));
        self.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args).current_dir(dir).output().expect("git-memo runs")
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A test command that appends a line to `counter` (outside the repo) each
/// time it really runs, then exits with `code`.
fn counting(counter: &Path, code: i32) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("echo ran >> '{}'; echo test-output; exit {code}", counter.display()),
    ]
}

fn runs(counter: &Path) -> usize {
    std::fs::read_to_string(counter).map_or(0, |s| s.lines().count())
}

fn run_args(cmd: &[String]) -> Vec<&str> {
    let mut v = vec!["run", "--"];
    v.extend(cmd.iter().map(String::as_str));
    v
}

#[test]
fn a_pass_is_cached_and_not_rerun() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let counter = s.home.join("count");
    let cmd = counting(&counter, 0);
    let first = s.memo(&r, &run_args(&cmd));
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).contains("test-output"), "output is streamed through");
    assert_eq!(runs(&counter), 1);
    let second = s.memo(&r, &run_args(&cmd));
    assert_eq!(second.status.code(), Some(0));
    assert!(stderr(&second).contains("cached pass"), "{}", stderr(&second));
    assert!(!stdout(&second).contains("test-output"));
    assert_eq!(runs(&counter), 1, "a cached pass must not run the command");
    // --force runs again.
    let mut forced = vec!["run", "--force", "--"];
    forced.extend(cmd.iter().map(String::as_str));
    assert_eq!(s.memo(&r, &forced).status.code(), Some(0));
    assert_eq!(runs(&counter), 2);
}

#[test]
fn a_failure_is_recorded_propagated_and_never_cached() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let counter = s.home.join("count");
    let cmd = counting(&counter, 3);
    for n in 1..=3 {
        let o = s.memo(&r, &run_args(&cmd));
        assert_eq!(o.status.code(), Some(3), "exit status propagated");
        assert!(stderr(&o).contains("FAILED (exit status 3)"), "{}", stderr(&o));
        assert_eq!(runs(&counter), n, "a failure must run again every time");
    }
    let mut st = vec!["status", "--"];
    st.extend(cmd.iter().map(String::as_str));
    let o = s.memo(&r, &st);
    assert_eq!(o.status.code(), Some(1), "status: no pass");
    assert!(stdout(&o).contains("FAIL (exit 3)"), "{}", stdout(&o));
    let journal = std::fs::read_to_string(r.join(".git/memo/journal")).expect("journal");
    assert_eq!(journal.lines().filter(|l| l.contains(" fail exit=3 ")).count(), 3);
    assert!(!journal.contains(" pass "));
}

#[test]
fn a_later_failure_revokes_a_pass() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let flag = s.home.join("flag");
    let cmd = vec!["sh".to_owned(), "-c".to_owned(), format!("test ! -e '{}'", flag.display())];
    assert_eq!(s.memo(&r, &run_args(&cmd)).status.code(), Some(0));
    write(&s.home, "flag", "");
    let mut forced = vec!["run", "--force", "--"];
    forced.extend(cmd.iter().map(String::as_str));
    assert_eq!(s.memo(&r, &forced).status.code(), Some(1));
    std::fs::remove_file(&flag).expect("rm");
    // The newest result is a failure: the command must run (and pass) again.
    let o = s.memo(&r, &run_args(&cmd));
    assert!(!stderr(&o).contains("cached pass"), "{}", stderr(&o));
}

#[test]
fn key_changes_with_untracked_staged_and_allow_listed_env_but_not_ignored() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let counter = s.home.join("count");
    let cmd = counting(&counter, 0);
    let go = |env: &[(&str, &str)]| s.memo_env(&r, &run_args(&cmd), env);
    assert_eq!(go(&[]).status.code(), Some(0));
    assert_eq!(runs(&counter), 1);
    // Ignored file: same key.
    write(&r, "build.log", "noise");
    assert!(stderr(&go(&[])).contains("cached pass"));
    assert_eq!(runs(&counter), 1);
    // Untracked file: new key; editing it: new key again.
    write(&r, "new.txt", "x");
    go(&[]);
    assert_eq!(runs(&counter), 2);
    write(&r, "new.txt", "y");
    go(&[]);
    assert_eq!(runs(&counter), 3);
    // Staged change to a tracked file.
    write(&r, "a.txt", "two\n");
    s.git(&r, &["add", "a.txt"]);
    go(&[]);
    assert_eq!(runs(&counter), 4);
    assert!(stderr(&go(&[])).contains("cached pass"));
    // Unlisted variable: same key. Listed (via memo.env): new key.
    go(&[("MEMO_TEST_FLAG", "1")]);
    assert_eq!(runs(&counter), 4);
    s.git(&r, &["config", "memo.env", "MEMO_TEST_FLAG"]);
    go(&[("MEMO_TEST_FLAG", "1")]);
    assert_eq!(runs(&counter), 5);
    go(&[("MEMO_TEST_FLAG", "2")]);
    assert_eq!(runs(&counter), 6);
    assert!(stderr(&go(&[("MEMO_TEST_FLAG", "2")])).contains("cached pass"));
    // A default-listed variable.
    go(&[("MEMO_TEST_FLAG", "2"), ("RUSTFLAGS", "-Dwarnings")]);
    assert_eq!(runs(&counter), 7);
    // The user's index still only has what they staged.
    assert_eq!(s.git(&r, &["status", "--porcelain"]), "M  a.txt\n?? new.txt\n");
}

#[test]
fn argv_is_keyed_not_a_shell_string() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let ok = |args: &[&str]| s.memo(&r, args);
    assert_eq!(ok(&["run", "--", "sh", "-c", "exit 0", "a b"]).status.code(), Some(0));
    let o = ok(&["run", "--", "sh", "-c", "exit 0", "a", "b"]);
    assert!(!stderr(&o).contains("cached pass"), "different argv, different key");
}

#[test]
fn a_formatter_that_rewrites_files_does_not_poison_its_key() {
    let s = Sandbox::new();
    let r = s.repo("r");
    write(&r, "a.txt", "unformatted\n");
    let counter = s.home.join("count");
    let fmt = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!("echo ran >> '{}'; echo formatted > a.txt", counter.display()),
    ];
    assert_eq!(s.memo(&r, &run_args(&fmt)).status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(r.join("a.txt")).expect("read"), "formatted\n");
    // The post-run state was never tested: it must run.
    s.memo(&r, &run_args(&fmt));
    assert_eq!(runs(&counter), 2);
    // The pre-run state is what passed: back there, it is cached.
    write(&r, "a.txt", "unformatted\n");
    let o = s.memo(&r, &run_args(&fmt));
    assert!(stderr(&o).contains("cached pass"), "{}", stderr(&o));
    assert_eq!(runs(&counter), 2);
}

#[test]
fn a_rebase_or_amend_that_keeps_the_tree_keeps_the_pass() {
    let s = Sandbox::new();
    let r = s.repo("r");
    write(&r, "b.txt", "b\n");
    s.git(&r, &["add", "b.txt"]);
    s.git(&r, &["commit", "-qm", "add b"]);
    let counter = s.home.join("count");
    let cmd = counting(&counter, 0);
    s.memo(&r, &run_args(&cmd));
    assert_eq!(runs(&counter), 1);
    s.git(&r, &["commit", "-q", "--amend", "-m", "add b, reworded"]);
    assert!(stderr(&s.memo(&r, &run_args(&cmd))).contains("cached pass"));
    // Rebase onto a sibling that adds the same content: new commit, same tree.
    s.git(&r, &["checkout", "-q", "-b", "side", "HEAD~1"]);
    write(&r, "b.txt", "b\n");
    s.git(&r, &["add", "b.txt"]);
    s.git(&r, &["commit", "-qm", "b from another branch"]);
    s.git(&r, &["checkout", "-q", "main"]);
    s.git(&r, &["rebase", "-q", "side"]);
    assert!(stderr(&s.memo(&r, &run_args(&cmd))).contains("cached pass"));
    assert_eq!(runs(&counter), 1);
}

fn series(s: &Sandbox, r: &Path) {
    for i in 1..=4 {
        write(r, &format!("f{i}.txt"), &format!("{i}\n"));
        s.git(r, &["add", "."]);
        s.git(r, &["commit", "-qm", &format!("commit number {i}")]);
    }
}

fn index_bytes(r: &Path) -> Vec<u8> {
    std::fs::read(r.join(".git/index")).expect("index")
}

#[test]
fn sequence_stops_at_first_failure_names_it_and_leaves_the_checkout_alone() {
    let s = Sandbox::new();
    let r = s.repo("r");
    series(&s, &r);
    // Local, uncommitted work that must survive untouched.
    write(&r, "a.txt", "work in progress\n");
    write(&r, "scratch.txt", "untracked\n");
    let status_before = s.git(&r, &["status", "--porcelain"]);
    let index_before = index_bytes(&r);
    let head_before = s.git(&r, &["rev-parse", "HEAD"]);
    let counter = s.home.join("count");
    let cmd = format!("echo ran >> '{}'; test ! -e f3.txt", counter.display());
    let args = ["sequence", "HEAD~4..HEAD", "--", "sh", "-c", cmd.as_str()];
    let o = s.memo(&r, &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("first failure:") && err.contains("commit number 3"), "{err}");
    assert_eq!(runs(&counter), 3, "commit 4 is not tested after 3 failed");
    assert_eq!(s.git(&r, &["status", "--porcelain"]), status_before);
    assert_eq!(index_bytes(&r), index_before, "the user's index file is byte-identical");
    assert_eq!(s.git(&r, &["rev-parse", "HEAD"]), head_before);
    assert_eq!(std::fs::read_to_string(r.join("a.txt")).expect("read"), "work in progress\n");
    // Second time: the two passing commits are cached; --keep-going tests commit 4.
    let args_k = ["sequence", "--keep-going", "HEAD~4..HEAD", "--", "sh", "-c", cmd.as_str()];
    let o = s.memo(&r, &args_k);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("2 cached, 0 passed, 2 failed"), "{}", stderr(&o));
    assert_eq!(runs(&counter), 5);
    assert_eq!(index_bytes(&r), index_before);
}

#[test]
fn sequence_in_parallel_and_then_run_reuses_its_memo() {
    let s = Sandbox::new();
    let r = s.repo("r");
    series(&s, &r);
    let counter = s.home.join("count");
    let cmd = format!("echo ran >> '{}'; cat a.txt", counter.display());
    let o = s.memo(&r, &["sequence", "-j", "3", "HEAD~4..HEAD", "--", "sh", "-c", cmd.as_str()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(runs(&counter), 4);
    assert!(stderr(&o).contains("0 cached, 4 passed, 0 failed"), "{}", stderr(&o));
    // A clean checkout of HEAD has the same tree: run hits the memo.
    let o = s.memo(&r, &["run", "--", "sh", "-c", cmd.as_str()]);
    assert!(stderr(&o).contains("cached pass"), "{}", stderr(&o));
    assert_eq!(runs(&counter), 4);
}

#[test]
fn shared_notes_survive_gc_and_travel_between_clones() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let counter = s.home.join("count");
    let cmd = counting(&counter, 0);
    let mut shared = vec!["run", "--share", "--"];
    shared.extend(cmd.iter().map(String::as_str));
    assert_eq!(s.memo(&r, &shared).status.code(), Some(0));
    // A second command recorded only as a blob marker.
    let local = ["run", "--", "true"];
    assert_eq!(s.memo(&r, &local).status.code(), Some(0));
    assert!(stderr(&s.memo(&r, &local)).contains("cached pass"));
    s.git(&r, &["gc", "-q", "--prune=now"]);
    let o = s.memo(&r, &local);
    assert!(!stderr(&o).contains("cached pass"), "gc --prune=now drops blob memos");
    let o = s.memo(&r, &run_args(&cmd));
    assert!(
        stderr(&o).contains("cached pass") && stderr(&o).contains("(shared notes"),
        "{}",
        stderr(&o)
    );
    assert_eq!(runs(&counter), 1);

    // Push the notes to a bare remote, clone, fetch the notes: cached there.
    let remote = s.home.join("remote.git");
    s.git(&s.home, &["init", "-q", "--bare", remote.to_str().expect("utf8")]);
    s.git(&r, &["remote", "add", "origin", remote.to_str().expect("utf8")]);
    s.git(&r, &["push", "-q", "origin", "main", "refs/notes/memo"]);
    s.git(&s.home, &["clone", "-q", remote.to_str().expect("utf8"), "clone"]);
    let c = s.home.join("clone");
    s.git(&c, &["fetch", "-q", "origin", "refs/notes/memo:refs/notes/memo"]);
    let o = s.memo(&c, &run_args(&cmd));
    assert!(
        stderr(&o).contains("cached pass") && stderr(&o).contains("(shared notes"),
        "{}",
        stderr(&o)
    );
    assert_eq!(runs(&counter), 1);
}

#[test]
fn clear_removes_memos() {
    let s = Sandbox::new();
    let r = s.repo("r");
    let counter = s.home.join("count");
    let cmd = counting(&counter, 0);
    let mut shared = vec!["run", "--share", "--"];
    shared.extend(cmd.iter().map(String::as_str));
    s.memo(&r, &shared);
    s.memo(&r, &["run", "--", "true"]);
    // Pack everything (markers included) so clear cannot just delete files.
    s.git(&r, &["repack", "-qad"]);
    let o = s.memo(&r, &["clear"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&s.memo(&r, &["run", "--", "true"])).contains("cached pass"));
    s.memo(&r, &run_args(&cmd));
    assert_eq!(runs(&counter), 2, "the shared note went too");
    assert!(s.git(&r, &["for-each-ref", "refs/notes/"]).is_empty());
}

#[test]
fn bad_input_has_clear_messages_and_distinct_statuses() {
    let s = Sandbox::new();
    let plain = s.home.join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    let o = s.memo_env(
        &plain,
        &["run", "--", "true"],
        &[("GIT_CEILING_DIRECTORIES", s.home.to_str().expect("utf8"))],
    );
    assert_eq!(o.status.code(), Some(128), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a git repository"));

    s.git(&s.home, &["init", "-q", "--bare", "bare.git"]);
    let o = s.memo(&s.home.join("bare.git"), &["run", "--", "true"]);
    assert_eq!(o.status.code(), Some(120), "{}", stderr(&o));
    assert!(stderr(&o).contains("bare repository"));

    let unborn = s.home.join("unborn");
    s.git(&s.home, &["init", "-q", "unborn"]);
    let o = s.memo(&unborn, &["sequence", "--", "true"]);
    assert_eq!(o.status.code(), Some(121), "{}", stderr(&o));
    assert!(stderr(&o).contains("no commits yet"));
    // run works on an unborn HEAD: the working state is still a tree.
    assert_eq!(s.memo(&unborn, &["run", "--", "true"]).status.code(), Some(0));

    let r = s.repo("r");
    series(&s, &r);
    s.git(&r, &["checkout", "-q", "--detach", "HEAD"]);
    let o = s.memo(&r, &["sequence", "--", "true"]);
    assert_eq!(o.status.code(), Some(122), "{}", stderr(&o));
    assert!(stderr(&o).contains("HEAD is detached"));
    s.git(&r, &["checkout", "-q", "main"]);

    write(&r, "a.txt", "staged\n");
    s.git(&r, &["add", "a.txt"]);
    let o = s.memo(&r, &["sequence", "HEAD~2..HEAD", "--", "true"]);
    assert_eq!(o.status.code(), Some(123), "{}", stderr(&o));
    assert!(stderr(&o).contains("staged change"));
    assert_eq!(
        s.memo(&r, &["sequence", "--allow-dirty", "HEAD~2..HEAD", "--", "true"]).status.code(),
        Some(0)
    );
    s.git(&r, &["reset", "-q", "--hard"]);

    s.git(&r, &["checkout", "-q", "-b", "side", "HEAD~2"]);
    write(&r, "side.txt", "s\n");
    s.git(&r, &["add", "side.txt"]);
    s.git(&r, &["commit", "-qm", "side work"]);
    s.git(&r, &["checkout", "-q", "main"]);
    s.git(&r, &["merge", "-q", "--no-edit", "side"]);
    let o = s.memo(&r, &["sequence", "HEAD~3..HEAD", "--", "true"]);
    assert_eq!(o.status.code(), Some(124), "{}", stderr(&o));
    assert!(stderr(&o).contains("merge commit"));
    let o = s.memo(&r, &["sequence", "--first-parent", "HEAD~3..HEAD", "--", "true"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = s.memo(&r, &["sequence", "nosuchref..HEAD", "--", "true"]);
    assert_eq!(o.status.code(), Some(119), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad range"));

    let o = s.memo(&r, &["run", "--", "definitely-not-a-command-xyz"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("command not found: definitely-not-a-command-xyz"));

    let o = s.memo(&r, &["run"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_lists_every_subcommand_and_the_exit_statuses() {
    let s = Sandbox::new();
    let o = s.memo(&s.home, &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let h = stdout(&o);
    for word in ["run", "sequence", "status", "clear", "--share", "memo.env", "memo.probe", "127"] {
        assert!(h.contains(word), "--help lacks {word}: {h}");
    }
    let o = s.memo(&s.home, &["sequence", "--help"]);
    let h = stdout(&o);
    for word in ["--keep-going", "--jobs", "--force", "--first-parent", "RANGE"] {
        assert!(h.contains(word), "sequence --help lacks {word}: {h}");
    }
}
