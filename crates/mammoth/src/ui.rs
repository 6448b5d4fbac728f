//! What every subcommand shares with the terminal: exit codes, error
//! chains, logging, progress bars and the stop signal.

use std::error::Error;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// Exit code of a lookup that found something missing (as grep: 0 found,
/// 1 not found, 2 error).
pub(crate) const NOT_FOUND: ExitCode = ExitCode::FAILURE;

/// Exit code of an error (as grep, and as clap for a usage error).
pub(crate) fn error_exit() -> ExitCode {
    ExitCode::from(2)
}

/// An error and its causes on one line, `outer: cause: root cause`. Each
/// layer's `Display` describes only itself, so nothing repeats.
pub(crate) fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(s, ": {c}");
        cause = c.source();
    }
    s
}

/// Logging to stderr for every subcommand. `MAMMOTH_LOG` (or `RUST_LOG`)
/// takes a tracing filter (`info`, `store=debug,warn`); without one the
/// level follows `-v`/`-q`: warnings by default, info with `-v`, debug with
/// `-vv`, trace with more; errors only with `-q`, nothing with `-qq`.
pub(crate) fn init_logging(verbose: u8, quiet: u8) {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_env("MAMMOTH_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(level_name(i16::from(verbose) - i16::from(quiet))));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = LOG_FILTER.set(handle);
    }
}

/// The log level of a verbosity (negative: quieter).
fn level_name(verbosity: i16) -> &'static str {
    match verbosity.clamp(-2, 3) {
        -2 => "off",
        -1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

type FilterHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

static LOG_FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// memcached's `verbosity N` (0 to 3) as this process's log level: 0 keeps
/// warnings, 1 info, 2 debug, 3 trace.
pub(crate) fn set_verbosity(level: u32) {
    if let Some(handle) = LOG_FILTER.get() {
        let name = level_name(i16::try_from(level).unwrap_or(i16::MAX));
        let _ = handle.modify(|f| *f = tracing_subscriber::EnvFilter::new(name));
    }
}

/// A byte-position progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A counting spinner on stderr, for work of unknown length.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {pos} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_owned());
    pb
}

/// A flag set by SIGINT or SIGTERM (a watcher thread with a small runtime).
pub(crate) fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async { shutdown_signal().await });
        f.store(true, Ordering::SeqCst);
    });
    flag
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called (inside a runtime), not when the future is first polled, so a
/// signal that arrives in between is not lost to the default action.
pub(crate) fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                only.recv().await;
            }
            (Err(_), Err(_)) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|l| l as &(dyn Error + 'static))
        }
    }

    #[test]
    fn chain_joins_every_layer_once() {
        let e =
            Layer("opening x", Some(Box::new(Layer("x", Some(Box::new(Layer("denied", None)))))));
        assert_eq!(chain(&e), "opening x: x: denied");
        assert_eq!(chain(&Layer("alone", None)), "alone");
    }
}
