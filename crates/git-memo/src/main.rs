//! The `git-memo` binary (`git memo …` once it is on PATH).

use anyhow::Context;
use clap::{Parser, Subcommand};
use git_memo::error::{Error, exit};
use git_memo::run::Settings;
use git_memo::sequence::SequenceOptions;
use std::ffi::OsString;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Keys: a run is identified by the command's argv, the tree id of the whole
working state (tracked changes and untracked, non-ignored files; ignored
files are left out), the directory relative to the worktree root, and an
environment fingerprint, all computed before the command starts.

Configuration (git config):
  memo.env      variable name (or PREFIX*) added to the fingerprint's
                allow-list; an empty value resets the list (defaults: CC CXX
                CFLAGS CXXFLAGS CPPFLAGS LDFLAGS RUSTFLAGS RUSTDOCFLAGS
                RUSTUP_TOOLCHAIN CARGO_BUILD_TARGET GOFLAGS GOOS GOARCH
                CGO_ENABLED PYTHONPATH VIRTUAL_ENV JAVA_HOME NODE_ENV
                NODE_OPTIONS)
  memo.probe    command line (split on spaces, no shell) whose output goes
                into the fingerprint; an empty value resets the list
                (built in: `rustc -vV` for cargo, `go version` for go, …)
  memo.share    true: always also write shared notes (as --share)
  memo.notesRef notes ref for shared results (default refs/notes/memo)

Sharing results between clones:
  git push origin refs/notes/memo
  git fetch origin refs/notes/memo:refs/notes/memo

Exit status: the command's own status for run/sequence (128+N when killed by
signal N); status: 0 when the command has a pass, 1 otherwise. git-memo's own
failures: 2 usage, 119 bad range, 120 bare repository, 121 unborn HEAD,
122 detached HEAD (default range), 123 staged changes (sequence),
124 merge in range, 125 internal error, 126 command not executable,
127 command not found, 128 not a git repository.";

/// Remember passing test runs by git tree hash, in git's own object store.
#[derive(Parser, Debug)]
#[command(name = "git-memo", bin_name = "git memo", version, after_help = AFTER_HELP)]
struct Cli {
    /// Also record results as notes on the tree objects (a ref that can be
    /// pushed and fetched); also `git config memo.share true`.
    #[arg(long, global = true)]
    share: bool,
    /// Notes ref for shared results [default: refs/notes/memo].
    #[arg(long, global = true, value_name = "REF")]
    notes_ref: Option<String>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run CMD unless the current working state already passed it.
    ///
    /// Prints "cached pass" and exits 0 without running when the key has a
    /// recorded pass; otherwise runs CMD (output streamed), records the pass
    /// or failure, and exits with CMD's status.
    Run {
        /// Run even if a pass is recorded (the new result is recorded).
        #[arg(long)]
        force: bool,
        /// The command and its arguments (no shell; use `sh -c '…'` for one).
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "CMD"
        )]
        command: Vec<OsString>,
    },
    /// Test every commit of RANGE, oldest first, in separate worktrees.
    ///
    /// Your checkout, index and HEAD are never touched. Commits whose tree
    /// already passed CMD are skipped. Stops at the first failure and names
    /// the commit, unless --keep-going.
    Sequence {
        /// Commits to test: A..B, A...B or a single commit
        /// [default: @{upstream}..HEAD].
        range: Option<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
        /// Continue after a failing commit.
        #[arg(long, short = 'k')]
        keep_going: bool,
        /// Test up to N commits at once, each in its own worktree (output is
        /// shown per commit when it finishes).
        #[arg(long, short = 'j', value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u16).range(1..=256))]
        jobs: u16,
        /// Test every commit even if its tree already passed.
        #[arg(long)]
        force: bool,
        /// Follow only the first parent of merges (merges are refused
        /// otherwise).
        #[arg(long)]
        first_parent: bool,
        /// Run even though the index has staged changes (they are not tested).
        #[arg(long)]
        allow_dirty: bool,
    },
    /// Show what is recorded for the current working state.
    ///
    /// With CMD: whether CMD has a pass for the current state (exit 0) or
    /// not (exit 1). Without: every recorded run for the current tree.
    Status {
        /// Also print the key and the environment fingerprint behind it.
        #[arg(long)]
        explain: bool,
        /// The command to ask about.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "CMD")]
        command: Vec<OsString>,
    },
    /// Forget recorded results: local pass markers, the journal and the
    /// local notes ref (remote copies of the notes are not touched).
    Clear {
        /// Keep the local notes ref.
        #[arg(long)]
        keep_notes: bool,
        /// Also remove the worktrees `sequence` keeps for incremental builds.
        #[arg(long)]
        worktrees: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    match real_main(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code & 0xff).unwrap_or(1)),
        Err(e) => {
            eprintln!("git-memo: error: {e:#}");
            let code = e.downcast_ref::<Error>().map_or(exit::INTERNAL, Error::exit_code);
            ExitCode::from(code)
        }
    }
}

fn real_main(cli: Cli) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let settings = Settings { share: cli.share, notes_ref: cli.notes_ref, force: false };
    Ok(match cli.command {
        Cmd::Run { force, command } => {
            git_memo::run::run(&cwd, &command, Settings { force, ..settings })?
        }
        Cmd::Sequence { range, command, keep_going, jobs, force, first_parent, allow_dirty } => {
            let opts = SequenceOptions {
                range,
                argv: command,
                keep_going,
                jobs: usize::from(jobs),
                first_parent,
                allow_dirty,
            };
            git_memo::sequence::sequence(&cwd, &opts, Settings { force, ..settings })?
        }
        Cmd::Status { explain, command } => {
            git_memo::run::status(&cwd, &command, settings, explain)?
        }
        Cmd::Clear { keep_notes, worktrees } => {
            git_memo::clear::clear(&cwd, &settings, keep_notes, worktrees)?
        }
    })
}
