//! [`mirror`]: keep one server (or bucket) a continuous copy of another.
//!
//! The mirror is a registered TAP client of the source (`REGISTERED_CLIENT`,
//! `SUPPORT_ACK` and `SEQNO_META`, no backfill argument: everything, then
//! live). It applies events to the target in quiet pipelines and acks an
//! event only after the NOOP reply that closes the pipeline holding it, so
//! the source's cursor never passes a change the target has not made
//! durable. When either side drops, the mirror reconnects with backoff under
//! the same name and the source resumes after the last acked event (or
//! repeats an interrupted backfill; a resumed backfill that starts with
//! `TAP_FLUSH` makes the target drop its copy first). Applying an event twice
//! is harmless: a SET or DELETE of the same state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use memcache::binary::tap::{TapConnect, TapFlags};

use crate::conn::Endpoint;
use crate::consumer::{Ack, Consumer, ConsumerOptions, Item, Poll};
use crate::error::{Error, Result};
use crate::target::Target;

/// What to mirror.
#[derive(Clone, Debug)]
pub struct MirrorOptions {
    /// Source server.
    pub source: Endpoint,
    /// Target server.
    pub target: Endpoint,
    /// Registered client name on the source.
    pub name: String,
    /// Only keys with this prefix.
    pub key_prefix: Option<Bytes>,
    /// Only items this filter expression selects (`FILTER`; see the
    /// `filter` crate). Changing it between runs brings the target to the
    /// new selection: items that left it are deleted there.
    pub filter: Option<String>,
    /// Requests per pipeline at most.
    pub batch_records: usize,
    /// Bytes per pipeline at most.
    pub batch_bytes: usize,
    /// Longest wait between reconnect attempts.
    pub max_backoff: Duration,
    /// Stop (successfully) when the source ends the stream instead of
    /// reconnecting (for DUMP-style one-shot copies and tests).
    pub stop_at_stream_end: bool,
}

impl MirrorOptions {
    /// Defaults: 2000 requests / 4 MiB per pipeline, backoff up to 10 s.
    pub fn new(source: Endpoint, target: Endpoint, name: impl Into<String>) -> MirrorOptions {
        MirrorOptions {
            source,
            target,
            name: name.into(),
            key_prefix: None,
            filter: None,
            batch_records: 2000,
            batch_bytes: 4 << 20,
            max_backoff: Duration::from_secs(10),
            stop_at_stream_end: false,
        }
    }
}

/// Counters of a mirror run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Sessions started (connections to both sides).
    pub sessions: u64,
    /// Events received.
    pub events: u64,
    /// SETs applied.
    pub sets: u64,
    /// DELETEs applied.
    pub deletes: u64,
    /// Flushes applied.
    pub flushes: u64,
    /// Mutations the target refused.
    pub rejected: u64,
    /// Acks sent to the source.
    pub acks: u64,
    /// Backfills completed.
    pub backfills: u64,
    /// Whether the current session is inside a backfill.
    pub in_backfill: bool,
    /// Sequence number of the last applied change (from `SEQNO_META`).
    pub last_seqno: Option<u64>,
    /// The last error that caused a reconnect.
    pub last_error: Option<String>,
}

