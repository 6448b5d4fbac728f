//! A cached `git memo run` against `git status` on the same generated tree,
//! side by side (issue #10: ≤ 0.3 s and within 1.5× of `git status` on
//! 50,000 files).
//!
//! `cargo bench -p git-memo --bench cached_run` builds a repository of
//! 50,000 files (500 directories × 100 files) plus a few untracked ones;
//! `GIT_MEMO_BENCH_FILES` overrides the count. In test mode
//! (`cargo test --benches`) it uses 500 files and runs each case once.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn files_wanted() -> usize {
    if let Some(n) = std::env::var("GIT_MEMO_BENCH_FILES").ok().and_then(|v| v.parse().ok()) {
        return n;
    }
    if std::env::args().any(|a| a == "--bench") { 50_000 } else { 500 }
}

fn isolated<'a>(cmd: &'a mut Command, home: &Path) -> &'a mut Command {
    cmd.env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
}

fn git(dir: &Path, home: &Path, args: &[&str]) -> Output {
    let out = isolated(&mut Command::new("git"), home)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn memo(dir: &Path, home: &Path) -> Output {
    isolated(&mut Command::new(env!("CARGO_BIN_EXE_git-memo")), home)
        .args(["run", "--", "true"])
        .current_dir(dir)
        .output()
        .expect("git-memo runs")
}

fn bench(c: &mut Criterion) {
    let n = files_wanted();
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &home, &["init", "-q"]);
    git(&repo, &home, &["config", "user.name", "Bench"]);
    git(&repo, &home, &["config", "user.email", "bench@example.invalid"]);
    for i in 0..n {
        let dir = repo.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir).expect("mkdir");
        }
        std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).expect("write");
    }
    git(&repo, &home, &["add", "-A"]);
    git(&repo, &home, &["commit", "-qm", "generated"]);
    // Some uncommitted work, as in real use.
    std::fs::write(repo.join("d000/f0.txt"), "edited\n").expect("write");
    std::fs::write(repo.join("untracked.txt"), "new\n").expect("write");
    // Warm both paths (first `git status` refreshes the index; first run records).
    git(&repo, &home, &["status", "--porcelain"]);
    let first = memo(&repo, &home);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let again = memo(&repo, &home);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("cached pass"),
        "the bench must measure a cache hit"
    );

    let mut g = c.benchmark_group(format!("cached_run_{n}_files"));
    g.sample_size(20).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(2));
    g.bench_function("git status --porcelain", |b| {
        b.iter(|| git(&repo, &home, &["status", "--porcelain"]));
    });
    g.bench_function("git memo run -- true (cached)", |b| {
        b.iter(|| memo(&repo, &home));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
