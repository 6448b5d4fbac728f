//! Warmup: loading the engine's records into the table at start-up, in
//! the foreground or while the store already serves (a key not loaded yet
//! is then read through from the engine, see [`Core::live_or_read`]).

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::core::{Core, Loaded};
use crate::error::Error;

/// What happened when the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WarmupReport {
    /// Items loaded into memory.
    pub items: u64,
    /// Items found expired on disk (dropped and purged).
    pub expired: u64,
    /// Time spent loading.
    pub duration: Duration,
}

/// The warmup's report once it is done, for anyone waiting on it.
pub(crate) struct WarmState {
    report: watch::Sender<Option<WarmupReport>>,
}

impl WarmState {
    pub(crate) fn new() -> WarmState {
        WarmState { report: watch::channel(None).0 }
    }

    /// The report, once there is one.
    pub(crate) fn report(&self) -> Option<WarmupReport> {
        *self.report.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<WarmupReport>> {
        self.report.subscribe()
    }
}

/// Loads every stored record the table does not know yet (a key mutated,
/// read through or deleted meanwhile is newer in the table), then ends
/// read-through and publishes the report.
pub(crate) fn warm_up(core: &Core, state: &WarmState) -> Result<WarmupReport, Error> {
    let started = Instant::now();
    let now = core.config.clock.now();
    let (mut items, mut expired) = (0u64, 0u64);
    let Some(reader) = core.reader() else { return Ok(WarmupReport::default()) };
    reader.scan(&mut |key, record| {
        if core.queue().stopping() {
            return ControlFlow::Break(());
        }
        match core.load(key, record, now) {
            None => return ControlFlow::Break(()),
            Some(Loaded::Item) => items += 1,
            Some(Loaded::Expired) => expired += 1,
            Some(Loaded::Known | Loaded::Tombstone) => {}
        }
        ControlFlow::Continue(())
    })?;
    drop(reader);
    if core.queue().stopping() {
        return Ok(WarmupReport::default());
    }
    core.warmed();
    let report = WarmupReport { items, expired, duration: started.elapsed() };
    tracing::info!(
        backend = core.config.backend.name(),
        items,
        expired,
        ms = report.duration.as_millis() as u64,
        "store warmed up"
    );
    state.report.send_replace(Some(report));
    Ok(report)
}
