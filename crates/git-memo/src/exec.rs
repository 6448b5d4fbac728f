//! Running the test command.

use crate::error::{Error, Result};
use crate::record::ExitInfo;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Variables that would point a command in another worktree back at the
/// user's repository or index; removed for `sequence` runs.
pub const GIT_LOCATION_VARS: &[&str] =
    &["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR"];

/// Where the command's output goes.
pub enum Output {
    /// Straight to our stdout/stderr, as it happens.
    Inherit,
    /// Both streams into this file (for parallel runs, shown afterwards).
    File(File),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Exit status or signal.
    pub exit: ExitInfo,
    /// Wall-clock milliseconds.
    pub millis: u64,
}

impl Finished {
    /// The status to exit with: the command's own, or 128 + signal.
    pub fn exit_status(&self) -> i32 {
        match self.exit {
            ExitInfo::Code(c) => c,
            ExitInfo::Signal(s) => 128 + s,
        }
    }
}

/// Run `argv` in `dir`, without a shell.
///
/// # Errors
///
/// [`Error::CommandNotFound`], [`Error::CommandNotExecutable`] or another
/// spawn failure; the command's own failure is a [`Finished`], not an error.
pub fn execute(
    argv: &[OsString],
    dir: &Path,
    output: Output,
    env_remove: &[&str],
) -> Result<Finished> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(Error::CommandNotFound { program: String::new() });
    };
    let mut cmd = Command::new(program);
    cmd.args(rest).current_dir(dir);
    for v in env_remove {
        cmd.env_remove(v);
    }
    if let Output::File(f) = output {
        let err = f.try_clone().map_err(Error::io("duplicating the output file handle"))?;
        cmd.stdout(Stdio::from(f)).stderr(Stdio::from(err)).stdin(Stdio::null());
    }
    let start = Instant::now();
    let program_name = program.to_string_lossy().into_owned();
    let status = cmd.status().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::CommandNotFound { program: program_name.clone() },
        std::io::ErrorKind::PermissionDenied => {
            Error::CommandNotExecutable { program: program_name.clone(), source: e }
        }
        _ => Error::io(format!("starting {program_name}"))(e),
    })?;
    let millis = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Finished { exit: exit_info(status), millis })
}

fn exit_info(status: std::process::ExitStatus) -> ExitInfo {
    if let Some(c) = status.code() {
        return ExitInfo::Code(c);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = status.signal() {
            return ExitInfo::Signal(s);
        }
    }
    ExitInfo::Code(1)
}
