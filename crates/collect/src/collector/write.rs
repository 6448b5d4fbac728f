//! The writer: commits each encoded batch, reconnecting and sending it
//! again until the server acknowledges it.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tap::{Endpoint, Target};

use super::encode::Encoded;
use super::{Counters, Event, add, chain};
use crate::error::Error;
use crate::reading::READING_PREFIX;

pub(crate) struct Writer {
    endpoint: Endpoint,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    give_up_at: Arc<Mutex<Option<Instant>>>,
    target: Option<Target>,
}

impl Writer {
    pub(crate) fn new(
        endpoint: Endpoint,
        counters: Arc<Counters>,
        events: mpsc::Sender<Event>,
        give_up_at: Arc<Mutex<Option<Instant>>>,
    ) -> Writer {
        Writer { endpoint, counters, events, give_up_at, target: None }
    }

    /// Runs until the encoder is gone and all is stored; returns the
    /// readings given up on (server unreachable past the drain timeout).
    /// Committed batches go back to the encoder through `spare`.
    pub(crate) fn run(
        mut self,
        rx: &Receiver<Encoded>,
        spare: &Sender<Encoded>,
    ) -> Result<u64, Error> {
        while let Ok(mut batch) = rx.recv() {
            if !self.commit(&batch)? {
                // Gave up (stopping): count this batch and what follows.
                let mut lost = u64::from(batch.readings);
                while let Ok(b) = rx.recv() {
                    lost += u64::from(b.readings);
                }
                return Ok(lost);
            }
            batch.clear();
            let _ = spare.send(batch);
        }
        Ok(0)
    }

    fn giving_up(&self) -> bool {
        self.give_up_at.lock().ok().and_then(|at| *at).is_some_and(|at| Instant::now() >= at)
    }

    /// Stores `batch`, reconnecting and resending until the server
    /// acknowledges it. Returns false when it gave up (stopping, server
    /// unreachable).
    fn commit(&mut self, batch: &Encoded) -> Result<bool, Error> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match self.try_commit(batch) {
                Ok(rejected) => {
                    add(&self.counters.stored, u64::from(batch.readings) - rejected);
                    add(&self.counters.rejected, rejected);
                    self.counters.batches.fetch_add(1, Ordering::SeqCst);
                    return Ok(true);
                }
                Err(e) if e.is_transient() => {
                    if self.target.take().is_some() {
                        add(&self.counters.reconnects, 1);
                    }
                    if self.giving_up() {
                        return Ok(false);
                    }
                    let _ = self.events.send(Event::Retrying {
                        error: chain(&e),
                        readings: batch.readings as usize,
                        retry_in: backoff,
                    });
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(Error::Server(e)),
            }
        }
    }

    /// One attempt; returns how many readings the server refused.
    fn try_commit(&mut self, batch: &Encoded) -> tap::Result<u64> {
        let t = if let Some(t) = self.target.take() {
            t
        } else {
            let mut t = Target::connect(&self.endpoint)?;
            t.set_reply_timeout(Duration::from_secs(30));
            let _ = self.events.send(Event::Connected { server: self.endpoint.addr.clone() });
            t
        };
        let t = self.target.insert(t);
        let done = t.commit_encoded(&batch.frames, batch.requests(), |i| batch.key(i))?;
        let mut rejected_readings = 0u64;
        let rejections = t.take_rejections();
        let kept = rejections.len() as u64;
        for e in rejections {
            if matches!(&e, tap::Error::Rejected { key, .. } if key.starts_with(READING_PREFIX)) {
                rejected_readings += 1;
            }
            let _ = self.events.send(Event::Rejected { error: e.to_string() });
        }
        // Refusals beyond the ones kept are counted against readings.
        rejected_readings += done.rejected.saturating_sub(kept);
        Ok(rejected_readings.min(u64::from(batch.readings)))
    }
}
