//! Runs version-control programs with argument arrays (never through a shell).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::Error;

/// Runs `program args...` in `dir` with extra environment `env`; returns the raw output
/// whatever the exit status.
pub(crate) fn output(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Output, Error> {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().map_err(|source| Error::Spawn { program: program.to_string(), source })
}

/// Like [`output`], but a non-zero exit status is an error that quotes standard error.
pub(crate) fn run(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Vec<u8>, Error> {
    let out = output(dir, program, args, env)?;
    if out.status.success() { Ok(out.stdout) } else { Err(failure(dir, program, args, &out)) }
}

/// Like [`run`], for commands whose output is text.
pub(crate) fn run_text(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, Error> {
    let out = run(dir, program, args, env)?;
    String::from_utf8(out).map_err(|_| Error::Parse {
        what: format!("output of {program} {}", args.join(" ")),
        message: "not UTF-8".into(),
    })
}

pub(crate) fn failure(dir: &Path, program: &str, args: &[&str], out: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    // Keep the end, where the reason usually is.
    let start = stderr.char_indices().rev().nth(1999).map_or(0, |(i, _)| i);
    Error::Command {
        command: format!("{program} {}", args.join(" ")),
        dir: dir.to_path_buf(),
        status: out.status.to_string(),
        stderr: stderr[start..].to_string(),
    }
}