/// What the caller hears while the mirror runs.
#[derive(Debug)]
pub enum Report<'a> {
    /// Periodic counters (about once a second).
    Progress(&'a MirrorStats),
    /// A session failed; reconnecting after `retry_in`.
    Reconnecting {
        /// Why.
        error: &'a Error,
        /// Wait before the next attempt.
        retry_in: Duration,
    },
    /// A refusal the target reported (first few per pipeline).
    Rejected(&'a Error),
}

enum End {
    Stopped,
    StreamEnd,
}

/// Runs the mirror until `stop` is set (or the stream ends, with
/// `stop_at_stream_end`). Transient failures reconnect with exponential
/// backoff; a refusal or failed authentication ends the run.
///
/// # Errors
/// [`Error::Refused`], [`Error::Auth`] or another non-transient error.
pub fn mirror(
    opts: &MirrorOptions,
    stop: &AtomicBool,
    report: &mut dyn FnMut(Report<'_>),
) -> Result<MirrorStats> {
    let mut stats = MirrorStats::default();
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::Relaxed) {
        stats.sessions += 1;
        tracing::debug!(mirror = %opts.name, session = stats.sessions, "connecting");
        let started = Instant::now();
        match session(opts, stop, &mut stats, report) {
            Ok(End::Stopped) => break,
            Ok(End::StreamEnd) if opts.stop_at_stream_end => break,
            Ok(End::StreamEnd) => {}
            Err(e) if e.is_transient() => {
                if started.elapsed() > Duration::from_secs(30) {
                    backoff = Duration::from_millis(100);
                }
                stats.last_error = Some(e.to_string());
                tracing::info!(mirror = %opts.name, error = &e as &dyn std::error::Error, retry_in = ?backoff, "reconnecting");
                report(Report::Reconnecting { error: &e, retry_in: backoff });
                sleep_unless(stop, backoff);
                backoff = (backoff * 2).min(opts.max_backoff);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(stats)
}

/// Sleeps for `d`, waking early when `stop` is set.
pub(crate) fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let Some(left) = until.checked_duration_since(Instant::now()) else { return };
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn session(
    opts: &MirrorOptions,
    stop: &AtomicBool,
    stats: &mut MirrorStats,
    report: &mut dyn FnMut(Report<'_>),
) -> Result<End> {
    let mut target = Target::connect(&opts.target)?;
    let mut connect = TapConnect::new(opts.name.clone().into_bytes())
        .with(TapFlags::SUPPORT_ACK | TapFlags::REGISTERED_CLIENT | TapFlags::SEQNO_META);
    if let Some(p) = &opts.key_prefix {
        connect = connect.key_prefix(p.clone());
    }
    if let Some(f) = &opts.filter {
        connect = connect.filter(f.clone().into_bytes());
    }
    let mut consumer = Consumer::connect(&opts.source, &ConsumerOptions::new(connect))?;
    stats.in_backfill = false;
    let mut acks: Vec<Ack> = Vec::new();
    let mut last_report = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            commit(&mut target, &mut consumer, &mut acks, stats, report)?;
            return Ok(End::Stopped);
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            report(Report::Progress(stats));
            last_report = Instant::now();
        }
        let d = match consumer.poll(Duration::from_millis(200))? {
            Poll::Item(d) => d,
            Poll::Idle => {
                commit(&mut target, &mut consumer, &mut acks, stats, report)?;
                continue;
            }
            Poll::End => {
                commit(&mut target, &mut consumer, &mut acks, stats, report)?;
                return Ok(End::StreamEnd);
            }
        };
        stats.events += 1;
        match d.item {
            Item::Mutation(m) => {
                target.set(&m.key, &m.value, m.flags, m.expiry);
                stats.last_seqno = m.seqno.or(stats.last_seqno);
            }
            Item::Delete { key, seqno, .. } => {
                target.delete(&key);
                stats.last_seqno = seqno.or(stats.last_seqno);
            }
            Item::Flush => target.flush(),
            Item::BackfillStart => stats.in_backfill = true,
            Item::BackfillEnd => {
                stats.in_backfill = false;
                stats.backfills += 1;
            }
            Item::StreamEnd | Item::Control { .. } => {}
        }
        if let Some(a) = d.ack {
            acks.push(a);
        }
        let full =
            target.queued() >= opts.batch_records || target.queued_bytes() >= opts.batch_bytes;
        if full || !consumer.has_buffered()? {
            commit(&mut target, &mut consumer, &mut acks, stats, report)?;
        }
    }
}

/// Commits the target's pipeline, then sends the acks of the events it held.
fn commit(
    target: &mut Target,
    consumer: &mut Consumer,
    acks: &mut Vec<Ack>,
    stats: &mut MirrorStats,
    report: &mut dyn FnMut(Report<'_>),
) -> Result<()> {
    if target.queued() > 0 {
        let c = target.commit()?;
        stats.sets += c.sets;
        stats.deletes += c.deletes;
        stats.flushes += c.flushes;
        stats.rejected += c.rejected;
        for e in target.take_rejections() {
            report(Report::Rejected(&e));
        }
    }
    if !acks.is_empty() {
        stats.acks += acks.len() as u64;
        for a in acks.drain(..) {
            consumer.queue_ack(a);
        }
        consumer.send_acks()?;
    }
    Ok(())
}
